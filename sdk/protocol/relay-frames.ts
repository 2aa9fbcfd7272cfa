/**
 * The SDK's one reader of what the relay sends: every reply (per request type) and every event is
 * checked here, at the edge (../connection.ts), field by field, and copied without anything else it
 * carried, so every module after it works on typed, well-formed values and nothing from the network
 * is cast. A broken or hostile relay gets only well-formed values into a room, a member list or a
 * profile; what breaks the protocol is refused whole with BAD_RELAY_FRAME (PROTOCOL.md "Security
 * model"), `field` naming the part at fault. Meaning is checked where it is used (signatures in
 * ../room.ts, numbers that must grow in ../pages.ts), shapes here.
 */
import { RAISED_BY_THE_SDK, SovError, isErrorCode } from '../errors.ts';
import { isRecord } from './fields.ts';
import type { Check } from './fields.ts';
import type {
  ChatMessage,
  EventMap,
  EventName,
  Profile,
  RequestType,
  ResultMap,
  ServerEvent,
  SessionResult,
} from './frames.ts';

// ## Checks, kept few and small: this module is part of every client's first download.

/** `at` is the path of the part at fault, such as `result.messages.3.seq`. */
const refuse = (at: string): SovError => new SovError('BAD_RELAY_FRAME', undefined, { field: at });

const valid =
  <T>(test: (value: unknown) => value is T): Check<T> =>
  (value, at) => {
    if (test(value)) return value;
    throw refuse(at);
  };

/** A safe integer from `min`. */
const count = (min = 0): Check<number> =>
  valid((value): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= min);
const natural = count();
const text = valid((value): value is string => typeof value === 'string');
const flag = valid((value): value is boolean => typeof value === 'boolean');
const oneOf = <T extends string>(...options: T[]): Check<T> =>
  valid((value): value is T => options.some((option) => option === value));
const orNull =
  <T>(check: Check<T>): Check<T | null> =>
  (value, at) =>
    value === null ? null : check(value, at);
const optional =
  <T>(check: Check<T>): Check<T | undefined> =>
  (value, at) =>
    value === undefined ? undefined : check(value, at);
const list =
  <T>(check: Check<T>): Check<T[]> =>
  (value, at) => {
    if (!Array.isArray(value)) throw refuse(at);
    return value.map((item, index) => check(item, `${at}.${index}`));
  };

/** A check for every field of T, the optional ones included. */
type Shape<T> = { [K in keyof T]-?: Check<T[K]> };

/** An object with T's fields, each checked, copied into a new object without anything else the relay put there. */
const object =
  <T>(shape: Shape<T>): Check<T> =>
  (value, at) => {
    if (!isRecord(value)) throw refuse(at);
    const copy: Partial<T> = {};
    for (const key in shape) copy[key] = shape[key](value[key], `${at}.${key}`);
    // Not a cast of what the relay sent: a new object whose every field of T (Shape<T> has a check for each) was just set from its check.
    return copy as T;
  };

// ## Values

const profile = object<Profile>({
  id: natural,
  username: text,
  firstName: text,
  lastName: text,
  avatar: orNull(text),
  keys: list(object({ publicKey: text, since: natural })),
  role: oneOf('user', 'admin'),
});
const profiles = list(profile);

/** A message, live or in a page of history: numbered from 1 (a room's first). */
const MESSAGE: Shape<ChatMessage> = {
  room: text,
  seq: count(1),
  author: natural,
  cid: text,
  ts: natural,
  text,
  sig: text,
};
const messages = list(object(MESSAGE));
const session = object<SessionResult>({
  token: text,
  expiresAt: natural,
  user: profile,
  keySalt: text,
});
const withUser = object({ user: profile });
const nothing = object<Record<string, never>>({});

// ## Replies

const RESULTS: { [K in RequestType]: Check<ResultMap[K]> } = {
  ping: object({ time: natural }),
  // Only the shape: whether the settings are strong enough is ../account.ts's call (kdfParams).
  salt: object({
    kdf: object({
      alg: oneOf('scrypt'),
      N: natural,
      r: natural,
      p: natural,
      salt: text,
    }),
  }),
  register: session,
  login: session,
  resume: object({ expiresAt: natural, user: profile }),
  logout: nothing,
  'change-password': withUser,
  join: object({
    room: text,
    seq: natural,
    messages,
    gap: flag,
    older: flag,
    more: flag,
    online: profiles,
    onlineNext: orNull(natural),
    memberSeq: natural,
  }),
  history: object({ room: text, messages, more: flag }),
  leave: nothing,
  send: object({ seq: count(1) }),
  profile: withUser,
  'update-profile': withUser,
  online: object({
    users: profiles,
    next: orNull(natural),
    memberSeq: optional(natural),
  }),
};

