/**
 * The web components in real Chromium against the real relay: found by their labels and roles,
 * driven by real key presses where keys matter, each checked for what the user would see.
 */
import { expect } from '@esm-bundle/chai';
import { sendKeys } from '@web/test-runner-commands';
import { MIN_PASSWORD_LENGTH, SovClient } from '../../sdk/client.ts';
import { indexedDbStorage, memoryStorage } from '../../sdk/storage.ts';
import type { StorageAdapter } from '../../sdk/storage.ts';
import type { CachedRoom, ClientMessage } from '../../sdk/room.ts';
import '../../web-components/index.ts';
import { loadChatScreen, loadLogin, loadProfile, registerTranslation } from '../../web-components/index.ts';
import type { SovChat } from '../../web-components/sov-chat/sov-chat.ts';
import type { SovChatRoom } from '../../web-components/sov-chat-room/sov-chat-room.ts';
import type { SovLogin } from '../../web-components/sov-login/sov-login.ts';
import type { SovProfile } from '../../web-components/sov-profile/sov-profile.ts';
import type { SovRoster } from '../../web-components/sov-roster/sov-roster.ts';
import type { ChatMessage } from '../../sdk/protocol.ts';
import { loadTable, translate } from '../../web-components/shared/i18n.ts';
import { hostileNetwork } from './hostile-network.ts';
import type { HostileNetwork } from './hostile-network.ts';
import { operatorAccount } from './forgery.ts';
import { forgedRelay, relayInfo, uniqueName } from './relay.ts';
import { until } from './until.ts';

const PASSWORD = 'correct horse battery';
let relay: string;
const mounted: HTMLElement[] = [];
const clients: SovClient[] = [];

// ---------------------------------------------------------------------------------------------
// Finding things the way a user (or a screen reader) does.

/** Every element under `root`, through shadow roots. */
function* deep(root: ParentNode): Generator<Element> {
  for (const element of root.querySelectorAll('*')) {
    yield element;
    if (element.shadowRoot) yield* deep(element.shadowRoot);
  }
}

function all<T extends Element>(root: ParentNode, selector: string): T[] {
  return [...deep(root)].filter((element) => element.matches(selector)) as T[];
}

/** The input a <label> with this text names (the label's own text, before the input inside it). */
function field(root: ParentNode, label: string): HTMLInputElement | HTMLTextAreaElement | null {
  for (const candidate of all<HTMLLabelElement>(root, 'label')) {
    const own = [...candidate.childNodes].filter((node) => node.nodeType === Node.TEXT_NODE).map((node) => node.textContent).join('').trim();
    if (own !== label) continue;
    return candidate.control as HTMLInputElement | HTMLTextAreaElement | null;
  }
  return null;
}

function button(root: ParentNode, name: string): HTMLButtonElement | null {
  return all<HTMLButtonElement>(root, 'button').find((candidate) => (candidate.getAttribute('aria-label') ?? candidate.textContent ?? '').trim().includes(name)) ?? null;
}

function text(root: ParentNode): string {
  return all(root, '*')
    .flatMap((element) => [...element.childNodes].filter((node) => node.nodeType === Node.TEXT_NODE).map((node) => node.textContent ?? ''))
    .join(' ')
    .replace(/\s+/g, ' ');
}

function fill(input: HTMLInputElement | HTMLTextAreaElement | null, value: string): void {
  if (!input) throw new Error('no such field');
  input.value = value;
  input.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
}

function mount<T extends HTMLElement>(tag: string, properties: Record<string, unknown> = {}, attributes: Record<string, string> = {}): T {
  const element = document.createElement(tag) as T;
  Object.assign(element, properties);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.style.height = '480px';
  element.style.width = '720px';
  document.body.append(element);
  mounted.push(element);
  return element;
}

async function person(options: { storage?: StorageAdapter; network?: HostileNetwork; firstName?: string } = {}) {
  const username = uniqueName('user');
  const client = new SovClient({ relay, storage: options.storage ?? memoryStorage(), ...(options.network ? { WebSocket: options.network.WebSocket } : {}) });
  clients.push(client);
  const user = await client.register({ username, password: PASSWORD, firstName: options.firstName ?? 'Анна', lastName: 'Тестова' });
  return { client, username, user, name: `${user.firstName} ${user.lastName}` };
}

