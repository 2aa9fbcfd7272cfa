/**
 * The connection to a relay as an explicit state machine:
 *
 *   connecting ──▶ connected ──(lost, froze)──▶ reconnecting ──▶ connected ...
 *        │              │                             │
 *        └──────────────┴──── disconnect() ──▶ disconnected ── start() ──▶ connecting
 *                       close() from any state ──▶ closed (final)
 *
 * Every transition goes through `setState`, which emits one `state` event with the state before
 * and the reason (StateReason). "connected" means a
 * link is up, the relay said hello on it, and the owner's handshake (resume, rejoin rooms) is
 * done: only then do ordinary requests go out.
 *
 * Under the states, a connection is a series of links (./transports/link.ts), each over the
 * transport the ladder picks (./transports/ladder.ts), and a new link is always made before the
 * old one is broken, so that the relay counts the user online throughout and nobody sees them
 * leave and come back:
 * - Rotation: the link's byte budget is nearly spent (./protocol/budget.ts), or it reached the age
 *   at which this network freezes connections, or a lower rung of the ladder probes WebSocket. A
 *   new link opens, says hello and runs the handshake (kind `rotate`: member lists are known),
 *   then takes over; the old one delivers the replies it owes, then closes. State stays "connected".
 * - Freeze: the link stops delivering while a reply is due (FREEZE_MS), as censoring networks do
 *   without closing anything. Its requests fail with NETWORK (the outbox sends again), state goes
 *   to "reconnecting", a new link opens at once; the frozen one stays open until the new one is up.
 * - Loss: the relay closed the link. Reconnect after a backoff (at once when the budget was spent).
 */
import { Emitter } from './emitter.ts';
import { SovError } from './errors.ts';
import { reconnectDelay } from './backoff.ts';
import { frameCost, rotationPoint } from './protocol/budget.ts';
import { CLOSE_CODES, LIMITS } from './protocol/frames.ts';
import type { RequestMap, RequestType, ResultMap, ServerEvent } from './protocol/frames.ts';
import { loadHttpTransport } from './lazy.ts';
import { relayFrameOf, resultOf } from './protocol/relay-frames.ts';
import type { RelayHello } from './protocol/relay-frames.ts';
import { TransportLadder } from './transports/ladder.ts';
import type { TransportChoice } from './transports/ladder.ts';
import type { Link, LinkOpener, TransportName } from './transports/link.ts';
import { webSocketOpener } from './transports/websocket.ts';
import type { WebSocketConstructor } from './transports/websocket.ts';

export type {
  WebSocketConstructor,
  WebSocketLike,
} from './transports/websocket.ts';
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';

/**
 * Why the state changed:
 * - `user`: the app called for it (connect, login, register, resume, close);
 * - `ready`: a link is up, the relay said hello, the session and rooms are restored;
 * - `network-lost`: the relay or the network closed the link in use;
 * - `frozen`: the link in use stopped delivering while a reply was due (FREEZE_MS);
 * - `rotation`: the relay closed a link whose byte budget was spent before a new one took over
 *   (a new one opens at once);
 * - `attempt-failed`: a connection attempt got no answer, was refused, or its handshake failed
 *   (the next one waits a backoff);
 * - `wrong-relay`: the front door led to another relay than the session's, and is left for the next.
 */
export type StateReason = 'user' | 'ready' | 'network-lost' | 'frozen' | 'rotation' | 'attempt-failed' | 'wrong-relay';

/** The `state` event: the new state, the one before it, and why. */
export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  reason: StateReason;
}

/**
 * Where each link goes, and what became of the attempt: the client's front doors
 * (./front-doors.ts), which move on to another address when one fails.
 */
export interface AttemptTarget {
  /** The front door to connect to now (`ws(s)://host/path`). */
  door(): string;
  /** How long an attempt may wait for the relay's hello before it is given up. */
  helloTimeoutMs(): number;
  /** The attempt reached "connected". */
  reached(): void;
  /** It ended before that: `silent` when given up for want of an answer, `error` when the handshake failed. */
  failed(silent: boolean, error?: SovError): void;
}

/** `connect`: a first link, or one after a loss or a freeze. `rotate`: it replaces a working link. */
export type HandshakeKind = 'connect' | 'rotate';

