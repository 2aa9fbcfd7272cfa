/**
 * The request handlers in-process, behind a fake peer: they talk only to the Peer interface
 * (send, subscribe, unsubscribe, close), so the same handlers serve any transport. The stores are
 * the real ones on a temporary folder; only the transport is stood in for, by a few lines that
 * keep topics in a Map and record every frame.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { parseRequest } from '../../sdk/protocol.ts';
import { newConnection } from '../../relay/connection.ts';
import type { Connection } from '../../relay/connection.ts';
import type { Peer } from '../../relay/engine/engine.ts';
import { frameHandler } from '../../relay/frames.ts';
import type { RelayContext } from '../../relay/handlers/context.ts';
import { handleRequest } from '../../relay/handlers/index.ts';
import { signOut } from '../../relay/handlers/sessions.ts';
import { createLogger } from '../../relay/logger.ts';
import { RelayMetrics } from '../../relay/metrics.ts';
import { Presence } from '../../relay/presence.ts';
import { KeyedLimiter } from '../../relay/rate-limit.ts';
import { AccountIds } from '../../relay/store/account-ids.ts';
import { Accounts } from '../../relay/store/accounts.ts';
import { HistoryStore } from '../../relay/store/history.ts';
import { Sessions } from '../../relay/store/sessions.ts';
import { newSigningKey, randomKey, registration, signMessage, uniqueName } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { tempDataDir } from '../helpers/relay-process.ts';

class FakePeer implements Peer<Connection> {
  readonly frames: Record<string, unknown>[] = [];
  readonly topics = new Set<string>();
  open = true;
  closedWith: number | null = null;

  constructor(
    readonly data: Connection,
    private readonly index: Map<string, Set<FakePeer>>,
  ) {}

  send(frame: string): boolean {
    if (!this.open) return false;
    this.frames.push(JSON.parse(frame));
    return true;
  }

  bufferedBytes(): number {
    return 0;
  }

  budgetSpent(): number {
    return 0;
  }

  subscribe(topic: string): void {
    this.topics.add(topic);
    if (!this.index.has(topic)) this.index.set(topic, new Set());
    this.index.get(topic)!.add(this);
  }

  unsubscribe(topic: string): void {
    this.topics.delete(topic);
    this.index.get(topic)?.delete(this);
  }

  end(code: number): void {
    this.closedWith = code;
    this.open = false;
  }

  terminate(): void {
    this.end(1006);
  }

  events(ev: string): Record<string, unknown>[] {
    return this.frames.filter((frame) => frame.ev === ev);
  }
}

let ctx: RelayContext;
const topics = new Map<string, Set<FakePeer>>();
const stores: { close(): Promise<void> }[] = [];
let requestId = 0;

function peer(ip = '203.0.113.7'): FakePeer {
  return new FakePeer(newConnection(ip, 1000), topics);
}

/** Validates the request exactly as the relay does with a frame off the wire, then runs its handler. */
async function call(ws: FakePeer, type: string, fields: Record<string, unknown> = {}): Promise<any> {
  const parsed = parseRequest(JSON.stringify({ id: ++requestId, type, ...fields }));
  if (!parsed.ok) throw parsed.error;
  const result = await handleRequest(ctx, ws, parsed.request);
  return result instanceof Object && 'json' in result ? JSON.parse((result as { json: string }).json) : result;
}

async function register(ws: FakePeer): Promise<TestUser> {
  const username = uniqueName();
  const authKey = randomKey();
  const key = newSigningKey();
  const session = await call(ws, 'register', registration(username, authKey, key.publicKey));
  return { username, authKey, ...key, session, profile: session.user };
}

before(async () => {
  const folder = tempDataDir();
  const ids = new AccountIds();
  const log = createLogger({
    format: 'text',
    level: 'error',
    write: () => undefined,
  });
  const [accounts, sessions, history] = await Promise.all([
    Accounts.open(folder, ids, crypto.randomBytes(32), log),
    Sessions.open(folder, ids, 24 * 60 * 60 * 1000, log),
    HistoryStore.open(folder, ids, 1000, log),
  ]);
  stores.push(accounts, sessions, history);
  const presence = new Presence<FakePeer>();
  ctx = {
    config: {
      historySize: 1000,
      connectionBudget: 0,
    } as RelayContext['config'],
    accounts,
    sessions,
    history,
    presence,
    limits: {
      loginByName: new KeyedLimiter(1 / 60, 10),
      loginByIp: new KeyedLimiter(1 / 10, 30),
      registerByIp: new KeyedLimiter(1, 1000),
    },
    log,
    metrics: new RelayMetrics({
      engine: 'node',
      connections: () => 0,
      sessions: () => 0,
      rooms: () => presence.roomCount(),
    }),
    publish(topic, frame) {
      const members = topics.get(topic) ?? new Set();
      for (const member of members) member.send(frame);
      return members.size;
    },
  };
});

