/**
 * The Sovereign Chat wire protocol, version 1: every frame type, the validation of incoming
 * requests and the canonical bytes that authors sign. The relay imports this module, so the
 * two sides cannot drift. PROTOCOL.md describes the same thing for humans.
 */
import { SovError } from './errors.ts';
import type { WireError } from './errors.ts';
import { base64UrlLength, fromBase64Url, toBase64Url, utf8 } from './encoding.ts';

export const PROTOCOL_VERSION = 1;
/** The WebSocket path of protocol version 1. A future version gets its own path. */
export const WS_PATH = '/v1/ws';
export const AVATAR_UPLOAD_PATH = '/v1/avatar';
export const DEFAULT_ROOM = 'general';

export const LIMITS = {
  /** Largest frame the relay accepts; a 4,000-character message fits with room for JSON escapes. */
  maxFrameBytes: 64 * 1024,
  maxTextLength: 4000,
  maxNameLength: 64,
  minUsernameLength: 3,
  maxUsernameLength: 32,
  maxRoomLength: 48,
  maxRequestIdLength: 64,
  /** A message's signed timestamp may differ this much from the relay clock (replay window). */
  maxClockSkewMs: 5 * 60 * 1000,
  maxRoomsPerConnection: 32,
  maxAvatarBytes: 512 * 1024,
  maxAvatarSide: 1024,
} as const;

/**
 * Password hashing parameters. scrypt N=2^17, r=8, p=1 is the OWASP minimum; the relay refuses
 * weaker settings so that a careless client cannot leave its users' auth keys cheap to brute-force.
 */
export interface KdfParams {
  alg: 'scrypt';
  N: number;
  r: number;
  p: number;
  /** base64url, 16 to 64 random bytes chosen by the registering client. */
  salt: string;
}
export const DEFAULT_KDF = { alg: 'scrypt', N: 2 ** 17, r: 8, p: 1 } as const;

export type Role = 'user' | 'admin';

export interface PublicKeyEntry {
  /** Raw ed25519 public key, base64url (32 bytes). */
  publicKey: string;
  /** When the relay started accepting it (ms since epoch); the newest entry is the current key. */
  since: number;
}

/** What anyone logged in may read about a user. */
export interface Profile {
  id: number;
  username: string;
  firstName: string;
  lastName: string;
  /** Relay-relative URL of the avatar image (content-addressed, cache forever), or null. */
  avatar: string | null;
  /** Every key the user ever signed with, oldest first, so old messages stay verifiable. */
  keys: PublicKeyEntry[];
  role: Role;
}

/** A chat message as stored and fanned out; every field but `seq` is covered by `sig`. */
export interface ChatMessage {
  room: string;
  /** The room's sequence number, assigned by the relay: 1, 2, 3... without gaps. */
  seq: number;
  author: number;
  /** Client-chosen unique id; makes resending idempotent and replays detectable. */
  cid: string;
  /** Author's clock, ms since epoch. */
  ts: number;
  text: string;
  /** ed25519 signature over `signedBytes(...)`, base64url (64 bytes). */
  sig: string;
}

export type UnsignedMessage = Pick<ChatMessage, 'room' | 'author' | 'cid' | 'ts' | 'text'>;

/**
 * The exact bytes an author signs. A JSON array of strings and integers serializes identically in
 * every conforming JS engine (ES2019 well-formed JSON.stringify), so no hand-written canonical form
 * is needed; the leading label keeps these signatures from being valid for any other purpose.
 */
export function signedBytes(message: UnsignedMessage): Uint8Array {
  return utf8(
    JSON.stringify(['sov/message', PROTOCOL_VERSION, message.room, message.author, message.cid, message.ts, message.text]),
  );
}

// ---------------------------------------------------------------------------------------------
// Requests (client -> relay): { id, type, ...fields }. Each gets exactly one reply.

