/**
 * Every process the benchmark starts goes through here, so that every one of them is stopped
 * however the run ends: normal exit, a thrown error, Ctrl-C, a timeout, or the benchmark itself
 * being killed with SIGKILL (a tiny "reaper" process notices its IPC channel closing and kills
 * the registered pids). Children are killed by pid, never by name.
 */
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BENCH_DIR = path.join(PACKAGE_ROOT, 'bench');
const RELAY_BIN = path.join(PACKAGE_ROOT, 'relay', 'bin', 'sov-relay.js');

const children = new Set<ChildProcess>();

// The reaper ignores SIGINT/SIGTERM (it must outlive a Ctrl-C long enough to clean up) and acts
// only when its parent's IPC channel closes, which the kernel guarantees even on SIGKILL.
const REAPER_SOURCE = `
const pids = new Set();
const folders = new Set();
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('message', (m) => {
  if (m.add) pids.add(m.add);
  if (m.remove) pids.delete(m.remove);
  if (m.folder) folders.add(m.folder);
  if (m.forget) folders.delete(m.forget);
});
process.on('disconnect', () => {
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  // The killed relays' data folders go too (after a short wait for the kills to land).
  setTimeout(() => {
    for (const folder of folders) { try { require('node:fs').rmSync(folder, { recursive: true, force: true }); } catch {} }
    process.exit(0);
  }, 200);
});
`;
let reaper: ChildProcess | null = null;

function startReaper(): ChildProcess {
  reaper ??= spawn(process.execPath, ['-e', REAPER_SOURCE], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  reaper.unref();
  (reaper as unknown as { channel?: { unref(): void } }).channel?.unref();
  return reaper;
}

function track(child: ChildProcess): void {
  children.add(child);
  const guard = startReaper();
  if (child.pid !== undefined && guard.connected) guard.send({ add: child.pid });
  child.once('exit', () => {
    children.delete(child);
    if (child.pid !== undefined && guard.connected) guard.send({ remove: child.pid });
  });
}

/** Temporary folders the reaper deletes if the benchmark dies without cleaning up itself. */
export function registerTempFolder(folder: string, registered = true): void {
  const guard = startReaper();
  if (guard.connected) guard.send(registered ? { folder } : { forget: folder });
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Stops one child: the signal first, SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 3000,
): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => alive(child) && child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Synchronous last resort for process 'exit': SIGKILL every child still running. */
export function killAllNow(): void {
  for (const child of children) if (alive(child)) child.kill('SIGKILL');
  if (reaper && reaper.connected) reaper.disconnect();
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((child) => stopChild(child, 'SIGTERM', 2000)));
  if (reaper && reaper.connected) reaper.disconnect();
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export interface RelayHandle {
  pid: number;
  url: string;
  wsUrl: string;
  child: ChildProcess;
  /** The relay's log so far (stderr). */
  log(): string;
  stop(): Promise<void>;
}

/** Starts the built relay the way a user does (`node relay/bin/sov-relay.js`), so its pid is the relay itself. */
export async function startRelay(
  dataDir: string,
  extraArgs: string[],
  nodeArgs: string[] = [],
  timeoutMs = 15_000,
  pinToCpu?: number,
): Promise<RelayHandle> {
  const args = ['--port', '0', '--data', dataDir, ...extraArgs];
  const command = [process.execPath, ...nodeArgs, RELAY_BIN, ...args];
  // taskset execs node in place, so the child's pid is still the relay's and the relay sees one core.
  if (pinToCpu !== undefined) command.unshift('taskset', '-c', String(pinToCpu));
  const child = spawn(command[0]!, command.slice(1), {
    cwd: PACKAGE_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(
      () => reject(new Error(`relay did not print "listening on" within ${timeoutMs} ms:\n${tail(stderr)}`)),
      timeoutMs,
    );
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /listening on (\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`relay exited (${code ?? signal}) before listening:\n${tail(stderr)}`));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  // A relay that dies mid-phase makes the phase's clients fail with timeouts; say why right away.
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping)
      process.stderr.write(
        `bench: the relay (pid ${child.pid}) exited unexpectedly (${code ?? signal}):\n${tail(stderr)}\n`,
      );
  });
  return {
    pid: child.pid!,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/v1/ws`,
    child,
    log: () => stderr,
    stop: () => {
      stopping = true;
      return stopChild(child, 'SIGTERM', 10_000);
    },
  };
}

type Pending = {
  resolve(value: any): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
  what: string;
};

/**
 * A forked TypeScript process (load generator or baseline server) driven by request/reply
 * messages over the IPC channel. Any call fails with the child's stderr if the child dies.
 */
export class WorkerHandle {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stderr = '';
  private exitError: Error | null = null;
  private readonly eventListeners = new Set<(event: any) => void>();

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    child.on('message', (message: any) => {
      if (message && typeof message.re === 'number') {
        const pending = this.pending.get(message.re);
        if (!pending) return;
        this.pending.delete(message.re);
        clearTimeout(pending.timer);
        if (message.ok) pending.resolve(message.result);
        else pending.reject(new Error(`${this.name}: ${pending.what} failed: ${message.error}`));
      } else if (message && message.event) {
        for (const listener of this.eventListeners) listener(message);
      }
    });
    child.once('exit', (code, signal) => {
      this.exitError = new Error(
        `${this.name} (pid ${child.pid}) exited (${code ?? signal})${this.stderr ? `:\n${tail(this.stderr)}` : ''}`,
      );
      for (const pending of this.pending.values()) {
        clearTimeout(pending.timer);
        pending.reject(this.exitError);
      }
      this.pending.clear();
    });
  }

  static async start(name: string, file: string, timeoutMs = 20_000): Promise<WorkerHandle> {
    // tsx runs the TypeScript directly; it only hooks module loading, so it costs nothing once started.
    const child = fork(path.join(BENCH_DIR, file), [], {
      cwd: PACKAGE_ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    track(child);
    const worker = new WorkerHandle(name, child);
    await worker.call('ping', {}, timeoutMs);
    return worker;
  }

  get pid(): number {
    return this.child.pid!;
  }

  call<T = any>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new Error(
            `${this.name}: "${cmd}" timed out after ${timeoutMs} ms${this.stderr ? `; its stderr:\n${tail(this.stderr)}` : ''}`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, what: `"${cmd}"` });
      this.child.send({ id, cmd, args });
    });
  }

  onEvent(listener: (event: any) => void): void {
    this.eventListeners.add(listener);
  }

  stop(): Promise<void> {
    return stopChild(this.child, 'SIGTERM', 3000);
  }
}
