/**
 * <sov-login> in real Chromium against the real relay: sign-in and registration, refusals in plain words.
 */
import { expect } from '@esm-bundle/chai';
import { SovClient } from '../../../sdk/client.ts';
import { memoryStorage } from '../../../sdk/storage.ts';
import type { SovLogin } from '../../../web-components/sov-login/sov-login.ts';
import { hostileNetwork } from '../hostile-network.ts';
import { uniqueName } from '../relay.ts';
import { button, field, fill, text } from '../shadow-queries.ts';
import { until } from '../until.ts';
import { PASSWORD, closedAfterTest, mount, person, setUpComponentTests, testRelay } from './component-page.ts';

setUpComponentTests();

describe('<sov-login>', function () {
  this.timeout(60_000);

  it('refuses empty fields before sending anything, marking each one', async () => {
    const network = hostileNetwork();
    const client = closedAfterTest(
      new SovClient({
        relay: testRelay(),
        storage: memoryStorage(),
        WebSocket: network.WebSocket,
      }),
    );
    const login = mount<SovLogin>('sov-login', { client });
    await login.updateComplete;
    fill(field(login.shadowRoot!, 'Username'), '   ');
    button(login.shadowRoot!, 'Sign in')!.click();
    await login.updateComplete;
    const username = field(login.shadowRoot!, 'Username')!;
    const password = field(login.shadowRoot!, 'Password')!;
    expect(username.getAttribute('aria-invalid')).to.equal('true');
    expect(password.getAttribute('aria-invalid')).to.equal('true');
    expect(text(login.shadowRoot!)).to.include('Fill in this field.');
    expect(login.shadowRoot!.activeElement).to.equal(username);
    expect(network.opened, 'no connection was even opened').to.equal(0);
    fill(username, 'someone');
    await login.updateComplete;
    expect(username.getAttribute('aria-invalid'), 'typing clears the mark').to.equal('false');
  });

  it('registers with progress while the password is hashed, and fires sov-login', async () => {
    const client = closedAfterTest(new SovClient({ relay: testRelay(), storage: memoryStorage() }));
    const login = mount<SovLogin>('sov-login', { client }, { mode: 'register' });
    await login.updateComplete;
    const root = login.shadowRoot!;
    expect(field(root, 'Password')!.getAttribute('autocomplete')).to.equal('new-password');
    expect(field(root, 'Username')!.getAttribute('autocomplete')).to.equal('username');
    const username = uniqueName('new');
    fill(field(root, 'Username'), username);
    fill(field(root, 'Password'), PASSWORD);
    fill(field(root, 'First name'), 'Ivan');
    fill(field(root, 'Last name'), 'Petrov');
    const loggedIn = new Promise<CustomEvent>((resolve) =>
      document.addEventListener('sov-login', (event) => resolve(event as CustomEvent), { once: true }),
    );
    button(root, 'Create account')!.click();
    await until(() => root.querySelector('progress') !== null, 'the progress bar');
    const event = await loggedIn;
    expect(event.detail.username).to.equal(username);
    expect(client.user?.firstName).to.equal('Ivan');
  });

  it('says in plain words when the username is taken or the password is wrong', async () => {
    const someone = await person();
    const client = closedAfterTest(new SovClient({ relay: testRelay(), storage: memoryStorage() }));
    const login = mount<SovLogin>('sov-login', { client }, { mode: 'register' });
    await login.updateComplete;
    const root = login.shadowRoot!;
    fill(field(root, 'Username'), someone.username.toUpperCase());
    fill(field(root, 'Password'), PASSWORD);
    fill(field(root, 'First name'), 'Other');
    fill(field(root, 'Last name'), 'Person');
    button(root, 'Create account')!.click();
    await until(() => text(root).includes('This username is taken.'), 'the taken message');
    expect(field(root, 'Username')!.getAttribute('aria-invalid')).to.equal('true');

    button(root, 'Have an account? Sign in')!.click();
    await login.updateComplete;
    expect(field(root, 'Password')!.getAttribute('autocomplete')).to.equal('current-password');
    fill(field(root, 'Username'), someone.username);
    fill(field(root, 'Password'), 'not the password');
    button(root, 'Sign in')!.click();
    await until(
      () => root.querySelector('[role=alert]')?.textContent?.includes('Wrong username or password.') === true,
      'the wrong-password message',
    );
    expect(client.user).to.equal(null);
  });
  it('says how long to wait once failed logins are rate limited', async () => {
    const someone = await person();
    // Ten wrong auth keys straight over the protocol (skipping ten seconds of password hashing).
    const socket = new WebSocket(`${testRelay().replace(/^http/, 'ws')}/v1/ws`);
    await new Promise((resolve) => (socket.onopen = resolve));
    const replies: unknown[] = [];
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data as string);
      if ('re' in frame) replies.push(frame);
    };
    for (let id = 1; id <= 10; id++) {
      const authKey = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
        .replace(/\+/g, '-')
        .replace(/\//g, '_')
        .replace(/=+$/, '');
      socket.send(
        JSON.stringify({
          id,
          type: 'login',
          username: someone.username,
          authKey,
        }),
      );
    }
    await until(() => replies.length === 10, 'ten refusals');
    socket.close();
    const client = closedAfterTest(new SovClient({ relay: testRelay(), storage: memoryStorage() }));
    const login = mount<SovLogin>('sov-login', { client });
    await login.updateComplete;
    const root = login.shadowRoot!;
    fill(field(root, 'Username'), someone.username);
    fill(field(root, 'Password'), PASSWORD);
    button(root, 'Sign in')!.click();
    await until(
      () => /Too many attempts\. Try again in \d+ s\./.test(root.querySelector('[role=alert]')?.textContent ?? ''),
      'the rate-limit message',
    );
  });
});
