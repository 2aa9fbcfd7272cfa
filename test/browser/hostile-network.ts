/**
 * A WebSocket that behaves like the networks our users are on: it can drop every connection,
 * freeze (stop delivering frames in both directions without closing, as censoring middleboxes
 * do), let a man in the middle rewrite frames from the relay, or serve forged history in join
 * replies as a dishonest relay would. It wraps the browser's real WebSocket to the real relay;
 * nothing of ours is replaced.
 */
import type { WebSocketConstructor, WebSocketLike } from '../../sdk/connection.ts';
import type { ChatMessage } from '../../sdk/protocol.ts';

/** A join request as the client sent it: `after` is set when it resumes a room it already has. */
export interface JoinSent {
  room: string;
  after?: number;
}

export interface HostileNetwork {
  WebSocket: WebSocketConstructor;
  /** Closes every open connection abruptly. */
  dropAll(): void;
  /** While true, frames are silently swallowed both ways and sockets stay "open". */
  frozen: boolean;
  /** Rewrites frames from the relay (return the frame unchanged to pass it). */
  tamper: ((frame: Record<string, unknown>) => Record<string, unknown>) | null;
  /**
   * Rewrites the history in successful join replies, first joins and resumes alike: the messages
   * there never pass through `tamper` as `message` events, so they need their own forger.
   */
  forgeHistory: ((messages: ChatMessage[], join: JoinSent) => ChatMessage[]) | null;
  /** Where new connections go instead of the address asked for (the relay came back elsewhere). */
  route: ((url: string) => string) | null;
  opened: number;
}

export function hostileNetwork(): HostileNetwork {
  const sockets = new Set<WebSocket>();
  const network: HostileNetwork = {
    frozen: false,
    tamper: null,
    forgeHistory: null,
    route: null,
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
      /** Join requests sent on this connection and not answered yet, by request id. */
      private readonly joins = new Map<unknown, JoinSent>();

      constructor(url: string) {
        const real = new WebSocket(network.route ? network.route(url) : url);
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
          const data = event.data as string;
          const frame = JSON.parse(data) as Record<string, unknown>;
          const join = this.joins.get(frame.re);
          if (join) this.joins.delete(frame.re);
          let rewritten = frame;
          if (join && network.forgeHistory && frame.ok === true) {
            const result = frame.result as { messages: ChatMessage[] };
            rewritten = {
              ...frame,
              result: {
                ...result,
                messages: network.forgeHistory(result.messages, join),
              },
            };
          }
          if (network.tamper) rewritten = network.tamper(rewritten);
          this.onmessage?.({
            data: rewritten === frame ? data : JSON.stringify(rewritten),
          });
        };
      }

      get readyState(): number {
        return this.real.readyState;
      }

      send(data: string): void {
        if (network.frozen) return;
        const request = JSON.parse(data) as {
          id?: unknown;
          type?: unknown;
          room?: unknown;
          after?: unknown;
        };
        if (request.type === 'join' && typeof request.room === 'string') {
          this.joins.set(
            request.id,
            typeof request.after === 'number' ? { room: request.room, after: request.after } : { room: request.room },
          );
        }
        this.real.send(data);
      }

      close(code?: number, reason?: string): void {
        this.real.close(code === undefined || code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason);
      }
    },
  };
  return network;
}
