/**
 * The relay's side of the protocol: the schema of every request and the parser that applies them
 * to each incoming frame. Only the relay imports this module (through ../protocol.ts); browser
 * bundles never load it, and scripts/build.mjs fails the build if one does.
 */
import { SovError } from '../errors.ts';
import { fromBase64Url, toBase64Url } from '../encoding.ts';
import { DEFAULT_KDF, LIMITS } from './frames.ts';
import type { KdfParams, RequestFrame, RequestId, RequestMap, RequestType } from './frames.ts';
import { invalid, isRecord, messageText, personName, roomName, string, username } from './fields.ts';
import type { Check } from './fields.ts';
import { base64Bytes, integer, kdfParams } from './kdf.ts';

const CID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

const key32 = base64Bytes(32);
const signature = base64Bytes(64);
const token = base64Bytes(32);
const userId = integer(1);

/**
 * The rule a signing key must meet, isValidPublicKey of ../crypto/ed25519-rules.ts, installed by
 * the relay (relay/signatures.ts, which every relay request handler loads). Installed rather than
 * imported because these schemas used to share a file with the browser's validators, where the
 * import put @noble/ed25519 into the first download of both browser bundles (+4.3 KB gzip for
 * sovereign-chat.js, +4.0 KB for <sov-chat>; esbuild keeps a module that lazy chunks share,
 * evanw/esbuild#3704).
 */
let publicKeyRule: ((raw: Uint8Array) => boolean) | null = null;

/** Called once by the relay as it loads (relay/signatures.ts); see publicKeyRule. */
export function installPublicKeyRule(rule: (raw: Uint8Array) => boolean): void {
  publicKeyRule = rule;
}

/**
 * A signing key the relay will store: a canonical encoding of a prime-order point (a small-order key
 * verifies one constant signature on any text; see ../crypto/ed25519-rules.ts), spelled in canonical
 * base64url, so one key has one spelling in profiles and caches.
 */
const publicKey: Check<string> = (value, field) => {
  const text = key32(value, field);
  const raw = fromBase64Url(text);
  if (!raw || toBase64Url(raw) !== text) throw invalid(field, 'must be canonical base64url');
  // Not a SovError: a relay without the rule is a bug, answered INTERNAL and logged, never a key let in.
  if (!publicKeyRule) throw new Error('no public-key rule installed: import relay/signatures.ts');
  if (!publicKeyRule(raw))
    throw invalid(field, 'must be an ed25519 public key of prime order (not of small order, canonically encoded)');
  return text;
};

const clientMessageId: Check<string> = (value, field) => {
  const cid = string(value, field);
  if (!CID_PATTERN.test(cid)) throw invalid(field, 'must be 8-64 characters of A-Z a-z 0-9 _ -');
  return cid;
};

/**
 * The settings an account may be created with: exactly the defaults, with a 16-byte salt. The salt
 * answer for an unknown name is shaped that way, so an account with other settings would stand
 * out and tell an enumerator that it exists.
 */
const accountKdf: Check<KdfParams> = (value, field) => {
  const kdf = kdfParams(value, field);
  if (kdf.N !== DEFAULT_KDF.N || kdf.r !== DEFAULT_KDF.r || kdf.p !== DEFAULT_KDF.p)
    throw invalid(field, `must be scrypt N=${DEFAULT_KDF.N}, r=${DEFAULT_KDF.r}, p=${DEFAULT_KDF.p}`);
  base64Bytes(16)(kdf.salt, `${field}.salt`);
  return kdf;
};

const flag: Check<boolean> = (value, field) => {
  if (typeof value !== 'boolean') throw invalid(field, 'must be true or false');
  return value;
};

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
  'change-password': {
    authKey: key32,
    kdf: accountKdf,
    newAuthKey: key32,
    keySalt: key32,
    publicKey,
  },
  join: {
    room: roomName,
    after: optional(integer(0)),
    limit: optional(integer(0)),
    members: optional(flag),
  },
  history: {
    room: roomName,
    before: optional(integer(0)),
    after: optional(integer(0)),
    limit: optional(integer(0)),
  },
  leave: { room: roomName },
  send: {
    room: roomName,
    author: userId,
    cid: clientMessageId,
    ts: integer(0),
    text: messageText,
    sig: signature,
  },
  profile: { userId: optional(userId), username: optional(username) },
  'update-profile': {
    username: optional(username),
    firstName: optional(personName),
    lastName: optional(personName),
  },
  online: { room: optional(roomName), after: optional(integer(0)) },
};

/** Rules that span fields, checked after each field's own check. */
const RULES: { [K in RequestType]?: (request: RequestMap[K]) => void } = {
  history: ({ before, after }) => {
    if ((before === undefined) === (after === undefined))
      throw invalid('before', 'or "after" must be given, and not both');
  },
};

export function isRequestType(type: unknown): type is RequestType {
  return typeof type === 'string' && Object.hasOwn(SCHEMAS, type);
}

/** The outcome of reading one text frame: a valid request, or the error to reply with. */
export type ParsedFrame = { ok: true; request: RequestFrame } | { ok: false; id: RequestId | null; error: SovError };

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
  if (!isRecord(raw)) return { ok: false, id: null, error: new SovError('BAD_FRAME') };
  const fields = raw;
  const id = requestId(fields.id);
  if (id === null) return { ok: false, id: null, error: new SovError('BAD_FRAME') };
  if (!isRequestType(fields.type)) {
    // Only a string is quoted back: String() of an arbitrary JSON value can throw (an object whose
    // "toString" is not a function, arrays nested thousands deep), and that would escape to the relay.
    const shown =
      typeof fields.type === 'string'
        ? JSON.stringify(fields.type.slice(0, 60))
        : `of type ${Array.isArray(fields.type) ? 'array' : typeof fields.type}`;
    return {
      ok: false,
      id,
      error: new SovError('UNKNOWN_TYPE', `Unknown request type ${shown}.`),
    };
  }
  try {
    const request: Record<string, unknown> = { id, type: fields.type };
    for (const [name, check] of Object.entries(SCHEMAS[fields.type]) as [string, Check<unknown>][]) {
      const value = check(fields[name], name);
      if (value !== undefined) request[name] = value;
    }
    (RULES[fields.type] as ((request: unknown) => void) | undefined)?.(request);
    return { ok: true, request: request as RequestFrame };
  } catch (error) {
    if (error instanceof SovError) return { ok: false, id, error };
    throw error;
  }
}
