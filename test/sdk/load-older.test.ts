// Room history in pages through the SDK, under the byte budget a censored network needs: the built
// package in Node with `ws`, every frame measured as it arrives off the client's own WebSocket.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { SovClient, SovError, memoryStorage } from 'sovereign-chat';
import type { Room, StorageAdapter, WebSocketConstructor } from 'sovereign-chat';
import { largestFrameBytes } from '../../sdk/protocol/budget.ts';
import { TestClient, registerUser, signMessage, uniqueName, withTimeout } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { writeHistory } from '../helpers/write-history.ts';

const BUDGET = 12_288;
const HISTORY = 1000;

/** Sizes of the frames received, and the requests sent, by every socket of the clients that use `WebSocket`. */
function recordingSockets(): {
  WebSocket: WebSocketConstructor;
  frames: number[];
  sent: Record<string, unknown>[];
} {
  const frames: number[] = [];
  const sent: Record<string, unknown>[] = [];
  class Recording extends WebSocket {
    constructor(url: string) {
      super(url);
      this.on('message', (data: Buffer) => frames.push(data.length));
    }

    override send(data: string): void {
      sent.push(JSON.parse(data) as Record<string, unknown>);
      super.send(data);
    }
  }
  return {
    WebSocket: Recording as unknown as WebSocketConstructor,
    frames,
    sent,
  };
}

/** Calls `step` until `done`, again after the failures a connection cut at its budget brings. */
async function persist(step: () => Promise<unknown>, done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await step().catch((error: unknown) => {
      if (!(error instanceof SovError) || !['NETWORK', 'TIMEOUT'].includes(error.code)) throw error;
    });
  }
}

