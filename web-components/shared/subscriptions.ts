/**
 * The listeners an element keeps on its client or room, as one Lit reactive controller: `listen`
 * replaces them (stopping the ones before), and all stop when the element leaves the page, so no
 * element keeps a client's events coming after it is gone.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

export class Subscriptions implements ReactiveController {
  private stops: Array<() => void> = [];

  constructor(host: ReactiveControllerHost) {
    host.addController(this);
  }

  /** Takes the functions that stop the new listeners (what `on` returns), after stopping the current ones. */
  listen(...stops: Array<() => void>): void {
    this.stop();
    this.stops = stops;
  }

  stop(): void {
    for (const stop of this.stops) stop();
    this.stops = [];
  }

  hostDisconnected(): void {
    this.stop();
  }
}
