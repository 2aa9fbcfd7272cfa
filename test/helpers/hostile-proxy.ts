/**
 * A TCP proxy that behaves like the networks our users are on (issue 10; net4people/bbs 490 for the
 * freeze after 15-20 KB): put it in front of a relay and point a client at it. It is a real node:net
 * proxy, so what the client sees is what it would see behind a censoring middlebox: bytes that stop
 * with no RST and no FIN, WebSocket upgrades refused while plain HTTP passes, connections that die
 * of old age, stalls, dead doors.
 *
 *   const proxy = await startHostileProxy({ target: { host: '127.0.0.1', port: relay.port }, mode: 'freeze' });
 *   const client = new SovClient({ relay: proxy.url, ... });
 *   ... (await proxy.stats()).connections    // the proxy counts every TCP connection it accepts
 *   await proxy.stop();
 *
 * Where it runs: in a child process shared by every proxy of one test process (one host, started on
 * first use). Tests do heavy work on their own event loop (scrypt for each registration, thousands of
 * signature checks); a proxy sharing that loop would hold every byte and every timer for as long as a
 * task runs, and stalls and lifetimes would stretch with the test's load instead of following their
 * own clock. A process per proxy would cost a start of Node with tsx each (about a second here under
 * load); one host amortises that. hostile-proxy-cli.ts is that host, and also runs a proxy by hand.
 *
 * How each mode behaves, and why:
 * - `freeze`: after `freezeAfterBytes` (16,384) bytes from the server on one TCP connection, nothing
 *   more reaches the client: no byte, no FIN, no RST, and the client's socket stays open. The count
 *   starts at the first byte (the 101 response or HTTP headers count, as the TLS handshake does on a
 *   real network). Client-to-server bytes, and the client's close, still pass: the reported middleboxes
 *   drop the server's packets. The proxy stops reading from the server rather than reading and
 *   discarding: on a real network the server's packets go unacknowledged, so its send buffer fills and
 *   its writes back up; discarding would tell the relay that a frozen client is keeping up.
 * - `no-upgrade`: every request on every connection is read, keep-alive ones included (bodies are
 *   skipped by Content-Length or chunked framing, so a body that looks like a head is not one); a
 *   request with `Upgrade: websocket` gets `403 Forbidden` and the connection is closed. Heads pass
 *   only once complete (a middlebox has to see the whole head to judge it); bodies pass as they come.
 * - `freeze-after-time`: `freezeAfterMs` (30 s) after the proxy accepts a connection, nothing more
 *   passes either way, closes included; the relay finds out only by its own idle timeout.
 * - `stall`: the whole path stops for `stallMs` (1-5 s) at moments `stallGapMs` (1-10 s) apart, then
 *   delivers what it held, in order, closes included. The schedule comes from `seed`.
 * - `refuse`: nothing listens on the port, so the operating system refuses each connection
 *   (ECONNREFUSED). Nothing is accepted, so nothing is counted.
 * - `blackhole`: every connection is accepted and never answered; the proxy reads what the client
 *   sends (to see it close) and keeps the socket open until the client gives up. (Dropping the SYN
 *   itself, so that connect() hangs, would take a firewall rule and root; to a WebSocket client both
 *   look the same: no handshake reply.)
 * With no mode the proxy forwards faithfully: a healthy network, to count a client's connections on.
 * `freeze`, `no-upgrade`, `freeze-after-time` and `stall` combine; `refuse` and `blackhole` stand alone.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from './random.ts';

// ## Options and numbers

export type HostileMode = 'freeze' | 'no-upgrade' | 'freeze-after-time' | 'stall' | 'refuse' | 'blackhole';

export interface HostileOptions {
  target: { host: string; port: number };
  /** One mode or several together; none forwards faithfully. */
  mode?: HostileMode | HostileMode[];
  /** freeze: server-to-client bytes one TCP connection carries before it freezes. Default 16,384 (net4people/bbs 490). */
  freezeAfterBytes?: number;
  /** freeze-after-time: how long after it opens a connection freezes. Default 30,000 ms. */
  freezeAfterMs?: number;
  /** stall: how long each stall lasts, [least, most] ms. Default [1000, 5000]. */
  stallMs?: [number, number];
  /** stall: the time from the end of one stall to the start of the next, [least, most] ms. Default [1000, 10000]. */
  stallGapMs?: [number, number];
  /** stall: the seed of the schedule, so a failing run replays the same stalls. Default 1. */
  seed?: number;
}

