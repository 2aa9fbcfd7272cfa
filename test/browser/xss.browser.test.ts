/**
 * XSS: a corpus of hostile strings (xss-payloads.ts) sent through the real relay as first names,
 * last names, usernames, room names and message texts, and rendered by a real <sov-chat> (top
 * bar, profile dialog, roster, message list, notices, live region) in Chromium.
 *
 * Every payload tries to call `__xssHit(id)` or set `window.__xss`. After each step the test
 * asserts that nothing ran, that the components' shadow trees hold only the elements the
 * templates make (no <script>, <img>, <iframe>, <svg>... from user text, no on* attributes),
 * that every link in a message is http(s) with rel="noopener noreferrer", and that each payload
 * reads exactly as typed (names as the relay normalizes them: trimmed, NFKC). What the rules
 * refuse (usernames, rooms, names, texts) must be refused with INVALID_FIELD or EMPTY_FIELD, by
 * the SDK and by the relay: that refusal is the defence there.
 */
import { expect } from '@esm-bundle/chai';
import { SovClient } from '../../sdk/client.ts';
import { SovError } from '../../sdk/errors.ts';
import { memoryStorage } from '../../sdk/storage.ts';
import type { Profile } from '../../sdk/protocol.ts';
import type { Room } from '../../sdk/room.ts';
import '../../web-components/index.ts';
import { loadProfile } from '../../web-components/index.ts';
import type { SovChat } from '../../web-components/sov-chat/sov-chat.ts';
import type { SovChatRoom } from '../../web-components/sov-chat-room/sov-chat-room.ts';
import type { SovProfile } from '../../web-components/sov-profile/sov-profile.ts';
import { deep } from './shadow-queries.ts';
import { relayInfo, uniqueName } from './relay.ts';
import { until } from './until.ts';
import {
  ALLOWED_ROOMS,
  ALLOWED_USERNAMES,
  BLANKS,
  PAYLOADS,
  PROTOTYPE_USERNAMES,
  decodedForms,
  nameVerdict,
  roomVerdict,
  textVerdict,
  usernameVerdict,
} from './xss-payloads.ts';
import type { Kind, Verdict } from './xss-payloads.ts';

declare global {
  interface Window {
    __xssHit?: (id: number) => void;
    __xss?: unknown;
  }
}

/** Ids of payloads that ran. Installed before anything renders. */
const hits: number[] = [];
window.__xssHit = (id: number) => {
  hits.push(id);
};

const PASSWORD = 'correct horse battery';
const XHTML = 'http://www.w3.org/1999/xhtml';
let relay: string;
let wsUrl: string;
const clients: SovClient[] = [];
const baseline = { location: location.href, documentLevel: 0 };
const DOCUMENT_LEVEL = 'iframe, frame, object, embed, base, meta[http-equiv], link[rel=import]';

// ---------------------------------------------------------------------------------------------
// Helpers: finding things through shadow roots (deep() and the finders by label are in shadow-queries.ts).

/** The text a reader gets: every text node in rendered order, through shadow roots. */
function deepText(node: Node): string {
  if (node.nodeType === Node.TEXT_NODE) return (node as Text).data;
  if (node.nodeType !== Node.ELEMENT_NODE && node.nodeType !== Node.DOCUMENT_FRAGMENT_NODE) return '';
  const shadow = node instanceof Element ? node.shadowRoot : null;
  return [...(shadow ?? node).childNodes].map(deepText).join('');
}

/** "sov-chat > sov-chat-room > li.message > div.text > img": where an element sits, for messages. */
function locate(element: Element): string {
  const steps: string[] = [];
  let node: Node | null = element;
  while (node && steps.length < 12) {
    if (node instanceof Element)
      steps.unshift(`${node.localName}${node.classList.length ? `.${[...node.classList].join('.')}` : ''}`);
    node = node.parentNode instanceof ShadowRoot ? node.parentNode.host : node.parentNode;
    if (node === document.body) break;
  }
  return steps.join(' > ');
}

function fill(input: HTMLInputElement | HTMLTextAreaElement, value: string): void {
  input.value = value;
  input.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
}

const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve(undefined)));

type LitHost = HTMLElement & {
  updateComplete: Promise<boolean>;
  isUpdatePending: boolean;
};

/** Waits until a Lit element has rendered everything asked of it, including re-renders after measuring. */
async function settle(element: LitHost): Promise<void> {
  for (let round = 0; round < 10; round++) {
    await element.updateComplete;
    await frame();
    if (!element.isUpdatePending) return;
  }
}

