/**
 * A WebSocket to the relay under fuzzing that reads every frame and hands replies and events on.
 */
import WebSocket from 'ws';
import { EVENT_NAMES, type RequestId } from './protocol-promises.ts';
import { clip } from './specs.ts';

export interface ReplyFrame {
  re: RequestId | null;
  ok: boolean;
  result?: any;
  error?: {
    code: string;
    message: string;
    field?: string;
    retryAfterMs?: number;
    seq?: number;
  };
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

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export const reKey = (re: unknown): string => (re === null ? 'null' : `${typeof re}:${String(re)}`);

/** A WebSocket to the relay that reads every frame and hands replies and events on. */
export class Peer {
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
    const socket = new WebSocket(url, {
      localAddress,
      perMessageDeflate: false,
      maxPayload: 256 * 1024 * 1024,
    });
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
    } else
      this.onProblem(
        `the relay sent a frame that is neither a reply nor an event: ${clip(data.toString('utf8'), 100)}`,
      );
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
