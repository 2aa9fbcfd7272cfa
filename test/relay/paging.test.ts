/**
 * History and online lists in pages (issue 10 point 2): a censoring network freezes a connection
 * after about 16 KB from the server, so under `--conn-budget B` no reply may be larger than B/3.
 * Join replies carry one page, `history` fetches the pages before and after, `online` pages
 * profiles by id, and a message too big for a page is refused at send. Every frame a client
 * receives is measured here, raw, off its WebSocket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { largestFrameBytes, maxMessageBytes, storedMessageBytes } from '../../sdk/protocol/budget.ts';
import type { ChatMessage } from '../../sdk/protocol.ts';
import { LIMITS } from '../../sdk/protocol.ts';
import { TestClient, registerUser, signMessage, uniqueName } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { writeHistory } from '../helpers/write-history.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const BUDGET = 12_288;
const KEPT = 80;
const WRITTEN = 100;

/** A connection that records the size of every frame it receives. */
async function measured(relay: RelayProcess): Promise<{ client: TestClient; frames: number[] }> {
  const client = await TestClient.connect(relay.wsUrl);
  client.socket.on('error', () => {});
  const frames: number[] = [];
  client.socket.on('message', (data: Buffer) => frames.push(data.length));
  return { client, frames };
}

/** A fresh connection of `user` (one budget's worth of bytes), in `room` without its history or members. */
async function freshIn(
  relay: RelayProcess,
  user: TestUser,
  room: string,
): Promise<{ client: TestClient; frames: number[] }> {
  const connection = await measured(relay);
  await connection.client.call('resume', { token: user.session.token });
  await connection.client.call('join', { room, limit: 0, members: false });
  return connection;
}