export interface RequestMap {
  ping: Record<string, never>;
  salt: { username: string };
  register: {
    username: string;
    firstName: string;
    lastName: string;
    kdf: KdfParams;
    authKey: string;
    keySalt: string;
    publicKey: string;
  };
  login: { username: string; authKey: string };
  resume: { token: string };
  logout: Record<string, never>;
  'change-password': { authKey: string; kdf: KdfParams; newAuthKey: string; keySalt: string; publicKey: string };
  join: { room: string; after?: number; limit?: number };
  leave: { room: string };
  send: Omit<ChatMessage, 'seq' | 'author'> & { author: number };
  profile: { userId?: number; username?: string };
  'update-profile': { username?: string; firstName?: string; lastName?: string };
  online: { room?: string };
}

export interface SessionResult {
  token: string;
  expiresAt: number;
  user: Profile;
  /** The per-user random value mixed into the signing key; handed out only after a password check. */
  keySalt: string;
}

export interface JoinResult {
  room: string;
  /** The room's latest sequence number. */
  seq: number;
  messages: ChatMessage[];
  /** True when `after` was older than the kept history: messages between were lost to the client. */
  gap: boolean;
  online: Profile[];
}

export interface ResultMap {
  ping: { time: number };
  salt: { kdf: KdfParams };
  register: SessionResult;
  login: SessionResult;
  resume: { expiresAt: number; user: Profile };
  logout: Record<string, never>;
  'change-password': { user: Profile };
  join: JoinResult;
  leave: Record<string, never>;
  send: { seq: number };
  profile: { user: Profile };
  'update-profile': { user: Profile };
  online: { users: Profile[] };
}

export type RequestType = keyof RequestMap;
export type RequestId = string | number;
export type Request = { [K in RequestType]: { id: RequestId; type: K } & RequestMap[K] }[RequestType];

// Replies and events (relay -> client).
export type Reply<K extends RequestType = RequestType> =
  | { re: RequestId | null; ok: true; result: ResultMap[K] }
  | { re: RequestId | null; ok: false; error: WireError };

export interface EventMap {
  hello: {
    protocol: number;
    relay: string;
    time: number;
    /** `connectionBudget`: bytes the relay sends down this connection before it ends it (BUDGET_SPENT); 0 for none. */
    limits: typeof LIMITS & { historySize: number; connectionBudget: number };
  };
  message: ChatMessage;
  join: { room: string; user: Profile };
  leave: { room: string; userId: number };
  presence: { userId: number; online: boolean; user?: Profile };
  profile: { user: Profile };
  'session-ended': { reason: 'logout' | 'password-changed' };
}
export type EventName = keyof EventMap;
export type ServerEvent = { [K in EventName]: { ev: K } & EventMap[K] }[EventName];

/** WebSocket close codes the relay uses besides the normal 1000. */
export const CLOSE_CODES = {
  /** Binary frames are not part of the protocol (RFC 6455 "unsupported data"). */
  UNSUPPORTED_DATA: 1003,
  /** Uniform policy violation: the connection kept flooding after RATE_LIMITED replies. */
  POLICY: 1008,
  /**
   * A frame over LIMITS.maxFrameBytes, or a text frame that is not UTF-8, ends the connection
   * unread. The uWebSockets.js engine drops it without a close frame, so clients see this
   * abnormal-closure code; the Node engine sends TOO_BIG or NOT_UTF8. Clients must check a
   * frame's size against the hello event's limits before sending it.
   */
  DROPPED: 1006,
  /** RFC 6455 "message too big": a frame over LIMITS.maxFrameBytes (Node engine). */
  TOO_BIG: 1009,
  /** RFC 6455 "invalid frame payload data": a text frame that is not UTF-8 (Node engine). */
  NOT_UTF8: 1007,
  /** The relay is shutting down; reconnect later. */
  GOING_AWAY: 1001,
  /**
   * The connection's byte budget (hello `limits.connectionBudget`) is spent: the frame that would
   * have crossed it was not sent. Reconnect and resume; the SDK moves to a new connection before.
   */
  BUDGET_SPENT: 4001,
} as const;

