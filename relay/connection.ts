/**
 * One client connection's state, kept as its peer's `data`, and its reply queue: every request
 * gets its reply even while the send buffer is full.
 */
import type { Peer } from './engine/engine.ts';
import type { Logger } from './logger.ts';
import { TokenBucket } from './rate-limit.ts';

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
  /** Replies held while the send buffer is over its limit, oldest first (sendReply). */
  queuedReplies: string[];
  queuedReplyBytes: number;
  /** Closes the connection if it has not logged in by then (server.ts LOGIN_DEADLINE_MS). */
  loginDeadline: ReturnType<typeof setTimeout> | null;
}

export type Socket = Peer<Connection>;

/** Replies waiting for a full send buffer to drain, per connection (see sendReply). */
const MAX_QUEUED_REPLY_BYTES = 4 * 1024 * 1024;

export function newConnection(ip: string, requestsPerSecond: number): Connection {
  return {
    ip,
    session: null,
    rooms: new Set(),
    bucket: new TokenBucket(requestsPerSecond, requestsPerSecond * 2),
    strikes: 0,
    sendQueue: Promise.resolve(),
    queuedReplies: [],
    queuedReplyBytes: 0,
    loginDeadline: null,
  };
}

/**
 * Every request gets its reply, even when the send buffer is over its limit (the engine would
 * drop the frame): it then waits in the connection's own queue, sent in order as the buffer
 * drains. Replies are small and one per request (rate limited), so the queue stays short; one
 * that still outgrows MAX_QUEUED_REPLY_BYTES belongs to a consumer that stopped reading.
 */
export function sendReply(ws: Socket, frame: string, log: Logger): void {
  const connection = ws.data;
  if (connection.queuedReplies.length === 0 && ws.send(frame)) return;
  connection.queuedReplies.push(frame);
  connection.queuedReplyBytes += frame.length;
  if (connection.queuedReplyBytes > MAX_QUEUED_REPLY_BYTES) {
    log('warn', 'slow consumer: replies piled up unread; closing it', {
      ip: connection.ip,
      queued: connection.queuedReplyBytes,
    });
    ws.terminate();
  }
}

/** The send buffer drained: queued replies go out, in order, while they fit. */
export function flushReplies(ws: Socket): void {
  const connection = ws.data;
  while (connection.queuedReplies.length > 0 && ws.send(connection.queuedReplies[0]!)) {
    connection.queuedReplyBytes -= connection.queuedReplies.shift()!.length;
  }
}

/** Forgets the connection's queued replies and timers once it has closed. */
export function releaseConnection(connection: Connection): void {
  if (connection.loginDeadline) clearTimeout(connection.loginDeadline);
  connection.queuedReplies = [];
  connection.queuedReplyBytes = 0;
}
