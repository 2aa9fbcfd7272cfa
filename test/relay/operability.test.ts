/**
 * What an operator sees of a real relay process: how it fails to start on a taken port, what its
 * JSON log records (and never records), and whether its Prometheus counters follow real traffic.
 * The engine is the one SOV_ENGINE picks; run the file under both.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  TestClient,
  chat,
  eventually,
  loggedIn,
  randomKey,
  registration,
  signMessage,
  uniqueName,
} from '../helpers/client.ts';
import type { Person } from '../helpers/client.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.ts';
import { RELAY_BIN, logRecords, startRelay, tempDataDir } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

/** Failures to start must be quick: a supervisor restarting the relay waits on this. Measured: under 1 s. */
const START_FAILURE_BOUND_MS = 10_000;

/** Runs the relay to its exit; resolves with the exit code, stderr and the time it took. */
function runToExit(args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [RELAY_BIN, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: Date.now() - started });
    }),
  );
}

function holdPort(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', reject).listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Where the relay's metrics server ended up (it logs its URL; --metrics HOST:0 lets the system pick the port). */
async function metricsUrl(relay: RelayProcess): Promise<string> {
  await eventually(
    () => logRecords(relay).some((record) => record.msg === 'metrics: serving'),
    'the metrics address in the log',
  );
  return String(logRecords(relay).find((record) => record.msg === 'metrics: serving')!.url);
}

async function scrape(url: string): Promise<ReturnType<typeof parsePrometheusText>> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}

describe('starting the relay', () => {
  test('a port another program holds makes the relay exit 1 within seconds, naming the address, and leaves the data folder unlocked', async (t) => {
    const holder = await holdPort();
    try {
      const { port } = holder.address() as net.AddressInfo;
      const dataDir = tempDataDir();
      const run = await runToExit(['--port', String(port), '--data', dataDir]);
      t.diagnostic(
        `engine ${process.env.SOV_ENGINE ?? 'auto'}: exited ${run.code} after ${run.ms} ms: ${run.stderr.trim()}`,
      );
      assert.equal(run.code, 1);
      assert.ok(run.stderr.includes(`cannot listen on 127.0.0.1:${port}`), run.stderr);
      assert.ok(run.ms < START_FAILURE_BOUND_MS, `exited after ${run.ms} ms`);
      assert.ok(!fs.existsSync(path.join(dataDir, 'relay.lock')), 'the lock is released');
    } finally {
      holder.close();
    }
  });
});