export interface ProxyStats {
  /** TCP connections accepted so far. */
  connections: number;
  /** Accepted connections whose client side the proxy still holds open. */
  open: number;
  /** Bytes forwarded from the server to clients (the proxy's own 403s are not forwarded bytes). */
  bytesToClient: number;
  /** Bytes forwarded from clients to the server. */
  bytesToServer: number;
  /** no-upgrade: requests answered with 403. */
  refusedUpgrades: number;
  /** stall: stalls begun so far. */
  stalls: number;
}

function noStats(): ProxyStats {
  return {
    connections: 0,
    open: 0,
    bytesToClient: 0,
    bytesToServer: 0,
    refusedUpgrades: 0,
    stalls: 0,
  };
}

/** Longest request head (or chunk-size line) read before the gate gives up on a connection; Node's own limit is 16 KB. */
const MAX_HEAD_BYTES = 64 * 1024;
const REFUSAL = 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

function modesOf(options: HostileOptions): Set<HostileMode> {
  const modes = new Set(options.mode === undefined ? [] : Array.isArray(options.mode) ? options.mode : [options.mode]);
  if ((modes.has('refuse') || modes.has('blackhole')) && modes.size > 1)
    throw new Error(`a dead door stands alone, got ${[...modes].join(', ')}`);
  return modes;
}

/** The stall schedule: each call gives the wait before the next stall and how long it lasts, in whole ms. */
export function stallSchedule(
  seed: number,
  gapMs: [number, number],
  stallMs: [number, number],
): () => { gap: number; stall: number } {
  const random = seededRandom(seed);
  const between = ([least, most]: [number, number]): number => Math.round(least + random() * (most - least));
  return () => ({ gap: between(gapMs), stall: between(stallMs) });
}

// ## The HTTP request gate (no-upgrade)

type GateState = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'trailer';

/**
 * Reads a client's bytes as HTTP/1.1 requests one after another, as a middlebox that inspects every
 * request does. `push` returns the bytes that may pass now, or 'refuse' for a WebSocket upgrade (or a
 * head too long to judge).
 */
export class RequestGate {
  private state: GateState = 'head';
  private input: Buffer = Buffer.alloc(0);
  /** Bytes left in a Content-Length body, or in a chunk (its data and the CRLF after it). */
  private remaining = 0;

  push(chunk: Buffer): Buffer | 'refuse' {
    this.input = this.input.length ? Buffer.concat([this.input, chunk]) : chunk;
    const pass: Buffer[] = [];
    while (this.input.length > 0) {
      if (this.state === 'body' || this.state === 'chunk-data') {
        const part = this.take(Math.min(this.remaining, this.input.length));
        pass.push(part);
        this.remaining -= part.length;
        if (this.remaining === 0) this.state = this.state === 'body' ? 'head' : 'chunk-size';
        continue;
      }
      const terminator = this.state === 'head' ? '\r\n\r\n' : '\r\n';
      const end = this.input.indexOf(terminator);
      if (end < 0) {
        if (this.input.length > MAX_HEAD_BYTES) return 'refuse';
        break;
      }
      const piece = this.take(end + terminator.length);
      if (this.state === 'head') {
        const head = parseHead(piece.toString('latin1'));
        if (head.upgradesToWebSocket) return 'refuse';
        this.state = head.chunked ? 'chunk-size' : head.contentLength > 0 ? 'body' : 'head';
        this.remaining = head.contentLength;
      } else if (this.state === 'chunk-size') {
        const size = parseInt(piece.toString('latin1').split(';')[0]!.trim(), 16);
        if (!Number.isFinite(size)) return 'refuse';
        this.state = size === 0 ? 'trailer' : 'chunk-data';
        this.remaining = size + 2;
      } else if (piece.length === 2) {
        this.state = 'head';
      }
      pass.push(piece);
    }
    return pass.length === 1 ? pass[0]! : Buffer.concat(pass);
  }

