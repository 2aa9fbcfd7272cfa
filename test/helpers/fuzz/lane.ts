/**
 * One fuzzing connection: sends a batch, matches every reply to its frame, and checks invariant (b)
 * (exactly one well-formed reply with a documented code, or the documented close).
 */
import { CLOSE_CODES } from '../../../sdk/protocol.ts';
import { unreadFrameCode } from '../relay-process.ts';
import { AUTO_JOINED, type BuildContext, type Outgoing, jsonBytes, materialize, outgoing } from './frames.ts';
import { type Identity, registerIdentity } from './identities.ts';
import type { FuzzHarness } from './harness.ts';
import { Peer, type ReplyFrame, reKey } from './peer.ts';
import {
  type Expectation,
  FLOOD_STRIKES,
  OPTIONAL_RESULT_KEYS,
  RELAY_ERROR_CODES,
  RESULT_KEYS,
  type RequestId,
  replyShapeProblem,
} from './protocol-promises.ts';
import { type BatchSpec, clip } from './specs.ts';

interface Pending {
  index: number;
  out: Outgoing;
}

/** The frames sent with one id and the replies that came for that id so far. */
interface Group {
  pendings: Pending[];
  replies: ReplyFrame[];
}

export type LaneKind = 'anonymous' | 'member';

/**
 * One fuzzing connection. Anonymous lanes start every batch logged out; member lanes start logged in
 * (their frames reach the handlers behind the session check). Between batches the harness puts a
 * lane back into its kind, reconnecting if the relay closed it.
 */
export class Lane {
  peer!: Peer;
  /** The account this lane logs in as (members) or could log in as (anonymous). */
  account!: Identity;
  /** Who the connection is logged in as, as far as the replies tell; identity null if its keys are unknown. */
  session: { id: number; identity: Identity | null } | null = null;
  cids = 0;
  lastCid: string | null = null;
  private ids = 0;
  /** Frames waiting for replies, by id; several frames may share an id. */
  private readonly ledger = new Map<string, Group>();
  private nullQueue: Pending[] = [];
  private outstanding = 0;
  private rateLimited = 0;
  /** The largest reply this batch received, in bytes (finding 2 followed replies over ~1 MB). */
  biggestReply = 0;
  /** Replies to fuzz frames so far (barrier replies excluded): the waiting loop's progress. */
  private answered = 0;
  private barriers = 0;
  private readonly barrierIds = new Set<string>();
  private expectedClose: {
    code: number;
    why: string;
    unread?: 'too-big' | 'not-utf8';
  } | null = null;
  private closing = false;

  constructor(
    readonly harness: FuzzHarness,
    readonly index: number,
    readonly kind: LaneKind,
  ) {}

  /** Each lane connects from its own loopback address, so the per-address login limits are per lane. */
  private get address(): string {
    return `127.0.${this.kind === 'anonymous' ? 1 : 2}.${this.index + 1}`;
  }

  async connect(): Promise<void> {
    this.closing = false;
    this.peer?.terminate();
    this.peer = await Peer.connect(this.harness.relay.wsUrl, this.address);
    this.peer.onReply = (reply, bytes) => {
      this.biggestReply = Math.max(this.biggestReply, bytes);
      this.receive(reply);
    };
    this.peer.onEvent = (event) => {
      if (event.ev === 'session-ended') this.session = null;
    };
    this.peer.onProblem = (problem) =>
      this.harness.violation('b', 'malformed frame from the relay', `lane ${this.index}: ${problem}`);
    this.ledger.clear();
    this.nullQueue = [];
    this.outstanding = 0;
    this.rateLimited = 0;
    this.expectedClose = null;
    this.session = null;
  }

  async setUp(): Promise<void> {
    const setup = await Peer.connect(this.harness.relay.wsUrl, this.address);
    this.account = await registerIdentity(setup, this.kind === 'anonymous' ? 'anon' : 'memb');
    setup.terminate();
    await this.normalize(true);
  }

