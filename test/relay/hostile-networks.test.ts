// The relay and the SDK on the networks issue 10 is about, through the hostile proxy
// (test/helpers/hostile-proxy.ts): the SDK from Node (`ws`, memory storage) behind the proxy, the
// real relay in front of it, and where it helps a writer or a watcher on a healthy network beside.
//
// Each mode has the acceptance tests (a conversation arrives complete, in order, none twice;
// nobody seems to leave and come back; a whole history arrives page by page). The relay serves
// with the default byte budget, as a user's would.
//
// Time: the SDK notices a silent connection after two heartbeats (5 s each, so 10-15 s). Acceptance
// tests on the freeze keep that default and a 15 s deadline, so a fix that waits for the heartbeat
// to find each freeze does not pass. Where a test only needs today's mechanism, heartbeats are
// scaled down, and the 30 s lifetime of freeze-after-time is scaled with them (3 s, heartbeat 500 ms).
// The modes' groups run side by side (they spend their time waiting); the tests in each one by one,
// so that the timing of one is not the load of another.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import WebSocket from 'ws';
import { SovClient, SovError, memoryStorage } from 'sovereign-chat';
import type { Room, SovClientOptions, WebSocketConstructor } from 'sovereign-chat';
import { TestClient, registerUser, signMessage, uniqueName } from '../helpers/client.ts';
import { startHostileProxy } from '../helpers/hostile-proxy.ts';
import type { HostileOptions, HostileProxy } from '../helpers/hostile-proxy.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { OPEN_FAILURES_TO_STEP_DOWN } from '../../sdk/transports/ladder.ts';
import { DEFAULT_CONNECTION_BUDGET } from '../../sdk/protocol/budget.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Long enough that a conversation adds up to kilobytes quickly, as real ones with links and quotes do. */
const FILLER =
  'Сообщение средней длины: чтобы разговор быстро набирал килобайты, как настоящий, со ссылками и цитатами.';
const HISTORY_SIZE = 1000;
/** What the acceptance tests wait for a freeze to be worked around: less than the heartbeat takes to find it. */
const FREEZE_DEADLINE_MS = 15_000;
/**
 * For the 1,000 messages of history, about 110 pages of a third of a budget each, one after the
 * other: 5-10 s on a quiet machine; a fresh-clone CI run with a build beside it took over 15 s on
 * the Node engine. Still far below the failure, which never completed.
 */
const HISTORY_DEADLINE_MS = 40_000;

/**
 * `ws` with a guard: the SDK drops its error handler before it terminates a socket that is still
 * connecting, and `ws` then emits an error nobody handles, which would end the test process. The
 * guard records it instead (see the dead door's tests).
 */
function guardedWebSocket(strays: string[] = []): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      this.on('error', (error) => this.onerror === null && strays.push(error.message));
    }
  } as unknown as WebSocketConstructor;
}