/** A PNG of `side` x `side` random pixels (noise does not compress, so the file is large). */
async function png(side: number): Promise<File> {
  const canvas = new OffscreenCanvas(side, side);
  const pixels = new ImageData(side, side);
  for (let i = 0; i < pixels.data.length; i += 4) {
    crypto.getRandomValues(pixels.data.subarray(i, i + 3));
    pixels.data[i + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(pixels, 0, 0);
  return new File([await canvas.convertToBlob({ type: 'image/png' })], 'me.png', { type: 'image/png' });
}

function choose(input: HTMLInputElement, file: File): void {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
  input.dispatchEvent(new Event('change', { bubbles: true }));
}

before(async () => {
  relay = (await relayInfo()).url;
  await Promise.all([loadChatScreen(), loadLogin(), loadProfile()]);
});

afterEach(() => {
  for (const element of mounted.splice(0)) element.remove();
  for (const client of clients.splice(0)) client.close();
});

// ---------------------------------------------------------------------------------------------

describe('<sov-login>', function () {
  this.timeout(60_000);

  it('refuses empty fields before sending anything, marking each one', async () => {
    const network = hostileNetwork();
    const client = new SovClient({ relay, storage: memoryStorage(), WebSocket: network.WebSocket });
    clients.push(client);
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
    const client = new SovClient({ relay, storage: memoryStorage() });
    clients.push(client);
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
    const loggedIn = new Promise<CustomEvent>((resolve) => document.addEventListener('sov-login', (event) => resolve(event as CustomEvent), { once: true }));
    button(root, 'Create account')!.click();
    await until(() => root.querySelector('progress') !== null, 'the progress bar');
    const event = await loggedIn;
    expect(event.detail.username).to.equal(username);
    expect(client.user?.firstName).to.equal('Ivan');
  });

  it('says in plain words when the username is taken or the password is wrong', async () => {
    const someone = await person();
    const client = new SovClient({ relay, storage: memoryStorage() });
    clients.push(client);
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
    await until(() => root.querySelector('[role=alert]')?.textContent?.includes('Wrong username or password.') === true, 'the wrong-password message');
    expect(client.user).to.equal(null);
  });
  it('says how long to wait once failed logins are rate limited', async () => {
    const someone = await person();
    // Ten wrong auth keys straight over the protocol (skipping ten seconds of password hashing).
    const socket = new WebSocket(`${relay.replace(/^http/, 'ws')}/v1/ws`);
    await new Promise((resolve) => (socket.onopen = resolve));
    const replies: unknown[] = [];
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data as string);
      if ('re' in frame) replies.push(frame);
    };
    for (let id = 1; id <= 10; id++) {
      const authKey = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      socket.send(JSON.stringify({ id, type: 'login', username: someone.username, authKey }));
    }
    await until(() => replies.length === 10, 'ten refusals');
    socket.close();
    const client = new SovClient({ relay, storage: memoryStorage() });
    clients.push(client);
    const login = mount<SovLogin>('sov-login', { client });
    await login.updateComplete;
    const root = login.shadowRoot!;
    fill(field(root, 'Username'), someone.username);
    fill(field(root, 'Password'), PASSWORD);
    button(root, 'Sign in')!.click();
    await until(() => /Too many attempts\. Try again in \d+ s\./.test(root.querySelector('[role=alert]')?.textContent ?? ''), 'the rate-limit message');
  });
});

