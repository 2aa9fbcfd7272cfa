import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { signedBytes } from '../../sdk/protocol.ts';
import { TestClient, eventually, registerUser, signMessage, uniqueName } from '../helpers/client.ts';
import type { EventFrame, TestUser } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

async function loggedIn(relay: RelayProcess): Promise<{ client: TestClient; user: TestUser }> {
  const client = await TestClient.connect(relay.wsUrl);
  return { client, user: await registerUser(client) };
}

async function loginAgain(relay: RelayProcess, user: TestUser): Promise<TestClient> {
  const client = await TestClient.connect(relay.wsUrl);
  await client.call('resume', { token: user.session.token });
  return client;
}

describe('signed messages and rooms', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay({ args: ['--history', '50'] });
  });
  after(() => relay.stop());

  test('fans a signed message out unchanged to every member, and every receiver can verify it', async () => {
    const room = uniqueName('room');
    const [a, b, c] = await Promise.all([loggedIn(relay), loggedIn(relay), loggedIn(relay)]);
    for (const { client } of [a, b, c]) await client.call('join', { room });
    const message = signMessage(a.user, room, 'Привет, мир! 👋');
    const { seq } = await a.client.call('send', message);
    assert.equal(seq, 1);
    for (const { client } of [b, c, a]) {
      const event = await client.waitForEvent((e) => e.ev === 'message' && e.room === room);
      assert.deepEqual(event, { ev: 'message', ...message, seq: 1 });
      const { ev: _ev, seq: _seq, ...signed } = event;
      const key = crypto.createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: a.user.publicKey },
        format: 'jwk',
      });
      assert.ok(crypto.verify(null, signedBytes(signed as typeof message), key, Buffer.from(event.sig, 'base64url')));
    }
  });

  test('refuses a forged signature, another author, an unjoined room, a replayed id and a stale clock', async () => {
    const room = uniqueName('room');
    const a = await loggedIn(relay);
    const b = await loggedIn(relay);
    await a.client.call('join', { room });
    const refusal = async (fields: Record<string, unknown>) => (await a.client.request('send', fields)).error?.code;

    const forged = signMessage(a.user, room, 'hello');
    assert.equal(await refusal({ ...forged, text: 'hellO' }), 'BAD_SIGNATURE');
    assert.equal(await refusal(signMessage(b.user, room, 'not mine')), 'WRONG_AUTHOR');
    assert.equal(await refusal(signMessage(a.user, uniqueName('elsewhere'), 'hi')), 'NOT_IN_ROOM');
    assert.equal(await refusal(signMessage(a.user, room, 'old', { ts: Date.now() - 60 * 60 * 1000 })), 'CLOCK_SKEW');

    const original = signMessage(a.user, room, 'once');
    const { seq } = await a.client.call('send', original);
    const replay = await a.client.request('send', original);
    assert.equal(replay.error?.code, 'DUPLICATE_MESSAGE');
    assert.equal(replay.error?.seq, seq, 'the duplicate reply names the earlier copy so an outbox can settle');
    const history = await a.client.call('join', { room });
    assert.deepEqual(
      history.messages.map((m: { text: string }) => m.text),
      ['once'],
    );
  });

  test('a user with two tabs joins once and leaves when the last tab goes', async () => {
    const room = uniqueName('room');
    const watcher = await loggedIn(relay);
    await watcher.client.call('join', { room });
    const tab1 = await loggedIn(relay);
    const tab2 = await loginAgain(relay, tab1.user);
    await tab1.client.call('join', { room });
    const joined = await tab2.call('join', { room });
    assert.deepEqual(
      joined.online.map((u: { id: number }) => u.id).sort(),
      [watcher.user.profile.id, tab1.user.profile.id].sort(),
    );
    const mine = (ev: string) => (e: EventFrame) =>
      e.ev === ev && e.room === room && (e.userId ?? e.user?.id) === tab1.user.profile.id;
    await watcher.client.waitForEvent(mine('join'));

    await tab1.client.close();
    await watcher.client.call('ping');
    assert.equal(watcher.client.events.filter(mine('leave')).length, 0, 'still online in the second tab');
    await tab2.call('leave', { room });
    const leave = await watcher.client.waitForEvent(mine('leave'));
    // The room's third change: the watcher came (1), the user came with the first tab (2), and went (3); the second tab changed nothing.
    assert.deepEqual(leave, {
      ev: 'leave',
      room,
      userId: tab1.user.profile.id,
      memberSeq: 3,
    });
    assert.equal(watcher.client.events.filter(mine('join')).length, 1);
  });

  test('lists who is online in a room and on the whole relay, and announces presence', async () => {
    const room = uniqueName('room');
    const a = await loggedIn(relay);
    await a.client.call('join', { room });
    const b = await loggedIn(relay);
    await a.client.waitForEvent((e) => e.ev === 'presence' && e.userId === b.user.profile.id && e.online);
    const everywhere = await a.client.call('online');
    assert.ok(everywhere.users.some((u: { id: number }) => u.id === b.user.profile.id));
    const inRoom = await a.client.call('online', { room });
    assert.deepEqual(
      inRoom.users.map((u: { id: number }) => u.id),
      [a.user.profile.id],
    );
    await b.client.close();
    await a.client.waitForEvent((e) => e.ev === 'presence' && e.userId === b.user.profile.id && !e.online);
  });

  test('validates room names and normalizes case', async () => {
    const { client } = await loggedIn(relay);
    for (const bad of ['', '   ', 'a b', '<script>', 'x'.repeat(49), '../etc']) {
      const reply = await client.request('join', { room: bad });
      assert.ok(['INVALID_FIELD', 'EMPTY_FIELD'].includes(reply.error!.code), `room ${JSON.stringify(bad)}`);
    }
    const joined = await client.call('join', { room: 'Комната-1' });
    assert.equal(joined.room, 'комната-1');
  });

  test('resume by sequence number returns exactly the missed messages, in order', async () => {
    const room = uniqueName('room');
    const a = await loggedIn(relay);
    const b = await loggedIn(relay);
    await a.client.call('join', { room });
    const first = await b.client.call('join', { room });
    await a.client.call('send', signMessage(a.user, room, 'm1'));
    await b.client.waitForEvent((e) => e.ev === 'message' && e.text === 'm1');
    const lastSeen = Math.max(...b.client.events.filter((e) => e.ev === 'message').map((e) => e.seq));
    await b.client.close();
    for (const text of ['m2', 'm3', 'm4']) await a.client.call('send', signMessage(a.user, room, text));

    const back = await loginAgain(relay, b.user);
    const resumed = await back.call('join', { room, after: lastSeen });
    assert.equal(first.gap, false);
    assert.equal(resumed.gap, false);
    assert.deepEqual(
      resumed.messages.map((m: { text: string }) => m.text),
      ['m2', 'm3', 'm4'],
    );
    assert.deepEqual(
      resumed.messages.map((m: { seq: number }) => m.seq),
      [2, 3, 4],
    );
    const upToDate = await back.call('join', { room, after: resumed.seq });
    assert.deepEqual(upToDate.messages, []);
  });

  test('tells a client that is further behind than the kept history, and gives it the newest N', async () => {
    const room = uniqueName('room');
    const a = await loggedIn(relay);
    await a.client.call('join', { room });
    for (let i = 1; i <= 60; i++) await a.client.call('send', signMessage(a.user, room, `n${i}`));
    const resumed = await a.client.call('join', { room, after: 3 });
    assert.equal(resumed.gap, true);
    assert.equal(resumed.messages.length, 50);
    assert.equal(resumed.messages[0].seq, 11);
    assert.equal(resumed.messages[49].seq, 60);
    const ahead = await a.client.call('join', { room, after: 500 });
    assert.equal(ahead.gap, true, 'a client ahead of the relay is told its view is stale');
  });
});

