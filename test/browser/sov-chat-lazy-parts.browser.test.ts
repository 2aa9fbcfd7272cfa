/**
 * <sov-chat>'s parts that load after the first paint (the chat screen, the sign-in form, the
 * profile editor): when a network drops their request, the element says so and offers to try
 * again, and trying again brings the part. The page of this file has loaded none of them yet.
 */
import { expect } from '@esm-bundle/chai';
import { executeServerCommand } from '@web/test-runner-commands';
import { SovClient } from '../../sdk/client.ts';
import { memoryStorage } from '../../sdk/storage.ts';
import '../../web-components/index.ts';
import type { SovChat } from '../../web-components/sov-chat/sov-chat.ts';
import { relayInfo, uniqueName } from './relay.ts';
import { until } from './until.ts';

const CHAT_SCREEN = '/web-components/sov-chat/chat-screen.ts';

async function refuse(path: string, fail: boolean): Promise<void> {
  await executeServerCommand('fail-module', { path, fail });
}

describe('<sov-chat> parts that load later', function () {
  this.timeout(60_000);
  const clients: SovClient[] = [];
  const mounted: HTMLElement[] = [];

  afterEach(async () => {
    await refuse(CHAT_SCREEN, false);
    for (const element of mounted.splice(0)) element.remove();
    for (const client of clients.splice(0)) client.close();
  });

  it('says when the chat screen cannot load, and shows it once Retry can fetch it', async () => {
    const { url } = await relayInfo();
    const client = new SovClient({ relay: url, storage: memoryStorage() });
    clients.push(client);
    await client.register({
      username: uniqueName('user'),
      password: 'correct horse battery',
      firstName: 'Анна',
      lastName: 'Тестова',
    });
    await refuse(CHAT_SCREEN, true);
    const chat = document.createElement('sov-chat') as SovChat;
    chat.client = client;
    document.body.append(chat);
    mounted.push(chat);
    const alert = await until(() => chat.shadowRoot?.querySelector('[role="alert"]'), 'the failure on screen');
    expect(alert.textContent).to.include('Cannot reach the chat server');
    expect(customElements.get('sov-chat-room')).to.equal(undefined);

    await refuse(CHAT_SCREEN, false);
    alert.querySelector('button')!.click();
    const room = await until(
      () => chat.shadowRoot!.querySelector('sov-chat-room')?.shadowRoot?.querySelector('form'),
      'the chat screen',
    );
    expect(room).to.not.equal(null);
    expect(chat.shadowRoot!.querySelector('[role="alert"]')).to.equal(null);
  });
});