/**
 * Waits until whatever a payload in `element` could have set off by now would have run: pending
 * renders, then a failed image load started after them (`<img src=x onerror>`, the slowest way in
 * here, fails the same way), then an idle moment. A fixed sleep was too short on a busy machine.
 */
async function quiesce(element: LitHost): Promise<void> {
  await settle(element);
  await new Promise((resolve) => {
    const probe = new Image();
    probe.onerror = probe.onload = resolve;
    probe.src = `x?quiesce=${Math.random()}`;
  });
  await frame();
  await new Promise((resolve) => requestIdleCallback(() => resolve(undefined), { timeout: 5000 }));
}

/** Mirrors web-components/shared/people.ts and sov-avatar: what the UI calls a person. */
const displayName = (profile: Pick<Profile, 'firstName' | 'lastName' | 'username'>) =>
  `${profile.firstName} ${profile.lastName}`.trim() || profile.username;
const initialOf = (name: string) => [...name.trim()].slice(0, 1).join('').toUpperCase() || '?';

function assertNothingRan(where: string): void {
  expect(hits, `payload ids that executed (${where})`).to.deep.equal([]);
  expect(window.__xss, `window.__xss (${where})`).to.equal(undefined);
  expect(location.href, `the page was not navigated (${where})`).to.equal(baseline.location);
}

// ---------------------------------------------------------------------------------------------
// What the components may contain. Anything else in their shadow trees came from user text.

const ALLOWED_TAGS = new Set([
  'a',
  'button',
  'dialog',
  'div',
  'form',
  'h2',
  'h3',
  'header',
  'img',
  'input',
  'label',
  'li',
  'main',
  'ol',
  'p',
  'progress',
  'span',
  'textarea',
  'time',
  'ul',
  'sov-avatar',
  'sov-chat-room',
  'sov-profile',
  'sov-roster',
]);
const URL_ATTRIBUTES = new Set([
  'href',
  'src',
  'srcset',
  'srcdoc',
  'action',
  'formaction',
  'data',
  'poster',
  'background',
  'xlink:href',
  'ping',
  'lowsrc',
  'dynsrc',
  'codebase',
  'cite',
  'manifest',
  'longdesc',
  'usemap',
  'icon',
]);
/** Elements that show user text and must hold text only (Lit's comment markers aside). */
const TEXT_ONLY =
  '.author, .me > span, li.notice, .username, [aria-live], [role=alert], [role=status], .field-error, .empty, span[part=image], h2, time';

function linkProblems(link: HTMLAnchorElement): string[] {
  const problems: string[] = [];
  const where = locate(link);
  const href = link.getAttribute('href') ?? '';
  if (!/^https?:\/\//.test(href)) problems.push(`link to ${JSON.stringify(href)} ${where}`);
  let protocol = '';
  try {
    protocol = new URL(link.href).protocol;
  } catch {
    protocol = 'unparseable';
  }
  if (protocol !== 'http:' && protocol !== 'https:') problems.push(`link with protocol ${protocol} ${where}`);
  if (link.getAttribute('rel') !== 'noopener noreferrer')
    problems.push(`link rel=${JSON.stringify(link.getAttribute('rel'))} ${where}`);
  if (link.getAttribute('target') !== '_blank')
    problems.push(`link target=${JSON.stringify(link.getAttribute('target'))} ${where}`);
  if (link.childElementCount !== 0) problems.push(`markup inside a link ${where}`);
  if (link.textContent !== href)
    problems.push(`link text ${JSON.stringify(link.textContent)} differs from its href ${JSON.stringify(href)}`);
  if (!link.parentElement?.classList.contains('text')) problems.push(`link outside message text ${where}`);
  return problems;
}

/** Everything in `host`'s shadow trees that user text could have put there. */
function domProblems(host: Element): string[] {
  const problems: string[] = [];
  const elements = host.shadowRoot ? [...deep(host.shadowRoot)] : [];
  for (const element of [host, ...elements]) {
    const where = locate(element);
    if (element !== host && !ALLOWED_TAGS.has(element.localName))
      problems.push(`unexpected <${element.localName}> ${where}`);
    if (element.namespaceURI !== XHTML) problems.push(`foreign-namespace <${element.localName}> ${where}`);
    for (const attribute of element.getAttributeNames()) {
      if (/^on/i.test(attribute))
        problems.push(
          `event-handler attribute ${attribute}=${JSON.stringify(element.getAttribute(attribute))} ${where}`,
        );
      const urlAllowed =
        (element.localName === 'a' && attribute === 'href') || (element.localName === 'img' && attribute === 'src');
      if (URL_ATTRIBUTES.has(attribute.toLowerCase()) && !urlAllowed)
        problems.push(`URL attribute ${attribute} ${where}`);
    }
    if (element.localName === 'a') problems.push(...linkProblems(element as HTMLAnchorElement));
    if (element.localName === 'img') {
      // Only an avatar picture from the relay (none of the test users has one).
      const root = element.getRootNode();
      const inAvatar =
        root instanceof ShadowRoot && root.host.localName === 'sov-avatar' && element.getAttribute('part') === 'image';
      if (!inAvatar || !(element as HTMLImageElement).src.startsWith(`${relay}/`))
        problems.push(`unexpected <img src=${JSON.stringify(element.getAttribute('src'))}> ${where}`);
    }
    if (element.matches(TEXT_ONLY) && element.childElementCount !== 0)
      problems.push(`markup inside text-only ${where}: ${element.innerHTML.slice(0, 120)}`);
    if (element.matches('.text') && [...element.children].some((child) => child.localName !== 'a'))
      problems.push(`markup inside message text ${where}: ${element.innerHTML.slice(0, 120)}`);
    if (element.matches('span.name')) {
      const children = [...element.children];
      if (children.length !== 1 || !children[0]!.matches('span.username'))
        problems.push(`markup inside a roster name ${where}`);
    }
  }
  return problems;
}

function assertSafe(host: Element, where: string): void {
  expect(domProblems(host), `injected markup (${where})`).to.deep.equal([]);
  assertNothingRan(where);
}

// ---------------------------------------------------------------------------------------------
// Refusals: what the relay answers to a raw frame, and what the SDK rejects with.

interface Reply {
  re: number;
  ok: boolean;
  error?: { code: string; field?: string };
}

class RawRelay {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Reply) => void>();

  private constructor(private readonly socket: WebSocket) {
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data as string) as Reply;
      if ('re' in frame) this.waiting.get(frame.re)?.(frame);
    };
  }

  static async open(url: string): Promise<RawRelay> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error('no connection to the relay'));
    });
    return new RawRelay(socket);
  }

  ask(fields: Record<string, unknown>): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.socket.send(JSON.stringify({ id, ...fields }));
    });
  }

  close(): void {
    this.socket.close();
  }
}

