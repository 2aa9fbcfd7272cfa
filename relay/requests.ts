/**
 * One handler per request type. Each either returns the reply's result or throws SovError; the
 * server turns that into exactly one reply frame. Authorization is checked here, per request,
 * never assumed from what the client did before.
 */
import { SovError } from '../sdk/errors.ts';
import { LIMITS, signedBytes, usernameKey } from '../sdk/protocol.ts';
import type { Profile, Request, RequestMap, RequestType, ResultMap, ServerEvent } from '../sdk/protocol.ts';
import type { Account, Accounts } from './store/accounts.ts';
import type { History } from './store/history.ts';
import type { Session, Sessions } from './store/sessions.ts';
import type { Presence } from './presence.ts';
import type { KeyedLimiter, TokenBucket } from './rate-limit.ts';
import type { RelayConfig } from './config.ts';
import type { Logger } from './logger.ts';
import type { RelayMetrics } from './metrics.ts';
import type { Peer } from './engine/engine.ts';
import { verifySignature } from './signatures.ts';

/** Per-connection state: the `data` of its peer. */
export interface Connection {
  /** The client's address (behind a trusted proxy, the one it forwarded): every per-address limit keys on it. */
  readonly ip: string;
  session: { hash: string; userId: number } | null;
  rooms: Set<string>;
  readonly bucket: TokenBucket;
  /** Requests refused for flooding since the last accepted one. */
  strikes: number;
  /** Tail of this connection's `send` checks, which must finish in the order the frames came. */
  sendQueue: Promise<void>;
  /** Replies held while the send buffer is over its limit, oldest first (server.ts sendReply). */
  queuedReplies: string[];
  queuedReplyBytes: number;
  /** Closes the connection if it has not logged in by then (server.ts LOGIN_DEADLINE_MS). */
  loginDeadline: ReturnType<typeof setTimeout> | null;
}

export type Socket = Peer<Connection>;

/**
 * History in one join reply stops at about this many bytes (the newest messages; `gap` tells a
 * resuming client what it will not get). 1,000 ordinary messages fit; a room of 4,000-character
 * messages sends its newest hundred or so. It keeps a reply well under the 1 MB a slow link may
 * hold in the relay's send buffer, and a phone on a slow link from a minutes-long download.
 */
export const MAX_HISTORY_REPLY_BYTES = 768 * 1024;

