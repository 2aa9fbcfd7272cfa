/**
 * Accounts and sessions: salt, register, login, resume, logout, change-password, and what binds a
 * login to a connection (presence, the users topic) and ends it.
 */
import { SovError } from '../../sdk/errors.ts';
import { usernameKey } from '../../sdk/protocol.ts';
import type { RequestMap, ResultMap } from '../../sdk/protocol.ts';
import type { Socket } from '../connection.ts';
import type { Account } from '../store/accounts.ts';
import type { Session } from '../store/sessions.ts';
import { USERS_TOPIC, eventFrame, profileOf, requireSession } from './context.ts';
import type { HandlerTable, RelayContext } from './context.ts';
import { afterGrace } from '../presence.ts';
import { leaveRoom } from './rooms.ts';

function requireAnonymous(ws: Socket): void {
  if (ws.data.session) throw new SovError('ALREADY_AUTHENTICATED');
}

function rateLimited(retryAfterMs: number): SovError {
  return new SovError('RATE_LIMITED', undefined, { retryAfterMs });
}

/** Refuses before any password check while either the name or the address is locked out. */
function checkLoginBudget(ctx: RelayContext, ws: Socket, username: string): void {
  const wait = Math.max(ctx.limits.loginByName.wait(usernameKey(username)), ctx.limits.loginByIp.wait(ws.data.ip));
  if (wait > 0) {
    ctx.log('info', 'login refused: locked out', {
      username,
      ip: ws.data.ip,
      retryAfterMs: wait,
    });
    throw rateLimited(wait);
  }
}

function chargeFailedLogin(ctx: RelayContext, ws: Socket, username: string): void {
  ctx.log('info', 'failed login', { username, ip: ws.data.ip });
  const byName = ctx.limits.loginByName.take(usernameKey(username));
  const byIp = ctx.limits.loginByIp.take(ws.data.ip);
  // The failure that spends the last token starts the lockout: say so once, not on every refusal.
  if (ctx.limits.loginByName.wait(usernameKey(username)) > 0 && byName === 0)
    ctx.log('info', 'lockout: username', { username });
  if (ctx.limits.loginByIp.wait(ws.data.ip) > 0 && byIp === 0) ctx.log('info', 'lockout: address', { ip: ws.data.ip });
}

/**
 * The same registration again: its reply was lost with its connection (a stall, a freeze), and the
 * SDK sends the identical request on the next one (sdk/account.ts). It names the salts the account
 * was stored with and proves the password with its auth key, so it signs in as a login would,
 * under the login's lockout: `kdf.salt` is public (`salt`), and `keySalt` could be guessed no
 * better than a password, but without the budget a register would still be a second way to test one. Anything else about a taken name is USERNAME_TAKEN.
 */
function repeatedRegistration(
  ctx: RelayContext,
  ws: Socket,
  request: RequestMap['register'],
): Promise<ResultMap['register']> | null {
  const account = ctx.accounts.find(request.username);
  if (
    !account ||
    account.keySalt !== request.keySalt ||
    account.kdf.salt !== request.kdf.salt ||
    account.keys.at(-1)?.publicKey !== request.publicKey
  )
    return null;
  checkLoginBudget(ctx, ws, account.username);
  if (!ctx.accounts.checkAuthKey(account, request.authKey)) {
    chargeFailedLogin(ctx, ws, account.username);
    throw new SovError('USERNAME_TAKEN', undefined, { field: 'username' });
  }
  ctx.log('info', 'sign-up repeated: signed in', { userId: account.id, username: account.username, ip: ws.data.ip });
  return startSession(ctx, ws, account);
}

async function startSession(ctx: RelayContext, ws: Socket, account: Account): Promise<ResultMap['login']> {
  const { token, session } = await ctx.sessions.create(account.id);
  signIn(ctx, ws, session);
  return sessionResult(ctx, account, token, session);
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
    ctx.publish(
      USERS_TOPIC,
      eventFrame({
        ev: 'presence',
        userId: session.userId,
        online: true,
        ...(user ? { user } : {}),
      }),
    );
  }
}

