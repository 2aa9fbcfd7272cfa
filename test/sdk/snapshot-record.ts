// Records every snapshot a store hands out, with its content as it was then, for tests that check
// that nothing handed out is changed afterwards (./room-snapshots.test.ts, ./state-event.test.ts).
import assert from 'node:assert/strict';

interface Store<Snapshot> {
  subscribe(listener: () => void): () => void;
  getSnapshot(): Snapshot;
}

const described = (snapshot: unknown): string => JSON.stringify(snapshot);

export function recordSnapshots<Snapshot>(store: Store<Snapshot>): {
  taken: Snapshot[];
  stop(): void;
  assertUntouched(): void;
} {
  const taken: Snapshot[] = [];
  const contents: string[] = [];
  const take = (): void => {
    const snapshot = store.getSnapshot();
    assert.equal(store.getSnapshot(), snapshot, 'getSnapshot returns the same object until something changes');
    if (taken.at(-1) === snapshot) return;
    assert.ok(Object.isFrozen(snapshot), 'a snapshot is frozen');
    taken.push(snapshot);
    contents.push(described(snapshot));
  };
  take();
  const stop = store.subscribe(take);
  return {
    taken,
    stop,
    assertUntouched() {
      taken.forEach((snapshot, i) =>
        assert.equal(described(snapshot), contents[i], `snapshot ${i} changed after it was handed out`),
      );
    },
  };
}
