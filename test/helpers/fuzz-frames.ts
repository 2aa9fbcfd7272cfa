/**
 * Property-based fuzzing of the real relay, shared by test/relay/fuzz.test.ts (the CI size) and
 * scripts/fuzz-long.ts (a million frames):
 *
 * - fast-check arbitraries for hostile frames (`roundArbitrary`): random JSON, request-shaped
 *   frames with wrong or edge-case fields, well-formed requests built from the connection's state
 *   (signed messages, logins, joins...) in random order, replays of earlier frames, frames near and
 *   over the 64 KB limit, deep nesting, invalid UTF-8, binary frames and fragmented frames;
 * - the oracle (`expectationFor`): what PROTOCOL.md promises for the exact bytes of one frame;
 * - the harness (`FuzzHarness`): one relay process (restarted, and reported, if it dies), several
 *   fuzzing connections (anonymous and logged in), two bystanders who keep chatting, and the checks
 *   of the four invariants:
 *     (a) the relay process never dies and keeps answering;
 *     (b) every frame gets exactly one well-formed reply with a documented code (or ok), or the
 *         connection is closed with the documented close code for what was sent;
 *     (c) the bystanders' signed messages are all delivered, unchanged, to both of them;
 *     (d) the relay's resident memory stays under a bound.
 *
 * The generators produce plain data ("specs"); a spec becomes bytes only when it is sent, because
 * valid frames depend on the connection's state (its user, keys, token, clock). The oracle looks
 * only at the bytes that went out, never at the spec, so a generator can be as wild as it likes.
 * Text frames with invalid UTF-8 need no ws internals: `send(buffer, { binary: false })` sends the
 * bytes as a text frame as they are.
 *
 * What this found (both fixed in bf686e2, with regression tests in test/relay/fuzz.test.ts):
 * finding 1, a request whose `type` String() cannot convert killed the relay; finding 2, a join
 * reply bigger than the 1 MB send buffer made uWS drop the replies behind it, with no close.
 */
import { isUtf8 } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fc from 'fast-check';
import WebSocket from 'ws';
import { CLOSE_CODES, LIMITS, signedBytes } from '../../sdk/protocol.ts';
import { startRelay, unreadFrameCode } from './relay-process.ts';
import type { RelayProcess } from './relay-process.ts';
import { documentedErrorCodes } from './protocol-doc.ts';

// =============================================================================================
// What PROTOCOL.md promises (written out from the document, not imported from the relay's code)

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
type RequestType = (typeof REQUEST_TYPES)[number];

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
const ALL_FIELDS = [...new Set(Object.values(REQUEST_FIELDS).flat())];

/** The keys of each successful result (the "result" column; a session result for register and login). */
const RESULT_KEYS: Record<RequestType, readonly string[]> = {
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
const OPTIONAL_RESULT_KEYS: Partial<Record<RequestType, readonly string[]>> = { online: ['memberSeq'] };

/** The "Events" table. */
const EVENT_NAMES = new Set(['hello', 'message', 'join', 'leave', 'presence', 'profile', 'session-ended']);

/** Every code a relay may put in a reply: the "Errors" table, read from PROTOCOL.md itself. */
export const RELAY_ERROR_CODES: ReadonlySet<string> = documentedErrorCodes();
const ERROR_KEYS = new Set(['code', 'message', 'field', 'retryAfterMs', 'seq']);

/** "closes a connection after 50 RATE_LIMITED replies in a row" */
const FLOOD_STRIKES = 50;

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
  | { kind: 'close'; code: number; why: string; unread?: 'too-big' | 'not-utf8' }
  | { kind: 'reply'; re: RequestId | null; codes: readonly string[] | null; type: RequestType | null; why: string };

/** "`id` is a non-negative integer or a string of 1-64 characters" (characters as JS counts them; see the report). */
export function usableId(value: unknown): RequestId | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && value.length >= 1 && value.length <= LIMITS.maxRequestIdLength) return value;
  return null;
}

export function expectationFor(data: Buffer, binary: boolean): Expectation {
  if (binary) return { kind: 'close', code: CLOSE_CODES.UNSUPPORTED_DATA, why: 'binary frame' };
  if (data.length > LIMITS.maxFrameBytes) return { kind: 'close', code: CLOSE_CODES.DROPPED, why: `${data.length}-byte frame`, unread: 'too-big' };
  if (!isUtf8(data)) return { kind: 'close', code: CLOSE_CODES.DROPPED, why: 'text frame that is not UTF-8', unread: 'not-utf8' };
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return { kind: 'reply', re: null, codes: ['BAD_JSON'], type: null, why: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'reply', re: null, codes: ['BAD_FRAME'], type: null, why: 'JSON that is not an object' };
  }
  const fields = value as Record<string, unknown>;
  const re = usableId(fields.id);
  if (re === null) return { kind: 'reply', re: null, codes: ['BAD_FRAME'], type: null, why: 'no usable id' };
  if (typeof fields.type !== 'string') {
    // The error table says BAD_FRAME ("not an object with a valid id and type"); the relay answers
    // UNKNOWN_TYPE. Both are documented; either is accepted.
    return { kind: 'reply', re, codes: ['UNKNOWN_TYPE', 'BAD_FRAME'], type: null, why: 'type missing or not a string' };
  }
  if (!(REQUEST_TYPES as readonly string[]).includes(fields.type)) return { kind: 'reply', re, codes: ['UNKNOWN_TYPE'], type: null, why: 'unknown type' };
  return { kind: 'reply', re, codes: null, type: fields.type as RequestType, why: fields.type };
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
  if (expectation.kind !== 'reply' || expectation.re === null || expectation.codes === null || expectation.type !== null) return false;
  const type = (JSON.parse(data.toString('utf8')) as { type?: unknown }).type;
  if (typeof type !== 'object' || type === null) return false;
  try {
    String(type);
    return false;
  } catch {
    return true;
  }
}

// =============================================================================================
// Specs: what fast-check generates. Plain data; `materialize` turns a spec into bytes.

/** A value to be filled in when the frame is built, because it depends on the connection's state. */
export type Ref =
  | 'self.id'
  | 'other.id'
  | 'self.username'
  | 'other.username'
  | 'self.authKey'
  | 'self.token'
  | 'stale.token'
  | 'now'
  | 'now-6min'
  | 'now+6min'
  | 'room.bystanders';

export type IdSpec = { k: 'fresh' } | { k: 'value'; value: unknown } | { k: 'none' };
export type TypeSpec = { k: 'known'; type: RequestType } | { k: 'junk'; type: string } | { k: 'value'; value: unknown } | { k: 'none' };
/** How one field of a request-shaped frame is filled. */
export type FieldSpec =
  | { k: 'omit' }
  | { k: 'good'; pick: number }
  | { k: 'ref'; ref: Ref }
  | { k: 'value'; value: unknown };
export type TextSpec = { k: 'short'; text: string } | { k: 'long'; fill: string; length: number };
export type SendTwist = 'none' | 'tamper' | 'author' | 'old' | 'future' | 'sigOther' | 'sigGarbage' | 'cidReuse' | 'twice' | 'twiceSameId';

export type Op =
  | { op: 'ping' }
  | { op: 'salt'; who: 'self' | 'other' | 'fresh' }
  | { op: 'register'; name: 'fresh' | 'self' | 'other' }
  | { op: 'login'; who: 'self' | 'other'; right: boolean }
  | { op: 'resume'; which: 'self' | 'stale' | 'random' }
  | { op: 'logout' }
  | { op: 'change-password'; right: boolean }
  | { op: 'join'; room: number; after: number | null; limit: number | null }
  | { op: 'leave'; room: number }
  | { op: 'send'; room: number; text: TextSpec; twist: SendTwist }
  | { op: 'profile'; by: 'id' | 'name' | 'both' | 'none'; who: 'self' | 'other' | 'missing' }
  | { op: 'update-profile'; username: 'fresh' | 'other' | 'same' | null; firstName: string | null; lastName: string | null }
  | { op: 'online'; room: number | null };

export type HugeWhere = 'text' | 'username' | 'raw' | 'id' | 'type' | 'extra' | 'array' | 'escapes';
export type DeepWhere = 'root' | 'field' | 'room' | 'id' | 'type';

export type Spec =
  | { k: 'raw'; text: string }
  | { k: 'json'; value: unknown }
  | { k: 'req'; id: IdSpec; type: TypeSpec; fields: FieldSpec[]; extra: [string, unknown][] }
  | { k: 'op'; id: IdSpec; op: Op }
  | { k: 'replay'; pick: number }
  | { k: 'huge'; bytes: number; where: HugeWhere; fill: string }
  | { k: 'deep'; depth: number; open: 'array' | 'object'; where: DeepWhere }
  | { k: 'utf8'; before: string; bad: number[]; after: string }
  | { k: 'binary'; bytes: number[] | string }
  | { k: 'frag'; inner: Spec; cuts: number[]; pingBetween: boolean };

export interface BatchSpec {
  /** Start from a fresh connection (a new login for a logged-in lane). */
  reconnect: boolean;
  /** Flood the connection with pings first, past the rate limit (it should end with 1008). */
  flood: boolean;
  specs: Spec[];
}

/** One round: a batch per lane, sent at the same time on every lane. */
export type RoundSpec = BatchSpec[];

// Printing: fast-check shows counterexamples with fc.stringify; a 64 KB string would drown the
// report, so specs print as a short description.

function clip(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return '<unprintable>';
  }
}

export function describeSpec(spec: Spec): string {
  switch (spec.k) {
    case 'raw':
      return `raw(${clip(JSON.stringify(spec.text))})`;
    case 'json':
      return `json(${clip(safeStringify(spec.value))})`;
    case 'req':
      return `req(id=${clip(safeStringify(spec.id), 40)}, type=${clip(safeStringify(spec.type), 60)}, fields=${clip(safeStringify(spec.fields), 200)}${spec.extra.length ? `, extra=${clip(safeStringify(spec.extra), 80)}` : ''})`;
    case 'op':
      return `op(${clip(safeStringify(spec.op), 160)}, id=${clip(safeStringify(spec.id), 40)})`;
    case 'replay':
      return `replay(#${spec.pick})`;
    case 'huge':
      return `huge(${spec.bytes} bytes, ${spec.where}, fill ${JSON.stringify(spec.fill)})`;
    case 'deep':
      return `deep(${spec.depth} ${spec.open}s, in ${spec.where})`;
    case 'utf8':
      return `utf8(${JSON.stringify(spec.before)} + [${spec.bad.map((b) => b.toString(16)).join(' ')}] + ${JSON.stringify(spec.after)})`;
    case 'binary':
      return `binary(${typeof spec.bytes === 'string' ? clip(JSON.stringify(spec.bytes), 60) : `${spec.bytes.length} bytes`})`;
    case 'frag':
      return `frag(${describeSpec(spec.inner)} cut at ${spec.cuts.map((c) => c.toFixed(2)).join(',')}${spec.pingBetween ? ', pings between' : ''})`;
  }
}

function printable<T extends Spec>(spec: T): T {
  Object.defineProperty(spec, fc.toStringMethod, { value: () => describeSpec(spec), enumerable: false });
  return spec;
}

// =============================================================================================
// Arbitraries