const seqs = (messages: ChatMessage[]): number[] => messages.map((message) => message.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe(`a relay with --conn-budget ${BUDGET}: pages of a third of it`, () => {
  let relay: RelayProcess;
  let writer: TestUser;
  const room = uniqueName('paged');
  const largest = largestFrameBytes(BUDGET);

  before(async () => {
    const args = ['--conn-budget', String(BUDGET), '--history', String(KEPT)];
    const first = await startRelay({ args });
    const { client } = await measured(first);
    writer = await registerUser(client);
    await client.close();
    assert.equal(await first.stop(), 0);
    // 100 messages of about 300 bytes each: 30 KB, ten largest frames' worth.
    await writeHistory(
      first.dataDir,
      range(1, WRITTEN).map((n) => signMessage(writer, room, `message ${n} ${'·'.repeat(100)}`)),
    );
    relay = await startRelay({ dataDir: first.dataDir, args });
  });
  after(() => relay?.stop());

  test('hello announces the largest message it stores: a page less its envelope', async () => {
    const { client } = await measured(relay);
    const hello = client.events.find((event) => event.ev === 'hello')!;
    assert.equal(hello.limits.maxMessageBytes, maxMessageBytes(BUDGET));
    assert.ok(maxMessageBytes(BUDGET) < largest);
    await client.close();
  });

  test('a first join carries the newest messages that fit, says older ones are kept, and fits the largest frame', async () => {
    const { client, frames } = await measured(relay);
    await client.call('resume', { token: writer.session.token });
    const joined = await client.call('join', { room });
    assert.deepEqual(Object.keys(joined).sort(), [
      'gap',
      'memberSeq',
      'messages',
      'more',
      'older',
      'online',
      'onlineNext',
      'room',
      'seq',
    ]);
    assert.equal(joined.seq, WRITTEN);
    assert.ok(
      joined.messages.length > 1 && joined.messages.length < 20,
      `${joined.messages.length} messages in the page`,
    );
    assert.deepEqual(seqs(joined.messages), range(WRITTEN - joined.messages.length + 1, WRITTEN));
    assert.deepEqual([joined.older, joined.more, joined.gap], [true, false, false]);
    assert.deepEqual(
      joined.online.map((user: { id: number }) => user.id),
      [writer.profile.id],
    );
    assert.equal(joined.onlineNext, null);
    assert.ok(Math.max(...frames) <= largest, `largest frame ${Math.max(...frames)} B`);
    await client.close();
  });

  test('history before walks back page by page to the oldest kept message: complete, in order, once, each frame within a third of the budget', async () => {
    let cursor = WRITTEN + 1;
    const read: number[] = [];
    let more = true;
    while (more) {
      const { client, frames } = await freshIn(relay, writer, room);
      const page = await client.call('history', { room, before: cursor });
      assert.ok(page.messages.length > 0, 'a page is never empty while messages remain');
      assert.ok(Math.max(...frames) <= largest, `largest frame ${Math.max(...frames)} B`);
      read.unshift(...seqs(page.messages));
      cursor = page.messages[0].seq;
      more = page.more;
      await client.close();
    }
    assert.deepEqual(read, range(WRITTEN - KEPT + 1, WRITTEN));
  });

  test('join with after gives the oldest page after it and more; history after goes on to the newest', async () => {
    const { client, frames } = await freshIn(relay, writer, room);
    const resumed = await client.call('join', {
      room,
      after: 30,
      members: false,
    });
    assert.deepEqual([resumed.gap, resumed.more, resumed.older], [false, true, false]);
    assert.equal(resumed.messages[0].seq, 31);
    assert.deepEqual(resumed.online, []);
    const read = seqs(resumed.messages);
    await client.close();
    let more: boolean = resumed.more;
    while (more) {
      const next = await freshIn(relay, writer, room);
      const page = await next.client.call('history', {
        room,
        after: read.at(-1),
      });
      read.push(...seqs(page.messages));
      more = page.more;
      frames.push(...next.frames);
      await next.client.close();
    }
    assert.deepEqual(read, range(31, WRITTEN));
    assert.ok(Math.max(...frames) <= largest, `largest frame ${Math.max(...frames)} B`);
  });

  test('a resume from before the kept history is told of the gap and starts at the oldest kept message', async () => {
    const { client } = await freshIn(relay, writer, room);
    const resumed = await client.call('join', {
      room,
      after: 5,
      members: false,
    });
    assert.deepEqual([resumed.gap, resumed.more], [true, true]);
    assert.equal(resumed.messages[0].seq, WRITTEN - KEPT + 1);
    const upToDate = await client.call('join', {
      room,
      after: WRITTEN,
      members: false,
    });
    assert.deepEqual([upToDate.gap, upToDate.more, upToDate.messages], [false, false, []]);
    await client.close();
  });

  test('send refuses MESSAGE_TOO_BIG for a message whose stored form would not fit a page, and takes one that does', async () => {
    const { client } = await freshIn(relay, writer, room);
    const big = signMessage(writer, room, 'Ж'.repeat(2000));
    assert.ok(storedMessageBytes(big) > maxMessageBytes(BUDGET));
    const refused = await client.request('send', big);
    assert.equal(refused.error?.code, 'MESSAGE_TOO_BIG');
    assert.equal(refused.error?.field, 'text');
    const fits = signMessage(
      writer,
      room,
      'x'.repeat(maxMessageBytes(BUDGET) - storedMessageBytes(signMessage(writer, room, ''))),
    );
    assert.equal(storedMessageBytes(fits), maxMessageBytes(BUDGET));
    const { seq } = await client.call('send', fits);
    await client.close();
    const reader = await freshIn(relay, writer, room);
    const page = await reader.client.call('history', { room, before: seq + 1 });
    assert.deepEqual(seqs(page.messages), [seq], 'a message that fills a page goes alone');
    assert.ok(Math.max(...reader.frames) <= largest, `largest frame ${Math.max(...reader.frames)} B`);
    await reader.client.close();
  });

  test('who is online comes in pages by id: a quarter of the join page, then online pages, in the room and on the relay', async () => {
    const where = uniqueName('crowd');
    const people: TestUser[] = [];
    const connections: TestClient[] = [];
    // 12 in the room, 25 on the relay: each of them gets the others' presence and join events, under 9 KB.
    for (let i = 0; i < 25; i++) {
      const { client } = await measured(relay);
      connections.push(client);
      people.push(await registerUser(client));
      if (i < 12) await client.call('join', { room: where });
    }
    const roomIds = people
      .slice(0, 12)
      .map((user) => user.profile.id)
      .sort((a, b) => a - b);
    const { client, frames } = await measured(relay);
    await client.call('resume', { token: people[0]!.session.token });
    const joined = await client.call('join', { room: where, limit: 0 });
    const ids = (users: { id: number }[]) => users.map((user) => user.id);
    assert.ok(
      joined.online.length > 0 && joined.online.length < 12,
      `${joined.online.length} profiles in the join reply`,
    );
    assert.equal(joined.onlineNext, ids(joined.online).at(-1));
    const inRoom = ids(joined.online);
    for (let next = joined.onlineNext; next !== null; ) {
      const page = await client.call('online', { room: where, after: next });
      inRoom.push(...ids(page.users));
      next = page.next;
    }
    assert.deepEqual(inRoom, roomIds);
    await client.close();

    const wide = await measured(relay);
    await wide.client.call('resume', { token: people[0]!.session.token });
    const everyone: number[] = [];
    let pages = 0;
    for (let after = 0; after !== null; pages++) {
      const page = await wide.client.call('online', { after });
      everyone.push(...ids(page.users));
      after = page.next;
    }
    assert.ok(pages > 1, `${pages} pages`);
    assert.deepEqual(
      everyone,
      [...everyone].sort((a, b) => a - b),
    );
    assert.ok(people.every((user) => everyone.includes(user.profile.id)));
    assert.ok(Math.max(...frames, ...wide.frames) <= largest, `largest frame ${Math.max(...frames, ...wide.frames)} B`);
    await wide.client.close();
    for (const connection of connections) await connection.close();
  });
});

describe('a relay without a budget', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay({ args: ['--history', '50'] });
  });
  after(() => relay.stop());

  test('a join carries all kept history in one page, limit bounds it, and history pages around it', async () => {
    const room = uniqueName('room');
    const { client } = await measured(relay);
    const user = await registerUser(client);
    await client.call('join', { room });
    for (let i = 1; i <= 60; i++) await client.call('send', signMessage(user, room, `n${i}`));
    const joined = await client.call('join', { room });
    assert.deepEqual(seqs(joined.messages), range(11, 60));
    assert.deepEqual(
      [joined.older, joined.more, joined.gap],
      [false, false, false],
      'trimmed messages are not kept, so not older',
    );
    const limited = await client.call('join', { room, limit: 10 });
    assert.deepEqual(seqs(limited.messages), range(51, 60));
    assert.equal(limited.older, true);
    const earlier = await client.call('history', {
      room,
      before: 51,
      limit: 30,
    });
    assert.deepEqual([seqs(earlier.messages), earlier.more], [range(21, 50), true]);
    const first = await client.call('history', { room, before: 21 });
    assert.deepEqual([seqs(first.messages), first.more], [range(11, 20), false]);
    const later = await client.call('history', { room, after: 0, limit: 5 });
    assert.deepEqual([seqs(later.messages), later.more], [range(11, 15), true]);
    const last = await client.call('history', { room, after: 55 });
    assert.deepEqual([seqs(last.messages), last.more], [range(56, 60), false]);
    await client.close();
  });

  test('members: false answers without the online list; history needs the room joined on this connection', async () => {
    const room = uniqueName('room');
    const { client } = await measured(relay);
    await registerUser(client);
    const quiet = await client.call('join', { room, members: false });
    assert.deepEqual([quiet.online, quiet.onlineNext], [[], null]);
    const elsewhere = await client.request('history', {
      room: uniqueName('other'),
      before: 10,
    });
    assert.equal(elsewhere.error?.code, 'NOT_IN_ROOM');
    await client.call('leave', { room });
    assert.equal((await client.request('history', { room, after: 0 })).error?.code, 'NOT_IN_ROOM');
    await client.close();
  });

  test('a 4,000-character message of two-byte letters is stored: without a budget message sizes are as before', async () => {
    const room = uniqueName('room');
    const { client } = await measured(relay);
    const hello = client.events.find((event) => event.ev === 'hello')!;
    assert.equal(hello.limits.maxMessageBytes, LIMITS.maxFrameBytes);
    const user = await registerUser(client);
    await client.call('join', { room });
    const { seq } = await client.call('send', signMessage(user, room, 'Ж'.repeat(LIMITS.maxTextLength)));
    assert.equal(seq, 1);
    await client.close();
  });
});
