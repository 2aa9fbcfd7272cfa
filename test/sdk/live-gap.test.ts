// A live message lost on the way (the network dropped it, or the connection froze with it in
// flight) is fetched when the next one shows the gap, also in a room that was empty when joined:
// the built package in Node with `ws`, the relay a real process, the loss made by a socket that
// drops one frame before the SDK reads it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { SovClient, memoryStorage } from 'sovereign-chat';
import { eventually, uniqueName } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

/** Drops the next message event from the relay while `dropNext` is set. */
let dropNext = false;

class DroppingSocket extends WebSocket {
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'message' && dropNext && (JSON.parse(String(args[0])) as { ev?: unknown }).ev === 'message') {
      dropNext = false;
      return true;
    }
    return super.emit(event, ...args);
  }
}

let relay: RelayProcess;
const clients: SovClient[] = [];

before(async () => {
  relay = await startRelay();
});

after(async () => {
  for (const client of clients) client.close();
  await relay.stop();
});

async function person(name: string, Socket: typeof WebSocket): Promise<SovClient> {
  const client = new SovClient({
    relay: relay.url,
    WebSocket: Socket,
    storage: memoryStorage(),
  });
  clients.push(client);
  await client.register({
    username: uniqueName(name),
    password: 'a lost message',
    firstName: name,
    lastName: 'Test',
  });
  return client;
}

test('a room joined while empty fetches its first live message, lost on the way, when the second arrives', async () => {
  const name = uniqueName('room');
  const reader = await person('reader', DroppingSocket);
  const writer = await person('writer', WebSocket);
  const readerRoom = await reader.join(name);
  const writerRoom = await writer.join(name);
  assert.equal(readerRoom.messages.length, 0);
  dropNext = true;
  await writerRoom.send('first, lost on the way');
  await eventually(() => !dropNext, 'the first message dropped');
  await writerRoom.send('second');
  await eventually(
    () => readerRoom.messages.map((message) => message.text).join('|') === 'first, lost on the way|second',
    'both messages, in order',
  );
  assert.deepEqual(
    readerRoom.messages.map((message) => message.seq),
    [1, 2],
  );
});