const EDGE_STRINGS = [
  '',
  ' ',
  '\t\n',
  '\u0000',
  'a\u0000b',
  '\u0007',
  '\u007f',
  '\u0085',
  '\u202Eevil',
  'a\u200Bb',
  '\uFEFFbom',
  '\u2066x\u2069',
  '\uD800',
  'a\uDC00b',
  '😀',
  'ｉｖａｎ',
  'İstanbul',
  'ß',
  'ǅ',
  'e\u0301',
  '..',
  '-ab',
  'ab-',
  'a.b',
  'ab',
  'a'.repeat(33),
  'a'.repeat(65),
  'x'.repeat(4001),
  '<script>alert(1)</script>',
  '${x}',
  '%s%n',
  '../../etc/passwd',
  'general',
  'General',
  'ＧＥＮＥＲＡＬ',
  'Привет',
  'A'.repeat(43),
  'A'.repeat(42),
  'A'.repeat(44),
  'A'.repeat(86),
  'AAAA+/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
  'null',
  '0',
  '-1',
  '1e309',
  'scrypt',
  'abcdefgh',
  'abcdefg',
];
const EDGE_NUMBERS = [0, -0, -1, 1, 2, 3, 1.5, 0.1, 2 ** 17, 2 ** 20, 2 ** 21, 2 ** 16, 8, 32, 33, 4, 5, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e308, -1e-308, 1e21];
/** Keys that trip up code that reads parsed JSON as if it were a trusted object. */
const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'toJSON',
  'hasOwnProperty',
  'isPrototypeOf',
  'then',
  'length',
  'id',
  'type',
  're',
  'ok',
  'ev',
  'seq',
  '',
  ' ',
  '\u0000',
  ...ALL_FIELDS,
];
const JUNK_TYPES = ['', 'PING', 'Ping', ' ping', 'ping ', 'ping\u0000', 'fly', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'send ', 'register\u0000', 'change_password', 'changePassword', 'hello', 'message', '\uD800'];

const stringArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 3, arbitrary: fc.constantFrom(...EDGE_STRINGS) },
);
const numberArb: fc.Arbitrary<number> = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(...EDGE_NUMBERS), fc.nat({ max: 100 }));
const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_KEYS) },
  { weight: 3, arbitrary: fc.string({ maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) },
);

/** Any JSON value, with hostile keys and edge-case strings and numbers. */
export const jsonArb: fc.Arbitrary<unknown> = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    fc.constant(null),
    fc.boolean(),
    numberArb,
    stringArb,
    fc.array(tie('json'), { maxLength: 5 }),
    fc.dictionary(keyArb, tie('json'), { maxKeys: 5 }),
  ),
})).json;

const idArb: fc.Arbitrary<IdSpec> = fc.oneof(
  { weight: 80, arbitrary: fc.constant<IdSpec>({ k: 'fresh' }) },
  {
    weight: 8,
    arbitrary: fc
      .constantFrom<unknown>(0, -0, -1, 1.5, 2 ** 53, 2 ** 53 - 1, '', 'x'.repeat(64), 'x'.repeat(65), '😀'.repeat(32), null, true, [], {}, '1', ' ', '\uD800')
      .map((value): IdSpec => ({ k: 'value', value })),
  },
  { weight: 9, arbitrary: jsonArb.map((value): IdSpec => ({ k: 'value', value })) },
  { weight: 3, arbitrary: fc.constant<IdSpec>({ k: 'none' }) },
);

const typeArb: fc.Arbitrary<TypeSpec> = fc.oneof(
  { weight: 880, arbitrary: fc.constantFrom(...REQUEST_TYPES).map((type): TypeSpec => ({ k: 'known', type })) },
  { weight: 80, arbitrary: fc.constantFrom(...JUNK_TYPES).map((type): TypeSpec => ({ k: 'junk', type })) },
  { weight: 20, arbitrary: fc.constant<TypeSpec>({ k: 'none' }) },
  // Some of these (objects with a "toString" key) crashed the relay (finding 1). Not too many:
  // should that come back, every crash costs a relay restart.
  { weight: 10, arbitrary: jsonArb.map((value): TypeSpec => ({ k: 'value', value })) },
);

const REFS: Ref[] = ['self.id', 'other.id', 'self.username', 'other.username', 'self.authKey', 'self.token', 'stale.token', 'now', 'now-6min', 'now+6min', 'room.bystanders'];
const fieldArb: fc.Arbitrary<FieldSpec> = fc.oneof(
  { weight: 12, arbitrary: fc.constant<FieldSpec>({ k: 'omit' }) },
  { weight: 45, arbitrary: fc.nat({ max: 1000 }).map((pick): FieldSpec => ({ k: 'good', pick })) },
  { weight: 8, arbitrary: fc.constantFrom(...REFS).map((ref): FieldSpec => ({ k: 'ref', ref })) },
  { weight: 15, arbitrary: jsonArb.map((value): FieldSpec => ({ k: 'value', value })) },
  { weight: 12, arbitrary: fc.constantFrom<unknown>(...EDGE_STRINGS).map((value): FieldSpec => ({ k: 'value', value })) },
  { weight: 8, arbitrary: fc.constantFrom<unknown>(...EDGE_NUMBERS).map((value): FieldSpec => ({ k: 'value', value })) },
);

const reqArb: fc.Arbitrary<Spec> = fc
  .record({
    id: idArb,
    type: typeArb,
    // By position: the i-th field of whatever type the frame has (7 is the most any type takes).
    fields: fc.array(fieldArb, { minLength: 7, maxLength: 7 }),
    extra: fc.array(fc.tuple(keyArb, jsonArb), { maxLength: 2 }),
  })
  .map((r): Spec => printable({ k: 'req', ...r }));

const ROOM_PICKS = 9; // see roomFor
const roomPick = fc.nat({ max: ROOM_PICKS - 1 });
const textArb: fc.Arbitrary<TextSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).map((text): TextSpec => ({ k: 'short', text })) },
  { weight: 2, arbitrary: fc.constantFrom('hi', 'Привет, мир', '😀👍', 'a\nb\tc', '  spaced  ', '"quoted" \\ back').map((text): TextSpec => ({ k: 'short', text })) },
  { weight: 1, arbitrary: fc.constantFrom(...EDGE_STRINGS).map((text): TextSpec => ({ k: 'short', text })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ fill: fc.constantFrom('€', 'x', 'é', '😀', '"\\', 'Ж '), length: fc.integer({ min: 500, max: 4001 }) })
      .map((r): TextSpec => ({ k: 'long', ...r })),
  },
);
const optionalNat = fc.option(fc.oneof(fc.nat({ max: 2000 }), fc.constantFrom(0, 1, 2 ** 53 - 1)), { nil: null });
const nameArb = fc.option(fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), fc.constantFrom(...EDGE_STRINGS)), { nil: null });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Op>({ op: 'ping' }) },
  { weight: 3, arbitrary: fc.constantFrom('self', 'other', 'fresh').map((who): Op => ({ op: 'salt', who })) },
  { weight: 2, arbitrary: fc.constantFrom('fresh', 'fresh', 'self', 'other').map((name): Op => ({ op: 'register', name })) },
  { weight: 3, arbitrary: fc.record({ who: fc.constantFrom('self', 'other'), right: fc.boolean() }).map((r): Op => ({ op: 'login', ...r })) },
  { weight: 3, arbitrary: fc.constantFrom('self', 'stale', 'random').map((which): Op => ({ op: 'resume', which })) },
  { weight: 1, arbitrary: fc.constant<Op>({ op: 'logout' }) },
  { weight: 1, arbitrary: fc.boolean().map((right): Op => ({ op: 'change-password', right })) },
  { weight: 8, arbitrary: fc.record({ room: roomPick, after: optionalNat, limit: optionalNat }).map((r): Op => ({ op: 'join', ...r })) },
  { weight: 2, arbitrary: roomPick.map((room): Op => ({ op: 'leave', room })) },
  {
    weight: 14,
    arbitrary: fc
      .record({
        room: roomPick,
        text: textArb,
        twist: fc.oneof(
          { weight: 8, arbitrary: fc.constant<SendTwist>('none') },
          { weight: 9, arbitrary: fc.constantFrom<SendTwist>('tamper', 'author', 'old', 'future', 'sigOther', 'sigGarbage', 'cidReuse', 'twice', 'twiceSameId') },
        ),
      })
      .map((r): Op => ({ op: 'send', ...r })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ by: fc.constantFrom('id', 'name', 'both', 'none'), who: fc.constantFrom('self', 'other', 'missing') })
      .map((r): Op => ({ op: 'profile', ...r })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ username: fc.constantFrom('fresh', 'other', 'same', null), firstName: nameArb, lastName: nameArb })
      .map((r): Op => ({ op: 'update-profile', ...r })),
  },
  { weight: 2, arbitrary: fc.option(roomPick, { nil: null }).map((room): Op => ({ op: 'online', room })) },
);
const opSpecArb: fc.Arbitrary<Spec> = fc.record({ id: idArb, op: opArb }).map((r): Spec => printable({ k: 'op', ...r }));

const rawArb: fc.Arbitrary<Spec> = fc
  .oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.constantFrom('', ' ', 'null', 'NaN', '{', '{"id":1,', "{'id':1,'type':'ping'}", '{"id":1,"type":"ping"} x', '\uFEFF{"id":1,"type":"ping"}', '[', '"', '{"id":1,"type":"ping",}', '{"id":1 "type":"ping"}', '{"id":1,"type":"ping","id":-1}', '{"id":-1,"type":"ping","id":2}', '{"id":1e2,"type":"ping"}', '{"id":"\\ud800","type":"ping"}'),
  )
  .map((text): Spec => printable({ k: 'raw', text }));

const jsonFrameArb: fc.Arbitrary<Spec> = jsonArb.map((value): Spec => printable({ k: 'json', value }));
const replayArb: fc.Arbitrary<Spec> = fc.nat({ max: 10_000 }).map((pick): Spec => printable({ k: 'replay', pick }));

const limit = LIMITS.maxFrameBytes;
const hugeArb: fc.Arbitrary<Spec> = fc
  .record({
    bytes: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(limit - 1, limit, limit + 1, limit + 2, limit - 3) },
      { weight: 4, arbitrary: fc.integer({ min: 30_000, max: limit }) },
      { weight: 2, arbitrary: fc.integer({ min: limit + 1, max: limit + 10_000 }) },
      { weight: 1, arbitrary: fc.constantFrom(256 * 1024, 1024 * 1024) },
    ),
    where: fc.constantFrom<HugeWhere>('text', 'username', 'raw', 'id', 'type', 'extra', 'array', 'escapes'),
    fill: fc.constantFrom('x', 'é', '€', '😀', ' ', '\\"', 'a€😀'),
  })
  .map((r): Spec => printable({ k: 'huge', ...r }));

const deepArb: fc.Arbitrary<Spec> = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1000, max: 13_000 }), fc.constantFrom(5000, 12_000, 32_000)),
    open: fc.constantFrom<'array' | 'object'>('array', 'object'),
    // Deep arrays as 'type' crashed the relay (finding 1); rarer than the rest, since should that
    // come back every crash costs a relay restart.
    where: fc.oneof(
      { weight: 60, arbitrary: fc.constantFrom<DeepWhere>('root', 'field', 'room', 'id') },
      { weight: 1, arbitrary: fc.constant<DeepWhere>('type') },
    ),
  })
  .map((r): Spec => printable({ k: 'deep', ...r }));

