/**
 * The HTTP transport: the WebSocket's frames, sessions and limits over plain HTTP requests, for
 * networks whose middleboxes drop WebSocket upgrades. The relay's handlers cannot tell the two
 * apart: an HTTP connection is a Peer like any other (frames.ts, handlers/).
 *
 *   POST /v1/http/open                 200 {"stream":ID}; the hello waits as frame 1
 *   GET  /v1/http/stream?ack=N         frames after N, then new ones as they come, one per line,
 *                                      `<n> <frame>\n`, until the response's byte budget is spent
 *   GET  /v1/http/poll?ack=N           the same, answered as soon as there is a frame (long polling)
 *   POST /v1/http/send                 request frames, one per line; 204 (replies come downstream)
 *   POST /v1/http/close                204; the connection ends as a WebSocket's would
 *
 * The stream id travels in the `sov-stream` header, never in a URL (proxies log URLs). It is 24
 * random bytes, and it is the connection: whoever holds it holds the connection's login, as
 * whoever holds a WebSocket does. A frame stays queued until a later request acknowledges it
 * (`ack`), so a response cut off by a frozen network loses nothing: the next one sends it again.
 */
import { isUtf8 } from 'node:buffer';
import crypto from 'node:crypto';
import { CLOSE_CODES, LIMITS } from '../sdk/protocol.ts';
import { STREAM_HEADER } from '../sdk/protocol/stream-lines.ts';
import type { Connection } from './connection.ts';
import type { HttpExchange, HttpReply, HttpRequestHead, HttpStream, Peer } from './engine/engine.ts';
import { TopicIndex } from './engine/topics.ts';
import type { Logger } from './logger.ts';

export const HTTP_TRANSPORT_PREFIX = '/v1/http/';
/** A reader waits this long for frames before its response ends empty (proxies cut idle responses near 60 s). */
const READ_WAIT_MS = 25_000;
/** A connection no request has touched for this long is gone (its client moved on or lost the id). */
const IDLE_MS = 60_000;
/** Frames queued unacknowledged past this belong to a client that stopped reading: cut it off, as a WebSocket's send buffer. */
const MAX_QUEUED_BYTES = 1024 * 1024;
/** Request frames in one `send` body: the WebSocket limit per frame, a few frames per request. */
const MAX_SEND_BODY_BYTES = 4 * LIMITS.maxFrameBytes;
/** What a streamed response's status line and headers cost, and each chunk's size line, against the budget. */
const RESPONSE_HEAD_BYTES = 400;
const CHUNK_OVERHEAD_BYTES = 8;
/** A long poll that has a frame waits this much for more before it answers, so a burst goes in one reply. */
const POLL_COALESCE_MS = 15;

interface QueuedFrame {
  n: number;
  line: string;
  bytes: number;
}

interface Reader {
  stream: HttpStream;
  /** Bytes this response may still carry (Infinity without a budget). */
  remaining: number;
  /** Long polling: answer once something was sent. */
  poll: boolean;
  timer: ReturnType<typeof setTimeout>;
  /** The queue index of the next frame to write. */
  next: number;
}

class HttpPeer implements Peer<Connection> {
  open = true;
  lastActive = Date.now();
  private queue: QueuedFrame[] = [];
  private queuedBytes = 0;
  private sent = 0;
  private reader: Reader | null = null;
  private readonly topicNames = new Set<string>();

  constructor(
    readonly id: string,
    readonly data: Connection,
    private readonly transport: HttpTransport,
  ) {}

  send(frame: string): boolean {
    if (!this.open) return false;
    const line = `${++this.sent} ${frame}\n`;
    const bytes = Buffer.byteLength(line);
    if (this.queuedBytes + bytes > MAX_QUEUED_BYTES) {
      this.transport.log('warn', 'slow consumer: frames piled up unread on the HTTP transport; closing it', {
        ip: this.data.ip,
        queued: this.queuedBytes,
      });
      this.terminate();
      return false;
    }
    this.queue.push({ n: this.sent, line, bytes });
    this.queuedBytes += bytes;
    this.pump();
    return true;
  }

  bufferedBytes(): number {
    return this.queuedBytes;
  }

  /** Each streamed response has a budget of its own, which the relay spends for the client. */
  budgetSpent(): number {
    return 0;
  }

  subscribe(topic: string): void {
    if (!this.open) return;
    this.topicNames.add(topic);
    this.transport.topics.add(topic, this);
  }

