// The client's `state` event says the state before and why, on connect, a dropped and a frozen
// connection, the reconnects, and close; the client's snapshot follows, and a room's missed messages
// arrive as a new array. The built package in Node with `ws`, through a TCP proxy the test cuts.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { SovClient, memoryStorage } from 'sovereign-chat';
import type { StateChange } from 'sovereign-chat';
import { eventually, uniqueName } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { recordSnapshots } from './snapshot-record.ts';

/** A TCP proxy to the relay that can drop its connections, refuse new ones, or freeze the open ones. */
async function cuttableProxy(port: number): Promise<{
  url: string;
  refuse: boolean;
  drop(): void;
  freeze(): void;
  close(): void;
}> {
  const pairs = new Set<{
    client: net.Socket;
    relay: net.Socket;
    frozen: boolean;
  }>();
  const server = net.createServer((client) => {
    if (proxy.refuse) return void client.destroy();
    const pair = {
      client,
      relay: net.connect(port, '127.0.0.1'),
      frozen: false,
    };
    pairs.add(pair);
    // A frozen pair keeps both sockets open and delivers nothing, as a censoring network does.
    client.on('data', (chunk) => pair.frozen || pair.relay.write(chunk));
    pair.relay.on('data', (chunk) => pair.frozen || client.write(chunk));
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      pair.relay.destroy();
    };
    client.on('close', end).on('error', end);
    pair.relay.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = {
    url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    refuse: false,
    drop: () => pairs.forEach((pair) => pair.client.destroy()),
    freeze: () => pairs.forEach((pair) => (pair.frozen = true)),
    close: () => {
      proxy.drop();
      server.close();
    },
  };
  return proxy;
}

describe('the state event and the client snapshot', {
  timeout: 120_000,
}, () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('connect, a dropped connection, a frozen one, their reconnects and close each say the state before and the reason', async () => {
    const proxy = await cuttableProxy(relay.port);
    const reader = new SovClient({
      relay: proxy.url,
      WebSocket,
      storage: memoryStorage(),
      heartbeatMs: 500,
    });
    const writer = new SovClient({
      relay: relay.url,
      WebSocket,
      storage: memoryStorage(),
    });
    const changes: StateChange[] = [];
    reader.on('state', (change) => changes.push(change));
    const clientRecord = recordSnapshots(reader);
    try {
      const password = 'states and reasons';
      await reader.register({
        username: uniqueName('reader'),
        password,
        firstName: 'Рид',
        lastName: 'Reader',
      });
      await writer.register({
        username: uniqueName('writer'),
        password,
        firstName: 'Райт',
        lastName: 'Writer',
      });
      assert.deepEqual(changes, [
        { state: 'connecting', previous: 'disconnected', reason: 'user' },
        { state: 'connected', previous: 'connecting', reason: 'ready' },
      ]);
      const name = uniqueName('room');
      const room = await reader.join(name);
      await writer.join(name);
      const connected = reader.getSnapshot();
      assert.deepEqual(
        [connected.state, connected.user?.id, connected.transport],
        ['connected', reader.user!.id, 'websocket'],
      );

      // Dropped, and kept away while the writer sends: the messages come as the room rejoins.
      proxy.refuse = true;
      proxy.drop();
      await eventually(() => changes.length === 3, 'the drop noticed');
      assert.deepEqual(changes[2], {
        state: 'reconnecting',
        previous: 'connected',
        reason: 'network-lost',
      });
      const away = room.getSnapshot();
      for (const text of ['missed 1', 'missed 2', 'missed 3']) await (await writer.join(name)).send(text);
      proxy.refuse = false;
      await eventually(() => reader.state === 'connected', 'back');
      assert.deepEqual(
        changes.slice(3),
        [{ state: 'connected', previous: 'reconnecting', reason: 'ready' }],
        'failed attempts in between are no change',
      );
      await eventually(() => room.messages.length === 3, 'the missed messages');
      assert.notEqual(room.getSnapshot().messages, away.messages);
      assert.equal(away.messages.length, 0, 'the snapshot from while away still shows none');

      proxy.freeze();
      // A frozen link is noticed when a reply is due: the heartbeat's ping.
      await eventually(() => changes.length === 5, 'the freeze noticed');
      assert.deepEqual(changes[4], {
        state: 'reconnecting',
        previous: 'connected',
        reason: 'frozen',
      });
      await eventually(() => reader.state === 'connected', 'back after the freeze');
      assert.deepEqual(changes[5], {
        state: 'connected',
        previous: 'reconnecting',
        reason: 'ready',
      });

      reader.close();
      assert.deepEqual(changes.at(-1), {
        state: 'closed',
        previous: 'connected',
        reason: 'user',
      });
      assert.deepEqual(
        clientRecord.taken.map((snapshot) => snapshot.state).filter((state, i, all) => state !== all[i - 1]),
        ['disconnected', 'connecting', 'connected', 'reconnecting', 'connected', 'reconnecting', 'connected', 'closed'],
      );
      clientRecord.assertUntouched();
    } finally {
      reader.close();
      writer.close();
      proxy.close();
    }
  });
});
