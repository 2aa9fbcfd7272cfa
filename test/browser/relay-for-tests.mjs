// Runs one real relay for a browser test run and lets tests restart it (same port, same data)
// through a dev-server route, so reconnect and resume are tested against a real restart.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BIN = path.resolve('bin/sov-relay.js');

export class RelayForTests {
  constructor() {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sov-browser-'));
    this.port = 0;
    this.child = null;
  }

  /**
   * Starts the relay, on the same port as before once it has had one. uWebSockets.js does not set
   * SO_REUSEADDR, so right after a crash the kernel refuses that port while the killed relay's
   * connections sit in TIME_WAIT (60 s on Linux), and the relay exits saying the port is in use:
   * that is waited out here, as an operator restarting it would.
   */
  async start() {
    const deadline = Date.now() + 90_000;
    let waiting = false;
    for (;;) {
      try {
        this.url = await this.launch();
        break;
      } catch (error) {
        if (!error.portBusy || this.port === 0 || Date.now() > deadline) throw error;
        if (!waiting) process.stderr.write(`test relay: port ${this.port} still held (TIME_WAIT); retrying for up to 90 s\n`);
        waiting = true;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    this.port = Number(new URL(this.url).port);
    return this.info();
  }

  /** One try: resolves with the URL once the relay listens; rejects (portBusy set) if it exits first. */
  launch() {
    const args = [BIN, '--port', String(this.port), '--data', this.dataDir, '--rate', '1000', '--registrations-per-hour', '100000'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let errors = '';
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      errors += chunk;
      // The refusal a retry expects is said once by start(), not on every try.
      if (!/cannot listen on .*in use/.test(chunk)) process.stderr.write(chunk);
    });
    return new Promise((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk) => {
        out += chunk;
        const match = /listening on (\S+)/.exec(out);
        if (match) resolve(match[1]);
      });
      // 'close', not 'exit': by then all of stderr has been read.
      child.once('close', (code) => reject(Object.assign(new Error(`test relay exited with ${code}`), { portBusy: /cannot listen on .*in use/.test(errors) })));
    });
  }

  info() {
    return { url: this.url, wsUrl: `${this.url.replace(/^http/, 'ws')}/v1/ws` };
  }

  /** Removes the data folder; call once the test run is over. */
  dispose() {
    this.child?.kill('SIGKILL');
    fs.rmSync(this.dataDir, { recursive: true, force: true });
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

  /** A web-test-runner plugin: /__relay gives the relay's URLs; /__relay/stop?signal=SIGKILL, /__relay/start and /__relay/restart control it. */
  plugin() {
    return {
      name: 'sov-test-relay',
      serve: async (context) => {
        if (context.path === '/__relay') return { body: JSON.stringify(this.info()), type: 'json' };
        if (context.path === '/__relay/restart') {
          const signal = context.URL.searchParams.get('signal') === 'SIGKILL' ? 'SIGKILL' : 'SIGTERM';
          return { body: JSON.stringify(await this.restart(signal)), type: 'json' };
        }
        if (context.path === '/__relay/stop') {
          await this.stop(context.URL.searchParams.get('signal') === 'SIGKILL' ? 'SIGKILL' : 'SIGTERM');
          return { body: '{}', type: 'json' };
        }
        if (context.path === '/__relay/start') return { body: JSON.stringify(await this.start()), type: 'json' };
        return undefined;
      },
    };
  }
}
