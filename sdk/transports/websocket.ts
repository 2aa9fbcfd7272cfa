/**
 * The WebSocket transport: the top rung of the ladder, one frame per WebSocket message.
 */
import { SovError } from '../errors.ts';
import { wsUrlOf } from '../front-doors.ts';
import type { Link, LinkListener, LinkOpener } from './link.ts';

/**
 * A handler the SDK sets, typed so that any WebSocket class's own handler types fit without a cast
 * (`ws` declares its events as classes of its own): checked as a method is, both ways.
 */
type Handler<Event> = { handle(event: Event): void }['handle'] | null;

/** The subset of the WebSocket API the SDK uses; browsers' WebSocket, Node 22's global one and the `ws` package all fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown>;
  onclose: Handler<{ code: number }>;
  onerror: Handler<unknown>;
  onmessage: Handler<{ data: unknown }>;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;

/** Links over `WebSocketClass` (default: the global WebSocket). */
export function webSocketOpener(WebSocketClass?: WebSocketConstructor): LinkOpener {
  const Socket = WebSocketClass ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Socket)
    throw new SovError('INVALID_INPUT', 'No WebSocket here: pass one as the WebSocket option (e.g. the ws package).');
  return (door, listener) => webSocketLink(new Socket(wsUrlOf(door)), listener);
}

function webSocketLink(socket: WebSocketLike, listener: LinkListener): Link {
  socket.onmessage = (event) => listener.frame(String(event.data));
  socket.onclose = (event) => listener.closed(event.code);
  socket.onerror = () => undefined;
  return {
    transport: 'websocket',
    send: (frame) => socket.readyState === OPEN && socket.send(frame),
    close: () => {
      socket.onopen = socket.onmessage = socket.onclose = null;
      // Not null: terminating a socket that is still connecting makes `ws` (Node) emit an error,
      // and an error without a listener ends a Node process.
      socket.onerror = () => undefined;
      try {
        const terminate = (socket as { terminate?: () => void }).terminate;
        if (terminate) terminate.call(socket);
        else socket.close(4000, 'stalled');
      } catch {
        // Already closed.
      }
    },
    unstick: () => false,
  };
}
