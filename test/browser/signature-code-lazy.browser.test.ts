/**
 * The signature checks load on first use (sdk/crypto/verify.ts): when a network drops that
 * request, the messages checked meanwhile cannot be called verified, but the next ones are, once
 * the code can be fetched. Before, the failed load was kept for the page's life (by the browser, and
 * by the verifier's cache of checked keys), so every later message of that author showed as forged.
 * The page of this file has verified nothing yet.
 */
import { expect } from '@esm-bundle/chai';
import { executeServerCommand } from '@web/test-runner-commands';
import { SovClient } from '../../sdk/client.ts';
import { memoryStorage } from '../../sdk/storage.ts';
import { relayInfo, uniqueName } from './relay.ts';
import { until } from './until.ts';

const RULES = '/sdk/crypto/ed25519-rules.ts';

async function refuse(fail: boolean): Promise<void> {
  await executeServerCommand('fail-module', { path: RULES, fail });
}

describe('the signature checks, loaded on first use', function () {
  this.timeout(60_000);
  const clients: SovClient[] = [];

  afterEach(async () => {
    await refuse(false);
    for (const client of clients.splice(0)) client.close();
  });

  it('verify the messages after a failed load once the code can be fetched', async () => {
    const { url } = await relayInfo();
    const [writer, reader] = [0, 1].map(() => new SovClient({ relay: url, storage: memoryStorage() }));
    clients.push(writer!, reader!);
    for (const [client, name] of [
      [writer!, 'Анна'],
      [reader!, 'Борис'],
    ] as const) {
      await client.register({
        username: uniqueName('sig'),
        password: 'correct horse battery',
        firstName: name,
        lastName: 'Тестова',
      });
    }
    const name = uniqueName('sigroom');
    const written = await writer!.join(name);
    const room = await reader!.join(name);
    await refuse(true);
    await written.send('пока код не загрузился');
    const first = await until(() => room.messages[0], 'the first message at the reader');
    expect(first.verified, 'checked while the code could not load').to.equal(false);

    await refuse(false);
    await written.send('код на месте');
    const second = await until(() => room.messages[1], 'the second message at the reader');
    expect(second.text).to.equal('код на месте');
    expect(second.verified, 'checked once the code loads').to.equal(true);
  });
});
