/**
 * The outbox: messages written but not yet stored by the relay. Kept in storage, so they survive
 * a relaunch; sent one at a time, in order, each signed as it goes out (so its timestamp is inside
 * the relay's clock window however long it waited). One at a time because a later message must
 * never be stored before an earlier one that the relay refused for a while (RATE_LIMITED) or that
 * was lost with its connection, and only a reply says which happened.
 */
import { SovError, isTransient } from './errors.ts';
import { sign } from './crypto/signing.ts';
import type { StoredSigningKey } from './crypto/signing.ts';
import { storedMessageBytes } from './protocol/budget.ts';
import type { RequestMap } from './protocol/frames.ts';
import { signedBytes } from './protocol/signed-bytes.ts';
import type { ClientMessage, Room } from './room.ts';

/** One message waiting, as stored. */
export interface OutboxEntry {
  room: string;
  cid: string;
  text: string;
  createdAt: number;
}

/** What the outbox needs from its client; kept narrow so the outbox can be read on its own. */
export interface OutboxHost {
  /** Who sends, while there is a session and the relay is connected; null stops the outbox until `flush()` is called again. */
  sender(): { userId: number; signingKey: StoredSigningKey } | null;
  /** The joined room of this name: messages for a room not joined (yet) in this run wait, since the relay would refuse them. */
  room(name: string): Room | undefined;
  /** The largest message the relay stores (its hello's limits), Infinity before a hello. */
  maxMessageBytes(): number;
  send(message: RequestMap['send']): Promise<{ seq: number }>;
  save(entries: OutboxEntry[]): Promise<void>;
}

/** What became of one message: stored (its number), refused for good, or to be tried again. */
type Outcome = { seq: number } | { error: SovError } | 'retry-later';

/** How long a message the relay could not take now (a slow reply, RATE_LIMITED without a hint) waits before it goes again. */
const RETRY_MS = 2000;

export class Outbox {
  private entries: OutboxEntry[] = [];
  /** The Room object each entry came from in this run, even if the app left and rejoined since. */
  private readonly origins = new Map<string, Room>();
  private flushing = false;

  constructor(private readonly host: OutboxHost) {}

  /** Replaces what waits: a stored outbox at a resume, or nothing at a logout. */
  load(entries: OutboxEntry[]): void {
    this.entries = entries;
    this.origins.clear();
  }

  /** The messages waiting for `room`, as a Room shows them until they are sent. */
  pendingIn(room: string, author: number): ClientMessage[] {
    return this.entries
      .filter((entry) => entry.room === room)
      .map((entry) => ({
        room,
        seq: null,
        author,
        cid: entry.cid,
        ts: entry.createdAt,
        text: entry.text,
        sig: '',
        verified: true,
        state: 'pending',
      }));
  }

  /** Takes a message the app wrote (or retries a failed one) and sends it when it can. */
  add(room: Room, message: ClientMessage): void {
    this.origins.set(message.cid, room);
    this.entries.push({
      room: room.name,
      cid: message.cid,
      text: message.text,
      createdAt: message.ts,
    });
    void this.host.save(this.entries).catch(() => undefined);
    void this.flush();
  }

  /** Sends what waits, in order, while there is a sender; settles each message in its Room. */
  async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let sender = this.host.sender(); sender; sender = this.host.sender()) {
        const entry = this.entries.find((candidate) => this.host.room(candidate.room));
        if (!entry) return;
        const outcome = await this.transmit(entry, sender);
        if (outcome === 'retry-later') {
          // Still connected (a slow reply, say): try again shortly rather than wait for a reconnect.
          if (this.host.sender()) setTimeout(() => void this.flush(), RETRY_MS);
          return;
        }
        this.entries.splice(this.entries.indexOf(entry), 1);
        // Not waited for: on a busy page a write per message would pace the outbox, and a message
        // sent again after a crash is refused as a duplicate with its number, which settles it.
        void this.host.save(this.entries).catch(() => undefined);
        const room = this.origins.get(entry.cid) ?? this.host.room(entry.room);
        this.origins.delete(entry.cid);
        room?.settle(entry.cid, outcome);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async transmit(
    entry: OutboxEntry,
    sender: { userId: number; signingKey: StoredSigningKey },
  ): Promise<Outcome> {
    const unsigned = {
      room: entry.room,
      author: sender.userId,
      cid: entry.cid,
      ts: Date.now(),
      text: entry.text,
    };
    try {
      const message = {
        ...unsigned,
        sig: await sign(sender.signingKey, signedBytes(unsigned)),
      };
      // The relay refuses a message that would not fit a page of its history; refused here, it never travels.
      if (storedMessageBytes(message) > this.host.maxMessageBytes()) return { error: new SovError('MESSAGE_TOO_BIG') };
      return await this.host.send(message);
    } catch (error) {
      const failure = error instanceof SovError ? error : new SovError('INTERNAL', String(error));
      // The relay already has it (our earlier attempt's reply was lost): that is success.
      if (failure.code === 'DUPLICATE_MESSAGE' && failure.seq !== undefined) return { seq: failure.seq };
      if (isTransient(failure)) return 'retry-later';
      if (
        failure.code === 'RATE_LIMITED' ||
        failure.code === 'STORAGE_FAILED' ||
        failure.code === 'DUPLICATE_MESSAGE'
      ) {
        await new Promise((resolve) => setTimeout(resolve, failure.retryAfterMs ?? RETRY_MS / 2));
        const again = this.host.sender();
        return again ? this.transmit(entry, again) : 'retry-later';
      }
      return { error: failure };
    }
  }
}