// ---------------------------------------------------------------------------------------------
// Validation. Every check throws SovError with the field name, so a client learns exactly what
// was wrong; the relay never trusts a client to have validated anything.

type Check<T> = (value: unknown, field: string) => T;

const invalid = (field: string, why: string): SovError =>
  new SovError('INVALID_FIELD', `Field "${field}" ${why}.`, { field });

// Characters that can hide or reorder text are refused in names so that one user cannot
// impersonate another visually: C0/C1 controls, line and paragraph separators, and every
// default-ignorable code point (zero-width characters, bidi controls, variation selectors,
// fillers, tags), except U+FE0F, which asks for the emoji form of the character before it.
const NAME_FORBIDDEN = /[\p{Cc}\p{Zl}\p{Zp}]|(?!\uFE0F)\p{Default_Ignorable_Code_Point}/u;
// Usernames are the unique handle: no invisible character at all, emoji selector included.
const USERNAME_INVISIBLE = /\p{Default_Ignorable_Code_Point}/u;
// Message text may hold line breaks and tabs, nothing else from the control range.
const TEXT_FORBIDDEN = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;
const USERNAME_PATTERN = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}._-]*[\p{L}\p{M}\p{N}]$/u;
const ROOM_PATTERN = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}_-]*$/u;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const CID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

function string(value: unknown, field: string): string {
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  if (!value.isWellFormed()) throw invalid(field, 'contains a broken Unicode sequence');
  return value;
}

function nonEmpty(value: unknown, field: string): string {
  const text = string(value, field);
  if (text.trim() === '') throw new SovError('EMPTY_FIELD', `Field "${field}" must not be empty.`, { field });
  return text;
}

/** A person's first or last name: trimmed, NFKC, 1-64 characters, nothing invisible. */
export const personName: Check<string> = (value, field) => {
  const name = nonEmpty(value, field).trim().normalize('NFKC');
  if ([...name].length > LIMITS.maxNameLength) throw invalid(field, `must be at most ${LIMITS.maxNameLength} characters`);
  if (NAME_FORBIDDEN.test(name)) throw invalid(field, 'contains control or invisible characters');
  return name;
};

/**
 * A username as displayed: NFKC, 3-32 letters or digits of any script with `.`, `_`, `-` inside.
 * Uniqueness is decided by `usernameKey`.
 */
export const username: Check<string> = (value, field) => {
  const name = nonEmpty(value, field).trim().normalize('NFKC');
  const length = [...name].length;
  if (length < LIMITS.minUsernameLength || length > LIMITS.maxUsernameLength) {
    throw invalid(field, `must be ${LIMITS.minUsernameLength} to ${LIMITS.maxUsernameLength} characters`);
  }
  if (!USERNAME_PATTERN.test(name) || USERNAME_INVISIBLE.test(name)) {
    throw invalid(field, 'may hold only letters, digits and . _ - (not at the start or end)');
  }
  return name;
};

/** Case-insensitive identity of a username: "Ivan", "IVAN" and "ｉｖａｎ" are one account. */
export function usernameKey(name: string): string {
  return name.normalize('NFKC').toLowerCase().normalize('NFKC');
}

/** Room names are NFKC, lower case, 1-48 letters, digits, `_` or `-`: "General" is "general". */
export const roomName: Check<string> = (value, field) => {
  const room = nonEmpty(value, field).trim().normalize('NFKC').toLowerCase();
  if ([...room].length > LIMITS.maxRoomLength) throw invalid(field, `must be at most ${LIMITS.maxRoomLength} characters`);
  if (!ROOM_PATTERN.test(room)) throw invalid(field, 'may hold only letters, digits, _ and -');
  return room;
};

/** Message text is signed, so it is checked but never altered. */
export const messageText: Check<string> = (value, field) => {
  const text = nonEmpty(value, field);
  if (text.length > LIMITS.maxTextLength) throw invalid(field, `must be at most ${LIMITS.maxTextLength} characters`);
  if (TEXT_FORBIDDEN.test(text)) throw invalid(field, 'contains control characters');
  return text;
};