  private take(bytes: number): Buffer {
    const piece = this.input.subarray(0, bytes);
    this.input = this.input.subarray(bytes);
    return piece;
  }
}

function parseHead(head: string): {
  upgradesToWebSocket: boolean;
  chunked: boolean;
  contentLength: number;
} {
  const fields = new Map<string, string>();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0)
      fields.set(
        line.slice(0, colon).trim().toLowerCase(),
        line
          .slice(colon + 1)
          .trim()
          .toLowerCase(),
      );
  }
  const tokens = (name: string): string[] => (fields.get(name) ?? '').split(',').map((token) => token.trim());
  return {
    upgradesToWebSocket: tokens('upgrade').includes('websocket'),
    chunked: tokens('transfer-encoding').includes('chunked'),
    contentLength: Number(fields.get('content-length') ?? 0) || 0,
  };
}

// ## The proxy

/** What one direction of a connection carries: bytes, then the sender's FIN ('end') or its abrupt close ('reset'). */
type Item = Buffer | 'end' | 'reset';

/**
 * One direction of a proxied connection. It forwards while nothing holds it; held (a stall, a full
 * send buffer, an upstream still connecting) it stops reading and queues what already came, in order.
 * Frozen, it lets nothing more through, closes included, for good.
 */
class Flow {
  frozen = false;
  private readonly holds = new Set<string>();
  private readonly queue: Item[] = [];
  /** Bytes it may still carry before it freezes. */
  private budget: number;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly options: {
      budget?: number;
      counted(bytes: number): void;
      /** Judges each chunk before it passes (no-upgrade). */
      gate?: (chunk: Buffer) => Buffer | 'refuse';
      refused?: () => void;
      /**
       * Frozen, keep reading and discarding. For the client's direction: the client's kernel got its
       * bytes acknowledged by ours either way, and reading lets the proxy see the client go. The
       * server's direction stops reading instead, so the relay's writes back up as they would.
       */
      drainWhenFrozen?: boolean;
      frozeNow?: () => void;
    },
  ) {
    this.budget = options.budget ?? Infinity;
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => this.push('end'));
  }

  push(item: Item): void {
    if (this.frozen) return;
    if (this.holds.size > 0) this.queue.push(item);
    else this.pass(item);
  }

  hold(reason: string): void {
    this.holds.add(reason);
    if (!this.frozen) this.from.pause();
  }

  release(reason: string): void {
    this.holds.delete(reason);
    while (this.holds.size === 0 && !this.frozen && this.queue.length > 0) this.pass(this.queue.shift()!);
    if (this.holds.size === 0 && !this.frozen) this.from.resume();
  }

  freeze(): void {
    if (this.frozen) return;
    this.frozen = true;
    this.queue.length = 0;
    if (this.options.drainWhenFrozen) this.from.resume();
    else this.from.pause();
    this.options.frozeNow?.();
  }

  private pass(item: Item): void {
    if (item === 'end') return void this.to.end();
    if (item === 'reset') return void this.to.resetAndDestroy();
    let chunk: Buffer = item;
    if (this.options.gate) {
      const allowed = this.options.gate(chunk);
      if (allowed === 'refuse') return this.options.refused?.();
      chunk = allowed;
    }
    const last = chunk.length >= this.budget;
    if (last) chunk = chunk.subarray(0, this.budget);
    this.budget -= chunk.length;
    if (chunk.length > 0) {
      this.options.counted(chunk.length);
      if (!this.to.write(chunk) && !last) {
        this.hold('backpressure');
        this.to.once('drain', () => this.release('backpressure'));
      }
    }
    if (last) this.freeze();
  }
}

export interface HostileServer {
  port: number;
  stats(): ProxyStats;
  close(): Promise<void>;
}

