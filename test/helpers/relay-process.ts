/**
 * Starts the real relay (the built `bin/sov-relay.js`) as a child process on a free port with its
 * own temporary data folder, the way a user runs it. Tests talk to it only over the network.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const RELAY_BIN = path.join(PACKAGE_ROOT, 'bin', 'sov-relay.js');

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

/** Extra flags default to generous rate limits, so tests exercise limits only where they mean to. */
export async function startRelay(options: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<RelayProcess> {
  const dataDir = options.dataDir ?? tempDataDir();
  const args = ['--port', '0', '--data', dataDir, '--rate', '1000', '--registrations-per-hour', '100000', '--max-connections-per-address', '100000', ...(options.args ?? [])];
  const child = spawn(process.execPath, [RELAY_BIN, ...args], {
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
