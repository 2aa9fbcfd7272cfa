/**
 * Room history in `messages.log`: every accepted message is one line whose JSON is exactly the bytes
 * that were fanned out, so serving history never re-serializes. The last `historySize` messages of each
 * room stay in memory and on disk; older lines are dropped when the log is compacted.
 *
 * Sequence numbers are assigned when a message is accepted and become visible only once the line
 * is durable. If a write fails, the room's counter rolls back, so sequence numbers never skip.
 * Lookups still never assume that: a damaged line dropped from the log leaves a hole, and a client
 * resuming across it is told (`gap`). Message authors count among the ids that are never given to
 * a new account (account-ids.ts), so a message never changes author.
 */
import path from 'node:path';
import { SovError } from '../../sdk/errors.ts';
import { LIMITS } from '../../sdk/protocol.ts';
import type { ChatMessage } from '../../sdk/protocol.ts';
import type { AccountIds } from './account-ids.ts';
import { AppendLog } from './append-log.ts';
import type { FileOps } from './append-log.ts';
import { RecordError, positive, shape, text, whole } from './record-fields.ts';
import type { Check } from './record-fields.ts';
import type { Logger } from '../logger.ts';

/** Client ids remembered per room for replay checks: about 10 MB at most. */
const MAX_REMEMBERED_IDS = 100_000;

interface StoredMessage {
  seq: number;
  /** The message as fanned out and as stored: one JSON object. */
  json: string;
  /** Its UTF-8 size, for paging. */
  bytes: number;
}

interface RoomLog {
  /** Last sequence number handed out (durable or in flight). */
  seq: number;
  /** Last sequence number on disk. */
  durableSeq: number;
  /** Durable messages, oldest first; trimmed to historySize in chunks to keep pushes O(1). */
  messages: StoredMessage[];
  /**
   * Recently accepted `author:cid` pairs. A replay older than the clock-skew window is refused
   * by its timestamp, so ids only need remembering for twice that window.
   */
  recent: Map<string, { seq: number; ts: number }>;
  /** `recent` is pruned when it reaches this size, which then doubles from what remains. */
  pruneAt: number;
  /**
   * Messages stamped at or before this time are refused: set when `recent` is full and its oldest
   * ids had to be forgotten, so a forgotten id can never be replayed.
   */
  replayFloor: number;
}

/** What one page of history may hold. */
export interface PageSize {
  /** Bytes of stored JSON, a comma counted after each message. */
  bytes: number;
  /** At most this many messages. */
  limit: number;
  /**
   * Whether a first message larger than `bytes` still goes, alone: a page of its own (`history`)
   * must never be empty while messages remain, or reading would stall; a page that shares its
   * frame (`join`) must stay within its bytes and comes empty instead.
   */
  atLeastOne: boolean;
}

export interface HistoryPage {
  /** Stored JSON of each message, oldest first. */
  messages: string[];
  /** Kept messages remain beyond the page, on the side it was read from. */
  more: boolean;
}

export class HistoryStore {
  private readonly rooms = new Map<string, RoomLog>();
  private kept = 0;
  /** Replay records in the log since the last compaction (see maybeCompact). */
  private replayRecords = 0;
  private log!: AppendLog;

  private constructor(readonly historySize: number) {}

  /** `ids` learns every message author, so a lost account's id is never handed out again (account-ids.ts). */
  static async open(
    folder: string,
    ids: AccountIds,
    historySize: number,
    logger: Logger,
    ops?: FileOps,
  ): Promise<HistoryStore> {
    const history = new HistoryStore(historySize);
    const windowStart = Date.now() - 2 * LIMITS.maxClockSkewMs;
    history.log = await AppendLog.open(
      path.join(folder, 'messages.log'),
      readMessageLogRecord,
      (record, json) => {
        const room = history.room(record.room);
        if ('replayFloor' in record) {
          history.replayRecords++;
          room.replayFloor = Math.max(room.replayFloor, record.replayFloor);
        } else if ('seen' in record) {
          history.replayRecords++;
          ids.saw(Number.parseInt(record.seen, 10));
          if (record.ts >= windowStart) room.recent.set(record.seen, { seq: record.seq, ts: record.ts });
        } else {
          ids.saw(record.author);
          if (record.seq <= room.durableSeq) return;
          room.seq = room.durableSeq = record.seq;
          history.keep(room, {
            seq: record.seq,
            json,
            bytes: Buffer.byteLength(json),
          });
          if (record.ts >= windowStart)
            room.recent.set(`${record.author}:${record.cid}`, {
              seq: record.seq,
              ts: record.ts,
            });
        }
      },
      logger,
      ops,
    );
    // A file from before checksums gets them now rather than at the next compaction.
    if (history.log.legacyLines > 0) history.compact();
    return history;
  }