/** Byte sequences every strict UTF-8 decoder refuses, and some random bytes (which may happen to be valid). */
const BAD_UTF8 = [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3], [0xfe, 0xfe], [0xe0, 0x80, 0xaf]];
const utf8Arb: fc.Arbitrary<Spec> = fc
  .record({
    before: fc.constantFrom('', '{"id":1,"type":"salt","username":"', '"', '{"id":"u","type":"ping","x":"'),
    bad: fc.oneof(fc.constantFrom(...BAD_UTF8), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 })),
    after: fc.constantFrom('', '"}', '"', 'abc"}'),
  })
  .map((r): Spec => printable({ k: 'utf8', ...r }));

const binaryArb: fc.Arbitrary<Spec> = fc
  .oneof(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }), fc.constantFrom('{"id":1,"type":"ping"}', '', '{"id":"b","type":"online"}'))
  .map((bytes): Spec => printable({ k: 'binary', bytes }));

const fragInnerArb: fc.Arbitrary<Spec> = fc.oneof(reqArb, opSpecArb, rawArb, jsonFrameArb, hugeArb, utf8Arb);
const fragArb: fc.Arbitrary<Spec> = fc
  .record({ inner: fragInnerArb, cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 5 }), pingBetween: fc.boolean() })
  .map((r): Spec => printable({ k: 'frag', ...r }));

/** One hostile frame. Terminal kinds (binary, invalid UTF-8, over 64 KB) are a few percent. */
export const specArb: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 30, arbitrary: reqArb },
  { weight: 27, arbitrary: opSpecArb },
  { weight: 8, arbitrary: jsonFrameArb },
  { weight: 6, arbitrary: rawArb },
  { weight: 8, arbitrary: replayArb },
  { weight: 4, arbitrary: hugeArb },
  { weight: 4, arbitrary: deepArb },
  { weight: 4, arbitrary: fragArb },
  { weight: 1, arbitrary: utf8Arb },
  { weight: 1, arbitrary: binaryArb },
);

export function batchArbitrary(minFrames: number, maxFrames: number): fc.Arbitrary<BatchSpec> {
  return fc.record({
    reconnect: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 9, arbitrary: fc.constant(false) }),
    // About one batch in 200: a flood is 3,000 pings (not counted toward a run's target).
    flood: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 199, arbitrary: fc.constant(false) }),
    // size 'max': lengths spread over the whole range (fast-check's default favours short arrays);
    // a failing batch can still shrink down to its guilty frame.
    specs: fc.array(specArb, { minLength: minFrames, maxLength: maxFrames, size: 'max' }),
  });
}

export function roundArbitrary(lanes: number, minFrames: number, maxFrames: number): fc.Arbitrary<RoundSpec> {
  return fc.array(batchArbitrary(minFrames, maxFrames), { minLength: lanes, maxLength: lanes });
}

// =============================================================================================
// Identities, signing, and building frames

export interface Identity {
  id: number;
  username: string;
  authKey: string;
  privateKey: crypto.KeyObject;
  publicKey: string;
  token: string;
}

function randomKey(bytes = 32): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

function newKeys(): { privateKey: crypto.KeyObject; publicKey: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  return { privateKey, publicKey: publicKey.export({ format: 'jwk' }).x! };
}

function kdf(): Record<string, unknown> {
  return { alg: 'scrypt', N: 2 ** 17, r: 8, p: 1, salt: randomKey(16) };
}

let nameCounter = 0;
function freshName(prefix: string): string {
  return `${prefix}${process.pid.toString(36)}x${(++nameCounter).toString(36)}`;
}

function sign(privateKey: crypto.KeyObject, message: { room: string; author: number; cid: string; ts: number; text: string }): string {
  return crypto.sign(null, signedBytes(message), privateKey).toString('base64url');
}

/** One frame ready to go: its bytes (or fragments), what PROTOCOL.md promises for it, and state hooks. */
interface Outgoing {
  data: Buffer;
  binary: boolean;
  fragments?: Buffer[];
  pingBetween?: boolean;
  expect: Expectation;
  preview: string;
  /** Which generator made it (for the summary). */
  kind: string;
  /** A request that may wait for the disk or the signature pool before its reply. */
  slow: boolean;
  /** For well-formed requests: what the lane learns from an ok reply. */
  onOk?: (result: any) => void;
  replayable: boolean;
}

const SLOW_TYPES = new Set<string>(['register', 'login', 'logout', 'change-password', 'update-profile', 'send']);

function outgoing(data: Buffer, binary: boolean, kind: string, preview: string, extra: Partial<Outgoing> = {}): Outgoing {
  const expect = expectationFor(data, binary);
  return {
    data,
    binary,
    expect,
    preview,
    kind,
    slow: expect.kind === 'reply' && expect.type !== null && SLOW_TYPES.has(expect.type),
    replayable: false,
    ...extra,
  };
}

function previewBytes(data: Buffer): string {
  return clip(JSON.stringify(data.subarray(0, 400).toString('utf8')), 160) + (data.length > 400 ? ` (${data.length} bytes)` : '');
}

/** Everything a lane's frames may refer to. */
interface BuildContext {
  lane: Lane;
  nextId(): RequestId;
  /** The identity whose keys the lane signs with: the logged-in one if known, else its account. */
  me: Identity;
  other: { id: number; username: string };
  rooms: string[];
  replayPool: Buffer[];
  staleTokens: string[];
}

const BIG_ROOM = 'fuzz-3';
/** Rooms a logged-in lane joins right after logging in, as a client would (without history). */
const AUTO_JOINED = ['general', 'fuzz-1', 'fuzz-2', BIG_ROOM];

function roomFor(ctx: BuildContext, pick: number): string {
  return ctx.rooms[pick % ctx.rooms.length]!;
}

function refValue(ctx: BuildContext, ref: Ref): unknown {
  const now = Date.now();
  switch (ref) {
    case 'self.id':
      return ctx.me.id;
    case 'other.id':
      return ctx.other.id;
    case 'self.username':
      return ctx.me.username;
    case 'other.username':
      return ctx.other.username;
    case 'self.authKey':
      return ctx.me.authKey;
    case 'self.token':
      return ctx.me.token;
    case 'stale.token':
      return ctx.staleTokens[ctx.staleTokens.length - 1] ?? randomKey();
    case 'now':
      return now;
    case 'now-6min':
      return now - 6 * 60_000;
    case 'now+6min':
      return now + 6 * 60_000;
    case 'room.bystanders':
      return ctx.rooms[1];
  }
}

/** A value that is valid, or almost, for `field`; `pick` chooses among the candidates. */
function goodValue(ctx: BuildContext, field: string, pick: number): unknown {
  const choose = <T>(values: T[]): T => values[pick % values.length]!;
  switch (field) {
    case 'username':
      return choose([ctx.me.username, ctx.other.username, ctx.other.username.toUpperCase(), freshName('fz'), ` ${freshName('fz')} `, 'Ann', 'ab']);
    case 'firstName':
    case 'lastName':
      return choose(['Ann', 'Ｂob', ' Ева ', 'Jean-Luc', 'O’Brien']);
    case 'kdf':
      return choose([kdf(), { ...kdf(), N: 2 ** 16 }, { ...kdf(), N: 3 * 2 ** 17 }, { ...kdf(), alg: 'argon2' }, { ...kdf(), r: 33 }, { ...kdf(), salt: randomKey(8) }]);
    case 'authKey':
      return choose([randomKey(), ctx.me.authKey]);
    case 'newAuthKey':
    case 'keySalt':
      return randomKey();
    case 'publicKey':
      return choose([randomKey(), newKeys().publicKey]);
    case 'token':
      return choose([randomKey(), ctx.me.token, ctx.staleTokens[0] ?? randomKey()]);
    case 'room':
      return roomFor(ctx, pick);
    case 'after':
    case 'before':
    case 'limit':
      return pick % 120;
    case 'members':
      return pick % 2 === 0;
    case 'author':
      return choose([ctx.me.id, ctx.other.id, 1 + (pick % 20)]);
    case 'cid':
      return `fuzzcid${pick}`;
    case 'ts':
      return Date.now() + choose([0, 0, -4 * 60_000, 10 * 60_000]);
    case 'text':
      return choose(['hello', 'x'.repeat(4000), 'Привет']);
    case 'sig':
      return randomKey(64);
    case 'userId':
      return choose([ctx.me.id, ctx.other.id, 1 + (pick % 30), 1e9]);
    default:
      return null;
  }
}

function idFor(ctx: BuildContext, spec: IdSpec, frame: Record<string, unknown>): void {
  if (spec.k === 'fresh') frame.id = ctx.nextId();
  else if (spec.k === 'value') frame.id = spec.value;
}

function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');
}

/** Builds the frames for one spec (a spec may become two frames: a signed message sent twice). */
function materialize(ctx: BuildContext, spec: Spec): Outgoing[] {
  switch (spec.k) {
    case 'raw': {
      const data = Buffer.from(spec.text, 'utf8'); // lone surrogates go out as U+FFFD, as from any client
      return [outgoing(data, false, 'raw', previewBytes(data))];
    }
    case 'json': {
      const data = jsonBytes(spec.value);
      return [outgoing(data, false, 'json', previewBytes(data))];
    }
    case 'req': {
      // A null-prototype object, so "__proto__" and friends become real keys of the JSON.
      const frame: Record<string, unknown> = Object.create(null);
      idFor(ctx, spec.id, frame);
      if (spec.type.k === 'known' || spec.type.k === 'junk') frame.type = spec.type.type;
      else if (spec.type.k === 'value') frame.type = spec.type.value;
      // A known type gets its own fields; anything else a spread of fields of every type.
      const names = spec.type.k === 'known' ? REQUEST_FIELDS[spec.type.type] : spec.fields.map((_, i) => ALL_FIELDS[(i * 5 + spec.extra.length) % ALL_FIELDS.length]!);
      for (const [i, field] of names.entries()) {
        const how = spec.fields[i] ?? { k: 'omit' };
        if (how.k === 'good') frame[field] = goodValue(ctx, field, how.pick);
        else if (how.k === 'ref') frame[field] = refValue(ctx, how.ref);
        else if (how.k === 'value') frame[field] = how.value;
      }
      for (const [key, value] of spec.extra) frame[key] = value;
      const data = jsonBytes(frame);
      return [outgoing(data, false, 'request-shaped', previewBytes(data))];
    }
    case 'op':
      return materializeOp(ctx, spec.id, spec.op);
    case 'replay': {
      const data = ctx.replayPool.length ? ctx.replayPool[spec.pick % ctx.replayPool.length]! : Buffer.from('{"id":"replay","type":"ping"}');
      return [outgoing(data, false, 'replay', previewBytes(data))];
    }
    case 'huge': {
      const data = hugeFrame(ctx, spec.bytes, spec.where, spec.fill);
      return [outgoing(data, false, 'huge', `${spec.where} padded to ${data.length} bytes: ${previewBytes(data.subarray(0, 80))}`)];
    }
    case 'deep': {
      const [open, close] = spec.open === 'array' ? ['[', ']'] : ['{"a":', '}'];
      const deep = `${open.repeat(spec.depth)}${spec.open === 'array' ? '' : '0'}${close.repeat(spec.depth)}`;
      const id = JSON.stringify(ctx.nextId());
      const text =
        spec.where === 'root'
          ? deep
          : spec.where === 'field'
            ? `{"id":${id},"type":"ping","x":${deep}}`
            : spec.where === 'room'
              ? `{"id":${id},"type":"join","room":${deep}}`
              : spec.where === 'id'
                ? `{"id":${deep},"type":"ping"}`
                : `{"id":${id},"type":${deep}}`;
      const data = Buffer.from(text);
      return [outgoing(data, false, 'deep', `${spec.depth} nested ${spec.open}s in ${spec.where} (${data.length} bytes)`)];
    }
    case 'utf8': {
      const data = Buffer.concat([Buffer.from(spec.before), Buffer.from(spec.bad), Buffer.from(spec.after)]);
      return [outgoing(data, false, 'invalid-utf8', `bytes ${data.toString('hex').slice(0, 120)}`)];
    }
    case 'binary': {
      const data = typeof spec.bytes === 'string' ? Buffer.from(spec.bytes) : Buffer.from(spec.bytes);
      return [outgoing(data, true, 'binary', `binary ${data.toString('hex').slice(0, 80)}`)];
    }
    case 'frag': {
      const inner = spec.inner.k === 'frag' ? [] : materialize(ctx, spec.inner);
      const first = inner[0];
      if (!first || first.binary) return inner;
      const cuts = [...new Set(spec.cuts.map((c) => Math.floor(c * first.data.length)))].sort((a, b) => a - b);
      const fragments: Buffer[] = [];
      let start = 0;
      for (const cut of cuts) {
        fragments.push(first.data.subarray(start, cut));
        start = cut;
      }
      fragments.push(first.data.subarray(start));
      return [{ ...first, kind: 'fragmented', fragments, pingBetween: spec.pingBetween, preview: `${fragments.length} fragments of ${first.preview}` }];
    }
  }
}