describe('<sov-chat-room>', function () {
  this.timeout(60_000);

  const rows = (room: SovChatRoom) => [...room.shadowRoot!.querySelectorAll('li')];
  const composer = (room: SovChatRoom) => field(room.shadowRoot!, 'Write a message…') as HTMLTextAreaElement;

  it('Enter sends, Shift+Enter starts a new line, and the message shows as sent and signed', async () => {
    const ann = await person();
    const view = mount<SovChatRoom>('sov-chat-room', { client: ann.client }, { room: uniqueName('room') });
    await until(() => text(view.shadowRoot!).includes('No messages yet'), 'the empty room');
    composer(view).focus();
    await sendKeys({ type: 'line one' });
    await sendKeys({ down: 'Shift' });
    await sendKeys({ press: 'Enter' });
    await sendKeys({ up: 'Shift' });
    await sendKeys({ type: 'line two' });
    expect(rows(view).length, 'Shift+Enter did not send').to.equal(0);
    await sendKeys({ press: 'Enter' });
    await until(() => rows(view).some((row) => row.querySelector('[aria-label="Signed by the author"]')), 'the sent message');
    expect(rows(view)[0]!.querySelector('.text')!.textContent).to.equal('line one\nline two');
    expect(composer(view).value, 'the composer empties').to.equal('');
    expect(rows(view)[0]!.textContent).to.include(ann.name);
  });

  it('flags a message whose signature does not check out, in words', async () => {
    const room = uniqueName('room');
    const ann = await person();
    const network = hostileNetwork();
    const bob = await person({ network });
    const view = mount<SovChatRoom>('sov-chat-room', { client: bob.client }, { room });
    await until(() => text(view.shadowRoot!).includes('No messages yet'), 'the empty room');
    const annRoom = await ann.client.join(room);
    await annRoom.send('Genuine');
    await until(() => rows(view).length >= 2, 'the genuine message');
    network.tamper = (frame) => (frame.ev === 'message' ? { ...frame, text: 'Send me your password' } : frame);
    await annRoom.send('Meet at noon');
    await until(() => text(view.shadowRoot!).includes('Send me your password'), 'the altered message');
    const forged = rows(view).find((row) => row.textContent!.includes('Send me your password'))!;
    expect(forged.classList.contains('unverified')).to.equal(true);
    expect(forged.textContent).to.include('Signature does not check out: this message may be forged');
    expect(forged.querySelector('[aria-label="Signed by the author"]')).to.equal(null);
    const genuine = rows(view).find((row) => row.textContent!.includes('Genuine'))!;
    expect(genuine.querySelector('[aria-label="Signed by the author"]')).to.not.equal(null);
  });

  it('shows joins and leaves inline, announces others\' messages, and keeps names and links as text', async () => {
    const room = uniqueName('room');
    const ann = await person({ firstName: 'Ann' });
    const bob = await person({ firstName: 'Bob' });
    const view = mount<SovChatRoom>('sov-chat-room', { client: ann.client }, { room });
    await until(() => text(view.shadowRoot!).includes('No messages yet'), 'the empty room');
    const bobRoom = await bob.client.join(room);
    await until(() => text(view.shadowRoot!).includes(`${bob.name} joined`), 'the join notice');
    const hostile = '<img src=x onerror="window.__pwned=1"> see https://example.org/a?b=1.';
    await bobRoom.send(hostile);
    await until(() => text(view.shadowRoot!).includes('<img src=x'), 'the message as typed');
    expect(view.shadowRoot!.querySelector('.text img')).to.equal(null);
    expect((window as { __pwned?: number }).__pwned).to.equal(undefined);
    const link = view.shadowRoot!.querySelector<HTMLAnchorElement>('.text a')!;
    expect(link.href).to.equal('https://example.org/a?b=1');
    expect(link.rel).to.equal('noopener noreferrer');
    expect(link.target).to.equal('_blank');
    expect(view.shadowRoot!.querySelector('[aria-live="polite"]')!.textContent).to.include(`${bob.name}: <img`);
    // A right-to-left override would make a link read backwards: the link stops before it.
    await bobRoom.send('photo: https://example.com/\u202Egnp.exe');
    await until(() => text(view.shadowRoot!).includes('photo:'), 'the bidi message');
    const links = [...view.shadowRoot!.querySelectorAll<HTMLAnchorElement>('.text a')];
    expect(links.map((item) => item.href)).to.include('https://example.com/');
    expect(links.every((item) => !/%E2%80%AE/i.test(item.href))).to.equal(true);
    await bob.client.leave(room);
    await until(() => text(view.shadowRoot!).includes(`${bob.name} left`), 'the leave notice');
  });

  it('renders only the visible rows of a 10,000-message history, and scrolls through all of it', async () => {
    const storage = memoryStorage();
    const ann = await person({ storage });
    const room = uniqueName('room');
    const first = await ann.client.join(room);
    await first.send('seed');
    const key = await until(async () => (await storage.keys('')).find((name) => name.endsWith(`|room|${room}`)), 'the history cache');
    // Fill the offline history cache (what a long-running client would have) with 10,000 messages.
    const cached = (await storage.get<CachedRoom>(key))!;
    const template = cached.messages[0]!;
    const messages: ClientMessage[] = Array.from({ length: 10_000 }, (_, index) => ({ ...template, seq: index + 1, cid: `c${index}`, text: `message ${index + 1}${index % 7 === 0 ? '\nwith a second line' : ''}` }));
    await storage.set(key, { seq: 10_000, messages });
    await ann.client.leave(room);
    const view = mount<SovChatRoom>('sov-chat-room', { client: ann.client }, { room });
    await until(() => text(view.shadowRoot!).includes('message 10000'), 'the newest message at the bottom');
    expect(rows(view).length, 'rows in the DOM').to.be.below(80);
    const list = view.shadowRoot!.querySelector<HTMLElement>('.list')!;
    list.scrollTop = 0;
    await until(() => text(view.shadowRoot!).includes('message 1 '), 'the oldest message after scrolling up');
    expect(rows(view).length).to.be.below(80);
    list.scrollTop = list.scrollHeight / 2;
    await until(() => /message 5\d\d\d/.test(text(view.shadowRoot!)), 'the middle of the history');
  });

  it('scrolled to the top, loads older messages from a relay under a byte budget, keeps the message in view in place, and says when loading fails', async () => {
    const author = await operatorAccount((await relayInfo()).wsUrl);
    const room = uniqueName('room');
    const stored: Array<Omit<ChatMessage, 'seq'>> = [];
    for (let i = 1; i <= 60; i++) {
      const unsigned = { room, author: author.user.id, cid: `paged-${i}-${room}`, ts: Date.now() - (61 - i) * 1000, text: `older ${i}` };
      stored.push({ ...unsigned, sig: await author.sign(unsigned) });
    }
    // A third of 12,288 bytes per reply: about a dozen of these messages a page.
    const budgeted = await forgedRelay(stored, 12_288);
    const network = hostileNetwork();
    const reader = new SovClient({ relay: budgeted.url, storage: memoryStorage(), WebSocket: network.WebSocket, requestTimeoutMs: 2000 });
    clients.push(reader);
    await reader.register({ username: uniqueName('reader'), password: PASSWORD, firstName: 'Рита', lastName: 'Читатель' });
    const view = mount<SovChatRoom>('sov-chat-room', { client: reader }, { room });
    await until(() => text(view.shadowRoot!).includes('older 60'), 'the newest page');
    const joined = await reader.join(room);
    const firstPage = joined.messages.length;
    expect(firstPage, 'one page, not the whole history').to.be.within(2, 30);
    expect(joined.hasOlder).to.equal(true);
    const list = view.shadowRoot!.querySelector<HTMLElement>('.list')!;
    const scrollTo = (top: number) => {
      list.scrollTop = top;
      list.dispatchEvent(new Event('scroll'));
    };

    // A frozen network: the line says it is loading, then why it could not.
    network.frozen = true;
    scrollTo(0);
    await until(() => text(view.shadowRoot!).includes('Loading older messages…'), 'the loading line');
    await until(() => text(view.shadowRoot!).includes('The chat server did not answer in time.'), 'the error in the line');
    expect(joined.messages.length).to.equal(firstPage);
    network.frozen = false;

    // The reader scrolls again: the page before comes in above, and the row at the top stays where it was.
    const topRow = () => rows(view).find((row) => row.getBoundingClientRect().bottom > list.getBoundingClientRect().top + 1)!;
    scrollTo(1);
    const anchor = topRow();
    const [anchorText, anchorTop] = [anchor.querySelector('.text')!.textContent, anchor.getBoundingClientRect().top];
    await until(() => joined.messages.length > firstPage && !joined.loadingOlder, 'the older page');
    const anchored = () => rows(view).find((row) => row.querySelector('.text')!.textContent === anchorText);
    await until(() => Math.abs((anchored()?.getBoundingClientRect().top ?? Infinity) - anchorTop) < 2, `"${anchorText}" back at ${anchorTop} px`, 2000);

    // Up to the first message: every page once, in order (a connection spent by its budget is replaced on the way).
    await until(
      () => {
        if (joined.hasOlder && !joined.loadingOlder) scrollTo(0);
        return !joined.hasOlder;
      },
      'the whole history',
      60_000,
    );
    expect(joined.messages.map((message) => message.text)).to.deep.equal(stored.map((message) => message.text));
    expect(joined.messages.every((message) => message.verified)).to.equal(true);
    scrollTo(0);
    await until(() => text(view.shadowRoot!).includes('older 1 '), 'the oldest message at the top');
  });

  it('shows a message the relay refuses as not sent, with a Retry that sends it again', async () => {
    const room = uniqueName('room');
    const ann = await person();
    const view = mount<SovChatRoom>('sov-chat-room', { client: ann.client }, { room });
    await until(() => text(view.shadowRoot!).includes('No messages yet'), 'the empty room');
    // A clock ten minutes fast: the relay refuses the signed timestamp (CLOCK_SKEW).
    const realNow = Date.now;
    Date.now = () => realNow.call(Date) + 10 * 60 * 1000;
    try {
      fill(composer(view), 'my clock is wrong');
      button(view.shadowRoot!, 'Send')!.click();
      await until(() => text(view.shadowRoot!).includes('Not sent'), 'the failed state');
    } finally {
      Date.now = realNow;
    }
    const row = () => rows(view).find((item) => item.textContent!.includes('my clock is wrong'))!;
    expect(row().querySelector('[aria-label="Signed by the author"]')).to.equal(null);
    button(view.shadowRoot!, 'Retry')!.click();
    await until(() => row().querySelector('[aria-label="Signed by the author"]') !== null, 'the message sent on retry');
    expect(text(view.shadowRoot!)).to.not.include('Not sent');
    expect(rows(view).filter((item) => item.textContent!.includes('my clock is wrong')).length, 'shown once').to.equal(1);
  });

  it('keeps a message written outside the room pending, and sends it once the room is joined again', async () => {
    const room = uniqueName('room');
    const ann = await person();
    const view = mount<SovChatRoom>('sov-chat-room', { client: ann.client }, { room });
    await until(() => text(view.shadowRoot!).includes('No messages yet'), 'the empty room');
    await ann.client.leave(room);
    fill(composer(view), 'held back');
    button(view.shadowRoot!, 'Send')!.click();
    await until(() => text(view.shadowRoot!).includes('Sending…'), 'the pending state');
    await ann.client.join(room);
    await until(() => rows(view).some((item) => item.textContent!.includes('held back') && item.querySelector('[aria-label="Signed by the author"]')), 'the message sent after rejoining');
  });

  it('sticks to the newest message, but offers a "new messages" button when the reader has scrolled up', async () => {
    const room = uniqueName('room');
    const ann = await person();
    const bob = await person();
    const view = mount<SovChatRoom>('sov-chat-room', { client: ann.client }, { room });
    await until(() => text(view.shadowRoot!).includes('No messages yet'), 'the empty room');
    const bobRoom = await bob.client.join(room);
    for (let i = 1; i <= 30; i++) await bobRoom.send(`filler ${i}`);
    await until(() => text(view.shadowRoot!).includes('filler 30'), 'the last filler');
    const list = view.shadowRoot!.querySelector<HTMLElement>('.list')!;
    await until(() => list.scrollHeight - list.scrollTop - list.clientHeight < 5, 'the list following the newest');
    list.scrollTop = 0;
    list.dispatchEvent(new Event('scroll'));
    await bobRoom.send('while you were reading');
    await until(() => button(view.shadowRoot!, 'New messages') !== null, 'the new-messages button');
    expect(list.scrollTop, 'the reader was not yanked down').to.be.below(50);
    button(view.shadowRoot!, 'New messages')!.click();
    await until(() => button(view.shadowRoot!, 'New messages') === null && list.scrollHeight - list.scrollTop - list.clientHeight < 5, 'the jump to the newest');
  });
});

