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

  test('two bots register, exchange signed messages and see them verified', async () => {
    const [a, b] = [client(), client()];
    try {
      const password = 'bots need passwords too';
      await Promise.all([
        a.register({ username: uniqueName('botA'), password, firstName: 'Бот', lastName: 'A' }),
        b.register({ username: uniqueName('botB'), password, firstName: 'Бот', lastName: 'B' }),
      ]);
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