export interface ConnectionOptions {
  target: AttemptTarget;
  WebSocket?: WebSocketConstructor;
  /** Which transports to use (default `auto`: the ladder). */
  transport?: TransportChoice;
  /** How long a request may wait for its reply (and for the connection) before TIMEOUT. */
  requestTimeoutMs?: number;
  /** A link silent this long gets a ping (default 5 s), which it must answer within FREEZE_MS (or twice this, if shorter). */
  heartbeatMs?: number;
  /** Runs on every new link before it takes over. Its requests pass `{ handshake: true }`. */
  handshake(kind: HandshakeKind): Promise<void>;
}

export interface ConnectionEvents extends Record<string, unknown> {
  state: StateChange;
  event: ServerEvent;
  /** The transport of the link in use changed. */
  transport: TransportName;
  /**
   * A rotation's old link ended before the new one took over: events sent between the two (joins,
   * leaves) may have reached neither, so what the rotation's handshake took as known is not.
   */
  resync: null;
  /**
   * A frame from the relay broke the protocol and was refused (BAD_RELAY_FRAME, ./protocol/relay-frames.ts);
   * the request it answered, if any, fails with the same error.
   */
  error: SovError;
}

export interface RequestOptions<K extends RequestType = RequestType> {
  timeoutMs?: number;
  /** Send on the link whose handshake runs, before "connected" (only the handshake itself should). */
  handshake?: boolean;
  /** Runs with the result as the reply arrives, before the frames behind it (a resolved promise's callbacks run after them). */
  onReply?: (result: ResultMap[K]) => void;
}

/**
 * A link that delivers nothing for this long while a reply is due is frozen. Replies come within a
 * round trip or two (0.1-1.6 s on the slowest mobile networks we know); waiting for two missed
 * heartbeats, as before, cost 10-15 s of a frozen chat.
 */
export const FREEZE_MS = 3000;
/** A replaced link gets this long to deliver the replies it still owes. */
export const RETIRE_MS = 5000;

interface LinkState {
  link: Link;
  kind: HandshakeKind;
  tls: boolean;
  hello: RelayHello | null;
  /** Budget bytes the relay has spent on this link, counted as the relay counts them. */
  spent: number;
  openedAt: number;
  lastFrameAt: number;
  /**
   * Since when a reply is due and nothing has arrived (null: nothing due). A request that times
   * out does not reset it: a ping unanswered for its whole timeout is a freeze, not a fresh start.
   */
  dueSince: number | null;
  /** The link got a fresh path (Link.unstick) in this stall already. */
  unstuck: boolean;
  /** Frozen: kept open, whatever it still delivers, until a new link is up (the relay counts the user online through it). */
  held: boolean;
  /** A rotation whose old link ended first: see the `resync` event. */
  resync: boolean;
  /** Requests sent on it and not answered yet: id → when sent. */
  awaiting: Map<number, number>;
  helloTimer: ReturnType<typeof setTimeout> | undefined;
}

interface Pending {
  /** Checks a successful reply's result for the request it answers (`check`), then resolves with it (or rejects, refused). */
  settle(result: unknown): void;
  reject(error: SovError): void;
  timer: ReturnType<typeof setTimeout>;
  link: LinkState;
}

const utf8 = new TextEncoder();

export class Connection extends Emitter<ConnectionEvents> {
  state: ConnectionState = 'disconnected';
  /** The link that serves requests, once connected. */
  private active: LinkState | null = null;
  /** The link being made: it takes over once its handshake is done. */
  private incoming: LinkState | null = null;
  /** The link whose handshake runs now (handshake requests go to it). */
  private handshaking: LinkState | null = null;
  /** Replaced links still owed replies, and frozen ones kept open until a new link is up. */
  private readonly leaving = new Set<LinkState>();
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Set<() => void>();
  private readonly linkChanges = new Set<() => void>();
  private readonly ladder: TransportLadder;
  private readonly openers = new Map<TransportName, LinkOpener>();
  private opening = false;
  private announced: TransportName | null = null;
  private attempt = 0;
  private nextId = 1;
  /** A rotation that failed is tried again only after this (a backoff, so a broken door is not hammered). */
  private nextRotationAt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private readonly requestTimeoutMs: number;
  private readonly heartbeatMs: number;
  private readonly freezeMs: number;
  private readonly onOnline = (): void => this.reconnectNow();

