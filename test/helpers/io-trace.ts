/**
 * The disk after a power cut, rebuilt from what a process wrote and synced.
 *
 * SIGKILL leaves the page cache alone, so a relay that never fsyncs passes every kill test. A
 * power cut does not: what was not fsynced is gone. `IoRecorder` runs the relay with the io-trace
 * shim (io-trace.c), which records every open, write, truncation, sync and folder change below one
 * root folder, and then replays that trace over a copy of the folder as it was before the relay
 * started:
 *
 * - `powerCut()`: each file keeps exactly what it held at the BEGIN of its last completed
 *   fsync/fdatasync (a file never synced is empty, a file from before the trace keeps its old
 *   bytes); each folder keeps exactly the names it had at the BEGIN of its last completed fsync
 *   (a new file, a rename, an unlink or a mkdir whose folder was never fsynced afterwards did not
 *   happen). POSIX promises nothing more, and real file systems often keep more; this model keeps
 *   the least, so it catches every missing sync. It does not model torn or reordered pages of
 *   unsynced writes (the kill tests and append-log tests cover torn tails): they are all lost.
 * - `unseen()`: replays the whole trace, synced or not, and compares it with the real folder. Any
 *   difference means the shim missed a change (io_uring, a raw syscall, mmap...), and a power cut
 *   built from that trace would prove nothing. Calls in flight when the process died (a BEGIN
 *   without an end) may or may not have happened, so what they touch is left out of the comparison.
 *
 * Folders are known by path: a renamed folder is not modelled (the relay renames only files).
 */
import fs from 'node:fs';
import path from 'node:path';

const HEADER_BYTES = 48;
const KIND = {
  1: 'open',
  2: 'write',
  3: 'truncate',
  4: 'sync',
  5: 'rename',
  6: 'unlink',
  7: 'mkdir',
  8: 'rmdir',
  9: 'untrackable',
} as const;
type Kind = (typeof KIND)[keyof typeof KIND];
const PHASE = { 1: 'begin', 2: 'done', 3: 'failed' } as const;
type Phase = (typeof PHASE)[keyof typeof PHASE];
/** A write's BEGIN at the file position (write, writev): where it lands is known only at DONE. */
const AT_POSITION = 2n ** 64n - 1n;

interface TraceRecord {
  kind: Kind;
  phase: Phase;
  fd: number;
  id: bigint;
  a: bigint;
  b: bigint;
  path: string;
  path2: string;
  data: Buffer;
}

function readTrace(file: string): { records: TraceRecord[]; torn: boolean } {
  const bytes = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
  const records: TraceRecord[] = [];
  let at = 0;
  while (at + HEADER_BYTES <= bytes.length) {
    const pathLength = bytes.readUInt32LE(at + 32);
    const path2Length = bytes.readUInt32LE(at + 36);
    const dataLength = Number(bytes.readBigUInt64LE(at + 40));
    const end = at + HEADER_BYTES + pathLength + path2Length + dataLength;
    if (end > bytes.length) break;
    const kind = KIND[bytes.readUInt16LE(at) as keyof typeof KIND];
    const phase = PHASE[bytes.readUInt16LE(at + 2) as keyof typeof PHASE];
    if (!kind || !phase) throw new Error(`io trace ${file}: unknown record at byte ${at}`);
    let cursor = at + HEADER_BYTES;
    const take = (length: number): Buffer => bytes.subarray(cursor, (cursor += length));
    records.push({
      kind,
      phase,
      fd: bytes.readInt32LE(at + 4),
      id: bytes.readBigUInt64LE(at + 8),
      a: bytes.readBigUInt64LE(at + 16),
      b: bytes.readBigUInt64LE(at + 24),
      path: take(pathLength).toString('utf8'),
      path2: take(path2Length).toString('utf8'),
      data: take(dataLength),
    });
    at = end;
  }
  // The process died while appending a record: that call is in flight, like one with a BEGIN only.
  return { records, torn: at < bytes.length };
}

// ---------------------------------------------------------------------------------------------
// The model: files and folders, each with what it held before the trace and the changes since

type FileChange = { at: number; offset: number; data: Buffer } | { at: number; length: number };

interface FileNode {
  kind: 'file';
  before: Buffer;
  changes: FileChange[];
  /** Changes recorded before this record index are durable (the BEGIN of the last completed sync). */
  durableBefore: number;
}

interface FolderNode {
  kind: 'folder';
  before: Map<string, Node>;
  changes: { at: number; name: string; node: Node | null }[];
  durableBefore: number;
  /** The names now, kept up to date during the replay to resolve paths. */
  now: Map<string, Node>;
}

