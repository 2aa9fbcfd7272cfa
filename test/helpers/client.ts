/**
 * A bare protocol client for relay tests: raw frames over a real WebSocket (the `ws` package),
 * so tests see exactly what any client would, including what a hostile one can send.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { signedBytes } from '../../sdk/protocol.ts';
import type { ChatMessage, Profile, SessionResult } from '../../sdk/protocol.ts';

export interface ReplyFrame {
  re: string | number | null;
  ok: boolean;
  result?: any;
  error?: {
    code: string;
    message: string;
    field?: string;
    retryAfterMs?: number;
    seq?: number;
  };
}

export interface EventFrame {
  ev: string;
  [field: string]: any;
}

export class TestClient {
  readonly events: EventFrame[] = [];
  readonly replies: ReplyFrame[] = [];
  private nextId = 1;
  private readonly waiting = new Map<string | number, (reply: ReplyFrame) => void>();
  private readonly watchers = new Set<() => void>();
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const frame = JSON.parse(data.toString());
      if ('ev' in frame) this.events.push(frame);
      else {
        this.replies.push(frame);
        const resolve = this.waiting.get(frame.re);
        this.waiting.delete(frame.re);
        resolve?.(frame);
      }
      for (const watcher of [...this.watchers]) watcher();
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static async connect(wsUrl: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const socket = new WebSocket(wsUrl, options);
    const client = new TestClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await client.waitForEvent((event) => event.ev === 'hello');
    return client;
  }

  /** Sends one request and resolves with its reply, whether ok or error. */
  request(type: string, fields: Record<string, unknown> = {}): Promise<ReplyFrame> {
    const id = this.nextId++;
    return this.sendRaw(JSON.stringify({ id, type, ...fields }), id);
  }

  /** Sends a request and returns its result; throws with the error code if it failed. */
  async call(type: string, fields: Record<string, unknown> = {}): Promise<any> {
    const reply = await this.request(type, fields);
    if (!reply.ok)
      throw Object.assign(new Error(`${type} failed: ${reply.error!.code} ${reply.error!.message}`), {
        code: reply.error!.code,
      });
    return reply.result;
  }

  /** Sends any text; resolves with the reply whose `re` equals `expectId` (use null for unparseable frames). */
  sendRaw(text: string, expectId: string | number | null = null): Promise<ReplyFrame> {
    const reply = new Promise<ReplyFrame>((resolve) => this.waiting.set(expectId as string | number, resolve));
    this.socket.send(text);
    return withTimeout(reply, `reply to ${text.slice(0, 60)}`);
  }

  waitForEvent(match: (event: EventFrame) => boolean, what = 'event', ms = PATIENCE_MS): Promise<EventFrame> {
    return this.waitFor(() => this.events.find(match), what, ms);
  }

  waitFor<T>(probe: () => T | undefined, what: string, ms = PATIENCE_MS): Promise<T> {
    const found = probe();
    if (found !== undefined) return Promise.resolve(found);
    return withTimeout(
      new Promise<T>((resolve) => {
        const watcher = (): void => {
          const value = probe();
          if (value === undefined) return;
          this.watchers.delete(watcher);
          resolve(value);
        };
        this.watchers.add(watcher);
      }),
      what,
      ms,
    );
  }

  close(): Promise<unknown> {
    this.socket.close();
    return this.closed;
  }
}

/**
 * How long a test waits for something that should come at once (a reply, an event, a log line)
 * before calling it lost. Measured: milliseconds. But `npm test` runs two files at a time, each
 * with its own relays, often beside other work on a 2-core machine, and there 5 s was missed; a
 * cap only has to tell "late" from "never", so it is generous.
 */
export const PATIENCE_MS = 20_000;

