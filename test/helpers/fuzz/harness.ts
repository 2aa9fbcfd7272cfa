/**
 * Property-based fuzzing of the real relay, shared by test/relay/fuzz.test.ts (the CI size) and
 * scripts/fuzz-long.ts (a million frames):
 *
 * - fast-check arbitraries for hostile frames (`roundArbitrary`, arbitraries.ts): random JSON, request-shaped
 *   frames with wrong or edge-case fields, well-formed requests built from the connection's state
 *   (signed messages, logins, joins...) in random order, replays of earlier frames, frames near and
 *   over the 64 KB limit, deep nesting, invalid UTF-8, binary frames and fragmented frames;
 * - the oracle (`expectationFor`, protocol-promises.ts): what PROTOCOL.md promises for the exact bytes of one frame;
 * - the harness (`FuzzHarness`, this file): one relay process (restarted, and reported, if it dies), several
 *   fuzzing connections (anonymous and logged in), two bystanders who keep chatting, and the checks
 *   of the four invariants:
 *     (a) the relay process never dies and keeps answering;
 *     (b) every frame gets exactly one well-formed reply with a documented code (or ok), or the
 *         connection is closed with the documented close code for what was sent;
 *     (c) the bystanders' signed messages are all delivered, unchanged, to both of them;
 *     (d) the relay's resident memory stays under a bound.
 *
 * The generators produce plain data ("specs"); a spec becomes bytes only when it is sent, because
 * valid frames depend on the connection's state (its user, keys, token, clock; frames.ts). The oracle looks
 * only at the bytes that went out, never at the spec, so a generator can be as wild as it likes.
 * Text frames with invalid UTF-8 need no ws internals: `send(buffer, { binary: false })` sends the
 * bytes as a text frame as they are.
 *
 * What this found (both fixed in bf686e2, with regression tests in test/relay/fuzz.test.ts):
 * finding 1, a request whose `type` String() cannot convert killed the relay; finding 2, a join
 * reply bigger than the 1 MB send buffer made uWS drop the replies behind it, with no close.
 */
import fc from 'fast-check';
import { startRelay, type RelayProcess } from '../relay-process.ts';
import { roundArbitrary } from './arbitraries.ts';
import { Bystanders } from './bystanders.ts';
import type { Outgoing } from './frames.ts';
import { registerIdentity, sign } from './identities.ts';
import { Lane } from './lane.ts';
import { Peer, sleep } from './peer.ts';
import { hitsKnownCrash } from './protocol-promises.ts';
import { RSS_BOUND_MB, type RelayRecord, rssMb } from './relay-memory.ts';
import { type Violation, formatViolations } from './report.ts';
import { type RoundSpec, clip } from './specs.ts';

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
    this.rooms = [
      'general',
      this.bystanders.room,
      'fuzz-1',
      'fuzz-2',
      'FUZZ-1',
      'ｆｕｚｚ-2',
      'fuzz-3',
      'Général',
      'комната',
    ];
    if (this.lanes.length === 0) {
      const anonymous = this.options.anonymousLanes ?? 3;
      const members = this.options.memberLanes ?? 3;
      for (let i = 0; i < anonymous + members; i++)
        this.lanes.push(new Lane(this, i, i < anonymous ? 'anonymous' : 'member'));
    }
    this.replayPool.length = 0;
    this.staleTokens.length = 0;
    await Promise.all(this.lanes.map((lane) => lane.setUp()));
    const rss = rssMb(child.pid!) ?? 0;
    this.current = {
      pid: child.pid!,
      startRss: rss,
      peakRss: rss,
      endRss: rss,
      frames: 0,
      died: null,
    };
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
    return {
      id: this.bystanders.alice.me.id,
      username: this.bystanders.alice.me.username,
    };
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
        if (!pong.ok && pong.error?.code !== 'RATE_LIMITED')
          this.violation('a', 'the relay answers a ping with an error', JSON.stringify(pong));
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
    await Promise.all(
      this.lanes.map((lane, i) => lane.runBatch(round[i] ?? { reconnect: false, flood: false, specs: [] })),
    );
    const alive = await this.confirmAlive();
    this.flushSuspects(alive);
    if (!alive) {
      await sleep(100); // let the exit's stderr arrive
      const stderr = this.relay.stderr().trim().split('\n').slice(-12).join('\n    ');
      const suspects = this.lanes
        .map((lane) => `lane ${lane.index}: ${lane.lastFrames.slice(-2).join(' | ')}`)
        .join('\n    ');
      const code = this.relay.child.exitCode ?? this.relay.child.signalCode;
      const firstLine = /^(\w*Error: [^\n]*)/m.exec(this.relay.stderr())?.[1] ?? `exit ${code}`;
      this.current.died = firstLine;
      this.violation(
        'a',
        `the relay process died: ${firstLine}`,
        `exit ${code}; its stderr ends:\n    ${stderr}\n  last frames per lane:\n    ${clip(suspects, 3000)}`,
      );
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
          const unsigned = {
            room: 'zz-disk',
            author: me.id,
            cid: `disk${me.id}x${round}`,
            ts: Date.now(),
            text: 'barrier',
          };
          await peer.call('send', {
            ...unsigned,
            sig: sign(me.privateKey, unsigned),
          });
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
        this.violation(
          'd',
          `relay RSS grew by more than ${rssBoundMb} MB`,
          `pid ${record.pid}: ${record.startRss.toFixed(1)} MB -> ${record.endRss.toFixed(1)} MB (peak ${record.peakRss.toFixed(1)}) over ${record.frames} frames`,
        );
      }
    }
    const object = (map: Map<string, number>): Record<string, number> =>
      Object.fromEntries([...map].sort((a, b) => b[1] - a[1]));
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
  async assertRounds(options: {
    frames: number;
    seed: number;
    minFrames: number;
    maxFrames: number;
    shrinkBudgetMs?: number;
  }): Promise<void> {
    const arbitrary = roundArbitrary(this.lanes.length, options.minFrames, options.maxFrames);
    const startFrames = this.fuzzFrames;
    let round = 0;
    for (let chunk = 0; this.fuzzFrames < options.frames; chunk++) {
      let failedAt: number | null = null;
      // Frames per round so far (a guess before the first round), so the last chunk is small.
      const average =
        round > 0
          ? (this.fuzzFrames - startFrames) / round
          : (this.lanes.length * (options.minFrames + options.maxFrames)) / 2;
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