type Node = FileNode | FolderNode;

/** A folder's contents: relative path to bytes, or null for a folder. */
export type Tree = Map<string, Buffer | null>;

/** The model of a folder read before the trace began: everything in it counts as on disk. */
function modelOf(tree: Tree): FolderNode {
  const root: FolderNode = {
    kind: 'folder',
    before: new Map(),
    changes: [],
    durableBefore: -1,
    now: new Map(),
  };
  const folders = new Map<string, FolderNode>([['', root]]);
  for (const [relative, bytes] of [...tree].sort(([a], [b]) => a.split('/').length - b.split('/').length)) {
    const slash = relative.lastIndexOf('/');
    const parent = folders.get(relative.slice(0, Math.max(0, slash)))!;
    const node: Node =
      bytes === null
        ? {
            kind: 'folder',
            before: new Map(),
            changes: [],
            durableBefore: -1,
            now: new Map(),
          }
        : { kind: 'file', before: bytes, changes: [], durableBefore: -1 };
    if (node.kind === 'folder') folders.set(relative, node);
    parent.before.set(relative.slice(slash + 1), node);
    parent.now.set(relative.slice(slash + 1), node);
  }
  return root;
}

function fileBytes(file: FileNode, upTo: number): Buffer {
  let bytes = Buffer.alloc(Math.max(4096, file.before.length));
  file.before.copy(bytes);
  let length = file.before.length;
  const reserve = (size: number): void => {
    if (size <= bytes.length) return;
    // Doubling: an append log is thousands of small writes to one file.
    const grown = Buffer.alloc(Math.max(size, bytes.length * 2));
    bytes.copy(grown, 0, 0, length);
    bytes = grown;
  };
  for (const change of file.changes) {
    if (change.at >= upTo) break;
    const end = 'length' in change ? change.length : change.offset + change.data.length;
    const start = 'length' in change ? change.length : change.offset;
    reserve(end);
    if (start > length) bytes.fill(0, length, start); // a hole reads as zeros
    if ('data' in change) change.data.copy(bytes, change.offset);
    length = 'length' in change ? change.length : Math.max(length, end);
  }
  return Buffer.from(bytes.subarray(0, length));
}

function folderNames(folder: FolderNode, upTo: number): Map<string, Node> {
  const names = new Map(folder.before);
  for (const change of folder.changes) {
    if (change.at >= upTo) break;
    if (change.node) names.set(change.name, change.node);
    else names.delete(change.name);
  }
  return names;
}

function toTree(root: FolderNode, durable: boolean): Tree {
  const tree: Tree = new Map();
  const walk = (folder: FolderNode, prefix: string): void => {
    const names = durable ? folderNames(folder, folder.durableBefore) : folder.now;
    for (const [name, node] of names) {
      const relative = prefix ? `${prefix}/${name}` : name;
      if (node.kind === 'folder') {
        tree.set(relative, null);
        walk(node, relative);
      } else {
        tree.set(relative, fileBytes(node, durable ? node.durableBefore : Infinity));
      }
    }
  };
  walk(root, '');
  return tree;
}

/** Reads a real folder as a Tree. */
export function readTree(folder: string): Tree {
  const tree: Tree = new Map();
  const walk = (dir: string, prefix: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        tree.set(relative, null);
        walk(path.join(dir, entry.name), relative);
      } else {
        tree.set(relative, fs.readFileSync(path.join(dir, entry.name)));
      }
    }
  };
  walk(folder, '');
  return tree;
}

/** Writes a Tree into `folder` (which must be empty or missing). */
export function writeTree(tree: Tree, folder: string): void {
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  for (const [relative, bytes] of [...tree].sort(([a], [b]) => a.length - b.length)) {
    const full = path.join(folder, relative);
    if (bytes === null) fs.mkdirSync(full, { mode: 0o700 });
    else fs.writeFileSync(full, bytes, { mode: 0o600 });
  }
}

export interface TraceCounts {
  /** Completed writes, syncs and renames, by path relative to the root (a folder's syncs under its own path, '' for the root). */
  writes: Map<string, number>;
  syncs: Map<string, number>;
  renames: number;
  /** Calls that had begun and not returned when the process died. */
  inFlight: number;
}

// ---------------------------------------------------------------------------------------------
// The replay

class Replay {
  readonly counts: TraceCounts = {
    writes: new Map(),
    syncs: new Map(),
    renames: 0,
    inFlight: 0,
  };
  /** What calls in flight at the end may have touched: paths (and everything below), and byte ranges of files. */
  private readonly uncertainPaths = new Set<string>();
  private readonly uncertainRanges = new Map<FileNode, { from: number; to: number }[]>();
  private readonly fds = new Map<number, { node: Node; path: string }>();

