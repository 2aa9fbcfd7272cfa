/**
 * The outbox (sdk/outbox.ts) in-process, through its narrow host: a host written here stands in for
 * the client and its relay connection, so each reply the relay could give is scripted, while the
 * rooms are real Rooms (sdk/room.ts) that show what the app would see. No relay, no timers beyond
 * a few milliseconds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ed from '@noble/ed25519';
import type { StoredSigningKey } from '../../sdk/crypto/signing.ts';
import { fromBase64Url, toBase64Url } from '../../sdk/encoding.ts';
import { SovError } from '../../sdk/errors.ts';
import type { ErrorCode } from '../../sdk/errors.ts';
import { Outbox } from '../../sdk/outbox.ts';
import type { OutboxEntry, OutboxHost } from '../../sdk/outbox.ts';
import type { RequestMap } from '../../sdk/protocol/frames.ts';
import { signedBytes } from '../../sdk/protocol/signed-bytes.ts';
import { Room } from '../../sdk/room.ts';
import type { ClientMessage, RoomHost } from '../../sdk/room.ts';

const USER_ID = 7;

/** A send the relay has not answered yet: the test answers it. */
interface InFlight {
  message: RequestMap['send'];
  stored(seq: number): void;
  refused(code: ErrorCode, details?: { retryAfterMs?: number; seq?: number }): void;
}

/** Lets every promise and I/O callback that is ready run (signing awaits a digest). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Signing takes a few milliseconds, much longer on a busy machine: waits for what should happen, up to 5 s. */
async function eventually<T>(probe: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await settle();
  }
}

/** The client side of the outbox, as sdk/client.ts wires it, with the relay's replies in the test's hands. */
async function setUp(options: { maxMessageBytes?: number } = {}) {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const publicKey = toBase64Url(await ed.getPublicKeyAsync(seed));
  const signingKey: StoredSigningKey = { kind: 'noble', seed, publicKey };
  const inFlight: InFlight[] = [];
  const saved: OutboxEntry[][] = [];
  const joined = new Map<string, Room>();
  let connected = true;
  const outboxHost: OutboxHost = {
    sender: () => (connected ? { userId: USER_ID, signingKey } : null),
    room: (name) => joined.get(name),
    maxMessageBytes: () => options.maxMessageBytes ?? Infinity,
    send: (message) =>
      new Promise((resolve, reject) => {
        inFlight.push({
          message,
          stored: (seq) => resolve({ seq }),
          refused: (code, details = {}) => reject(new SovError(code, undefined, details)),
        });
      }),
    save: async (entries) => {
      saved.push(entries.map((entry) => ({ ...entry })));
    },
  };
  const outbox = new Outbox(outboxHost);
  const roomHost: RoomHost = {
    userId: USER_ID,
    keysOf: async () => [publicKey],
    verify: async () => true,
    enqueue: (room, message) => outbox.add(room, message),
    retry: (room, message) => outbox.add(room, message),
    persist: () => undefined,
    refill: () => undefined,
    older: async () => 0,
    membersIncomplete: () => undefined,
  };
  return {
    outbox,
    inFlight,
    saved,
    publicKey,
    join(name: string): Room {
      const room = new Room(name, roomHost);
      joined.set(name, room);
      return room;
    },
    leave(name: string): void {
      joined.delete(name);
    },
    setConnected(value: boolean): void {
      connected = value;
    },
    /** The `index`-th send (from 0) to reach the relay. */
    sendNumber(index: number): Promise<InFlight> {
      return eventually(() => inFlight[index], `send number ${index + 1}`);
    },
    /**
     * Connects again and flushes, as the client does when its connection comes back, until the
     * `index`-th send goes: a flush still unwinding from the lost connection ignores a second call.
     */
    reconnectUntilSend(index: number): Promise<InFlight> {
      connected = true;
      return eventually(
        () => {
          void outbox.flush();
          return inFlight[index];
        },
        `send number ${index + 1} after reconnecting`,
      );
    },
  };
}

