// The SDK as a bot author uses it: the built package imported by name, in Node, with `ws` and memory storage.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { MIN_PASSWORD_LENGTH, SovClient, SovError, memoryStorage, signedBytes } from 'sovereign-chat';
import type { ClientEvents, ClientMessage, WebSocketConstructor } from 'sovereign-chat';
import { eventually, uniqueName } from '../helpers/client.ts';
import { logRecords, startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

describe('the SDK in Node', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  const client = () => new SovClient({ relay: relay.url, WebSocket, storage: memoryStorage() });
  const registerBots = (...bots: SovClient[]) =>
    Promise.all(
      bots.map((bot, i) =>
        bot.register({
          username: uniqueName(`bot${i}`),
          password: 'bots need passwords too',
          firstName: 'Бот',
          lastName: String(i),
        }),
      ),
    );

  test('two bots register, exchange signed messages and see them verified', async () => {
    const [a, b] = [client(), client()];
    try {
      await registerBots(a, b);
      const roomA = await a.join('bots');
      const roomB = await b.join('bots');
      await roomA.send('ping from A');
      await eventually(() => roomB.messages.length === 1, 'the message at B');
      assert.deepEqual(
        {
          text: roomB.messages[0]!.text,
          verified: roomB.messages[0]!.verified,
          author: roomB.messages[0]!.author,
        },
        { text: 'ping from A', verified: true, author: a.user!.id },
      );
    } finally {
      a.close();
      b.close();
    }
  });

  test("a sender sees each of its own messages once, however the reply and the relay's copy race", async () => {
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
    const first = new SovClient({ relay: relay.url, WebSocket, storage });
    await first.register({
      username: uniqueName('bot'),
      password: 'bots need passwords too',
      firstName: 'Бот',
      lastName: 'C',
    });
    first.close();
    const again = new SovClient({ relay: relay.url, WebSocket, storage });
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
    const slow = {
      ...storage,
      get: async <T>(key: string) => (await new Promise((resolve) => setTimeout(resolve, 20)), storage.get<T>(key)),
    };
    let offline = false;
    // A WebSocket whose network can be cut: while offline, new connections fail at once.
    class Cuttable extends WebSocket {
      constructor(url: string) {
        super(offline ? 'ws://127.0.0.1:9/' : url);
      }
    }
    const options = {
      relay: relay.url,
      WebSocket: Cuttable as unknown as WebSocketConstructor,
    };
    const writer = new SovClient({ ...options, storage });
    const reader = client();
    try {
      const room = uniqueName('offline');
      await writer.register({
        username: uniqueName('bot'),
        password: 'bots need passwords too',
        firstName: 'Бот',
        lastName: 'D',
      });
      await reader.register({
        username: uniqueName('bot'),
        password: 'bots need passwords too',
        firstName: 'Бот',
        lastName: 'E',
      });
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
        assert.deepEqual(
          readerRoom.messages.map((m) => m.text),
          ['written offline 1', 'written offline 2'],
        );
      } finally {
        restarted.close();
      }
    } finally {
      reader.close();
    }
  });

  test('a sign-up whose reply is lost with its connection completes on the next one: one account, signed in', async (t) => {
    const logged = await startRelay({ args: ['--log-format', 'json'] });
    t.after(() => logged.stop());
    let lost = 0;
    // The relay stores the account and answers; the answer dies with its connection, as in a stall.
    class LosesTheFirstSessionReply extends WebSocket {
      constructor(url: string) {
        super(url);
        let listener: ((event: { data: string }) => void) | null = null;
        Object.defineProperty(this, 'onmessage', { set: (next) => (listener = next), get: () => listener });
        this.on('message', (data) => {
          const text = String(data);
          if (lost === 0 && text.includes('"token"')) {
            lost++;
            this.terminate();
          } else listener?.({ data: text });
        });
      }
    }
    const bot = new SovClient({
      relay: logged.url,
      WebSocket: LosesTheFirstSessionReply as unknown as WebSocketConstructor,
      storage: memoryStorage(),
    });
    try {
      const user = await bot.register({
        username: uniqueName('lost'),
        password: 'bots need passwords too',
        firstName: 'Бот',
        lastName: 'L',
      });
      assert.equal(lost, 1, 'the first reply was lost');
      const messages = logRecords(logged).map((record) => record.msg);
      assert.deepEqual(
        messages.filter((message) => String(message).startsWith('sign-up')),
        ['sign-up', 'sign-up repeated: signed in'],
      );
      const room = await bot.join(uniqueName('after'));
      assert.equal((await room.send('зарегистрирован')).author, user.id);
    } finally {
      bot.close();
    }
  });

  test("messages whose author's profile is lost on the way wait for it and show verified, not forged", async (t) => {
    const writer = client();
    let cuts = 0;
    // The network drops the connection under each of the first two profile requests.
    class LosesProfileRequests extends WebSocket {
      override send(data: string): void {
        if (cuts < 2 && data.includes('"type":"profile"')) {
          cuts++;
          this.terminate();
        } else super.send(data);
      }
    }
    const reader = new SovClient({
      relay: relay.url,
      WebSocket: LosesProfileRequests as unknown as WebSocketConstructor,
      storage: memoryStorage(),
    });
    try {
      await registerBots(writer);
      const name = uniqueName('keys');
      const written = await writer.join(name);
      for (const text of ['раз', 'два', 'три']) await written.send(text);
      // Gone (past the relay's grace for presence) before the reader comes: no list of who is
      // online and no presence event brings the reader its keys.
      const writerId = writer.user!.id;
      writer.close();
      const watcher = client();
      t.after(() => watcher.close());
      await registerBots(watcher);
      for (let online = true; online; await new Promise((resolve) => setTimeout(resolve, 250)))
        online = (await watcher.online()).some((user) => user.id === writerId);
      await registerBots(reader);
      const room = await reader.join(name);
      await eventually(() => room.messages.length === 3, 'the three messages at the reader', 15_000);
      assert.equal(cuts, 2, 'two profile requests were lost');
      assert.deepEqual(
        room.messages.map((message) => [message.text, message.verified]),
        [
          ['раз', true],
          ['два', true],
          ['три', true],
        ],
      );
    } finally {
      writer.close();
      reader.close();
    }
  });

  test('every failure is a SovError with a code', async () => {
    const bot = client();
    try {
      await assert.rejects(
        bot.login({
          username: uniqueName('ghost'),
          password: 'whatever it is',
        }),
        (error: unknown) => error instanceof SovError && error.code === 'BAD_CREDENTIALS',
      );
      await assert.rejects(
        bot.join('general'),
        (error: unknown) => error instanceof SovError && error.code === 'NOT_AUTHENTICATED',
      );
      assert.throws(
        () => new SovClient({ relay: 'not a url' }),
        (error: unknown) => error instanceof SovError && error.code === 'INVALID_INPUT',
      );
    } finally {
      bot.close();
    }
  });

  test('changePassword: the old password is refused, other sessions end, this one signs with the new key, old messages still verify', async () => {
    const username = uniqueName('changer');
    const [OLD, NEW] = ['the password before', 'the password after'];
    const [device, otherDevice, reader] = [client(), client(), client()];
    const clients = [device, otherDevice, reader];
    try {
      await device.register({
        username,
        password: OLD,
        firstName: 'Смена',
        lastName: 'Пароля',
      });
      await otherDevice.login({ username, password: OLD });
      await reader.register({
        username: uniqueName('reader'),
        password: 'bots need passwords too',
        firstName: 'Бот',
        lastName: 'R',
      });
      const room = uniqueName('keys');
      const [deviceRoom, readerRoom] = [await device.join(room), await reader.join(room)];
      await deviceRoom.send('signed with the old key');
      const ended = new Promise<ClientEvents['logout']>((resolve) => otherDevice.on('logout', resolve));
      const isError = (code: string, field?: string) => (error: unknown) =>
        error instanceof SovError && error.code === code && error.field === field;

      await assert.rejects(
        device.changePassword({
          current: OLD,
          next: 'x'.repeat(MIN_PASSWORD_LENGTH - 1),
        }),
        isError('INVALID_FIELD', 'next'),
      );
      await assert.rejects(
        device.changePassword({ current: 'not the password', next: NEW }),
        isError('BAD_CREDENTIALS', 'current'),
      );
      const progress: number[] = [];
      const changed = await device.changePassword({
        current: OLD,
        next: NEW,
        onProgress: (fraction) => progress.push(fraction),
      });

      const [oldKey, newKey] = changed.keys.map((key) => key.publicKey);
      assert.equal(changed.keys.length, 2, 'the old key stays in the profile, the new one is added');
      assert.ok(
        progress.some((f) => f < 0.5) &&
          progress.some((f) => f > 0.5) &&
          progress.every((f, i) => f >= (progress[i - 1] ?? 0)),
        'progress covers both hashes in order',
      );
      assert.deepEqual(await ended, { reason: 'password-changed' }, 'the other session ended');
      assert.equal(otherDevice.user, null);
      assert.equal(device.user?.keys.length, 2, 'the changing device stays signed in, with the new profile');
      assert.equal(
        (await deviceRoom.send('signed with the new key')).state,
        'sent',
        'the relay takes what the new key signs',
      );

      const [stale, fresh] = [client(), client()];
      clients.push(stale, fresh);
      await assert.rejects(stale.login({ username, password: OLD }), isError('BAD_CREDENTIALS'));
      await fresh.login({ username, password: NEW });
      // History from the relay, read after the change by a session that never saw the old key in use.
      const history = (await fresh.join(room)).messages;
      await eventually(() => readerRoom.messages.length === 2, 'both messages at the reader');
      for (const messages of [history, readerRoom.messages]) {
        assert.deepEqual(
          messages.map((m) => [m.text, m.verified]),
          [
            ['signed with the old key', true],
            ['signed with the new key', true],
          ],
        );
      }
      // And each was signed by the key its text says, not both by the new one.
      const signer = (message: ClientMessage) => [oldKey, newKey].filter((key) => verifies(message, key!));
      assert.deepEqual(history.map(signer), [[oldKey], [newKey]]);
    } finally {
      for (const bot of clients) bot.close();
    }
  });
});

function verifies(message: ClientMessage, publicKey: string): boolean {
  const key = crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: publicKey },
    format: 'jwk',
  });
  return crypto.verify(null, signedBytes(message), key, Buffer.from(message.sig, 'base64url'));
}