describe('history across restarts', () => {
  test('keeps the last N messages per room and their sequence numbers after a restart', async () => {
    const first = await startRelay({ args: ['--history', '5'] });
    const { client, user } = await loggedIn(first);
    await client.call('join', { room: 'general' });
    await client.call('join', { room: 'other' });
    for (let i = 1; i <= 8; i++) await client.call('send', signMessage(user, 'general', `g${i}`));
    await client.call('send', signMessage(user, 'other', 'o1'));
    assert.equal(await first.stop('SIGTERM'), 0);

    const second = await startRelay({
      dataDir: first.dataDir,
      args: ['--history', '5'],
    });
    try {
      const again = await loginAgain(second, user);
      const general = await again.call('join', { room: 'general' });
      assert.deepEqual(
        general.messages.map((m: { text: string }) => m.text),
        ['g4', 'g5', 'g6', 'g7', 'g8'],
      );
      assert.equal(general.seq, 8);
      const other = await again.call('join', { room: 'other' });
      assert.deepEqual(
        other.messages.map((m: { text: string }) => m.text),
        ['o1'],
      );
      const { seq } = await again.call('send', signMessage(user, 'general', 'g9'));
      assert.equal(seq, 9, 'numbering continues without a gap or a repeat');
    } finally {
      await second.stop();
    }
  });

  test('a client resuming across a message lost from messages.log is told of the gap, and gets the right messages', async () => {
    const first = await startRelay({ args: ['--history', '100'] });
    const { client, user } = await loggedIn(first);
    await client.call('join', { room: 'general' });
    for (let i = 1; i <= 60; i++) await client.call('send', signMessage(user, 'general', `h${i}`));
    assert.equal(await first.stop('SIGINT'), 0);
    const file = path.join(first.dataDir, 'messages.log');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    fs.writeFileSync(file, lines.filter((line) => !line.includes('"seq":20,')).join('\n'));

    const second = await startRelay({
      dataDir: first.dataDir,
      args: ['--history', '100'],
    });
    try {
      const again = await loginAgain(second, user);
      const seqsAfter = async (after?: number) => {
        const { messages, gap } = await again.call('join', {
          room: 'general',
          ...(after === undefined ? {} : { after }),
        });
        return { seqs: messages.map((m: { seq: number }) => m.seq), gap };
      };
      const from = (low: number) => Array.from({ length: 61 - low }, (_, i) => low + i).filter((seq) => seq !== 20);
      assert.deepEqual(await seqsAfter(10), { seqs: from(11), gap: true }, 'seq 20 lies in the range asked for');
      assert.deepEqual(await seqsAfter(19), { seqs: from(21), gap: true });
      assert.deepEqual(await seqsAfter(20), { seqs: from(21), gap: false }, 'the hole is behind this client');
      assert.deepEqual(await seqsAfter(), { seqs: from(1), gap: false }, 'a first join has nothing to miss');
    } finally {
      await second.stop();
    }
  });

  test('acknowledged messages survive kill -9 in the middle of a burst, with no gaps', async () => {
    const relay = await startRelay();
    const { client, user } = await loggedIn(relay);
    await client.call('join', { room: 'general' });
    const acknowledged: number[] = [];
    const burst = Array.from({ length: 400 }, (_, i) =>
      client.request('send', signMessage(user, 'general', `burst ${i}`)).then(
        (reply) => {
          if (reply.ok) acknowledged.push(reply.result.seq);
        },
        () => undefined,
      ),
    );
    await eventually(() => acknowledged.length >= 50, '50 acknowledgements');
    relay.child.kill('SIGKILL');
    await relay.stop();
    await Promise.allSettled(burst);

    const restarted = await startRelay({ dataDir: relay.dataDir });
    try {
      const again = await loginAgain(restarted, user);
      const history = await again.call('join', { room: 'general' });
      const seqs = history.messages.map((m: { seq: number }) => m.seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => i + 1),
        'sequence numbers 1..n without gaps',
      );
      for (const seq of acknowledged) assert.ok(seqs.includes(seq), `acknowledged seq ${seq} is stored`);
      const { seq } = await again.call('send', signMessage(user, 'general', 'after the crash'));
      assert.equal(seq, seqs.length + 1);
    } finally {
      await restarted.stop();
    }
  });
});