function expectRelayRefusal(reply: Reply, verdict: Verdict, field: string, what: string): void {
  if (verdict.ok) throw new Error('expected a refusal verdict');
  expect(reply.ok, `relay accepted ${what}`).to.equal(false);
  expect(reply.error, `relay refusal of ${what}`).to.deep.include({
    code: verdict.code,
    field,
  });
}

async function expectSdkRefusal(
  attempt: Promise<unknown>,
  verdict: Verdict,
  field: string,
  what: string,
): Promise<void> {
  if (verdict.ok) throw new Error('expected a refusal verdict');
  let error: unknown = null;
  try {
    await attempt;
  } catch (caught) {
    error = caught;
  }
  expect(error, `SDK accepted ${what}`).to.be.instanceOf(SovError);
  expect({ code: (error as SovError).code, field: (error as SovError).field }, `SDK refusal of ${what}`).to.deep.equal({
    code: verdict.code,
    field,
  });
}

const show = (text: string) => JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);

// ---------------------------------------------------------------------------------------------

before(async () => {
  ({ url: relay, wsUrl } = await relayInfo());
  relay = relay.replace(/\/$/, '');
  await loadProfile();
  baseline.documentLevel = document.querySelectorAll(DOCUMENT_LEVEL).length;
});

after(() => {
  for (const client of clients.splice(0)) client.close();
});

