/**
 * <sov-chat>, the whole chat, in real Chromium against the real relay: registration to sign-out in Russian,
 * several front doors, a reload, the HTTP fallback, manners towards the host page, themes and styling.
 */
import { expect } from '@esm-bundle/chai';
import { sendKeys } from '@web/test-runner-commands';
import { SovClient } from '../../../sdk/client.ts';
import { indexedDbStorage } from '../../../sdk/storage.ts';
import type { SovChat } from '../../../web-components/sov-chat/sov-chat.ts';
import { uniqueName } from '../relay.ts';
import { button, field, fill, text } from '../shadow-queries.ts';
import { until } from '../until.ts';
import {
  PASSWORD,
  closedAfterTest,
  mount,
  person,
  removedAfterTest,
  setUpComponentTests,
  testRelay,
} from './component-page.ts';

setUpComponentTests();

describe('<sov-chat>', function () {
  this.timeout(90_000);

  it('in Russian: registers, shows the top bar, follows the room switch, fires sov-* events, and Exit signs out', async () => {
    const events: string[] = [];
    for (const name of ['sov-login', 'sov-logout', 'sov-message'])
      document.addEventListener(name, () => events.push(name));
    const chat = mount<SovChat>('sov-chat', {}, { relay: testRelay(), lang: 'ru' });
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
    const dead = `${testRelay()}/no-door-${uniqueName()}`;
    const chat = mount<SovChat>('sov-chat', {}, { relay: ` ${dead}\n\t${testRelay()}/ `, lang: 'en' });
    const root = () => chat.shadowRoot!;
    await until(() => button(root(), 'Sign in') !== null, 'the login form');
    const client = chat.client!;
    const doors: string[] = [];
    client.on('door', (door) => doors.push(door));
    await client.register({
      username: uniqueName('doors'),
      password: PASSWORD,
      firstName: 'Anna',
      lastName: 'Door',
    });
    await until(() => button(root(), 'Exit') !== null, 'the chat');
    const live = testRelay().replace(/^http/, 'ws');
    expect(client.door).to.equal(live);
    expect(doors).to.deep.equal([live]);
  });

  it('stays signed in across a reload (a new <sov-chat> on the same IndexedDB)', async () => {
    const databaseName = uniqueName('db');
    const first = await person({ storage: indexedDbStorage(databaseName) });
    first.client.close();
    // What a reload amounts to: a fresh element and client over the stored session.
    const client = closedAfterTest(
      new SovClient({
        relay: testRelay(),
        storage: indexedDbStorage(databaseName),
      }),
    );
    const chat = mount<SovChat>('sov-chat', { client });
    await client.resume();
    await until(() => button(chat.shadowRoot!, 'Exit') !== null, 'the chat without a login');
    expect(button(chat.shadowRoot!, 'Edit your profile')!.textContent).to.include(first.name);
  });

  it('says in the state line, in Russian too, when the chat runs over the HTTP fallback', async () => {
    const databaseName = uniqueName('db');
    const first = await person({ storage: indexedDbStorage(databaseName) });
    first.client.close();
    const client = closedAfterTest(
      new SovClient({
        relay: testRelay(),
        storage: indexedDbStorage(databaseName),
        transport: 'http',
      }),
    );
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
    removedAfterTest(hostInput, spacer);
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
    style.textContent =
      'sov-chat { --sov-accent: rgb(0, 100, 0); } sov-chat::part(top-bar) { background: rgb(1, 2, 3); } sov-chat::part(composer) { border-top-color: rgb(4, 5, 6); }';
    document.head.append(style);
    removedAfterTest(style);
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
