// Runs one real relay for a browser test run and lets tests restart it (same port, same data)
// through a dev-server route, so reconnect and resume are tested against a real restart. Tests can
// also start a second relay on a copy of its data folder whose history they wrote themselves: the
// relay of an operator who altered what is stored.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BIN = path.resolve('relay/bin/sov-relay.js');
const WRITE_HISTORY = path.resolve('test/helpers/write-history.ts');
// Not copied into a forged folder: the lock names the running relay, and the history is written anew.
const NOT_COPIED = new Set(['relay.lock', 'messages.log']);

export class RelayForTests {
  constructor(dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sov-browser-')), extraArgs = []) {
    this.dataDir = dataDir;
    this.extraArgs = extraArgs;
    this.port = 0;
    this.child = null;
    /** Relays started by `forged`, stopped and removed with this one. */
    this.forgedRelays = [];
  }

  /** Without a byte budget unless `extraArgs` sets one: the tests' raw connections (forgery.ts) do not rotate. */
  async start() {
    const args = [
      BIN,
      '--port',
      String(this.port),
      '--data',
      this.dataDir,
      '--rate',
      '1000',
      '--registrations-per-hour',
      '100000',
      '--max-connections-per-address',
      '100000',
      '--conn-budget',
      '0',
      ...this.extraArgs,
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child = child;
    const url = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk) => {
        out += chunk;
        const match = /listening on (\S+)/.exec(out);
        if (match) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`test relay exited with ${code}`)));
    });
    this.url = url;
    this.port = Number(new URL(url).port);
    return this.info();
  }

  info() {
    return { url: this.url, wsUrl: `${this.url.replace(/^http/, 'ws')}/v1/ws` };
  }

  /** Removes the data folder; call once the test run is over. */
  dispose() {
    this.child?.kill('SIGKILL');
    // A relay just killed may still be writing for a moment: the removal then meets ENOTEMPTY and retries.
    fs.rmSync(this.dataDir, { recursive: true, force: true, maxRetries: 10 });
    for (const relay of this.forgedRelays.splice(0)) relay.dispose();
  }

  /**
   * Starts another relay on a copy of this one's data folder (accounts and sessions, so users log
   * in and sessions resume there) whose only history is `messages` (an array of messages without
   * `seq`, oldest first), written by the relay's own store: see test/helpers/write-history.ts.
   * `budget`: its --conn-budget, so that it pages history as a censored network needs.
   */
  async forged(messages, budget = 0) {
    const relay = new RelayForTests(undefined, budget > 0 ? ['--conn-budget', String(budget)] : []);
    this.forgedRelays.push(relay);
    fs.cpSync(this.dataDir, relay.dataDir, {
      recursive: true,
      filter: (source) => !NOT_COPIED.has(path.basename(source)),
    });
    const writer = spawn(process.execPath, ['--import', 'tsx', WRITE_HISTORY, relay.dataDir], {
      stdio: ['pipe', 'inherit', 'inherit'],
    });
    writer.stdin.end(JSON.stringify(messages));
    const code = await new Promise((resolve) => writer.once('exit', resolve));
    if (code !== 0) throw new Error(`writing the forged history failed (exit ${code})`);
    return relay.start();
  }

  async stop(signal = 'SIGTERM') {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  async restart(signal) {
    await this.stop(signal);
    return this.start();
  }

  /**
   * A web-test-runner plugin: /__relay gives the relay's URLs; /__relay/stop?signal=SIGKILL, /__relay/start
   * and /__relay/restart control it; POST /__relay/forged with a JSON array of messages starts a forged relay
   * (`?budget=BYTES`: with that byte budget).
   */
  plugin() {
    return {
      name: 'sov-test-relay',
      serve: async (context) => {
        if (context.path === '/__relay') return { body: JSON.stringify(this.info()), type: 'json' };
        if (context.path === '/__relay/restart') {
          const signal = context.URL.searchParams.get('signal') === 'SIGKILL' ? 'SIGKILL' : 'SIGTERM';
          return {
            body: JSON.stringify(await this.restart(signal)),
            type: 'json',
          };
        }
        if (context.path === '/__relay/stop') {
          await this.stop(context.URL.searchParams.get('signal') === 'SIGKILL' ? 'SIGKILL' : 'SIGTERM');
          return { body: '{}', type: 'json' };
        }
        if (context.path === '/__relay/start') return { body: JSON.stringify(await this.start()), type: 'json' };
        if (context.path === '/__relay/forged') {
          let body = '';
          for await (const chunk of context.req) body += chunk;
          return {
            body: JSON.stringify(
              await this.forged(JSON.parse(body), Number(context.URL.searchParams.get('budget') ?? 0)),
            ),
            type: 'json',
          };
        }
        return undefined;
      },
    };
  }
}
