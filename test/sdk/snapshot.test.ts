// SnapshotEmitter on its own (sdk/snapshot.ts): what `subscribe` and `getSnapshot` promise, in-process.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SnapshotEmitter } from '../../sdk/snapshot.ts';

/** A store of one counter and one list, the shape rooms and the client have. */
class Counter extends SnapshotEmitter<{ tick: number }, { count: number; items: readonly string[] }> {
  count = 0;
  items: readonly string[] = [];

  tick(): void {
    this.count++;
    this.emit('tick', this.count);
  }

  add(item: string): void {
    this.items = [...this.items, item];
    this.changed();
  }

  protected read(): { count: number; items: readonly string[] } {
    return { count: this.count, items: this.items };
  }
}

describe('SnapshotEmitter', () => {
  test('getSnapshot returns the same frozen object until a field changes, then a new one', () => {
    const counter = new Counter();
    const first = counter.getSnapshot();
    assert.equal(counter.getSnapshot(), first);
    assert.ok(Object.isFrozen(first));
    counter.tick();
    const second = counter.getSnapshot();
    assert.notEqual(second, first);
    assert.deepEqual([first.count, second.count], [0, 1]);
    assert.equal(counter.getSnapshot(), second);
    counter.add('a');
    assert.notEqual(counter.getSnapshot(), second);
    assert.equal(second.items.length, 0, 'the snapshot before keeps its list');
  });

  test('listeners are called after every event and every change, see the new snapshot, and stop when unsubscribed', () => {
    const counter = new Counter();
    const seen: number[] = [];
    const stop = counter.subscribe(() =>
      seen.push(counter.getSnapshot().count + counter.getSnapshot().items.length * 100),
    );
    counter.tick();
    counter.add('a');
    counter.tick();
    stop();
    counter.tick();
    assert.deepEqual(seen, [1, 101, 102]);
  });

  test('subscribe and getSnapshot work unbound, as useSyncExternalStore calls them', () => {
    const counter = new Counter();
    const { subscribe, getSnapshot } = counter;
    let calls = 0;
    subscribe(() => calls++);
    counter.tick();
    assert.equal(calls, 1);
    assert.equal(getSnapshot().count, 1);
  });

  test('a throwing listener does not stop the others, and its error is rethrown apart', () => {
    const counter = new Counter();
    const rethrown: Array<() => void> = [];
    const queue = globalThis.queueMicrotask;
    // Caught here instead of as an uncaught exception, which the test runner counts as a failure.
    globalThis.queueMicrotask = (task) => rethrown.push(task);
    let reached = false;
    try {
      counter.subscribe(() => {
        throw new Error('listener bug');
      });
      counter.subscribe(() => (reached = true));
      counter.tick();
    } finally {
      globalThis.queueMicrotask = queue;
    }
    assert.equal(reached, true);
    assert.equal(rethrown.length, 1);
    assert.throws(rethrown[0]!, /listener bug/);
  });
});