describe('<sov-roster>', function () {
  this.timeout(60_000);

  it('lists who is online in the room, live', async () => {
    const room = uniqueName('room');
    const ann = await person({ firstName: 'Ann' });
    const bob = await person({ firstName: 'Bob' });
    const roster = mount<SovRoster>('sov-roster', { client: ann.client }, { room });
    const names = () => [...roster.shadowRoot!.querySelectorAll('li')].map((item) => item.textContent!.replace(/\s+/g, ' ').trim());
    await until(() => names().length === 1, 'Ann alone');
    expect(text(roster.shadowRoot!)).to.include('1 person online');
    await bob.client.join(room);
    await until(() => names().length === 2, 'Bob arriving');
    expect(names().some((name) => name.includes(bob.name) && name.includes(`@${bob.username}`))).to.equal(true);
    expect(text(roster.shadowRoot!)).to.include('2 people online');
    await bob.client.updateProfile({ firstName: 'Robert' });
    await until(() => names().some((name) => name.startsWith('Robert')), 'the new name');
    await bob.client.leave(room);
    await until(() => names().length === 1, 'Bob leaving');
  });

  it('counts in Russian with the right plural forms', async () => {
    await loadTable('ru');
    expect(translate('ru', 'roster.count', { n: 1 })).to.equal('1 человек в сети');
    expect(translate('ru', 'roster.count', { n: 3 })).to.equal('3 человека в сети');
    expect(translate('ru', 'roster.count', { n: 5 })).to.equal('5 человек в сети');
    expect(translate('ru', 'roster.count', { n: 21 })).to.equal('21 человек в сети');
    expect(translate('en', 'roster.count', { n: 1 })).to.equal('1 person online');
  });

  it('takes a third language from registerTranslation, English for the words it lacks, and shows it at once', async () => {
    const roster = mount<SovRoster>('sov-roster', {}, { lang: 'uk-UA' });
    await roster.updateComplete;
    expect(text(roster.shadowRoot!)).to.include('0 people online');
    registerTranslation('uk', {
      'roster.title': 'У мережі',
      'roster.count': { one: '{n} людина в мережі', few: '{n} людини в мережі', many: '{n} людей в мережі', other: '{n} людини в мережі' },
    });
    await until(() => text(roster.shadowRoot!).includes('У мережі'), 'the Ukrainian title on the element already shown');
    expect(text(roster.shadowRoot!)).to.include('0 людей в мережі');
    expect(translate('uk', 'roster.count', { n: 3 })).to.equal('3 людини в мережі');
    expect(translate('uk', 'chat.send')).to.equal('Send', 'a word it lacks, in English');
    // Changing one built-in word keeps the rest of the language, whether its table had loaded or not.
    registerTranslation('ru', { 'chat.gap': 'Пропуск в истории.' });
    await loadTable('ru');
    expect(translate('ru', 'chat.gap')).to.equal('Пропуск в истории.');
    expect(translate('ru', 'roster.count', { n: 5 })).to.equal('5 человек в сети');
  });
});