  constructor(
    private readonly root: string,
    private readonly tree: FolderNode,
    records: TraceRecord[],
    torn: boolean,
  ) {
    const begun = new Map<bigint, { record: TraceRecord; at: number }>();
    records.forEach((record, at) => {
      if (record.kind === 'untrackable')
        throw new Error(`io trace: ${record.path} got fd ${record.fd}, beyond what the shim tracks`);
      if (record.phase === 'begin') begun.set(record.id, { record, at });
      else {
        const begin = begun.get(record.id);
        begun.delete(record.id);
        if (!begin) throw new Error(`io trace: ${record.phase} of ${record.kind} call ${record.id} without its begin`);
        if (record.phase === 'done') this.apply(begin.record, begin.at, record, at);
      }
    });
    for (const { record } of begun.values()) this.inFlight(record);
    this.counts.inFlight = begun.size + (torn ? 1 : 0);
    // A torn last record: its call cannot even be named, so nothing the replay says is certain enough to compare.
    if (torn) this.uncertainPaths.add('');
  }

  private relative(file: string): string {
    const relative = path.relative(this.root, file);
    if (relative.startsWith('..') || path.isAbsolute(relative))
      throw new Error(`io trace: ${file} is outside ${this.root}`);
    return relative.split(path.sep).join('/');
  }

  /** The folder holding `relative` now, and the name in it. */
  private parent(relative: string): { folder: FolderNode; name: string } {
    const parts = relative.split('/');
    const name = parts.pop()!;
    let folder = this.tree;
    for (const part of parts) {
      const next = folder.now.get(part);
      if (next?.kind !== 'folder')
        throw new Error(`io trace: ${relative}: no folder ${part} at that point of the trace`);
      folder = next;
    }
    return { folder, name };
  }

  private setName(relative: string, node: Node | null, at: number): void {
    const { folder, name } = this.parent(relative);
    folder.changes.push({ at, name, node });
    if (node) folder.now.set(name, node);
    else folder.now.delete(name);
  }

  private count(counter: Map<string, number>, key: string): void {
    counter.set(key, (counter.get(key) ?? 0) + 1);
  }

  private apply(begin: TraceRecord, beginAt: number, done: TraceRecord, at: number): void {
    switch (begin.kind) {
      case 'open': {
        const relative = this.relative(done.path);
        const folder = done.b === 1n;
        let node: Node | undefined;
        if (relative === '') node = this.tree;
        else {
          const { folder: parent, name } = this.parent(relative);
          node = parent.now.get(name);
          const flags = Number(done.a);
          if (!node) {
            if (!(flags & fs.constants.O_CREAT) || folder)
              throw new Error(`io trace: opened ${relative}, which the trace never saw made`);
            node = {
              kind: 'file',
              before: Buffer.alloc(0),
              changes: [],
              durableBefore: -1,
            };
            this.setName(relative, node, at);
          } else if (node.kind === 'file' && flags & fs.constants.O_TRUNC) {
            node.changes.push({ at, length: 0 });
          }
        }
        if ((node.kind === 'folder') !== folder)
          throw new Error(`io trace: ${relative} changed between file and folder unseen`);
        this.fds.set(done.fd, { node, path: relative });
        break;
      }
      case 'write':
      case 'truncate': {
        const open = this.fds.get(done.fd);
        if (open?.node.kind !== 'file')
          throw new Error(`io trace: ${begin.kind} on fd ${done.fd}, which is not an open file`);
        if (begin.kind === 'write') {
          open.node.changes.push({
            at,
            offset: Number(done.a),
            data: done.data,
          });
          this.count(this.counts.writes, open.path);
        } else {
          open.node.changes.push({ at, length: Number(begin.a) });
        }
        break;
      }
      case 'sync': {
        const open = this.fds.get(done.fd);
        if (!open) throw new Error(`io trace: sync of fd ${done.fd}, which is not open`);
        // Durable: what was done before the sync began; whatever raced with it is not counted.
        open.node.durableBefore = Math.max(open.node.durableBefore, beginAt);
        this.count(this.counts.syncs, open.path);
        break;
      }
      case 'rename': {
        const from = this.relative(begin.path);
        const { folder, name } = this.parent(from);
        const node = folder.now.get(name);
        if (!node) throw new Error(`io trace: renamed ${from}, which the trace does not have`);
        this.setName(from, null, at);
        this.setName(this.relative(begin.path2), node, at);
        this.counts.renames++;
        break;
      }
      case 'unlink':
      case 'rmdir':
        this.setName(this.relative(begin.path), null, at);
        break;
      case 'mkdir':
        this.setName(
          this.relative(begin.path),
          {
            kind: 'folder',
            before: new Map(),
            changes: [],
            durableBefore: -1,
            now: new Map(),
          },
          at,
        );
        break;
    }
  }

