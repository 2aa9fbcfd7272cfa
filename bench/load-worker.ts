/**
 * A load-generator process, driven by bench/run.ts over IPC. One file plays every client role:
 *
 * - `senders`: logged-in connections that pipeline pre-signed `send` requests (throughput).
 * - `members`: connections that sit in a room and count `message` events (fan-out receivers).
 * - `sender`: one connection sending at a fixed rate, plus a "probe" member in the same process so
 *   send-to-receive latency is measured on one clock (latency, and the fan-out message source).
 * - `idle`: connections that only connect (memory per idle connection).
 *
 * The same roles exist against the two baseline servers (plain `ws`, socket.io) so that every
 * server is driven by the same client code. Clients avoid work the relay is not asked to do:
 * receivers do not JSON.parse message events, they only recognize them by their prefix.
 */
import crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import type { Socket as IoSocket } from 'socket.io-client';
import { signedBytes } from '../sdk/protocol.ts';
import { latencySummary, pool, serve } from './lib/serve.ts';

const MESSAGE_PREFIX = Buffer.from('{"ev":"message"');
// Replies start with `{"re":<id>,"ok":<bool>` (relay/server.ts builds them that way), so the head is enough to route one.
const REPLY_HEAD = /^\{"re":(-?\d+|"(?:[^"\\]|\\.)*"|null),"ok":(true|false)/;

/** Non-message events and reply bytes, per process: shows what filling a room costs the members. */
const eventTypes: Record<string, number> = {};
let replyBytes = 0;

class RelayError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

function errorCodeOf(data: Buffer): string {
  try {
    return String(JSON.parse(data.toString('utf8')).error?.code ?? 'UNPARSEABLE_ERROR');
  } catch {
    return 'UNPARSEABLE_ERROR';
  }
}

