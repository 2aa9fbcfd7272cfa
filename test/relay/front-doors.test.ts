// Several front doors to one relay (issue 10, point 6): the relay's stable id, and the SDK from
// Node (`ws`, memory storage) going through dead doors, remembering the one that worked, refusing
// a door that leads to another relay, and reaching the relay through a path another site proxies.
// The dead doors are test/helpers/hostile-proxy.ts in `refuse` and `blackhole` mode; the door whose
// operator points it at another relay is a TCP forwarder in this process that can be re-aimed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import WebSocket from 'ws';
import { SovClient, memoryStorage } from 'sovereign-chat';
import type { SovClientOptions, StorageAdapter, WebSocketConstructor } from 'sovereign-chat';
import { TestClient, eventually, uniqueName } from '../helpers/client.ts';
import { startHostileProxy } from '../helpers/hostile-proxy.ts';
import type { HostileProxy } from '../helpers/hostile-proxy.ts';
import { parsePrometheusText } from '../helpers/prometheus-text.ts';
import { requireProgram } from '../helpers/programs.ts';
import { health, logRecords, startRelay, tempDataDir } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { nginxPathDoor, startNginx } from '../helpers/reverse-proxy.ts';

const RELAY_ID = /^[A-Za-z0-9_-]{22}$/;

async function helloRelayId(target: { wsUrl: string }): Promise<unknown> {
  const client = await TestClient.connect(target.wsUrl);
  client.socket.terminate();
  return client.events.find((event) => event.ev === 'hello')!.relayId;
}

const relayFor = async (t: TestContext, options: Parameters<typeof startRelay>[0] = {}): Promise<RelayProcess> => {
  const relay = await startRelay(options);
  t.after(() => relay.stop());
  return relay;
};

