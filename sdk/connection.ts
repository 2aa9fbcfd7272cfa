/**
 * The connection to a relay as an explicit state machine:
 *
 *   connecting ──▶ connected ──(lost)──▶ reconnecting ──▶ connected ...
 *        │              │                      │
 *        └──────────────┴── disconnect() ──▶ disconnected ── start() ──▶ connecting
 *                       close() from any state ──▶ closed (final)
 *
 * Every transition goes through `setState`, which emits one `state` event. "connected" means the
 * socket is open, the relay said hello, and the owner's handshake (resume, rejoin rooms) is done:
 * only then do ordinary requests go out. Heartbeats catch connections that a censoring network
 * froze without closing, which would otherwise look healthy for minutes.
 */
import { Emitter } from './emitter.ts';
import { SovError } from './errors.ts';
import type { WireError } from './errors.ts';
import { reconnectDelay } from './backoff.ts';
import { LIMITS } from './protocol/frames.ts';
import type { EventMap, RequestMap, RequestType, ResultMap, ServerEvent } from './protocol/frames.ts';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';

/** The subset of the WebSocket API the SDK uses; browsers' WebSocket and the `ws` package both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/**
 * Where each connection attempt goes, and what became of it: the client's front doors
 * (./front-doors.ts), which move on to another address when one fails.
 */
export interface AttemptTarget {
  /** The WebSocket URL to connect to now. */
  url(): string;
  /** How long the attempt may wait for the relay's hello before it is given up. */
  helloTimeoutMs(): number;
  /** The attempt reached "connected". */
  reached(): void;
  /** It ended before that: `silent` when given up for want of an answer, `error` when the handshake failed. */
  failed(silent: boolean, error?: SovError): void;
}

export interface ConnectionOptions {
  target: AttemptTarget;
  WebSocket?: WebSocketConstructor;
  /** How long a request may wait for its reply (and for the connection) before TIMEOUT. */
  requestTimeoutMs?: number;
  /** Ping interval (default 5 s); a ping unanswered this long, or silence for twice it, means a dead connection. */
  heartbeatMs?: number;
  /** Runs after every (re)connect, before the state becomes "connected". Its requests pass `{ handshake: true }`. */
  handshake(): Promise<void>;
}

export interface ConnectionEvents extends Record<string, unknown> {
  state: ConnectionState;
  event: ServerEvent;
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: SovError): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface RequestOptions {
  timeoutMs?: number;
  /** Send while the handshake runs (only the handshake itself should). */
  handshake?: boolean;
}

const OPEN = 1;

export class Connection extends Emitter<ConnectionEvents> {
  state: ConnectionState = 'disconnected';
  /** The relay's hello on the current connection: protocol version and limits. */
  hello: EventMap['hello'] | null = null;
  private socket: WebSocketLike | null = null;
  private handshaking = false;
  private attempt = 0;
  private nextId = 1;
  private lastFrameAt = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Set<() => void>();
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private helloTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly WebSocketClass: WebSocketConstructor;
  private readonly requestTimeoutMs: number;
  private readonly heartbeatMs: number;
  private readonly onOnline = (): void => this.reconnectNow();

  constructor(private readonly options: ConnectionOptions) {
    super();
    const fallback = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    const WebSocketClass = options.WebSocket ?? fallback;
    if (!WebSocketClass) throw new SovError('INVALID_INPUT', 'No WebSocket here: pass one as the WebSocket option (e.g. the ws package).');
    this.WebSocketClass = WebSocketClass;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
    this.heartbeatMs = options.heartbeatMs ?? 5_000;
  }

  /** Starts connecting (from "disconnected"); reconnects on its own from then on. */
  start(): void {
    if (this.state !== 'disconnected') return;
    globalThis.addEventListener?.('online', this.onOnline);
    this.setState('connecting');
    this.open();
  }

  /** Drops the connection and stays offline until `start()`. */
  disconnect(): void {
    if (this.state === 'closed' || this.state === 'disconnected') return;
    this.setState('disconnected');
    this.teardown(new SovError('NETWORK', 'Disconnected.'));
  }

  /** Final: rejects everything pending with CLOSED. */
  close(): void {
    if (this.state === 'closed') return;
    this.setState('closed');
    this.teardown(new SovError('CLOSED'));
    for (const wake of [...this.waiters]) wake();
  }

  /** Skips the backoff wait (the browser says the network is back, or a test wants it now). */
  reconnectNow(): void {
    if (this.state !== 'reconnecting') return;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.open();
  }