  unsubscribe(topic: string): void {
    this.topicNames.delete(topic);
    this.transport.topics.remove(topic, this);
  }

  /** The HTTP transport has no close frame to carry the code: the client learns it from the next request (404). */
  end(_code: number, _reason: string): void {
    this.terminate();
  }

  terminate(): void {
    if (!this.open) return;
    this.open = false;
    if (this.reader) this.finishRead();
    for (const topic of [...this.topicNames]) this.unsubscribe(topic);
    this.queue = [];
    this.queuedBytes = 0;
    this.transport.closed(this);
  }

  /** Frames up to `n` reached the client: forget them. */
  acknowledge(n: number): void {
    let drop = 0;
    while (drop < this.queue.length && this.queue[drop]!.n <= n) this.queuedBytes -= this.queue[drop++]!.bytes;
    if (drop > 0) this.queue.splice(0, drop);
  }

  /** A new reader takes over from any earlier one (its response ends): the client opened it because the old one stalled. */
  read(stream: HttpStream, budget: number, poll: boolean): void {
    if (this.reader) this.finishRead();
    const timer = setTimeout(() => this.finishRead(), READ_WAIT_MS);
    this.reader = {
      stream,
      remaining: budget > 0 ? budget - RESPONSE_HEAD_BYTES : Number.POSITIVE_INFINITY,
      poll,
      timer,
      next: 0,
    };
    stream.onAbort(() => {
      if (this.reader?.stream === stream) this.finishRead();
    });
    this.pump();
  }

  /** Writes what the reader may carry; ends its response when the budget is spent (or, polling, once it carried something). */
  private pump(): void {
    const reader = this.reader;
    if (!reader) return;
    let wrote = false;
    while (reader.next < this.queue.length) {
      const frame = this.queue[reader.next]!;
      const cost = frame.bytes + CHUNK_OVERHEAD_BYTES;
      // The first frame of a response goes whatever its size: a frame bigger than a whole budget
      // could otherwise never be delivered.
      if (cost > reader.remaining && (wrote || reader.next > 0)) {
        this.finishRead();
        return;
      }
      reader.stream.write(frame.line);
      reader.remaining -= cost;
      reader.next++;
      wrote = true;
    }
    if (reader.poll && reader.next > 0) {
      clearTimeout(reader.timer);
      reader.timer = setTimeout(() => this.finishRead(), POLL_COALESCE_MS);
    }
  }

  private finishRead(): void {
    const reader = this.reader;
    if (!reader) return;
    this.reader = null;
    clearTimeout(reader.timer);
    reader.stream.end();
    this.lastActive = Date.now();
  }
}

export interface HttpTransportHost {
  /** Admits a new connection (origin, per-address caps) or refuses it with this reply. */
  admit(head: HttpRequestHead): { accept: Connection } | { refuse: HttpReply };
  open(peer: Peer<Connection>): void;
  frame(peer: Peer<Connection>, text: string): void;
  close(peer: Peer<Connection>): void;
  /** CORS headers for this request's origin (none when it is not allowed). */
  cors(origin: string): Record<string, string> | null;
  /** Bytes one response may carry (the WebSocket's connection budget); 0: unlimited. */
  budget: number;
  log: Logger;
}

export class HttpTransport {
  readonly topics = new TopicIndex<HttpPeer>();
  private readonly peers = new Map<string, HttpPeer>();
  private readonly idleSweep: ReturnType<typeof setInterval>;

  constructor(private readonly host: HttpTransportHost) {
    this.idleSweep = setInterval(() => {
      const cutoff = Date.now() - IDLE_MS;
      for (const peer of this.peers.values()) if (peer.lastActive < cutoff) peer.terminate();
    }, IDLE_MS / 4);
    this.idleSweep.unref();
  }

  /**
   * With a budget every exchange gets a TCP connection of its own: a network that freezes each
   * connection after ~16 KB counts from its first byte, whatever requests it carried, and a
   * keep-alive connection that carried a hundred small send replies would freeze like a stream.
   */
  get closesEachConnection(): boolean {
    return this.host.budget > 0;
  }

  get log(): Logger {
    return this.host.log;
  }

  get size(): number {
    return this.peers.size;
  }

  publish(topic: string, frame: string): number {
    const members = this.topics.of(topic);
    for (const peer of members) peer.send(frame);
    return members.size;
  }

