/**
 * `subscribe` and `getSnapshot` for rooms and the client, written once. They fit React's
 * `useSyncExternalStore` (and any store of that shape): `getSnapshot` returns the very same object
 * until something in it changed, then a new frozen one; every listener is called after each change.
 *
 * A snapshot is read afresh on each `getSnapshot` and kept when every field is the same (compared by
 * identity): so it can never be stale, whichever path changed the state, as long as each field is a
 * value or an object replaced (never mutated) when it changes.
 */
import { Emitter, callEach } from './emitter.ts';

export abstract class SnapshotEmitter<
  Events extends Record<string, unknown>,
  Snapshot extends object,
> extends Emitter<Events> {
  private current: Snapshot | null = null;
  private readonly subscribers = new Set<() => void>();

  /**
   * Calls `listener` after every change; returns the function that stops it. Bound, so it can be
   * handed over as it is: `useSyncExternalStore(room.subscribe, room.getSnapshot)`.
   */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  };

  /** The current state as one frozen object: the same object until something in it changed. Bound, like `subscribe`. */
  readonly getSnapshot = (): Snapshot => {
    const fresh = this.read();
    if (this.current && sameFields(this.current, fresh)) return this.current;
    this.current = Object.freeze(fresh);
    return this.current;
  };

  /** The state as it is now; each field must keep its identity until it changes. */
  protected abstract read(): Snapshot;

  /** Every event is a change for subscribers too. */
  protected override emit<K extends keyof Events>(event: K, value: Events[K]): void {
    super.emit(event, value);
    this.changed();
  }

  /** Something in the snapshot changed: tells every subscriber (a throwing one cannot stop the others). */
  protected changed(): void {
    callEach(this.subscribers, undefined);
  }
}

function sameFields<T extends object>(known: T, fresh: T): boolean {
  return (Object.keys(fresh) as Array<keyof T>).every((key) => Object.is(known[key], fresh[key]));
}