const base64Bytes =
  (minBytes: number, maxBytes = minBytes): Check<string> =>
  (value, field) => {
    const text = string(value, field);
    const ok =
      BASE64URL.test(text) && text.length >= base64UrlLength(minBytes) && text.length <= base64UrlLength(maxBytes);
    if (!ok) throw invalid(field, `must be ${minBytes === maxBytes ? minBytes : `${minBytes}-${maxBytes}`} bytes in base64url`);
    return text;
  };

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check<number> =>
  (value, field) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw invalid(field, `must be an integer from ${min} to ${max}`);
    }
    return value;
  };

// `@__PURE__` lets bundlers drop the request schemas (relay-side parsing) from browser bundles
// that never call parseRequest: a call at module level otherwise counts as a side effect.
export const key32 = /* @__PURE__ */ base64Bytes(32);
const signature = /* @__PURE__ */ base64Bytes(64);
const token = /* @__PURE__ */ base64Bytes(32);
const userId = /* @__PURE__ */ integer(1);

/**
 * The rule a signing key must meet, isValidPublicKey of ./crypto/ed25519-rules.ts, installed by the
 * relay (relay/signatures.ts, which every relay request handler loads). It is not imported here:
 * it needs @noble/ed25519, and esbuild keeps the import of a module that lazy chunks share even when
 * nothing on the page uses it (evanw/esbuild#3704), which put noble into the first download of both
 * browser bundles (+4.3 KB gzip for sovereign-chat.js, +4.0 KB for <sov-chat>) though browsers never
 * parse requests.
 */
let publicKeyRule: ((raw: Uint8Array) => boolean) | null = null;

/** Called once by the relay as it loads (relay/signatures.ts); see publicKeyRule. */
export function installPublicKeyRule(rule: (raw: Uint8Array) => boolean): void {
  publicKeyRule = rule;
}

/**
 * A signing key the relay will store: a canonical encoding of a prime-order point (a small-order key
 * verifies one constant signature on any text; see ./crypto/ed25519-rules.ts), spelled in canonical
 * base64url, so one key has one spelling in profiles and caches.
 */
const publicKey: Check<string> = (value, field) => {
  const text = key32(value, field);
  const raw = fromBase64Url(text);
  if (!raw || toBase64Url(raw) !== text) throw invalid(field, 'must be canonical base64url');
  // Not a SovError: a relay without the rule is a bug, answered INTERNAL and logged, never a key let in.
  if (!publicKeyRule) throw new Error('no public-key rule installed: import relay/signatures.ts');
  if (!publicKeyRule(raw)) throw invalid(field, 'must be an ed25519 public key of prime order (not of small order, canonically encoded)');
  return text;
};

const clientMessageId: Check<string> = (value, field) => {
  const cid = string(value, field);
  if (!CID_PATTERN.test(cid)) throw invalid(field, 'must be 8-64 characters of A-Z a-z 0-9 _ -');
  return cid;
};

/** The password hashing settings a relay may ask for: scrypt at least at the OWASP minimum, at most 2^20. */
export const kdfParams: Check<KdfParams> = (value, field) => {
  const kdf = object(value, field);
  if (kdf.alg !== 'scrypt') throw invalid(`${field}.alg`, 'must be "scrypt"');
  const N = integer(DEFAULT_KDF.N, 2 ** 20)(kdf.N, `${field}.N`);
  if ((N & (N - 1)) !== 0) throw invalid(`${field}.N`, 'must be a power of two');
  return {
    alg: 'scrypt',
    N,
    r: integer(DEFAULT_KDF.r, 32)(kdf.r, `${field}.r`),
    p: integer(DEFAULT_KDF.p, 4)(kdf.p, `${field}.p`),
    salt: base64Bytes(16, 64)(kdf.salt, `${field}.salt`),
  };
};

/**
 * The settings an account may be created with: exactly the defaults, with a 16-byte salt. The salt
 * answer for an unknown name is shaped that way, so an account with other settings would stand
 * out and tell an enumerator that it exists.
 */