function hugeFrame(ctx: BuildContext, bytes: number, where: HugeWhere, fill: string): Buffer {
  const id = JSON.stringify(ctx.nextId());
  const PAD = '\u0001PAD\u0001';
  const templates: Record<HugeWhere, string> = {
    text: `{"id":${id},"type":"send","room":"general","author":${ctx.me.id},"cid":"hugehuge${Date.now()}","ts":${Date.now()},"text":"${PAD}","sig":"${'A'.repeat(86)}"}`,
    username: `{"id":${id},"type":"salt","username":"${PAD}"}`,
    raw: PAD,
    id: `{"id":"${PAD}","type":"ping"}`,
    type: `{"id":${id},"type":"${PAD}"}`,
    extra: `{"id":${id},"type":"ping","junk":"${PAD}"}`,
    array: `[${PAD}1]`,
    escapes: `{"id":${id},"type":"join","room":"${PAD}"}`,
  };
  const template = templates[where];
  const room = bytes - Buffer.byteLength(template) + PAD.length;
  if (room <= 0) return Buffer.from(template.replace(PAD, ''));
  let pad: string;
  if (where === 'array') pad = '1,'.repeat(Math.floor(room / 2)) + (room % 2 ? ' ' : '');
  else if (where === 'escapes') pad = '\\u0041'.repeat(Math.floor(room / 6)) + 'x'.repeat(room % 6);
  else {
    // The fill may be multi-byte (or an escape): repeat it while it fits, then top up with ASCII.
    const unit = Buffer.byteLength(fill);
    pad = fill.repeat(Math.floor(room / unit));
    pad += 'x'.repeat(room - Buffer.byteLength(pad));
  }
  return Buffer.from(template.replace(PAD, pad));
}

function textOf(spec: TextSpec): string {
  if (spec.k === 'short') return spec.text;
  return spec.fill.repeat(Math.ceil(spec.length / spec.fill.length)).slice(0, spec.length);
}

function materializeOp(ctx: BuildContext, idSpec: IdSpec, op: Op): Outgoing[] {
  const lane = ctx.lane;
  const me = ctx.me;
  const frame: Record<string, unknown> = {};
  idFor(ctx, idSpec, frame);
  frame.type = op.op;
  let onOk: ((result: any) => void) | undefined;
  let twice: 'no' | 'newId' | 'sameId' = 'no';
  switch (op.op) {
    case 'ping':
    case 'logout':
      if (op.op === 'logout') {
        const token = me.token;
        onOk = () => {
          ctx.staleTokens.push(token);
          lane.session = null;
        };
      }
      break;
    case 'salt':
      frame.username = op.who === 'self' ? me.username : op.who === 'other' ? ctx.other.username : freshName('nobody');
      break;
    case 'register': {
      const keys = newKeys();
      const identity: Identity = {
        id: 0,
        username: op.name === 'fresh' ? freshName('fz') : op.name === 'self' ? me.username : ctx.other.username,
        authKey: randomKey(),
        ...keys,
        token: '',
      };
      Object.assign(frame, { username: identity.username, firstName: 'Fuzz', lastName: 'Ferret', kdf: kdf(), authKey: identity.authKey, keySalt: randomKey(), publicKey: keys.publicKey });
      onOk = (result) => {
        identity.id = result.user.id;
        identity.token = result.token;
        lane.session = { id: identity.id, identity };
      };
      break;
    }
    case 'login': {
      frame.username = op.who === 'self' ? me.username : ctx.other.username;
      frame.authKey = op.right && op.who === 'self' ? me.authKey : randomKey();
      onOk = (result) => {
        if (op.who === 'self') me.token = result.token;
        lane.session = { id: result.user.id, identity: op.who === 'self' ? me : null };
      };
      break;
    }
    case 'resume':
      frame.token = op.which === 'self' ? me.token : op.which === 'stale' ? (ctx.staleTokens[ctx.staleTokens.length - 1] ?? randomKey()) : randomKey();
      onOk = (result) => {
        lane.session = { id: result.user.id, identity: result.user.id === me.id ? me : null };
      };
      break;
    case 'change-password': {
      const keys = newKeys();
      const authKey = randomKey();
      Object.assign(frame, { authKey: op.right ? me.authKey : randomKey(), kdf: kdf(), newAuthKey: authKey, keySalt: randomKey(), publicKey: keys.publicKey });
      onOk = () => {
        // Only the account the lane is logged in as changes; the session stays.
        const identity = lane.session?.identity;
        if (!identity) return;
        identity.authKey = authKey;
        identity.privateKey = keys.privateKey;
        identity.publicKey = keys.publicKey;
      };
      break;
    }
    case 'join':
      frame.room = roomFor(ctx, op.room);
      if (op.after !== null) frame.after = op.after;
      if (op.limit !== null) frame.limit = op.limit;
      break;
    case 'leave':
      frame.room = roomFor(ctx, op.room);
      break;
    case 'send': {
      const room = roomFor(ctx, op.room);
      // One room holds only long messages, so its history grows to megabytes: a join of it made
      // one reply bigger than the 1 MB send buffer, and uWS dropped the replies behind it
      // (finding 2); the relay now sends at most ~768 KB of history per join.
      const text = room === BIG_ROOM ? textOf({ k: 'long', fill: '€', length: 4000 - (op.text.k === 'short' ? op.text.text.length % 8 : 0) }) : textOf(op.text);
      const now = Date.now();
      const cid = op.twist === 'cidReuse' && lane.lastCid ? lane.lastCid : `c${lane.index}x${(++lane.cids).toString(36)}x${now.toString(36)}`;
      lane.lastCid = cid;
      const message = {
        room,
        author: op.twist === 'author' ? ctx.other.id : me.id,
        cid,
        ts: op.twist === 'old' ? now - 6 * 60_000 : op.twist === 'future' ? now + 6 * 60_000 : now,
        text,
      };
      const sig =
        op.twist === 'sigGarbage' ? randomKey(64) : sign(op.twist === 'sigOther' ? newKeys().privateKey : me.privateKey, message);
      Object.assign(frame, message, { sig });
      if (op.twist === 'tamper') frame.text = `${text}!`;
      if (op.twist === 'twice') twice = 'newId';
      if (op.twist === 'twiceSameId') twice = 'sameId';
      break;
    }
    case 'profile':
      if (op.by === 'id' || op.by === 'both') frame.userId = op.who === 'self' ? me.id : op.who === 'other' ? ctx.other.id : 999_999_999;
      if (op.by === 'name' || op.by === 'both') frame.username = op.who === 'self' ? me.username : op.who === 'other' ? ctx.other.username : freshName('nobody');
      break;
    case 'update-profile': {
      const username = op.username === 'fresh' ? freshName('fz') : op.username === 'other' ? ctx.other.username : op.username === 'same' ? me.username.toUpperCase() : null;
      if (username !== null) frame.username = username;
      if (op.firstName !== null) frame.firstName = op.firstName;
      if (op.lastName !== null) frame.lastName = op.lastName;
      onOk = (result) => {
        const identity = lane.session?.identity;
        if (identity && result.user.id === identity.id) identity.username = result.user.username;
      };
      break;
    }
    case 'online':
      if (op.room !== null) frame.room = roomFor(ctx, op.room);
      break;
  }
  const data = jsonBytes(frame);
  const first = outgoing(data, false, `op:${op.op}`, previewBytes(data), { onOk, replayable: true });
  if (twice === 'no') return [first];
  const again = twice === 'sameId' ? data : jsonBytes({ ...frame, id: ctx.nextId() });
  return [first, outgoing(again, false, `op:${op.op}:again`, previewBytes(again), { replayable: true })];
}

// =============================================================================================
// Connections

export interface ReplyFrame {
  re: RequestId | null;
  ok: boolean;
  result?: any;
  error?: { code: string; message: string; field?: string; retryAfterMs?: number; seq?: number };
}

