/**
 * Starts the real relay (the built `relay/bin/sov-relay.js`) as a child process on a free port with its
 * own temporary data folder, the way a user runs it. Tests talk to it only over the network.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './client.ts';

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const RELAY_BIN = path.join(PACKAGE_ROOT, 'relay', 'bin', 'sov-relay.js');

export interface RelayProcess {
  url: string;
  wsUrl: string;
  port: number;
  dataDir: string;
  /** The engine the relay chose (its start-up log line names it). */
  engine: 'uws' | 'node';
  child: ChildProcess;
  /** Everything the relay wrote to stderr so far (its log). */
  stderr(): string;
  /** Sends a signal and resolves with the exit code (null when killed by the signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const createdFolders: string[] = [];
// Test data folders go when the test process ends, whatever the outcome.
process.once('exit', () => {
  for (const folder of createdFolders) fs.rmSync(folder, { recursive: true, force: true });
});

export function tempDataDir(): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'sov-test-'));
  createdFolders.push(folder);
  return folder;
}

export interface RelayOptions {
  /** The relay's command; default this repository's build. The packaging test runs an installed one. */
  bin?: string;
  dataDir?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /**
   * True (the default) adds generous rates and connection caps and no byte budget, so tests
   * exercise limits only where they mean to; false runs the relay with its own defaults, as a user would.
   */
  generousLimits?: boolean;
  /** The process's file limit (`ulimit -n`), for tests of what happens when descriptors run out. */
  fileLimit?: number;
}

/**
 * Also no byte budget: the raw test clients (./client.ts) do not move to a new connection before
 * one is spent, as the SDK does. The suites about budgets and hostile networks ask for one.
 */
const GENEROUS_LIMITS = [
  '--rate',
  '1000',
  '--registrations-per-hour',
  '100000',
  '--max-connections-per-address',
  '100000',
  '--conn-budget',
  '0',
];

export async function startRelay(options: RelayOptions = {}): Promise<RelayProcess> {
  const dataDir = options.dataDir ?? tempDataDir();
  const args = [
    '--port',
    '0',
    '--data',
    dataDir,
    ...(options.generousLimits === false ? [] : GENEROUS_LIMITS),
    ...(options.args ?? []),
  ];
  const command = [process.execPath, options.bin ?? RELAY_BIN, ...args];
  // The shell lowers the limit and then becomes node (exec), so the child's pid is the relay's.
  const [file, ...argv] =
    options.fileLimit === undefined
      ? command
      : ['/bin/sh', '-c', `ulimit -n ${options.fileLimit} && exec "$0" "$@"`, ...command];
  const child = spawn(file!, argv, {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /listening on (\S+)/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    exited.then((code) => reject(new Error(`relay exited with ${code} before listening:\n${stderr}`)));
  });
  const port = Number(new URL(url).port);
  // The engine line goes to stderr just before "listening on" goes to stdout; two pipes, so wait for it.
  while (!/engine: (uws|node)/.test(stderr)) await new Promise((resolve) => setTimeout(resolve, 5));
  const engine = /engine: (uws|node)/.exec(stderr)![1] as 'uws' | 'node';
  return {
    url,
    engine,
    wsUrl: `${url.replace(/^http/, 'ws')}/v1/ws`,
    port,
    dataDir,
    child,
    stderr: () => stderr,
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * The close code a client sees when the relay refuses to read a frame: uWS drops the connection
 * without a close frame (1006); the Node engine says why (1009 too big, 1007 not UTF-8).
 */
export function unreadFrameCode(relay: { engine: 'uws' | 'node' }, why: 'too-big' | 'not-utf8'): number {
  if (relay.engine === 'uws') return 1006;
  return why === 'too-big' ? 1009 : 1007;
}

/** GET /v1/health on a fresh TCP connection to `target` (a relay or a proxy); resolves with the status, body and time taken. */
export function health(target: { url: string }, ms = 10_000): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  const request = new Promise<{ status: number; body: string; ms: number }>((resolve, reject) => {
    http
      .get(`${target.url}/v1/health`, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            ms: Date.now() - started,
          }),
        );
      })
      .on('error', reject);
  });
  return withTimeout(request, 'GET /v1/health', ms);
}

/** Open file descriptors and resident memory of the relay process, from /proc (Linux). */
export function relayStats(relay: RelayProcess): {
  fds: number;
  rssMb: number;
} {
  const pid = relay.child.pid!;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
  return { fds: fs.readdirSync(`/proc/${pid}/fd`).length, rssMb: rssKb / 1024 };
}

let clockTicks: number | undefined;

/** CPU time (user and system) the relay process has used so far, in seconds, from /proc/PID/stat (Linux). */
export function relayCpuSeconds(relay: RelayProcess): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  // The command name in parentheses may hold spaces; the fields after it are fixed: utime and stime are 14 and 15.
  const stat = fs.readFileSync(`/proc/${relay.child.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/**
 * The share of one core the relay used over `ms` of wall time (0.01 is 1 %). The wait is the
 * measurement itself, not a guess at when something will have happened.
 */
export async function relayCpuShare(relay: RelayProcess, ms: number): Promise<number> {
  const cpuBefore = relayCpuSeconds(relay);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return (relayCpuSeconds(relay) - cpuBefore) / ((performance.now() - started) / 1000);
}

/** The relay's log records so far, for a relay started with `--log-format json`. */
export function logRecords(relay: RelayProcess): Record<string, unknown>[] {
  return relay
    .stderr()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export function assertRunning(relay: RelayProcess): void {
  assert.equal(relay.child.exitCode, null, 'the relay process is still running');
  assert.equal(relay.child.signalCode, null, 'the relay process is still running');
}
