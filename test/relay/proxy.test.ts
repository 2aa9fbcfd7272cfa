/**
 * The relay behind real reverse proxies (nginx and Caddy from the system's packages), configured
 * as README.md "Behind a reverse proxy" says: which address the per-address limits and the log
 * see, with and without --trust-proxy, and what a forged X-Forwarded-For achieves (nothing).
 *
 * Clients come from different loopback addresses (127.0.0.2, 127.0.0.3: Linux routes all of
 * 127/8 to lo), so the proxy itself sees different peers and forwards each in X-Forwarded-For, as
 * it would for two people on the internet. The relay sees only the proxy, at 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type WebSocket from 'ws';
import { TestClient, chat, eventually, loggedIn, openWebSocket, registration, uniqueName } from '../helpers/client.ts';
import type { Person } from '../helpers/client.ts';
import { requireProgram } from '../helpers/programs.ts';
import { health, logRecords, startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { startCaddy, startNginx } from '../helpers/reverse-proxy.ts';

/** Small budgets, so that one client can use its own up in a few requests. */
const LIMITS = ['--log-format', 'json', '--max-connections-per-address', '3', '--registrations-per-hour', '2'];

/**
 * A client that writes an X-Forwarded-For of its own, as one behind another proxy would, or one
 * trying to pass for someone else: the proxy appends the address it saw, and only that counts.
 */
const from = (address: string, forged: string): WebSocket.ClientOptions => ({
  localAddress: address,
  headers: { 'x-forwarded-for': forged },
});

/** The addresses the relay logged for records with this message, in order. */
function loggedAddresses(relay: RelayProcess, msg: string): unknown[] {
  return logRecords(relay)
    .filter((record) => record.msg === msg)
    .map((record) => record.ip);
}

/**
 * The addresses logged with `msg`, once `count` such lines have come: the client sees a refusal
 * before the relay's log line crosses its stderr pipe.
 */
async function logged(relay: RelayProcess, msg: string, count: number): Promise<unknown[]> {
  await eventually(() => loggedAddresses(relay, msg).length >= count, `${count} "${msg}" log lines`, 15_000);
  return loggedAddresses(relay, msg);
}

/** Signs up on a fresh connection and expects RATE_LIMITED: the address's sign-ups are used up. Returns the open, anonymous client. */
async function signUpRefused(wsUrl: string, options: WebSocket.ClientOptions): Promise<TestClient> {
  const client = await TestClient.connect(wsUrl, options);
  const reply = await client.request('register', registration(uniqueName()));
  assert.equal(reply.error?.code, 'RATE_LIMITED', `sign-up refused: ${JSON.stringify(reply)}`);
  return client;
}

async function assertConnectionRefused(wsUrl: string, options: WebSocket.ClientOptions): Promise<void> {
  const outcome = await openWebSocket(wsUrl, options);
  assert.ok('status' in outcome && outcome.status === 429, `the connection over the cap: ${JSON.stringify(outcome)}`);
  assert.equal(JSON.parse(outcome.body).error.code, 'TOO_MANY_CONNECTIONS');
}

function closeAll(clients: (TestClient | Person)[]): void {
  for (const client of clients) ('client' in client ? client.client : client).socket.terminate();
}