export interface Violation {
  invariant: 'a' | 'b' | 'c' | 'd';
  /** A short, stable description: violations are grouped by it in the summary. */
  what: string;
  detail: string;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const reKey = (re: unknown): string => (re === null ? 'null' : `${typeof re}:${String(re)}`);

/** Checks a reply's shape against PROTOCOL.md; returns what is wrong, or null. */
function replyShapeProblem(frame: any): string | null {
  if (!('re' in frame) || !(frame.re === null || typeof frame.re === 'string' || typeof frame.re === 'number')) return 're missing or of the wrong type';
  if (typeof frame.ok !== 'boolean') return 'ok is not a boolean';
  if (frame.ok) {
    if (typeof frame.result !== 'object' || frame.result === null || Array.isArray(frame.result)) return 'result is not an object';
    return null;
  }
  const error = frame.error;
  if (typeof error !== 'object' || error === null) return 'error is not an object';
  if (typeof error.code !== 'string' || typeof error.message !== 'string' || error.message === '') return 'error without code or message';
  for (const key of Object.keys(error)) if (!ERROR_KEYS.has(key)) return `undocumented error field ${key}`;
  if ('field' in error && typeof error.field !== 'string') return 'error.field is not a string';
  if ('retryAfterMs' in error && !(Number.isSafeInteger(error.retryAfterMs) && error.retryAfterMs > 0)) return 'retryAfterMs is not a positive integer';
  if ('seq' in error && !(Number.isSafeInteger(error.seq) && error.seq > 0)) return 'seq is not a positive integer';
  if (error.code === 'RATE_LIMITED' && !('retryAfterMs' in error)) return 'RATE_LIMITED without retryAfterMs';
  return null;
}

/** A WebSocket to the relay that reads every frame and hands replies and events on. */
class Peer {
  closeInfo: { code: number; reason: string } | null = null;
  readonly closed: Promise<{ code: number; reason: string }>;
  onReply: (reply: ReplyFrame, bytes: number) => void = () => {};
  onEvent: (event: any) => void = () => {};
  onProblem: (problem: string) => void = () => {};
  /** Bumped on every frame received and on close: the waiting loops watch it. */
  progress = 0;
  private readonly helpers = new Map<string, (reply: ReplyFrame) => void>();
  private helperIds = 0;
  private wakers: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('error', () => {}); // dropped connections are expected; the close code is checked
    socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    this.closed = new Promise((resolve) =>
      socket.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closeInfo);
      }),
    );
  }

  static async connect(url: string, localAddress?: string): Promise<Peer> {
    const socket = new WebSocket(url, { localAddress, perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    const peer = new Peer(socket);
    const hello = new Promise<void>((resolve, reject) => {
      const previous = peer.onEvent;
      peer.onEvent = (event) => {
        if (event.ev === 'hello') resolve();
        previous(event);
      };
      socket.once('error', reject);
      peer.closed.then(() => reject(new Error('closed before hello')));
    });
    await withTimeout(hello, 60_000, 'the hello event');
    peer.onEvent = () => {};
    return peer;
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  private wake(): void {
    this.progress++;
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }

  /** Resolves on the next frame or close, or after `ms`. */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakers.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      this.onProblem('the relay sent a binary frame');
      this.wake();
      return;
    }
    let frame: any;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      this.onProblem(`the relay sent a frame that is not JSON: ${clip(data.toString('utf8'), 100)}`);
      this.wake();
      return;
    }
    if (typeof frame === 'object' && frame !== null && typeof frame.ev === 'string') {
      if (!EVENT_NAMES.has(frame.ev)) this.onProblem(`undocumented event ${clip(JSON.stringify(frame.ev), 40)}`);
      this.onEvent(frame);
    } else if (typeof frame === 'object' && frame !== null && 're' in frame) {
      const helper = typeof frame.re === 'string' ? this.helpers.get(frame.re) : undefined;
      if (helper) {
        this.helpers.delete(frame.re);
        helper(frame);
      } else this.onReply(frame, data.length);
    } else this.onProblem(`the relay sent a frame that is neither a reply nor an event: ${clip(data.toString('utf8'), 100)}`);
    this.wake();
  }

  /** A request of the harness itself (ids start with "~h", which no generated id uses). */
  request(type: string, fields: Record<string, unknown> = {}, ms = 60_000): Promise<ReplyFrame> {
    const id = `~h${++this.helperIds}`;
    const reply = new Promise<ReplyFrame>((resolve, reject) => {
      this.helpers.set(id, resolve);
      this.closed.then(() => reject(new Error(`connection closed before the reply to ${type}`)));
    });
    this.socket.send(JSON.stringify({ id, type, ...fields }));
    return withTimeout(reply, ms, `the reply to ${type}`);
  }

  async call(type: string, fields: Record<string, unknown> = {}): Promise<any> {
    const reply = await this.request(type, fields);
    if (!reply.ok) throw new Error(`${type} failed: ${reply.error?.code} ${reply.error?.message}`);
    return reply.result;
  }

  terminate(): void {
    this.socket.terminate();
  }
}

async function registerIdentity(peer: Peer, prefix: string): Promise<Identity> {
  const keys = newKeys();
  const username = freshName(prefix);
  const authKey = randomKey();
  const result = await peer.call('register', { username, firstName: 'Fuzz', lastName: prefix, kdf: kdf(), authKey, keySalt: randomKey(), publicKey: keys.publicKey });
  return { id: result.user.id, username, authKey, ...keys, token: result.token };
}

interface Pending {
  index: number;
  out: Outgoing;
}

/** The frames sent with one id and the replies that came for that id so far. */
interface Group {
  pendings: Pending[];
  replies: ReplyFrame[];
}

export type LaneKind = 'anonymous' | 'member';

/**
 * One fuzzing connection. Anonymous lanes start every batch logged out; member lanes start logged in
 * (their frames reach the handlers behind the session check). Between batches the harness puts a
 * lane back into its kind, reconnecting if the relay closed it.
 */
class Lane {
  peer!: Peer;
  /** The account this lane logs in as (members) or could log in as (anonymous). */
  account!: Identity;
  /** Who the connection is logged in as, as far as the replies tell; identity null if its keys are unknown. */
  session: { id: number; identity: Identity | null } | null = null;
  cids = 0;
  lastCid: string | null = null;
  private ids = 0;
  /** Frames waiting for replies, by id; several frames may share an id. */
  private readonly ledger = new Map<string, Group>();
  private nullQueue: Pending[] = [];
  private outstanding = 0;
  private rateLimited = 0;
  /** The largest reply this batch received, in bytes (finding 2 followed replies over ~1 MB). */
  biggestReply = 0;
  /** Replies to fuzz frames so far (barrier replies excluded): the waiting loop's progress. */
  private answered = 0;
  private barriers = 0;
  private readonly barrierIds = new Set<string>();
  private expectedClose: { code: number; why: string; unread?: 'too-big' | 'not-utf8' } | null = null;
  private closing = false;

  constructor(
    readonly harness: FuzzHarness,
    readonly index: number,
    readonly kind: LaneKind,
  ) {}

  /** Each lane connects from its own loopback address, so the per-address login limits are per lane. */
  private get address(): string {
    return `127.0.${this.kind === 'anonymous' ? 1 : 2}.${this.index + 1}`;
  }

  async connect(): Promise<void> {
    this.closing = false;
    this.peer?.terminate();
    this.peer = await Peer.connect(this.harness.relay.wsUrl, this.address);
    this.peer.onReply = (reply, bytes) => {
      this.biggestReply = Math.max(this.biggestReply, bytes);
      this.receive(reply);
    };
    this.peer.onEvent = (event) => {
      if (event.ev === 'session-ended') this.session = null;
    };
    this.peer.onProblem = (problem) => this.harness.violation('b', 'malformed frame from the relay', `lane ${this.index}: ${problem}`);
    this.ledger.clear();
    this.nullQueue = [];
    this.outstanding = 0;
    this.rateLimited = 0;
    this.expectedClose = null;
    this.session = null;
  }

  async setUp(): Promise<void> {
    const setup = await Peer.connect(this.harness.relay.wsUrl, this.address);
    this.account = await registerIdentity(setup, this.kind === 'anonymous' ? 'anon' : 'memb');
    setup.terminate();
    await this.normalize(true);
  }

  /** Puts the lane back into its kind: open, and logged in as its account (members) or logged out. */
  async normalize(reconnect: boolean): Promise<void> {
    if (reconnect || !this.peer?.open) await this.connect();
    // A probe tells whether the connection is logged in whatever replies went missing.
    const probe = await this.peer.request('online', { room: 'zz-probe' });
    const loggedIn = probe.ok;
    if (!loggedIn) this.session = null;
    else this.session ??= { id: -1, identity: null };
    if (this.kind === 'anonymous') {
      if (loggedIn) await this.connect();
      return;
    }
    if (loggedIn && this.session!.identity) {
      this.account = this.session!.identity; // possibly an account the lane's own fuzz registered
      return;
    }
    if (loggedIn) await this.connect();
    const resumed = await this.peer.request('resume', { token: this.account.token });
    if (!resumed.ok) {
      // The token was revoked by a fuzzed logout (or a password change elsewhere): a new account.
      // (Not login: the fuzz keeps the per-address login limit exhausted, as an attacker would.)
      this.account = await registerIdentity(this.peer, 'memb');
    }
    this.session = { id: this.account.id, identity: this.account };
    await Promise.all(AUTO_JOINED.map((room) => this.peer.request('join', { room, limit: 0 })));
  }

  nextId(): RequestId {
    const n = ++this.ids;
    return n % 2 ? `L${this.index}.${n}` : 1_000_000_000 * (this.index + 1) + n;
  }

  private context(): BuildContext {
    return {
      lane: this,
      nextId: () => this.nextId(),
      me: this.session?.identity ?? this.account,
      other: this.harness.bystanderInfo(),
      rooms: this.harness.rooms,
      replayPool: this.harness.replayPool,
      staleTokens: this.harness.staleTokens,
    };
  }

  private receive(reply: ReplyFrame): void {
    const problem = replyShapeProblem(reply);
    if (problem) {
      this.harness.violation('b', `malformed reply: ${problem}`, `lane ${this.index}: ${clip(JSON.stringify(reply), 300)}`);
      return;
    }
    if (typeof reply.re === 'string' && this.barrierIds.delete(reply.re)) return;
    this.answered++;
    const code = reply.ok ? 'ok' : reply.error!.code;
    this.harness.count('replies', code);
    if (code === 'RATE_LIMITED') this.rateLimited++;
    const extra = (): void =>
      this.harness.violation('b', 'a reply no frame was waiting for', `lane ${this.index}: ${clip(JSON.stringify(reply), 300)} (a second reply to one frame, or a reply to a frame without that id)`);
    if (reply.re === null) {
      // Frames without a usable id are answered at once, in order; if a reply went missing the
      // next one belongs to a later frame: the earliest one it fits.
      const fits = this.nullQueue.findIndex((p) => this.problemWith(p, reply) === null);
      const pending = this.nullQueue.splice(Math.max(fits, 0), 1)[0];
      if (!pending) return extra();
      this.outstanding--;
      this.settlePair(pending, reply);
      return;
    }
    const key = reKey(reply.re);
    const group = this.ledger.get(key);
    if (!group || group.replies.length >= group.pendings.length) return extra();
    group.replies.push(reply);
    this.outstanding--;
    if (group.replies.length === group.pendings.length) {
      this.ledger.delete(key);
      for (const [pending, answer] of this.pair(group)) if (answer) this.settlePair(pending, answer);
    }
  }

  /**
   * Frames that share an id (fuzzed ids, replays) may be answered in any order, so their replies
   * are paired with them the way that explains the most replies; with `fastFirst`, among equally
   * good pairings, the one that leaves the fewest fast frames unanswered.
   */
  private pair(group: Group, fastFirst = false): [Pending, ReplyFrame | null][] {
    const { pendings, replies } = group;
    if (pendings.length === 1) return [[pendings[0]!, replies[0] ?? null]];
    let best: { score: number; order: number[] } = { score: -1, order: pendings.map((_, i) => i) };
    const score = (order: number[]): number => {
      let total = 0;
      replies.forEach((reply, i) => {
        const pending = pendings[order[i]!]!;
        if (this.problemWith(pending, reply) === null) total += 1000;
        if (fastFirst && !pending.out.slow) total += 1;
      });
      return total;
    };
    const permute = (prefix: number[], rest: number[]): void => {
      if (prefix.length === replies.length || rest.length === 0) {
        const order = [...prefix, ...rest];
        const value = score(order);
        if (value > best.score) best = { score: value, order };
        return;
      }
      for (const [i, next] of rest.entries()) permute([...prefix, next], [...rest.slice(0, i), ...rest.slice(i + 1)]);
    };
    if (pendings.length <= 6) permute([], pendings.map((_, i) => i));
    return best.order.map((index, i) => [pendings[index]!, replies[i] ?? null]);
  }

