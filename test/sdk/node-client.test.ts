// The SDK as a bot author uses it: the built package imported by name, in Node, with `ws` and memory storage.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { SovClient, SovError, memoryStorage } from 'sovereign-chat';
import type { WebSocketConstructor } from 'sovereign-chat';
import { eventually, uniqueName } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

describe('the SDK in Node', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  const client = () => new SovClient({ relay: relay.url, WebSocket: WebSocket as unknown as WebSocketConstructor, storage: memoryStorage() });
  const registerBots = (...bots: SovClient[]) =>
    Promise.all(bots.map((bot, i) => bot.register({ username: uniqueName(`bot${i}`), password: 'bots need passwords too', firstName: 'Бот', lastName: String(i) })));

  test('two bots register, exchange signed messages and see them verified', async () => {
    const [a, b] = [client(), client()];
    try {
      await registerBots(a, b);
      const roomA = await a.join('bots');
      const roomB = await b.join('bots');
      await roomA.send('ping from A');
      await eventually(() => roomB.messages.length === 1, 'the message at B');
      assert.deepEqual(
        { text: roomB.messages[0]!.text, verified: roomB.messages[0]!.verified, author: roomB.messages[0]!.author },
        { text: 'ping from A', verified: true, author: a.user!.id },
      );
    } finally {
      a.close();
      b.close();
    }
  });

  test('a sender sees each of its own messages once, however the reply and the relay\'s copy race', async () => {
    const [a, b] = [client(), client()];
    try {
      await registerBots(a, b);
      const room = uniqueName('race');
      const [roomA, roomB] = [await a.join(room), await b.join(room)];
      await Promise.all(Array.from({ length: 10 }, (_, i) => roomA.send(`mine ${i}`)));
      // The relay sends in order: once B's message reaches A, every copy of A's own messages has too.
      await roomB.send('barrier');
      await eventually(() => roomA.messages.some((m) => m.text === 'barrier'), 'the barrier at A');
      assert.deepEqual(
        roomA.messages.map((m) => m.text),
        [...Array.from({ length: 10 }, (_, i) => `mine ${i}`), 'barrier'],
      );
      assert.ok(roomA.messages.every((m) => m.state === 'sent' && m.seq !== null));
    } finally {
      a.close();
      b.close();
    }
  });

  test('resume() after connect() logs the open connection in', async () => {
    const storage = memoryStorage();
    const first = new SovClient({ relay: relay.url, WebSocket: WebSocket as unknown as WebSocketConstructor, storage });
    await first.register({ username: uniqueName('bot'), password: 'bots need passwords too', firstName: 'Бот', lastName: 'C' });
    first.close();
    const again = new SovClient({ relay: relay.url, WebSocket: WebSocket as unknown as WebSocketConstructor, storage });
    try {
      again.connect();
      await eventually(() => again.state === 'connected', 'the connection');
      assert.equal(await again.resume(), true);
      const room = await again.join(uniqueName('room'));
      assert.equal((await room.send('still me')).state, 'sent');
    } finally {
      again.close();
    }
  });

  test('messages written offline go out after a restart, once the room is joined, even with slow storage', async () => {
    const storage = memoryStorage();
    const slow = { ...storage, get: async <T>(key: string) => (await new Promise((resolve) => setTimeout(resolve, 20)), storage.get<T>(key)) };
    let offline = false;
    // A WebSocket whose network can be cut: while offline, new connections fail at once.
    class Cuttable extends WebSocket {
      constructor(url: string) {
        super(offline ? 'ws://127.0.0.1:9/' : url);
      }
    }
    const options = { relay: relay.url, WebSocket: Cuttable as unknown as WebSocketConstructor };
    const writer = new SovClient({ ...options, storage });
    const reader = client();
    try {
      const room = uniqueName('offline');
      await writer.register({ username: uniqueName('bot'), password: 'bots need passwords too', firstName: 'Бот', lastName: 'D' });
      await reader.register({ username: uniqueName('bot'), password: 'bots need passwords too', firstName: 'Бот', lastName: 'E' });
      const readerRoom = await reader.join(room);
      const writerRoom = await writer.join(room);
      offline = true;
      (writer as unknown as { connection: { disconnect(): void } }).connection.disconnect();
      await eventually(() => writer.state !== 'connected', 'the writer offline');
      void writerRoom.send('written offline 1').catch(() => undefined);
      void writerRoom.send('written offline 2').catch(() => undefined);
      writer.close();
      offline = false;
      const restarted = new SovClient({ ...options, storage: slow });
      try {
        assert.equal(await restarted.resume(), true);
        await restarted.join(room);
        await eventually(() => readerRoom.messages.length === 2, 'both messages at the reader', 15_000);
        assert.deepEqual(readerRoom.messages.map((m) => m.text), ['written offline 1', 'written offline 2']);
      } finally {
        restarted.close();
      }
    } finally {
      reader.close();
    }
  });

  test('every failure is a SovError with a code', async () => {
    const bot = client();
    try {
      await assert.rejects(bot.login({ username: uniqueName('ghost'), password: 'whatever it is' }), (error: unknown) => error instanceof SovError && error.code === 'BAD_CREDENTIALS');
      await assert.rejects(bot.join('general'), (error: unknown) => error instanceof SovError && error.code === 'NOT_AUTHENTICATED');
      assert.throws(() => new SovClient({ relay: 'not a url' }), (error: unknown) => error instanceof SovError && error.code === 'INVALID_INPUT');
    } finally {
      bot.close();
    }
  });
});
