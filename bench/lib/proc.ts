/**
 * What the benchmark reads from Linux about a process it started: CPU time from /proc/<pid>/stat
 * and memory from /proc/<pid>/status. Numbers come from the kernel's accounting of the measured
 * process itself, never from a load generator's view, so a generator that falls behind cannot
 * make the server look cheaper than it is.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Clock ticks per second of utime/stime (almost always 100; asked once rather than assumed). */
export const CLK_TCK = ((): number => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
})();

export interface CpuSample {
  /** Wall clock of the sample (performance.now() of the benchmark process, ms). */
  at: number;
  /** User and system CPU seconds of the whole process: every thread, including libuv's threadpool (fdatasync) and V8's GC helpers. */
  user: number;
  system: number;
  /** The same for the main (JavaScript) thread alone: the one that caps a single-threaded server. */
  mainUser: number;
  mainSystem: number;
}

/** utime and stime (fields 14 and 15) of a stat line; the command name may hold spaces and parentheses, so fields count from its closing one. */
function parseStat(text: string): { user: number; system: number } {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  return {
    user: Number(rest[11]) / CLK_TCK,
    system: Number(rest[12]) / CLK_TCK,
  };
}

export function readCpu(pid: number): CpuSample {
  const at = performance.now();
  const all = parseStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const main = parseStat(fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8'));
  return {
    at,
    user: all.user,
    system: all.system,
    mainUser: main.user,
    mainSystem: main.system,
  };
}

export interface CpuDelta {
  wallSeconds: number;
  /** CPU seconds, user + system, whole process. */
  cpuSeconds: number;
  userSeconds: number;
  systemSeconds: number;
  /** Main-thread CPU seconds. */
  mainCpuSeconds: number;
  /** Whole-process CPU as a percentage of one core over the interval (can pass 100 with helper threads). */
  percentOfOneCore: number;
  mainThreadPercentOfOneCore: number;
}

export function cpuDelta(before: CpuSample, after: CpuSample): CpuDelta {
  const wallSeconds = (after.at - before.at) / 1000;
  const userSeconds = after.user - before.user;
  const systemSeconds = after.system - before.system;
  const mainCpuSeconds = after.mainUser + after.mainSystem - before.mainUser - before.mainSystem;
  return {
    wallSeconds,
    cpuSeconds: userSeconds + systemSeconds,
    userSeconds,
    systemSeconds,
    mainCpuSeconds,
    percentOfOneCore: ((userSeconds + systemSeconds) / wallSeconds) * 100,
    mainThreadPercentOfOneCore: (mainCpuSeconds / wallSeconds) * 100,
  };
}

/** Resident set size in bytes (VmRSS), and the peak (VmHWM). */
export function readRss(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

export function openFileCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** The file system a folder lives on, from /proc/mounts (fdatasync on tmpfs is free, on a disk it is not). */
export function fileSystemOf(folder: string): string {
  try {
    const real = fs.realpathSync(folder);
    let best = { mount: '', type: 'unknown', device: '' };
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mount, type] = line.split(' ');
      if (!device || !mount || !type) continue;
      const inside = real === mount || real.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
      if (inside && mount.length >= best.mount.length) best = { mount, type, device };
    }
    return `${best.type} (${best.device} on ${best.mount})`;
  } catch {
    return 'unknown';
  }
}

export function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return match?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function removeFolder(folder: string): void {
  fs.rmSync(folder, { recursive: true, force: true });
}

export function ensureFolder(folder: string): string {
  fs.mkdirSync(folder, { recursive: true });
  return path.resolve(folder);
}