  /** Checks one reply against its frame and learns what it tells about the session. */
  private settlePair(pending: Pending, reply: ReplyFrame): void {
    const code = reply.ok ? 'ok' : reply.error!.code;
    const wrong = this.problemWith(pending, reply);
    if (wrong) {
      this.harness.violation('b', wrong, `lane ${this.index}, frame ${pending.out.kind} ${pending.out.preview}\n  got ${clip(JSON.stringify(reply), 300)}`);
      return;
    }
    const type = pending.out.expect.kind === 'reply' ? pending.out.expect.type : null;
    if (pending.out.kind !== 'flood') this.harness.count('outcomes', `${type ?? '(no valid type)'}\u0000${code}`);
    if (reply.ok) {
      pending.out.onOk?.(reply.result);
      // What any frame of these types does to the session, whoever built it.
      if (type === 'register' || type === 'login' || type === 'resume') this.session ??= { id: reply.result.user.id, identity: null };
      if (type === 'logout') this.session = null;
    } else if (code === 'ALREADY_AUTHENTICATED') this.session ??= { id: -1, identity: null };
    else if (code === 'NOT_AUTHENTICATED') this.session = null;
  }

  /** What is wrong with `reply` as the answer to `pending`, or null. */
  private problemWith(pending: Pending, reply: ReplyFrame): string | null {
    const expect = pending.out.expect;
    if (expect.kind !== 'reply') return 'a reply to a frame that should have closed the connection';
    if (reply.ok) {
      if (expect.codes !== null) return `an ok reply to a frame PROTOCOL.md refuses (${expect.why})`;
      const optional = OPTIONAL_RESULT_KEYS[expect.type!] ?? [];
      const keys = Object.keys(reply.result)
        .filter((key) => !optional.includes(key))
        .sort()
        .join(',');
      const documented = [...RESULT_KEYS[expect.type!]].sort().join(',');
      return keys === documented ? null : `a ${expect.type} result with fields {${keys}}, documented {${documented}}`;
    }
    const code = reply.error!.code;
    if (code === 'RATE_LIMITED') return null;
    if (!RELAY_ERROR_CODES.has(code)) return `undocumented error code ${code}`;
    if (code === 'INTERNAL') return 'INTERNAL error (PROTOCOL.md: "a relay bug")';
    if (expect.codes !== null && !expect.codes.includes(code)) return `${code} for a frame that should get ${expect.codes.join(' or ')} (${expect.why})`;
    return null;
  }

  private expectReply(index: number, out: Outgoing): void {
    const expect = out.expect as Extract<Expectation, { kind: 'reply' }>;
    const pending = { index, out };
    this.outstanding++;
    if (expect.re === null) this.nullQueue.push(pending);
    else {
      const key = reKey(expect.re);
      const group = this.ledger.get(key);
      if (group) group.pendings.push(pending);
      else this.ledger.set(key, { pendings: [pending], replies: [] });
    }
  }

  private transmit(out: Outgoing): void {
    const socket = this.peer.socket;
    const ignore = (): void => {};
    if (out.fragments) {
      out.fragments.forEach((fragment, i) => {
        const last = i === out.fragments!.length - 1;
        socket.send(fragment, { binary: out.binary, fin: last }, ignore);
        if (!last && out.pingBetween) socket.ping(undefined, undefined, ignore);
      });
    } else socket.send(out.data, { binary: out.binary }, ignore);
  }

