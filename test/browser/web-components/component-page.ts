/**
 * What every web-component test file shares: the test relay, elements mounted on the page and
 * clients made for a test (both gone after each test), and registered people to drive them.
 */
import { SovClient } from '../../../sdk/client.ts';
import { memoryStorage } from '../../../sdk/storage.ts';
import type { StorageAdapter } from '../../../sdk/storage.ts';
import '../../../web-components/index.ts';
import { loadChatScreen, loadLogin, loadProfile } from '../../../web-components/index.ts';
import type { HostileNetwork } from '../hostile-network.ts';
import { relayInfo, uniqueName } from '../relay.ts';

export const PASSWORD = 'correct horse battery';
let relayUrl = '';
const mounted: Element[] = [];
const clients: SovClient[] = [];

/** Registers the file's hooks: the relay's address and the lazily loaded forms before the tests, a clean page after each. */
export function setUpComponentTests(): void {
  before(async () => {
    relayUrl = (await relayInfo()).url;
    await Promise.all([loadChatScreen(), loadLogin(), loadProfile()]);
  });
  afterEach(() => {
    for (const element of mounted.splice(0)) element.remove();
    for (const client of clients.splice(0)) client.close();
  });
}

/** The test relay's http(s) URL (web-test-runner.config.mjs runs it). */
export function testRelay(): string {
  if (!relayUrl) throw new Error('setUpComponentTests() has not run');
  return relayUrl;
}

export function closedAfterTest(client: SovClient): SovClient {
  clients.push(client);
  return client;
}

export function removedAfterTest(...elements: Element[]): void {
  mounted.push(...elements);
}

/** Creates `tag` with these properties and attributes, at a chat's usual size, on the page until the test ends. */
export function mount<T extends HTMLElement>(
  tag: string,
  properties: Record<string, unknown> = {},
  attributes: Record<string, string> = {},
): T {
  const element = document.createElement(tag) as T;
  Object.assign(element, properties);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.style.height = '480px';
  element.style.width = '720px';
  document.body.append(element);
  mounted.push(element);
  return element;
}

/** A newly registered person with a signed-in client. */
export async function person(options: { storage?: StorageAdapter; network?: HostileNetwork; firstName?: string } = {}) {
  const username = uniqueName('user');
  const client = closedAfterTest(
    new SovClient({
      relay: testRelay(),
      storage: options.storage ?? memoryStorage(),
      ...(options.network ? { WebSocket: options.network.WebSocket } : {}),
    }),
  );
  const user = await client.register({
    username,
    password: PASSWORD,
    firstName: options.firstName ?? 'Анна',
    lastName: 'Тестова',
  });
  return { client, username, user, name: `${user.firstName} ${user.lastName}` };
}