export interface RelayContext {
  config: RelayConfig;
  accounts: Accounts;
  sessions: Sessions;
  history: History;
  presence: Presence<Socket>;
  limits: { loginByName: KeyedLimiter; loginByIp: KeyedLimiter; registerByIp: KeyedLimiter };
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

type Handler<K extends RequestType> = (
  ctx: RelayContext,
  ws: Socket,
  request: RequestMap[K],
) => ResultMap[K] | RawResult | Promise<ResultMap[K] | RawResult>;

export function eventFrame(event: ServerEvent): string {
  return JSON.stringify(event);
}

function requireSession(ws: Socket): { hash: string; userId: number } {
  const session = ws.data.session;
  if (!session) throw new SovError('NOT_AUTHENTICATED');
  return session;
}

function requireAnonymous(ws: Socket): void {
  if (ws.data.session) throw new SovError('ALREADY_AUTHENTICATED');
}

function profileOf(ctx: RelayContext, userId: number): Profile | null {
  const account = ctx.accounts.get(userId);
  return account ? ctx.accounts.profile(account) : null;
}

function profilesOf(ctx: RelayContext, ids: number[]): Profile[] {
  return ids.map((id) => profileOf(ctx, id)).filter((profile): profile is Profile => profile !== null);
}

function rateLimited(retryAfterMs: number): SovError {
  return new SovError('RATE_LIMITED', undefined, { retryAfterMs });
}

/** Refuses before any password check while either the name or the address is locked out. */
function checkLoginBudget(ctx: RelayContext, ws: Socket, username: string): void {
  const wait = Math.max(ctx.limits.loginByName.wait(usernameKey(username)), ctx.limits.loginByIp.wait(ws.data.ip));
  if (wait > 0) {
    ctx.log('info', 'login refused: locked out', { username, ip: ws.data.ip, retryAfterMs: wait });
    throw rateLimited(wait);
  }
}

function chargeFailedLogin(ctx: RelayContext, ws: Socket, username: string): void {
  ctx.log('info', 'failed login', { username, ip: ws.data.ip });
  const byName = ctx.limits.loginByName.take(usernameKey(username));
  const byIp = ctx.limits.loginByIp.take(ws.data.ip);
  // The failure that spends the last token starts the lockout: say so once, not on every refusal.
  if (ctx.limits.loginByName.wait(usernameKey(username)) > 0 && byName === 0) ctx.log('info', 'lockout: username', { username });
  if (ctx.limits.loginByIp.wait(ws.data.ip) > 0 && byIp === 0) ctx.log('info', 'lockout: address', { ip: ws.data.ip });
}

/** Binds a session to the connection. Runs after awaits, so it re-checks what may have changed meanwhile. */
function signIn(ctx: RelayContext, ws: Socket, session: Session): void {
  const connection = ws.data;
  if (!ws.open) return;
  // Two login requests racing on one connection: the second must not overwrite the first.
  if (connection.session) throw new SovError('ALREADY_AUTHENTICATED');
  connection.session = { hash: session.hash, userId: session.userId };
  ws.subscribe(USERS_TOPIC);
  if (ctx.presence.connect(session.userId, session.hash, ws)) {
    const user = profileOf(ctx, session.userId) ?? undefined;
    ctx.publish(USERS_TOPIC, eventFrame({ ev: 'presence', userId: session.userId, online: true, ...(user ? { user } : {}) }));
  }
}

export function leaveRoom(ctx: RelayContext, ws: Socket, room: string): void {
  const connection = ws.data;
  if (!connection.rooms.delete(room) || !connection.session) return;
  ws.unsubscribe(roomTopic(room));
  if (ctx.presence.exit(room, connection.session.userId)) {
    ctx.publish(roomTopic(room), eventFrame({ ev: 'leave', room, userId: connection.session.userId }));
  }
}

/** Ends the connection's login: leaves its rooms (with leave events) and, if it was the user's last, goes offline. */
export function signOut(ctx: RelayContext, ws: Socket): void {
  const connection = ws.data;
  const session = connection.session;
  if (!session) return;
  for (const room of [...connection.rooms]) leaveRoom(ctx, ws, room);
  ws.unsubscribe(USERS_TOPIC);
  connection.session = null;
  if (ctx.presence.disconnect(session.userId, session.hash, ws)) {
    ctx.publish(USERS_TOPIC, eventFrame({ ev: 'presence', userId: session.userId, online: false }));
  }
}

function endSessionEverywhere(ctx: RelayContext, hash: string, reason: 'logout' | 'password-changed', except?: Socket): void {
  for (const socket of ctx.presence.socketsOfSession(hash)) {
    if (socket === except) continue;
    socket.send(eventFrame({ ev: 'session-ended', reason }));
    signOut(ctx, socket);
  }
}

function sessionResult(ctx: RelayContext, account: Account, token: string, session: Session): ResultMap['login'] {
  return { token, expiresAt: session.expiresAt, user: ctx.accounts.profile(account), keySalt: account.keySalt };
}

const handlers: { [K in RequestType]: Handler<K> } = {
  ping: () => ({ time: Date.now() }),

  salt: (ctx, _ws, { username }) => ({ kdf: ctx.accounts.kdfFor(username) }),

  async register(ctx, ws, request) {
    requireAnonymous(ws);
    const wait = ctx.limits.registerByIp.take(ws.data.ip);
    if (wait > 0) {
      ctx.log('info', 'sign-up refused: too many from this address', { ip: ws.data.ip });
      throw rateLimited(wait);
    }
    const account = await ctx.accounts.register(request);
    ctx.log('info', 'sign-up', { userId: account.id, username: account.username, ip: ws.data.ip });
    const { token, session } = await ctx.sessions.create(account.id);
    signIn(ctx, ws, session);
    return sessionResult(ctx, account, token, session);
  },

  async login(ctx, ws, { username, authKey }) {
    requireAnonymous(ws);
    checkLoginBudget(ctx, ws, username);
    const account = ctx.accounts.find(username);
    if (!ctx.accounts.checkAuthKey(account, authKey) || !account) {
      chargeFailedLogin(ctx, ws, username);
      throw new SovError('BAD_CREDENTIALS');
    }
    ctx.log('info', 'login', { userId: account.id, username: account.username, ip: ws.data.ip });
    const { token, session } = await ctx.sessions.create(account.id);
    signIn(ctx, ws, session);
    return sessionResult(ctx, account, token, session);
  },

  resume(ctx, ws, { token }) {
    requireAnonymous(ws);
    const session = ctx.sessions.resume(token);
    const account = session && ctx.accounts.get(session.userId);
    if (!session || !account) throw new SovError('SESSION_INVALID');
    signIn(ctx, ws, session);
    return { expiresAt: session.expiresAt, user: ctx.accounts.profile(account) };
  },

  async logout(ctx, ws) {
    const { hash } = requireSession(ws);
    await ctx.sessions.revoke(hash);
    endSessionEverywhere(ctx, hash, 'logout', ws);
    signOut(ctx, ws);
    return {};
  },

  async 'change-password'(ctx, ws, request) {
    const { hash, userId } = requireSession(ws);
    const account = ctx.accounts.get(userId);
    if (!account) throw new SovError('UNKNOWN_USER');
    checkLoginBudget(ctx, ws, account.username);
    if (!ctx.accounts.checkAuthKey(account, request.authKey)) {
      chargeFailedLogin(ctx, ws, account.username);
      throw new SovError('BAD_CREDENTIALS', undefined, { field: 'authKey' });
    }
    await ctx.accounts.changePassword(userId, {
      kdf: request.kdf,
      authKey: request.newAuthKey,
      keySalt: request.keySalt,
      publicKey: request.publicKey,
    });
    // Whoever knew the old password may hold other sessions: end them all but this one.
    for (const ended of await ctx.sessions.revokeUser(userId, hash)) endSessionEverywhere(ctx, ended, 'password-changed');
    const user = ctx.accounts.profile(account);
    ctx.publish(USERS_TOPIC, eventFrame({ ev: 'profile', user }));
    return { user };
  },

  join(ctx, ws, { room, after, limit }) {
    const { userId } = requireSession(ws);
    const connection = ws.data;
    if (!connection.rooms.has(room)) {
      if (connection.rooms.size >= LIMITS.maxRoomsPerConnection) throw new SovError('TOO_MANY_ROOMS');
      connection.rooms.add(room);
      // Subscribing and reading history in one synchronous step: no message can fall between them.
      ws.subscribe(roomTopic(room));
      if (ctx.presence.enter(room, userId)) {
        const user = profileOf(ctx, userId);
        if (user) ctx.publish(roomTopic(room), eventFrame({ ev: 'join', room, user }));
      }
    }
    const slice = ctx.history.since(room, after, Math.min(limit ?? ctx.history.historySize, ctx.history.historySize), MAX_HISTORY_REPLY_BYTES);
    const online = profilesOf(ctx, ctx.presence.roomMembers(room));
    return new RawResult(
      `{"room":${JSON.stringify(room)},"seq":${slice.seq},"gap":${slice.gap},"online":${JSON.stringify(online)},"messages":[${slice.messages.join(',')}]}`,
    );
  },

  leave(ctx, ws, { room }) {
    requireSession(ws);
    leaveRoom(ctx, ws, room);
    return {};
  },

  async send(ctx, ws, message) {
    const { userId } = requireSession(ws);
    if (!ws.data.rooms.has(message.room)) throw new SovError('NOT_IN_ROOM');
    if (message.author !== userId) throw new SovError('WRONG_AUTHOR', undefined, { field: 'author' });
    if (Math.abs(message.ts - Date.now()) > LIMITS.maxClockSkewMs) throw new SovError('CLOCK_SKEW', undefined, { field: 'ts' });
    const account = ctx.accounts.get(userId);
    if (!account) throw new SovError('UNKNOWN_USER');
    const connection = ws.data;
    // Verification runs off the event loop and may finish out of order; chaining it per connection
    // keeps one sender's messages in the order they were sent. Only the check and the sequence
    // number wait in line, not the disk write.
    const admitted = connection.sendQueue.then(async () => {
      if (!(await verifySignature(ctx.accounts.currentKey(account), signedBytes(message), message.sig))) {
        throw new SovError('BAD_SIGNATURE', undefined, { field: 'sig' });
      }
      return { durable: ctx.history.accept(message) };
    });
    connection.sendQueue = admitted.then(
      () => undefined,
      () => undefined,
    );
    const stored = await (await admitted).durable;
    ctx.metrics.messageAccepted();
    const durableAt = performance.now();
    ctx.metrics.delivered(ctx.publish(roomTopic(message.room), `{"ev":"message",${stored.json.slice(1)}`));
    ctx.metrics.fanoutTook((performance.now() - durableAt) / 1000);
    return { seq: stored.seq };
  },

  profile(ctx, ws, { userId, username }) {
    requireSession(ws);
    if (userId === undefined && username === undefined) {
      throw new SovError('EMPTY_FIELD', 'Give "userId" or "username".', { field: 'userId' });
    }
    const account = userId !== undefined ? ctx.accounts.get(userId) : ctx.accounts.find(username!);
    if (!account) throw new SovError('UNKNOWN_USER');
    return { user: ctx.accounts.profile(account) };
  },

  async 'update-profile'(ctx, ws, change) {
    const { userId } = requireSession(ws);
    const account = await ctx.accounts.updateProfile(userId, change);
    const user = ctx.accounts.profile(account);
    ctx.publish(USERS_TOPIC, eventFrame({ ev: 'profile', user }));
    return { user };
  },

  online(ctx, ws, { room }) {
    requireSession(ws);
    return { users: profilesOf(ctx, room === undefined ? ctx.presence.onlineUsers() : ctx.presence.roomMembers(room)) };
  },
};

/** Runs one validated request; resolves with the reply's result or rejects with SovError. */
export function handleRequest(ctx: RelayContext, ws: Socket, request: Request): Promise<unknown> {
  const { id: _id, type, ...fields } = request;
  const handler = handlers[type] as Handler<RequestType>;
  return Promise.resolve().then(() => handler(ctx, ws, fields as RequestMap[RequestType]));
}