  lastSeq(roomName: string): number {
    return this.rooms.get(roomName)?.durableSeq ?? 0;
  }

  /**
   * Gives the message its room's next sequence number and stores it. Resolves with the stored JSON
   * once durable; rejects DUPLICATE_MESSAGE for a repeated client id, STORAGE_FAILED on a write error.
   */
  async accept(message: Omit<ChatMessage, 'seq'>): Promise<StoredMessage> {
    const room = this.room(message.room);
    const dedupeKey = `${message.author}:${message.cid}`;
    const earlier = room.recent.get(dedupeKey);
    if (message.ts <= room.replayFloor)
      throw new SovError('CLOCK_SKEW', 'The message is older than the relay can still check for replays.', {
        field: 'ts',
      });
    if (earlier) {
      throw new SovError('DUPLICATE_MESSAGE', undefined, earlier.seq > 0 ? { seq: earlier.seq } : {});
    }
    const seq = ++room.seq;
    const entry = { seq: 0, ts: message.ts };
    room.recent.set(dedupeKey, entry);
    const stored: ChatMessage = {
      room: message.room,
      seq,
      author: message.author,
      cid: message.cid,
      ts: message.ts,
      text: message.text,
      sig: message.sig,
    };
    const json = JSON.stringify(stored);
    const kept = { seq, json, bytes: Buffer.byteLength(json) };
    try {
      await this.log.append(json, () => {
        entry.seq = seq;
        room.durableSeq = seq;
        this.keep(room, kept);
      });
    } catch (error) {
      // Every append queued behind a failed one fails too, so rolling back to the durable number is exact.
      room.seq = room.durableSeq;
      room.recent.delete(dedupeKey);
      throw error;
    }
    this.maybePrune(room);
    this.maybeCompact();
    return kept;
  }

  /** The newest kept messages that fit `size`; `more`: older ones are kept. */
  newest(roomName: string, size: PageSize): HistoryPage {
    const messages = this.rooms.get(roomName)?.messages ?? [];
    return page(messages, this.firstKept(messages), messages.length, size, 'newest');
  }

  /** The newest kept messages numbered below `seq` that fit `size`; `more`: older ones are kept. */
  before(roomName: string, seq: number, size: PageSize): HistoryPage {
    const messages = this.rooms.get(roomName)?.messages ?? [];
    const start = this.firstKept(messages);
    return page(messages, start, Math.max(start, firstAbove(messages, seq - 1)), size, 'newest');
  }

  /**
   * The oldest messages numbered above `seq` that fit `size`; `more`: newer ones remain. `gap` tells
   * a resuming client that it missed messages it will not get: trimmed from the kept history,
   * dropped from a damaged log, or numbered above the room's newest (a relay restored from an old
   * backup; the kept messages come from the oldest then).
   */
  after(roomName: string, seq: number, size: PageSize): HistoryPage & { gap: boolean } {
    const room = this.rooms.get(roomName);
    const durable = room?.durableSeq ?? 0;
    const messages = room?.messages ?? [];
    const start = this.firstKept(messages);
    const from = seq > durable ? start : Math.max(start, firstAbove(messages, seq));
    // Over everything after `seq`, not just this page: the pages that follow carry no gap of their own.
    const firstSeq = messages[from]?.seq ?? durable + 1;
    const holed =
      messages.length > from && messages[messages.length - 1]!.seq - firstSeq + 1 !== messages.length - from;
    return {
      ...page(messages, from, messages.length, size, 'oldest'),
      gap: seq > durable || firstSeq > seq + 1 || holed,
    };
  }

  async close(): Promise<void> {
    await this.log.close();
  }

  /** Index of the oldest kept message: the array holds up to twice historySize between trims. */
  private firstKept(messages: readonly StoredMessage[]): number {
    return Math.max(0, messages.length - this.historySize);
  }

  private room(name: string): RoomLog {
    let room = this.rooms.get(name);
    if (!room) {
      room = {
        seq: 0,
        durableSeq: 0,
        messages: [],
        recent: new Map(),
        pruneAt: 1024,
        replayFloor: 0,
      };
      this.rooms.set(name, room);
    }
    return room;
  }

  private keep(room: RoomLog, message: StoredMessage): void {
    room.messages.push(message);
    this.kept++;
    if (room.messages.length >= this.historySize * 2) {
      const drop = room.messages.length - this.historySize;
      room.messages.splice(0, drop);
      this.kept -= drop;
    }
  }