  /** Puts the lane back into its kind: open, and logged in as its account (members) or logged out. */
  async normalize(reconnect: boolean): Promise<void> {
    if (reconnect || !this.peer?.open) await this.connect();
    // A probe tells whether the connection is logged in whatever replies went missing.
    const probe = await this.peer.request('online', { room: 'zz-probe' });
    const loggedIn = probe.ok;
    if (!loggedIn) this.session = null;
    else this.session ??= { id: -1, identity: null };
    if (this.kind === 'anonymous') {
      if (loggedIn) await this.connect();
      return;
    }
    if (loggedIn && this.session!.identity) {
      this.account = this.session!.identity; // possibly an account the lane's own fuzz registered
      return;
    }
    if (loggedIn) await this.connect();
    const resumed = await this.peer.request('resume', {
      token: this.account.token,
    });
    if (!resumed.ok) {
      // The token was revoked by a fuzzed logout (or a password change elsewhere): a new account.
      // (Not login: the fuzz keeps the per-address login limit exhausted, as an attacker would.)
      this.account = await registerIdentity(this.peer, 'memb');
    }
    this.session = { id: this.account.id, identity: this.account };
    await Promise.all(AUTO_JOINED.map((room) => this.peer.request('join', { room, limit: 0 })));
  }

  nextId(): RequestId {
    const n = ++this.ids;
    return n % 2 ? `L${this.index}.${n}` : 1_000_000_000 * (this.index + 1) + n;
  }

  private context(): BuildContext {
    return {
      lane: this,
      nextId: () => this.nextId(),
      me: this.session?.identity ?? this.account,
      other: this.harness.bystanderInfo(),
      rooms: this.harness.rooms,
      replayPool: this.harness.replayPool,
      staleTokens: this.harness.staleTokens,
    };
  }

  private receive(reply: ReplyFrame): void {
    const problem = replyShapeProblem(reply);
    if (problem) {
      this.harness.violation(
        'b',
        `malformed reply: ${problem}`,
        `lane ${this.index}: ${clip(JSON.stringify(reply), 300)}`,
      );
      return;
    }
    if (typeof reply.re === 'string' && this.barrierIds.delete(reply.re)) return;
    this.answered++;
    const code = reply.ok ? 'ok' : reply.error!.code;
    this.harness.count('replies', code);
    if (code === 'RATE_LIMITED') this.rateLimited++;
    const extra = (): void =>
      this.harness.violation(
        'b',
        'a reply no frame was waiting for',
        `lane ${this.index}: ${clip(JSON.stringify(reply), 300)} (a second reply to one frame, or a reply to a frame without that id)`,
      );
    if (reply.re === null) {
      // Frames without a usable id are answered at once, in order; if a reply went missing the
      // next one belongs to a later frame: the earliest one it fits.
      const fits = this.nullQueue.findIndex((p) => this.problemWith(p, reply) === null);
      const pending = this.nullQueue.splice(Math.max(fits, 0), 1)[0];
      if (!pending) return extra();
      this.outstanding--;
      this.settlePair(pending, reply);
      return;
    }
    const key = reKey(reply.re);
    const group = this.ledger.get(key);
    if (!group || group.replies.length >= group.pendings.length) return extra();
    group.replies.push(reply);
    this.outstanding--;
    if (group.replies.length === group.pendings.length) {
      this.ledger.delete(key);
      for (const [pending, answer] of this.pair(group)) if (answer) this.settlePair(pending, answer);
    }
  }

  /**
   * Frames that share an id (fuzzed ids, replays) may be answered in any order, so their replies
   * are paired with them the way that explains the most replies; with `fastFirst`, among equally
   * good pairings, the one that leaves the fewest fast frames unanswered.
   */
  private pair(group: Group, fastFirst = false): [Pending, ReplyFrame | null][] {
    const { pendings, replies } = group;
    if (pendings.length === 1) return [[pendings[0]!, replies[0] ?? null]];
    let best: { score: number; order: number[] } = {
      score: -1,
      order: pendings.map((_, i) => i),
    };
    const score = (order: number[]): number => {
      let total = 0;
      replies.forEach((reply, i) => {
        const pending = pendings[order[i]!]!;
        if (this.problemWith(pending, reply) === null) total += 1000;
        if (fastFirst && !pending.out.slow) total += 1;
      });
      return total;
    };
    const permute = (prefix: number[], rest: number[]): void => {
      if (prefix.length === replies.length || rest.length === 0) {
        const order = [...prefix, ...rest];
        const value = score(order);
        if (value > best.score) best = { score: value, order };
        return;
      }
      for (const [i, next] of rest.entries()) permute([...prefix, next], [...rest.slice(0, i), ...rest.slice(i + 1)]);
    };
    if (pendings.length <= 6)
      permute(
        [],
        pendings.map((_, i) => i),
      );
    return best.order.map((index, i) => [pendings[index]!, replies[i] ?? null]);
  }