  constructor(private readonly options: ConnectionOptions) {
    super();
    this.openers.set('websocket', webSocketOpener(options.WebSocket));
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
    this.heartbeatMs = options.heartbeatMs ?? 5_000;
    // Scaled down with a shorter heartbeat (tests that compress a network's minutes into seconds).
    this.freezeMs = Math.min(FREEZE_MS, 2 * this.heartbeatMs);
    this.ladder = new TransportLadder(options.transport, 2 * this.heartbeatMs);
  }

  /** The relay's hello on the link being handshaken, else on the one in use: protocol version and limits. */
  get hello(): RelayHello | null {
    return (this.handshaking ?? this.active ?? this.incoming)?.hello ?? null;
  }

  /** The transport in use, or about to be tried. */
  get transport(): TransportName {
    return this.active?.link.transport ?? this.ladder.current;
  }

  /** Starts connecting (from "disconnected"); reconnects on its own from then on. */
  start(reason: StateReason = 'user'): void {
    if (this.state !== 'disconnected') return;
    globalThis.addEventListener?.('online', this.onOnline);
    this.setState('connecting', reason);
    this.watchdog = setInterval(() => this.watch(), Math.min(1000, this.heartbeatMs / 2));
    this.openLink('connect');
  }

  /** Drops the connection and stays offline until `start()`. */
  disconnect(reason: StateReason = 'user'): void {
    if (this.state === 'closed' || this.state === 'disconnected') return;
    this.setState('disconnected', reason);
    this.teardown(new SovError('NETWORK', 'Disconnected.'));
  }

  /** Final: rejects everything pending with CLOSED. */
  close(): void {
    if (this.state === 'closed') return;
    this.setState('closed', 'user');
    this.teardown(new SovError('CLOSED'));
    for (const wake of [...this.waiters]) wake();
  }

  /** Skips the backoff wait (the browser says the network is back, or a test wants it now). */
  reconnectNow(): void {
    if (this.state !== 'reconnecting' || !this.reconnectTimer) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.openLink('connect');
  }

  /** Sends a request; waits for the connection if it is not up yet, within the timeout. */
  async request<K extends RequestType>(
    type: K,
    fields: RequestMap[K],
    options: RequestOptions<K> = {},
  ): Promise<ResultMap[K]> {
    const deadline = Date.now() + (options.timeoutMs ?? this.requestTimeoutMs);
    if (!options.handshake) {
      await this.whenConnected(deadline);
      // Past its rotation point a link keeps what is left of its budget for what the relay sends
      // unasked; a reply (a page is a third of a budget) waits for the link being made.
      while (
        this.incoming &&
        this.active &&
        this.active.spent >= rotationPoint(this.active.hello?.limits.connectionBudget ?? 0)
      ) {
        if (Date.now() >= deadline) throw new SovError('TIMEOUT');
        await this.linkChange(deadline);
      }
    }
    // A handshake request outside a handshake (resume() on a connection made before the session was known) goes to the link in use.
    const link = options.handshake ? (this.handshaking ?? this.active) : this.active;
    if (!link) throw new SovError('NETWORK');
    return this.send(link, type, fields, deadline, options.onReply);
  }