/** Polls `probe` until it holds, for `ms` at most; then the error says what there was instead. */
async function within(ms: number, probe: () => boolean, instead: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(instead());
    await sleep(20);
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Joins `name` and loads its whole history, older page by older page (`room.loadOlder()`), within `ms`. */
async function loadWhole(client: SovClient, name: string, ms: number): Promise<Room> {
  const deadline = Date.now() + ms;
  const room = await client.join(name);
  // A join whose connection froze resolves at once (the room syncs on the next connection):
  // whether older messages are kept is known once the relay has answered for the room.
  while (!room.synced || room.hasOlder) {
    if (Date.now() > deadline)
      throw new Error(
        `${seconds(ms)} after join() the reader has ${room.messages.length} messages, and older ones remain`,
      );
    if (!room.synced) await sleep(100);
    else await room.loadOlder().catch(() => sleep(100));
  }
  return room;
}

/** Join and leave events a room shows for the given users: each one is false while they stay. */
function presenceOf(room: Room, userIds: () => number[]): string[] {
  const seen: string[] = [];
  room.on('join', (user) => userIds().includes(user.id) && seen.push(`join ${user.id}`));
  room.on('leave', ({ userId }) => userIds().includes(userId) && seen.push(`leave ${userId}`));
  return seen;
}

const texts = (room: Room): string[] => room.messages.map((message) => message.text);
/** Numbers of the messages whose signature did not check out: none, however the network treated the author's profile. */
const unverified = (room: Room): (number | null)[] =>
  room.messages.filter((message) => !message.verified).map((message) => message.seq);
/** The sender's view: each of its messages stored by the relay (a number, state 'sent'). */
const allSent = (room: Room): boolean =>
  room.messages.every((message) => message.state === 'sent' && message.seq !== null);

describe('the relay and the SDK on hostile networks', {
  concurrency: true,
}, () => {
  let relay: RelayProcess;
  /** A room with HISTORY_SIZE messages, written before any test by a client on a healthy network. */
  const history = {
    room: uniqueName('history'),
    texts: Array.from({ length: HISTORY_SIZE }, (_, i) => `${i} ${FILLER}`),
  };

  before(async () => {
    // Written without a budget (the raw writer does not rotate), then served with the default one.
    const seeding = await startRelay();
    const writer = await TestClient.connect(seeding.wsUrl);
    const user = await registerUser(writer);
    await writer.call('join', { room: history.room });
    await Promise.all(history.texts.map((text) => writer.call('send', signMessage(user, history.room, text))));
    await writer.close();
    await seeding.stop();
    relay = await startRelay({
      dataDir: seeding.dataDir,
      args: ['--conn-budget', String(DEFAULT_CONNECTION_BUDGET)],
    });
  });
  after(() => relay.stop());

  /** A proxy in front of the relay, stopped when test `t` ends. */
  const proxy = async (t: TestContext, options: Omit<HostileOptions, 'target'>): Promise<HostileProxy> => {
    const started = await startHostileProxy({
      target: { host: '127.0.0.1', port: relay.port },
      ...options,
    });
    t.after(() => started.stop());
    return started;
  };
  /** An SDK client of `url` (a proxy's, or the relay's for a healthy network), closed when test `t` ends. */
  const sdk = (t: TestContext, url: string, options: Partial<SovClientOptions> = {}): SovClient => {
    const client = new SovClient({
      relay: url,
      WebSocket: guardedWebSocket(),
      storage: memoryStorage(),
      ...options,
    });
    t.after(() => client.close());
    return client;
  };
  const register = (client: SovClient, name: string) =>
    client.register({
      username: uniqueName(name),
      password: 'bots need passwords too',
      firstName: 'Бот',
      lastName: name,
    });
  /** A writer in `room` on a healthy network, closed when test `t` ends (the SDK: it keeps to the relay's byte budget). */
  const rawWriter = async (t: TestContext, room: string): Promise<(text: string) => Promise<unknown>> => {
    const client = sdk(t, relay.url);
    await register(client, 'writer');
    const joined = await client.join(room);
    return (text) => joined.send(text);
  };
  /** A and B behind the proxy, and a watcher on a healthy network who joins last, in a new room. */
  const threeInARoom = async (t: TestContext, through: HostileProxy, options: Partial<SovClientOptions> = {}) => {
    const name = uniqueName('room');
    const [a, b, watcher] = [sdk(t, through.url, options), sdk(t, through.url, options), sdk(t, relay.url)];
    await Promise.all([register(a, 'a'), register(b, 'b'), register(watcher, 'watcher')]);
    const [roomA, roomB] = [await a.join(name), await b.join(name)];
    const watched = presenceOf(await watcher.join(name), () => [a.user!.id, b.user!.id]);
    return { roomA, roomB, watched };
  };
  /**
   * A sends `count` messages `everyMs` apart. B gets them all, in order, once, within `deadlineMs`
   * of the last; A sees each of its own stored, once; the watcher sees neither leave or come back.
   */
  const converse = async (
    { roomA, roomB, watched }: Awaited<ReturnType<typeof threeInARoom>>,
    count: number,
    everyMs: number,
    deadlineMs: number,
  ) => {
    const sent = Array.from({ length: count }, (_, i) => `${i} ${FILLER}`);
    for (const text of sent) {
      void roomA.send(text).catch(() => undefined);
      await sleep(everyMs);
    }
    await within(
      deadlineMs,
      () => roomB.messages.length >= count,
      () => `${seconds(deadlineMs)} after the last message B has ${roomB.messages.length} of ${count}`,
    );
    assert.deepEqual(texts(roomB), sent);
    await within(
      5000,
      () => allSent(roomA),
      () => `A's own messages: ${roomA.messages.map((m) => m.state).join(' ')}`,
    );
    assert.deepEqual(texts(roomA), sent);
    assert.deepEqual(watched, []);
  };

  describe('(a) every TCP connection frozen after 16 KB from the relay', {
    concurrency: 1,
  }, () => {
    test('a reader joining a room with 1,000 messages of history gets them all, in order, once, page by page', async (t) => {
      const through = await proxy(t, { mode: 'freeze' });
      const reader = sdk(t, through.url);
      await register(reader, 'reader');
      const states: string[] = [];
      reader.on('state', ({ state }) => states.push(state));
      const started = Date.now();
      const room = await loadWhole(reader, history.room, HISTORY_DEADLINE_MS);
      assert.deepEqual(
        texts(room),
        history.texts,
        `after ${seconds(Date.now() - started)}, over ${through.connections()} TCP connections`,
      );
      assert.deepEqual(unverified(room), []);
      assert.deepEqual(states, [], 'no connection froze: each was replaced before its budget ran out');
    });

    test('a reader gets a live conversation of 45 KB complete, in order, once, and a watcher never sees it leave and come back', async (t) => {
      const name = uniqueName('live');
      const through = await proxy(t, { mode: 'freeze' });
      const [reader, watcher] = [sdk(t, through.url), sdk(t, relay.url)];
      await Promise.all([register(reader, 'reader'), register(watcher, 'watcher')]);
      const room = await reader.join(name);
      const watched = presenceOf(await watcher.join(name), () => [reader.user!.id]);
      const send = await rawWriter(t, name);
      const sent = Array.from({ length: 100 }, (_, i) => `${i} ${FILLER}`);
      for (const text of sent) {
        await send(text);
        await sleep(30);
      }
      await within(
        FREEZE_DEADLINE_MS,
        () => room.messages.length >= sent.length,
        () =>
          `15 s after the last message the reader has ${room.messages.length} of ${sent.length}, over ${through.connections()} TCP connections; the watcher saw [${watched.join(', ')}]`,
      );
      assert.deepEqual(texts(room), sent);
      assert.deepEqual(watched, []);
    });

    test('without a budget, a frozen connection is found within 3 s of an unanswered ping and replaced by a new TCP connection', async (t) => {
      const unbudgeted = await startRelay();
      t.after(() => unbudgeted.stop());
      const name = uniqueName('noticed');
      const through = await startHostileProxy({
        target: { host: '127.0.0.1', port: unbudgeted.port },
        mode: 'freeze',
      });
      t.after(() => through.stop());
      const reader = sdk(t, through.url, { heartbeatMs: 1000 });
      await register(reader, 'reader');
      const room = await reader.join(name);
      const states: string[] = [];
      reader.on('state', ({ state }) => states.push(state));
      const writer = sdk(t, unbudgeted.url);
      await register(writer, 'writer');
      const writing = await writer.join(name);
      // About 27 KB: more than one connection carries.
      for (let i = 0; i < 60; i++) await writing.send(`${i} ${FILLER}`);
      await within(
        8000,
        () => through.connections() >= 2,
        () => `8 s after 27 KB: ${through.connections()} TCP connections, states ${states.join(' ')}`,
      );
      assert.equal(states[0], 'reconnecting');
      await within(
        FREEZE_DEADLINE_MS,
        () => room.messages.length >= 60,
        () => `the reader has ${room.messages.length} of 60`,
      );
    });
  });

  describe('(b) WebSocket upgrades refused while plain HTTP passes', {
    concurrency: 1,
  }, () => {
    test('clients register, join a room, and a conversation arrives complete, in order, once', async (t) => {
      const through = await proxy(t, { mode: 'no-upgrade' });
      await converse(await threeInARoom(t, through, { requestTimeoutMs: 5000 }), 10, 200, 5000);
    });

    test(`after ${OPEN_FAILURES_TO_STEP_DOWN} refused upgrades the client steps down to streamed HTTP and says so`, async (t) => {
      const through = await proxy(t, { mode: 'no-upgrade' });
      const client = sdk(t, through.url, { requestTimeoutMs: 10_000 });
      const transports: string[] = [];
      client.on('transport', (transport) => transports.push(transport));
      await register(client, 'bot');
      const stats = await through.stats();
      assert.equal(client.transport, 'http-stream');
      assert.deepEqual(transports, ['http-stream']);
      assert.equal(
        stats.refusedUpgrades,
        OPEN_FAILURES_TO_STEP_DOWN,
        'no more upgrades were tried once the ladder stepped down',
      );
    });
  });

  describe('(c) every TCP connection frozen 3 s after it opens (30 s scaled, heartbeats 500 ms)', {
    concurrency: 1,
  }, () => {
    const AGE: Omit<HostileOptions, 'target'> = {
      mode: 'freeze-after-time',
      freezeAfterMs: 3000,
    };

    test('a conversation longer than a connection lives arrives complete, in order, once, and nobody seems to leave', async (t) => {
      const through = await proxy(t, AGE);
      await converse(await threeInARoom(t, through, { heartbeatMs: 500 }), 20, 400, 10_000);
      assert.ok(through.connections() >= 4, `the connections froze and were replaced (${through.connections()})`);
    });

    test("once a connection froze at its age, later ones are replaced before that age: after it no message waits over 1 s, a third of a connection's life", async (t) => {
      const through = await proxy(t, AGE);
      const { roomA, roomB } = await threeInARoom(t, through, {
        heartbeatMs: 500,
      });
      const sentAt = new Map<string, number>();
      const waits = new Map<string, number>();
      roomB.on(
        'message',
        (message) => sentAt.has(message.text) && waits.set(message.text, Date.now() - sentAt.get(message.text)!),
      );
      const started = Date.now();
      for (let i = 0; i < 30; i++) {
        sentAt.set(`${i}`, Date.now());
        void roomA.send(`${i}`).catch(() => undefined);
        await sleep(400);
      }
      await within(
        10_000,
        () => waits.size >= 30,
        () => `10 s after the last message B has ${waits.size} of 30`,
      );
      // Two lifetimes in, both clients have met a freeze and learnt the age (sdk/transports/ladder.ts).
      const later = [...sentAt].filter(([, at]) => at - started >= 2 * 3000).map(([text]) => waits.get(text)!);
      assert.ok(
        later.length >= 10 && Math.max(...later) <= 1000,
        `waits after the first freezes: ${later.join(', ')} ms`,
      );
    });
  });

  describe('(d) random stalls of 1-5 s', { concurrency: 1 }, () => {
    // Stalls of 1-5 s at most 3 s apart: one begins within 8 s of any moment, so a 10 s conversation meets one.
    const STALLS: Omit<HostileOptions, 'target'> = {
      mode: 'stall',
      seed: 10,
      stallGapMs: [1000, 3000],
    };

    test('a conversation through stalls arrives complete, in order, once, and nobody seems to leave', async (t) => {
      const through = await proxy(t, STALLS);
      const party = await threeInARoom(t, through);
      const stallsBefore = (await through.stats()).stalls;
      await converse(party, 20, 500, 15_000);
      assert.ok((await through.stats()).stalls > stallsBefore, 'the conversation went through a stall');
    });

    test('a reader joining a room with 1,000 messages of history through stalls gets them all, in order, once', async (t) => {
      const through = await proxy(t, STALLS);
      const reader = sdk(t, through.url);
      await register(reader, 'reader');
      const room = await loadWhole(reader, history.room, 60_000);
      assert.deepEqual(texts(room), history.texts);
      assert.deepEqual(unverified(room), []);
    });
  });

  describe('(e) the first front door dead', { concurrency: 1 }, () => {
    /** Several front doors of one relay: a list in `relay`, tried in turn (sdk/front-doors.ts). */
    const doors = (...urls: string[]): Partial<SovClientOptions> => ({
      relay: urls,
    });

    for (const dead of ['refuse', 'blackhole'] as const) {
      test(`with the first front door ${dead === 'refuse' ? 'refusing connections' : 'black-holed'}, a client given a second one registers and chats through it`, async (t) => {
        const [first, second] = [await proxy(t, { mode: dead }), await proxy(t, {})];
        const client = sdk(t, relay.url, {
          ...doors(first.url, second.url),
          heartbeatMs: 1000,
        });
        await register(client, 'bot');
        const room = await client.join(uniqueName('doors'));
        assert.equal((await room.send('через вторую дверь')).state, 'sent');
        assert.ok(second.connections() >= 1);
      });
    }

    test('today: with its only front door refusing, the client retries with backoff and register() fails with NETWORK', async (t) => {
      const through = await proxy(t, { mode: 'refuse' });
      const client = sdk(t, through.url, { requestTimeoutMs: 3000 });
      const states: string[] = [];
      client.on('state', ({ state }) => states.push(state));
      const failure = await register(client, 'bot').then(
        () => null,
        (error: SovError) => error.code,
      );
      assert.equal(failure, 'NETWORK');
      assert.deepEqual(states, ['connecting', 'reconnecting']);
    });

    test('today: with its only front door black-holed, each attempt is given up after two silent heartbeats and a new one made', async (t) => {
      const through = await proxy(t, { mode: 'blackhole' });
      const client = sdk(t, through.url, {
        requestTimeoutMs: 7000,
        heartbeatMs: 1000,
      });
      const failure = await register(client, 'bot').then(
        () => null,
        (error: SovError) => error.code,
      );
      assert.equal(failure, 'NETWORK');
      const stats = await through.stats();
      assert.ok(stats.connections >= 2 && stats.connections <= 4, `${stats.connections} attempts in 7 s`);
      assert.ok(stats.open <= 1, `abandoned attempts are closed (${stats.open} open)`);
    });

    // Found by this test: Connection.detach() removed onerror before terminate(), so ws's "closed
    // before the connection was established" error had no listener.
    test('abandoning a connection attempt leaves no unhandled error (with plain `ws` one ends the Node process)', {}, async (t) => {
      const through = await proxy(t, { mode: 'blackhole' });
      const strays: string[] = [];
      const client = sdk(t, through.url, {
        WebSocket: guardedWebSocket(strays),
      });
      client.connect();
      await within(
        5000,
        () => through.connections() === 1,
        () => 'no connection attempt in 5 s',
      );
      client.close();
      await sleep(100);
      assert.deepEqual(strays, []);
    });
  });
});