  /** Checks one reply against its frame and learns what it tells about the session. */
  private settlePair(pending: Pending, reply: ReplyFrame): void {
    const code = reply.ok ? 'ok' : reply.error!.code;
    const wrong = this.problemWith(pending, reply);
    if (wrong) {
      this.harness.violation(
        'b',
        wrong,
        `lane ${this.index}, frame ${pending.out.kind} ${pending.out.preview}\n  got ${clip(JSON.stringify(reply), 300)}`,
      );
      return;
    }
    const type = pending.out.expect.kind === 'reply' ? pending.out.expect.type : null;
    if (pending.out.kind !== 'flood') this.harness.count('outcomes', `${type ?? '(no valid type)'}\u0000${code}`);
    if (reply.ok) {
      pending.out.onOk?.(reply.result);
      // What any frame of these types does to the session, whoever built it.
      if (type === 'register' || type === 'login' || type === 'resume')
        this.session ??= { id: reply.result.user.id, identity: null };
      if (type === 'logout') this.session = null;
    } else if (code === 'ALREADY_AUTHENTICATED') this.session ??= { id: -1, identity: null };
    else if (code === 'NOT_AUTHENTICATED') this.session = null;
  }

  /** What is wrong with `reply` as the answer to `pending`, or null. */
  private problemWith(pending: Pending, reply: ReplyFrame): string | null {
    const expect = pending.out.expect;
    if (expect.kind !== 'reply') return 'a reply to a frame that should have closed the connection';
    if (reply.ok) {
      if (expect.codes !== null) return `an ok reply to a frame PROTOCOL.md refuses (${expect.why})`;
      const optional = OPTIONAL_RESULT_KEYS[expect.type!] ?? [];
      const keys = Object.keys(reply.result)
        .filter((key) => !optional.includes(key))
        .sort()
        .join(',');
      const documented = [...RESULT_KEYS[expect.type!]].sort().join(',');
      return keys === documented ? null : `a ${expect.type} result with fields {${keys}}, documented {${documented}}`;
    }
    const code = reply.error!.code;
    if (code === 'RATE_LIMITED') return null;
    if (!RELAY_ERROR_CODES.has(code)) return `undocumented error code ${code}`;
    if (code === 'INTERNAL') return 'INTERNAL error (PROTOCOL.md: "a relay bug")';
    if (expect.codes !== null && !expect.codes.includes(code))
      return `${code} for a frame that should get ${expect.codes.join(' or ')} (${expect.why})`;
    return null;
  }

  private expectReply(index: number, out: Outgoing): void {
    const expect = out.expect as Extract<Expectation, { kind: 'reply' }>;
    const pending = { index, out };
    this.outstanding++;
    if (expect.re === null) this.nullQueue.push(pending);
    else {
      const key = reKey(expect.re);
      const group = this.ledger.get(key);
      if (group) group.pendings.push(pending);
      else this.ledger.set(key, { pendings: [pending], replies: [] });
    }
  }

  private transmit(out: Outgoing): void {
    const socket = this.peer.socket;
    const ignore = (): void => {};
    if (out.fragments) {
      out.fragments.forEach((fragment, i) => {
        const last = i === out.fragments!.length - 1;
        socket.send(fragment, { binary: out.binary, fin: last }, ignore);
        if (!last && out.pingBetween) socket.ping(undefined, undefined, ignore);
      });
    } else socket.send(out.data, { binary: out.binary }, ignore);
  }

