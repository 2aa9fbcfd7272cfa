/**
 * The password never leaves the browser: only scrypt's output does (docs/sdk.md, "Passwords and
 * keys"). Everything the page sends while an account registers and signs in is recorded from
 * before the SDK loads (outbound-recorder.ts) and searched for the password in every form
 * password-leaks.ts knows: plain and encoded, and hashed without scrypt. Registration, sign-in and
 * a password change (where both the old and the new password are looked for) are checked, through
 * the SDK and typed into <sov-chat>'s forms.
 *
 * Each test checks for leaks before it checks that the step worked, so a leak that also makes the
 * relay refuse the step is reported as the leak.
 */
// First: the recorder wraps the page's ways out before the SDK's modules load.
import { outbound } from './outbound-recorder.ts';
import { expect } from '@esm-bundle/chai';
import { SovClient } from '../../sdk/client.ts';
import { memoryStorage } from '../../sdk/storage.ts';
import '../../web-components/index.ts';
import { loadLogin } from '../../web-components/index.ts';
import type { SovChat } from '../../web-components/sov-chat/sov-chat.ts';
import type { Sent } from './outbound-recorder.ts';
import { findLeaks, passwordForms } from './password-leaks.ts';
import type { PasswordForm } from './password-leaks.ts';
import { relayInfo, uniqueName } from './relay.ts';
import { until } from './until.ts';

// Non-ASCII (so UTF-8, NFD and escapes differ from the plain form), a space and the characters
// that URL and form encodings rewrite.
const PASSWORD = 'Ёжик в тумане+Zq7/vortex=&%';
const NEXT_PASSWORD = 'Новый пароль: ёлка#Kv9?x=1&y';

/** The forms of both passwords a change handles, the new one's named as such in a report. */
async function bothPasswordsForms(username: string): Promise<PasswordForm[]> {
  const next = (await passwordForms(NEXT_PASSWORD, username)).map((form) => ({
    ...form,
    name: `the new one: ${form.name}`,
  }));
  return [...(await passwordForms(PASSWORD, username)), ...next];
}

let relay: string;
let wsUrl: string;

/** Resolves with "ok" or the rejection's code, never rejects: leaks are checked first. */
const outcome = (step: Promise<unknown>): Promise<string> =>
  step.then(
    () => 'ok',
    (error: { code?: string }) => error.code ?? String(error),
  );

/** The frames the page sent that have this request type. */
const requests = (sent: Sent[], type: string): Sent[] =>
  sent.filter((item) => item.channel === 'WebSocket frame' && item.content.includes(`"type":"${type}"`));

async function expectNoLeak(forms: PasswordForm[]): Promise<Sent[]> {
  const sent = await outbound.sent();
  expect(findLeaks(sent, forms), 'the password, or a value made from it without scrypt, left the page').to.deep.equal(
    [],
  );
  expect(outbound.workers, 'no worker ran (the recorder does not see what workers send)').to.equal(0);
  expect(
    sent.filter((item) => item.content.includes('[unreadable body')),
    'bodies the recorder could not read',
  ).to.deep.equal([]);
  return sent;
}

before(async () => {
  ({ url: relay, wsUrl } = await relayInfo());
});