  private maybePrune(room: RoomLog): void {
    if (room.recent.size < room.pruneAt) return;
    const cutoff = Date.now() - 2 * LIMITS.maxClockSkewMs;
    for (const [key, entry] of room.recent) if (entry.ts < cutoff && entry.seq > 0) room.recent.delete(key);
    // A flood inside the clock window: forget the oldest ids (insertion order) and refuse anything
    // as old as them, so memory stays bounded without reopening the door to replays.
    for (const [key, entry] of room.recent) {
      if (room.recent.size <= MAX_REMEMBERED_IDS) break;
      if (entry.seq === 0) continue;
      room.replayFloor = Math.max(room.replayFloor, entry.ts);
      room.recent.delete(key);
    }
    room.pruneAt = Math.min(MAX_REMEMBERED_IDS + 1, Math.max(1024, room.recent.size * 2));
  }

  private maybeCompact(): void {
    // Rewriting costs a pass over the kept messages, so wait until at least half the file is dead
    // (the replay records written by the last compaction count as live: they are still needed).
    if (this.log.lineCount >= (this.kept + this.replayRecords) * 2 + 1000) this.compact();
  }

  private compact(): void {
    this.log.compact(() => {
      const lines: string[] = [];
      let replayRecords = 0;
      const windowStart = Date.now() - 2 * LIMITS.maxClockSkewMs;
      for (const [name, room] of this.rooms) {
        // What the replay check knows must survive a restart even when the messages themselves
        // are compacted away (a busy room), or a message still inside the clock window could be
        // accepted a second time: one short record per id still worth remembering.
        const before = lines.length;
        if (room.replayFloor > 0) lines.push(JSON.stringify({ room: name, replayFloor: room.replayFloor }));
        for (const [seen, entry] of room.recent) {
          if (entry.seq > 0 && entry.ts >= windowStart)
            lines.push(
              JSON.stringify({
                room: name,
                seen,
                seq: entry.seq,
                ts: entry.ts,
              }),
            );
        }
        replayRecords += lines.length - before;
        for (const message of room.messages.slice(-this.historySize)) lines.push(message.json);
      }
      this.replayRecords = replayRecords;
      return lines;
    });
  }
}

/** The messages in [from, to) that fit `size`, counted from the `newest` or `oldest` end of that range. */
function page(
  messages: readonly StoredMessage[],
  from: number,
  to: number,
  size: PageSize,
  end: 'newest' | 'oldest',
): HistoryPage {
  const available = to - from;
  let count = 0;
  let bytes = 0;
  while (count < Math.min(available, size.limit)) {
    bytes += messages[end === 'newest' ? to - 1 - count : from + count]!.bytes + 1;
    if (bytes > size.bytes && !(count === 0 && size.atLeastOne)) break;
    count++;
  }
  const taken = end === 'newest' ? messages.slice(to - count, to) : messages.slice(from, from + count);
  return {
    messages: taken.map((message) => message.json),
    more: count < available,
  };
}

/**
 * Index of the first message numbered above `seq`. Messages are in ascending order but may have
 * holes (a damaged line dropped by repair), so the index cannot be computed from the numbers.
 */
function firstAbove(messages: readonly StoredMessage[], seq: number): number {
  let low = 0;
  let high = messages.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (messages[middle]!.seq <= seq) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * messages.log holds messages and, after a compaction, two kinds of line for the replay check: an
 * id (`author:cid`) still inside the clock window, and a room's floor. They are told apart by field.
 */
type MessageLogRecord = ChatMessage | SeenRecord | FloorRecord;
interface SeenRecord {
  room: string;
  seen: string;
  seq: number;
  ts: number;
}
interface FloorRecord {
  room: string;
  replayFloor: number;
}

const chatMessage = shape<ChatMessage>({
  room: text,
  seq: positive,
  author: positive,
  cid: text,
  ts: whole,
  text: text,
  sig: text,
});
/** `author:cid`; the author counts among the ids that are never given to a new account. */
const seenKey: Check<string> = (value, field) => {
  const key = text(value, field);
  if (!/^[1-9]\d*:/.test(key)) throw new RecordError(`"${field}" must be an author id, a colon and a message id`);
  return key;
};
const seenRecord = shape<SeenRecord>({
  room: text,
  seen: seenKey,
  seq: positive,
  ts: whole,
});
const floorRecord = shape<FloorRecord>({ room: text, replayFloor: whole });

/** Checks a record read back from messages.log. */
export function readMessageLogRecord(value: unknown): MessageLogRecord {
  const has = (field: string): boolean => typeof value === 'object' && value !== null && field in value;
  const check = has('replayFloor') ? floorRecord : has('seen') ? seenRecord : chatMessage;
  return check(value, '');
}
