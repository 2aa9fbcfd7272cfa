/**
 * The request table: every request type to its handler. Each handler either returns the reply's
 * result or throws SovError, and the frame layer turns that into exactly one reply frame.
 * Authorization is checked in each handler, per request, never assumed from what the client did
 * before.
 */
import type { RequestFrame, RequestMap, RequestType } from '../../sdk/protocol.ts';
import type { Socket } from '../connection.ts';
import type { Handler, HandlerTable, RelayContext } from './context.ts';
import { profileHandlers } from './profiles.ts';
import { roomHandlers } from './rooms.ts';
import { sessionHandlers } from './sessions.ts';

const handlers: HandlerTable<RequestType> = {
  ping: () => ({ time: Date.now() }),
  ...sessionHandlers,
  ...roomHandlers,
  ...profileHandlers,
};

/** Runs one validated request; resolves with the reply's result or rejects with SovError. */
export function handleRequest(ctx: RelayContext, ws: Socket, request: RequestFrame): Promise<unknown> {
  const { id: _id, type, ...fields } = request;
  const handler = handlers[type] as Handler<RequestType>;
  return Promise.resolve().then(() => handler(ctx, ws, fields as RequestMap[RequestType]));
}