const states = (room: Room): string[] =>
  room.messages.map((message) => `${message.text}:${message.state}${message.seq === null ? '' : `#${message.seq}`}`);

describe('outbox: order and one at a time', () => {
  test('sends the messages in the order written, the next only after the relay has stored the one before', async () => {
    const chat = await setUp();
    const room = chat.join('kitchen');
    const sends = [room.send('one'), room.send('two'), room.send('three')];
    const first = await chat.sendNumber(0);
    await settle();
    assert.equal(chat.inFlight.length, 1, 'the second waits for the first reply');
    assert.equal(first.message.text, 'one');
    first.stored(1);
    (await chat.sendNumber(1)).stored(2);
    (await chat.sendNumber(2)).stored(3);
    const sent = await Promise.all(sends);
    assert.deepEqual(
      sent.map((message) => [message.text, message.state, message.seq]),
      [
        ['one', 'sent', 1],
        ['two', 'sent', 2],
        ['three', 'sent', 3],
      ],
    );
    assert.deepEqual(
      chat.inFlight.map((flight) => flight.message.text),
      ['one', 'two', 'three'],
    );
  });

  test('signs each message as it leaves, with the time it leaves, so a message that waited is still inside the clock window', async () => {
    const chat = await setUp();
    const room = chat.join('kitchen');
    chat.setConnected(false);
    const sending = room.send('written offline');
    const written = room.messages[0]!.ts;
    await new Promise((resolve) => setTimeout(resolve, 20));
    chat.setConnected(true);
    void chat.outbox.flush();
    const flight = await chat.sendNumber(0);
    const { sig, ...unsigned } = flight.message;
    assert.ok(unsigned.ts >= written + 20, `signed at ${unsigned.ts}, written at ${written}`);
    assert.equal(unsigned.author, USER_ID);
    assert.equal(
      await ed.verifyAsync(fromBase64Url(sig)!, signedBytes(unsigned), fromBase64Url(chat.publicKey)!),
      true,
      'the signature checks out',
    );
    flight.stored(1);
    await sending;
  });

  test('a message for a room not joined waits without holding up the messages of a joined room', async () => {
    const chat = await setUp();
    const kitchen = chat.join('kitchen');
    const hall = chat.join('hall');
    chat.setConnected(false);
    void hall.send('for the hall');
    const kitchenSend = kitchen.send('for the kitchen');
    chat.leave('hall');
    chat.setConnected(true);
    void chat.outbox.flush();
    const flight = await chat.sendNumber(0);
    assert.equal(flight.message.text, 'for the kitchen');
    flight.stored(1);
    await kitchenSend;
    await settle();
    assert.equal(chat.inFlight.length, 1, 'the hall message was not sent');
    assert.deepEqual(states(hall), ['for the hall:pending']);
  });
});

describe("outbox: the room keeps the relay's order", () => {
  test("our message stored before another one that arrived first goes back to its number's place", async () => {
    const chat = await setUp();
    const room = chat.join('kitchen');
    const sent = room.send('mine');
    const first = await chat.sendNumber(0);
    // Another's message, stored right after ours, comes before our reply (over HTTP they travel apart).
    room.receive({ room: 'kitchen', seq: 2, author: 8, cid: 'theirs', text: 'theirs', ts: Date.now(), sig: 'x' }, true);
    await eventually(() => (room.messages.length === 2 ? true : undefined), 'their message in the room');
    assert.deepEqual(states(room), ['theirs:sent#2', 'mine:pending']);
    first.stored(1);
    await sent;
    assert.deepEqual(states(room), ['mine:sent#1', 'theirs:sent#2']);
  });
});

describe('outbox: errors', () => {
  for (const code of ['NETWORK', 'TIMEOUT', 'CLOSED'] as const) {
    test(`${code} is transient: the message stays pending, first in line, and goes again once connected`, async () => {
      const chat = await setUp();
      const room = chat.join('kitchen');
      const sends = [room.send('first'), room.send('second')];
      chat.setConnected(false);
      (await chat.sendNumber(0)).refused(code);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(states(room), ['first:pending', 'second:pending']);
      assert.equal(chat.inFlight.length, 1, 'nothing more goes while disconnected');
      const again = await chat.reconnectUntilSend(1);
      assert.equal(again.message.text, 'first', 'the same message goes again, before the second');
      assert.equal(
        again.message.cid,
        chat.inFlight[0]!.message.cid,
        'with the same client id, so the relay can never store it twice',
      );
      again.stored(1);
      (await chat.sendNumber(2)).stored(2);
      await Promise.all(sends);
      assert.deepEqual(states(room), ['first:sent#1', 'second:sent#2']);
    });
  }

  test('a permanent refusal fails only that message, with its code, and the next one goes', async () => {
    const chat = await setUp();
    const room = chat.join('kitchen');
    const refusedSend = room.send('refused');
    const nextSend = room.send('next');
    (await chat.sendNumber(0)).refused('NOT_IN_ROOM');
    await assert.rejects(refusedSend, (error: unknown) => error instanceof SovError && error.code === 'NOT_IN_ROOM');
    (await chat.sendNumber(1)).stored(1);
    await nextSend;
    assert.deepEqual(states(room), ['refused:failed', 'next:sent#1']);
    assert.equal(room.messages[0]!.error?.code, 'NOT_IN_ROOM');
  });

  test('RATE_LIMITED waits as long as the relay said, then sends the same message again before any later one', async () => {
    const chat = await setUp();
    const room = chat.join('kitchen');
    const sends = [room.send('first'), room.send('second')];
    const refusedAt = Date.now();
    (await chat.sendNumber(0)).refused('RATE_LIMITED', { retryAfterMs: 30 });
    const again = await chat.sendNumber(1);
    assert.ok(Date.now() - refusedAt >= 29, `sent again after ${Date.now() - refusedAt} ms`);
    assert.equal(again.message.text, 'first');
    again.stored(1);
    (await chat.sendNumber(2)).stored(2);
    await Promise.all(sends);
    assert.deepEqual(states(room), ['first:sent#1', 'second:sent#2']);
  });

  test('DUPLICATE_MESSAGE with a number is success: the relay stored it and the reply to the earlier attempt was lost', async () => {
    const chat = await setUp();
    const room = chat.join('kitchen');
    const sending = room.send('already there');
    (await chat.sendNumber(0)).refused('DUPLICATE_MESSAGE', { seq: 41 });
    const sent = await sending;
    assert.equal(sent.state, 'sent');
    assert.equal(sent.seq, 41);
  });

  test('a message larger than the relay stores fails with MESSAGE_TOO_BIG and never travels', async () => {
    const chat = await setUp({ maxMessageBytes: 200 });
    const room = chat.join('kitchen');
    await assert.rejects(
      room.send('x'.repeat(300)),
      (error: unknown) => error instanceof SovError && error.code === 'MESSAGE_TOO_BIG',
    );
    assert.equal(chat.inFlight.length, 0);
  });

  test('a failed message sent again with Retry keeps its client id and goes to the end of the line', async () => {
    const chat = await setUp();
    const room = chat.join('kitchen');
    const failing = room.send('refused once');
    (await chat.sendNumber(0)).refused('NOT_IN_ROOM');
    await failing.catch(() => undefined);
    const retried = room.retry(room.messages[0]!);
    const flight = await chat.sendNumber(1);
    assert.equal(flight.message.cid, chat.inFlight[0]!.message.cid);
    flight.stored(5);
    assert.equal((await retried).seq, 5);
  });
});

describe('outbox: persistence', () => {
  test('hands what waits to storage at each change: a message added, then the shorter list once it is settled', async () => {
    const chat = await setUp();
    const room = chat.join('kitchen');
    chat.setConnected(false);
    void room.send('one');
    void room.send('two');
    assert.deepEqual(
      chat.saved.map((entries) => entries.map((entry) => entry.text)),
      [['one'], ['one', 'two']],
    );
    assert.deepEqual(
      Object.keys(chat.saved[0]![0]!).sort(),
      ['cid', 'createdAt', 'room', 'text'],
      'text and ids only: no signature, no key',
    );
    chat.setConnected(true);
    void chat.outbox.flush();
    (await chat.sendNumber(0)).stored(1);
    await eventually(() => (chat.saved.length === 3 ? true : undefined), 'the save after the first is stored');
    assert.deepEqual(
      chat.saved[2]!.map((entry) => entry.text),
      ['two'],
    );
    (await chat.sendNumber(1)).stored(2);
    await eventually(() => (chat.saved.length === 4 ? true : undefined), 'the save after the second is stored');
    assert.deepEqual(chat.saved[3], []);
  });

  test('an outbox stored by an earlier run shows as pending and goes out, in order, once its room is joined', async () => {
    const chat = await setUp();
    const stored: OutboxEntry[] = [
      { room: 'kitchen', cid: 'cid-1', text: 'from before', createdAt: 1000 },
      {
        room: 'kitchen',
        cid: 'cid-2',
        text: 'also from before',
        createdAt: 2000,
      },
    ];
    chat.outbox.load(stored);
    const pending: ClientMessage[] = chat.outbox.pendingIn('kitchen', USER_ID);
    assert.deepEqual(
      pending.map((message) => [message.text, message.state, message.seq, message.author]),
      [
        ['from before', 'pending', null, USER_ID],
        ['also from before', 'pending', null, USER_ID],
      ],
    );
    assert.deepEqual(chat.outbox.pendingIn('hall', USER_ID), []);
    await chat.outbox.flush();
    assert.equal(chat.inFlight.length, 0, 'nothing goes before the room is joined');
    const room = chat.join('kitchen');
    room.restore({ seq: 0, messages: [] }, pending);
    void chat.outbox.flush();
    (await chat.sendNumber(0)).stored(1);
    (await chat.sendNumber(1)).stored(2);
    await eventually(
      () => (room.messages.every((message) => message.state === 'sent') ? true : undefined),
      'both sent',
    );
    assert.deepEqual(states(room), ['from before:sent#1', 'also from before:sent#2']);
    assert.deepEqual(
      chat.inFlight.map((flight) => flight.message.cid),
      ['cid-1', 'cid-2'],
    );
  });

  test('loading an empty outbox (a logout) drops what waited: nothing more is sent', async () => {
    const chat = await setUp();
    const room = chat.join('kitchen');
    chat.setConnected(false);
    void room.send('never sent').catch(() => undefined);
    chat.outbox.load([]);
    chat.setConnected(true);
    await chat.outbox.flush();
    assert.equal(chat.inFlight.length, 0);
    assert.deepEqual(chat.outbox.pendingIn('kitchen', USER_ID), []);
  });
});
