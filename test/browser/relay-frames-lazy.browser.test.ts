/**
 * The parser of what the relay sends (sdk/protocol/relay-frames.ts) is a chunk that loads beside
 * the first link: frames that arrive before it wait for it, and a load the network drops is tried
 * again with the next link, after which the client connects and works. The page of this file has
 * not loaded the parser yet.
 */
import { expect } from '@esm-bundle/chai';
import { executeServerCommand } from '@web/test-runner-commands';
import { SovClient } from '../../sdk/client.ts';
import type { ConnectionState } from '../../sdk/connection.ts';
import { memoryStorage } from '../../sdk/storage.ts';
import { relayInfo, uniqueName } from './relay.ts';
import { until } from './until.ts';

const PARSER = '/sdk/protocol/relay-frames.ts';

async function refuse(fail: boolean): Promise<void> {
  await executeServerCommand('fail-module', { path: PARSER, fail });
}

describe('the protocol parser, loaded beside the first link', function () {
  this.timeout(60_000);

  it('keeps the client from taking any frame while it cannot load, and once it can, the client connects and chats', async () => {
    const { url } = await relayInfo();
    await refuse(true);
    const client = new SovClient({ relay: url, storage: memoryStorage() });
    const states: ConnectionState[] = [];
    client.on('state', ({ state }) => states.push(state));
    try {
      client.connect();
      // The relay's hello arrives and cannot be read: no link comes up, and the attempt is given up.
      await until(
        () => states.includes('reconnecting'),
        'the first attempt given up',
      );
      expect(states).to.not.include('connected');

      await refuse(false);
      await until(
        () => client.state === 'connected',
        'connected once the parser loads',
      );
      await client.register({
        username: uniqueName('lazy'),
        password: 'correct horse battery',
        firstName: 'Лена',
        lastName: 'Lazy',
      });
      const room = await client.join(uniqueName('room'));
      await room.send('hello');
      expect(
        room.messages.map((message) => [message.text, message.state]),
      ).to.deep.equal([['hello', 'sent']]);
    } finally {
      await refuse(false);
      client.close();
    }
  });
});