  private inFlight(begin: TraceRecord): void {
    const uncertain = (file: FileNode, from: number, to: number): void => {
      this.uncertainRanges.set(file, [...(this.uncertainRanges.get(file) ?? []), { from, to }]);
    };
    const open = this.fds.get(begin.fd);
    switch (begin.kind) {
      case 'write':
        if (open?.node.kind === 'file')
          uncertain(
            open.node,
            begin.a === AT_POSITION ? 0 : Number(begin.a),
            begin.a === AT_POSITION ? Infinity : Number(begin.a + begin.b),
          );
        break;
      case 'truncate':
        if (open?.node.kind === 'file') uncertain(open.node, Number(begin.a), Infinity);
        break;
      case 'sync':
        break; // changes nothing a reader can see
      default:
        this.uncertainPaths.add(this.relative(begin.path));
        if (begin.path2) this.uncertainPaths.add(this.relative(begin.path2));
    }
  }

  private isUncertain(relative: string): boolean {
    for (const uncertain of this.uncertainPaths) {
      if (uncertain === '' || relative === uncertain || relative.startsWith(`${uncertain}/`)) return true;
    }
    return false;
  }

  unseen(): string[] {
    const model = toTree(this.tree, false);
    const disk = readTree(this.root);
    const nodes = new Map<string, Node>();
    const walk = (folder: FolderNode, prefix: string): void => {
      for (const [name, node] of folder.now) {
        const relative = prefix ? `${prefix}/${name}` : name;
        nodes.set(relative, node);
        if (node.kind === 'folder') walk(node, relative);
      }
    };
    walk(this.tree, '');
    const differences: string[] = [];
    for (const relative of new Set([...model.keys(), ...disk.keys()])) {
      if (this.isUncertain(relative)) continue;
      const expected = model.get(relative);
      const actual = disk.get(relative);
      if (expected === undefined || actual === undefined) {
        differences.push(
          `${relative}: ${expected === undefined ? 'on disk, not in the trace' : 'in the trace, not on disk'}`,
        );
      } else if ((expected === null) !== (actual === null)) {
        differences.push(
          `${relative}: a ${actual === null ? 'folder' : 'file'} on disk, a ${expected === null ? 'folder' : 'file'} in the trace`,
        );
      } else if (expected && actual) {
        const node = nodes.get(relative);
        const ranges = (node?.kind === 'file' && this.uncertainRanges.get(node)) || [];
        const settled = (offset: number): boolean => !ranges.some((range) => offset >= range.from && offset < range.to);
        const longest = Math.max(expected.length, actual.length);
        for (let offset = 0; offset < longest; offset++) {
          if (expected[offset] !== actual[offset] && settled(offset)) {
            differences.push(
              `${relative}: differs from byte ${offset} (the trace has ${expected.length} bytes, the disk ${actual.length})`,
            );
            break;
          }
        }
      }
    }
    return differences;
  }

  powerCut(): Tree {
    return toTree(this.tree, true);
  }
}

// ---------------------------------------------------------------------------------------------

/** Records what a process does below `root`, from now on. */
export class IoRecorder {
  private readonly before: Tree;
  readonly root: string;

  /**
   * @param root the folder to watch, as the process will name it (made absolute and real here)
   * @param traceFile where the shim appends its records; outside `root`
   */
  constructor(
    root: string,
    readonly traceFile: string,
  ) {
    this.root = fs.realpathSync(root);
    fs.rmSync(traceFile, { force: true });
    this.before = readTree(this.root);
  }

  /**
   * Environment for the traced process. UV_USE_IO_URING=0 keeps libuv on the libc calls the shim
   * sees: on Node 20.20 it is off unless set to 1, but an inherited 1 would blind the trace.
   */
  env(shim: string): NodeJS.ProcessEnv {
    return {
      LD_PRELOAD: shim,
      SOV_IO_TRACE: this.traceFile,
      SOV_IO_TRACE_ROOT: this.root,
      UV_USE_IO_URING: '0',
    };
  }

  /** Reads the trace so far. Call it once the traced process is gone. */
  replay(): Replay {
    const { records, torn } = readTrace(this.traceFile);
    return new Replay(this.root, modelOf(this.before), records, torn);
  }
}

export type { Replay };
