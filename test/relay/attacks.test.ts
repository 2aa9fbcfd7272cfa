/**
 * Attacks against the real relay process (the built `relay/bin/sov-relay.js`), each of which must be
 * refused "with a clear error and nothing changed": every refusal is checked for its documented
 * code (and `field` where the protocol names one), and afterwards the state an attacker was after
 * is read back (history and sequence numbers, profiles and avatars, stored files, sessions) and
 * shown to be as it was. Complements the accounts, sessions, messages, profiles and bad-input tests,
 * which already cover the simplest form of several of these attacks.
 *
 * Login limits are keyed by IP address, so tests that need several addresses bind their client
 * sockets to other loopback addresses (127.0.0.x: Linux routes all of 127/8 to `lo`).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { ERROR_MESSAGES } from '../../sdk/errors.ts';
import { signedBytes } from '../../sdk/protocol.ts';
import {
  TestClient,
  newSigningKey,
  randomKey,
  registerUser,
  registration,
  signMessage,
  uniqueName,
  withTimeout,
} from '../helpers/client.ts';
import type { EventFrame, ReplyFrame, Person, TestUser } from '../helpers/client.ts';
import { appendRecords } from '../helpers/log-files.ts';
import { startRelay, tempDataDir, unreadFrameCode } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { fixture, pngChunk } from '../helpers/images.ts';

// ---------------------------------------------------------------------------------------------
// Helpers

async function connect(on: RelayProcess, localAddress?: string): Promise<TestClient> {
  const client = await TestClient.connect(on.wsUrl, localAddress ? { localAddress } : {});
  // Some attacks make the relay drop the connection on purpose: that must fail an assertion, not the process.
  client.socket.on('error', () => {});
  return client;
}

async function loggedIn(on: RelayProcess, room?: string, localAddress?: string): Promise<Person> {
  const client = await connect(on, localAddress);
  const user = await registerUser(client);
  if (room !== undefined) await client.call('join', { room });
  return { client, user };
}

/** A refusal with a documented code, its standard (or a specific) readable message, and the field at fault. */
function assertRefused(reply: ReplyFrame, code: keyof typeof ERROR_MESSAGES, field?: string, what = ''): void {
  assert.equal(reply.ok, false, `${what} was accepted: ${JSON.stringify(reply.result)?.slice(0, 200)}`);
  assert.equal(reply.error?.code, code, `${what}: ${JSON.stringify(reply.error)}`);
  assert.equal(typeof reply.error?.message, 'string', what);
  assert.ok(reply.error!.message.length > 0, `${what}: a readable message`);
  if (field !== undefined) assert.equal(reply.error?.field, field, `${what}: field`);
  assert.equal(reply.result, undefined, `${what}: no result with a refusal`);
}

/** Texts and sequence numbers of a room's kept history, read through a (re-)join. */
async function historyOf(client: TestClient, room: string): Promise<{ seq: number; messages: [number, string][] }> {
  const joined = await client.call('join', { room });
  return {
    seq: joined.seq,
    messages: joined.messages.map((m: { seq: number; text: string }) => [m.seq, m.text]),
  };
}

const messageEvents = (client: TestClient, room: string): EventFrame[] =>
  client.events.filter((e) => e.ev === 'message' && e.room === room);

/** Waits for a round trip, so that any event the relay would have sent before it has arrived. */
async function settle(...clients: TestClient[]): Promise<void> {
  for (const client of clients) await client.call('ping');
}

function relayAlive(process: RelayProcess): void {
  assert.equal(process.child.exitCode, null, 'the relay process is still running');
  assert.equal(process.child.signalCode, null, 'the relay process is still running');
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** ASCII to full-width forms (NFKC maps them back): `Ivan` -> `Ｉｖａｎ`. */
const fullWidth = (text: string): string =>
  text.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// --- images ----------------------------------------------------------------------------------

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A PNG whose header declares width x height RGB pixels, with at most `rows` real scanlines of data. */
function makePng(width: number, height: number, seed: number, rows = height, extra: Buffer[] = []): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const stride = 1 + Math.min(width, 64) * 3;
  const raw = Buffer.alloc(Math.min(rows, 64) * stride);
  for (let i = 0; i < raw.length; i++) raw[i] = i % stride === 0 ? 0 : (i * 7 + seed) & 255;
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    ...extra,
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND'),
  ]);
}

let pngSeed = 1;
const freshPng = (): Buffer => makePng(16, 16, pngSeed++);

/** A tiny baseline JPEG whose frame header declares width x height (nothing is decoded by the relay). */
function jpegDeclaring(width: number, height: number): Buffer {
  const segment = (marker: number, payload: number[]): number[] => [
    0xff,
    marker,
    (payload.length + 2) >> 8,
    (payload.length + 2) & 255,
    ...payload,
  ];
  return Buffer.from([
    0xff,
    0xd8,
    ...segment(0xc0, [8, height >> 8, height & 255, width >> 8, width & 255, 1, 1, 0x11, 0]),
    ...segment(0xda, [1, 1, 0, 0, 63, 0]),
    0x12,
    0x34,
    0xff,
    0x00,
    0x56,
    0xff,
    0xd9,
  ]);
}

