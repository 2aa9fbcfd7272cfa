/**
 * Connection limits on the real relay under a low file limit (`ulimit -n 1024`), with its default
 * --max-connections-per-address (50): floods of WebSockets and of silent TCP connections from one
 * address and from many, and the login deadline that closes anonymous sockets (relay/server.ts,
 * relay/connection-limits.ts). Linux only: the relay's CPU time and descriptors come from /proc.
 *
 * Figures measured on the 2-core development machine (2026-12-02), for the bounds below: a relay
 * holding 900 idle sockets uses 0.3-1 % of a core; before the bounds, 1,000 sockets from one
 * address had it at 100 % while accept() failed with EMFILE.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import type WebSocket from 'ws';
import { CLOSE_CODES } from '../../sdk/protocol.ts';
import { chat, eventually, loggedIn, openWebSocket } from '../helpers/client.ts';
import type { UpgradeOutcome } from '../helpers/client.ts';
import { assertRunning, health, relayCpuShare, relayStats, startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const FILE_LIMIT = 1024;
/** relay/config.ts: the default --max-connections-per-address. */
const DEFAULT_PER_ADDRESS = 50;
/** relay/server.ts LOGIN_DEADLINE_MS: an anonymous connection is closed after this. */
const LOGIN_DEADLINE_MS = 60_000;
/** The quiet stretch over which the relay's CPU use is measured. */
const QUIET_MS = 3000;
/** A relay doing nothing uses about 1 % of a core; one spinning on accept() uses all of it. */
const IDLE_CPU_BOUND = 0.25;

const TOO_MANY = 'TOO_MANY_CONNECTIONS';

/** A relay as a user runs it (default limits), under `ulimit -n 1024`. */
function startLimitedRelay(): Promise<RelayProcess> {
  return startRelay({ generousLimits: false, fileLimit: FILE_LIMIT });
}

interface Flood {
  open: {
    socket: WebSocket;
    address: string;
    openedAt: number;
    closed: Promise<{ code: number; reason: string; at: number }>;
  }[];
  /** Upgrades answered 429 with TOO_MANY_CONNECTIONS. */
  tooMany: number;
  /** Connections dropped before any reply (the node engine, over its TCP caps). */
  dropped: number;
  /** Anything else: must stay empty. */
  other: string[];
  ms: number;
}

function tally(flood: Flood, outcome: UpgradeOutcome, address: string): void {
  if ('socket' in outcome) {
    const { socket } = outcome;
    socket.on('error', () => {});
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
    );
    flood.open.push({ socket, address, openedAt: Date.now(), closed });
  } else if ('status' in outcome && outcome.status === 429 && JSON.parse(outcome.body).error?.code === TOO_MANY)
    flood.tooMany++;
  else if ('failed' in outcome && /ECONNRESET|socket hang up|EPIPE/.test(outcome.failed)) flood.dropped++;
  else flood.other.push(JSON.stringify(outcome));
}

/** Opens `count` WebSockets at once, the i-th from `addresses[i % addresses.length]` (loopback aliases). */
async function flood(relay: RelayProcess, count: number, addresses: string[]): Promise<Flood> {
  const result: Flood = { open: [], tooMany: 0, dropped: 0, other: [], ms: 0 };
  const started = Date.now();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const address = addresses[i % addresses.length]!;
      tally(result, await openWebSocket(relay.wsUrl, { localAddress: address }), address);
    }),
  );
  result.ms = Date.now() - started;
  return result;
}

/**
 * Every refusal says why (429 TOO_MANY_CONNECTIONS), except on the node engine, which drops a TCP
 * connection from an address already holding twice its WebSocket cap, or once the process is at
 * its ceiling, before reading a byte (relay/connection-limits.ts): in a burst, more are in flight.
 */
function assertRefusals(relay: RelayProcess, result: Flood, count: number): void {
  assert.deepEqual(result.other, [], 'every connection opened or was refused');
  assert.equal(result.open.length + result.tooMany + result.dropped, count);
  assert.ok(result.tooMany > 0, 'refusals say why: 429 TOO_MANY_CONNECTIONS');
  if (relay.engine === 'uws') assert.equal(result.dropped, 0, 'uWS counts no TCP connections: every refusal is a 429');
}

function closeAll(result: Flood): void {
  for (const { socket } of result.open) socket.terminate();
}

function addresses(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
}