describe('<sov-profile>', function () {
  this.timeout(60_000);

  it('shows the id read-only and saves names, refusing a taken username next to the field', async () => {
    const ann = await person();
    const bob = await person();
    const profile = mount<SovProfile>('sov-profile', { client: ann.client });
    await profile.updateComplete;
    const root = profile.shadowRoot!;
    const id = field(root, 'ID') as HTMLInputElement;
    expect(id.value).to.equal(String(ann.user.id));
    expect(id.readOnly).to.equal(true);
    fill(field(root, 'Username'), bob.username);
    fill(field(root, 'First name'), 'Annette');
    button(root, 'Save')!.click();
    await until(() => text(root).includes('This username is taken.'), 'the taken message');
    expect(field(root, 'Username')!.getAttribute('aria-invalid')).to.equal('true');
    fill(field(root, 'Username'), ann.username);
    button(root, 'Save')!.click();
    await until(() => root.querySelector('[role=status]')?.textContent === 'Saved', 'Saved');
    expect(ann.client.user!.firstName).to.equal('Annette');
  });

  it('refuses a file that is not a picture, or over max-avatar-bytes, with the limit in words', async () => {
    const ann = await person();
    const profile = mount<SovProfile>('sov-profile', { client: ann.client }, { 'max-avatar-bytes': String(2 * 1024) });
    await profile.updateComplete;
    const root = profile.shadowRoot!;
    const input = root.querySelector<HTMLInputElement>('input[type=file]')!;
    choose(input, new File(['just text'], 'notes.png', { type: 'image/png' }));
    await until(() => text(root).includes('This file is not a picture.'), 'the not-a-picture message');
    choose(input, await png(400));
    await until(() => text(root).includes('The picture is too large (the limit is 2 kB).'), 'the too-large message');
  });

  it('previews the round avatar and uploads it with progress', async () => {
    const ann = await person();
    const profile = mount<SovProfile>('sov-profile', { client: ann.client });
    await profile.updateComplete;
    const root = profile.shadowRoot!;
    choose(root.querySelector<HTMLInputElement>('input[type=file]')!, await png(600));
    await until(() => root.querySelector('sov-avatar')?.shadowRoot?.querySelector('img')?.src.startsWith('blob:') === true, 'the preview');
    const preview = root.querySelector('sov-avatar')!.shadowRoot!.querySelector('img')!;
    const bitmap = await createImageBitmap(await (await fetch(preview.src)).blob());
    expect([bitmap.width, bitmap.height]).to.deep.equal([256, 256]);
    button(root, 'Save')!.click();
    await until(() => root.querySelector('progress') !== null, 'the upload progress');
    await until(() => ann.client.user!.avatar !== null, 'the uploaded avatar');
    await until(() => root.querySelector('sov-avatar')!.shadowRoot!.querySelector('img')!.src === ann.client.avatarUrl(ann.client.user!), 'the avatar from the relay');
  });
});

