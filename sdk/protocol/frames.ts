/**
 * The Sovereign Chat wire protocol, version 1: paths, limits and every frame type. PROTOCOL.md
 * describes the same thing for humans. The field validators are in ./fields.ts, the bytes authors
 * sign in ./signed-bytes.ts, the relay-only request schemas in ./requests.ts, and the SDK's checks of
 * every reply and event the relay sends in ./relay-frames.ts.
 */
import type { WireError } from '../errors.ts';

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
  'change-password': {
    authKey: string;
    kdf: KdfParams;
    newAuthKey: string;
    keySalt: string;
    publicKey: string;
  };
  /** `members: false`: the connection already knows who is online (a rotation), so `online` comes empty. */
  join: { room: string; after?: number; limit?: number; members?: boolean };
  /** Exactly one of `before` and `after`; the connection must have joined the room. */
  history: { room: string; before?: number; after?: number; limit?: number };
  leave: { room: string };
  send: Omit<ChatMessage, 'seq' | 'author'> & { author: number };
  profile: { userId?: number; username?: string };
  'update-profile': {
    username?: string;
    firstName?: string;
    lastName?: string;
  };
  /** `after`: the last id of the page before (its `next`). */
  online: { room?: string; after?: number };
}

export interface SessionResult {
  token: string;
  expiresAt: number;
  user: Profile;
  /** The per-user random value mixed into the signing key; handed out only after a password check. */
  keySalt: string;
}

/**
 * History and profiles come in pages that fit one frame (./budget.ts: with a byte budget, a third
 * of it). Messages in a page are always in ascending sequence order.
 */
export interface JoinResult {
  room: string;
  /** The room's latest sequence number. */
  seq: number;
  /** Without `after`: the newest messages. With `after`: the oldest after it. */
  messages: ChatMessage[];
  /** True when `after` was older than the kept history: messages between were lost to the client. */
  gap: boolean;
  /** Without `after`: the relay keeps messages older than the page (`history` with `before`). */
  older: boolean;
  /** With `after`: newer messages remain (`history` with `after` the page's last number). */
  more: boolean;
  /** The first page of who is online, by id; empty when the join said `members: false`. */
  online: Profile[];
  /** The last id of `online` when more remain (`online` with `after` this), else null. */
  onlineNext: number | null;
  /**
   * The number of the room's latest join or leave: each one counts up by one, and the lists of
   * who is online (here and in `online`) are as of that number. A client keeps, per user, the
   * newest word it heard, and takes a number it never heard for an event lost on the way.
   */
  memberSeq: number;
}

export interface HistoryResult {
  room: string;
  messages: ChatMessage[];
  /** More messages remain in the direction asked for: older with `before`, newer with `after`. */
  more: boolean;
}

export interface OnlineResult {
  /** One page of profiles, by id. */
  users: Profile[];
  /** The last id of `users` when more remain, else null. */
  next: number | null;
  /** With `room`: the room's member number the page is as of (JoinResult.memberSeq). */
  memberSeq?: number;
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
  history: HistoryResult;
  leave: Record<string, never>;
  send: { seq: number };
  profile: { user: Profile };
  'update-profile': { user: Profile };
  online: OnlineResult;
}

export type RequestType = keyof RequestMap;

export type RequestId = string | number;
export type RequestFrame = {
  [K in RequestType]: { id: RequestId; type: K } & RequestMap[K];
}[RequestType];

// Replies and events (relay -> client).
export type Reply<K extends RequestType = RequestType> =
  | { re: RequestId | null; ok: true; result: ResultMap[K] }
  | { re: RequestId | null; ok: false; error: WireError };

/**
 * The relay's id as the relay makes it at its first start: 16 random bytes in base64url. One relay
 * may be reached through several front doors (addresses); the id in `hello` says which relay a
 * door leads to, and a client with a session refuses a door that leads to another.
 */
export const RELAY_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

export interface EventMap {
  hello: {
    protocol: number;
    relay: string;
    /** The relay's stable id (RELAY_ID_PATTERN); relays before it was added send none. */
    relayId?: string;
    time: number;
    /**
     * `connectionBudget`: bytes the relay sends down this connection before it ends it (BUDGET_SPENT); 0 for none.
     * `maxMessageBytes`: the largest message it stores, as ./budget.ts `storedMessageBytes` measures it.
     */
    limits: typeof LIMITS & {
      historySize: number;
      connectionBudget: number;
      maxMessageBytes: number;
    };
    /** Budget bytes this connection spent before the hello (TLS handshake, upgrade answer): the SDK counts on from here. */
    budgetSpent?: number;
  };
  message: ChatMessage;
  /** `memberSeq`: the room's number for this join (see JoinResult.memberSeq). */
  join: { room: string; user: Profile; memberSeq: number };
  leave: { room: string; userId: number; memberSeq: number };
  presence: { userId: number; online: boolean; user?: Profile };
  profile: { user: Profile };
  'session-ended': { reason: 'logout' | 'password-changed' };
}
export type EventName = keyof EventMap;
export type ServerEvent = {
  [K in EventName]: { ev: K } & EventMap[K];
}[EventName];

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