after(async () => {
  ctx.metrics.close();
  await Promise.all(stores.map((store) => store.close()));
});

describe('request handlers behind a fake peer', () => {
  test('two people register, join a room, see each other arrive, exchange a signed message and see the leave', async () => {
    const [anna, boris] = [peer(), peer()];
    const annaUser = await register(anna);
    const borisUser = await register(boris);
    assert.ok(
      anna.topics.has('users') && boris.topics.has('users'),
      'a login subscribes to profile and presence events',
    );

    const room = uniqueName('room');
    await call(anna, 'join', { room });
    const joined = await call(boris, 'join', { room });
    assert.deepEqual(
      joined.online.map((user: { id: number }) => user.id).sort(),
      [annaUser.profile.id, borisUser.profile.id].sort(),
    );
    assert.equal(anna.events('join').at(-1)!.room, room, 'anna saw boris join');

    const { seq } = await call(anna, 'send', signMessage(annaUser, room, 'Привет, Борис'));
    assert.equal(seq, 1);
    const delivered = boris.events('message');
    assert.equal(delivered.length, 1);
    assert.equal(delivered[0]!.text, 'Привет, Борис');
    assert.equal(anna.events('message').length, 1, 'the sender gets its own copy through the room topic');

    await call(boris, 'leave', { room });
    assert.deepEqual(
      anna.events('leave').at(-1),
      { ev: 'leave', room, userId: borisUser.profile.id, memberSeq: 3 },
      "the room's third change: Anna came, Boris came, Boris went",
    );
    assert.ok(!boris.topics.has(`room/${room}`));
  });

  test('a second connection of the same user neither joins nor leaves twice', async () => {
    const [first, second, watcher] = [peer(), peer(), peer()];
    const user = await register(first);
    await register(watcher);
    const room = uniqueName('room');
    await call(watcher, 'join', { room });
    await call(second, 'resume', { token: user.session.token });
    await call(first, 'join', { room });
    await call(second, 'join', { room });
    const joinsOf = (frames: Record<string, unknown>[]) =>
      frames.filter((frame) => (frame.user as { id: number }).id === user.profile.id);
    assert.equal(joinsOf(watcher.events('join')).length, 1, 'one join notice for two connections');
    signOut(ctx, first);
    assert.equal(watcher.events('leave').length, 0, 'the user is still in the room on the other connection');
    signOut(ctx, second);
    assert.equal(watcher.events('leave').length, 1);
  });

  test('handlers refuse what the connection may not do, whatever came before', async () => {
    const anonymous = peer();
    await assert.rejects(call(anonymous, 'join', { room: 'general' }), {
      code: 'NOT_AUTHENTICATED',
    });
    const ws = peer();
    const user = await register(ws);
    await assert.rejects(call(ws, 'login', { username: user.username, authKey: user.authKey }), {
      code: 'ALREADY_AUTHENTICATED',
    });
    await assert.rejects(call(ws, 'send', signMessage(user, 'not-joined', 'x')), { code: 'NOT_IN_ROOM' });
    await call(ws, 'join', { room: 'general' });
    await assert.rejects(
      call(
        ws,
        'send',
        signMessage(user, 'general', 'x', {
          sig: randomKey() + randomKey().slice(0, 43),
        }),
      ),
      { code: 'BAD_SIGNATURE' },
    );
  });

  test('the frame layer answers each frame once, and closes a connection that floods', async () => {
    const ws = new FakePeer(newConnection('203.0.113.9', 1), topics);
    const onFrame = frameHandler(ctx);
    onFrame(ws, '{"id":1,"type":"ping"}');
    onFrame(ws, 'not json');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ws.frames.filter((frame) => frame.re === 1 && frame.ok === true).length, 1);
    assert.equal(
      (
        ws.frames.find((frame) => frame.re === null) as {
          error: { code: string };
        }
      ).error.code,
      'BAD_JSON',
    );
    for (let i = 0; i < 60 && ws.open; i++) onFrame(ws, `{"id":${i + 2},"type":"ping"}`);
    assert.equal(ws.closedWith, 1008, 'closed after 50 refusals in a row');
    onFrame(new FakePeer(newConnection('203.0.113.9', 1), topics), null);
  });
});
