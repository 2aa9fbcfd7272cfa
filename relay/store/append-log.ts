/**
 * A crash-safe append-only log of JSON records, one checksummed line each (format in log-line.ts):
 * the one storage primitive behind accounts, sessions and message history.
 *
 * - `append` resolves only after the line is written and fdatasync'ed, so an acknowledged change
 *   survives a crash or power loss. Appends that arrive while a sync is running share the next
 *   sync (group commit), which is what lets one disk keep up with thousands of messages a second.
 * - A torn last line (the process died mid-write) is dropped with a log line on open, never a
 *   refusal to start. Any other line that fails its checksum or its store's check stops the open
 *   with LogDamagedError naming the file and line: it was acknowledged once, so guessing past it
 *   (skipping it, or trusting it) could lose or misattribute data without anyone noticing.
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
import { syncFolder } from '../data-folder.ts';
import { errorText } from '../logger.ts';
import type { Logger } from '../logger.ts';
import { LogDamagedError, formatLine, scanLines, splitTornTail } from './log-line.ts';

// avatar-store.ts imports it from here; it lives with the data folder, which needs it too.
export { syncFolder };

interface PendingLine {
  line: string;
  onDurable: (() => void) | undefined;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The log's disk operations: tests and the fault suite make writes fail the way a full or
 * read-only disk would, and the relay times each fdatasync for its metrics.
 */
export interface FileOps {
  write(handle: fsp.FileHandle, data: Buffer, position: number): Promise<void>;
  datasync(handle: fsp.FileHandle): Promise<void>;
}

export const realFileOps: FileOps = {
  async write(handle, data, position) {
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await handle.write(data, offset, data.length - offset, position + offset);
      offset += bytesWritten;
    }
  },
  datasync: (handle) => handle.datasync(),
};

export class AppendLog {
  /** Lines in the file now; owners compare it with their live record count to decide on compaction. */
  lineCount: number;
  /** Lines without a checksum (written before checksums) until the next compaction rewrites them. */
  legacyLines: number;
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
    legacyLines: number,
    private readonly log: Logger,
    private readonly ops: FileOps,
  ) {
    this.size = size;
    this.lineCount = lineCount;
    this.legacyLines = legacyLines;
  }

  /**
   * Opens (creating if missing) the log at `file`, checks every stored record with `read` (which
   * throws RecordError for a record of the wrong shape) and hands it to `onRecord` with its JSON
   * text, in order. A torn tail is cut off the file.
   * @throws LogDamagedError for the first line that fails its checksum or `read`.
   */
  static async open<R>(
    file: string,
    read: (value: unknown) => R,
    onRecord: (record: R, json: string) => void,
    log: Logger,
    ops: FileOps = realFileOps,
  ): Promise<AppendLog> {
    const existed = fs.existsSync(file);
    const content = existed ? fs.readFileSync(file) : Buffer.alloc(0);
    const { text, wholeBytes, tornBytes } = splitTornTail(content);
    if (tornBytes > 0)
      log('warn', 'dropping torn last line (the relay stopped mid-write)', {
        file,
        bytes: tornBytes,
      });
    let lineCount = 0;
    let legacyLines = 0;
    for (const line of scanLines(text, read)) {
      if (!line.ok) throw new LogDamagedError(file, line.number, line.problem);
      onRecord(line.record, line.json);
      lineCount++;
      if (line.legacy) legacyLines++;
    }
    const handle = await fsp.open(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    // A new file's name is in its folder only once the folder is synced: without this, a power cut
    // lost every line later acknowledged into a log created on an existing folder.
    if (!existed) await syncFolder(path.dirname(file));
    if (tornBytes > 0) {
      await handle.truncate(wholeBytes);
      await handle.datasync();
    }
    return new AppendLog(file, handle, wholeBytes, lineCount, legacyLines, log, ops);
  }

  /**
   * Appends one record (its JSON text); resolves once it is on disk, rejects with STORAGE_FAILED otherwise.
   * `onDurable` runs as soon as the line is on disk, before anything else can happen here: the
   * owner applies the record to its in-memory state there, so a compaction snapshot taken right
   * after this batch already contains it. (Applying after `await append()` left a window in which
   * the snapshot missed the batch just acknowledged, and a crash before the next compaction lost it.)
   */
  append(json: string, onDurable?: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ line: formatLine(json), onDurable, resolve, reject });
      this.kick();
    });
  }

  /**
   * Replaces the file with `snapshot()`'s records (JSON texts). The snapshot is taken after every
   * earlier append is durable, and appends made meanwhile land after it, so nothing acknowledged is lost.
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
      const data = Buffer.from(batch.map((item) => `${item.line}\n`).join(''), 'utf8');
      try {
        if (this.needsTruncate) await this.cutBack();
        await this.ops.write(this.handle, data, this.size);
        await this.ops.datasync(this.handle);
        this.size += data.length;
        this.lineCount += batch.length;
        for (const item of batch) {
          item.onDurable?.();
          item.resolve();
        }
      } catch (error) {
        this.log('error', 'write failed; nothing from this batch was stored', {
          file: this.file,
          error: errorText(error),
        });
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

  private async rewrite(records: string[]): Promise<void> {
    const temp = `${this.file}.tmp`;
    const data = Buffer.from(records.map((json) => `${formatLine(json)}\n`).join(''), 'utf8');
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
      this.log('warn', 'compaction failed; the old log stays in use', {
        file: this.file,
        error: errorText(error),
      });
      await tempHandle?.close().catch(() => undefined);
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      return;
    }
    const old = this.handle;
    this.handle = await fsp.open(this.file, fs.constants.O_RDWR);
    await old.close().catch(() => undefined);
    this.size = data.length;
    this.lineCount = records.length;
    this.legacyLines = 0;
  }
}
