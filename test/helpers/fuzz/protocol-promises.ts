/**
 * What PROTOCOL.md promises, written out from the document rather than imported from the relay's
 * code: the request and event tables, the oracle (`expectationFor`) that says what must happen to the
 * exact bytes of one frame, and the check of a reply's shape.
 */
import { isUtf8 } from 'node:buffer';
import { CLOSE_CODES, LIMITS } from '../../../sdk/protocol.ts';
import { documentedErrorCodes } from '../protocol-doc.ts';

/** The request types of the "Requests" table. */
export const REQUEST_TYPES = [
  'ping',
  'salt',
  'register',
  'login',
  'resume',
  'logout',
  'change-password',
  'join',
  'history',
  'leave',
  'send',
  'profile',
  'update-profile',
  'online',
] as const;
export type RequestType = (typeof REQUEST_TYPES)[number];

/** The fields each request type takes (the "fields" column). */
export const REQUEST_FIELDS: Record<RequestType, readonly string[]> = {
  ping: [],
  salt: ['username'],
  register: ['username', 'firstName', 'lastName', 'kdf', 'authKey', 'keySalt', 'publicKey'],
  login: ['username', 'authKey'],
  resume: ['token'],
  logout: [],
  'change-password': ['authKey', 'kdf', 'newAuthKey', 'keySalt', 'publicKey'],
  join: ['room', 'after', 'limit', 'members'],
  history: ['room', 'before', 'after', 'limit'],
  leave: ['room'],
  send: ['room', 'author', 'cid', 'ts', 'text', 'sig'],
  profile: ['userId', 'username'],
  'update-profile': ['username', 'firstName', 'lastName'],
  online: ['room', 'after'],
};
export const ALL_FIELDS = [...new Set(Object.values(REQUEST_FIELDS).flat())];

/** The keys of each successful result (the "result" column; a session result for register and login). */
export const RESULT_KEYS: Record<RequestType, readonly string[]> = {
  ping: ['time'],
  salt: ['kdf'],
  register: ['token', 'expiresAt', 'user', 'keySalt'],
  login: ['token', 'expiresAt', 'user', 'keySalt'],
  resume: ['expiresAt', 'user'],
  logout: [],
  'change-password': ['user'],
  join: ['room', 'seq', 'gap', 'messages', 'older', 'more', 'online', 'onlineNext', 'memberSeq'],
  history: ['room', 'messages', 'more'],
  leave: [],
  send: ['seq'],
  profile: ['user'],
  'update-profile': ['user'],
  online: ['users', 'next'],
};
/** Keys a result has only sometimes: `online` says its room's member number when asked about a room. */
export const OPTIONAL_RESULT_KEYS: Partial<Record<RequestType, readonly string[]>> = { online: ['memberSeq'] };

/** The "Events" table. */
export const EVENT_NAMES = new Set(['hello', 'message', 'join', 'leave', 'presence', 'profile', 'session-ended']);

/** Every code a relay may put in a reply: the "Errors" table, read from PROTOCOL.md itself. */
export const RELAY_ERROR_CODES: ReadonlySet<string> = documentedErrorCodes();
const ERROR_KEYS = new Set(['code', 'message', 'field', 'retryAfterMs', 'seq']);

/** "closes a connection after 50 RATE_LIMITED replies in a row" */
export const FLOOD_STRIKES = 50;

export type RequestId = string | number;

/**
 * What PROTOCOL.md says must happen to one frame:
 * - `close`: the relay ends the connection with `code` (binary frame 1003; over 64 KB or not UTF-8:
 *   `unread`, dropped without a close frame (1006) on uWS, 1009 or 1007 on the Node engine);
 *   frames sent after it are never read;
 * - `reply`: exactly one reply with `re`; `codes` lists the only error codes allowed (besides
 *   RATE_LIMITED, which any frame may get), or is null when the frame is a request of a known type,
 *   which may succeed or fail with any documented code.
 */
export type Expectation =
  | {
      kind: 'close';
      code: number;
      why: string;
      unread?: 'too-big' | 'not-utf8';
    }
  | {
      kind: 'reply';
      re: RequestId | null;
      codes: readonly string[] | null;
      type: RequestType | null;
      why: string;
    };

/** "`id` is a non-negative integer or a string of 1-64 characters" (characters as JS counts them; see the report). */
export function usableId(value: unknown): RequestId | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && value.length >= 1 && value.length <= LIMITS.maxRequestIdLength) return value;
  return null;
}

