// The hostile proxy (test/helpers/hostile-proxy.ts) does what NETWORKS.md says a censoring network
// does, and no more: checked byte by byte against trivial TCP and HTTP servers, and against the real
// relay where the relay's own HTTP is what matters (health checks, WebSocket upgrades).
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { RequestGate, startHostileProxy, stallSchedule } from '../helpers/hostile-proxy.ts';
import type { HostileOptions, HostileProxy } from '../helpers/hostile-proxy.ts';
import { eventually } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP connection as a test watches it: every byte received, and whether a FIN or a close came. */
interface Watched {
  socket: net.Socket;
  received(): Buffer;
  ended: boolean;
  closed: boolean;
  /** When each chunk arrived (ms since the connection opened). */
  arrivals: number[];
}

function watch(socket: net.Socket): Watched {
  const chunks: Buffer[] = [];
  const opened = Date.now();
  const watched: Watched = {
    socket,
    received: () => Buffer.concat(chunks),
    ended: false,
    closed: false,
    arrivals: [],
  };
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    watched.arrivals.push(Date.now() - opened);
  });
  socket.on('end', () => (watched.ended = true));
  socket.on('close', () => (watched.closed = true));
  socket.on('error', () => undefined);
  return watched;
}

function connect(port: number): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const watched = watch(socket);
    socket.once('connect', () => resolve(watched));
    socket.once('error', reject);
  });
}

