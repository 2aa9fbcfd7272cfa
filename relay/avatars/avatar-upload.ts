/**
 * POST /v1/avatar: the raw image as the body, `Authorization: Bearer <token>`. Plain HTTP rather
 * than the WebSocket so browsers can show upload progress and the 64 KB frame limit stays small;
 * CORS lets a page on any allowed origin upload. The relay trusts nothing about the bytes: the
 * format comes from magic bytes, the size from the headers inside the image, and SVG (which can
 * carry script) is never accepted.
 */
import { SovError } from '../../sdk/errors.ts';
import type { ErrorCode } from '../../sdk/errors.ts';
import { LIMITS } from '../../sdk/protocol.ts';
import type { Profile } from '../../sdk/protocol.ts';
import { originAllowed } from '../config.ts';
import type { RelayConfig } from '../config.ts';
import type { HttpExchange, HttpReply } from '../engine/engine.ts';
import { errorText } from '../logger.ts';
import type { Logger } from '../logger.ts';
import { KeyedLimiter } from '../rate-limit.ts';
import type { Accounts } from '../store/accounts.ts';
import type { Sessions } from '../store/sessions.ts';
import type { AvatarStore } from './avatar-store.ts';
import { readImageInfo } from './image-info.ts';

export interface AvatarUploadDeps {
  config: RelayConfig;
  accounts: Accounts;
  sessions: Sessions;
  avatars: AvatarStore;
  log: Logger;
  onChange(user: Profile): void;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  NOT_AUTHENTICATED: 401,
  SESSION_INVALID: 401,
  FORBIDDEN_ORIGIN: 403,
  IMAGE_TOO_LARGE: 413,
  BAD_IMAGE: 415,
  RATE_LIMITED: 429,
  STORAGE_FAILED: 507,
};

// Ten avatar changes a minute per user is far beyond any person, and bounds disk churn.
const uploadsByUser = new KeyedLimiter(10 / 60, 10);
/**
 * How much of a refused body the relay still reads, and throws away, before answering. Closing the
 * connection while the client is still sending makes the kernel reset it, and the client (fetch,
 * browsers) then reports a network error instead of the refusal: a 5 MB phone photo would fail with
 * "connection reset" rather than IMAGE_TOO_LARGE. Bodies declared larger than this are refused at
 * once and the connection cut, so a client cannot make the relay read without end.
 */
const MAX_DRAIN_BYTES = 16 * LIMITS.maxAvatarBytes;

/**
 * A JSON reply. `allowOrigin` is the request's origin once it has passed the origin check, and
 * only then: echoing a refused origin in Access-Control-Allow-Origin would let that page read the
 * answer after all.
 */
export function jsonReply(status: number, body: unknown, allowOrigin?: string): HttpReply {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-content-type-options': 'nosniff',
    vary: 'origin',
  };
  if (allowOrigin !== undefined) headers['access-control-allow-origin'] = allowOrigin || '*';
  return { status, headers, body: JSON.stringify(body) };
}

export function handleAvatarUpload(exchange: HttpExchange, deps: AvatarUploadDeps): void {
  const origin = exchange.header('origin');
  const allowOrigin = originAllowed(deps.config, origin) ? origin : undefined;
  const declaredLength = Number(exchange.header('content-length') || '0');
  let done = false;
  const fail = (error: SovError, closeConnection = false): void => {
    if (done) return;
    done = true;
    exchange.respond(
      jsonReply(STATUS[error.code] ?? 400, { ok: false, error: error.toWire() }, allowOrigin),
      closeConnection,
    );
  };

  const tooLarge = new SovError('IMAGE_TOO_LARGE', `Avatars may be at most ${LIMITS.maxAvatarBytes / 1024} KB.`);
  const admitted = admit(deps, origin, exchange.header('authorization'), declaredLength, tooLarge);
  // A refused body is still read, and thrown away, up to MAX_DRAIN_BYTES so that the answer reaches the client.
  let refusal = admitted instanceof SovError ? admitted : null;
  if (refusal && declaredLength > MAX_DRAIN_BYTES) return fail(refusal, true);

  const chunks: Buffer[] = [];
  let received = 0;
  exchange.onBody((chunk, isLast) => {
    if (done || exchange.aborted) return;
    received += chunk.byteLength;
    // Counted as it arrives: a client may lie in Content-Length or send chunked data.
    if (!refusal && received > LIMITS.maxAvatarBytes) {
      refusal = tooLarge;
      chunks.length = 0;
    }
    if (refusal || admitted instanceof SovError) {
      if (isLast || received > MAX_DRAIN_BYTES) fail(refusal ?? tooLarge, true);
      return;
    }
    chunks.push(chunk);
    if (!isLast) return;
    const bytes = Buffer.concat(chunks);
    const info = readImageInfo(bytes);
    if (!info) return fail(new SovError('BAD_IMAGE'));
    if (info.width > LIMITS.maxAvatarSide || info.height > LIMITS.maxAvatarSide) {
      return fail(
        new SovError(
          'IMAGE_TOO_LARGE',
          `Avatars may be at most ${LIMITS.maxAvatarSide}x${LIMITS.maxAvatarSide} pixels.`,
        ),
      );
    }
    deps.avatars
      .save(bytes, info)
      .then((url) => deps.accounts.updateProfile(admitted.userId, { avatar: url }))
      .then((account) => {
        const user = deps.accounts.profile(account);
        deps.onChange(user);
        if (done) return;
        done = true;
        exchange.respond(jsonReply(200, { ok: true, result: { user } }, allowOrigin));
      })
      .catch((error: unknown) => {
        if (!(error instanceof SovError))
          deps.log('error', 'avatar upload failed', {
            error: errorText(error),
          });
        fail(error instanceof SovError ? error : new SovError('STORAGE_FAILED'));
      });
  });
}

/** The checks that need no body: origin, session, declared size, upload rate. */
function admit(
  deps: AvatarUploadDeps,
  origin: string,
  authorization: string,
  declaredLength: number,
  tooLarge: SovError,
): { userId: number } | SovError {
  if (!originAllowed(deps.config, origin)) return new SovError('FORBIDDEN_ORIGIN');
  const token = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(authorization)?.[1];
  if (!token) return new SovError('NOT_AUTHENTICATED');
  const session = deps.sessions.resume(token);
  if (!session) return new SovError('SESSION_INVALID');
  if (declaredLength > LIMITS.maxAvatarBytes) return tooLarge;
  const wait = uploadsByUser.take(String(session.userId));
  if (wait > 0) return new SovError('RATE_LIMITED', undefined, { retryAfterMs: wait });
  return { userId: session.userId };
}
