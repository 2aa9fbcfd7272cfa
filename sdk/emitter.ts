/** A typed event emitter: `on` and `once` return the function that unsubscribes (as `off` does). A throwing listener cannot break the others. */
export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<(value: never) => void>>();

  on<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as (value: never) => void);
    return () => this.off(event, listener);
  }

  /** Like `on`, for the next event only. */
  once<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): () => void {
    const stop = this.on(event, (value) => {
      stop();
      listener(value);
    });
    return stop;
  }

  /** Removes a listener that `on` added (the function `on` returned does the same). */
  off<K extends keyof Events>(event: K, listener: (value: Events[K]) => void): void {
    this.listeners.get(event)?.delete(listener as (value: never) => void);
  }

  protected emit<K extends keyof Events>(event: K, value: Events[K]): void {
    callEach(this.listeners.get(event) as Set<(value: Events[K]) => void> | undefined, value);
  }
}

/** Calls each listener (a copy of the set: one may remove itself); an error is rethrown apart, so one listener cannot break the others. */
export function callEach<T>(listeners: Iterable<(value: T) => void> | undefined, value: T): void {
  for (const listener of [...(listeners ?? [])]) {
    try {
      listener(value);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