describe('<sov-profile> password change', function () {
  this.timeout(60_000);

  it('refuses a short new password and a wrong current one next to their fields, then changes it', async () => {
    const ann = await person();
    const profile = mount<SovProfile>('sov-profile', { client: ann.client });
    await profile.updateComplete;
    const root = profile.shadowRoot!;
    const change = async (current: string, next: string, shown: () => boolean, what: string) => {
      fill(field(root, 'Current password'), current);
      fill(field(root, 'New password'), next);
      button(root, 'Change password')!.click();
      await until(shown, what, 30_000);
    };
    await change(PASSWORD, 'short', () => field(root, 'New password')!.getAttribute('aria-invalid') === 'true', 'the too-short mark');
    expect(text(root)).to.include(`At least ${MIN_PASSWORD_LENGTH} characters.`);
    await change('not my password', 'a brand new password', () => field(root, 'Current password')!.getAttribute('aria-invalid') === 'true', 'the wrong-password mark');
    expect(text(root)).to.include('Wrong password.');
    const before = ann.client.user!.keys.length;
    await change(PASSWORD, 'a brand new password', () => text(root).includes('Password changed.'), 'Password changed');
    expect(ann.client.user!.keys.length, 'a new signing key').to.equal(before + 1);
    expect((field(root, 'Current password') as HTMLInputElement).value, 'the form is cleared').to.equal('');
  });
});