  private send<K extends RequestType>(
    link: LinkState,
    type: K,
    fields: RequestMap[K],
    deadline: number,
    onReply?: (result: ResultMap[K]) => void,
  ): Promise<ResultMap[K]> {
    const id = this.nextId++;
    const frame = JSON.stringify({ id, type, ...fields });
    const limit = link.hello?.limits.maxFrameBytes ?? LIMITS.maxFrameBytes;
    // The relay drops a connection that sends an oversized frame; refuse it here instead.
    if (utf8.encode(frame).length > limit)
      return Promise.reject(new SovError('INVALID_INPUT', 'The request is too large to send.'));
    return new Promise<ResultMap[K]>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.pending.delete(id);
          link.awaiting.delete(id);
          reject(new SovError('TIMEOUT'));
        },
        Math.max(1, deadline - Date.now()),
      );
      const settle = (result: unknown): void => {
        const value = resultOf(type, result);
        if (value instanceof SovError) {
          this.emit('error', value);
          return reject(value);
        }
        try {
          onReply?.(value);
        } catch {
          // A reply the caller cannot take is the caller's to find when the promise resolves.
        }
        resolve(value);
      };
      this.pending.set(id, { settle, reject, timer, link });
      link.awaiting.set(id, Date.now());
      link.dueSince ??= Date.now();
      link.link.send(frame);
    });
  }

  /** Resolves when a link takes over or a rotation fails, or at the deadline (then the request times out unsent). */
  private linkChange(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(wake, Math.max(1, deadline - Date.now()));
      const changes = this.linkChanges;
      function wake(): void {
        clearTimeout(timer);
        changes.delete(wake);
        resolve();
      }
      changes.add(wake);
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
      const timer = setTimeout(
        () => {
          this.waiters.delete(wake);
          reject(new SovError(this.state === 'reconnecting' || this.state === 'connecting' ? 'NETWORK' : 'TIMEOUT'));
        },
        Math.max(1, deadline - Date.now()),
      );
      this.waiters.add(wake);
    });
  }

  private setState(next: ConnectionState, reason: StateReason): void {
    if (this.state === next) return;
    const previous = this.state;
    this.state = next;
    this.emit('state', { state: next, previous, reason });
    if (next === 'connected' || next === 'disconnected') for (const wake of [...this.waiters]) wake();
  }

  // ## Links

  private openLink(kind: HandshakeKind, transport: TransportName = this.ladder.current): void {
    if (this.incoming || this.opening) return;
    const opener = this.openers.get(transport);
    if (!opener) {
      this.opening = true;
      void loadHttpTransport().then(
        ({ httpOpener }) => {
          this.opening = false;
          this.openers.set('http-stream', httpOpener(false));
          this.openers.set('http-poll', httpOpener(true));
          if (this.state !== 'closed' && this.state !== 'disconnected') this.openLink(kind, transport);
        },
        () => {
          this.opening = false;
          if (!this.active) this.scheduleReconnect();
        },
      );
      return;
    }
    const door = this.options.target.door();
    const now = Date.now();
    const state: LinkState = {
      link: null!,
      kind,
      tls: door.startsWith('wss:'),
      hello: null,
      spent: 0,
      openedAt: now,
      lastFrameAt: now,
      dueSince: null,
      unstuck: false,
      held: false,
      resync: false,
      awaiting: new Map(),
      helloTimer: undefined,
    };
    try {
      state.link = opener(door, {
        frame: (text) => this.receive(state, text),
        closed: (code) => this.linkClosed(state, code),
      });
    } catch {
      // The URL or the environment refused it at once (a WebSocket constructor throws on a bad URL).
      state.link = {
        transport,
        send: () => undefined,
        close: () => undefined,
        unstick: () => false,
      };
      this.attemptFailed(state, false);
      return;
    }
    this.incoming = state;
    // A black-holed address answers nothing; the operating system's connect timeout takes minutes.
    state.helloTimer = setTimeout(
      () => this.incoming === state && !state.hello && this.attemptFailed(state, true),
      this.options.target.helloTimeoutMs(),
    );
  }

  private receive(link: LinkState, text: string): void {
    if (!this.stillReading(link)) return;
    link.lastFrameAt = Date.now();
    link.unstuck = false;
    const cost = link.link.transport === 'websocket' ? frameCost(utf8.encode(text).length, link.tls) : 0;
    link.spent += cost;
    this.readFrame(link, text, cost);
  }

  /** The link is in use, being made, or finishing what it owes: what it delivers is still read. */
  private stillReading(link: LinkState): boolean {
    return link === this.active || link === this.incoming || this.leaving.has(link);
  }

  private readFrame(link: LinkState, text: string, cost: number): void {
    const frame = relayFrameOf(text);
    if ('hello' in frame) this.greeted(link, frame.hello, cost);
    else if ('event' in frame) this.dispatch(link, frame.event);
    else if ('re' in frame) {
      if ('refused' in frame) this.emit('error', frame.refused);
      this.settle(frame.re, frame);
      link.dueSince = link.awaiting.size > 0 ? link.lastFrameAt : null;
      if (this.leaving.has(link) && !link.held && link.awaiting.size === 0) this.closeLink(link);
    }
    this.rotateIfSpent(link);
  }

  private greeted(link: LinkState, hello: RelayHello, cost: number): void {
    if (link.hello || link !== this.incoming) return;
    link.hello = hello;
    // The relay's count so far (TLS handshake, upgrade answer), then the hello itself.
    link.spent = (hello.budgetSpent ?? 0) + cost;
    void this.runHandshake(link);
  }

  private dispatch(link: LinkState, event: ServerEvent): void {
    // Events from the link in use and the one being made: the old one may be cut off before the
    // new one takes over, and what happened meanwhile came only on the new one. From an old link
    // still delivering, what it alone may bring: messages (kept once, by sequence number) and
    // joins and leaves (numbered too: ../member-list.ts).
    if (
      link === this.active ||
      link === this.incoming ||
      event.ev === 'message' ||
      event.ev === 'join' ||
      event.ev === 'leave'
    ) {
      this.emit('event', event);
    }
  }

  private settle(re: number | null, outcome: { result: unknown } | { error: SovError } | { refused: SovError }): void {
    const pending = re === null ? undefined : this.pending.get(re);
    if (!pending || re === null) return;
    this.pending.delete(re);
    pending.link.awaiting.delete(re);
    clearTimeout(pending.timer);
    if ('result' in outcome) pending.settle(outcome.result);
    else pending.reject('error' in outcome ? outcome.error : outcome.refused);
  }

  private async runHandshake(link: LinkState): Promise<void> {
    if (this.handshaking) return;
    this.handshaking = link;
    try {
      await this.options.handshake(link.kind);
    } catch (error) {
      // The handshake handles what it can (an ended session, say); what is left is a broken link,
      // or an address that leads to another relay (WRONG_RELAY), which the target then leaves.
      if (link === this.incoming) this.attemptFailed(link, false, error instanceof SovError ? error : undefined);
      return;
    } finally {
      if (this.handshaking === link) this.handshaking = null;
    }
    if (link !== this.incoming || this.state === 'closed' || this.state === 'disconnected') return;
    this.promote(link);
  }

  /** The new link takes over; the one it replaces (if any) finishes what it owes, then closes. */
  private promote(link: LinkState): void {
    clearTimeout(link.helloTimer);
    const previous = this.active;
    this.incoming = null;
    this.active = link;
    for (const leaving of [...this.leaving]) if (leaving.held || leaving.awaiting.size === 0) this.closeLink(leaving);
    if (previous) this.retire(previous);
    this.attempt = 0;
    const transport = link.link.transport;
    if (transport === 'websocket' && previous && previous.link.transport !== 'websocket') this.ladder.climbed();
    this.ladder.reached(transport);
    this.options.target.reached();
    this.setState('connected', 'ready');
    for (const wake of [...this.linkChanges]) wake();
    if (link.resync && link.kind === 'rotate') this.emit('resync', null);
    if (transport !== this.announced) {
      this.announced = transport;
      this.emit('transport', transport);
    }
  }

  private retire(link: LinkState): void {
    if (link.awaiting.size === 0) return this.closeLink(link);
    this.leaving.add(link);
    setTimeout(() => this.leaving.has(link) && this.closeLink(link), RETIRE_MS);
  }

  private closeLink(link: LinkState): void {
    this.leaving.delete(link);
    clearTimeout(link.helloTimer);
    link.link.close();
    this.rejectPendingOf(link, new SovError('NETWORK', 'The connection to the relay was lost.'));
  }

  /** The link ended on its own (the relay closed it, or its transport gave up). */
  private linkClosed(link: LinkState, code: number | null): void {
    if (this.leaving.has(link)) return this.closeLink(link);
    if (link === this.incoming) return this.attemptFailed(link, false);
    if (link !== this.active) return;
    this.active = null;
    if (this.incoming) this.incoming.resync = true;
    this.closeLink(link);
    if (this.state === 'closed' || this.state === 'disconnected') return;
    const spent = code === CLOSE_CODES.BUDGET_SPENT;
    this.setState('reconnecting', spent ? 'rotation' : 'network-lost');
    // A spent budget is no failure: the relay asks for the next connection, so make it now.
    if (spent) this.openLink('connect');
    else if (!this.incoming) this.scheduleReconnect();
  }

  /** A link that was being made failed: before its hello (`silent` when nothing answered), or in its handshake. */
  private attemptFailed(link: LinkState, silent: boolean, error?: SovError): void {
    if (this.incoming === link) this.incoming = null;
    this.closeLink(link);
    if (this.state === 'closed' || this.state === 'disconnected') return;
    if (!link.hello) this.ladder.openFailed(link.link.transport);
    if (this.active) {
      // A rotation or a probe: the working link carries on, and the next try waits a while.
      this.nextRotationAt = Date.now() + reconnectDelay(this.attempt++);
      for (const wake of [...this.linkChanges]) wake();
      return;
    }
    this.options.target.failed(silent, error);
    this.setState('reconnecting', 'attempt-failed');
    this.scheduleReconnect();
  }

  /** The link in use stopped delivering: keep it open (the relay still counts the user online) until a new one is up. */
  private froze(link: LinkState): void {
    // It froze after its last frame: the age to stay under is at most that.
    this.ladder.froze(link.link.transport, link.lastFrameAt - link.openedAt);
    this.active = null;
    this.rejectPendingOf(link, new SovError('NETWORK', 'The connection to the relay froze.'));
    link.held = true;
    this.leaving.add(link);
    this.setState('reconnecting', 'frozen');
    this.openLink('connect');
  }

  private rotateIfSpent(link: LinkState): void {
    const budget = link.hello?.limits.connectionBudget ?? 0;
    if (
      link === this.active &&
      link.link.transport === 'websocket' &&
      link.spent >= rotationPoint(budget) &&
      Date.now() >= this.nextRotationAt
    )
      this.openLink('rotate');
  }

  /** Twice a second or so: freezes, heartbeats, links too old for this network, probes up the ladder. */
  private watch(): void {
    const now = Date.now();
    for (const link of [this.incoming, this.active]) {
      if (!link || link.dueSince === null || now - Math.max(link.dueSince, link.lastFrameAt) <= this.freezeMs) continue;
      // A fresh path first where the transport has one (a new HTTP read), once per stall.
      if (!link.unstuck && link.link.unstick()) {
        link.unstuck = true;
        link.dueSince = now;
        continue;
      }
      if (link === this.incoming) this.attemptFailed(link, true);
      else this.froze(link);
    }
    const active = this.active;
    if (!active || this.state !== 'connected') return;
    if (active.dueSince === null && now - active.lastFrameAt >= this.heartbeatMs) {
      this.send(active, 'ping', {}, now + this.heartbeatMs + this.freezeMs).catch(() => undefined);
    }
    if (this.incoming || this.opening || now < this.nextRotationAt) return;
    if (this.ladder.probeDue()) {
      this.ladder.probing();
      this.openLink('rotate', 'websocket');
    } else if (this.ladder.ageLimitMs !== null && now - active.openedAt >= this.ladder.ageLimitMs) {
      this.openLink('rotate');
    }
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(
      () => {
        this.reconnectTimer = null;
        if (this.state === 'reconnecting' || this.state === 'connecting') this.openLink('connect');
      },
      reconnectDelay(this.attempt++),
    );
  }

  private teardown(reason: SovError): void {
    globalThis.removeEventListener?.('online', this.onOnline);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.reconnectTimer = this.watchdog = null;
    for (const link of [this.active, this.incoming, ...this.leaving]) if (link) this.closeLink(link);
    this.active = this.incoming = this.handshaking = null;
    this.announced = null;
    for (const wake of [...this.linkChanges]) wake();
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(reason);
    }
  }

  private rejectPendingOf(link: LinkState, reason: SovError): void {
    for (const id of link.awaiting.keys()) {
      const pending = this.pending.get(id);
      if (!pending) continue;
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(reason);
    }
    link.awaiting.clear();
  }
}