describe('the JSON log', () => {
  test('records the engine, sign-ups, logins, failed logins, a lockout, a password change and a slow consumer cut off, and never an auth key, token or message text', async (t) => {
    const relay = await startRelay({
      args: ['--log-format', 'json', '--history', '10', '--rate', '100000'],
    });
    const people: Person[] = [];
    try {
      const room = 'logged';
      // The relay never receives a password (clients send a key derived from it); these are what it does receive.
      const secrets: string[] = [];
      const sender = await loggedIn(relay, room);
      const reader = await loggedIn(relay, room);
      people.push(sender, reader);
      secrets.push(sender.user.authKey, sender.user.session.token, reader.user.authKey, reader.user.session.token);

      const again = await TestClient.connect(relay.wsUrl);
      const login = await again.call('login', {
        username: reader.user.username,
        authKey: reader.user.authKey,
      });
      secrets.push(login.token);
      again.close();

      const newAuthKey = randomKey();
      secrets.push(newAuthKey);
      await reader.client.call('change-password', {
        ...registration(reader.user.username),
        authKey: reader.user.authKey,
        newAuthKey,
      });

      const words = `meet at the north gate ${crypto.randomBytes(6).toString('hex')}`;
      secrets.push(words);
      await sender.client.call('send', signMessage(sender.user, room, words));

      // 10 failures lock a username (PROTOCOL.md); the 11th is refused before any check.
      const guesser = await TestClient.connect(relay.wsUrl);
      for (let i = 0; i < 11; i++) {
        const guess = randomKey();
        secrets.push(guess);
        const reply = await guesser.request('login', {
          username: sender.user.username,
          authKey: guess,
        });
        assert.equal(reply.error?.code, i < 10 ? 'BAD_CREDENTIALS' : 'RATE_LIMITED');
      }
      guesser.close();

      // A member that stops reading at the TCP level while the room floods is cut off once the
      // relay holds 1 MB for it, after the kernel's buffers fill: flood until the log says so.
      const stalled = await loggedIn(relay, room);
      people.push(stalled);
      (stalled.client.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      const floodText = `flood ${crypto.randomBytes(6).toString('hex')} `.padEnd(4000, 'x');
      secrets.push(floodText.slice(0, 40));
      const started = Date.now();
      let sent = 0;
      while (!/slow consumer/.test(relay.stderr()) && sent < 20_000) {
        await Promise.all(
          Array.from({ length: 100 }, () => sender.client.call('send', signMessage(sender.user, room, floodText))),
        );
        sent += 100;
      }
      await eventually(() => /slow consumer/.test(relay.stderr()), 'the slow-consumer record', 10_000);
      t.diagnostic(`slow consumer cut off after ${sent} messages of 4,000 characters, ${Date.now() - started} ms`);

      const records = logRecords(relay);
      for (const record of records) assert.deepEqual(Object.keys(record).slice(0, 3), ['time', 'level', 'msg']);
      const info = (msg: string | RegExp) =>
        records.filter(
          (record) =>
            record.level === 'info' && (typeof msg === 'string' ? record.msg === msg : msg.test(String(record.msg))),
        );
      assert.equal(info(new RegExp(`^engine: ${relay.engine} `)).length, 1, 'the engine');
      assert.deepEqual(
        info('sign-up').map((record) => record.username),
        [sender.user.username, reader.user.username, stalled.user.username],
      );
      assert.deepEqual(
        info('login').map((record) => [record.username, record.ip]),
        [[reader.user.username, '127.0.0.1']],
      );
      assert.deepEqual(
        info('password change').map((record) => [record.username, record.ip]),
        [[reader.user.username, '127.0.0.1']],
      );
      assert.equal(info('failed login').length, 10);
      assert.deepEqual(
        info('lockout: username').map((record) => record.username),
        [sender.user.username],
      );
      assert.equal(info('login refused: locked out').length, 1);
      const cutOff = records.filter((record) => /^slow consumer/.test(String(record.msg)));
      assert.ok(
        cutOff.length >= 1 && cutOff.every((record) => record.level === 'warn' && record.ip === '127.0.0.1'),
        JSON.stringify(cutOff),
      );

      const log = relay.stderr();
      for (const secret of secrets) assert.ok(!log.includes(secret), `the log holds a secret: ${secret.slice(0, 12)}…`);
    } finally {
      for (const { client } of people) client.socket.terminate();
      await relay.stop();
    }
  });
});

describe('the metrics endpoint', () => {
  test('--metrics 127.0.0.1:0 serves Prometheus text whose counters and gauges follow a chat, a bad login and a disconnect', async () => {
    const relay = await startRelay({
      args: ['--log-format', 'json', '--metrics', '127.0.0.1:0'],
    });
    const people: Person[] = [];
    try {
      const url = await metricsUrl(relay);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const before = await scrape(url);
      assert.equal(sampleValue(before, 'sov_engine_info', { engine: relay.engine }), 1);
      assert.equal(sampleValue(before, 'sov_connections'), 0);
      assert.equal(sampleValue(before, 'sov_messages_accepted_total'), 0);

      const room = 'measured';
      const ann = await loggedIn(relay, room);
      const bob = await loggedIn(relay, room);
      people.push(ann, bob);
      await chat(ann, bob, room);
      const stranger = await TestClient.connect(relay.wsUrl);
      assert.equal(
        (
          await stranger.request('login', {
            username: uniqueName('nobody'),
            authKey: randomKey(),
          })
        ).error?.code,
        'BAD_CREDENTIALS',
      );

      const after = await scrape(url);
      assert.equal(sampleValue(after, 'sov_messages_accepted_total'), 1);
      assert.equal(sampleValue(after, 'sov_deliveries_total'), 2, 'one message, two members online');
      assert.equal(sampleValue(after, 'sov_requests_total', { type: 'send' }), 1);
      assert.equal(sampleValue(after, 'sov_requests_total', { type: 'register' }), 2);
      assert.equal(sampleValue(after, 'sov_refusals_total', { code: 'BAD_CREDENTIALS' }), 1);
      assert.equal(sampleValue(after, 'sov_connections'), 3);
      assert.equal(sampleValue(after, 'sov_sessions'), 2);
      assert.equal(sampleValue(after, 'sov_rooms'), 1);
      assert.ok(sampleValue(after, 'sov_bytes_out_total')! > 0);
      assert.equal(sampleValue(after, 'sov_fanout_seconds_count'), 1);

      await stranger.close();
      await ann.client.close();
      // The relay may see the close a moment after the client does: scrape until the gauge follows.
      const deadline = Date.now() + 10_000;
      let connections = sampleValue(await scrape(url), 'sov_connections');
      while (connections !== 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        connections = sampleValue(await scrape(url), 'sov_connections');
      }
      assert.equal(connections, 1, 'the gauge follows closed connections');
    } finally {
      for (const { client } of people) client.socket.terminate();
      await relay.stop();
    }
  });
});