describe('<sov-chat>', function () {
  this.timeout(90_000);

  it('in Russian: registers, shows the top bar, follows the room switch, fires sov-* events, and Exit signs out', async () => {
    const events: string[] = [];
    for (const name of ['sov-login', 'sov-logout', 'sov-message']) document.addEventListener(name, () => events.push(name));
    const chat = mount<SovChat>('sov-chat', {}, { relay, lang: 'ru' });
    const root = () => chat.shadowRoot!;
    await until(() => button(root(), 'Нет аккаунта? Зарегистрируйтесь') !== null, 'the Russian login form');
    button(root(), 'Нет аккаунта? Зарегистрируйтесь')!.click();
    await until(() => field(root(), 'Фамилия') !== null, 'the registration form');
    fill(field(root(), 'Имя пользователя'), uniqueName('иван'));
    fill(field(root(), 'Пароль'), PASSWORD);
    fill(field(root(), 'Имя'), 'Иван');
    fill(field(root(), 'Фамилия'), 'Петров');
    button(root(), 'Зарегистрироваться')!.click();
    await until(() => button(root(), 'Выход') !== null, 'the chat');
    expect(button(root(), 'Изменить профиль')!.textContent).to.include('Иван Петров');
    await until(() => text(root()).includes('Сообщений пока нет'), 'the empty room in Russian');
    await until(() => text(root()).includes('1 человек в сети'), 'the roster in Russian');

    const composerField = field(root(), 'Напишите сообщение…') as HTMLTextAreaElement;
    composerField.focus();
    await sendKeys({ type: 'Всем привет' });
    await sendKeys({ press: 'Enter' });
    await until(() => events.includes('sov-message'), 'sov-message');

    fill(field(root(), 'Комната'), 'не комната!');
    button(root(), 'Перейти')!.click();
    await until(() => root().querySelector('[role=alert]') !== null, 'the invalid room message');
    fill(field(root(), 'Комната'), 'kitchen');
    button(root(), 'Перейти')!.click();
    await until(() => root().querySelector('sov-chat-room')!.getAttribute('room') === 'kitchen', 'the room switch');

    button(root(), 'Изменить профиль')!.click();
    await until(() => root().querySelector('dialog')?.open === true, 'the profile dialog');
    button(root().querySelector('sov-profile')!.shadowRoot!, 'Закрыть')!.click();
    await until(() => root().querySelector('dialog')?.open === false, 'the dialog closing');

    button(root(), 'Выход')!.click();
    await until(() => button(root(), 'Войти') !== null, 'the login form after Exit');
    expect(events).to.include.members(['sov-login', 'sov-message', 'sov-logout']);
  });

  it('takes several front doors in `relay`, separated by white space, and with the first one failing signs in through the second', async () => {
    // A door on a path the relay does not serve: its upgrade is refused at once. Unique, so that
    // this element's storage (named by the first door) starts empty.
    const dead = `${relay}/no-door-${uniqueName()}`;
    const chat = mount<SovChat>('sov-chat', {}, { relay: ` ${dead}\n\t${relay}/ `, lang: 'en' });
    const root = () => chat.shadowRoot!;
    await until(() => button(root(), 'Sign in') !== null, 'the login form');
    const client = chat.client!;
    const doors: string[] = [];
    client.on('door', (door) => doors.push(door));
    await client.register({ username: uniqueName('doors'), password: PASSWORD, firstName: 'Anna', lastName: 'Door' });
    await until(() => button(root(), 'Exit') !== null, 'the chat');
    const live = relay.replace(/^http/, 'ws');
    expect(client.door).to.equal(live);
    expect(doors).to.deep.equal([live]);
  });

  it('stays signed in across a reload (a new <sov-chat> on the same IndexedDB)', async () => {
    const databaseName = uniqueName('db');
    const first = await person({ storage: indexedDbStorage(databaseName) });
    first.client.close();
    // What a reload amounts to: a fresh element and client over the stored session.
    const client = new SovClient({ relay, storage: indexedDbStorage(databaseName) });
    clients.push(client);
    const chat = mount<SovChat>('sov-chat', { client });
    await client.resume();
    await until(() => button(chat.shadowRoot!, 'Exit') !== null, 'the chat without a login');
    expect(button(chat.shadowRoot!, 'Edit your profile')!.textContent).to.include(first.name);
  });

  it('says in the state line, in Russian too, when the chat runs over the HTTP fallback', async () => {
    const databaseName = uniqueName('db');
    const first = await person({ storage: indexedDbStorage(databaseName) });
    first.client.close();
    const client = new SovClient({ relay, storage: indexedDbStorage(databaseName), transport: 'http' });
    clients.push(client);
    const chat = mount<SovChat>('sov-chat', { client }, { lang: 'ru' });
    await client.resume();
    const state = (): string => chat.shadowRoot!.querySelector('.state[role="status"]')?.textContent ?? '';
    await until(() => state().includes('через HTTP'), 'the fallback in the state line');
    expect(client.transport).to.equal('http-stream');
  });

  it('never scrolls the host page or takes its focus, whatever arrives', async () => {
    const hostInput = document.createElement('input');
    const spacer = document.createElement('div');
    spacer.style.height = '1500px';
    document.body.prepend(hostInput, spacer);
    mounted.push(hostInput, spacer);
    const room = uniqueName('room');
    const ann = await person();
    const bob = await person({ firstName: 'Bob' });
    const chat = mount<SovChat>('sov-chat', { client: ann.client }, { room });
    window.scrollTo(0, chat.offsetTop - 100);
    const scrolled = window.scrollY;
    hostInput.focus({ preventScroll: true });
    await until(() => chat.shadowRoot!.querySelector('sov-chat-room') !== null, 'the chat');
    const bobRoom = await bob.client.join(room);
    for (let i = 1; i <= 20; i++) await bobRoom.send(`message ${i}`);
    const view = chat.shadowRoot!.querySelector('sov-chat-room')!;
    await until(() => text(view.shadowRoot!).includes('message 20'), 'the messages');
    expect(window.scrollY).to.equal(scrolled);
    expect(document.activeElement).to.equal(hostInput);
  });

  it('themes: light or dark by attribute, passed to every part, over the system preference', async () => {
    const ann = await person();
    const chat = mount<SovChat>('sov-chat', { client: ann.client }, { theme: 'dark' });
    await until(() => chat.shadowRoot!.querySelector('sov-chat-room') !== null, 'the chat');
    const room = chat.shadowRoot!.querySelector('sov-chat-room')!;
    expect(room.getAttribute('theme')).to.equal('dark');
    expect(getComputedStyle(room).backgroundColor).to.equal('rgb(17, 24, 39)');
    chat.setAttribute('theme', 'light');
    await until(() => getComputedStyle(room).backgroundColor === 'rgb(255, 255, 255)', 'the light theme');
  });

  it('is styled from the host page through --sov-* properties and ::part', async () => {
    const style = document.createElement('style');
    style.textContent = 'sov-chat { --sov-accent: rgb(0, 100, 0); } sov-chat::part(top-bar) { background: rgb(1, 2, 3); } sov-chat::part(composer) { border-top-color: rgb(4, 5, 6); }';
    document.head.append(style);
    mounted.push(style);
    const ann = await person();
    const chat = mount<SovChat>('sov-chat', { client: ann.client });
    // The form itself, not `!== null`: while the room has no shadow root yet, `?.` gives undefined.
    await until(() => chat.shadowRoot!.querySelector('sov-chat-room')?.shadowRoot?.querySelector('form'), 'the chat');
    expect(getComputedStyle(chat.shadowRoot!.querySelector('header')!).backgroundColor).to.equal('rgb(1, 2, 3)');
    const room = chat.shadowRoot!.querySelector('sov-chat-room')!.shadowRoot!;
    expect(getComputedStyle(room.querySelector('form')!).borderTopColor).to.equal('rgb(4, 5, 6)');
    expect(getComputedStyle(button(room, 'Send')!).backgroundColor).to.equal('rgb(0, 100, 0)');
  });
});
