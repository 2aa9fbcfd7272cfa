/**
 * A crash-safe append-only log of JSON lines: the one storage primitive behind accounts, sessions
 * and message history.
 *
 * - `append` resolves only after the line is written and fdatasync'ed, so an acknowledged change
 *   survives a crash or power loss. Appends that arrive while a sync is running share the next
 *   sync (group commit), which is what lets one disk keep up with thousands of messages a second.
 * - A torn last line (the process died mid-write) is dropped with a log line on open, never a
 *   refusal to start.
 * - A failed write (disk full, read-only folder) rejects that batch and everything queued behind
 *   it, and cuts the file back to its last good length, so the log never holds a half line in the
 *   middle and callers that assign sequence numbers can roll back without gaps.
 * - `compact` rewrites the live records to a temp file, fsyncs it, renames it over the log and
 *   fsyncs the folder: at every instant either the old or the new file is complete.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { SovError } from '../../sdk/errors.ts';
import { errorText } from '../logger.ts';
import type { Logger } from '../logger.ts';

interface PendingLine {
  text: string;
  onDurable: (() => void) | undefined;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Lets tests and the fault suite make writes fail the way a full or read-only disk would. */
export interface FileOps {
  write(handle: fsp.FileHandle, data: Buffer, position: number): Promise<void>;
}

const realFileOps: FileOps = {
  async write(handle, data, position) {
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await handle.write(data, offset, data.length - offset, position + offset);
      offset += bytesWritten;
    }
  },
};

export class AppendLog {
  /** Lines in the file now; owners compare it with their live record count to decide on compaction. */
  lineCount: number;
  private size: number;
  private queue: PendingLine[] = [];
  private compactRequest: (() => string[]) | null = null;
  private running: Promise<void> | null = null;
  /** Set when a failed write could not be cut back; the next flush retries the cut first. */
  private needsTruncate = false;

  private constructor(
    readonly file: string,
    private handle: fsp.FileHandle,
    size: number,
    lineCount: number,
    private readonly log: Logger,
    private readonly ops: FileOps,
  ) {
    this.size = size;
    this.lineCount = lineCount;
  }

  /**
   * Opens (creating if missing) the log at `file` and hands every stored record to `onRecord`, in order.
   * Lines that do not parse are skipped with a log line; a torn tail is cut off the file.
   */
  static async open(
    file: string,
    onRecord: (record: unknown, line: string) => void,
    log: Logger,
    ops: FileOps = realFileOps,
  ): Promise<AppendLog> {
    const content = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
    const lastNewline = content.lastIndexOf(0x0a);
    const goodSize = lastNewline + 1;
    if (goodSize < content.length) {
      log('warn', 'dropping torn last line (the relay stopped mid-write)', { file, bytes: content.length - goodSize });
    }
    let lineCount = 0;
    const text = content.subarray(0, goodSize).toString('utf8');
    let lineNumber = 0;
    for (const line of text.split('\n')) {
      lineNumber++;
      if (line === '') continue;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        log('warn', 'skipping unreadable line', { file, line: lineNumber });
        continue;
      }
      onRecord(record, line);
      lineCount++;
    }
    const handle = await fsp.open(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    if (goodSize < content.length) {
      await handle.truncate(goodSize);
      await handle.datasync();
    }
    return new AppendLog(file, handle, goodSize, lineCount, log, ops);
  }

  /**
   * Appends one JSON line; resolves once it is on disk, rejects with STORAGE_FAILED otherwise.
   * `onDurable` runs as soon as the line is on disk, before anything else can happen here: the
   * owner applies the record to its in-memory state there, so a compaction snapshot taken right
   * after this batch already contains it. (Applying after `await append()` left a window in which
   * the snapshot missed the batch just acknowledged, and a crash before the next compaction lost it.)
   */
  append(line: string, onDurable?: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ text: line, onDurable, resolve, reject });
      this.kick();
    });
  }

  /**
   * Replaces the file with `snapshot()`'s lines. The snapshot is taken after every earlier append
   * is durable, and appends made meanwhile land after it, so nothing acknowledged is lost.
   */
  compact(snapshot: () => string[]): void {
    this.compactRequest = snapshot;
    this.kick();
  }

  /** Waits for everything queued to reach the disk, then closes the file. */
  async close(): Promise<void> {
    while (this.running) await this.running;
    await this.handle.close();
  }

  private kick(): void {
    if (this.running) return;
    // setImmediate, not a microtask: lets every frame that arrived in this event-loop turn join the batch.
    this.running = new Promise((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .finally(() => {
        this.running = null;
        // An append made while drain() was finishing found `running` set and did not kick.
        if (this.queue.length > 0 || this.compactRequest) this.kick();
      });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 || this.compactRequest) {
      if (this.compactRequest) {
        const snapshot = this.compactRequest;
        this.compactRequest = null;
        await this.rewrite(snapshot());
        continue;
      }
      const batch = this.queue.splice(0);
      const data = Buffer.from(batch.map((item) => `${item.text}\n`).join(''), 'utf8');
      try {
        if (this.needsTruncate) await this.cutBack();
        await this.ops.write(this.handle, data, this.size);
        await this.handle.datasync();
        this.size += data.length;
        this.lineCount += batch.length;
        for (const item of batch) {
          item.onDurable?.();
          item.resolve();
        }
      } catch (error) {
        this.log('error', 'write failed; nothing from this batch was stored', { file: this.file, error: errorText(error) });
        await this.cutBack().catch(() => {
          this.needsTruncate = true;
        });
        const failed = batch.concat(this.queue.splice(0));
        const reason = new SovError('STORAGE_FAILED');
        for (const item of failed) item.reject(reason);
      }
    }
  }

  private async cutBack(): Promise<void> {
    await this.handle.truncate(this.size);
    this.needsTruncate = false;
  }

  private async rewrite(lines: string[]): Promise<void> {
    const temp = `${this.file}.tmp`;
    const data = Buffer.from(lines.map((line) => `${line}\n`).join(''), 'utf8');
    let tempHandle: fsp.FileHandle | null = null;
    try {
      tempHandle = await fsp.open(temp, 'w', 0o600);
      await this.ops.write(tempHandle, data, 0);
      await tempHandle.sync();
      await tempHandle.close();
      tempHandle = null;
      await fsp.rename(temp, this.file);
      await syncFolder(path.dirname(this.file));
    } catch (error) {
      this.log('warn', 'compaction failed; the old log stays in use', { file: this.file, error: errorText(error) });
      await tempHandle?.close().catch(() => undefined);
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      return;
    }
    const old = this.handle;
    this.handle = await fsp.open(this.file, fs.constants.O_RDWR);
    await old.close().catch(() => undefined);
    this.size = data.length;
    this.lineCount = lines.length;
  }
}

/** fsync on a directory makes a rename inside it durable (POSIX leaves it in the page cache otherwise). */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await fsp.open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