/** Runs one hostile proxy in this process; `changed` hears of every change to its stats. Tests use startHostileProxy. */
export async function listenHostile(
  options: HostileOptions,
  changed: () => void = () => undefined,
  port = 0,
): Promise<HostileServer> {
  const modes = modesOf(options);
  const stats = noStats();
  const sockets = new Set<net.Socket>();
  const flows = new Set<Flow>();
  const timers = new Set<NodeJS.Timeout>();
  let stalled = false;

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    stats.connections++;
    stats.open++;
    changed();
    sockets.add(client);
    client.on('error', () => undefined);
    client.once('close', () => {
      sockets.delete(client);
      stats.open--;
      changed();
    });
    if (modes.has('blackhole')) client.resume().once('end', () => client.destroy());
    else forward(client);
  });

  function forward(client: net.Socket): void {
    const upstream = net.connect({
      host: options.target.host,
      port: options.target.port,
      allowHalfOpen: true,
    });
    sockets.add(upstream);
    upstream.on('error', () => undefined);
    const gate = modes.has('no-upgrade') ? new RequestGate() : null;
    const toServer: Flow = new Flow(client, upstream, {
      counted: (bytes) => ((stats.bytesToServer += bytes), changed()),
      ...(gate ? { gate: (chunk: Buffer) => gate.push(chunk), refused: refuse } : {}),
      drainWhenFrozen: true,
    });
    const toClient: Flow = new Flow(upstream, client, {
      budget: modes.has('freeze') ? (options.freezeAfterBytes ?? 16_384) : Infinity,
      counted: (bytes) => ((stats.bytesToClient += bytes), changed()),
      frozeNow: () => letGoOfClient(),
    });
    function refuse(): void {
      stats.refusedUpgrades++;
      changed();
      toServer.freeze();
      toClient.freeze();
      upstream.destroy();
      client.end(REFUSAL);
    }
    // Nothing can reach a client that has sent its FIN through a frozen direction: the proxy lets go
    // of its socket so that `open` counts what clients hold. (Ours never half-close: a FIN is goodbye.)
    function letGoOfClient(): void {
      if (client.readableEnded && toClient.frozen) client.destroy();
    }
    client.on('end', letGoOfClient);
    const both = [toServer, toClient];
    for (const flow of both) {
      flows.add(flow);
      if (stalled) flow.hold('stall');
    }
    let connected = false;
    toServer.hold('connecting');
    upstream.once('connect', () => {
      connected = true;
      toServer.release('connecting');
    });
    // An abrupt close passes as a reset (after the bytes before it) unless its direction is frozen:
    // a middlebox that drops a direction's packets drops its FIN and RST too. A FIN passes as 'end'.
    client.once('close', (hadError) => (hadError || !client.readableEnded) && toServer.push('reset'));
    upstream.once('close', (hadError) => {
      sockets.delete(upstream);
      // Never connected (the relay is down): nothing to forward, so the client learns at once.
      if (!connected) client.destroy();
      else if (hadError || !upstream.readableEnded) toClient.push('reset');
    });
    let lifetime: NodeJS.Timeout | undefined;
    if (modes.has('freeze-after-time')) {
      lifetime = setTimeout(() => {
        timers.delete(lifetime!);
        for (const flow of both) flow.freeze();
      }, options.freezeAfterMs ?? 30_000);
      timers.add(lifetime);
    }
    const gone = (): void => {
      if (!client.destroyed || !upstream.destroyed) return;
      for (const flow of both) flows.delete(flow);
      if (lifetime) clearTimeout(lifetime), timers.delete(lifetime);
    };
    client.once('close', gone);
    upstream.once('close', gone);
  }

  if (modes.has('stall')) {
    const next = stallSchedule(
      options.seed ?? 1,
      options.stallGapMs ?? [1000, 10_000],
      options.stallMs ?? [1000, 5000],
    );
    const schedule = (): void => {
      const { gap, stall } = next();
      const waiting = setTimeout(() => {
        timers.delete(waiting);
        stalled = true;
        stats.stalls++;
        changed();
        for (const flow of flows) flow.hold('stall');
        const stalling = setTimeout(() => {
          timers.delete(stalling);
          stalled = false;
          for (const flow of [...flows]) flow.release('stall');
          schedule();
        }, stall);
        timers.add(stalling);
      }, gap);
      timers.add(waiting);
    };
    schedule();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as net.AddressInfo).port;
  // A dead door that refuses: the port was free a moment ago and nothing listens on it now.
  if (modes.has('refuse')) await new Promise((resolve) => server.close(resolve));
  return {
    port: bound,
    stats: () => ({ ...stats }),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets) socket.destroy();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}