/** A 26-byte lossless WebP whose VP8L header declares width x height. */
function webpDeclaring(width: number, height: number): Buffer {
  const bits = Buffer.alloc(4);
  bits.writeUInt32LE(((width - 1) | ((height - 1) << 14)) >>> 0);
  const payload = Buffer.concat([Buffer.from([0x2f]), bits]);
  const chunk = Buffer.concat([Buffer.from('VP8L'), Buffer.from([payload.length, 0, 0, 0]), payload, Buffer.from([0])]);
  const body = Buffer.concat([Buffer.from('WEBP'), chunk]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(body.length);
  return Buffer.concat([Buffer.from('RIFF'), size, body]);
}

interface UploadReply {
  status: number;
  headers: Headers;
  body: any;
}

async function upload(
  on: RelayProcess,
  body: Uint8Array,
  token: string,
  contentType = 'image/png',
): Promise<UploadReply> {
  const res = await fetch(`${on.url}/v1/avatar`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    body: new Uint8Array(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === '' ? null : JSON.parse(text),
  };
}

function assertUploadRefused(
  reply: UploadReply,
  status: number,
  code: keyof typeof ERROR_MESSAGES,
  what: string,
): void {
  assert.equal(reply.status, status, `${what}: ${JSON.stringify(reply.body)}`);
  assert.equal(reply.body?.ok, false, what);
  assert.equal(reply.body?.error?.code, code, what);
  assert.ok(
    typeof reply.body?.error?.message === 'string' && reply.body.error.message.length > 0,
    `${what}: a readable message`,
  );
  assert.equal(reply.body?.result, undefined, what);
}

const avatarFiles = (on: RelayProcess): string[] => fs.readdirSync(path.join(on.dataDir, 'avatars')).sort();

// ---------------------------------------------------------------------------------------------
// One relay for the attacks that need no restart, no special flags and no address of their own.

let relay: RelayProcess;
before(async () => {
  relay = await startRelay({ args: ['--rate', '100000'] });
});
after(() => relay.stop());

// ---------------------------------------------------------------------------------------------

describe('forged and misattributed messages', () => {
  test('forged signatures are refused with BAD_SIGNATURE; history, sequence numbers, members and the message id stay as they were', async () => {
    const room = uniqueName('room');
    const author = await loggedIn(relay, room);
    const other = await loggedIn(relay, room);
    const watcher = await loggedIn(relay, room);
    const { seq: first } = await author.client.call('send', signMessage(author.user, room, 'before'));
    assert.equal(first, 1);

    const genuine = signMessage(author.user, room, 'after');
    const signedBy = (user: TestUser, fields: Partial<typeof genuine>): string =>
      crypto.sign(null, signedBytes({ ...genuine, ...fields }), user.privateKey).toString('base64url');
    // ed25519 malleability: S + L is the same point arithmetic but not canonical; RFC 8032 verifiers must refuse it.
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    const sigBytes = Buffer.from(genuine.sig, 'base64url');
    const s = BigInt(`0x${Buffer.from(sigBytes.subarray(32)).reverse().toString('hex')}`) + L;
    const malleated = Buffer.concat([
      sigBytes.subarray(0, 32),
      Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse(),
    ]).toString('base64url');

    const forgeries: [string, Record<string, unknown>][] = [
      ['text changed after signing', { ...genuine, text: 'aftes' }],
      ['timestamp changed after signing', { ...genuine, ts: genuine.ts + 1 }],
      ['signed by another user’s key', { ...genuine, sig: signedBy(other.user, {}) }],
      [
        'signed for another room',
        {
          ...genuine,
          sig: signedBy(author.user, { room: uniqueName('elsewhere') }),
        },
      ],
      ['signature of another message', { ...genuine, sig: signedBy(author.user, { text: 'something else' }) }],
      ['all-zero signature', { ...genuine, sig: 'A'.repeat(86) }],
      ['non-canonical (malleated) signature', { ...genuine, sig: malleated }],
    ];
    for (const [what, fields] of forgeries)
      assertRefused(await author.client.request('send', fields), 'BAD_SIGNATURE', 'sig', what);

    // Nothing was stored, no number was used and the id is still free: the genuine message takes seq 2.
    assert.equal((await author.client.call('send', genuine)).seq, 2);
    await watcher.client.waitForEvent((e) => e.ev === 'message' && e.cid === genuine.cid);
    await settle(watcher.client, other.client);
    assert.deepEqual(await historyOf(watcher.client, room), {
      seq: 2,
      messages: [
        [1, 'before'],
        [2, 'after'],
      ],
    });
    for (const member of [watcher, other]) {
      assert.deepEqual(
        messageEvents(member.client, room).map((e) => [e.seq, e.text]),
        [
          [1, 'before'],
          [2, 'after'],
        ],
        'no forged message was fanned out',
      );
    }
    assert.equal((await author.client.request('online', { room })).ok, true, 'the sender’s session is still served');
  });

  test('a message claiming another author is refused with WRONG_AUTHOR, even carrying that author’s valid signature; the real author’s message and id are untouched', async () => {
    const room = uniqueName('room');
    const mallory = await loggedIn(relay, room);
    const victim = await loggedIn(relay, room);
    const watcher = await loggedIn(relay, room);

    const victims = signMessage(victim.user, room, 'written by the victim');
    assertRefused(
      await mallory.client.request('send', victims),
      'WRONG_AUTHOR',
      'author',
      'the victim’s signed message sent by mallory',
    );
    const posing = signMessage(mallory.user, room, 'I am the victim', {
      author: victim.user.profile.id,
    });
    assertRefused(
      await mallory.client.request('send', posing),
      'WRONG_AUTHOR',
      'author',
      'mallory’s signature, the victim’s id',
    );
    const nobody = signMessage(mallory.user, room, 'I am nobody', {
      author: 987654,
    });
    assertRefused(await mallory.client.request('send', nobody), 'WRONG_AUTHOR', 'author', 'an id nobody has');

    // The victim's id and number are unused: their own copy goes through as seq 1.
    assert.equal((await victim.client.call('send', victims)).seq, 1);
    const delivered = await mallory.client.waitForEvent((e) => e.ev === 'message' && e.cid === victims.cid);
    const { ev: _ev, seq: _seq, ...captured } = delivered;
    assertRefused(
      await mallory.client.request('send', captured),
      'WRONG_AUTHOR',
      'author',
      'a captured message replayed by someone else',
    );

    await settle(watcher.client);
    assert.deepEqual(await historyOf(watcher.client, room), {
      seq: 1,
      messages: [[1, 'written by the victim']],
    });
    assert.deepEqual(
      messageEvents(watcher.client, room).map((e) => [e.seq, e.author]),
      [[1, victim.user.profile.id]],
    );
    assert.deepEqual(
      (await watcher.client.call('profile', { userId: victim.user.profile.id })).user,
      victim.user.profile,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('replayed messages', () => {
  test('a replayed message id is refused with DUPLICATE_MESSAGE: the same bytes, the id with new text, concurrent copies on two tabs', async () => {
    const room = uniqueName('room');
    const author = await loggedIn(relay, room);
    const secondTab = await connect(relay);
    await secondTab.call('resume', { token: author.user.session.token });
    await secondTab.call('join', { room });
    const watcher = await loggedIn(relay, room);

    const original = signMessage(author.user, room, 'once');
    assert.equal((await author.client.call('send', original)).seq, 1);
    const again = await author.client.request('send', original);
    assertRefused(again, 'DUPLICATE_MESSAGE', undefined, 'the same message again');
    assert.equal(again.error?.seq, 1, 'names the earlier copy');
    const resigned = signMessage(author.user, room, 'changed my mind', {
      cid: original.cid,
    });
    assertRefused(
      await secondTab.request('send', resigned),
      'DUPLICATE_MESSAGE',
      undefined,
      'the id re-signed with new text, from another tab',
    );

    // Ten copies of a new message at once, half on each tab: exactly one is stored.
    const racing = signMessage(author.user, room, 'raced');
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? secondTab : author.client).request('send', racing)),
    );
    assert.equal(
      replies.filter((r) => r.ok).length,
      1,
      `one copy accepted: ${JSON.stringify(replies.map((r) => r.error?.code ?? 'ok'))}`,
    );
    for (const reply of replies.filter((r) => !r.ok))
      assertRefused(reply, 'DUPLICATE_MESSAGE', undefined, 'a racing copy');

    await watcher.client.waitForEvent((e) => e.ev === 'message' && e.cid === racing.cid);
    await settle(watcher.client);
    assert.deepEqual(await historyOf(watcher.client, room), {
      seq: 2,
      messages: [
        [1, 'once'],
        [2, 'raced'],
      ],
    });
    assert.equal(messageEvents(watcher.client, room).length, 2, 'each message fanned out once');
  });

  test('a message id is still refused after a restart, also once compaction has dropped its line from messages.log', async () => {
    // --history 1 keeps one message per room, so about 1,000 messages trigger a compaction of messages.log.
    const first = await startRelay({
      args: ['--history', '1', '--rate', '100000'],
    });
    let second: RelayProcess | undefined;
    try {
      const author = await loggedIn(first, 'general');
      const early = signMessage(author.user, 'general', 'early');
      assert.equal((await author.client.call('send', early)).seq, 1);
      for (let sent = 0; sent < 1100; sent += 100) {
        await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            author.client.call('send', signMessage(author.user, 'general', `filler ${sent + i}`)),
          ),
        );
      }
      const late = signMessage(author.user, 'general', 'late');
      assert.equal((await author.client.call('send', late)).seq, 1102);
      assert.equal(await first.stop('SIGINT'), 0);
      // Compaction keeps one message line (--history 1) and, for the replay check, a short id record
      // (no text) per message still inside the clock window.
      const messageLines = fs
        .readFileSync(path.join(first.dataDir, 'messages.log'), 'utf8')
        .trim()
        .split('\n')
        .filter((line) => line.includes('"text":'));
      assert.ok(messageLines.length < 1102, `messages.log was compacted (${messageLines.length} message lines)`);
      assert.ok(!messageLines.some((line) => line.includes(early.cid)), 'the early message’s line is gone');

      second = await startRelay({
        dataDir: first.dataDir,
        args: ['--history', '1'],
      });
      const back = await connect(second);
      await back.call('resume', { token: author.user.session.token });
      await back.call('join', { room: 'general' });
      // Both are well inside the 5-minute clock window, so only the id check stands between them and a new seq.
      assertRefused(
        await back.request('send', late),
        'DUPLICATE_MESSAGE',
        undefined,
        'replay of a message still in the log',
      );
      const replay = await back.request('send', early);
      assert.ok(
        !replay.ok,
        `replay of a message compacted out of the log was stored again as seq ${replay.result?.seq}`,
      );
      assert.ok(['DUPLICATE_MESSAGE', 'CLOCK_SKEW'].includes(replay.error!.code), JSON.stringify(replay.error));
      assert.deepEqual(await historyOf(back, 'general'), {
        seq: 1102,
        messages: [[1102, 'late']],
      });
    } finally {
      await first.stop();
      await second?.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('tokens after logout and after expiry', () => {
  test('a logged-out token is refused with SESSION_INVALID over WebSocket and HTTP, also after a restart; the other session and the profile are untouched', async () => {
    const first = await startRelay();
    let second: RelayProcess | undefined;
    try {
      const device = await loggedIn(first);
      const { user } = device;
      const otherDevice = await connect(first);
      const other = await otherDevice.call('login', {
        username: user.username,
        authKey: user.authKey,
      });
      const revoked = user.session.token;
      await device.client.call('logout');

      assertRefused(
        await (await connect(first)).request('resume', { token: revoked }),
        'SESSION_INVALID',
        undefined,
        'resume after logout',
      );
      assertUploadRefused(
        await upload(first, freshPng(), revoked),
        401,
        'SESSION_INVALID',
        'avatar upload after logout',
      );
      assertRefused(
        await device.client.request('update-profile', { firstName: 'Mallory' }),
        'NOT_AUTHENTICATED',
        undefined,
        'the logged-out connection',
      );
      assert.deepEqual(
        (await otherDevice.call('profile', { userId: user.profile.id })).user,
        user.profile,
        'profile unchanged',
      );

      assert.equal(await first.stop('SIGINT'), 0);
      second = await startRelay({ dataDir: first.dataDir });
      assertRefused(
        await (await connect(second)).request('resume', { token: revoked }),
        'SESSION_INVALID',
        undefined,
        'resume after logout and restart',
      );
      assertUploadRefused(
        await upload(second, freshPng(), revoked),
        401,
        'SESSION_INVALID',
        'avatar upload after logout and restart',
      );
      const stillIn = await connect(second);
      assert.equal(
        (await stillIn.call('resume', { token: other.token })).user.id,
        user.profile.id,
        'the other device’s session survives',
      );
      assert.deepEqual(
        (await stillIn.call('profile', { userId: user.profile.id })).user,
        user.profile,
        'profile unchanged after the restart',
      );
    } finally {
      await first.stop();
      await second?.stop();
    }
  });

  test('a token that expires while the relay runs is refused with SESSION_INVALID over WebSocket and HTTP; nothing else changes', async (t) => {
    // --session-days takes whole days (1 at least), so expiry is staged in the data folder of a stopped
    // relay: sessions.log gets two extra sessions for the same user, one expiring 3 s from now and one
    // tomorrow (the control: it proves injected records are honoured, so the refusal is the expiry's).
    const first = await startRelay();
    let user: TestUser;
    try {
      user = (await loggedIn(first)).user;
    } finally {
      assert.equal(await first.stop('SIGINT'), 0);
    }
    const token = (): string => crypto.randomBytes(32).toString('base64url');
    const hash = (value: string): string => crypto.createHash('sha256').update(value).digest('base64url');
    const shortLived = token();
    const longLived = token();
    const expiresAt = Date.now() + 3000;
    appendRecords(path.join(first.dataDir, 'sessions.log'), [
      { t: 'add', h: hash(shortLived), uid: user.profile.id, exp: expiresAt },
      {
        t: 'add',
        h: hash(longLived),
        uid: user.profile.id,
        exp: Date.now() + 24 * 3600 * 1000,
      },
    ]);
    const relayUp = await startRelay({ dataDir: first.dataDir });
    try {
      const live = Date.now() < expiresAt;
      t.diagnostic(
        live
          ? `relay up ${expiresAt - Date.now()} ms before the expiry: the live path is exercised`
          : 'relay started after the expiry (slow machine): only the load-time path was exercised',
      );
      const control = await connect(relayUp);
      assert.equal(
        (await control.call('resume', { token: longLived })).user.id,
        user.profile.id,
        'an injected session works',
      );

      await sleep(Math.max(0, expiresAt - Date.now() + 50));
      assertRefused(
        await (await connect(relayUp)).request('resume', { token: shortLived }),
        'SESSION_INVALID',
        undefined,
        'resume after expiry',
      );
      assertUploadRefused(
        await upload(relayUp, freshPng(), shortLived),
        401,
        'SESSION_INVALID',
        'avatar upload after expiry',
      );
      assertRefused(
        await (await connect(relayUp)).request('resume', { token: shortLived }),
        'SESSION_INVALID',
        undefined,
        'a second try does not revive it',
      );

      assert.deepEqual(
        (await control.call('profile', { userId: user.profile.id })).user,
        user.profile,
        'profile (and avatar) unchanged',
      );
      assert.equal(
        (await (await connect(relayUp)).call('resume', { token: user.session.token })).user.id,
        user.profile.id,
        'the user’s other session is untouched',
      );
      assert.equal(
        (await (await connect(relayUp)).call('login', { username: user.username, authKey: user.authKey })).user.id,
        user.profile.id,
        'the password still logs in',
      );
    } finally {
      await relayUp.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('password guessing (limits as in PROTOCOL.md: 10 per name then one a minute, 30 per address then one every 10 s)', () => {
  let guarded: RelayProcess;
  before(async () => {
    guarded = await startRelay();
  });
  after(() => guarded.stop());

  const login = async (address: string, username: string, authKey: string): Promise<ReplyFrame> => {
    const client = await connect(guarded, address);
    const reply = await client.request('login', { username, authKey });
    await client.close();
    return reply;
  };

  test('per username: 10 failures from any mix of addresses, spellings and password checks, then RATE_LIMITED for a minute even for the right key; the account and its sessions are untouched', async (t) => {
    const victim = await loggedIn(guarded, undefined, '127.0.0.30');
    const { username, authKey } = victim.user;
    const start = Date.now();
    const codes: string[] = [];
    // Two failed current-password checks count against the name too.
    for (let i = 0; i < 2; i++) {
      const reply = await victim.client.request('change-password', {
        authKey: randomKey(),
        kdf: registration('x').kdf,
        newAuthKey: randomKey(),
        keySalt: randomKey(),
        publicKey: newSigningKey().publicKey,
      });
      codes.push(reply.error!.code);
    }
    // Eight failed logins from three addresses (none of which reaches its own limit), in three spellings.
    const spellings = [username, username.toUpperCase(), fullWidth(username)];
    for (let i = 0; i < 8; i++)
      codes.push((await login(`127.0.0.${31 + (i % 3)}`, spellings[i % 3]!, randomKey())).error!.code);
    assert.deepEqual(codes, Array(10).fill('BAD_CREDENTIALS'));

    const limited = await login('127.0.0.34', username, randomKey());
    const elapsed = Date.now() - start;
    assertRefused(limited, 'RATE_LIMITED', undefined, 'the 11th guess, from a fresh address');
    const wait = limited.error!.retryAfterMs!;
    // One token a minute: after 10 quick failures the next one is about 60 s minus the time they took.
    assert.ok(wait <= 60_000 && wait >= 60_000 - elapsed - 100, `retryAfterMs ${wait} (elapsed ${elapsed} ms)`);
    t.diagnostic(`per-name lockout after 10 failures in ${elapsed} ms: retryAfterMs ${wait}`);
    const rightKey = await login('127.0.0.35', fullWidth(username.toUpperCase()), authKey);
    assertRefused(rightKey, 'RATE_LIMITED', undefined, 'the right key while the name is locked');
    assert.ok(rightKey.error!.retryAfterMs! <= wait, 'refused guesses do not extend the lockout');

    const device = await connect(guarded, '127.0.0.36');
    assert.equal(
      (await device.call('resume', { token: victim.user.session.token })).user.id,
      victim.user.profile.id,
      'existing sessions still resume',
    );
    assert.deepEqual(
      (await device.call('profile', { userId: victim.user.profile.id })).user,
      victim.user.profile,
      'profile and keys unchanged',
    );

    // An unknown name locks out the same way, so the lockout does not tell which names exist.
    const ghost = uniqueName('ghost');
    const ghostCodes: string[] = [];
    for (let i = 0; i < 11; i++)
      ghostCodes.push((await login(`127.0.0.${37 + (i % 3)}`, ghost, randomKey())).error!.code);
    assert.deepEqual(ghostCodes, [...Array(10).fill('BAD_CREDENTIALS'), 'RATE_LIMITED']);
  });

  test('per address: 30 failures across names, then RATE_LIMITED even for the right key of an untouched account, then one try per 10 s; other addresses are not affected', async (t) => {
    const bystander = await loggedIn(guarded, undefined, '127.0.0.41');
    await bystander.client.close();
    const sprayer = '127.0.0.40';
    const start = Date.now();
    const codes: string[] = [];
    for (let i = 0; i < 30; i++) codes.push((await login(sprayer, uniqueName('spray'), randomKey())).error!.code);
    assert.deepEqual(codes, Array(30).fill('BAD_CREDENTIALS'));

    const limited = await login(sprayer, uniqueName('spray'), randomKey());
    const elapsed = Date.now() - start;
    assertRefused(limited, 'RATE_LIMITED', undefined, 'the 31st guess from one address');
    const wait = limited.error!.retryAfterMs!;
    assert.ok(wait <= 10_000 && wait >= 10_000 - elapsed - 100, `retryAfterMs ${wait} (elapsed ${elapsed} ms)`);
    const askedAt = Date.now();
    const rightKey = await login(sprayer, bystander.user.username, bystander.user.authKey);
    assertRefused(rightKey, 'RATE_LIMITED', undefined, 'a right key from the locked address');
    assert.ok(rightKey.error!.retryAfterMs! <= wait, 'refused guesses do not extend the lockout');

    // "Then one every 10 s": after the advertised wait exactly one more guess is let through.
    await sleep(rightKey.error!.retryAfterMs! + 50);
    assertRefused(
      await login(sprayer, uniqueName('spray'), randomKey()),
      'BAD_CREDENTIALS',
      undefined,
      'the guess after the wait',
    );
    const next = await login(sprayer, uniqueName('spray'), randomKey());
    const sinceFree = Date.now() - askedAt - rightKey.error!.retryAfterMs!;
    assertRefused(next, 'RATE_LIMITED', undefined, 'the guess right after that');
    // The let-through guess spent the token that came back no earlier than askedAt + retryAfterMs
    // (less 1 ms: the relay rounds waits up), so the next is a full 10 s away less the time since
    // then: round trips that a busy machine can stretch to seconds.
    assert.ok(
      next.error!.retryAfterMs! >= 10_000 - sinceFree - 1 && next.error!.retryAfterMs! <= 10_000,
      `retryAfterMs ${next.error!.retryAfterMs} (${sinceFree} ms since the token came back)`,
    );
    t.diagnostic(
      `per-address lockout after 30 failures in ${elapsed} ms: retryAfterMs ${wait}; after waiting, 1 guess let through, then retryAfterMs ${next.error!.retryAfterMs}`,
    );

    // The refusals charged neither the bystander's name nor other addresses.
    const elsewhere = await connect(guarded, '127.0.0.42');
    const session = await elsewhere.call('login', {
      username: bystander.user.username,
      authKey: bystander.user.authKey,
    });
    assert.equal(session.user.id, bystander.user.profile.id);
    assert.deepEqual(session.user, bystander.user.profile, 'profile unchanged');
  });
});

// ---------------------------------------------------------------------------------------------

describe('username enumeration through salt', () => {
  let probe: RelayProcess;
  before(async () => {
    probe = await startRelay({ args: ['--rate', '100000'] });
  });
  after(() => probe.stop());

  const shape = (kdf: Record<string, unknown>): string =>
    JSON.stringify({ ...kdf, salt: `<${String(kdf.salt).length} chars>` });

  test('the answer for an unknown name has the shape of a real one, is stable across requests and restarts, and differs per relay', async () => {
    const dataDir = tempDataDir();
    const first = await startRelay({ dataDir });
    let second: RelayProcess | undefined;
    try {
      const known = (await loggedIn(first)).user;
      const ghost = uniqueName('ghost');
      const client = await connect(first);
      const real = (await client.call('salt', { username: known.username })).kdf;
      const fake = (await client.call('salt', { username: ghost })).kdf;
      // Same fields in the same order, same parameters, same salt length: the reply frames have the same size.
      assert.equal(shape(fake), shape(real));
      assert.equal(JSON.stringify(fake).length, JSON.stringify(real).length);
      assert.notEqual(fake.salt, real.salt);
      for (const spelling of [ghost, ghost.toUpperCase(), fullWidth(ghost)]) {
        assert.deepEqual((await client.call('salt', { username: spelling })).kdf, fake, `stable for ${spelling}`);
      }
      assert.equal(await first.stop('SIGINT'), 0);

      second = await startRelay({ dataDir });
      const again = await connect(second);
      assert.deepEqual((await again.call('salt', { username: ghost })).kdf, fake, 'stable across a restart');
      assert.deepEqual((await again.call('salt', { username: known.username })).kdf, real);
      const elsewhere = (await (await connect(probe)).call('salt', { username: ghost })).kdf;
      assert.notEqual(elsewhere.salt, fake.salt, 'another relay (another secret) answers another fake salt');
      assert.equal(shape(elsewhere), shape(fake));
    } finally {
      await first.stop();
      await second?.stop();
    }
  });

  test('a name registered with stronger KDF settings does not answer differently from an unknown name', async () => {
    // The protocol lets a client register with N up to 2^20 and salts of 16-64 bytes, while fake answers
    // always say N = 2^17 with a 16-byte salt. Either the relay refuses such settings, or its answer must not
    // single the name out.
    const client = await connect(probe);
    const name = uniqueName('strong');
    const strong = registration(name);
    strong.kdf = {
      ...strong.kdf,
      N: 2 ** 18,
      salt: crypto.randomBytes(32).toString('base64url'),
    };
    const registered = await client.request('register', strong);
    if (!registered.ok) {
      assertRefused(registered, 'INVALID_FIELD', undefined, 'non-default KDF settings');
      return;
    }
    const asker = await connect(probe);
    const real = (await asker.call('salt', { username: name })).kdf;
    const fake = (await asker.call('salt', { username: uniqueName('ghost') })).kdf;
    assert.equal(shape(real), shape(fake), 'the salt answer reveals that this name is registered');
  });

  test('salt answers for known and unknown names take the same time (300 interleaved requests each)', async (t) => {
    // Three known and three unknown names of one length (the HMAC runs over the name).
    const length = 16;
    const name = (prefix: string): string => `${prefix}${crypto.randomBytes(8).toString('hex')}`.slice(0, length);
    const known: string[] = [];
    for (let i = 0; i < 3; i++) known.push((await registerUser(await connect(probe), name('kn'))).username);
    const unknown = [name('gh'), name('gh'), name('gh')];
    const client = await connect(probe);
    const timed = async (username: string): Promise<number> => {
      const start = process.hrtime.bigint();
      const reply = await client.request('salt', { username });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      assert.equal(reply.ok, true);
      return ms;
    };
    const warmUp = 100;
    const samples = 300;
    const knownMs: number[] = [];
    const unknownMs: number[] = [];
    for (let i = 0; i < warmUp + samples; i++) {
      // One of each per round, alternating which goes first, so drift and ordering hit both sides alike.
      const k = known[i % 3]!;
      const u = unknown[i % 3]!;
      let kt: number;
      let ut: number;
      if (i % 2) {
        kt = await timed(k);
        ut = await timed(u);
      } else {
        ut = await timed(u);
        kt = await timed(k);
      }
      if (i >= warmUp) {
        knownMs.push(kt);
        unknownMs.push(ut);
      }
    }
    const mk = median(knownMs);
    const mu = median(unknownMs);
    // Split-half medians of the known side: the noise floor of this machine at this moment.
    const noise = Math.abs(median(knownMs.filter((_, i) => i % 2)) - median(knownMs.filter((_, i) => !(i % 2))));
    t.diagnostic(
      `salt round trip medians: known ${(mk * 1000).toFixed(1)} µs, unknown ${(mu * 1000).toFixed(1)} µs, difference ${((mu - mk) * 1000).toFixed(1)} µs; split-half noise ${(noise * 1000).toFixed(1)} µs`,
    );
    // Tolerance: the larger of 25% of the slower median and 0.3 ms. A round trip on loopback is ~0.1-0.3 ms,
    // and on a shared 2-core machine (other engineers' test runs, the relay and this client competing for
    // the cores) medians of interleaved samples still move by tens of µs between runs, so a tighter bound
    // would flake. It is still meaningful: anything that would make one path do real extra work (an scrypt
    // or auth-hash check, a disk read, a lookup that awaits, a deliberate delay) costs from 0.3 ms to many ms
    // and fails this. Differences of a few µs are below what this test can resolve; they are a code-review
    // matter (both paths compute the same HMAC in Accounts.kdfFor). On a machine so busy that two
    // halves of the same side differ by more, three times that measured noise is the floor instead.
    const tolerance = Math.max(0.25 * Math.max(mk, mu), 0.3, 3 * noise);
    assert.ok(
      Math.abs(mk - mu) <= tolerance,
      `medians ${mk.toFixed(3)} ms vs ${mu.toFixed(3)} ms differ by more than ${tolerance.toFixed(3)} ms`,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('hostile avatars', () => {
  test('SVG, HTML and polyglots are refused with 415 BAD_IMAGE; the existing avatar, the stored files and everyone’s view stay as they were', async () => {
    const me = await loggedIn(relay);
    const observer = await loggedIn(relay);
    const token = me.user.session.token;
    const own = freshPng();
    const accepted = await upload(relay, own, token);
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    const avatar: string = accepted.body.result.user.avatar;
    await observer.client.waitForEvent(
      (e) => e.ev === 'profile' && e.user.id === me.user.profile.id && e.user.avatar === avatar,
    );
    const files = avatarFiles(relay);
    const eventsBefore = observer.client.events.length;

    const html = Buffer.from('<!doctype html><html><body><script>fetch("/v1/avatar")</script></body></html>');
    const zipEnd = Buffer.from([0x50, 0x4b, 0x05, 0x06, ...Array(18).fill(0)]);
    const attacks: [string, Buffer, string][] = [
      [
        'SVG with a script',
        Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><script>alert(1)</script></svg>'),
        'image/svg+xml',
      ],
      [
        'SVG behind a byte-order mark, labelled PNG',
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')]),
        'image/png',
      ],
      ['HTML labelled PNG', html, 'image/png'],
      ['PNG signature followed by HTML', Buffer.concat([PNG_SIGNATURE, html]), 'image/png'],
      [
        'HTML page with a PNG inside',
        Buffer.concat([Buffer.from('<html><body>'), freshPng(), Buffer.from('</body></html>')]),
        'image/png',
      ],
      ['PNG and ZIP in one file', Buffer.concat([freshPng(), zipEnd]), 'image/png'],
      [
        'PNG with a script after IEND',
        Buffer.concat([freshPng(), Buffer.from('<script>alert(1)</script>')]),
        'image/png',
      ],
    ];
    for (const [what, body, type] of attacks)
      assertUploadRefused(await upload(relay, body, token, type), 415, 'BAD_IMAGE', what);

    await settle(observer.client, me.client);
    assert.deepEqual(
      observer.client.events.slice(eventsBefore).filter((e) => e.ev === 'profile'),
      [],
      'no profile change was announced',
    );
    assert.equal(
      (await observer.client.call('profile', { userId: me.user.profile.id })).user.avatar,
      avatar,
      'the avatar is the one from before',
    );
    assert.deepEqual(avatarFiles(relay), files, 'no file was written to avatars/');
    const served = await fetch(`${relay.url}${avatar}`);
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(own), 'the stored avatar is byte for byte the same');
  });

  test('decompression bombs, too many pixels and too many bytes are refused with 413 IMAGE_TOO_LARGE; nothing is stored or announced', async () => {
    const me = await loggedIn(relay);
    const observer = await loggedIn(relay);
    const token = me.user.session.token;
    const own = freshPng();
    const avatar: string = (await upload(relay, own, token)).body.result.user.avatar;
    await observer.client.waitForEvent(
      (e) => e.ev === 'profile' && e.user.id === me.user.profile.id && e.user.avatar === avatar,
    );
    const files = avatarFiles(relay);
    const eventsBefore = observer.client.events.length;

    const padded = (total: number): Buffer => {
      const png = freshPng();
      return Buffer.concat([
        png.subarray(0, 33),
        pngChunk('tEXt', Buffer.alloc(total - png.length - 12, 0x61)),
        png.subarray(33),
      ]);
    };
    const attacks: [string, Buffer][] = [
      ['PNG declaring 100000x100000 in a few hundred bytes', makePng(100_000, 100_000, pngSeed++, 2)],
      ['PNG declaring 2^31-1 x 2^31-1', makePng(0x7fffffff, 0x7fffffff, pngSeed++, 1)],
      ['JPEG declaring 65000x65000 in 38 bytes', jpegDeclaring(65_000, 65_000)],
      ['WebP declaring 16384x16384 in 26 bytes', webpDeclaring(16_384, 16_384)],
      ['PNG of 1025x1024 pixels', makePng(1025, 1024, pngSeed++, 2)],
      ['PNG of 1x1025 pixels', makePng(1, 1025, pngSeed++, 2)],
      ['well-formed PNG of 512 KB + 1 byte', padded(512 * 1024 + 1)],
    ];
    for (const [what, body] of attacks) {
      assert.ok(body.length < 1024 || body.length > 512 * 1024, what);
      assertUploadRefused(await upload(relay, body, token), 413, 'IMAGE_TOO_LARGE', what);
    }

    await settle(observer.client, me.client);
    assert.deepEqual(
      observer.client.events.slice(eventsBefore).filter((e) => e.ev === 'profile'),
      [],
      'no profile change was announced',
    );
    assert.equal((await observer.client.call('profile', { userId: me.user.profile.id })).user.avatar, avatar);
    assert.deepEqual(avatarFiles(relay), files, 'no file was written to avatars/');
    assert.ok(Buffer.from(await (await fetch(`${relay.url}${avatar}`)).arrayBuffer()).equals(own));
  });

  test('a JPEG with HTML smuggled between its end marker and a repeated end marker is refused with 415 BAD_IMAGE', async () => {
    const me = await loggedIn(relay);
    const jpeg = fixture('chromium-300x200.jpg');
    const polyglot = Buffer.concat([
      jpeg,
      Buffer.from('<html><script>alert(document.domain)</script></html>'),
      Buffer.from([0xff, 0xd9]),
    ]);
    assertUploadRefused(
      await upload(relay, polyglot, me.user.session.token, 'image/jpeg'),
      415,
      'BAD_IMAGE',
      'JPEG + HTML + EOI',
    );
    assert.equal((await me.client.call('profile', { userId: me.user.profile.id })).user.avatar, null);
  });

  test('an image carrying HTML inside a well-formed metadata chunk or segment is at most served as an inert image', async (t) => {
    // Such files are valid images (every byte belongs to the structure), so the relay may store them; what
    // must hold is that the served file can never be read as a page: real image type, nosniff, a CSP that
    // allows nothing.
    const me = await loggedIn(relay);
    const script = Buffer.from('<html><script>alert(document.domain)</script></html>');
    const jpeg = fixture('chromium-300x200.jpg');
    const comment = Buffer.concat([
      Buffer.from([0xff, 0xfe, (script.length + 2) >> 8, (script.length + 2) & 255]),
      script,
    ]);
    const cases: [string, Buffer, string][] = [
      [
        'PNG with HTML in a tEXt chunk',
        makePng(16, 16, pngSeed++, 16, [pngChunk('tEXt', Buffer.concat([Buffer.from('Comment\0'), script]))]),
        'image/png',
      ],
      [
        'JPEG with HTML in a COM segment',
        Buffer.concat([jpeg.subarray(0, 2), comment, jpeg.subarray(2)]),
        'image/jpeg',
      ],
    ];
    for (const [what, body, mime] of cases) {
      const reply = await upload(relay, body, me.user.session.token, 'text/html');
      t.diagnostic(`${what}: HTTP ${reply.status}`);
      if (reply.status === 415) continue;
      assert.equal(reply.status, 200, `${what}: ${JSON.stringify(reply.body)}`);
      const served = await fetch(`${relay.url}${reply.body.result.user.avatar}`);
      assert.equal(served.headers.get('content-type'), mime, what);
      assert.equal(served.headers.get('x-content-type-options'), 'nosniff', what);
      assert.equal(served.headers.get('content-security-policy'), "default-src 'none'", what);
      assert.ok(Buffer.from(await served.arrayBuffer()).equals(body), what);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('oversize frames', () => {
  test('a validly signed message padded past 64 KB is dropped unread (1006 on uWS, 1009 on the Node engine): no reply, no history, the id unused, the session still valid', async () => {
    const room = uniqueName('room');
    const author = await loggedIn(relay, room);
    const watcher = await loggedIn(relay, room);
    const message = signMessage(author.user, room, 'smuggled');
    // Unknown fields are ignored, so the padding would not break the signature if the frame were read.
    const frame = JSON.stringify({
      id: 'big',
      type: 'send',
      ...message,
      pad: 'x'.repeat(64 * 1024),
    });
    author.client.socket.send(frame);
    const closed = await withTimeout(author.client.closed, 'the relay to drop the connection');
    assert.equal(closed.code, unreadFrameCode(relay, 'too-big'));
    assert.deepEqual(
      author.client.replies.filter((r) => r.re === 'big'),
      [],
      'never answered',
    );
    await watcher.client.waitForEvent(
      (e) => e.ev === 'leave' && e.room === room && e.userId === author.user.profile.id,
    );
    await settle(watcher.client);
    assert.deepEqual(messageEvents(watcher.client, room), []);
    assert.deepEqual(await historyOf(watcher.client, room), {
      seq: 0,
      messages: [],
    });

    // The session survives the dropped connection, and the message id was never used.
    const back = await connect(relay);
    await back.call('resume', { token: author.user.session.token });
    await back.call('join', { room });
    assert.equal((await back.call('send', message)).seq, 1);
    relayAlive(relay);
  });
});

// ---------------------------------------------------------------------------------------------

describe('invalid room names', () => {
  test('joining, sending to or leaving an invalid room is refused naming the field; no room slot is taken and lookalike spellings land in the one room', async () => {
    const { client, user } = await loggedIn(relay);
    const invalid = [
      '',
      '   ',
      '\t',
      'a b',
      '<script>',
      '../etc',
      'a/b',
      'room.name',
      'x'.repeat(49),
      '-lead',
      '_lead',
      '😀',
      'room\u0000',
      'ro\nom',
      'room\u202Eevil',
      'ro\u200Bom',
      'ro\uFEFFom',
      'room\u0007',
      '\u3000',
    ];
    for (const room of invalid) {
      const code = room.trim() === '' || room === '\u3000' ? 'EMPTY_FIELD' : 'INVALID_FIELD';
      assertRefused(await client.request('join', { room }), code, 'room', `join ${JSON.stringify(room)}`);
      assertRefused(
        await client.request('send', {
          ...signMessage(user, 'valid', 'hi'),
          room,
        }),
        code,
        'room',
        `send to ${JSON.stringify(room)}`,
      );
      assertRefused(await client.request('leave', { room }), code, 'room', `leave ${JSON.stringify(room)}`);
    }
    // The refusals took no room slot: 32 real rooms still fit, the 33rd does not.
    const rooms = Array.from({ length: 32 }, () => uniqueName('r'));
    for (const room of rooms) assert.equal((await client.call('join', { room })).seq, 0);
    assertRefused(await client.request('join', { room: uniqueName('r') }), 'TOO_MANY_ROOMS');
    // Lookalike spellings are not new rooms: they normalize to the one room.
    const upper = await client.call('join', { room: rooms[0]!.toUpperCase() });
    assert.equal(upper.room, rooms[0]);
    assert.equal((await client.call('join', { room: fullWidth(rooms[1]!) })).room, rooms[1]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('hostile profile fields', () => {
  test('a change with one bad field is refused as a whole; 60 KB of text in a name is refused; nothing changes and nobody is told', async () => {
    const me = await loggedIn(relay);
    const observer = await loggedIn(relay);
    const eventsBefore = observer.client.events.length;
    const cases: [string, Record<string, unknown>, string][] = [
      ['a valid first name with a bell in the last name', { firstName: 'Valid', lastName: 'Bad\u0007' }, 'lastName'],
      [
        'a valid username with an escape in the first name',
        { username: uniqueName('fresh'), firstName: '\u001B[31mred' },
        'firstName',
      ],
      ['60 KB of text in the first name (fits in a frame)', { firstName: 'x'.repeat(60 * 1024) }, 'firstName'],
      ['60 KB of text in the username', { username: 'y'.repeat(60 * 1024) }, 'username'],
    ];
    for (const [what, change, field] of cases)
      assertRefused(await me.client.request('update-profile', change), 'INVALID_FIELD', field, what);
    // A registration with a control character leaves its username free.
    const name = uniqueName('reg');
    assertRefused(
      await (await connect(relay)).request('register', {
        ...registration(name),
        firstName: 'Ann\u0000a',
      }),
      'INVALID_FIELD',
      'firstName',
      'registration',
    );
    assert.equal(
      (await (await connect(relay)).request('register', registration(name))).ok,
      true,
      'the name was not taken by the refused registration',
    );

    await settle(observer.client);
    assert.deepEqual(
      observer.client.events.slice(eventsBefore).filter((e) => e.ev === 'profile' && e.user.id === me.user.profile.id),
      [],
    );
    assert.deepEqual((await observer.client.call('profile', { userId: me.user.profile.id })).user, me.user.profile);
  });

  test('names holding zero-width bidi marks, line or paragraph separators or invisible tag characters are refused', async () => {
    // PROTOCOL.md: first and last names have "no control characters, bidi overrides or zero-width characters".
    const me = await loggedIn(relay);
    const invisible: [string, string][] = [
      ['LEFT-TO-RIGHT MARK', '\u200E'],
      ['RIGHT-TO-LEFT MARK', '\u200F'],
      ['ARABIC LETTER MARK', '\u061C'],
      ['LINE SEPARATOR', '\u2028'],
      ['PARAGRAPH SEPARATOR', '\u2029'],
      ['MONGOLIAN VOWEL SEPARATOR', '\u180E'],
      ['TAG LATIN CAPITAL LETTER A', '\u{E0041}'],
      ['COMBINING GRAPHEME JOINER', '\u034F'],
    ];
    const accepted: string[] = [];
    for (const [what, char] of invisible) {
      const reply = await me.client.request('update-profile', {
        firstName: `Ann${char}a`,
      });
      if (reply.ok) accepted.push(`U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} ${what}`);
      else assertRefused(reply, 'INVALID_FIELD', 'firstName', what);
    }
    assert.deepEqual(accepted, [], 'accepted in a first name');
  });

  test('a username that differs from an existing one only by invisible characters is refused', async () => {
    // Usernames are the unique, unspoofable handle ("unique ignoring case and width"); marks that render as
    // nothing would let a second account look exactly like the first.
    const victim = await loggedIn(relay);
    const lookalikes: [string, string][] = [
      ['COMBINING GRAPHEME JOINER', '\u034F'],
      ['VARIATION SELECTOR-1', '\uFE00'],
      ['HANGUL FILLER', '\u3164'],
    ];
    const accepted: string[] = [];
    for (const [what, char] of lookalikes) {
      const reply = await (await connect(relay)).request('register', registration(`${victim.user.username}${char}`));
      if (reply.ok) accepted.push(`${what}: account ${reply.result.user.id} "${reply.result.user.username}"`);
      else
        assert.ok(
          ['INVALID_FIELD', 'USERNAME_TAKEN'].includes(reply.error!.code),
          `${what}: ${JSON.stringify(reply.error)}`,
        );
    }
    assert.deepEqual(
      (await victim.client.call('profile', { username: victim.user.username })).user,
      victim.user.profile,
    );
    assert.deepEqual(accepted, [], `lookalikes of "${victim.user.username}" were registered`);
  });
});