describe('The password never leaves the browser', function () {
  this.timeout(90_000);

  it('the detector finds each form of the password, on each way out the recorder watches', async () => {
    const username = uniqueName('probe');
    const forms = await passwordForms(PASSWORD, username);
    expect(forms.length, 'forms looked for').to.be.greaterThan(80);
    for (const form of forms) {
      const wrapped = [
        {
          channel: 'frame',
          content: JSON.stringify({
            id: 1,
            type: 'login',
            username,
            authKey: form.value,
          }),
        },
        {
          channel: 'base64 blob',
          content: btoa(String.fromCharCode(...new TextEncoder().encode(`{"x":1,"k":"${form.value}"}`))),
        },
        // At the very end, after one byte and without padding: its last bytes sit in a short final group.
        {
          channel: 'base64 tail',
          content: btoa(String.fromCharCode(...new TextEncoder().encode(`x${form.value}`))).replace(/=+$/, ''),
        },
      ];
      for (const item of wrapped)
        expect(findLeaks([item], forms), `${form.name} in a ${item.channel}`).to.include(
          `${form.name} in ${item.channel}`,
        );
    }

    outbound.reset();
    const socket = new WebSocket(`${wsUrl}?p=${encodeURIComponent(PASSWORD)}`);
    await new Promise((resolve) => (socket.onopen = socket.onerror = resolve));
    if (socket.readyState === WebSocket.OPEN) socket.send(new TextEncoder().encode(PASSWORD));
    socket.close();
    await fetch(`/__nothing?p=${encodeURIComponent(PASSWORD)}`);
    await fetch('/__nothing', {
      method: 'POST',
      headers: { 'x-secret': encodeURIComponent(PASSWORD) },
      body: new URLSearchParams({ p: PASSWORD }),
    });
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/__nothing');
    xhr.setRequestHeader(
      'Authorization',
      `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(`${username}:${PASSWORD}`)))}`,
    );
    xhr.send(new Blob([PASSWORD]));
    navigator.sendBeacon('/__nothing', JSON.stringify({ p: PASSWORD }));
    const image = new Image();
    image.src = `/__nothing.png?p=${encodeURIComponent(PASSWORD)}`;
    document.cookie = `p=${encodeURIComponent(PASSWORD)}; path=/`;
    try {
      const channels = new Set(
        findLeaks(await outbound.sent(), forms).map((leak) => leak.slice(leak.lastIndexOf(' in ') + 4)),
      );
      for (const channel of [
        'WebSocket URL',
        'WebSocket frame',
        'fetch',
        'XMLHttpRequest header',
        'XMLHttpRequest body',
        'beacon',
        'resource',
        'cookie',
      ]) {
        expect([...channels], `a leak through ${channel}`).to.include(channel);
      }
    } finally {
      document.cookie = 'p=; path=/; max-age=0';
      outbound.reset();
    }
  });

  it('registration, sign-in and a password change through the SDK send neither password nor anything made from them without scrypt', async () => {
    const username = uniqueName('secret');
    const forms = await bothPasswordsForms(username);
    outbound.reset();
    const client = new SovClient({ relay, storage: memoryStorage() });
    try {
      const registered = await outcome(
        client.register({
          username,
          password: PASSWORD,
          firstName: 'Pat',
          lastName: 'Secret',
        }),
      );
      const loggedOut = await outcome(client.logout());
      const loggedIn = await outcome(client.login({ username, password: PASSWORD }));
      const changed = await outcome(client.changePassword({ current: PASSWORD, next: NEXT_PASSWORD }));
      const sent = await expectNoLeak(forms);
      expect([registered, loggedOut, loggedIn, changed]).to.deep.equal(['ok', 'ok', 'ok', 'ok']);
      // What was searched is what matters: the frames that carry what the passwords became.
      for (const type of ['register', 'login', 'change-password'])
        expect(requests(sent, type).length, `"${type}" frames recorded`).to.equal(1);
      expect(requests(sent, 'salt').length, '"salt" frames recorded (login, change)').to.equal(2);
      expect(requests(sent, 'login')[0]!.content).to.match(/"authKey":"[A-Za-z0-9_-]{43}"/);
      expect(requests(sent, 'change-password')[0]!.content).to.match(
        /"authKey":"[A-Za-z0-9_-]{43}".*"newAuthKey":"[A-Za-z0-9_-]{43}"/,
      );
    } finally {
      client.close();
    }
  });

  it('registering, signing in and changing the password by typing into <sov-chat> sends neither, either', async () => {
    await loadLogin();
    const username = uniqueName('typed');
    const forms = await bothPasswordsForms(username);
    outbound.reset();
    const chat = document.createElement('sov-chat') as SovChat;
    chat.setAttribute('relay', relay);
    document.body.append(chat);
    try {
      await until(() => buttonNamed(chat, 'No account? Create one'), 'the sign-in form');
      buttonNamed(chat, 'No account? Create one')!.click();
      await until(() => inputFor(chat, 'new-password'), 'the registration form');
      type(inputFor(chat, 'username'), username);
      type(inputFor(chat, 'new-password'), PASSWORD);
      type(inputFor(chat, 'given-name'), 'Pat');
      type(inputFor(chat, 'family-name'), 'Typed');
      buttonNamed(chat, 'Create account')!.click();
      const registered = await outcome(until(() => buttonNamed(chat, 'Exit'), 'the chat after registering', 30_000));
      buttonNamed(chat, 'Exit')?.click();
      await until(() => inputFor(chat, 'current-password'), 'the sign-in form after Exit');
      type(inputFor(chat, 'username'), username);
      type(inputFor(chat, 'current-password'), PASSWORD);
      buttonNamed(chat, 'Sign in')!.click();
      const signedIn = await outcome(until(() => buttonNamed(chat, 'Exit'), 'the chat after signing in', 30_000));
      (
        [...deep(chat.shadowRoot!)].find((element) => element.matches('button[title="Edit your profile"]')) as
          | HTMLButtonElement
          | undefined
      )?.click();
      await until(() => inputFor(chat, 'new-password'), 'the password change form');
      type(inputFor(chat, 'current-password'), PASSWORD);
      type(inputFor(chat, 'new-password'), NEXT_PASSWORD);
      buttonNamed(chat, 'Change password')!.click();
      const changed = await outcome(
        until(
          () => [...deep(chat.shadowRoot!)].some((element) => element.textContent?.startsWith('Password changed.')),
          'the password changed',
          30_000,
        ),
      );
      const sent = await expectNoLeak(forms);
      expect([registered, signedIn, changed]).to.deep.equal(['ok', 'ok', 'ok']);
      for (const type of ['register', 'login', 'change-password'])
        expect(requests(sent, type).length, `"${type}" frames recorded`).to.equal(1);
      await chat.client?.logout();
    } finally {
      chat.remove();
    }
  });
});

// Finding the form's parts through shadow roots, by what they are for.

function* deep(root: ParentNode): Generator<Element> {
  for (const element of root.querySelectorAll('*')) {
    yield element;
    if (element.shadowRoot) yield* deep(element.shadowRoot);
  }
}

function inputFor(root: Element, autocomplete: string): HTMLInputElement | null {
  return (
    ([...deep(root.shadowRoot!)].find((element) => element.matches(`input[autocomplete="${autocomplete}"]`)) as
      | HTMLInputElement
      | undefined) ?? null
  );
}

function buttonNamed(root: Element, name: string): HTMLButtonElement | null {
  return (
    ([...deep(root.shadowRoot!)].find(
      (element) => element instanceof HTMLButtonElement && element.textContent?.trim() === name,
    ) as HTMLButtonElement | undefined) ?? null
  );
}

function type(input: HTMLInputElement | null, value: string): void {
  if (!input) throw new Error('no such field');
  input.value = value;
  input.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
}