const seqsOf = (room: Room): number[] => room.messages.map((message) => message.seq!);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe(`the SDK under --conn-budget ${BUDGET}`, { timeout: 240_000 }, () => {
  let relay: RelayProcess;
  let writer: TestUser;
  const roomName = uniqueName('long');
  const storage: StorageAdapter = memoryStorage();
  const sockets = recordingSockets();
  const reader = (): SovClient => new SovClient({ relay: relay.url, WebSocket: sockets.WebSocket, storage });

  before(async () => {
    const args = ['--conn-budget', String(BUDGET), '--history', String(2 * HISTORY)];
    const first = await startRelay({ args });
    const client = await TestClient.connect(first.wsUrl);
    writer = await registerUser(client);
    await client.close();
    assert.equal(await first.stop(), 0);
    await writeHistory(
      first.dataDir,
      range(1, HISTORY).map((n) => signMessage(writer, roomName, `m${n}`)),
    );
    relay = await startRelay({ dataDir: first.dataDir, args });
  });
  after(() => relay?.stop());

  test('a room of 1,000 messages is loaded whole by loadOlder: in order, each once, verified, and no frame over a third of the budget', async () => {
    const client = reader();
    try {
      await client.register({
        username: uniqueName('reader'),
        password: 'pages and pages',
        firstName: 'Рита',
        lastName: 'Reader',
      });
      const room = await client.join(roomName);
      assert.ok(
        room.messages.length > 0 && room.messages.length < 50,
        `${room.messages.length} messages in the first page`,
      );
      assert.equal(room.hasOlder, true);
      let announced = room.messages.length;
      room.on('older', (messages) => (announced += messages.length));
      await persist(
        () => room.loadOlder(),
        () => !room.hasOlder,
        'loading every older page',
      );
      assert.equal(await room.loadOlder(), 0, 'nothing older: resolves 0');
      assert.deepEqual(seqsOf(room), range(1, HISTORY));
      assert.deepEqual(
        room.messages.map((message) => message.text),
        range(1, HISTORY).map((n) => `m${n}`),
      );
      assert.equal(announced, HISTORY, 'each message in one older event (or the first page)');
      assert.ok(room.messages.every((message) => message.verified));
      assert.ok(
        Math.max(...sockets.frames) <= largestFrameBytes(BUDGET),
        `largest frame ${Math.max(...sockets.frames)} B`,
      );
    } finally {
      client.close();
    }
  });

  test('a reader that joined a room while it was empty gets every message it missed, not the newest page and loadOlder for the rest', async () => {
    const emptyRoom = uniqueName('empty');
    const client = reader();
    try {
      await client.register({
        username: uniqueName('reader'),
        password: 'pages and pages',
        firstName: 'Рита',
        lastName: 'Reader',
      });
      const room = await client.join(emptyRoom);
      assert.equal(room.seq, 0);
      const connection = (
        client as unknown as {
          connection: { disconnect(): void; start(): void };
        }
      ).connection;
      connection.disconnect();
      // More than a page of a third of the budget: a join without `after` would bring only the newest ones.
      // The relay's copy of each message comes back to its sender: a new connection every 10.
      for (let n = 1; n <= 30; n += 10) {
        const writerClient = await TestClient.connect(relay.wsUrl);
        await writerClient.call('resume', { token: writer.session.token });
        await writerClient.call('join', {
          room: emptyRoom,
          limit: 0,
          members: false,
        });
        for (let i = n; i < n + 10; i++)
          await writerClient.call('send', signMessage(writer, emptyRoom, `missed ${i} ${'·'.repeat(300)}`));
        await writerClient.close();
      }
      let announced = 0;
      room.on('message', () => announced++);
      connection.start();
      await withTimeout(
        new Promise<void>((resolve) => {
          const check = (): void => void (room.messages.length >= 30 && resolve());
          check();
          room.on('message', check);
        }),
        'the missed messages',
        60_000,
      );
      assert.deepEqual(seqsOf(room), range(1, 30));
      assert.equal(announced, 30, 'each as a message event');
      assert.equal(room.hasOlder, false, 'nothing left for loadOlder');
    } finally {
      client.close();
    }
  });

  test('back after 300 messages, a reader catches up page by page across cut connections, each page asked from where the last ended', async () => {
    // The relay's copy of each message comes back to its sender, so a writer takes a new connection every 20.
    for (let n = HISTORY + 1; n <= HISTORY + 300; n += 20) {
      const client = await TestClient.connect(relay.wsUrl);
      await client.call('resume', { token: writer.session.token });
      await client.call('join', { room: roomName, limit: 0, members: false });
      for (let i = n; i < n + 20; i++) await client.call('send', signMessage(writer, roomName, `m${i}`));
      await client.close();
    }
    sockets.sent.length = 0;
    sockets.frames.length = 0;
    const client = reader();
    try {
      assert.equal(await client.resume(), true);
      const room = await client.join(roomName);
      await withTimeout(
        new Promise<void>((resolve) => {
          const check = (): void => void (seqsOf(room).filter((seq) => seq > HISTORY).length >= 300 && resolve());
          check();
          room.on('message', check);
        }),
        'the catch-up',
        120_000,
      );
      const caughtUp = seqsOf(room).filter((seq) => seq > HISTORY);
      assert.deepEqual(caughtUp, range(HISTORY + 1, HISTORY + 300));
      assert.deepEqual(
        seqsOf(room),
        [...new Set(seqsOf(room))].sort((a, b) => a - b),
        'in order, each once',
      );
      const asked = sockets.sent
        .filter((request) => request.type === 'history' || (request.type === 'join' && 'after' in request))
        .map((request) => request.after as number);
      assert.ok(asked.length > 5, `${asked.length} pages asked for`);
      assert.deepEqual(
        asked,
        [...asked].sort((a, b) => a - b),
        `never back to an earlier point: ${asked.join(' ')}`,
      );
      assert.ok(
        Math.max(...sockets.frames) <= largestFrameBytes(BUDGET),
        `largest frame ${Math.max(...sockets.frames)} B`,
      );
    } finally {
      client.close();
    }
  });
});