describe('the relay id', () => {
  test('is made at the first start (22 base64url characters in relay.id), announced in every hello, and kept across a restart and in a copy of the folder', async (t) => {
    const first = await startRelay();
    const id = await helloRelayId(first);
    assert.match(String(id), RELAY_ID);
    assert.equal(fs.readFileSync(path.join(first.dataDir, 'relay.id'), 'utf8'), `${id}\n`);
    assert.equal(await helloRelayId(first), id, 'every connection hears the same id');
    assert.equal(await first.stop(), 0);

    const backup = path.join(tempDataDir(), 'backup');
    fs.cpSync(first.dataDir, backup, { recursive: true });
    const again = await relayFor(t, { dataDir: first.dataDir });
    assert.equal(await helloRelayId(again), id, 'after a restart');
    const restored = await relayFor(t, { dataDir: backup });
    assert.equal(await helloRelayId(restored), id, 'from a backup');
    const other = await relayFor(t);
    assert.notEqual(await helloRelayId(other), id, 'another data folder is another relay');
  });

  test('the relay logs its id when it starts, for an operator checking a new door', async (t) => {
    const relay = await relayFor(t, { args: ['--log-format', 'json'] });
    await eventually(() => logRecords(relay).some((record) => record.msg === 'relay started'), 'the start line');
    assert.equal(
      logRecords(relay).find((record) => record.msg === 'relay started')!.relayId,
      await helloRelayId(relay),
    );
  });

  test('a damaged relay.id stops the start with a message naming the file, instead of giving the relay a new id', async () => {
    const dataDir = tempDataDir();
    fs.writeFileSync(path.join(dataDir, 'relay.id'), 'not an id\n');
    await assert.rejects(startRelay({ dataDir }), (error: Error) =>
      error.message.includes(`${path.join(dataDir, 'relay.id')} does not hold a relay id`),
    );
    assert.equal(
      fs.readFileSync(path.join(dataDir, 'relay.id'), 'utf8'),
      'not an id\n',
      'left for the operator to restore',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The SDK and its doors.

/** `ws` recording the URL of every connection attempt, and with the guard hostile-networks.test.ts explains. */
function recordingWebSocket(attempts: string[]): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      attempts.push(url);
      this.on('error', () => undefined);
    }
  } as unknown as WebSocketConstructor;
}

interface Sdk {
  client: SovClient;
  /** The WebSocket URL of each attempt, in order. */
  attempts: string[];
  /** Every `door` event. */
  doors: string[];
}

const sdk = (
  t: TestContext,
  relay: SovClientOptions['relay'],
  storage: StorageAdapter,
  options: Partial<SovClientOptions> = {},
): Sdk => {
  const attempts: string[] = [];
  const client = new SovClient({
    relay,
    storage,
    WebSocket: recordingWebSocket(attempts),
    ...options,
  });
  t.after(() => client.close());
  const doors: string[] = [];
  client.on('door', (door) => doors.push(door));
  return { client, attempts, doors };
};

const register = (client: SovClient) =>
  client.register({
    username: uniqueName('bot'),
    password: 'bots need passwords too',
    firstName: 'Бот',
    lastName: 'Дверной',
  });

/** Milliseconds from now until `client` is connected. */
async function timeToConnect(client: SovClient, start: () => unknown): Promise<number> {
  const started = performance.now();
  start();
  await eventually(() => client.state === 'connected', 'the connection', 30_000);
  return Math.round(performance.now() - started);
}

const wsOf = (proxy: { url: string }): string => `${proxy.url.replace(/^http/, 'ws')}/v1/ws`;

/**
 * How long a dead first door may hold a client, from connect() to connected, with the default
 * heartbeat. Measured on 2 busy cores, 7 runs on each engine (2026-12-02): refusing 0.93-1.40 s
 * (two refused attempts, with the reconnect backoff before each next one: 0.25-0.5 s, then
 * 0.5-1 s), black hole 4.30-4.52 s (one attempt given up after HELLO_TIMEOUT_MS, 4 s, then
 * 0.25-0.5 s of backoff). The bounds are twice what the backoff and the deadline allow at most.
 */
const GET_THROUGH_MS = { refuse: 3000, blackhole: 9000 };

describe('front doors', { concurrency: true }, () => {
  for (const dead of ['refuse', 'blackhole'] as const) {
    test(`with the first door ${dead === 'refuse' ? 'refusing connections' : 'black-holed'}: register, chat and resume go through the second, and the next client on the same storage starts there`, async (t) => {
      const relay = await relayFor(t);
      const proxy = async (mode?: 'refuse' | 'blackhole'): Promise<HostileProxy> => {
        const started = await startHostileProxy({
          target: { host: '127.0.0.1', port: relay.port },
          ...(mode ? { mode } : {}),
        });
        t.after(() => started.stop());
        return started;
      };
      const [first, second] = [await proxy(dead), await proxy()];
      const storage = memoryStorage();
      const relayOption = `${first.url} ${second.url}`;

      const one = sdk(t, relayOption, storage);
      const took = await timeToConnect(one.client, () => one.client.connect());
      t.diagnostic(`${dead}: connected through the second door after ${took} ms`);
      assert.ok(took < GET_THROUGH_MS[dead], `connected after ${took} ms`);
      assert.equal(one.client.door, wsOf(second).replace('/v1/ws', ''));
      assert.deepEqual(one.doors, [one.client.door]);
      const attemptsAtFirst = one.attempts.filter((url) => url === wsOf(first)).length;
      assert.equal(attemptsAtFirst, dead === 'refuse' ? 2 : 1, `attempts at the dead door: ${one.attempts.join(' ')}`);
      await register(one.client);
      const room = uniqueName('doors');
      assert.equal((await (await one.client.join(room)).send('через вторую дверь')).state, 'sent');
      one.client.close();

      const deadConnections = (await first.stats()).connections;
      const two = sdk(t, relayOption, storage);
      const resumed = await timeToConnect(two.client, () => void two.client.resume());
      t.diagnostic(`${dead}: the next client resumed in ${resumed} ms`);
      assert.equal(two.client.user?.id, one.client.user?.id);
      assert.deepEqual(
        two.attempts.map((url) => (url === wsOf(second) ? 'second' : 'first')),
        ['second'],
        'the next client went straight to the door that worked',
      );
      assert.equal((await first.stats()).connections, deadConnections, 'the dead door saw no connection from it');
      const again = await two.client.join(room);
      assert.equal((await again.send('и снова')).state, 'sent');
      assert.deepEqual(
        again.messages.map((message) => message.text),
        ['через вторую дверь', 'и снова'],
      );

      // connect() right after the constructor, before storage could have answered, starts there too.
      const three = sdk(t, relayOption, storage);
      await timeToConnect(three.client, () => three.client.connect());
      assert.deepEqual(three.attempts, [wsOf(second)]);
    });
  }

  test('a door that leads to another relay is refused before the session token goes out; the client goes on through the right door, signed in', async (t) => {
    const [relay, other] = [
      await relayFor(t),
      await relayFor(t, {
        args: ['--log-format', 'json', '--metrics', '127.0.0.1:0'],
      }),
    ];
    const otherId = await helloRelayId(other);
    // The door's operator re-aims it at another relay: a lapsed domain, a proxy edited by mistake.
    const door = await forwarder(t, relay.port);
    const storage = memoryStorage();
    const relayOption = [door.url, relay.url];

    const one = sdk(t, relayOption, storage);
    await register(one.client);
    assert.equal(one.client.door, `ws://127.0.0.1:${door.port}`, 'registered through the first door');
    const room = uniqueName('doors');
    await (await one.client.join(room)).send('до подмены');
    one.client.close();
    door.aimAt(other.port);

    // Twice, each on its own copy of the storage (which remembers the first door): resume() with
    // the client offline, and resume() after connect() had already opened a connection through the
    // re-aimed door while no session was known (no token yet to withhold).
    for (const connectFirst of [false, true]) {
      const two = sdk(t, relayOption, await copyOf(storage));
      const refused: unknown[] = [];
      const loggedOut: unknown[] = [];
      two.client.on('wrong-relay', ({ door: refusedDoor, relayId, error }) =>
        refused.push({ door: refusedDoor, relayId, code: error.code }),
      );
      two.client.on('logout', (reason) => loggedOut.push(reason));
      if (connectFirst) {
        two.client.connect();
        await eventually(() => two.client.state === 'connected', 'a connection through the re-aimed door');
        assert.equal(two.attempts.length, 1);
      }
      assert.equal(await two.client.resume(), true);
      await eventually(
        () => two.client.state === 'connected' && two.client.door === `ws://127.0.0.1:${relay.port}`,
        'the connection through the right door',
        15_000,
      );
      assert.deepEqual(refused, [
        {
          door: `ws://127.0.0.1:${door.port}`,
          relayId: otherId,
          code: 'WRONG_RELAY',
        },
      ]);
      assert.deepEqual(loggedOut, [], 'the session was never offered to the other relay, so it never ended');
      const again = await two.client.join(room);
      assert.equal(
        (await again.send(connectFirst ? 'после подмены, подключившись заранее' : 'после подмены')).state,
        'sent',
      );
      assert.ok(again.messages.some((message) => message.text === 'до подмены'));
      two.client.close();
    }
    // The other relay saw connections and not one request: no resume, no token.
    const metrics = await scrape(String(logRecords(other).find((record) => record.msg === 'metrics: serving')!.url));
    assert.deepEqual(metrics.get('sov_requests_total')!.samples, [], 'requests the other relay received');
    assert.ok(
      door.connectionsTo(other.port) >= 2,
      `connections the door passed to the other relay: ${door.connectionsTo(other.port)}`,
    );
  });

  test('a door on a path of another site (nginx strips /chat): the SDK connects to /chat/v1/ws, and avatar paths stay under /chat', async (t) => {
    const nginx = requireProgram(t, 'nginx');
    if (!nginx) return;
    const relay = await relayFor(t);
    const site = await startNginx(nginx, relay.port, nginxPathDoor(relay.port, '/chat'));
    t.after(() => site.stop());
    assert.equal((await health({ url: `${site.url}/chat` })).body, 'ok');

    const one = sdk(t, `${site.url}/chat/`, memoryStorage());
    await register(one.client);
    assert.deepEqual(one.attempts, [`${site.url.replace(/^http/, 'ws')}/chat/v1/ws`]);
    assert.equal((await (await one.client.join(uniqueName('path'))).send('через путь')).state, 'sent');
    assert.equal(one.client.httpUrl, `${site.url}/chat`);
    assert.equal(one.client.avatarUrl({ avatar: '/avatars/0a.png' }), `${site.url}/chat/avatars/0a.png`);
  });
});

async function copyOf(storage: StorageAdapter): Promise<StorageAdapter> {
  const copy = memoryStorage();
  for (const key of await storage.keys('')) await copy.set(key, await storage.get(key));
  return copy;
}

async function scrape(url: string): Promise<ReturnType<typeof parsePrometheusText>> {
  return parsePrometheusText(await (await fetch(url)).text());
}

/** A TCP door to a relay on 127.0.0.1 that its operator can re-aim; each new connection goes where it points then. */
async function forwarder(
  t: TestContext,
  port: number,
): Promise<{
  port: number;
  url: string;
  aimAt(port: number): void;
  connectionsTo(port: number): number;
}> {
  let target = port;
  const counts = new Map<number, number>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    counts.set(target, (counts.get(target) ?? 0) + 1);
    const upstream = net.connect(target, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on('error', () => to.destroy());
      from.on('close', () => (sockets.delete(from), to.destroy()));
      from.pipe(to);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const bound = (server.address() as net.AddressInfo).port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    aimAt: (next) => (target = next),
    connectionsTo: (of) => counts.get(of) ?? 0,
  };
}