describe('connection limits under a 1,024 file limit', {
  concurrency: 2,
}, () => {
  test('1,000 WebSockets at once from one address: 50 open, the rest are refused, other addresses sign up and chat, health answers, the relay stays idle', async (t) => {
    const relay = await startLimitedRelay();
    let result: Flood | undefined;
    try {
      result = await flood(relay, 1000, ['127.0.0.2']);
      t.diagnostic(
        `${relay.engine}: ${result.open.length} open, ${result.tooMany} refused with 429, ${result.dropped} dropped unanswered, in ${result.ms} ms`,
      );
      assert.equal(result.open.length, DEFAULT_PER_ADDRESS, 'the default per-address cap');
      assertRefusals(relay, result, 1000);

      const late = await openWebSocket(relay.wsUrl, {
        localAddress: '127.0.0.2',
      });
      assert.ok('status' in late && late.status === 429, `one more from the full address: ${JSON.stringify(late)}`);
      assert.equal(JSON.parse(late.body).error.code, TOO_MANY);
      assert.match(
        relay.stderr(),
        /refused a connection: too many from one address \{"ip":"127\.0\.0\.2","limit":50\}/,
      );

      const room = 'lobby';
      const [ann, bob] = await Promise.all([
        loggedIn(relay, room, { localAddress: '127.0.0.3' }),
        loggedIn(relay, room, { localAddress: '127.0.0.4' }),
      ]);
      const roundTrip = await chat(ann, bob, room);
      const check = await health(relay);
      assert.equal(check.status, 200);

      const cpu = await relayCpuShare(relay, QUIET_MS);
      const { fds } = relayStats(relay);
      t.diagnostic(
        `${relay.engine}: chat round trip ${roundTrip} ms, health ${check.ms} ms, relay CPU over ${QUIET_MS} ms of quiet ${(cpu * 100).toFixed(1)} % of a core, ${fds} descriptors`,
      );
      assert.ok(cpu < IDLE_CPU_BOUND, `the relay does not spin: ${(cpu * 100).toFixed(1)} % of a core`);
      assert.ok(fds < FILE_LIMIT / 2, `descriptors stay bounded: ${fds}`);
      for (const { client } of [ann, bob]) client.close();
      assertRunning(relay);
    } finally {
      if (result) closeAll(result);
      await relay.stop();
    }
  });

  test('60 WebSockets from each of 20 addresses push past the file limit: the excess is refused, health answers, the relay stays idle, and the login deadline closes the anonymous ones', async (t) => {
    const relay = await startLimitedRelay();
    let result: Flood | undefined;
    try {
      result = await flood(relay, 1200, addresses('127.0.1.', 20));
      const perAddress = new Map<string, number>();
      for (const { address } of result.open) perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      t.diagnostic(
        `${relay.engine}: ${result.open.length} open, ${result.tooMany} refused with 429, ${result.dropped} dropped unanswered, in ${result.ms} ms`,
      );
      assertRefusals(relay, result, 1200);
      // 20 x 50 would fit the per-address cap: what stops them is the ceiling under the file limit.
      assert.ok(
        result.open.length < 20 * DEFAULT_PER_ADDRESS && result.open.length > FILE_LIMIT / 2,
        `the ceiling, not the per-address cap, refused the excess: ${result.open.length}`,
      );
      assert.ok(Math.max(...perAddress.values()) <= DEFAULT_PER_ADDRESS);
      assert.ok(relayStats(relay).fds < FILE_LIMIT, 'the relay never reached its file limit');

      const check = await health(relay);
      assert.equal(check.status, 200, 'health answers on a full relay');
      const refused = await openWebSocket(relay.wsUrl, {
        localAddress: '127.0.0.5',
      });
      assert.ok(
        'status' in refused && refused.status === 429,
        `a new address on a full relay: ${JSON.stringify(refused)}`,
      );
      const cpu = await relayCpuShare(relay, QUIET_MS);
      t.diagnostic(
        `${relay.engine}: health on a full relay ${check.ms} ms; relay CPU over ${QUIET_MS} ms of quiet ${(cpu * 100).toFixed(1)} % of a core, ${relayStats(relay).fds} descriptors`,
      );
      assert.ok(cpu < IDLE_CPU_BOUND, `the relay does not spin: ${(cpu * 100).toFixed(1)} % of a core`);

      // The deadline runs from the relay's open, which precedes the client's by at most the flood's duration.
      const closes = await Promise.all(
        result.open.map(async ({ openedAt, closed }) => ({
          ...(await closed),
          after: (await closed).at - openedAt,
        })),
      );
      const afters = closes.map((close) => close.after);
      t.diagnostic(
        `${relay.engine}: anonymous sockets closed ${Math.min(...afters)}-${Math.max(...afters)} ms after opening`,
      );
      assert.deepEqual(
        new Set(closes.map(({ code, reason }) => `${code} ${reason}`)),
        new Set([`${CLOSE_CODES.POLICY} log in within 60 s`]),
      );
      assert.ok(Math.min(...afters) >= LOGIN_DEADLINE_MS - result.ms, 'not before the deadline');
      assert.ok(Math.max(...afters) <= LOGIN_DEADLINE_MS + 30_000, 'not long after it');

      const room = 'after';
      const [ann, bob] = await Promise.all([
        loggedIn(relay, room, { localAddress: '127.0.1.1' }),
        loggedIn(relay, room, { localAddress: '127.0.0.5' }),
      ]);
      await chat(ann, bob, room);
      for (const { client } of [ann, bob]) client.close();
      assertRunning(relay);
    } finally {
      if (result) closeAll(result);
      await relay.stop();
    }
  });

  test('1,200 silent TCP connections from 20 addresses past the file limit: the relay recovers when its 10 s request timeout frees them, and the node engine stays idle meanwhile', async (t) => {
    const relay = await startLimitedRelay();
    const sockets: net.Socket[] = [];
    try {
      let connected = 0;
      let closed = 0;
      const from = addresses('127.0.2.', 20);
      for (let i = 0; i < 1200; i++) {
        const socket = net.connect({
          port: relay.port,
          host: '127.0.0.1',
          localAddress: from[i % from.length],
        });
        // Read (and ignore) whatever comes, such as a 408, or the end of the stream is never seen.
        socket
          .on('connect', () => connected++)
          .on('error', () => {})
          .on('close', () => closed++)
          .resume();
        sockets.push(socket);
      }
      // The kernel completes every handshake from its backlog whether or not the relay accepts.
      await eventually(() => connected + closed >= 1200, 'the 1,200 connections', 20_000);
      const cpu = await relayCpuShare(relay, QUIET_MS);
      t.diagnostic(
        `${relay.engine}: ${closed} of 1,200 dropped at once; relay CPU while they sit ${(cpu * 100).toFixed(1)} % of a core, ${relayStats(relay).fds} descriptors`,
      );
      if (relay.engine === 'node') {
        assert.ok(closed > 0, 'the excess is dropped at once');
        assert.ok(relayStats(relay).fds < FILE_LIMIT, 'the relay never reached its file limit');
        assert.ok(cpu < IDLE_CPU_BOUND, `the relay does not spin: ${(cpu * 100).toFixed(1)} % of a core`);
      } else {
        // uWebSockets.js 20.30 has no hook to refuse a TCP connection before reading it: past the
        // file limit its accept() fails with EMFILE and is retried until its 10 s timeout frees the
        // silent sockets. Recorded, not asserted; README says how to bound it.
        t.diagnostic(
          `uws: no per-connection hook, so the process spun at ${(cpu * 100).toFixed(0)} % of a core while at its file limit`,
        );
      }
      const started = Date.now();
      // Measured: 12 s on node, 24 s on uWS (which accepts the backlog only as the first 10 s timeouts free descriptors).
      // A connection the kernel completed but the relay never accepted would never close here: a
      // silent client cannot notice. The node engine's listen backlog (4096) holds this burst whole;
      // with Node's default 511, a loaded machine made SYN-cookie phantoms (RELIABILITY.md).
      await eventually(() => closed === 1200, 'the relay to close every silent connection', 90_000);
      const check = await health(relay, 20_000);
      assert.equal(check.status, 200);
      const after = await relayCpuShare(relay, QUIET_MS);
      t.diagnostic(
        `${relay.engine}: all closed ${Date.now() - started} ms later; health ${check.ms} ms; CPU then ${(after * 100).toFixed(1)} %`,
      );
      assert.ok(after < IDLE_CPU_BOUND, `idle again: ${(after * 100).toFixed(1)} % of a core`);
      assertRunning(relay);
    } finally {
      for (const socket of sockets) socket.destroy();
      await relay.stop();
    }
  });
});