/** A plain TCP server (a FIN from the client ends the connection); `serve` gets each connection, already watched. */
async function tcpServer(
  serve: (connection: Watched) => void,
): Promise<{ port: number; connections: Watched[]; close(): Promise<void> }> {
  const connections: Watched[] = [];
  const server = net.createServer((socket) => {
    const connection = watch(socket);
    connections.push(connection);
    serve(connection);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: () => {
      for (const connection of connections) connection.socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const echo = (connection: Watched): void =>
  void connection.socket.on('data', (chunk: Buffer) => connection.socket.write(chunk));

/** Reads one HTTP/1.1 response with a Content-Length body from a watched connection, starting at `from`. */
async function responseAt(connection: Watched, from: number): Promise<{ status: number; body: string; end: number }> {
  let parsed: { status: number; body: string; end: number } | undefined;
  await eventually(() => {
    const text = connection.received().subarray(from).toString('latin1');
    const headEnd = text.indexOf('\r\n\r\n');
    if (headEnd < 0) return false;
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, headEnd))?.[1] ?? 0);
    if (text.length < headEnd + 4 + length) return false;
    parsed = {
      status: Number(text.slice(9, 12)),
      body: text.slice(headEnd + 4, headEnd + 4 + length),
      end: from + headEnd + 4 + length,
    };
    return true;
  }, 'an HTTP response');
  return parsed!;
}

const HEALTH = 'GET /v1/health HTTP/1.1\r\nHost: relay.example\r\n\r\n';
const UPGRADE =
  'GET /v1/ws HTTP/1.1\r\nHost: relay.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

describe('the hostile proxy', () => {
  const proxies: HostileProxy[] = [];
  const proxy = async (options: HostileOptions): Promise<HostileProxy> => {
    const started = await startHostileProxy(options);
    proxies.push(started);
    return started;
  };
  const target = (port: number) => ({ host: '127.0.0.1', port });
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(async () => {
    await Promise.all(proxies.map((started) => started.stop()));
    await relay.stop();
  });

  test('with no mode it forwards faithfully and counts every TCP connection it accepts, and the open ones', async () => {
    const server = await tcpServer(echo);
    const through = await proxy({ target: target(server.port) });
    try {
      const clients = await Promise.all([1, 2, 3].map(() => connect(through.port)));
      for (const [i, client] of clients.entries()) client.socket.write(`hello ${i}`);
      // An echo proves the proxy accepted the connection; until then the kernel may hold it in the backlog.
      await eventually(
        () => clients.every((client, i) => client.received().toString() === `hello ${i}`),
        'three echoes',
      );
      assert.deepEqual(await through.stats(), {
        connections: 3,
        open: 3,
        bytesToClient: 21,
        bytesToServer: 21,
        refusedUpgrades: 0,
        stalls: 0,
      });
      clients[0]!.socket.destroy();
      await eventually(() => through.open() === 2, 'two open');
      assert.equal(through.connections(), 3);
      assert.equal((await through.stats()).open, 2);
    } finally {
      await server.close();
    }
  });

  test('freeze: exactly 16,384 bytes reach the client on each connection, then nothing, not even a close', async () => {
    const server = await tcpServer((connection) => connection.socket.write(Buffer.alloc(100_000, 'x')));
    const through = await proxy({
      target: target(server.port),
      mode: 'freeze',
    });
    try {
      const first = await connect(through.port);
      const second = await connect(through.port);
      await eventually(
        () => first.received().length === 16_384 && second.received().length === 16_384,
        '16 KB on each',
      );
      await sleep(500);
      assert.deepEqual([first.received().length, second.received().length], [16_384, 16_384]);
      assert.equal((await through.stats()).bytesToClient, 32_768);
      // The client's bytes still reach the server; the server's close never reaches the client.
      first.socket.write('still here');
      await eventually(
        () => server.connections[0]!.received().toString() === 'still here',
        "the client's bytes at the server",
      );
      server.connections[0]!.socket.destroy();
      await sleep(300);
      assert.deepEqual(
        {
          ended: first.ended,
          closed: first.closed,
          open: (await through.stats()).open,
        },
        { ended: false, closed: false, open: 2 },
      );
      // The client's FIN does reach the server (which cannot finish closing: its bytes still wait).
      second.socket.destroy();
      await eventually(() => server.connections[1]!.ended, 'the FIN at the server');
      await eventually(() => through.open() === 1, 'the proxy sees the client go');
    } finally {
      await server.close();
    }
  });

  test("freeze: the proxy stops reading from the server, so the server's writes back up as behind a real middlebox", async () => {
    let serverSocket: net.Socket | undefined;
    const server = await tcpServer((connection) => {
      serverSocket = connection.socket;
      // More than loopback's socket buffers hold: unacknowledged, the rest waits in the server's process.
      connection.socket.write(Buffer.alloc(32 * 1024 * 1024, 'y'));
    });
    const through = await proxy({
      target: target(server.port),
      mode: 'freeze',
    });
    try {
      const client = await connect(through.port);
      await eventually(() => client.received().length === 16_384, '16 KB');
      await sleep(500);
      assert.ok(serverSocket!.writableLength > 0, 'the server still holds bytes it could not send');
    } finally {
      await server.close();
    }
  });

  test('no-upgrade: a WebSocket gets 403 and a close; GET /v1/health passes, twice on one keep-alive connection, and an upgrade after them is refused', async () => {
    const through = await proxy({
      target: target(relay.port),
      mode: 'no-upgrade',
    });
    const client = await connect(through.port);
    client.socket.write(HEALTH);
    const first = await responseAt(client, 0);
    client.socket.write(HEALTH);
    const second = await responseAt(client, first.end);
    assert.deepEqual([first.status, first.body, second.status, second.body], [200, 'ok', 200, 'ok']);
    client.socket.write(UPGRADE);
    const refusal = await responseAt(client, second.end);
    assert.equal(refusal.status, 403);
    await eventually(() => client.ended, 'the close after the 403');
    const socket = new WebSocket(through.wsUrl);
    const refused = await new Promise<string>((resolve) => socket.once('error', (error) => resolve(error.message)));
    assert.match(refused, /403/);
    const stats = await through.stats();
    assert.deepEqual(
      {
        connections: stats.connections,
        refusedUpgrades: stats.refusedUpgrades,
      },
      { connections: 2, refusedUpgrades: 2 },
    );
  });

  test('no-upgrade reads bodies by their framing: an upgrade inside a Content-Length or chunked body is data, the next head is checked', async () => {
    const bodies: string[] = [];
    const server = http.createServer((request, response) => {
      let body = '';
      request.setEncoding('latin1').on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        bodies.push(body);
        response.end(`${request.method} ${body.length}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const through = await proxy({
      target: target((server.address() as net.AddressInfo).port),
      mode: 'no-upgrade',
    });
    try {
      const client = await connect(through.port);
      const lookalike = `\r\n\r\n${UPGRADE}`;
      const chunkedBody = `${lookalike.length.toString(16)};ext=1\r\n${lookalike}\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n`;
      // Sent in small pieces, so that heads, chunk lines and bodies straddle the reads.
      const requests = [
        `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: ${lookalike.length}\r\n\r\n${lookalike}`,
        `POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedBody}`,
        'GET /c HTTP/1.1\r\nHost: x\r\n\r\n',
      ].join('');
      for (let at = 0; at < requests.length; at += 7) {
        client.socket.write(requests.slice(at, at + 7));
        await sleep(1);
      }
      let end = 0;
      const answers: string[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await responseAt(client, end);
        answers.push(response.body);
        end = response.end;
      }
      assert.deepEqual(answers, [`POST ${lookalike.length}`, `POST ${lookalike.length + 3}`, 'GET 0']);
      assert.deepEqual(bodies, [lookalike, `${lookalike}abc`, '']);
      client.socket.write(UPGRADE);
      assert.equal((await responseAt(client, end)).status, 403);
      assert.deepEqual(await through.stats().then((stats) => [stats.connections, stats.refusedUpgrades]), [1, 1]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('the request gate judges a head only when it is whole, and refuses one too long to judge', () => {
    const gate = new RequestGate();
    assert.equal(gate.push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n')).length, 0);
    assert.equal(gate.push(Buffer.from('Upgrade: WebSocket\r\n\r\n')), 'refuse');
    assert.equal(new RequestGate().push(Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(70_000)}`)), 'refuse');
    assert.equal(
      new RequestGate().push(Buffer.from('GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n')).toString(),
      'GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n',
    );
  });

  test('freeze-after-time: both directions pass until the connection is 600 ms old, then nothing either way, closes included', async () => {
    const server = await tcpServer(echo);
    const through = await proxy({
      target: target(server.port),
      mode: 'freeze-after-time',
      freezeAfterMs: 600,
    });
    try {
      const client = await connect(through.port);
      const ticker = setInterval(() => client.socket.write('.'), 20);
      await sleep(1200);
      clearInterval(ticker);
      const late = client.arrivals.filter((at) => at > 800);
      assert.ok(client.received().length > 10, 'echoes while young');
      assert.deepEqual(late, [], 'nothing after the freeze');
      const atServer = server.connections[0]!.received().length;
      client.socket.write('more');
      await sleep(200);
      assert.equal(server.connections[0]!.received().length, atServer, "the client's bytes stop too");
      server.connections[0]!.socket.destroy();
      await sleep(200);
      assert.deepEqual({ ended: client.ended, closed: client.closed }, { ended: false, closed: false });
      // The lifetime counts from each connection's opening.
      const later = await connect(through.port);
      later.socket.write('young');
      await eventually(() => later.received().toString() === 'young', 'an echo on a new connection');
      client.socket.destroy();
      await eventually(() => through.open() === 1, 'the proxy sees the frozen client go');
    } finally {
      await server.close();
    }
  });

  test('stall: the path stops for seconds at a time, and every byte still arrives, in order, once', async () => {
    const server = await tcpServer(echo);
    const through = await proxy({
      target: target(server.port),
      mode: 'stall',
      seed: 7,
      stallMs: [1000, 1500],
      stallGapMs: [300, 600],
    });
    try {
      const client = await connect(through.port);
      const lines = Array.from({ length: 100 }, (_, i) => `line ${i}\n`);
      for (const line of lines) {
        client.socket.write(line);
        await sleep(20);
      }
      await eventually(() => client.received().toString() === lines.join(''), 'every line back, in order', 10_000);
      const pauses = client.arrivals.slice(1).map((at, i) => at - client.arrivals[i]!);
      assert.ok(
        Math.max(...pauses) >= 900,
        `a stall shows as a pause of a second or more (longest ${Math.max(...pauses)} ms)`,
      );
      assert.ok((await through.stats()).stalls >= 1);
    } finally {
      await server.close();
    }
  });

  test("the stall schedule is the seed's: the same seed gives the same stalls, each within its bounds", () => {
    const take = (seed: number) => {
      const next = stallSchedule(seed, [1000, 10_000], [1000, 5000]);
      return Array.from({ length: 50 }, () => next());
    };
    assert.deepEqual(take(42), take(42));
    assert.notDeepEqual(take(42), take(43));
    for (const { gap, stall } of take(42))
      assert.ok(gap >= 1000 && gap <= 10_000 && stall >= 1000 && stall <= 5000 && Number.isInteger(stall));
  });

  test('refuse: nothing listens on the port, so each connection is refused and none is counted', async () => {
    const through = await proxy({ target: target(relay.port), mode: 'refuse' });
    const error = await connect(through.port).then(
      () => null,
      (failure: NodeJS.ErrnoException) => failure.code,
    );
    assert.equal(error, 'ECONNREFUSED');
    assert.equal((await through.stats()).connections, 0);
  });

  test('blackhole: each connection is accepted and never answered, and held until the client gives up', async () => {
    const through = await proxy({
      target: target(relay.port),
      mode: 'blackhole',
    });
    const client = await connect(through.port);
    client.socket.write(HEALTH);
    await sleep(800);
    assert.deepEqual(
      {
        bytes: client.received().length,
        ended: client.ended,
        closed: client.closed,
      },
      { bytes: 0, ended: false, closed: false },
    );
    assert.deepEqual(await through.stats().then((stats) => [stats.connections, stats.open]), [1, 1]);
    client.socket.destroy();
    await eventually(() => through.open() === 0, 'the proxy sees the client go');
  });

  test('modes combine, and a dead door stands alone', async () => {
    const through = await proxy({
      target: target(relay.port),
      mode: ['freeze', 'no-upgrade'],
      freezeAfterBytes: 50,
    });
    const client = await connect(through.port);
    client.socket.write(HEALTH);
    await eventually(() => client.received().length === 50, 'the first 50 bytes of the health reply');
    await sleep(300);
    assert.equal(client.received().length, 50);
    await assert.rejects(
      startHostileProxy({
        target: target(relay.port),
        mode: ['blackhole', 'stall'],
      }),
      /stands alone/,
    );
  });
});
