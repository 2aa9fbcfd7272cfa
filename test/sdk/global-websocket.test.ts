// A Node client given no WebSocket class uses Node's own global one (Node 22 and later); on Node 20,
// which has none, it says to pass one. Runs in the Node 22 pass of scripts/run-node-tests.mjs too.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SovClient, SovError, memoryStorage } from 'sovereign-chat';
import { eventually, uniqueName } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const hasGlobalWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function';

describe('the SDK in Node without a WebSocket option', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('uses the global WebSocket: two clients exchange a verified message', {
    skip: !hasGlobalWebSocket && `Node ${process.version} has no global WebSocket`,
  }, async () => {
    const [a, b] = [
      new SovClient({ relay: relay.url, storage: memoryStorage() }),
      new SovClient({ relay: relay.url, storage: memoryStorage() }),
    ];
    try {
      await Promise.all(
        [a, b].map((bot, i) =>
          bot.register({
            username: uniqueName(`global${i}`),
            password: 'the global socket',
            firstName: 'Глоб',
            lastName: String(i),
          }),
        ),
      );
      const room = uniqueName('global');
      const [roomA, roomB] = [await a.join(room), await b.join(room)];
      await roomA.send('over the global WebSocket');
      await eventually(() => roomB.messages.length === 1, 'the message at B');
      assert.deepEqual([roomB.messages[0]!.text, roomB.messages[0]!.verified], ['over the global WebSocket', true]);
    } finally {
      a.close();
      b.close();
    }
  });

  test('without a global WebSocket, connecting fails with a SovError that says to pass one', {
    skip: hasGlobalWebSocket && 'this Node has a global WebSocket',
  }, () => {
    assert.throws(
      () => new SovClient({ relay: relay.url, storage: memoryStorage() }),
      (error: unknown) =>
        error instanceof SovError && error.code === 'INVALID_INPUT' && /WebSocket option/.test(error.message),
    );
  });
});