describe('slow consumers', () => {
  test('a member that stops reading is cut off with a log line while the others keep receiving', async () => {
    const relay = await startRelay({
      args: ['--history', '10', '--rate', '100000'],
    });
    try {
      const room = 'general';
      const sender = await loggedIn(relay);
      const reader = await loggedIn(relay);
      const stalled = await loggedIn(relay);
      for (const { client } of [sender, reader, stalled]) await client.call('join', { room });
      // Stop reading at the TCP level, as a frozen phone on a censored network would.
      (stalled.client.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      const text = 'x'.repeat(4000);
      const total = 4000;
      for (let sent = 0; sent < total; sent += 100) {
        await Promise.all(
          Array.from({ length: 100 }, () => sender.client.call('send', signMessage(sender.user, room, text))),
        );
      }
      await eventually(() => /slow consumer/.test(relay.stderr()), 'the slow-consumer log line');
      await reader.client.waitFor(
        () => (reader.client.events.filter((e) => e.ev === 'message').length === total ? true : undefined),
        'all messages at the live reader',
      );
      const leave = await reader.client.waitForEvent((e) => e.ev === 'leave' && e.userId === stalled.user.profile.id);
      assert.equal(leave.room, room);
    } finally {
      await relay.stop();
    }
  });
});

describe('history compaction', () => {
  test('rewrites messages.log down to the kept history and loses nothing that is kept', async () => {
    const relay = await startRelay({
      args: ['--history', '5', '--rate', '100000'],
    });
    const { client, user } = await loggedIn(relay);
    await client.call('join', { room: 'general' });
    for (let sent = 0; sent < 1200; sent += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => client.call('send', signMessage(user, 'general', `m${sent + i + 1}`))),
      );
    }
    await relay.stop();
    // Message lines only: compaction also keeps a short id record (no text) per message still inside
    // the replay window.
    const lines = fs
      .readFileSync(path.join(relay.dataDir, 'messages.log'), 'utf8')
      .trim()
      .split('\n')
      .filter((line) => line.includes('"text":'));
    assert.ok(lines.length < 1100, `compacted: ${lines.length} message lines for 1200 messages`);
    assert.ok(!fs.existsSync(path.join(relay.dataDir, 'messages.log.tmp')));

    const restarted = await startRelay({
      dataDir: relay.dataDir,
      args: ['--history', '5'],
    });
    try {
      const again = await loginAgain(restarted, user);
      const history = await again.call('join', { room: 'general' });
      assert.deepEqual(
        history.messages.map((m: { seq: number }) => m.seq),
        [1196, 1197, 1198, 1199, 1200],
      );
    } finally {
      await restarted.stop();
    }
  });
});
