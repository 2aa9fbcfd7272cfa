/**
 * What every request handler works with: the relay's stores and limits (RelayContext), the client's
 * connection (a transport-blind Peer whose `data` is the Connection), and the few helpers that
 * several subjects share. Handlers never see an engine: a handler can run in-process against a
 * fake peer.
 */
import { SovError } from '../../sdk/errors.ts';
import type { Profile, RequestMap, RequestType, ResultMap, ServerEvent } from '../../sdk/protocol.ts';
import type { RelayConfig } from '../config.ts';
import type { Socket } from '../connection.ts';
import type { Logger } from '../logger.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { Presence } from '../presence.ts';
import type { KeyedLimiter } from '../rate-limit.ts';
import type { Accounts } from '../store/accounts.ts';
import type { HistoryStore } from '../store/history.ts';
import type { Sessions } from '../store/sessions.ts';

export interface RelayContext {
  config: RelayConfig;
  accounts: Accounts;
  sessions: Sessions;
  history: HistoryStore;
  presence: Presence<Socket>;
  limits: {
    loginByName: KeyedLimiter;
    loginByIp: KeyedLimiter;
    registerByIp: KeyedLimiter;
  };
  log: Logger;
  metrics: RelayMetrics;
  /** Sends `frame` to every subscriber of `topic`; returns how many there were. */
  publish(topic: string, frame: string): number;
}

export const USERS_TOPIC = 'users';
export const roomTopic = (room: string): string => `room/${room}`;

/** A result already serialized (history is stored as JSON, so it is never parsed and re-encoded). */
export class RawResult {
  constructor(readonly json: string) {}
}

export type Handler<K extends RequestType> = (
  ctx: RelayContext,
  ws: Socket,
  request: RequestMap[K],
) => ResultMap[K] | RawResult | Promise<ResultMap[K] | RawResult>;

/** Handlers for some of the request types, one subject per module. */
export type HandlerTable<K extends RequestType> = { [T in K]: Handler<T> };

export function eventFrame(event: ServerEvent): string {
  return JSON.stringify(event);
}

export function requireSession(ws: Socket): { hash: string; userId: number } {
  const session = ws.data.session;
  if (!session) throw new SovError('NOT_AUTHENTICATED');
  return session;
}

export function profileOf(ctx: RelayContext, userId: number): Profile | null {
  const account = ctx.accounts.get(userId);
  return account ? ctx.accounts.profile(account) : null;
}