describe('the relay behind nginx', () => {
  test('with --trust-proxy naming nginx, each client behind it has its own limits: one using up its connections and sign-ups leaves another untouched, and the log names each', async (t) => {
    const nginxPath = requireProgram(t, 'nginx');
    if (nginxPath === null) return;
    const relay = await startRelay({
      args: [...LIMITS, '--trust-proxy', '127.0.0.1'],
    });
    const nginx = await startNginx(nginxPath, relay.port);
    const clients: (TestClient | Person)[] = [];
    try {
      const ann = from('127.0.0.2', '203.0.113.5');
      const bob = from('127.0.0.3', '203.0.113.6');
      const room = 'proxied';
      clients.push(await loggedIn(nginx, room, ann), await loggedIn(nginx, room, ann));
      clients.push(await signUpRefused(nginx.wsUrl, ann));
      await assertConnectionRefused(nginx.wsUrl, ann);

      const bobs = await loggedIn(nginx, room, bob);
      clients.push(bobs);
      const anns = clients[0] as Person;
      t.diagnostic(`chat through nginx: ${await chat(anns, bobs, room)} ms and ${await chat(bobs, anns, room)} ms`);
      assert.equal((await health(nginx)).status, 200);

      assert.deepEqual(await logged(relay, 'sign-up', 3), ['127.0.0.2', '127.0.0.2', '127.0.0.3']);
      assert.deepEqual(await logged(relay, 'sign-up refused: too many from this address', 1), ['127.0.0.2']);
      assert.deepEqual(await logged(relay, 'refused a connection: too many from one address', 1), ['127.0.0.2']);
      assert.doesNotMatch(relay.stderr(), /203\.0\.113\./, 'what a client wrote in X-Forwarded-For is never believed');
    } finally {
      closeAll(clients);
      await nginx.stop();
      await relay.stop();
    }
  });

  test('without --trust-proxy everyone behind nginx is 127.0.0.1: one client uses up everyone’s sign-ups and connections', async (t) => {
    const nginxPath = requireProgram(t, 'nginx');
    if (nginxPath === null) return;
    const relay = await startRelay({ args: LIMITS });
    const nginx = await startNginx(nginxPath, relay.port);
    const clients: (TestClient | Person)[] = [];
    try {
      const ann = from('127.0.0.2', '203.0.113.5');
      const bob = from('127.0.0.3', '203.0.113.6');
      clients.push(await loggedIn(nginx, undefined, ann), await loggedIn(nginx, undefined, ann));
      clients.push(await signUpRefused(nginx.wsUrl, bob));
      await assertConnectionRefused(nginx.wsUrl, bob);

      assert.deepEqual(await logged(relay, 'sign-up', 2), ['127.0.0.1', '127.0.0.1']);
      assert.deepEqual(await logged(relay, 'sign-up refused: too many from this address', 1), ['127.0.0.1']);
      assert.deepEqual(await logged(relay, 'refused a connection: too many from one address', 1), ['127.0.0.1']);
    } finally {
      closeAll(clients);
      await nginx.stop();
      await relay.stop();
    }
  });
});

describe('X-Forwarded-For from a peer that is not a trusted proxy', () => {
  test('is ignored: a client that connects straight to the relay and names a new address each time is limited by its own', async () => {
    const relay = await startRelay({
      args: [...LIMITS, '--trust-proxy', '127.0.0.1'],
    });
    const clients: (TestClient | Person)[] = [];
    try {
      clients.push(
        await loggedIn(relay, undefined, from('127.0.0.4', '203.0.113.1')),
        await loggedIn(relay, undefined, from('127.0.0.4', '203.0.113.2')),
      );
      clients.push(await signUpRefused(relay.wsUrl, from('127.0.0.4', '203.0.113.3')));
      await assertConnectionRefused(relay.wsUrl, from('127.0.0.4', '203.0.113.4'));

      assert.deepEqual(await logged(relay, 'sign-up', 2), ['127.0.0.4', '127.0.0.4']);
      assert.deepEqual(await logged(relay, 'refused a connection: too many from one address', 1), ['127.0.0.4']);
      assert.doesNotMatch(relay.stderr(), /203\.0\.113\./);
    } finally {
      closeAll(clients);
      await relay.stop();
    }
  });
});

describe('the relay behind Caddy', () => {
  test('reverse_proxy with no options carries WebSockets and health checks, and the relay sees each client’s own address', async (t) => {
    const caddyPath = requireProgram(t, 'caddy');
    if (caddyPath === null) return;
    const relay = await startRelay({
      args: ['--log-format', 'json', '--trust-proxy', '127.0.0.1'],
    });
    const caddy = await startCaddy(caddyPath, relay.port);
    const clients: Person[] = [];
    try {
      const room = 'caddy';
      const ann = await loggedIn(caddy, room, from('127.0.0.2', '203.0.113.5'));
      const bob = await loggedIn(caddy, room, from('127.0.0.3', '203.0.113.6'));
      clients.push(ann, bob);
      t.diagnostic(`chat through Caddy: ${await chat(ann, bob, room)} ms and ${await chat(bob, ann, room)} ms`);
      assert.equal((await health(caddy)).status, 200);
      assert.deepEqual(await logged(relay, 'sign-up', 2), ['127.0.0.2', '127.0.0.3']);
      assert.doesNotMatch(relay.stderr(), /203\.0\.113\./);
    } finally {
      closeAll(clients);
      await caddy.stop();
      await relay.stop();
    }
  });
});
