/**
 * The transport ladder: which transport the next connection uses. WebSocket first; down to
 * streamed HTTP when WebSocket cannot open (a middlebox drops the upgrade) or keeps freezing;
 * down to long polling when streamed reads keep freezing too (a proxy that holds a response until
 * it ends); and back up to WebSocket when a probe finds that it works again.
 *
 * It also learns how long connections live on this network: where they froze at some age
 * whatever their bytes, the next ones are replaced before that age (make before break).
 * Pure bookkeeping over a clock, tested in test/sdk/ladder.test.ts; ../connection.ts acts on it.
 */
import type { TransportName } from './link.ts';

/** `auto` climbs the ladder; the others pin one transport (`http`: streamed reads). */
export type TransportChoice = 'auto' | 'websocket' | 'http' | 'poll';

const RUNGS: readonly TransportName[] = ['websocket', 'http-stream', 'http-poll'];
const PINNED: Record<Exclude<TransportChoice, 'auto'>, TransportName> = {
  websocket: 'websocket',
  http: 'http-stream',
  poll: 'http-poll',
};

/**
 * WebSocket attempts in a row that end before the hello, before the ladder steps down: one may be
 * the network changing under a phone, two are an upgrade that does not get through.
 */
export const OPEN_FAILURES_TO_STEP_DOWN = 2;
/** Freezes of one transport within FREEZE_WINDOW_MS before the ladder steps down. */
export const FREEZES_TO_STEP_DOWN = 3;
export const FREEZE_WINDOW_MS = 120_000;
/** On a lower rung, the first probe of WebSocket comes after this; each failed probe doubles it, up to PROBE_MAX_MS. */
export const PROBE_AFTER_MS = 60_000;
export const PROBE_MAX_MS = 15 * 60_000;

export class TransportLadder {
  private rung: number;
  private openFailures = 0;
  private freezes: number[] = [];
  private probeDelay = PROBE_AFTER_MS;
  private probeAt = 0;
  /** Replace connections older than this (null: no limit learnt). */
  ageLimitMs: number | null = null;

  /**
   * @param minAgeLimitMs connections are never replaced younger than this for their age: a network
   *   that freezes them sooner cannot be outrun, and a stall mistaken for an age would cost a
   *   handshake every few seconds. The connection passes two heartbeats (10 s by default).
   */
  constructor(
    private readonly choice: TransportChoice = 'auto',
    private readonly minAgeLimitMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {
    this.rung = choice === 'auto' ? 0 : RUNGS.indexOf(PINNED[choice]);
  }

  /** The transport for the next connection. */
  get current(): TransportName {
    return RUNGS[this.rung]!;
  }

  /** A connection on `transport` ended before its hello. */
  openFailed(transport: TransportName): void {
    if (transport === 'websocket' && ++this.openFailures >= OPEN_FAILURES_TO_STEP_DOWN) this.stepDownFrom('websocket');
  }

  /** A connection on `transport` said hello and finished its handshake. */
  reached(transport: TransportName): void {
    if (transport === 'websocket') this.openFailures = 0;
    if (transport === this.current && this.rung === 0) this.probeDelay = PROBE_AFTER_MS;
  }

  /**
   * A connection on `transport` stopped delivering while a reply was due; the last frame came
   * `ageMs` after it opened. Connections that froze at an age are replaced younger from now on
   * (a network that freezes every connection 30 s after it opens: replaced at 80 % of the age
   * reached); repeated freezes step the ladder down.
   */
  froze(transport: TransportName, ageMs: number): void {
    const limit = Math.floor(ageMs * 0.8);
    if (limit >= this.minAgeLimitMs && (this.ageLimitMs === null || limit < this.ageLimitMs)) this.ageLimitMs = limit;
    const now = this.now();
    this.freezes = this.freezes.filter((at) => now - at < FREEZE_WINDOW_MS);
    this.freezes.push(now);
    if (this.freezes.length >= FREEZES_TO_STEP_DOWN) this.stepDownFrom(transport);
  }

  /** On a lower rung of an `auto` ladder: is it time to see whether WebSocket works again? */
  probeDue(): boolean {
    return this.choice === 'auto' && this.rung > 0 && this.now() >= this.probeAt;
  }

  /** A probe is under way: the next one waits, twice as long as the last, unless this one works. */
  probing(): void {
    this.probeAt = this.now() + this.probeDelay;
    this.probeDelay = Math.min(PROBE_MAX_MS, this.probeDelay * 2);
  }

  /** WebSocket works again (a probe reached "connected"): back to the top. */
  climbed(): void {
    this.rung = 0;
    this.openFailures = 0;
    this.freezes = [];
    this.probeDelay = PROBE_AFTER_MS;
  }

  private stepDownFrom(transport: TransportName): void {
    const from = RUNGS.indexOf(transport);
    if (this.choice !== 'auto' || from !== this.rung || from === RUNGS.length - 1) return;
    this.rung = from + 1;
    this.openFailures = 0;
    this.freezes = [];
    this.probeAt = this.now() + this.probeDelay;
  }
}