  /** Routes one request under HTTP_TRANSPORT_PREFIX. */
  handle(exchange: HttpExchange): void {
    const action = exchange.path.slice(HTTP_TRANSPORT_PREFIX.length);
    const cors = this.host.cors(exchange.header('origin'));
    if (cors === null) return exchange.respond(plain(403, 'origin not allowed', {}));
    if (exchange.method === 'OPTIONS') {
      return exchange.respond({
        status: 204,
        headers: {
          ...cors,
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': `${STREAM_HEADER}, content-type`,
          'access-control-max-age': '86400',
        },
        body: null,
      });
    }
    const route = `${exchange.method} ${action}`;
    if (route === 'POST open') return this.open(exchange, cors);
    const peer = this.peers.get(exchange.header(STREAM_HEADER));
    if (!peer || !peer.open) return exchange.respond(plain(404, 'no such stream: open a new one', cors));
    peer.lastActive = Date.now();
    switch (route) {
      case 'GET stream':
      case 'GET poll':
        return this.read(exchange, peer, cors, action === 'poll');
      case 'POST send':
        return this.receive(exchange, peer, cors);
      case 'POST close':
        peer.terminate();
        return exchange.respond({ status: 204, headers: cors, body: null });
      default:
        return exchange.respond(plain(404, 'not found', cors));
    }
  }

  close(): void {
    clearInterval(this.idleSweep);
    for (const peer of [...this.peers.values()]) peer.terminate();
  }

  /** @internal A peer ended: forget it and let the relay sign it out. */
  closed(peer: HttpPeer): void {
    if (this.peers.delete(peer.id)) this.host.close(peer);
  }

  private open(exchange: HttpExchange, cors: Record<string, string>): void {
    const decision = this.host.admit(exchange);
    if ('refuse' in decision) {
      const { refuse } = decision;
      return exchange.respond({
        ...refuse,
        headers: { ...refuse.headers, ...cors },
      });
    }
    // 24 random bytes (192 bits): the id is the connection, so it must not be guessable.
    const id = crypto.randomBytes(24).toString('base64url');
    const peer = new HttpPeer(id, decision.accept, this);
    this.peers.set(id, peer);
    this.host.open(peer);
    exchange.respond(
      {
        status: 200,
        headers: {
          ...cors,
          'content-type': 'application/json',
          'cache-control': 'no-store',
        },
        body: JSON.stringify({ stream: id }),
      },
      this.closesEachConnection,
    );
  }

  private read(exchange: HttpExchange, peer: HttpPeer, cors: Record<string, string>, poll: boolean): void {
    const ack = Number(new URLSearchParams(exchange.query).get('ack') ?? '0');
    if (Number.isSafeInteger(ack) && ack > 0) peer.acknowledge(ack);
    const stream = exchange.stream(200, {
      ...cors,
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      // nginx buffers proxied responses unless told not to; a buffered stream delivers nothing.
      'x-accel-buffering': 'no',
      ...(this.closesEachConnection ? { connection: 'close' } : {}),
    });
    peer.read(stream, this.host.budget, poll);
  }

  private receive(exchange: HttpExchange, peer: HttpPeer, cors: Record<string, string>): void {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let refused = false;
    exchange.onBody((chunk, last) => {
      if (refused) return;
      bytes += chunk.length;
      if (bytes > MAX_SEND_BODY_BYTES) {
        refused = true;
        exchange.respond(plain(413, 'too many bytes in one send', cors), true);
        return;
      }
      chunks.push(chunk);
      if (!last) return;
      const body = Buffer.concat(chunks);
      exchange.respond({ status: 204, headers: cors, body: null }, this.closesEachConnection);
      if (!isUtf8(body)) {
        peer.end(CLOSE_CODES.NOT_UTF8, 'frames must be UTF-8');
        return;
      }
      // Every frame as the WebSocket would have read it, with its limits (frames.ts).
      for (const line of body.toString('utf8').split('\n')) {
        if (line === '') continue;
        if (Buffer.byteLength(line) > LIMITS.maxFrameBytes) {
          peer.end(CLOSE_CODES.TOO_BIG, 'frame too big');
          return;
        }
        this.host.frame(peer, line);
      }
    });
  }
}

function plain(status: number, text: string, cors: Record<string, string>): HttpReply {
  return {
    status,
    headers: { ...cors, 'content-type': 'text/plain; charset=utf-8' },
    body: text,
  };
}
