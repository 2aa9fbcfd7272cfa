/**
 * The HTTP transport, for networks whose middleboxes drop WebSocket upgrades: the same frames over
 * plain requests (PROTOCOL.md, "HTTP transport"). Frames from the relay come down a streamed GET
 * (`http-stream`), or, where a proxy holds streamed responses back, in answers to long polls
 * (`http-poll`); frames to the relay go up in POSTs, one at a time so that they arrive in order.
 *
 * The relay ends each read when its byte budget is spent, and with a budget answers every request
 * with `Connection: close`, so no TCP connection carries more than a budget: a network that freezes
 * connections after ~16 KB never sees one that long. Every frame is numbered and stays queued at
 * the relay until a later read acknowledges it (`ack`), so a read cut off by a frozen network loses
 * nothing: the next read, on a new connection, starts after the last frame that arrived.
 *
 * This module is loaded only when the ladder (./ladder.ts) comes down to it: most clients never need it.
 */
import { openedStream } from '../protocol/relay-frames.ts';
import { STREAM_HEADER, takeStreamLines } from '../protocol/stream-lines.ts';
import { httpUrlOf } from '../front-doors.ts';
import type { Link, LinkListener, LinkOpener, TransportName } from './link.ts';

/** A send not answered in this long is sent again (the relay drops a repeated request's second reply). */
const SEND_TIMEOUT_MS = 10_000;
/** Requests that fail in a row before the link gives up: one may be a blip, three are a broken path. */
const FAILURES_TO_GIVE_UP = 3;
/** Frames per POST at most: the relay takes 256 KB in one send (4 frames of the 64 KB limit). */
const MAX_SEND_BATCH_BYTES = 192 * 1024;

type Fetch = typeof fetch;

/** Links that read by streaming (`poll` false) or by long polling (`poll` true). */
export function httpOpener(poll: boolean, fetchImpl?: Fetch): LinkOpener {
  const fetcher = fetchImpl ?? ((input, init) => globalThis.fetch(input, init));
  return (door, listener) => new HttpLink(`${httpUrlOf(door)}/v1/http/`, poll, listener, fetcher);
}

class HttpLink implements Link {
  readonly transport: TransportName;
  private stream: string | null = null;
  private ended = false;
  /** The number of the last frame delivered: the next read asks for what follows. */
  private acked = 0;
  private reading: AbortController | null = null;
  private posting: AbortController | null = null;
  private readonly outgoing: string[] = [];
  private readFailures = 0;

  constructor(
    private readonly base: string,
    private readonly poll: boolean,
    private readonly listener: LinkListener,
    private readonly fetch: Fetch,
  ) {
    this.transport = poll ? 'http-poll' : 'http-stream';
    void this.start();
  }

  send(frame: string): void {
    this.outgoing.push(frame);
    void this.flush();
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.reading?.abort();
    this.posting?.abort();
    // Tells the relay now rather than after its idle timeout; nothing waits for the answer.
    if (this.stream)
      this.fetch(`${this.base}close`, {
        method: 'POST',
        headers: { [STREAM_HEADER]: this.stream },
      }).catch(() => undefined);
  }

  unstick(): boolean {
    if (this.ended || !this.reading) return false;
    this.reading.abort();
    this.posting?.abort();
    return true;
  }

  private fail(): void {
    if (this.ended) return;
    this.close();
    this.listener.closed(null);
  }

  private async start(): Promise<void> {
    try {
      const response = await this.fetch(`${this.base}open`, { method: 'POST' });
      const stream = openedStream(await response.json());
      if (!response.ok || stream === null) throw new Error(`open: ${response.status}`);
      this.stream = stream;
    } catch {
      this.fail();
      return;
    }
    if (this.ended) {
      // Closed while opening: the relay has a connection that nobody will read.
      this.ended = false;
      this.close();
      return;
    }
    void this.flush();
    void this.readLoop(this.stream);
  }

  private async readLoop(stream: string): Promise<void> {
    while (!this.ended) {
      const reading = new AbortController();
      this.reading = reading;
      try {
        const response = await this.fetch(`${this.base}${this.poll ? 'poll' : 'stream'}?ack=${this.acked}`, {
          headers: { [STREAM_HEADER]: stream },
          signal: reading.signal,
        });
        // The relay no longer knows the stream: it ended the connection (as it closes a WebSocket).
        if (response.status === 404) return this.fail();
        if (!response.ok || !response.body) throw new Error(`read: ${response.status}`);
        await this.consume(response.body);
      } catch {
        if (this.ended) return;
        // unstick(): a new read at once, on a new TCP connection.
        if (reading.signal.aborted) continue;
        if (++this.readFailures >= FAILURES_TO_GIVE_UP) return this.fail();
        await new Promise((resolve) => setTimeout(resolve, 250 * this.readFailures));
      }
    }
  }

  /** Reads `<n> <frame>` lines; frames at or below `acked` were delivered by an earlier read. */
  private async consume(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done || this.ended) return;
      buffered = takeStreamLines(buffered + decoder.decode(value, { stream: true }), (n, frame) => {
        if (n <= this.acked) return true;
        this.acked = n;
        this.readFailures = 0;
        this.listener.frame(frame);
        return !this.ended;
      });
      if (this.ended) return;
    }
  }

  /** Sends what is queued, one POST at a time, so that frames reach the relay in order. */
  private async flush(): Promise<void> {
    if (this.posting || !this.stream || this.ended || this.outgoing.length === 0) return;
    let bytes = 0;
    let count = 0;
    while (
      count < this.outgoing.length &&
      (count === 0 || bytes + this.outgoing[count]!.length * 3 <= MAX_SEND_BATCH_BYTES)
    )
      bytes += this.outgoing[count++]!.length * 3;
    const body = this.outgoing.splice(0, count).join('\n');
    for (let failures = 0; !this.ended; ) {
      const posting = new AbortController();
      this.posting = posting;
      const timer = setTimeout(() => posting.abort(), SEND_TIMEOUT_MS);
      try {
        const response = await this.fetch(`${this.base}send`, {
          method: 'POST',
          headers: {
            [STREAM_HEADER]: this.stream,
            'content-type': 'text/plain;charset=UTF-8',
          },
          body,
          signal: posting.signal,
        });
        if (response.status === 404) return this.fail();
        if (!response.ok) throw new Error(`send: ${response.status}`);
        break;
      } catch {
        if (++failures >= FAILURES_TO_GIVE_UP) return this.fail();
      } finally {
        clearTimeout(timer);
      }
    }
    this.posting = null;
    void this.flush();
  }
}