/** A raw protocol connection: request/reply for setup, loose-reply callbacks for pipelining. */
class RelayConn {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    {
      resolve(value: any): void;
      reject(error: Error): void;
      wantResult: boolean;
    }
  >();
  messageEvents = 0;
  otherEvents = 0;
  bytes = 0;
  onMessageEvent: ((data: Buffer) => void) | null = null;
  /** Replies nobody awaits (pipelined sends); `id` is the numeric request id. */
  onLooseReply: ((ok: boolean, id: number, data: Buffer) => void) | null = null;
  closeInfo: { code: number; reason: string } | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw, isBinary) => {
      if (isBinary) return;
      const data = raw as Buffer;
      this.bytes += data.length;
      if (data[2] === 0x65 /* {"ev" */) {
        if (data.length >= 15 && data.compare(MESSAGE_PREFIX, 0, 15, 0, 15) === 0) {
          this.messageEvents++;
          this.onMessageEvent?.(data);
        } else {
          this.otherEvents++;
          // `{"ev":"<name>"`: the name starts at byte 7.
          const name = data.toString('latin1', 7, Math.max(7, data.indexOf(0x22, 7)));
          eventTypes[name] = (eventTypes[name] ?? 0) + 1;
        }
        return;
      }
      replyBytes += data.length;
      const head = REPLY_HEAD.exec(data.toString('latin1', 0, 96));
      if (!head) return;
      const id = Number(head[1]);
      const ok = head[2] === 'true';
      const pending = this.pending.get(id);
      if (!pending) {
        this.onLooseReply?.(ok, id, data);
        return;
      }
      this.pending.delete(id);
      if (ok) pending.resolve(pending.wantResult ? JSON.parse(data.toString('utf8')).result : undefined);
      else {
        const error = JSON.parse(data.toString('utf8')).error ?? {};
        pending.reject(new RelayError(String(error.code), String(error.message)));
      }
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      for (const pending of this.pending.values())
        pending.reject(new Error(`connection closed (${code} ${reason.toString()})`));
      this.pending.clear();
    });
    // An 'error' without a listener would crash the process; the close handler reports it.
    ws.on('error', () => undefined);
  }

  static open(url: string, timeoutMs = 20_000): Promise<RelayConn> {
    // No permessage-deflate (the relay declines it anyway) and no UTF-8 re-validation: the
    // receivers should spend as little CPU as possible, since they share 2 cores with the relay.
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    const conn = new RelayConn(ws);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`connect to ${url} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(conn);
      });
      ws.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  allocateId(): number {
    return this.nextId++;
  }

  request(type: string, fields: Record<string, unknown>, wantResult = true, timeoutMs = 60_000): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${type} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (error) => (clearTimeout(timer), reject(error)),
        wantResult,
      });
      this.ws.send(JSON.stringify({ id, type, ...fields }));
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 2000);
      this.ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.close();
    });
  }
}

interface BenchUser {
  id: number;
  privateKey: KeyObject;
  token: string;
}

const random32 = (): string => crypto.randomBytes(32).toString('base64url');

/**
 * Registers a fresh account on `conn` (which is then logged in). The relay never runs the KDF,
 * so random bytes stand in for the scrypt output a browser would send as authKey.
 */
async function register(conn: RelayConn, username: string): Promise<BenchUser> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const result = await conn.request('register', {
    username,
    firstName: 'Bench',
    lastName: 'User',
    kdf: {
      alg: 'scrypt',
      N: 2 ** 17,
      r: 8,
      p: 1,
      salt: crypto.randomBytes(16).toString('base64url'),
    },
    authKey: random32(),
    keySalt: random32(),
    publicKey: publicKey.export({ format: 'jwk' }).x!,
  });
  return { id: result.user.id, privateKey, token: result.token };
}

/** A short, ordinary chat line of about `length` characters. */
function chatText(label: string, length: number): string {
  const filler = ' the quick brown fox jumps over the lazy dog';
  let text = `bench ${label}:`;
  while (text.length < length) text += filler;
  return text.slice(0, length);
}

/** A complete `send` request frame, signed with node:crypto exactly as a browser would sign it. */
function signedSendFrame(id: number, user: BenchUser, room: string, cid: string, text: string): string {
  const unsigned = { room, author: user.id, cid, ts: Date.now(), text };
  const sig = crypto.sign(null, signedBytes(unsigned), user.privateKey).toString('base64url');
  return JSON.stringify({ id, type: 'send', ...unsigned, sig });
}

const tag = `${process.pid.toString(36)}${crypto.randomBytes(2).toString('hex')}`;

// ---------------------------------------------------------------------------------------------
// Throughput: pipelined pre-signed sends.

interface PipelinedSender {
  conn: RelayConn;
  frames: string[];
  next: number;
  inFlight: number;
}

const throughput = {
  senders: [] as PipelinedSender[],
  pipeline: 1,
  running: false,
  sent: 0,
  ok: 0,
  errors: {} as Record<string, number>,
  exhausted: 0,
  firstExhaustedAt: null as number | null,
};

function pump(sender: PipelinedSender): void {
  while (throughput.running && sender.inFlight < throughput.pipeline && sender.next < sender.frames.length) {
    sender.conn.ws.send(sender.frames[sender.next++]!);
    sender.inFlight++;
    throughput.sent++;
  }
  if (sender.next >= sender.frames.length && sender.frames.length > 0) {
    sender.frames = [];
    throughput.exhausted++;
    throughput.firstExhaustedAt ??= Date.now();
  }
}

async function setupSenders(args: {
  url: string;
  connections: number;
  messagesPerConnection: number;
  pipeline: number;
  textLength: number;
}) {
  const started = performance.now();
  throughput.pipeline = args.pipeline;
  throughput.senders = await pool(args.connections, 25, async (index) => {
    const conn = await RelayConn.open(args.url);
    const user = await register(conn, `s${tag}x${index}`);
    // One room per connection: each message is stored and echoed to its one sender, so the
    // test measures accept (verify + store) cost rather than fan-out.
    const room = `t${tag}x${index}`;
    await conn.request('join', { room, limit: 0 }, false);
    return {
      conn,
      user,
      room,
      index,
      frames: [] as string[],
      next: 0,
      inFlight: 0,
    };
  });
  const connected = performance.now();
  // Signing happens here, before the timed window, so the generator's own signing cost cannot be the bottleneck.
  for (const sender of throughput.senders as (PipelinedSender & {
    user: BenchUser;
    room: string;
    index: number;
  })[]) {
    for (let i = 0; i < args.messagesPerConnection; i++) {
      const cid = `c${tag}x${sender.index}n${i}`;
      sender.frames.push(
        signedSendFrame(sender.conn.allocateId(), sender.user, sender.room, cid, chatText(`${i}`, args.textLength)),
      );
    }
    sender.conn.onLooseReply = (ok, _id, data) => {
      sender.inFlight--;
      if (ok) throughput.ok++;
      else {
        const code = errorCodeOf(data);
        throughput.errors[code] = (throughput.errors[code] ?? 0) + 1;
      }
      pump(sender);
    };
  }
  return {
    connections: throughput.senders.length,
    presigned: throughput.senders.reduce((sum, sender) => sum + sender.frames.length, 0),
    connectMs: connected - started,
    signMs: performance.now() - connected,
  };
}

function throughputSnapshot() {
  return {
    at: Date.now(),
    sent: throughput.sent,
    ok: throughput.ok,
    errors: { ...throughput.errors },
    exhaustedConnections: throughput.exhausted,
    firstExhaustedAt: throughput.firstExhaustedAt,
    closedConnections: throughput.senders
      .filter((sender) => sender.conn.closeInfo)
      .map((sender) => sender.conn.closeInfo),
  };
}

// ---------------------------------------------------------------------------------------------
// Members: counted receivers of a room (relay, ws baseline, socket.io baseline).

interface Counter {
  messages: number;
  other: number;
  bytes: number;
  closed: number;
}
const memberCounters: (() => Counter)[] = [];
const closers: (() => Promise<void>)[] = [];

async function relayMembers(args: { url: string; count: number; room: string; concurrency: number }) {
  const started = performance.now();
  const conns = await pool(args.count, args.concurrency, async (index) => {
    const conn = await RelayConn.open(args.url);
    await register(conn, `m${tag}x${index}`);
    // limit 0: no history in the join reply; members count only what arrives after they joined.
    await conn.request('join', { room: args.room, limit: 0 }, false);
    return conn;
  });
  memberCounters.push(() => ({
    messages: conns.reduce((sum, conn) => sum + conn.messageEvents, 0),
    other: conns.reduce((sum, conn) => sum + conn.otherEvents, 0),
    bytes: conns.reduce((sum, conn) => sum + conn.bytes, 0),
    closed: conns.filter((conn) => conn.closeInfo).length,
  }));
  closers.push(async () => void (await Promise.all(conns.map((conn) => conn.close()))));
  return {
    members: conns.length,
    setupMs: performance.now() - started,
    ...count(),
  };
}

function openWs(url: string, timeoutMs = 20_000): Promise<WebSocket> {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    skipUTF8Validation: true,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`connect to ${url} timed out`));
    }, timeoutMs);
    ws.once('open', () => (clearTimeout(timer), resolve(ws)));
    ws.once('error', (error) => (clearTimeout(timer), reject(error)));
  });
}

function openIo(url: string, timeoutMs = 20_000): Promise<IoSocket> {
  // forceNew: without it socket.io-client multiplexes every io(url) over ONE connection.
  const socket = io(url, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    timeout: timeoutMs,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => reject(error));
  });
}

function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => (ws.terminate(), resolve()), 2000);
    ws.once('close', () => (clearTimeout(timer), resolve()));
    ws.close();
  });
}

async function baselineMembers(args: {
  kind: 'ws' | 'socketio' | 'floor';
  url: string;
  count: number;
  concurrency: number;
}) {
  const started = performance.now();
  const counter: Counter = { messages: 0, other: 0, bytes: 0, closed: 0 };
  if (args.kind === 'ws' || args.kind === 'floor') {
    const sockets = await pool(args.count, args.concurrency, async () => {
      const ws = await openWs(args.url);
      // Every frame the ws baseline sends is a broadcast chat message.
      ws.on('message', (data) => {
        counter.messages++;
        counter.bytes += (data as Buffer).length;
      });
      ws.on('close', () => counter.closed++);
      ws.on('error', () => undefined);
      return ws;
    });
    closers.push(async () => void (await Promise.all(sockets.map(closeWs))));
  } else {
    const sockets = await pool(args.count, args.concurrency, async () => {
      const socket = await openIo(args.url);
      socket.on('message', () => counter.messages++);
      socket.on('disconnect', () => counter.closed++);
      return socket;
    });
    closers.push(async () => {
      for (const socket of sockets) socket.disconnect();
    });
  }
  memberCounters.push(() => counter);
  return {
    members: args.count,
    setupMs: performance.now() - started,
    ...count(),
  };
}

function count(): Counter & {
  at: number;
  eventTypes: Record<string, number>;
  replyBytes: number;
} {
  const total: Counter = { messages: 0, other: 0, bytes: 0, closed: 0 };
  for (const counter of memberCounters) {
    const value = counter();
    total.messages += value.messages;
    total.other += value.other;
    total.bytes += value.bytes;
    total.closed += value.closed;
  }
  return {
    at: Date.now(),
    ...total,
    eventTypes: { ...eventTypes },
    replyBytes,
  };
}

/** Resolves when the members of this process have counted `target` messages, or at the timeout. */
async function waitCount(args: { target: number; timeoutMs: number }) {
  const deadline = Date.now() + args.timeoutMs;
  for (;;) {
    const now = count();
    if (now.messages >= args.target) return { reached: true, ...now };
    if (Date.now() > deadline) return { reached: false, ...now };
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// ---------------------------------------------------------------------------------------------
// Fixed-rate sender with a same-process latency probe.

interface RateSender {
  kind: 'relay' | 'ws' | 'socketio';
  /** Sends message i of the run; returns nothing (fire and forget, open loop). */
  send(i: number): void;
  /** Pre-builds message i (pre-signed for the relay) so signing happens before the schedule starts. */
  prepare(count: number, textLength: number, run: number): void;
  acks: number;
  ackErrors: Record<string, number>;
  ackLatencies: number[];
  probeLatencies: number[];
  probeReceived: number;
  close(): Promise<void>;
}

let rateSender: RateSender | null = null;
let sendTimes: Float64Array = new Float64Array(0);
let runNumber = 0;
/** cid -> index of the current run, for the probe; cids carry the run number so a late frame of an earlier run is not miscounted. */
const cidPrefix = (run: number): string => `L${tag}r${run}i`;

function probeIndex(cid: string | undefined, run: number): number {
  if (typeof cid !== 'string' || !cid.startsWith(cidPrefix(run))) return -1;
  return Number(cid.slice(cidPrefix(run).length));
}

async function setupSender(args: { kind: 'relay' | 'ws' | 'socketio' | 'floor'; url: string; room: string }) {
  if (args.kind === 'relay') {
    const conn = await RelayConn.open(args.url);
    const user = await register(conn, `w${tag}`);
    await conn.request('join', { room: args.room, limit: 0 }, false);
    // The probe joins after every counted member, so it is the last subscriber the relay writes to.
    const probe = await RelayConn.open(args.url);
    await register(probe, `p${tag}`);
    await probe.request('join', { room: args.room, limit: 0 }, false);
    let frames: string[] = [];
    let ids: number[] = [];
    let firstId = 0;
    const sender: RateSender = {
      kind: 'relay',
      acks: 0,
      ackErrors: {},
      ackLatencies: [],
      probeLatencies: [],
      probeReceived: 0,
      prepare(count, textLength, run) {
        frames = [];
        ids = [];
        for (let i = 0; i < count; i++) {
          const id = conn.allocateId();
          if (i === 0) firstId = id;
          ids.push(id);
          frames.push(
            signedSendFrame(id, user, args.room, `${cidPrefix(run)}${i}`, chatText(`${run}/${i}`, textLength)),
          );
        }
      },
      send(i) {
        conn.ws.send(frames[i]!);
      },
      close: async () => void (await Promise.all([conn.close(), probe.close()])),
    };
    conn.onLooseReply = (ok, id, data) => {
      const index = id - firstId;
      if (ok) {
        sender.acks++;
        if (index >= 0 && index < sendTimes.length && sendTimes[index]! > 0)
          sender.ackLatencies.push(performance.now() - sendTimes[index]!);
      } else {
        const code = errorCodeOf(data);
        sender.ackErrors[code] = (sender.ackErrors[code] ?? 0) + 1;
      }
    };
    probe.onMessageEvent = (data) => {
      const received = performance.now();
      const index = probeIndex(JSON.parse(data.toString('utf8')).cid, runNumber);
      if (index >= 0 && index < sendTimes.length && sendTimes[index]! > 0) {
        sender.probeReceived++;
        sender.probeLatencies.push(received - sendTimes[index]!);
      }
    };
    rateSender = sender;
    return { userId: user.id };
  }

  // Baselines: the same message shape and size the relay fans out, so frame sizes match.
  const fakeSig = crypto.randomBytes(64).toString('base64url');
  const messageObject = (i: number, run: number, textLength: number) => ({
    room: args.room,
    seq: i + 1,
    author: 1,
    cid: `${cidPrefix(run)}${i}`,
    ts: Date.now(),
    text: chatText(`${run}/${i}`, textLength),
    sig: fakeSig,
  });
  const base = {
    acks: 0,
    ackErrors: {},
    ackLatencies: [] as number[],
    probeLatencies: [] as number[],
    probeReceived: 0,
  };
  const onProbe = (cid: string | undefined): void => {
    const received = performance.now();
    const index = probeIndex(cid, runNumber);
    if (index >= 0 && index < sendTimes.length && sendTimes[index]! > 0) {
      rateSender!.probeReceived++;
      rateSender!.probeLatencies.push(received - sendTimes[index]!);
    }
  };
  if (args.kind === 'ws' || args.kind === 'floor') {
    const ws = await openWs(args.url);
    const probe = await openWs(args.url);
    probe.on('message', (data) => onProbe(JSON.parse((data as Buffer).toString('utf8')).cid));
    let frames: string[] = [];
    rateSender = {
      kind: 'ws',
      ...base,
      prepare(count, textLength, run) {
        frames = Array.from({ length: count }, (_, i) =>
          JSON.stringify({
            ev: 'message',
            ...messageObject(i, run, textLength),
          }),
        );
      },
      send(i) {
        ws.send(frames[i]!);
      },
      close: async () => void (await Promise.all([closeWs(ws), closeWs(probe)])),
    };
  } else {
    const socket = await openIo(args.url);
    const probe = await openIo(args.url);
    probe.on('message', (message: { cid?: string }) => onProbe(message?.cid));
    let objects: object[] = [];
    rateSender = {
      kind: 'socketio',
      ...base,
      prepare(count, textLength, run) {
        objects = Array.from({ length: count }, (_, i) => messageObject(i, run, textLength));
      },
      send(i) {
        socket.emit('message', objects[i]);
      },
      close: async () => {
        socket.disconnect();
        probe.disconnect();
      },
    };
  }
  return {};
}

/**
 * Sends `count` messages at `rate` per second on a fixed schedule (open loop: never waits for
 * replies, so a slow server shows up as latency rather than as a slower sender), then waits up
 * to `drainMs` for the acks and the probe to catch up.
 */
async function sendAtRate(args: { rate: number; count: number; textLength: number; drainMs: number }) {
  const sender = rateSender;
  if (!sender) throw new Error('sender not set up');
  const run = ++runNumber;
  sender.prepare(args.count, args.textLength, run);
  sender.acks = 0;
  sender.ackErrors = {};
  sender.ackLatencies = [];
  sender.probeLatencies = [];
  sender.probeReceived = 0;
  sendTimes = new Float64Array(args.count);
  const startedAt = Date.now();
  const start = performance.now();
  let lateMaxMs = 0;
  await new Promise<void>((resolve) => {
    let i = 0;
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(args.count, Math.floor(((now - start) * args.rate) / 1000) + 1);
      while (i < due) {
        lateMaxMs = Math.max(lateMaxMs, now - (start + (i * 1000) / args.rate));
        sendTimes[i] = performance.now();
        sender.send(i);
        i++;
      }
      if (i >= args.count) resolve();
      else setTimeout(tick, Math.max(0, start + (i * 1000) / args.rate - performance.now()));
    };
    tick();
  });
  const sendSeconds = (performance.now() - start) / 1000;
  const deadline = performance.now() + args.drainMs;
  const expectAcks = sender.kind === 'relay';
  while (performance.now() < deadline) {
    const errors = Object.values(sender.ackErrors).reduce((sum, value) => sum + value, 0);
    if ((!expectAcks || sender.acks + errors >= args.count) && sender.probeReceived >= args.count) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return {
    startedAt,
    sent: args.count,
    sendSeconds,
    scheduleLagMaxMs: lateMaxMs,
    acks: sender.acks,
    ackErrors: sender.ackErrors,
    ack: sender.ackLatencies.length ? latencySummary(sender.ackLatencies) : null,
    probeReceived: sender.probeReceived,
    probe: sender.probeLatencies.length ? latencySummary(sender.probeLatencies) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Idle connections.

const idleConns: RelayConn[] = [];

async function idle(args: { url: string; count: number; concurrency: number }) {
  const started = performance.now();
  let failed = 0;
  let firstError = '';
  const conns = await pool(args.count, args.concurrency, async () => {
    try {
      return await RelayConn.open(args.url, 30_000);
    } catch (error) {
      failed++;
      firstError ||= String(error);
      return null;
    }
  });
  for (const conn of conns) if (conn) idleConns.push(conn);
  closers.push(async () => {
    // terminate: 10,000 closing handshakes would only slow the end of the run.
    for (const conn of idleConns.splice(0)) conn.ws.terminate();
  });
  return {
    opened: idleConns.length,
    failed,
    firstError,
    ms: performance.now() - started,
  };
}

/** Registers one account and returns its session token, for `idle-login` to share. */
async function registerOne(args: { url: string }) {
  const conn = await RelayConn.open(args.url);
  const user = await register(conn, `i${tag}`);
  await conn.close();
  return { token: user.token };
}

/**
 * Logs every idle connection in with one shared session (`resume`) and optionally joins a room.
 * One account on every connection keeps this cheap: presence and join events go out once, not
 * once per connection, so the memory measured is the per-connection state, not event traffic.
 */
async function idleLogin(args: { token: string; room?: string; concurrency: number }) {
  const started = performance.now();
  await pool(idleConns.length, args.concurrency, async (index) => {
    const conn = idleConns[index]!;
    if (args.room === undefined) await conn.request('resume', { token: args.token }, false);
    else await conn.request('join', { room: args.room, limit: 0 }, false);
  });
  return {
    connections: idleConns.length,
    ms: performance.now() - started,
    closed: idleConns.filter((conn) => conn.closeInfo).length,
  };
}

// ---------------------------------------------------------------------------------------------
// Soak: many logged-in people chatting at a human pace, each timing its own messages.

const CID_IN_MESSAGE = /"cid":"([^"]+)"/;

const soak = {
  chatters: [] as Array<{
    conn: RelayConn;
    user: BenchUser;
    room: string;
    sentAt: Map<string, number>;
  }>,
  timers: [] as Array<ReturnType<typeof setTimeout>>,
  latencies: [] as number[],
  sent: 0,
  received: 0,
  errors: {} as Record<string, number>,
};

/**
 * `count` people, spread over `rooms` rooms, each sending a message every `intervalMs` (jittered
 * so they do not beat in step). Latency is send-to-own-copy on the sender's connection: one clock,
 * and it covers verify, the fsync'ed append and the fan-out to the whole room.
 */
async function chatters(args: {
  url: string;
  count: number;
  rooms: number;
  intervalMs: number;
  textLength: number;
  concurrency: number;
}) {
  const started = performance.now();
  const people = await pool(args.count, args.concurrency, async (index) => {
    const conn = await RelayConn.open(args.url);
    const user = await register(conn, `c${tag}x${index}`);
    const room = `soak${index % args.rooms}`;
    await conn.request('join', { room, limit: 0 }, false);
    const person = { conn, user, room, sentAt: new Map<string, number>() };
    conn.onMessageEvent = (data) => {
      soak.received++;
      const cid = CID_IN_MESSAGE.exec(data.toString('latin1', 0, 400))?.[1];
      const sentAt = cid === undefined ? undefined : person.sentAt.get(cid);
      if (sentAt === undefined) return;
      person.sentAt.delete(cid!);
      soak.latencies.push(performance.now() - sentAt);
    };
    conn.onLooseReply = (ok, _id, data) => {
      if (!ok) {
        const code = errorCodeOf(data);
        soak.errors[code] = (soak.errors[code] ?? 0) + 1;
      }
    };
    return person;
  });
  soak.chatters.push(...people);
  for (const person of people) {
    const tick = (): void => {
      if (person.conn.closeInfo) return;
      const cid = crypto.randomBytes(9).toString('base64url');
      person.sentAt.set(cid, performance.now());
      person.conn.ws.send(
        signedSendFrame(person.conn.allocateId(), person.user, person.room, cid, chatText('soak', args.textLength)),
      );
      soak.sent++;
      soak.timers.push(setTimeout(tick, args.intervalMs * (0.5 + Math.random())));
    };
    soak.timers.push(setTimeout(tick, Math.random() * args.intervalMs));
  }
  closers.push(async () => {
    for (const timer of soak.timers.splice(0)) clearTimeout(timer);
    await Promise.all(soak.chatters.splice(0).map((person) => person.conn.close()));
  });
  return { people: people.length, setupMs: performance.now() - started };
}

/** Counts and latencies since the last call. */
function soakSnapshot() {
  const latencies = soak.latencies.splice(0);
  const result = {
    sent: soak.sent,
    received: soak.received,
    errors: { ...soak.errors },
    closed: soak.chatters.filter((person) => person.conn.closeInfo).length,
    latency: latencySummary(latencies),
  };
  return result;
}

serve({
  chatters,
  'soak-snapshot': soakSnapshot,
  senders: setupSenders,
  start: () => {
    throughput.running = true;
    for (const sender of throughput.senders) pump(sender);
    return throughputSnapshot();
  },
  snapshot: throughputSnapshot,
  'stop-senders': async () => {
    throughput.running = false;
    const final = throughputSnapshot();
    await Promise.all(throughput.senders.map((sender) => sender.conn.close()));
    return final;
  },
  'relay-members': relayMembers,
  'baseline-members': baselineMembers,
  count,
  'wait-count': waitCount,
  'setup-sender': setupSender,
  'send-at-rate': sendAtRate,
  idle,
  'register-one': registerOne,
  'idle-login': idleLogin,
  'close-all': async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
    await rateSender?.close();
    rateSender = null;
    memberCounters.length = 0;
    return {};
  },
});