  /** Sends one batch and checks every frame's outcome; violations go to the harness. */
  async runBatch(batch: BatchSpec): Promise<void> {
    const harness = this.harness;
    if (batch.reconnect) await this.normalize(true);
    this.biggestReply = 0;
    const ctx = this.context();
    const frames: Outgoing[] = [];
    if (batch.flood) frames.push(...this.floodFrames(ctx));
    let terminal: Outgoing | null = null;
    let skippedTerminals = 0;
    for (const spec of batch.specs) {
      for (const out of materialize(ctx, spec)) {
        if (out.expect.kind === 'close') {
          // A frame that ends the connection goes last; frames after it would never be read.
          if (terminal) skippedTerminals++;
          else terminal = out;
        } else frames.push(out);
      }
    }
    if (terminal) frames.push(terminal);
    harness.count('frames', 'skipped (a second connection-ending frame in one batch)', skippedTerminals);

    let sentBytes = 0;
    let index = 0;
    const inFlight: string[] = [];
    for (const out of frames) {
      if (!this.peer.open) break;
      if (out.expect.kind === 'reply' && out.expect.re !== null && typeof out.expect.re === 'string' && out.expect.re.startsWith('~')) {
        harness.count('frames', 'skipped (id in the harness namespace)');
        continue;
      }
      if (out.expect.kind === 'close') this.expectedClose = out.expect;
      else this.expectReply(index, out);
      this.transmit(out);
      harness.sent(out);
      inFlight.push(`${out.kind}: ${out.preview}`);
      if (out.replayable && !out.binary) harness.remember(out.data);
      index++;
      sentBytes += out.data.length;
      // Let the replies in now and then, as a real client would.
      if (index % 32 === 0 || sentBytes > 512 * 1024) {
        sentBytes = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    this.lastFrames = inFlight;
    await this.settle();
  }

  lastFrames: string[] = [];

  private floodFrames(ctx: BuildContext): Outgoing[] {
    // --rate 1000 gives bursts of 2000: 3,000 pings sent at once outrun it by far.
    return Array.from({ length: 3000 }, () => outgoing(jsonBytes({ id: ctx.nextId(), type: 'ping' }), false, 'flood', 'ping'));
  }

  /**
   * Waits until every frame is answered (and, after a connection-ending frame, the close came) or
   * the connection is gone. A relay that skips a reply would leave this waiting forever, so when
   * nothing arrives for a moment the lane proves, without any timing assumption, which replies
   * are overdue:
   * - a ping barrier on the same connection: requests that never wait for the disk or the
   *   signature pool are answered in the event-loop turn that read them, so once a ping sent after
   *   them is answered, they are overdue (and so is an expected close);
   * - for requests that wait for the disk, a disk barrier first (see FuzzHarness.diskBarrier),
   *   then another ping barrier.
   */
  private async settle(): Promise<void> {
    const waiting = (): boolean => this.outstanding > 0 || this.expectedClose !== null;
    let seen = this.answered;
    while (waiting() && !this.peer.closeInfo) {
      await this.peer.changed(250);
      if (this.answered !== seen || this.peer.closeInfo) {
        seen = this.answered;
        continue;
      }
      if (!(await this.pingBarrier())) break;
      if (this.answered !== seen) continue; // replies came meanwhile: keep waiting normally
      this.dropOverdue((p) => !p.out.slow, 'no reply (a ping sent later was answered)');
      if (this.expectedClose && this.outstanding === 0) {
        this.harness.violation('b', `connection not closed after a ${this.expectedClose.why} (expected ${this.expectedClose.code})`, `lane ${this.index}: ${this.lastFrames.at(-1)}`);
        this.expectedClose = null;
      }
      if (this.outstanding === 0) break;
      await this.harness.diskBarrier();
      if (!(await this.pingBarrier())) break;
      this.dropOverdue(() => true, 'no reply (later disk writes and a later ping were answered)');
    }
    if (this.peer.closeInfo) await this.checkClose();
    else if (this.outstanding > 0) this.dropOverdue(() => true, 'no reply, and the connection stopped answering pings');
    this.expectedClose = null;
  }

  /**
   * Sends pings until one is answered (a reply can itself be dropped, see finding 2). Resolves
   * false if the connection closed, or if nothing at all arrived for two minutes.
   */
  private async pingBarrier(): Promise<boolean> {
    const sent = new Set<string>();
    const send = (): void => {
      const id = `~b${this.index}.${++this.barriers}`;
      this.barrierIds.add(id);
      sent.add(id);
      this.peer.socket.send(JSON.stringify({ id, type: 'ping' }), () => {});
      this.harness.count('other', 'barrier pings');
    };
    send();
    let lastSend = Date.now();
    let lastProgress = Date.now();
    let progress = this.peer.progress;
    while (!this.peer.closeInfo) {
      await this.peer.changed(250);
      if ([...sent].some((id) => !this.barrierIds.has(id))) return true;
      if (this.peer.progress !== progress) {
        progress = this.peer.progress;
        lastProgress = Date.now();
      }
      if (Date.now() - lastProgress > 120_000) return false;
      if (Date.now() - lastSend > 1000 && this.peer.open) {
        send();
        lastSend = Date.now();
      }
    }
    return false;
  }


  private dropOverdue(which: (p: Pending) => boolean, what: string): void {
    const overdue = this.nullQueue.filter(which);
    this.nullQueue = this.nullQueue.filter((p) => !which(p));
    for (const [key, group] of this.ledger) {
      const unanswered = this.pair(group, true)
        .filter(([pending, reply]) => reply === null && which(pending))
        .map(([pending]) => pending);
      if (unanswered.length === 0) continue;
      overdue.push(...unanswered);
      group.pendings = group.pendings.filter((p) => !unanswered.includes(p));
      if (group.replies.length === group.pendings.length) {
        this.ledger.delete(key);
        for (const [pending, reply] of this.pair(group)) if (reply) this.settlePair(pending, reply);
      }
    }
    this.outstanding -= overdue.length;
    const big = this.biggestReply > 1024 * 1024 ? ` [after a ${(this.biggestReply / 1024 / 1024).toFixed(1)} MB reply in this batch, as in finding 2]` : '';
    for (const p of overdue) {
      this.harness.violation('b', what, `lane ${this.index} (${this.kind}), frame #${p.index} ${p.out.kind}: ${p.out.preview}${big}`);
    }
  }

  /** The connection closed: was that what PROTOCOL.md says for what this lane sent? */
  private async checkClose(): Promise<void> {
    const info = this.peer.closeInfo!;
    this.harness.count('closes', String(info.code));
    // Frames still waiting lost their replies to the close; PROTOCOL.md allows that.
    for (const group of this.ledger.values()) for (const [pending, reply] of this.pair(group)) if (reply) this.settlePair(pending, reply);
    this.ledger.clear();
    this.nullQueue = [];
    this.outstanding = 0;
    if (this.closing) return;
    const flood = info.code === CLOSE_CODES.POLICY && this.rateLimited >= FLOOD_STRIKES;
    if (flood) return;
    const expectedCode = this.expectedClose?.unread ? unreadFrameCode(this.harness.relay, this.expectedClose.unread) : this.expectedClose?.code;
    if (this.expectedClose && info.code === expectedCode) return;
    const expected = this.expectedClose ? `${expectedCode} (${this.expectedClose.why})` : 'no close';
    const what =
      info.code === CLOSE_CODES.POLICY ? `closed with 1008 after only ${this.rateLimited} RATE_LIMITED replies` : `closed with ${info.code}, expected ${expected}`;
    // Judged at the end of the round: if the relay died, this close is only a symptom of that.
    this.harness.suspect('b', what.replace(/\d+ RATE/, 'N RATE'), `lane ${this.index} (${this.kind}): ${what}; reason ${JSON.stringify(info.reason)}; last frames:\n    ${this.lastFrames.slice(-3).join('\n    ')}`);
  }

  close(): void {
    this.closing = true;
    this.peer?.terminate();
  }
}

// =============================================================================================
// Bystanders: two people who keep chatting in their room through all of it (invariant c)

interface Talker {
  peer: Peer;
  me: Identity;
  received: Map<string, any>;
}

class Bystanders {
  readonly room = `bystanders-${process.pid.toString(36)}`;
  sent = 0;
  /** cid -> the signed message and the seq its reply gave. */
  private readonly confirmed = new Map<string, { body: Record<string, unknown>; seq: number }>();
  private running = true;
  private loop: Promise<void> = Promise.resolve();
  private ending = false;

  private constructor(
    private readonly harness: FuzzHarness,
    readonly alice: Talker,
    readonly bob: Talker,
  ) {}

  static async start(harness: FuzzHarness): Promise<Bystanders> {
    const talker = async (): Promise<Talker> => {
      const peer = await Peer.connect(harness.relay.wsUrl);
      const me = await registerIdentity(peer, 'byst');
      return { peer, me, received: new Map() };
    };
    const [alice, bob] = await Promise.all([talker(), talker()]);
    const group = new Bystanders(harness, alice, bob);
    for (const person of [alice, bob]) {
      person.peer.onEvent = (event) => {
        if (event.ev === 'message' && event.room === group.room) person.received.set(event.cid, event);
      };
      person.peer.onProblem = (problem) => harness.violation('c', 'malformed frame to a bystander', problem);
      person.peer.closed.then((info) => {
        if (!group.ending) harness.suspect('c', 'a bystander was disconnected', `close ${info.code} ${info.reason}`);
      });
      await person.peer.call('join', { room: group.room });
    }
    group.loop = group.chat();
    return group;
  }

  get delivered(): number {
    let count = 0;
    for (const cid of this.confirmed.keys()) if (this.alice.received.has(cid) && this.bob.received.has(cid)) count++;
    return count;
  }

  private async chat(): Promise<void> {
    for (let turn = 0; this.running; turn++) {
      const [from, to] = turn % 2 ? [this.bob, this.alice] : [this.alice, this.bob];
      try {
        await this.say(from, to);
      } catch (error) {
        this.harness.suspect('c', 'a bystander message failed', String(error));
        return;
      }
      await sleep(20);
    }
  }

  private async say(from: Talker, to: Talker): Promise<void> {
    const unsigned = { room: this.room, author: from.me.id, cid: `by${from.me.id}x${++this.sent}x${Date.now().toString(36)}`, ts: Date.now(), text: `still here ${this.sent} ✓` };
    const body = { ...unsigned, sig: sign(from.me.privateKey, unsigned) };
    const reply = await from.peer.request('send', body);
    if (!reply.ok) {
      this.harness.violation('c', 'a bystander message was refused', `${reply.error?.code} ${reply.error?.message}`);
      return;
    }
    this.confirmed.set(body.cid, { body, seq: reply.result.seq });
    // Wait for the delivery before the next message (bounded, so that a lost message cannot stall
    // the loop; whether it arrived is judged at the end).
    const deadline = Date.now() + 30_000;
    while (!to.received.has(body.cid) && Date.now() < deadline && this.harness.relayAlive()) await to.peer.changed(250);
  }

  /**
   * Stops chatting and checks that every confirmed message reached both, unchanged. After a crash
   * (`alive` false) undelivered messages are only a symptom of the death, reported as (a).
   */
  async finish(alive: boolean): Promise<void> {
    this.running = false;
    await this.loop;
    if (alive && this.alice.peer.open && this.bob.peer.open) {
      // Messages of one room arrive in seq order, so once a last one arrives everything before it has.
      await this.say(this.alice, this.bob).catch(() => {});
      await this.say(this.bob, this.alice).catch(() => {});
      const deadline = Date.now() + 30_000;
      while (this.delivered < this.confirmed.size && Date.now() < deadline) await sleep(50);
    }
    this.ending = true;
    for (const [cid, { body, seq }] of this.confirmed) {
      for (const [name, person] of [['alice', this.alice], ['bob', this.bob]] as const) {
        const event = person.received.get(cid);
        if (!event) {
          if (alive) this.harness.violation('c', 'a bystander message was not delivered', `${cid} (seq ${seq}) never reached ${name}`);
          continue;
        }
        const expected = JSON.stringify({ ev: 'message', ...body, seq });
        const got = JSON.stringify({ ev: event.ev, room: event.room, author: event.author, cid: event.cid, ts: event.ts, text: event.text, sig: event.sig, seq: event.seq });
        if (got !== expected || Object.keys(event).length !== 8) this.harness.violation('c', 'a bystander message arrived altered', `expected ${expected}\n  got ${JSON.stringify(event)}`);
      }
    }
    this.alice.peer.terminate();
    this.bob.peer.terminate();
  }

  stats(): { sent: number; confirmed: number; delivered: number } {
    return { sent: this.sent, confirmed: this.confirmed.size, delivered: this.delivered };
  }
}

// =============================================================================================
// Relay memory (invariant d)

/** Resident memory of a process in MB, from /proc/<pid>/status (Linux). */
export function rssMb(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The bound on the relay's RSS growth during a run (end minus start, per relay process). Over a
 * fuzz run the relay legitimately keeps more and more:
 * - the messages the fuzz got accepted: up to 2 x --history = 2,000 per room in memory, in the
 *   nine rooms the generators use; most are short, but the big room holds 4,000-"€" messages, so
 *   it alone can reach ~17 MB of two-byte strings;
 * - accounts and sessions the fuzz registered (~1 KB each, some thousands over a long run);
 * - the login limiter's per-name buckets (capped at 100,000 keys) and the signature key cache
 *   (capped at 50,000 keys).
 * On top of that V8 and glibc keep freed heap and buffers mapped after bursts (64 KB frames,
 * 768 KB join replies), which RSS counts. Measured on the 2-core machine: +23 to +31 MB after the
 * CI run's 10,000 frames; +117 MB after the long run's 1,000,000 fuzz frames (1.7 million with
 * the flood pings; peak +147 MB). Of that, live data is the small part: heap snapshots of the relay
 * at 227,000 and 479,000 frames held 17.5 and 28.2 MB, the difference being room histories
 * filling towards their cap, accounts, sessions and replay-window ids. So 150 MB is generous for
 * the test and still holds a million frames, while a leak of 100 bytes per frame would break it
 * within the long run (raise it with scripts/fuzz-long.ts --rss-bound for much longer runs).
 */
export const RSS_BOUND_MB = 150;

interface RelayRecord {
  pid: number;
  startRss: number;
  peakRss: number;
  endRss: number;
  frames: number;
  died: string | null;
}

// =============================================================================================
// The harness

export interface FuzzOptions {
  anonymousLanes?: number;
  memberLanes?: number;
  /** Extra relay flags (startRelay already gives --rate 1000). */
  relayArgs?: string[];
  /** Called with progress lines (the long script prints them). */
  log?: (line: string) => void;
}

export interface FuzzSummary {
  frames: number;
  /** Frames counted toward the target: all but flood pings. */
  fuzzFrames: number;
  outcomes: Record<string, Record<string, number>>;
  framesByKind: Record<string, number>;
  knownCrashFrames: number;
  replies: Record<string, number>;
  closes: Record<string, number>;
  other: Record<string, number>;
  relays: RelayRecord[];
  bystanders: { sent: number; confirmed: number; delivered: number };
  durationMs: number;
  violations: Violation[];
}

export class FuzzHarness {
  relay!: RelayProcess;
  rooms: string[] = [];
  readonly replayPool: Buffer[] = [];
  readonly staleTokens: string[] = [];
  readonly violations: Violation[] = [];
  readonly lanes: Lane[] = [];
  private bystanders!: Bystanders;
  private readonly bystanderTotals = { sent: 0, confirmed: 0, delivered: 0 };
  private readonly counters = {
    frames: new Map<string, number>(),
    replies: new Map<string, number>(),
    /** Replies to everything but flood pings, by the frame's request type and the reply's code. */
    outcomes: new Map<string, number>(),
    closes: new Map<string, number>(),
    other: new Map<string, number>(),
  };
  private readonly relays: RelayRecord[] = [];
  private current!: RelayRecord;
  private sampler: NodeJS.Timeout | null = null;
  private readonly started = Date.now();
  framesSent = 0;
  /** Frames counted toward a run's target: everything but flood pings. */
  fuzzFrames = 0;
  private knownCrashFrames = 0;
  private dead = false;
  private exited: Promise<void> = Promise.resolve();
  private pool = 0;
  /** Problems that are violations only if the relay is still alive (else symptoms of its death). */
  private suspects: Violation[] = [];

  private constructor(private readonly options: FuzzOptions) {}

  static async start(options: FuzzOptions = {}): Promise<FuzzHarness> {
    const harness = new FuzzHarness(options);
    await harness.boot();
    return harness;
  }

  private async boot(): Promise<void> {
    this.relay = await startRelay({ args: this.options.relayArgs ?? [] });
    this.dead = false;
    const child = this.relay.child;
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        this.dead = true;
        resolve();
      }),
    );
    this.bystanders = await Bystanders.start(this);
    // Rooms the generators pick from: shared ones, the bystanders' room, and spellings that
    // normalize to the same room (case, full-width).
    this.rooms = ['general', this.bystanders.room, 'fuzz-1', 'fuzz-2', 'FUZZ-1', 'ｆｕｚｚ-2', 'fuzz-3', 'Général', 'комната'];
    if (this.lanes.length === 0) {
      const anonymous = this.options.anonymousLanes ?? 3;
      const members = this.options.memberLanes ?? 3;
      for (let i = 0; i < anonymous + members; i++) this.lanes.push(new Lane(this, i, i < anonymous ? 'anonymous' : 'member'));
    }
    this.replayPool.length = 0;
    this.staleTokens.length = 0;
    await Promise.all(this.lanes.map((lane) => lane.setUp()));
    const rss = rssMb(child.pid!) ?? 0;
    this.current = { pid: child.pid!, startRss: rss, peakRss: rss, endRss: rss, frames: 0, died: null };
    this.relays.push(this.current);
    this.sampler ??= setInterval(() => this.sample(), 500);
    this.sampler.unref();
  }

  private sample(): void {
    if (this.dead) return;
    const rss = rssMb(this.current.pid);
    if (rss === null) return;
    this.current.peakRss = Math.max(this.current.peakRss, rss);
    this.current.endRss = rss;
  }

  /** The current relay's RSS now, in MB (for progress lines). */
  rssNow(): number | null {
    return this.relayAlive() ? rssMb(this.current.pid) : null;
  }

  relayAlive(): boolean {
    return !this.dead && this.relay.child.exitCode === null && this.relay.child.signalCode === null;
  }

  bystanderInfo(): { id: number; username: string } {
    return { id: this.bystanders.alice.me.id, username: this.bystanders.alice.me.username };
  }

  violation(invariant: Violation['invariant'], what: string, detail: string): void {
    this.violations.push({ invariant, what, detail });
    this.options.log?.(`VIOLATION (${invariant}) ${what}: ${clip(detail, 600)}`);
  }

  suspect(invariant: Violation['invariant'], what: string, detail: string): void {
    this.suspects.push({ invariant, what, detail });
  }

