/**
 * A WebSocket that behaves like the networks our users are on: it can drop every connection,
 * freeze (stop delivering frames in both directions without closing, as censoring middleboxes
 * do), or let a man in the middle rewrite frames from the relay. It wraps the browser's real
 * WebSocket to the real relay; nothing of ours is replaced.
 */
import type { WebSocketConstructor, WebSocketLike } from '../../sdk/connection.ts';

export interface HostileNetwork {
  WebSocket: WebSocketConstructor;
  /** Closes every open connection abruptly. */
  dropAll(): void;
  /** While true, frames are silently swallowed both ways and sockets stay "open". */
  frozen: boolean;
  /** Rewrites frames from the relay (return the frame unchanged to pass it). */
  tamper: ((frame: Record<string, unknown>) => Record<string, unknown>) | null;
  opened: number;
}

export function hostileNetwork(): HostileNetwork {
  const sockets = new Set<WebSocket>();
  const network: HostileNetwork = {
    frozen: false,
    tamper: null,
    opened: 0,
    dropAll() {
      for (const socket of sockets) socket.close();
    },
    WebSocket: class implements WebSocketLike {
      onopen: ((event: unknown) => void) | null = null;
      onclose: ((event: { code: number }) => void) | null = null;
      onerror: ((event: unknown) => void) | null = null;
      onmessage: ((event: { data: unknown }) => void) | null = null;
      private readonly real: WebSocket;

      constructor(url: string) {
        const real = new WebSocket(url);
        this.real = real;
        sockets.add(real);
        network.opened++;
        real.onopen = (event) => this.onopen?.(event);
        real.onerror = (event) => this.onerror?.(event);
        real.onclose = (event) => {
          sockets.delete(real);
          this.onclose?.({ code: event.code });
        };
        real.onmessage = (event) => {
          if (network.frozen) return;
          let data = event.data as string;
          if (network.tamper) data = JSON.stringify(network.tamper(JSON.parse(data)));
          this.onmessage?.({ data });
        };
      }

      get readyState(): number {
        return this.real.readyState;
      }

      send(data: string): void {
        if (!network.frozen) this.real.send(data);
      }

      close(code?: number, reason?: string): void {
        this.real.close(code === undefined || code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason);
      }
    },
  };
  return network;
}