  /** Sends one batch and checks every frame's outcome; violations go to the harness. */
  async runBatch(batch: BatchSpec): Promise<void> {
    const harness = this.harness;
    if (batch.reconnect) await this.normalize(true);
    this.biggestReply = 0;
    const ctx = this.context();
    const frames: Outgoing[] = [];
    if (batch.flood) frames.push(...this.floodFrames(ctx));
    let terminal: Outgoing | null = null;
    let skippedTerminals = 0;
    for (const spec of batch.specs) {
      for (const out of materialize(ctx, spec)) {
        if (out.expect.kind === 'close') {
          // A frame that ends the connection goes last; frames after it would never be read.
          if (terminal) skippedTerminals++;
          else terminal = out;
        } else frames.push(out);
      }
    }
    if (terminal) frames.push(terminal);
    harness.count('frames', 'skipped (a second connection-ending frame in one batch)', skippedTerminals);

    let sentBytes = 0;
    let index = 0;
    const inFlight: string[] = [];
    for (const out of frames) {
      if (!this.peer.open) break;
      if (
        out.expect.kind === 'reply' &&
        out.expect.re !== null &&
        typeof out.expect.re === 'string' &&
        out.expect.re.startsWith('~')
      ) {
        harness.count('frames', 'skipped (id in the harness namespace)');
        continue;
      }
      if (out.expect.kind === 'close') this.expectedClose = out.expect;
      else this.expectReply(index, out);
      this.transmit(out);
      harness.sent(out);
      inFlight.push(`${out.kind}: ${out.preview}`);
      if (out.replayable && !out.binary) harness.remember(out.data);
      index++;
      sentBytes += out.data.length;
      // Let the replies in now and then, as a real client would.
      if (index % 32 === 0 || sentBytes > 512 * 1024) {
        sentBytes = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    this.lastFrames = inFlight;
    await this.settle();
  }

  lastFrames: string[] = [];

  private floodFrames(ctx: BuildContext): Outgoing[] {
    // --rate 1000 gives bursts of 2000: 3,000 pings sent at once outrun it by far.
    return Array.from({ length: 3000 }, () =>
      outgoing(jsonBytes({ id: ctx.nextId(), type: 'ping' }), false, 'flood', 'ping'),
    );
  }

  /**
   * Waits until every frame is answered (and, after a connection-ending frame, the close came) or
   * the connection is gone. A relay that skips a reply would leave this waiting forever, so when
   * nothing arrives for a moment the lane proves, without any timing assumption, which replies
   * are overdue:
   * - a ping barrier on the same connection: requests that never wait for the disk or the
   *   signature pool are answered in the event-loop turn that read them, so once a ping sent after
   *   them is answered, they are overdue (and so is an expected close);
   * - for requests that wait for the disk, a disk barrier first (see FuzzHarness.diskBarrier),
   *   then another ping barrier.
   */
  private async settle(): Promise<void> {
    const waiting = (): boolean => this.outstanding > 0 || this.expectedClose !== null;
    let seen = this.answered;
    while (waiting() && !this.peer.closeInfo) {
      await this.peer.changed(250);
      if (this.answered !== seen || this.peer.closeInfo) {
        seen = this.answered;
        continue;
      }
      if (!(await this.pingBarrier())) break;
      if (this.answered !== seen) continue; // replies came meanwhile: keep waiting normally
      this.dropOverdue((p) => !p.out.slow, 'no reply (a ping sent later was answered)');
      if (this.expectedClose && this.outstanding === 0) {
        this.harness.violation(
          'b',
          `connection not closed after a ${this.expectedClose.why} (expected ${this.expectedClose.code})`,
          `lane ${this.index}: ${this.lastFrames.at(-1)}`,
        );
        this.expectedClose = null;
      }
      if (this.outstanding === 0) break;
      await this.harness.diskBarrier();
      if (!(await this.pingBarrier())) break;
      this.dropOverdue(() => true, 'no reply (later disk writes and a later ping were answered)');
    }
    if (this.peer.closeInfo) await this.checkClose();
    else if (this.outstanding > 0) this.dropOverdue(() => true, 'no reply, and the connection stopped answering pings');
    this.expectedClose = null;
  }

  /**
   * Sends pings until one is answered (a reply can itself be dropped, see finding 2). Resolves
   * false if the connection closed, or if nothing at all arrived for two minutes.
   */
  private async pingBarrier(): Promise<boolean> {
    const sent = new Set<string>();
    const send = (): void => {
      const id = `~b${this.index}.${++this.barriers}`;
      this.barrierIds.add(id);
      sent.add(id);
      this.peer.socket.send(JSON.stringify({ id, type: 'ping' }), () => {});
      this.harness.count('other', 'barrier pings');
    };
    send();
    let lastSend = Date.now();
    let lastProgress = Date.now();
    let progress = this.peer.progress;
    while (!this.peer.closeInfo) {
      await this.peer.changed(250);
      if ([...sent].some((id) => !this.barrierIds.has(id))) return true;
      if (this.peer.progress !== progress) {
        progress = this.peer.progress;
        lastProgress = Date.now();
      }
      if (Date.now() - lastProgress > 120_000) return false;
      if (Date.now() - lastSend > 1000 && this.peer.open) {
        send();
        lastSend = Date.now();
      }
    }
    return false;
  }

  private dropOverdue(which: (p: Pending) => boolean, what: string): void {
    const overdue = this.nullQueue.filter(which);
    this.nullQueue = this.nullQueue.filter((p) => !which(p));
    for (const [key, group] of this.ledger) {
      const unanswered = this.pair(group, true)
        .filter(([pending, reply]) => reply === null && which(pending))
        .map(([pending]) => pending);
      if (unanswered.length === 0) continue;
      overdue.push(...unanswered);
      group.pendings = group.pendings.filter((p) => !unanswered.includes(p));
      if (group.replies.length === group.pendings.length) {
        this.ledger.delete(key);
        for (const [pending, reply] of this.pair(group)) if (reply) this.settlePair(pending, reply);
      }
    }
    this.outstanding -= overdue.length;
    const big =
      this.biggestReply > 1024 * 1024
        ? ` [after a ${(this.biggestReply / 1024 / 1024).toFixed(1)} MB reply in this batch, as in finding 2]`
        : '';
    for (const p of overdue) {
      this.harness.violation(
        'b',
        what,
        `lane ${this.index} (${this.kind}), frame #${p.index} ${p.out.kind}: ${p.out.preview}${big}`,
      );
    }
  }

  /** The connection closed: was that what PROTOCOL.md says for what this lane sent? */
  private async checkClose(): Promise<void> {
    const info = this.peer.closeInfo!;
    this.harness.count('closes', String(info.code));
    // Frames still waiting lost their replies to the close; PROTOCOL.md allows that.
    for (const group of this.ledger.values())
      for (const [pending, reply] of this.pair(group)) if (reply) this.settlePair(pending, reply);
    this.ledger.clear();
    this.nullQueue = [];
    this.outstanding = 0;
    if (this.closing) return;
    const flood = info.code === CLOSE_CODES.POLICY && this.rateLimited >= FLOOD_STRIKES;
    if (flood) return;
    const expectedCode = this.expectedClose?.unread
      ? unreadFrameCode(this.harness.relay, this.expectedClose.unread)
      : this.expectedClose?.code;
    if (this.expectedClose && info.code === expectedCode) return;
    const expected = this.expectedClose ? `${expectedCode} (${this.expectedClose.why})` : 'no close';
    const what =
      info.code === CLOSE_CODES.POLICY
        ? `closed with 1008 after only ${this.rateLimited} RATE_LIMITED replies`
        : `closed with ${info.code}, expected ${expected}`;
    // Judged at the end of the round: if the relay died, this close is only a symptom of that.
    this.harness.suspect(
      'b',
      what.replace(/\d+ RATE/, 'N RATE'),
      `lane ${this.index} (${this.kind}): ${what}; reason ${JSON.stringify(info.reason)}; last frames:\n    ${this.lastFrames.slice(-3).join('\n    ')}`,
    );
  }

  close(): void {
    this.closing = true;
    this.peer?.terminate();
  }
}