/** Polls `probe` until it is true; for conditions that no single client's frames announce. */
export async function eventually(probe: () => boolean, what: string, ms = PATIENCE_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function withTimeout<T>(promise: Promise<T>, what: string, ms = PATIENCE_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

/** A user as a test sees it: the keys a browser would derive, simulated with node:crypto. */
export interface TestUser {
  username: string;
  authKey: string;
  privateKey: crypto.KeyObject;
  publicKey: string;
  session: SessionResult;
  profile: Profile;
}

export function randomKey(): string {
  return crypto.randomBytes(32).toString('base64url');
}

export function newSigningKey(): {
  privateKey: crypto.KeyObject;
  publicKey: string;
} {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  return { privateKey, publicKey: publicKey.export({ format: 'jwk' }).x! };
}

let counter = 0;
export function uniqueName(prefix = 'user'): string {
  return `${prefix}${process.pid}x${++counter}`;
}

export function registration(username: string, authKey = randomKey(), publicKey = newSigningKey().publicKey) {
  return {
    username,
    firstName: 'Иван',
    lastName: 'Petrov',
    kdf: {
      alg: 'scrypt',
      N: 2 ** 17,
      r: 8,
      p: 1,
      salt: crypto.randomBytes(16).toString('base64url'),
    },
    authKey,
    keySalt: randomKey(),
    publicKey,
  };
}

/** Registers a fresh user on `client` (which is then logged in as that user). */
export async function registerUser(client: TestClient, username = uniqueName()): Promise<TestUser> {
  const authKey = randomKey();
  const key = newSigningKey();
  const session: SessionResult = await client.call('register', registration(username, authKey, key.publicKey));
  return { username, authKey, ...key, session, profile: session.user };
}

export function signMessage(
  user: TestUser,
  room: string,
  text: string,
  overrides: Partial<ChatMessage> = {},
): Omit<ChatMessage, 'seq'> {
  const unsigned = {
    room,
    author: user.profile.id,
    cid: crypto.randomBytes(12).toString('base64url'),
    ts: Date.now(),
    text,
    ...overrides,
  };
  const sig = crypto.sign(null, signedBytes(unsigned), user.privateKey).toString('base64url');
  return { ...unsigned, sig, ...(overrides.sig ? { sig: overrides.sig } : {}) };
}

export interface Person {
  client: TestClient;
  user: TestUser;
}

/** Connects to `target` (a relay, or a proxy in front of one), signs up a fresh user and joins `room` when given. */
export async function loggedIn(
  target: { wsUrl: string },
  room?: string,
  options: WebSocket.ClientOptions = {},
): Promise<Person> {
  const client = await TestClient.connect(target.wsUrl, options);
  // Some of these connections are cut by the relay on purpose; that must fail an assertion, not the process.
  client.socket.on('error', () => {});
  const user = await registerUser(client);
  if (room !== undefined) await client.call('join', { room });
  return { client, user };
}

let chatter = 0;
/** `from` sends a signed message and `to` receives it; resolves with the round trip in ms. */
export async function chat(from: Person, to: Person, room: string, ms = 10_000): Promise<number> {
  const started = Date.now();
  const message = signMessage(from.user, room, `still chatting ${++chatter}`);
  const reply = await withTimeout(from.client.request('send', message), 'the reply to a chat message', ms);
  assert.equal(reply.ok, true, `chat message refused: ${JSON.stringify(reply.error)}`);
  await withTimeout(
    to.client.waitFor(
      () => to.client.events.find((e) => e.ev === 'message' && e.cid === message.cid),
      'the chat message',
    ),
    'the chat message at the other member',
    ms,
  );
  return Date.now() - started;
}

/** How an upgrade ended: a WebSocket, an HTTP reply instead, or a connection that failed without one. */
export type UpgradeOutcome = { socket: WebSocket } | { status: number; body: string } | { failed: string };

/** Tries one WebSocket upgrade; never rejects. Open sockets are the caller's to close. */
export function openWebSocket(
  wsUrl: string,
  options: WebSocket.ClientOptions = {},
  ms = 20_000,
): Promise<UpgradeOutcome> {
  const outcome = new Promise<UpgradeOutcome>((resolve) => {
    const socket = new WebSocket(wsUrl, options);
    socket.once('open', () => resolve({ socket }));
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.once('end', () => {
        resolve({ status: response.statusCode ?? 0, body });
        socket.terminate();
      });
      response.once('error', (error) => resolve({ failed: error.message }));
    });
    // terminate() above makes ws report an error too; the first outcome is the one that counts.
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ failed: error.code ?? error.message }));
  });
  return withTimeout(outcome, `a WebSocket upgrade at ${wsUrl}`, ms);
}
