/**
 * <sov-chat-room> in real Chromium against the real relay: sending with the keyboard, signatures shown,
 * joins and leaves, a long history rendered in a window, older pages, failed and pending messages, scrolling.
 */
import { expect } from '@esm-bundle/chai';
import { sendKeys } from '@web/test-runner-commands';
import { SovClient } from '../../../sdk/client.ts';
import { memoryStorage } from '../../../sdk/storage.ts';
import type { CachedRoom, ClientMessage } from '../../../sdk/room.ts';
import type { ChatMessage } from '../../../sdk/protocol.ts';
import type { SovChatRoom } from '../../../web-components/sov-chat-room/sov-chat-room.ts';
import { operatorAccount } from '../forgery.ts';
import { hostileNetwork } from '../hostile-network.ts';
import { forgedRelay, relayInfo, uniqueName } from '../relay.ts';
import { button, field, fill, text } from '../shadow-queries.ts';
import { until } from '../until.ts';
import { PASSWORD, closedAfterTest, mount, person, setUpComponentTests } from './component-page.ts';

setUpComponentTests();

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
    await until(
      () => rows(view).some((row) => row.querySelector('[aria-label="Signed by the author"]')),
      'the sent message',
    );
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

  it("shows joins and leaves inline, announces others' messages, and keeps names and links as text", async () => {
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
    const key = await until(
      async () => (await storage.keys('')).find((name) => name.endsWith(`|room|${room}`)),
      'the history cache',
    );
    // Fill the offline history cache (what a long-running client would have) with 10,000 messages.
    const cached = (await storage.get<CachedRoom>(key))!;
    const template = cached.messages[0]!;
    const messages: ClientMessage[] = Array.from({ length: 10_000 }, (_, index) => ({
      ...template,
      seq: index + 1,
      cid: `c${index}`,
      text: `message ${index + 1}${index % 7 === 0 ? '\nwith a second line' : ''}`,
    }));
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
      const unsigned = {
        room,
        author: author.user.id,
        cid: `paged-${i}-${room}`,
        ts: Date.now() - (61 - i) * 1000,
        text: `older ${i}`,
      };
      stored.push({ ...unsigned, sig: await author.sign(unsigned) });
    }
    // A third of 12,288 bytes per reply: about a dozen of these messages a page.
    const budgeted = await forgedRelay(stored, 12_288);
    const network = hostileNetwork();
    const reader = closedAfterTest(
      new SovClient({
        relay: budgeted.url,
        storage: memoryStorage(),
        WebSocket: network.WebSocket,
        requestTimeoutMs: 2000,
      }),
    );
    await reader.register({
      username: uniqueName('reader'),
      password: PASSWORD,
      firstName: 'Рита',
      lastName: 'Читатель',
    });
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
    await until(
      () => text(view.shadowRoot!).includes('The chat server did not answer in time.'),
      'the error in the line',
    );
    expect(joined.messages.length).to.equal(firstPage);
    network.frozen = false;

    // The reader scrolls again: the page before comes in above, and the row at the top stays where it was.
    const topRow = () =>
      rows(view).find((row) => row.getBoundingClientRect().bottom > list.getBoundingClientRect().top + 1)!;
    scrollTo(1);
    const anchor = topRow();
    const [anchorText, anchorTop] = [anchor.querySelector('.text')!.textContent, anchor.getBoundingClientRect().top];
    await until(() => joined.messages.length > firstPage && !joined.loadingOlder, 'the older page');
    const anchored = () => rows(view).find((row) => row.querySelector('.text')!.textContent === anchorText);
    await until(
      () => Math.abs((anchored()?.getBoundingClientRect().top ?? Infinity) - anchorTop) < 2,
      `"${anchorText}" back at ${anchorTop} px`,
      2000,
    );

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
    expect(rows(view).filter((item) => item.textContent!.includes('my clock is wrong')).length, 'shown once').to.equal(
      1,
    );
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
    await until(
      () =>
        rows(view).some(
          (item) =>
            item.textContent!.includes('held back') && item.querySelector('[aria-label="Signed by the author"]'),
        ),
      'the message sent after rejoining',
    );
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
    await until(
      () =>
        button(view.shadowRoot!, 'New messages') === null && list.scrollHeight - list.scrollTop - list.clientHeight < 5,
      'the jump to the newest',
    );
  });
});