const accountKdf: Check<KdfParams> = (value, field) => {
  const kdf = kdfParams(value, field);
  if (kdf.N !== DEFAULT_KDF.N || kdf.r !== DEFAULT_KDF.r || kdf.p !== DEFAULT_KDF.p) throw invalid(field, `must be scrypt N=${DEFAULT_KDF.N}, r=${DEFAULT_KDF.r}, p=${DEFAULT_KDF.p}`);
  base64Bytes(16)(kdf.salt, `${field}.salt`);
  return kdf;
};

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, 'must be an object');
  return value as Record<string, unknown>;
}

const optional =
  <T>(check: Check<T>): Check<T | undefined> =>
  (value, field) =>
    value === undefined ? undefined : check(value, field);

type Schema<T> = { [K in keyof T]-?: Check<T[K]> };

const SCHEMAS: { [K in RequestType]: Schema<RequestMap[K]> } = {
  ping: {},
  salt: { username },
  register: {
    username,
    firstName: personName,
    lastName: personName,
    kdf: accountKdf,
    authKey: key32,
    keySalt: key32,
    publicKey,
  },
  login: { username, authKey: key32 },
  resume: { token },
  logout: {},
  'change-password': { authKey: key32, kdf: accountKdf, newAuthKey: key32, keySalt: key32, publicKey },
  join: { room: roomName, after: /* @__PURE__ */ optional(/* @__PURE__ */ integer(0)), limit: /* @__PURE__ */ optional(/* @__PURE__ */ integer(0)) },
  leave: { room: roomName },
  send: { room: roomName, author: userId, cid: clientMessageId, ts: /* @__PURE__ */ integer(0), text: messageText, sig: signature },
  profile: { userId: /* @__PURE__ */ optional(userId), username: /* @__PURE__ */ optional(username) },
  'update-profile': { username: /* @__PURE__ */ optional(username), firstName: /* @__PURE__ */ optional(personName), lastName: /* @__PURE__ */ optional(personName) },
  online: { room: /* @__PURE__ */ optional(roomName) },
};

export function isRequestType(type: unknown): type is RequestType {
  return typeof type === 'string' && Object.hasOwn(SCHEMAS, type);
}

/** The outcome of reading one text frame: a valid request, or the error to reply with. */
export type ParsedFrame = { ok: true; request: Request } | { ok: false; id: RequestId | null; error: SovError };

function requestId(value: unknown): RequestId | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && value.length > 0 && value.length <= LIMITS.maxRequestIdLength) return value;
  return null;
}

/**
 * Parses and validates one request frame. Room names, usernames and person names come back
 * normalized (NFKC, trimmed); signed message text comes back untouched. Unknown fields are dropped.
 */
export function parseRequest(frame: string): ParsedFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(frame);
  } catch {
    return { ok: false, id: null, error: new SovError('BAD_JSON') };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, id: null, error: new SovError('BAD_FRAME') };
  }
  const fields = raw as Record<string, unknown>;
  const id = requestId(fields.id);
  if (id === null) return { ok: false, id: null, error: new SovError('BAD_FRAME') };
  if (!isRequestType(fields.type)) {
    // Only a string is quoted back: String() of an arbitrary JSON value can throw (an object whose
    // "toString" is not a function, arrays nested thousands deep), and that would escape to the relay.
    const shown = typeof fields.type === 'string' ? JSON.stringify(fields.type.slice(0, 60)) : `of type ${Array.isArray(fields.type) ? 'array' : typeof fields.type}`;
    return { ok: false, id, error: new SovError('UNKNOWN_TYPE', `Unknown request type ${shown}.`) };
  }
  try {
    const request: Record<string, unknown> = { id, type: fields.type };
    for (const [name, check] of Object.entries(SCHEMAS[fields.type]) as [string, Check<unknown>][]) {
      const value = check(fields[name], name);
      if (value !== undefined) request[name] = value;
    }
    return { ok: true, request: request as Request };
  } catch (error) {
    if (error instanceof SovError) return { ok: false, id, error };
    throw error;
  }
}
