// Every change to a room gives a new `messages` array and new objects for the messages that changed,
// and a snapshot taken before stays as it was: the built package in Node with `ws`, against a relay
// process under a byte budget (so history comes in pages and a large message is refused).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { SovClient, SovError, memoryStorage } from 'sovereign-chat';
import type { ClientMessage, Room, RoomSnapshot } from 'sovereign-chat';
import { TestClient, eventually, registerUser, signMessage, uniqueName } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { writeHistory } from '../helpers/write-history.ts';
import { recordSnapshots } from './snapshot-record.ts';

const BUDGET = 12_288;
const HISTORY = 300;

describe('room snapshots', { timeout: 180_000 }, () => {
  let relay: RelayProcess;
  const longRoom = uniqueName('long');

  before(async () => {
    const args = ['--conn-budget', String(BUDGET)];
    const first = await startRelay({ args });
    const client = await TestClient.connect(first.wsUrl);
    const writer = await registerUser(client);
    await client.close();
    assert.equal(await first.stop(), 0);
    await writeHistory(
      first.dataDir,
      Array.from({ length: HISTORY }, (_, i) => signMessage(writer, longRoom, `m${i + 1}`)),
    );
    relay = await startRelay({ dataDir: first.dataDir, args });
  });
  after(() => relay?.stop());

  const client = (): SovClient => new SovClient({ relay: relay.url, WebSocket, storage: memoryStorage() });
  const register = (bot: SovClient): Promise<unknown> =>
    bot.register({
      username: uniqueName('snap'),
      password: 'snapshots all the way',
      firstName: 'Снимок',
      lastName: 'Test',
    });
  const last = (snapshot: RoomSnapshot): ClientMessage => snapshot.messages.at(-1)!;

  test("sending, its acknowledgement, the relay's copy and a received message each give a new array and new message objects; snapshots before stay as they were", async () => {
    const [a, b] = [client(), client()];
    try {
      await Promise.all([register(a), register(b)]);
      const name = uniqueName('room');
      const [roomA, roomB] = [await a.join(name), await b.join(name)];
      const record = recordSnapshots(roomA);
      const events: ClientMessage[] = [];
      roomA.on('message', (message) => events.push(message));
      const empty = roomA.getSnapshot();
      assert.equal(roomA.getSnapshot(), empty, 'stable while nothing changes');

      const sending = roomA.send('first');
      const pending = roomA.getSnapshot();
      assert.notEqual(pending.messages, empty.messages);
      assert.equal(last(pending).state, 'pending');
      assert.equal(events[0], last(pending), 'the event hands out the object in the snapshot');
      const sent = await sending;
      assert.equal(sent.state, 'sent');
      assert.notEqual(sent, last(pending), 'pending to sent is a new object');
      assert.equal(last(pending).state, 'pending', 'the pending object handed out stays pending');
      // The relay's copy brings the signature and time it stored: the reply or the copy, whichever came second, makes the last object.
      await eventually(() => last(roomA.getSnapshot()).sig !== '', "the relay's copy");
      assert.equal(new Set(events).size, events.length, 'every message event hands out a new object');
      assert.equal(events.at(-1), roomA.messages.at(-1));

      const beforeReceiving = roomA.getSnapshot();
      await roomB.send('second');
      await eventually(() => roomA.messages.length === 2, "B's message at A");
      const received = roomA.getSnapshot();
      assert.notEqual(received.messages, beforeReceiving.messages);
      assert.equal(received.messages[0], beforeReceiving.messages[0], 'a message that did not change keeps its object');
      assert.equal(beforeReceiving.messages.length, 1);
      assert.equal(roomA.getSnapshot(), received, 'stable again');
      record.assertUntouched();
      assert.ok(record.taken.length >= 4, `${record.taken.length} snapshots`);
    } finally {
      a.close();
      b.close();
    }
  });

  test('a refused message and its retry each give new objects: pending, failed, pending again, failed again', async () => {
    const a = client();
    try {
      await register(a);
      const room = await a.join(uniqueName('room'));
      const record = recordSnapshots(room);
      const events: ClientMessage[] = [];
      room.on('message', (message) => events.push(message));
      // Two bytes a character: past the largest message a relay with this budget stores (a third of it).
      const tooBig = 'я'.repeat(4000);
      const failure = await room.send(tooBig).then(
        () => null,
        (error: unknown) => error,
      );
      assert.ok(failure instanceof SovError && failure.code === 'MESSAGE_TOO_BIG', String(failure));
      const failed = room.messages.at(-1)!;
      assert.equal(failed.state, 'failed');
      const again = await room.retry(events[0]!).then(
        () => null,
        (error: unknown) => error,
      );
      assert.ok(
        again instanceof SovError && again.code === 'MESSAGE_TOO_BIG',
        'a stale copy handed to retry sends the current one',
      );
      assert.deepEqual(
        events.map((message) => message.state),
        ['pending', 'failed', 'pending', 'failed'],
      );
      assert.equal(new Set(events).size, 4, 'four objects');
      assert.equal(failed.state, 'failed');
      assert.equal(events[2]!.error, undefined, 'the retried message no longer carries the error');
      assert.equal(room.messages.length, 1);
      record.assertUntouched();
    } finally {
      a.close();
    }
  });

  test('older pages give new arrays, the flags change with them, messages already shown keep their objects, and earlier snapshots keep what they showed', async () => {
    const reader = client();
    try {
      await register(reader);
      const room: Room = await reader.join(longRoom);
      const record = recordSnapshots(room);
      const first = room.getSnapshot();
      assert.ok(first.hasOlder && !first.loadingOlder, JSON.stringify({ ...first, messages: first.messages.length }));
      assert.ok(first.messages.length < HISTORY, `${first.messages.length} messages in the first page`);
      const newest = last(first);
      const deadline = Date.now() + 120_000;
      while (room.hasOlder) {
        const before = room.getSnapshot();
        const loading = room.loadOlder();
        assert.equal(room.getSnapshot().loadingOlder, true);
        const added = await loading.catch((error: unknown) => {
          // A connection cut at its budget loses the request; the next one asks again.
          if (!(error instanceof SovError) || !['NETWORK', 'TIMEOUT'].includes(error.code)) throw error;
          return 0;
        });
        const after = room.getSnapshot();
        assert.equal(after.loadingOlder, false);
        if (added > 0) {
          assert.notEqual(after.messages, before.messages);
          assert.equal(after.messages.length, before.messages.length + added);
        }
        assert.ok(Date.now() < deadline, 'every page within two minutes');
      }
      const final = room.getSnapshot();
      assert.equal(final.hasOlder, false);
      assert.deepEqual(
        final.messages.map((message) => message.seq),
        Array.from({ length: HISTORY }, (_, i) => i + 1),
      );
      assert.ok(final.messages.every((message) => message.verified));
      assert.equal(last(final), newest, 'the newest message, unchanged, is the same object');
      assert.equal(
        first.messages.length < final.messages.length && first.messages[0]!.seq! > 1,
        true,
        'the first snapshot still shows the first page only',
      );
      record.assertUntouched();
    } finally {
      reader.close();
    }
  });
});