describe('XSS corpus', function () {
  this.timeout(120_000);

  it('has at least 50 distinct payloads of every kind, each trying to set the flag, and a detector that works', async () => {
    expect(PAYLOADS.length).to.be.at.least(50);
    expect(new Set(PAYLOADS.map((payload) => payload.text)).size, 'distinct').to.equal(PAYLOADS.length);
    const kinds: Kind[] = [
      'script',
      'event-handler',
      'javascript-url',
      'svg-mathml',
      'template-style-iframe',
      'encoded',
      'attribute-breakout',
      'lit-template',
      'markdown',
      'url-text',
      'unicode',
      'long',
      'polyglot',
    ];
    for (const kind of kinds)
      expect(PAYLOADS.filter((payload) => payload.kind === kind).length, kind).to.be.at.least(2);
    for (const payload of PAYLOADS) {
      const calls = decodedForms(payload.text).some(
        (form) => form.includes(`__xssHit(${payload.id})`) || form.includes(`__xss=${payload.id}`),
      );
      expect(calls, `payload ${payload.id} tries to set the flag`).to.equal(true);
    }
    // Positive controls: markup made from a payload does run here (no CSP hides a hit), and the
    // DOM check flags what it should.
    const probe = document.createElement('div');
    document.body.append(probe);
    probe.innerHTML = '<img src=x onerror="__xssHit(-1)">';
    await until(() => hits.includes(-1), 'the control payload to run');
    probe.remove();
    hits.length = 0;
    const host = document.createElement('div');
    host.attachShadow({ mode: 'open' }).innerHTML =
      '<p class="text"><svg></svg><b onclick="__xssHit(-2)">x</b><a href="javascript:void 0">y</a></p>';
    const problems = domProblems(host).join('\n');
    for (const expected of [
      'unexpected <svg>',
      'foreign-namespace <svg>',
      'unexpected <b>',
      'event-handler attribute onclick',
      'link to "javascript:void 0"',
      'markup inside message text',
    ]) {
      expect(problems).to.include(expected);
    }
    assertNothingRan('the corpus checks');
  });

  it('refuses every payload the username, room, name and message rules do not allow: INVALID_FIELD or EMPTY_FIELD, in the SDK and at the relay', async () => {
    const raw = await RawRelay.open(wsUrl);
    // A client with no session: the SDK checks fields before it sends (or hashes) anything.
    const anon = new SovClient({ relay, storage: memoryStorage() });
    clients.push(anon);
    const inputs = [...PAYLOADS.map((payload) => payload.text), ...BLANKS];
    const accepted = {
      username: [] as string[],
      room: [] as string[],
      name: [] as string[],
      text: [] as string[],
    };
    for (const input of inputs) {
      const what = show(input);

      const user = usernameVerdict(input);
      const salt = await raw.ask({ type: 'salt', username: input });
      if (user.ok) {
        accepted.username.push(input);
        expect(salt.error?.field, `relay refused username ${what}`).to.not.equal('username');
      } else {
        expectRelayRefusal(salt, user, 'username', `username ${what}`);
        await expectSdkRefusal(
          anon.login({ username: input, password: PASSWORD }),
          user,
          'username',
          `username ${what} (login)`,
        );
        await expectSdkRefusal(anon.updateProfile({ username: input }), user, 'username', `username ${what} (profile)`);
      }

      const room = roomVerdict(input);
      const join = await raw.ask({ type: 'join', room: input });
      if (room.ok) {
        accepted.room.push(input);
        expect(join.error?.code, `relay on room ${what}`).to.equal('NOT_AUTHENTICATED');
      } else {
        expectRelayRefusal(join, room, 'room', `room ${what}`);
        await expectSdkRefusal(anon.join(input), room, 'room', `room ${what}`);
      }

      const name = nameVerdict(input);
      if (name.ok) accepted.name.push(input);
      for (const field of ['firstName', 'lastName'] as const) {
        // A registration whose other fields are fine up to `kdf`: the relay names the first bad field.
        const register = await raw.ask({
          type: 'register',
          username: 'valid.name',
          firstName: 'Ok',
          lastName: 'Ok',
          [field]: input,
        });
        if (name.ok) {
          expect(register.error, `relay on ${field} ${what}`).to.deep.include({
            code: 'INVALID_FIELD',
            field: 'kdf',
          });
        } else {
          expectRelayRefusal(register, name, field, `${field} ${what}`);
          await expectSdkRefusal(anon.updateProfile({ [field]: input }), name, field, `${field} ${what} (profile)`);
          const registration = {
            username: 'valid.name',
            password: PASSWORD,
            firstName: 'Ok',
            lastName: 'Ok',
            [field]: input,
          };
          await expectSdkRefusal(anon.register(registration), name, field, `${field} ${what} (register)`);
        }
      }

      const text = textVerdict(input);
      const send = await raw.ask({
        type: 'send',
        room: 'general',
        author: 1,
        cid: 'abcdefgh',
        ts: 0,
        text: input,
        sig: 'x',
      });
      if (text.ok) {
        accepted.text.push(input);
        expect(send.error, `relay on text ${what}`).to.deep.include({
          code: 'INVALID_FIELD',
          field: 'sig',
        });
      } else {
        expectRelayRefusal(send, text, 'text', `text ${what}`);
      }
    }

    // The payload-like names the rules do allow are allowed at the relay too.
    for (const input of [
      ...ALLOWED_USERNAMES.map((name) => `${name}-${uniqueName('').slice(-4)}`),
      ...PROTOTYPE_USERNAMES,
    ]) {
      expect(usernameVerdict(input).ok, input).to.equal(true);
      const salt = await raw.ask({ type: 'salt', username: input });
      expect(salt.error?.field, `relay on username ${input}`).to.not.equal('username');
    }
    for (const input of ALLOWED_ROOMS) {
      expect(roomVerdict(input).ok, input).to.equal(true);
      expect((await raw.ask({ type: 'join', room: input })).error?.code, `relay on room ${input}`).to.equal(
        'NOT_AUTHENTICATED',
      );
    }
    raw.close();
    // No markup payload is a valid username or room name; most are valid names and texts.
    expect(accepted.username, 'payloads accepted as usernames').to.deep.equal([]);
    expect(accepted.room, 'payloads accepted as room names').to.deep.equal([]);
    expect(accepted.name.length).to.be.at.least(PAYLOADS.length * 0.6);
    // Texts are refused only for a NUL (a control character), a lone surrogate, or over 4,000 characters.
    const badTexts = PAYLOADS.filter(
      (payload) => payload.text.includes('\u0000') || !payload.text.isWellFormed() || payload.text.length > 4000,
    );
    expect(accepted.text).to.deep.equal(
      PAYLOADS.filter((payload) => !badTexts.includes(payload)).map((payload) => payload.text),
    );
    assertNothingRan('the refusals');
  });
});

