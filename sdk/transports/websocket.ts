/**
 * The WebSocket transport: the top rung of the ladder, one frame per WebSocket message.
 */
import { SovError } from '../errors.ts';
import { wsUrlOf } from '../front-doors.ts';
import type { Link, LinkListener, LinkOpener } from './link.ts';

/** The subset of the WebSocket API the SDK uses; browsers' WebSocket and the `ws` package both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;

/** Links over `WebSocketClass` (default: the global WebSocket). */
export function webSocketOpener(WebSocketClass?: WebSocketConstructor): LinkOpener {
  const Socket = WebSocketClass ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Socket) throw new SovError('INVALID_INPUT', 'No WebSocket here: pass one as the WebSocket option (e.g. the ws package).');
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