/**
 * Ends the connection's login: leaves its rooms (with leave events) and, if it was the user's last,
 * goes offline. `closed`: the connection closed, so it still counts for the grace (presence.ts).
 */
export function signOut(ctx: RelayContext, ws: Socket, closed = false): void {
  const connection = ws.data;
  const session = connection.session;
  if (!session) return;
  for (const room of [...connection.rooms]) leaveRoom(ctx, ws, room, closed);
  ws.unsubscribe(USERS_TOPIC);
  connection.session = null;
  const { userId } = session;
  const disconnect = (): void => {
    if (ctx.presence.disconnect(userId, session.hash, ws))
      ctx.publish(USERS_TOPIC, eventFrame({ ev: 'presence', userId, online: false }));
  };
  if (closed) afterGrace(disconnect);
  else disconnect();
}

function endSessionEverywhere(
  ctx: RelayContext,
  hash: string,
  reason: 'logout' | 'password-changed',
  except?: Socket,
): void {
  for (const socket of ctx.presence.socketsOfSession(hash)) {
    if (socket === except) continue;
    socket.send(eventFrame({ ev: 'session-ended', reason }));
    signOut(ctx, socket);
  }
}

function sessionResult(ctx: RelayContext, account: Account, token: string, session: Session): ResultMap['login'] {
  return {
    token,
    expiresAt: session.expiresAt,
    user: ctx.accounts.profile(account),
    keySalt: account.keySalt,
  };
}

export const sessionHandlers: HandlerTable<'salt' | 'register' | 'login' | 'resume' | 'logout' | 'change-password'> = {
  salt: (ctx, _ws, { username }) => ({ kdf: ctx.accounts.kdfFor(username) }),

  async register(ctx, ws, request) {
    requireAnonymous(ws);
    const repeated = repeatedRegistration(ctx, ws, request);
    if (repeated) return repeated;
    const wait = ctx.limits.registerByIp.take(ws.data.ip);
    if (wait > 0) {
      ctx.log('info', 'sign-up refused: too many from this address', {
        ip: ws.data.ip,
      });
      throw rateLimited(wait);
    }
    const account = await ctx.accounts.register(request);
    ctx.log('info', 'sign-up', {
      userId: account.id,
      username: account.username,
      ip: ws.data.ip,
    });
    return startSession(ctx, ws, account);
  },

  async login(ctx, ws, { username, authKey }) {
    requireAnonymous(ws);
    checkLoginBudget(ctx, ws, username);
    const account = ctx.accounts.find(username);
    if (!ctx.accounts.checkAuthKey(account, authKey) || !account) {
      chargeFailedLogin(ctx, ws, username);
      throw new SovError('BAD_CREDENTIALS');
    }
    ctx.log('info', 'login', {
      userId: account.id,
      username: account.username,
      ip: ws.data.ip,
    });
    return startSession(ctx, ws, account);
  },

  resume(ctx, ws, { token }) {
    requireAnonymous(ws);
    const session = ctx.sessions.resume(token);
    const account = session && ctx.accounts.get(session.userId);
    if (!session || !account) throw new SovError('SESSION_INVALID');
    signIn(ctx, ws, session);
    return {
      expiresAt: session.expiresAt,
      user: ctx.accounts.profile(account),
    };
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
    ctx.log('info', 'password change', {
      userId,
      username: account.username,
      ip: ws.data.ip,
    });
    // Whoever knew the old password may hold other sessions: end them all but this one.
    for (const ended of await ctx.sessions.revokeUser(userId, hash))
      endSessionEverywhere(ctx, ended, 'password-changed');
    const user = ctx.accounts.profile(account);
    ctx.publish(USERS_TOPIC, eventFrame({ ev: 'profile', user }));
    return { user };
  },
};