/**
 * The result of a successful reply to a `type` request, checked as that request's result, or the
 * refusal: SovError BAD_RELAY_FRAME, `field` the path at fault (`result.messages.3.seq`).
 */
export function resultOf<K extends RequestType>(type: K, result: unknown): ResultMap[K] | SovError {
  const check: Check<ResultMap[K]> = RESULTS[type];
  try {
    return check(result, 'result');
  } catch (error) {
    if (error instanceof SovError) return error;
    throw error;
  }
}

/** An error reply's error: a code this SDK does not know becomes INTERNAL, with the relay's words. */
const wireError = object({
  code: text,
  message: optional(text),
  field: optional(text),
  retryAfterMs: optional(natural),
  seq: optional(count(1)),
});

// ## Events

/** The hello's fields the SDK acts on: the relay's id, its byte budget and the sizes it takes. */
export interface RelayHello {
  protocol: number;
  relayId?: string;
  limits: Pick<EventMap['hello']['limits'], 'maxFrameBytes' | 'connectionBudget' | 'maxMessageBytes'>;
  budgetSpent?: number;
}

const hello = object<RelayHello>({
  protocol: natural,
  relayId: optional(text),
  limits: object({
    maxFrameBytes: natural,
    connectionBudget: natural,
    maxMessageBytes: natural,
  }),
  budgetSpent: optional(natural),
});

/** An event named `ev` with the fields `shape` checks. */
function event<K extends EventName>(ev: K, shape: Shape<EventMap[K]>): Check<{ ev: K } & EventMap[K]> {
  const fields = object(shape);
  return (value, at) => ({ ev, ...fields(value, at) });
}
const EVENTS = {
  message: event('message', MESSAGE),
  join: event('join', { room: text, user: profile, memberSeq: natural }),
  leave: event('leave', { room: text, userId: natural, memberSeq: natural }),
  presence: event('presence', {
    userId: natural,
    online: flag,
    user: optional(profile),
  }),
  profile: event('profile', { user: profile }),
  'session-ended': event('session-ended', {
    reason: oneOf('logout', 'password-changed'),
  }),
};
const isEvent = (name: unknown): name is keyof typeof EVENTS => typeof name === 'string' && Object.hasOwn(EVENTS, name);

// ## Frames

/**
 * One frame from the relay, its envelope checked: a reply (its result still to be checked for the
 * request it answers: resultOf), the relay's hello, an event, or a refusal: a frame that breaks
 * the protocol, with the request it answers where that much could be read (`re`: the SDK's requests
 * are numbered). An event this version does not know (a newer relay may add some) is ignored:
 * nothing here would act on it.
 */
export type RelayFrame =
  | { re: number | null; result: unknown }
  | { re: number | null; error: SovError }
  | { re: number | null; refused: SovError }
  | { hello: RelayHello }
  | { event: ServerEvent }
  | { ignored: unknown };

/** The HTTP transport's answer to `open` (PROTOCOL.md "HTTP transport"): the new stream's id, or null. */
export const openedStream = (body: unknown): string | null =>
  isRecord(body) && typeof body.stream === 'string' ? body.stream : null;

/** Reads one frame (its text as the transport delivered it); never throws. */
export function relayFrameOf(text: string): RelayFrame {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return { re: null, refused: refuse('frame') };
  }
  if (!isRecord(frame)) return { re: null, refused: refuse('frame') };
  // The SDK numbers its requests: a reply naming anything else answers none of them.
  const re = typeof frame.re === 'number' ? frame.re : null;
  try {
    if (frame.ev === 'hello') return { hello: hello(frame, 'hello') };
    if (isEvent(frame.ev)) return { event: EVENTS[frame.ev](frame, frame.ev) };
    if (frame.ev !== undefined) return { ignored: frame.ev };
    if (frame.ok === true) return { re, result: frame.result };
    if (frame.ok !== false) throw refuse('ok');
    const { code, message, ...details } = wireError(frame.error, 'error');
    return {
      re,
      error: new SovError(isErrorCode(code) && !RAISED_BY_THE_SDK.has(code) ? code : 'INTERNAL', message, details),
    };
  } catch (error) {
    if (error instanceof SovError) return { re, refused: error };
    throw error;
  }
}