export function expectationFor(data: Buffer, binary: boolean): Expectation {
  if (binary)
    return {
      kind: 'close',
      code: CLOSE_CODES.UNSUPPORTED_DATA,
      why: 'binary frame',
    };
  if (data.length > LIMITS.maxFrameBytes)
    return {
      kind: 'close',
      code: CLOSE_CODES.DROPPED,
      why: `${data.length}-byte frame`,
      unread: 'too-big',
    };
  if (!isUtf8(data))
    return {
      kind: 'close',
      code: CLOSE_CODES.DROPPED,
      why: 'text frame that is not UTF-8',
      unread: 'not-utf8',
    };
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return {
      kind: 'reply',
      re: null,
      codes: ['BAD_JSON'],
      type: null,
      why: 'not JSON',
    };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {
      kind: 'reply',
      re: null,
      codes: ['BAD_FRAME'],
      type: null,
      why: 'JSON that is not an object',
    };
  }
  const fields = value as Record<string, unknown>;
  const re = usableId(fields.id);
  if (re === null)
    return {
      kind: 'reply',
      re: null,
      codes: ['BAD_FRAME'],
      type: null,
      why: 'no usable id',
    };
  if (typeof fields.type !== 'string') {
    // The error table says BAD_FRAME ("not an object with a valid id and type"); the relay answers
    // UNKNOWN_TYPE. Both are documented; either is accepted.
    return {
      kind: 'reply',
      re,
      codes: ['UNKNOWN_TYPE', 'BAD_FRAME'],
      type: null,
      why: 'type missing or not a string',
    };
  }
  if (!(REQUEST_TYPES as readonly string[]).includes(fields.type))
    return {
      kind: 'reply',
      re,
      codes: ['UNKNOWN_TYPE'],
      type: null,
      why: 'unknown type',
    };
  return {
    kind: 'reply',
    re,
    codes: null,
    type: fields.type as RequestType,
    why: fields.type,
  };
}

/**
 * Finding 1 of the fuzzing: a request whose `type` is an object or array that JavaScript cannot
 * turn into a string (`{"toString":1}`, `[{"valueOf":1,"toString":1}]`, arrays nested thousands
 * deep) made the relay's parseRequest throw outside its try/catch, and the process exited (fixed
 * in bf686e2). Such frames are counted in the summary, so a regression shows as crashes that
 * match them.
 */
export function hitsKnownCrash(data: Buffer, binary: boolean): boolean {
  const expectation = expectationFor(data, binary);
  if (
    expectation.kind !== 'reply' ||
    expectation.re === null ||
    expectation.codes === null ||
    expectation.type !== null
  )
    return false;
  const type = (JSON.parse(data.toString('utf8')) as { type?: unknown }).type;
  if (typeof type !== 'object' || type === null) return false;
  try {
    String(type);
    return false;
  } catch {
    return true;
  }
}

/** Checks a reply's shape against PROTOCOL.md; returns what is wrong, or null. */
export function replyShapeProblem(frame: any): string | null {
  if (!('re' in frame) || !(frame.re === null || typeof frame.re === 'string' || typeof frame.re === 'number'))
    return 're missing or of the wrong type';
  if (typeof frame.ok !== 'boolean') return 'ok is not a boolean';
  if (frame.ok) {
    if (typeof frame.result !== 'object' || frame.result === null || Array.isArray(frame.result))
      return 'result is not an object';
    return null;
  }
  const error = frame.error;
  if (typeof error !== 'object' || error === null) return 'error is not an object';
  if (typeof error.code !== 'string' || typeof error.message !== 'string' || error.message === '')
    return 'error without code or message';
  for (const key of Object.keys(error)) if (!ERROR_KEYS.has(key)) return `undocumented error field ${key}`;
  if ('field' in error && typeof error.field !== 'string') return 'error.field is not a string';
  if ('retryAfterMs' in error && !(Number.isSafeInteger(error.retryAfterMs) && error.retryAfterMs > 0))
    return 'retryAfterMs is not a positive integer';
  if ('seq' in error && !(Number.isSafeInteger(error.seq) && error.seq > 0)) return 'seq is not a positive integer';
  if (error.code === 'RATE_LIMITED' && !('retryAfterMs' in error)) return 'RATE_LIMITED without retryAfterMs';
  return null;
}