// ## Running proxies in a child process

/** What startHostileProxy asks of the host process, and what the host says back. */
export type HostRequest =
  | { op: 'start'; id: number; options: HostileOptions }
  | { op: 'stats'; id: number; proxy: number }
  | { op: 'stop'; id: number; proxy: number };
/** A request before the host's id is put on it. */
type Question = HostRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
export type HostMessage =
  | {
      op: 'reply';
      id: number;
      port?: number;
      stats?: ProxyStats;
      error?: string;
    }
  | { op: 'stats'; proxy: number; stats: ProxyStats };

export interface HostileProxy {
  port: number;
  /** `http://127.0.0.1:PORT`: the relay address to give a client. */
  url: string;
  /** The relay's WebSocket endpoint through the proxy. */
  wsUrl: string;
  /** TCP connections accepted so far, as last reported (within an event-loop turn); `await stats()` for the exact figure. */
  connections(): number;
  /** Connections whose client side is still open, as last reported. */
  open(): number;
  /** Bytes forwarded from the server to clients, as last reported. */
  bytesToClient(): number;
  /** Every figure, exactly as the proxy has it now. */
  stats(): Promise<ProxyStats>;
  /** Closes the proxy and every connection through it. */
  stop(): Promise<void>;
}

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hostile-proxy-cli.ts');

class Host {
  private nextId = 1;
  private readonly waiting = new Map<number, (message: Extract<HostMessage, { op: 'reply' }>) => void>();
  readonly reported = new Map<number, ProxyStats>();

  constructor(private readonly child: ChildProcess) {
    child.on('message', (message: HostMessage) => {
      if (message.op === 'stats') {
        this.reported.set(message.proxy, message.stats);
        return;
      }
      this.waiting.get(message.id)?.(message);
      this.waiting.delete(message.id);
      if (this.waiting.size === 0) this.idle();
    });
    child.once('exit', (code, signal) => {
      host = null;
      for (const resolve of this.waiting.values())
        resolve({
          op: 'reply',
          id: 0,
          error: `the proxy host exited (${code ?? signal})`,
        });
      this.waiting.clear();
    });
    this.idle();
  }

  async ask(request: Question): Promise<Extract<HostMessage, { op: 'reply' }>> {
    const id = this.nextId++;
    // Holds the test process open only while it waits for an answer; an idle host never does.
    this.child.ref();
    this.child.channel?.ref();
    const reply = await new Promise<Extract<HostMessage, { op: 'reply' }>>((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ ...request, id });
    });
    if (reply.error) throw new Error(reply.error);
    return reply;
  }

  private idle(): void {
    this.child.unref();
    this.child.channel?.unref();
  }
}

let host: Promise<Host> | null = null;

function theHost(): Promise<Host> {
  host ??= new Promise<Host>((resolve, reject) => {
    // The host exits when this process does: its IPC channel closes (hostile-proxy-cli.ts).
    const child = fork(CLI, ['--host'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const failed = (why: unknown): void => {
      host = null;
      reject(new Error(`the proxy host did not start: ${String(why)}`));
    };
    child.once('error', failed);
    child.once('exit', failed);
    child.once('message', (message: { op: string }) =>
      message.op === 'ready' ? resolve(new Host(child)) : failed(message.op),
    );
  });
  return host;
}

/** Starts a hostile proxy in front of `options.target` on a free port of 127.0.0.1. */
export async function startHostileProxy(options: HostileOptions): Promise<HostileProxy> {
  modesOf(options);
  const proxyHost = await theHost();
  const { id: proxy, port } = await proxyHost
    .ask({ op: 'start', options })
    .then((reply) => ({ id: reply.id, port: reply.port! }));
  const latest = (): ProxyStats => proxyHost.reported.get(proxy) ?? noStats();
  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
    connections: () => latest().connections,
    open: () => latest().open,
    bytesToClient: () => latest().bytesToClient,
    async stats() {
      const { stats } = await proxyHost.ask({ op: 'stats', proxy });
      proxyHost.reported.set(proxy, stats!);
      return stats!;
    },
    async stop() {
      await proxyHost.ask({ op: 'stop', proxy });
      proxyHost.reported.delete(proxy);
    },
  };
}