  /**
   * Whether the relay is alive and answering: a new connection and a ping. A dead relay's sockets
   * close before Node reports the child's exit, so a failed attempt waits for the exit event.
   */
  private async confirmAlive(): Promise<boolean> {
    if (!this.relayAlive()) return false;
    try {
      const peer = await Peer.connect(this.relay.wsUrl);
      try {
        const pong = await peer.request('ping', {}, 60_000);
        if (!pong.ok && pong.error?.code !== 'RATE_LIMITED') this.violation('a', 'the relay answers a ping with an error', JSON.stringify(pong));
      } finally {
        peer.terminate();
      }
      return true;
    } catch (error) {
      await Promise.race([this.exited, sleep(10_000)]);
      if (this.relayAlive()) this.violation('a', 'the relay stopped answering', String(error));
      return this.relayAlive();
    }
  }

  private flushSuspects(alive: boolean): void {
    const suspects = this.suspects;
    this.suspects = [];
    if (alive) for (const s of suspects) this.violation(s.invariant, s.what, s.detail);
  }

  count(group: keyof FuzzHarness['counters'], key: string, by = 1): void {
    if (by === 0) return;
    const map = this.counters[group];
    map.set(key, (map.get(key) ?? 0) + by);
  }

  sent(out: Outgoing): void {
    this.framesSent++;
    this.current.frames++;
    if (out.kind !== 'flood') this.fuzzFrames++;
    this.count('frames', out.kind.replace(/^op:.*/, 'well-formed request'));
    if (hitsKnownCrash(out.fragments ? Buffer.concat(out.fragments) : out.data, out.binary)) this.knownCrashFrames++;
  }

  remember(data: Buffer): void {
    const size = 512;
    if (this.replayPool.length < size) this.replayPool.push(data);
    else this.replayPool[this.pool++ % size] = data;
  }

  /** Sends one round (a batch per lane, all at once) and returns the violations it found. */
  async runRound(round: RoundSpec): Promise<Violation[]> {
    if (!this.relayAlive()) await this.restart();
    const before = this.violations.length;
    await Promise.all(this.lanes.map((lane, i) => lane.runBatch(round[i] ?? { reconnect: false, flood: false, specs: [] })));
    const alive = await this.confirmAlive();
    this.flushSuspects(alive);
    if (!alive) {
      await sleep(100); // let the exit's stderr arrive
      const stderr = this.relay.stderr().trim().split('\n').slice(-12).join('\n    ');
      const suspects = this.lanes.map((lane) => `lane ${lane.index}: ${lane.lastFrames.slice(-2).join(' | ')}`).join('\n    ');
      const code = this.relay.child.exitCode ?? this.relay.child.signalCode;
      const firstLine = /^(\w*Error: [^\n]*)/m.exec(this.relay.stderr())?.[1] ?? `exit ${code}`;
      this.current.died = firstLine;
      this.violation('a', `the relay process died: ${firstLine}`, `exit ${code}; its stderr ends:\n    ${stderr}\n  last frames per lane:\n    ${clip(suspects, 3000)}`);
    } else {
      try {
        await Promise.all(this.lanes.map((lane) => lane.normalize(false)));
      } catch (error) {
        if (this.relayAlive()) this.violation('a', 'the relay stopped answering', String(error));
      }
    }
    return this.violations.slice(before);
  }

  /** After a crash: a new relay (new data folder), new bystanders, every lane reconnected. */
  private async restart(): Promise<void> {
    await this.retireRelay();
    this.count('other', 'relay restarts after a crash');
    this.options.log?.('restarting the relay');
    await this.boot();
  }

  private async retireRelay(): Promise<void> {
    this.sample();
    const alive = this.relayAlive();
    await this.bystanders.finish(alive);
    this.flushSuspects(alive);
    const stats = this.bystanders.stats();
    this.bystanderTotals.sent += stats.sent;
    this.bystanderTotals.confirmed += stats.confirmed;
    this.bystanderTotals.delivered += stats.delivered;
    for (const lane of this.lanes) lane.close();
  }

  /**
   * Resolves once every disk write the relay queued before the call is durable (and answered):
   * two rounds, one after the other, of a registration (accounts.log, then sessions.log) and a
   * signed message (the signature pool, then messages.log) on a helper connection. The relay's
   * logs write in batches in queue order, so an append queued later is durable only after every
   * earlier one; the second round starts after the first is durable, so it also comes after writes
   * that requests queued in a second step (a password change revokes sessions after its account
   * write).
   */
  async diskBarrier(): Promise<void> {
    try {
      for (let round = 0; round < 2; round++) {
        const peer = await Peer.connect(this.relay.wsUrl, '127.0.3.1');
        try {
          const me = await registerIdentity(peer, 'disk');
          await peer.call('join', { room: 'zz-disk', limit: 0 });
          const unsigned = { room: 'zz-disk', author: me.id, cid: `disk${me.id}x${round}`, ts: Date.now(), text: 'barrier' };
          await peer.call('send', { ...unsigned, sig: sign(me.privateKey, unsigned) });
        } finally {
          peer.terminate();
        }
      }
      this.count('other', 'disk barriers');
    } catch (error) {
      this.suspect('a', 'the relay did not complete a disk barrier', String(error));
    }
  }


  /** Ends the run: final liveness and delivery checks, memory bound, summary. */
  async finish(rssBoundMb = RSS_BOUND_MB): Promise<FuzzSummary> {
    if (this.relayAlive()) {
      // (a) it still answers a brand-new connection.
      try {
        const peer = await Peer.connect(this.relay.wsUrl);
        const pong = await peer.request('ping');
        if (!pong.ok) this.violation('a', 'the relay does not answer a ping at the end', JSON.stringify(pong));
        peer.terminate();
      } catch (error) {
        this.violation('a', 'the relay does not answer a new connection at the end', String(error));
      }
    }
    await this.retireRelay();
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = null;
    for (const record of this.relays) {
      const growth = record.endRss - record.startRss;
      if (growth > rssBoundMb) {
        this.violation('d', `relay RSS grew by more than ${rssBoundMb} MB`, `pid ${record.pid}: ${record.startRss.toFixed(1)} MB -> ${record.endRss.toFixed(1)} MB (peak ${record.peakRss.toFixed(1)}) over ${record.frames} frames`);
      }
    }
    const object = (map: Map<string, number>): Record<string, number> => Object.fromEntries([...map].sort((a, b) => b[1] - a[1]));
    const outcomes: Record<string, Record<string, number>> = {};
    for (const [key, value] of [...this.counters.outcomes].sort((a, b) => b[1] - a[1])) {
      const [type, code] = key.split('\u0000') as [string, string];
      (outcomes[type] ??= {})[code] = value;
    }
    return {
      frames: this.framesSent,
      fuzzFrames: this.fuzzFrames,
      outcomes,
      framesByKind: object(this.counters.frames),
      knownCrashFrames: this.knownCrashFrames,
      replies: object(this.counters.replies),
      closes: object(this.counters.closes),
      other: object(this.counters.other),
      relays: this.relays,
      bystanders: { ...this.bystanderTotals },
      durationMs: Date.now() - this.started,
      violations: this.violations,
    };
  }

  async stop(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    for (const lane of this.lanes) lane.close();
    await this.relay?.stop();
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Runs rounds under fast-check until `frames` fuzz frames went out: each run of the property is
   * one round, which fails on any violation; fast-check then shrinks the round (restarting the
   * relay where the failure killed it) and reports the seed and the smallest failing round. Rounds
   * come in chunks of fc.assert runs because frames per round vary; chunk n uses seed + n.
   */
  async assertRounds(options: { frames: number; seed: number; minFrames: number; maxFrames: number; shrinkBudgetMs?: number }): Promise<void> {
    const arbitrary = roundArbitrary(this.lanes.length, options.minFrames, options.maxFrames);
    const startFrames = this.fuzzFrames;
    let round = 0;
    for (let chunk = 0; this.fuzzFrames < options.frames; chunk++) {
      let failedAt: number | null = null;
      // Frames per round so far (a guess before the first round), so the last chunk is small.
      const average = round > 0 ? (this.fuzzFrames - startFrames) / round : (this.lanes.length * (options.minFrames + options.maxFrames)) / 2;
      const numRuns = Math.max(1, Math.ceil((options.frames - this.fuzzFrames) / Math.max(1, average)));
      await fc.assert(
        fc.asyncProperty(arbitrary, async (spec) => {
          // While shrinking, stop after the budget: fast-check then reports the smallest failure so far.
          if (failedAt !== null && Date.now() - failedAt > (options.shrinkBudgetMs ?? 60_000)) return;
          const violations = await this.runRound(spec);
          round++;
          if (violations.length === 0) return;
          failedAt ??= Date.now();
          throw new Error(`invariant violations in this round:\n${formatViolations(violations, 5)}`);
        }),
        { seed: options.seed + chunk, numRuns, endOnFailure: false },
      );
    }
  }
}

// =============================================================================================
// Reporting

export function formatViolations(violations: Violation[], examples = 2): string {
  if (violations.length === 0) return 'none';
  const groups = new Map<string, Violation[]>();
  for (const violation of violations) {
    const key = `(${violation.invariant}) ${violation.what}`;
    groups.set(key, [...(groups.get(key) ?? []), violation]);
  }
  const lines: string[] = [];
  for (const [key, list] of groups) {
    lines.push(`  ${list.length} x ${key}`);
    for (const violation of list.slice(0, examples)) lines.push(`      e.g. ${clip(violation.detail, 1500).replace(/\n/g, '\n      ')}`);
  }
  return lines.join('\n');
}

export function formatSummary(summary: FuzzSummary, rssBoundMb = RSS_BOUND_MB): string {
  const list = (record: Record<string, number>): string =>
    Object.entries(record)
      .map(([key, value]) => `${key} ${value}`)
      .join(', ') || 'none';
  const mb = (value: number): string => `${value.toFixed(1)} MB`;
  const relays = summary.relays.map(
    (r, i) =>
      `  #${i + 1} pid ${r.pid}: ${r.frames} frames; RSS start ${mb(r.startRss)}, peak ${mb(r.peakRss)}, end ${mb(r.endRss)} (growth ${mb(r.endRss - r.startRss)}, bound +${rssBoundMb} MB)${r.died ? `; DIED: ${r.died}` : ''}`,
  );
  const shown = relays.length > 12 ? [...relays.slice(0, 5), `  ... ${relays.length - 10} more ...`, ...relays.slice(-5)] : relays;
  return [
    `frames sent: ${summary.frames} (${summary.fuzzFrames} fuzz frames + ${summary.frames - summary.fuzzFrames} flood pings)`,
    `  by generator: ${list(summary.framesByKind)}`,
    `  of the kind that crashed the relay before its fix (finding 1): ${summary.knownCrashFrames}`,
    `replies by code: ${list(summary.replies)}`,
    `replies by request type (flood pings aside):`,
    ...Object.entries(summary.outcomes).map(([type, codes]) => `  ${type}: ${list(codes)}`),
    `closes by code: ${list(summary.closes)}`,
    `other: ${list(summary.other)}`,
    `relay processes: ${summary.relays.length}`,
    ...shown,
    `bystanders: ${summary.bystanders.sent} messages sent, ${summary.bystanders.confirmed} accepted, ${summary.bystanders.delivered} delivered to both`,
    `duration: ${(summary.durationMs / 1000).toFixed(1)} s`,
    `invariant violations: ${summary.violations.length === 0 ? 'none' : `${summary.violations.length}\n${formatViolations(summary.violations)}`}`,
  ].join('\n');
}