  /** Sends a request; waits for the connection if it is not up yet, within the timeout. */
  async request<K extends RequestType>(type: K, fields: RequestMap[K], options: RequestOptions = {}): Promise<ResultMap[K]> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    if (!options.handshake) await this.whenConnected(deadline);
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) throw new SovError('NETWORK');
    const id = this.nextId++;
    const frame = JSON.stringify({ id, type, ...fields });
    const limit = this.hello?.limits.maxFrameBytes ?? LIMITS.maxFrameBytes;
    // The relay drops a connection that sends an oversized frame; refuse it here instead.
    if (new TextEncoder().encode(frame).length > limit) throw new SovError('INVALID_INPUT', 'The request is too large to send.');
    return new Promise<ResultMap[K]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SovError('TIMEOUT'));
      }, Math.max(1, deadline - Date.now()));
      this.pending.set(id, { resolve: resolve as (result: unknown) => void, reject, timer });
      socket.send(frame);
    });
  }

  private whenConnected(deadline: number): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(new SovError('CLOSED'));
    if (this.state === 'disconnected') return Promise.reject(new SovError('NETWORK', 'Not connected.'));
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        if (this.state === 'connected') resolve();
        else reject(new SovError(this.state === 'closed' ? 'CLOSED' : 'NETWORK'));
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new SovError(this.state === 'reconnecting' || this.state === 'connecting' ? 'NETWORK' : 'TIMEOUT'));
      }, Math.max(1, deadline - Date.now()));
      this.waiters.add(wake);
    });
  }

  private setState(next: ConnectionState): void {
    if (this.state === next) return;
    this.state = next;
    this.emit('state', next);
    if (next === 'connected' || next === 'disconnected') for (const wake of [...this.waiters]) wake();
  }

  private open(): void {
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketClass(this.options.target.url());
    } catch {
      this.lost(false);
      return;
    }
    this.socket = socket;
    this.hello = null;
    this.lastFrameAt = Date.now();
    // A black-holed address answers nothing; waiting for the heartbeat to notice costs 10-15 s.
    this.helloTimer = setTimeout(() => socket === this.socket && !this.hello && this.drop(true), this.options.target.helloTimeoutMs());
    socket.onmessage = (event) => this.receive(socket, event.data);
    socket.onclose = () => {
      if (this.socket === socket) this.lost(false);
    };
    socket.onerror = () => undefined;
    this.startHeartbeat();
  }

  private receive(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket) return;
    this.lastFrameAt = Date.now();
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(String(data));
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null) return;
    if ('re' in frame) {
      const pending = typeof frame.re === 'number' ? this.pending.get(frame.re) : undefined;
      if (!pending) return;
      this.pending.delete(frame.re as number);
      clearTimeout(pending.timer);
      if (frame.ok === true) pending.resolve(frame.result);
      else pending.reject(SovError.fromWire((frame.error ?? { code: 'INTERNAL', message: 'Malformed error reply.' }) as WireError));
      return;
    }
    if (typeof frame.ev !== 'string') return;
    if (frame.ev === 'hello') {
      this.hello = frame as unknown as EventMap['hello'];
      void this.runHandshake(socket);
      return;
    }
    this.emit('event', frame as unknown as ServerEvent);
  }

  private async runHandshake(socket: WebSocketLike): Promise<void> {
    if (this.handshaking) return;
    this.handshaking = true;
    try {
      await this.options.handshake();
    } catch (error) {
      // The handshake handles what it can (an ended session, say); what is left is a broken link,
      // or an address that leads to another relay (WRONG_RELAY), which the target then leaves.
      if (socket === this.socket) this.drop(false, error as SovError);
      return;
    } finally {
      this.handshaking = false;
    }
    if (socket !== this.socket || this.state === 'closed' || this.state === 'disconnected') return;
    this.attempt = 0;
    this.options.target.reached();
    this.setState('connected');
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      if (!this.socket) return;
      // Silent for two beats: a frozen flow, or a connection attempt that hangs (a blackholed
      // SYN waits minutes for the operating system's timeout). Either way, start over now.
      if (Date.now() - this.lastFrameAt > this.heartbeatMs * 2) {
        this.drop(true);
        return;
      }
      if (this.socket.readyState !== OPEN) return;
      this.request('ping', {}, { timeoutMs: this.heartbeatMs, handshake: true }).catch(() => undefined);
    }, this.heartbeatMs);
  }

  /**
   * Abandons the current socket at once (no waiting for a close handshake a frozen network never
   * delivers). `silent` and `error` say why, for the attempt target if it never got to "connected".
   */
  private drop(silent: boolean, error?: SovError): void {
    const socket = this.socket;
    if (!socket) return;
    this.detach(socket);
    this.lost(silent, error);
  }

  private detach(socket: WebSocketLike): void {
    socket.onopen = socket.onmessage = socket.onclose = null;
    // Not null: terminating a socket that is still connecting makes `ws` (Node) emit an error,
    // and an error without a listener ends a Node process.
    socket.onerror = () => undefined;
    try {
      const terminate = (socket as { terminate?: () => void }).terminate;
      if (terminate) terminate.call(socket);
      else socket.close(4000, 'stalled');
    } catch {
      // Already closed.
    }
    if (this.socket === socket) {
      this.socket = null;
      clearTimeout(this.helloTimer);
    }
  }

  private lost(silent: boolean, error?: SovError): void {
    this.rejectPending(new SovError('NETWORK', 'The connection to the relay was lost.'));
    if (this.socket) this.detach(this.socket);
    if (this.state === 'closed' || this.state === 'disconnected') return;
    // An attempt that never got to "connected" counts against its address; a lost connection does not.
    if (this.state !== 'connected') this.options.target.failed(silent, error);
    this.setState('reconnecting');
    const delay = reconnectDelay(this.attempt++);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === 'reconnecting') this.open();
    }, delay);
  }

  private teardown(reason: SovError): void {
    globalThis.removeEventListener?.('online', this.onOnline);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.reconnectTimer = this.heartbeatTimer = null;
    if (this.socket) this.detach(this.socket);
    this.rejectPending(reason);
  }

  private rejectPending(reason: SovError): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(reason);
    }
  }
}