describe('XSS payloads rendered by <sov-chat>', function () {
  this.timeout(120_000);

  interface Person {
    client: SovClient;
  }
  const ROOM = uniqueName('xss');
  let viewer: Person;
  let authors: Person[];
  let chat: SovChat;
  /** Every display name any user had: a notice may only ever name one of these. */
  const everyName = new Set<string>();
  /** Texts sent to ROOM, in order. */
  const sent: string[] = [];

  const root = () => chat.shadowRoot!;
  const view = () => root().querySelector('sov-chat-room') as SovChatRoom;
  const roster = () => root().querySelector('sov-roster')!;
  const profile = () => root().querySelector('sov-profile') as SovProfile;
  const list = () => view().shadowRoot!.querySelector<HTMLElement>('.list')!;
  const rows = () => [...view().shadowRoot!.querySelectorAll<HTMLLIElement>('li[data-key]')];
  const composer = () => view().shadowRoot!.querySelector('textarea')!;
  const sendButton = () => view().shadowRoot!.querySelector<HTMLButtonElement>('form button[type=submit]')!;
  const avatarText = (avatar: Element | null | undefined) =>
    avatar?.shadowRoot?.querySelector('span[part=image]')?.textContent ?? null;
  const rosterEntries = () =>
    [...roster().shadowRoot!.querySelectorAll('li')].map((item) => ({
      name: item.querySelector('.name')?.textContent ?? '',
      username: item.querySelector('.username')?.textContent ?? '',
      initial: avatarText(item.querySelector('sov-avatar')),
    }));
  const names = () =>
    new Map([viewer, ...authors].map((person) => [person.client.user!.id, displayName(person.client.user!)]));

  async function person(firstName: string): Promise<Person> {
    const client = new SovClient({ relay, storage: memoryStorage() });
    clients.push(client);
    await client.register({
      username: uniqueName('xss'),
      password: PASSWORD,
      firstName,
      lastName: 'Test',
    });
    return { client };
  }

  async function scrollList(top: number): Promise<void> {
    list().scrollTop = top;
    list().dispatchEvent(new Event('scroll'));
    await settle(view());
  }

  /** Checks one rendered row of the message list; returns what it shows. */
  function inspectRow(item: HTMLLIElement): {
    kind: 'message' | 'notice';
    key: string;
    text: string;
  } {
    const key = item.dataset.key!;
    const where = `row ${key}`;
    if (item.classList.contains('notice')) {
      const text = item.textContent!;
      expect(item.childElementCount, `markup in notice ${show(text)}`).to.equal(0);
      const match = /^([\s\S]*) (joined|left)$/.exec(text);
      expect(match !== null && everyName.has(match[1]!), `notice ${show(text)} names someone`).to.equal(true);
      return { kind: 'notice', key, text };
    }
    const authorId = Number(/^m(\d+):/.exec(key)![1]);
    const author = item.querySelector('.author')!;
    expect(author.childElementCount, `markup in author name (${where})`).to.equal(0);
    expect(author.textContent, `author name (${where})`).to.equal(names().get(authorId));
    expect(avatarText(item.querySelector('sov-avatar')), `author initial (${where})`).to.equal(
      initialOf(names().get(authorId)!),
    );
    const textElement = item.querySelector('.text')!;
    const text = textElement.textContent!;
    expect(sent, `${where} shows a text that was sent, exactly`).to.include(text);
    expect(deepText(item), where).to.include(text);
    const links = [...textElement.querySelectorAll('a')];
    for (const link of links) {
      expect(linkProblems(link), where).to.deep.equal([]);
      expect(text, where).to.include(link.getAttribute('href')!);
    }
    expect(links.length > 0, `${show(text)} has a link exactly when it holds an http(s) URL`).to.equal(
      /https?:\/\/[^\s<>"]/.test(text),
    );
    expect(
      [...textElement.children].every((child) => child.localName === 'a'),
      `markup in ${show(text)}`,
    ).to.equal(true);
    expect(item.classList.contains('unverified'), `${where} verified`).to.equal(false);
    return { kind: 'message', key, text };
  }

  before(async () => {
    const people = await Promise.all(['Viewer', 'Author one', 'Author two', 'Author three'].map(person));
    viewer = people[0]!;
    authors = people.slice(1);
    for (const person of [viewer, ...authors]) everyName.add(displayName(person.client.user!));
    chat = document.createElement('sov-chat') as SovChat;
    chat.client = viewer.client;
    chat.setAttribute('room', ROOM);
    chat.style.height = '560px';
    chat.style.width = '760px';
    document.body.append(chat);
    await until(() => view()?.shadowRoot?.textContent?.includes('No messages yet'), 'the empty room');
    await until(() => rosterEntries().length === 1, 'the roster');
  });

  after(() => {
    chat?.remove();
  });

  it('shows every name payload, as first and as last name, in the top bar, the profile dialog, the roster and the avatar, as typed', async () => {
    const nameInputs = PAYLOADS.map((payload) => ({
      payload: payload.text,
      verdict: nameVerdict(payload.text),
    })).filter((entry) => entry.verdict.ok);
    const values = nameInputs.map((entry) => (entry.verdict as { value: string }).value);
    const suffix = uniqueName('').slice(-4);
    const usernames = [...ALLOWED_USERNAMES.map((name) => `${name}-${suffix}`), ...PROTOTYPE_USERNAMES];
    const me = () => root().querySelector<HTMLButtonElement>('button.me')!;
    const dialog = () => root().querySelector('dialog')!;
    const profileInput = (name: string) =>
      profile().shadowRoot!.querySelector<HTMLInputElement>(`input[name=${name}]`)!.value;
    me().click();
    await until(
      () => dialog().open && profile().shadowRoot?.querySelector('input[name=firstName]'),
      'the profile dialog',
    );

    for (let i = 0; i < nameInputs.length; i++) {
      const first = nameInputs[i]!;
      const last = nameInputs[(i + 1) % nameInputs.length]!;
      const username = usernames[i];
      const saved = await viewer.client.updateProfile({
        firstName: first.payload,
        lastName: last.payload,
        ...(username ? { username } : {}),
      });
      // The relay stores names trimmed and NFKC-normalized, nothing else.
      expect(saved.firstName, `first name ${show(first.payload)}`).to.equal(values[i]);
      expect(saved.lastName, `last name ${show(last.payload)}`).to.equal(values[(i + 1) % values.length]);
      if (username) expect(saved.username).to.equal((usernameVerdict(username) as { value: string }).value);
      const name = displayName(saved);
      everyName.add(name);
      const where = `viewer named ${show(name)} @${saved.username}`;
      await until(
        () =>
          root().querySelector('.me > span')?.textContent === name &&
          profileInput('firstName') === saved.firstName &&
          profileInput('lastName') === saved.lastName &&
          profileInput('username') === saved.username &&
          rosterEntries()[0]?.name === `${name} @${saved.username}` &&
          avatarText(me().querySelector('sov-avatar')) === initialOf(name),
        where,
      );
      await settle(profile());
      expect(me().getAttribute('aria-label'), where).to.equal(`${name}: Edit your profile`);
      expect(rosterEntries(), where).to.deep.equal([
        {
          name: `${name} @${saved.username}`,
          username: `@${saved.username}`,
          initial: initialOf(name),
        },
      ]);
      expect(avatarText(profile().shadowRoot!.querySelector('sov-avatar')), where).to.equal(initialOf(name));
      const text = deepText(chat);
      expect(text.includes(name) && text.includes(`@${saved.username}`), `${where}: reads as typed`).to.equal(true);
      assertSafe(chat, where);
    }
    const close = [...profile().shadowRoot!.querySelectorAll('button')].find(
      (button) => button.textContent?.trim() === 'Close',
    )!;
    close.click();
    await until(() => !dialog().open, 'the dialog closing');
    await quiesce(chat);
    assertSafe(chat, 'after every name in the top bar');
  });

  it('shows every message payload, and name payloads as authors, in messages, notices, the roster and the live region, as typed', async () => {
    const viewerRoom = await viewer.client.join(ROOM);
    // Texts the rules refuse: the SDK rejects them and the composer says so; nothing is sent.
    for (const payload of PAYLOADS) {
      const verdict = textVerdict(payload.text);
      if (verdict.ok) continue;
      await expectSdkRefusal(viewerRoom.send(payload.text), verdict, 'text', `text ${show(payload.text)}`);
      fill(composer(), payload.text);
      expect(composer().value, 'the composer holds the payload').to.equal(payload.text);
      sendButton().click();
      await until(
        () => view().shadowRoot!.querySelector('.composer-error')?.textContent === 'This value is not allowed.',
        `the composer refusing ${show(payload.text)}`,
      );
      assertSafe(chat, `composer refusing ${show(payload.text)}`);
    }
    fill(composer(), '');
    expect(viewerRoom.messages.length, 'nothing refused was sent').to.equal(0);

    const texts = PAYLOADS.map((payload) => payload.text).filter((text) => textVerdict(text).ok);
    const nameInputs = PAYLOADS.map((payload) => payload.text).filter((text) => nameVerdict(text).ok);
    const perBatch = 7;
    const batches = Math.max(Math.ceil(texts.length / perBatch), Math.ceil(nameInputs.length / (authors.length * 2)));
    const authorRooms: Array<Room | null> = authors.map(() => null);
    let previousNames: string[] = [];
    let nameCursor = 0;

    for (let batch = 0; batch < batches; batch++) {
      const batchTexts = texts.slice(batch * perBatch, (batch + 1) * perBatch);
      // Leave, take the next names, come back: notices show the old names leaving, the new ones joining.
      await Promise.all(authors.map((author, k) => (authorRooms[k] ? author.client.leave(ROOM) : undefined)));
      const changes = authors.map(() => ({
        firstName: nameInputs[nameCursor++ % nameInputs.length]!,
        lastName: nameInputs[nameCursor++ % nameInputs.length]!,
      }));
      const saved = await Promise.all(authors.map((author, k) => author.client.updateProfile(changes[k]!)));
      saved.forEach((profile, k) => {
        expect(profile.firstName).to.equal((nameVerdict(changes[k]!.firstName) as { value: string }).value);
        expect(profile.lastName).to.equal((nameVerdict(changes[k]!.lastName) as { value: string }).value);
      });
      const batchNames = saved.map(displayName);
      for (const name of batchNames) everyName.add(name);
      for (let k = 0; k < authors.length; k++) authorRooms[k] = await authors[k]!.client.join(ROOM);

      // The first text through the viewer's composer, the rest from the authors through the SDK.
      let lastOther: { name: string; text: string } | null = null;
      for (const [j, text] of batchTexts.entries()) {
        sent.push(text);
        if (j === 0) {
          fill(composer(), text);
          expect(composer().value, 'the composer holds the payload').to.equal(text);
          sendButton().click();
          await until(
            () => viewerRoom.messages.some((message) => message.text === text && message.state === 'sent'),
            `the viewer's ${show(text)}`,
          );
        } else {
          const k = (j - 1) % authors.length;
          await authorRooms[k]!.send(text);
          lastOther = { name: batchNames[k]!, text };
        }
      }
      await until(
        () =>
          batchTexts.every((text) =>
            viewerRoom.messages.some(
              (message) => message.text === text && message.state === 'sent' && message.verified,
            ),
          ),
        `batch ${batch} at the viewer`,
      );
      const expectedRoster = [displayName(viewer.client.user!), ...batchNames]
        .map((name, index) => `${name} @${[viewer, ...authors][index]!.client.user!.username}`)
        .sort();
      await until(
        () =>
          JSON.stringify(
            rosterEntries()
              .map((entry) => entry.name)
              .sort(),
          ) === JSON.stringify(expectedRoster),
        `the roster of batch ${batch}`,
      );
      for (const entry of rosterEntries())
        expect(entry.initial).to.equal(initialOf(entry.name.slice(0, entry.name.lastIndexOf(' @'))));
      if (lastOther) {
        const expected = `${lastOther.name}: ${lastOther.text}`;
        await until(
          () => view().shadowRoot!.querySelector('div[aria-live]')?.textContent === expected,
          `the live region of batch ${batch}`,
        );
      }
      await settle(view());

      // Every message and notice of this batch, found by scrolling up from the newest.
      const wantedTexts = new Set(batchTexts);
      const wantedNotices = new Set([
        ...batchNames.map((name) => `${name} joined`),
        ...previousNames.map((name) => `${name} left`),
      ]);
      await scrollList(list().scrollHeight);
      for (let guard = 0; guard < 400 && (wantedTexts.size > 0 || wantedNotices.size > 0); guard++) {
        for (const item of rows()) {
          const row = inspectRow(item);
          (row.kind === 'message' ? wantedTexts : wantedNotices).delete(row.text);
        }
        assertSafe(chat, `batch ${batch}`);
        if (list().scrollTop <= 0) break;
        await scrollList(Math.max(0, list().scrollTop - list().clientHeight * 0.8));
      }
      expect([...wantedTexts].map(show), `batch ${batch}: messages never rendered`).to.deep.equal([]);
      expect([...wantedNotices].map(show), `batch ${batch}: notices never rendered`).to.deep.equal([]);
      await scrollList(list().scrollHeight);
      previousNames = batchNames;
    }
    expect(nameCursor, 'every name payload was an author name').to.be.at.least(nameInputs.length);

    // Last, the whole history from the top: every text rendered exactly once, exactly as typed.
    await Promise.all(authors.map((author) => author.client.leave(ROOM)));
    await until(() => rosterEntries().length === 1, 'the authors leaving');
    const shown = new Map<string, string>();
    await scrollList(0);
    for (let guard = 0; guard < 1000; guard++) {
      for (const item of rows()) {
        const row = inspectRow(item);
        if (row.kind === 'message') shown.set(row.key, row.text);
      }
      assertSafe(chat, 'the full history');
      if (list().scrollTop + list().clientHeight >= list().scrollHeight - 1) break;
      await scrollList(list().scrollTop + list().clientHeight * 0.8);
    }
    expect([...shown.values()].sort()).to.deep.equal([...sent].sort());
    expect(sent.length).to.equal(texts.length);
    await scrollList(list().scrollHeight);
    await quiesce(chat);
    assertSafe(chat, 'after every message');
  });

  it('switches to the payload-like room names the rules allow, and refuses every payload in the room field', async () => {
    const input = root().querySelector<HTMLInputElement>('input#room')!;
    const go = root().querySelector<HTMLButtonElement>('.room-form button[type=submit]')!;
    const texts = PAYLOADS.map((payload) => payload.text).filter((text) => textVerdict(text).ok);
    const poster = authors[0]!;
    for (const [i, name] of ALLOWED_ROOMS.entries()) {
      const verdict = roomVerdict(name);
      if (!verdict.ok) throw new Error(`${name} should be allowed`);
      fill(input, name);
      go.click();
      await until(
        () =>
          chat.getAttribute('room') === verdict.value &&
          view().getAttribute('room') === verdict.value &&
          roster().getAttribute('room') === verdict.value,
        `the switch to ${name}`,
      );
      expect(root().querySelector('[role=alert]'), `no error for ${name}`).to.equal(null);
      const room = await poster.client.join(verdict.value);
      const text = texts[(i * 11 + 5) % texts.length]!;
      sent.push(text);
      await room.send(text);
      await until(
        () => rows().some((item) => item.querySelector('.text')?.textContent === text),
        `${show(text)} in room ${name}`,
      );
      await until(() => rosterEntries().length === 2, `the roster of ${name}`);
      await settle(view());
      for (const item of rows()) inspectRow(item);
      assertSafe(chat, `room ${name}`);
      await poster.client.leave(verdict.value);
    }

    const current = chat.getAttribute('room');
    for (const typed of [...PAYLOADS.map((payload) => payload.text), ...BLANKS]) {
      fill(input, typed);
      // What the field holds (text inputs drop line breaks) is what is checked.
      const verdict = roomVerdict(input.value);
      if (verdict.ok) throw new Error(`${show(input.value)} should be refused as a room name`);
      go.click();
      await settle(chat);
      expect(root().querySelector('[role=alert]')?.textContent, `the room field refusing ${show(typed)}`).to.equal(
        verdict.code === 'EMPTY_FIELD' ? 'Fill in this field.' : 'This value is not allowed.',
      );
      expect(chat.getAttribute('room')).to.equal(current);
      expect(view().getAttribute('room')).to.equal(current);
      assertSafe(chat, `room field ${show(typed)}`);
    }
    await quiesce(chat);
    assertSafe(chat, 'after every room');
  });

  it('after everything: nothing ran, nothing was added to the page, no on* attribute anywhere', async () => {
    await quiesce(chat);
    assertNothingRan('the end');
    expect(document.querySelectorAll(DOCUMENT_LEVEL).length, 'frames, bases, refreshes').to.equal(
      baseline.documentLevel,
    );
    const handlers = [...deep(document)].flatMap((element) =>
      element
        .getAttributeNames()
        .filter((name) => /^on/i.test(name))
        .map((name) => `${locate(element)} ${name}`),
    );
    expect(handlers).to.deep.equal([]);
  });
});
