/**
 * What a broken or hostile client can send, against the real relay process over real WebSockets:
 * every bad frame gets exactly one error reply or a documented close, and the relay keeps serving
 * everyone else throughout.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ERROR_MESSAGES } from '../../sdk/errors.ts';
import {
  TestClient,
  eventually,
  newSigningKey,
  registerUser,
  registration,
  signMessage,
  uniqueName,
  withTimeout,
} from '../helpers/client.ts';
import type { ReplyFrame, Person, TestUser } from '../helpers/client.ts';
import { startRelay, unreadFrameCode } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { RELAY_ERROR_CODES, REQUEST_FIELDS } from '../helpers/fuzz/protocol-promises.ts';
import { seededRandom } from '../helpers/random.ts';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Two logged-in members of one room who keep talking while someone else misbehaves. */
interface Bystanders {
  relay: RelayProcess;
  room: string;
  alice: Person;
  bob: Person;
}

async function connect(relay: RelayProcess): Promise<TestClient> {
  const client = await TestClient.connect(relay.wsUrl);
  // The relay drops some of these connections on purpose; that must fail an assertion, not the process.
  client.socket.on('error', () => {});
  return client;
}

async function loggedIn(relay: RelayProcess, room?: string): Promise<Person> {
  const client = await connect(relay);
  const user = await registerUser(client);
  if (room !== undefined) await client.call('join', { room });
  return { client, user };
}

async function bystanders(relay: RelayProcess): Promise<Bystanders> {
  const room = uniqueName('room');
  const [alice, bob] = await Promise.all([loggedIn(relay, room), loggedIn(relay, room)]);
  return { relay, room, alice, bob };
}

let chatter = 0;
/** Alice sends a signed message and Bob receives it: the relay is alive and serving. */
async function stillChatting(group: Bystanders): Promise<void> {
  assert.equal(group.relay.child.exitCode, null, 'the relay process is still running');
  assert.equal(group.relay.child.signalCode, null, 'the relay process is still running');
  const message = signMessage(group.alice.user, group.room, `still here ${++chatter}`);
  const { seq } = await group.alice.client.call('send', message);
  const received = await group.bob.client.waitForEvent(
    (e) => e.ev === 'message' && e.cid === message.cid,
    'the bystander’s message',
  );
  assert.deepEqual(received, { ev: 'message', ...message, seq });
}

function assertNoRelayErrors(relay: RelayProcess): void {
  const errors = relay
    .stderr()
    .split('\n')
    .filter((line) => / error /.test(line));
  assert.deepEqual(errors, [], 'the relay logged no errors');
}

const errorReply = (
  re: string | number | null,
  code: keyof typeof ERROR_MESSAGES,
  extra: Record<string, unknown> = {},
): ReplyFrame => ({
  re,
  ok: false,
  error: { code, message: ERROR_MESSAGES[code], ...extra },
});

/** Sends one text frame and waits for the socket to close; resolves with the close code and reason. */
async function sendAndClose(
  client: TestClient,
  data: string | Buffer,
  binary = false,
): Promise<{ code: number; reason: string }> {
  client.socket.send(data, { binary });
  return withTimeout(client.closed, 'the relay to close the connection');
}

/** A send request whose fields are all well-formed (the signature is not checked until after login). */
function wellFormedSend(): Record<string, unknown> {
  return {
    room: 'general',
    author: 1,
    cid: 'abcdefgh1234',
    ts: Date.now(),
    text: 'hi',
    sig: 'A'.repeat(86),
  };
}

// ---------------------------------------------------------------------------------------------

let relay: RelayProcess;
let group: Bystanders;
before(async () => {
  // A per-connection rate far above anything here, so only the flood test meets the limit.
  relay = await startRelay({ args: ['--rate', '100000'] });
  group = await bystanders(relay);
});
after(() => relay.stop());

describe('frames that are not requests', () => {
  test('text that is not JSON gets a BAD_JSON reply with re null', async () => {
    const client = await connect(relay);
    for (const text of [
      'hello',
      '{',
      '{"id":1,',
      "{'id':1,'type':'ping'}",
      '',
      ' ',
      'NaN',
      '{"id":1,"type":"ping"} extra',
      '\u0000',
    ]) {
      const reply = await client.sendRaw(text, null);
      assert.deepEqual(reply, errorReply(null, 'BAD_JSON'), JSON.stringify(text));
    }
    await stillChatting(group);
  });

  test('JSON that is not an object, or has no usable id, gets a BAD_FRAME reply with re null', async () => {
    const client = await connect(relay);
    const frames = [
      '[]',
      '[{"id":1,"type":"ping"}]',
      'null',
      '42',
      '"ping"',
      'true',
      '{}',
      '{"type":"ping"}',
      '{"id":null,"type":"ping"}',
      '{"id":-1,"type":"ping"}',
      '{"id":1.5,"type":"ping"}',
      '{"id":9007199254740992,"type":"ping"}',
      '{"id":"","type":"ping"}',
      `{"id":"${'x'.repeat(65)}","type":"ping"}`,
      '{"id":{},"type":"ping"}',
      '{"id":[1],"type":"ping"}',
      '{"id":true,"type":"ping"}',
    ];
    for (const text of frames) {
      const reply = await client.sendRaw(text, null);
      assert.deepEqual(reply, errorReply(null, 'BAD_FRAME'), text);
    }
    // The edges of a valid id still work.
    assert.equal((await client.sendRaw('{"id":0,"type":"ping"}', 0)).ok, true);
    const longest = 'i'.repeat(64);
    assert.equal((await client.sendRaw(`{"id":"${longest}","type":"ping"}`, longest)).ok, true);
    await stillChatting(group);
  });

  test('an unknown request type gets UNKNOWN_TYPE with the request id echoed', async () => {
    const client = await connect(relay);
    const types: unknown[] = [
      'fly',
      '',
      'PING',
      'Ping ',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      42,
      null,
      ['ping'],
      { ping: 1 },
    ];
    let n = 0;
    for (const type of types) {
      const id = ++n % 2 ? `req-${n}` : n;
      const reply = await client.sendRaw(JSON.stringify({ id, type }), id);
      assert.equal(reply.re, id);
      assert.equal(reply.ok, false);
      assert.equal(reply.error?.code, 'UNKNOWN_TYPE', JSON.stringify(type));
    }
    const missing = await client.sendRaw('{"id":"no-type"}', 'no-type');
    assert.equal(missing.error?.code, 'UNKNOWN_TYPE');
    await stillChatting(group);
  });

  test('a field of the wrong type or format gets INVALID_FIELD naming the field, before any login check', async () => {
    const client = await connect(relay);
    const reg = registration(uniqueName());
    const cases: [string, Record<string, unknown>, string][] = [
      ['salt', {}, 'username'],
      ['salt', { username: 42 }, 'username'],
      ['login', { username: 'someone', authKey: 123 }, 'authKey'],
      ['login', { username: 'someone', authKey: 'short' }, 'authKey'],
      [
        'login',
        {
          username: ['someone'],
          authKey: crypto.randomBytes(32).toString('base64url'),
        },
        'username',
      ],
      ['resume', { token: ['x'] }, 'token'],
      ['resume', { token: 'A'.repeat(43) + '=' }, 'token'],
      ['register', { ...reg, firstName: {} }, 'firstName'],
      ['register', { ...reg, kdf: 'scrypt' }, 'kdf'],
      ['register', { ...reg, kdf: { ...reg.kdf, alg: 'argon2' } }, 'kdf.alg'],
      ['register', { ...reg, kdf: { ...reg.kdf, N: '131072' } }, 'kdf.N'],
      ['register', { ...reg, kdf: { ...reg.kdf, N: 2 ** 17 + 1 } }, 'kdf.N'],
      ['register', { ...reg, kdf: { ...reg.kdf, salt: 'short' } }, 'kdf.salt'],
      ['register', { ...reg, publicKey: 'A'.repeat(44) }, 'publicKey'],
      ['register', { ...reg, keySalt: 'A'.repeat(42) + '+' }, 'keySalt'],
      ['join', { room: 5 }, 'room'],
      ['join', { room: 'general', after: '3' }, 'after'],
      ['join', { room: 'general', after: -1 }, 'after'],
      ['join', { room: 'general', after: 1e300 }, 'after'],
      ['join', { room: 'general', limit: 1.5 }, 'limit'],
      ['join', { room: 'general', members: 'no' }, 'members'],
      ['history', { room: 'general', before: 1.5 }, 'before'],
      ['history', { room: 'general', after: -1 }, 'after'],
      ['history', { room: 'general', after: 3, limit: '2' }, 'limit'],
      ['history', { room: 'general' }, 'before'],
      ['history', { room: 'general', before: 9, after: 3 }, 'before'],
      ['leave', { room: null }, 'room'],
      ['send', { ...wellFormedSend(), ts: '123' }, 'ts'],
      ['send', { ...wellFormedSend(), author: '1' }, 'author'],
      ['send', { ...wellFormedSend(), author: 0 }, 'author'],
      ['send', { ...wellFormedSend(), cid: 'short' }, 'cid'],
      ['send', { ...wellFormedSend(), text: 42 }, 'text'],
      ['send', { ...wellFormedSend(), text: 'bell\u0007' }, 'text'],
      ['send', { ...wellFormedSend(), text: 'x'.repeat(4001) }, 'text'],
      ['send', { ...wellFormedSend(), sig: 'x' }, 'sig'],
      ['profile', { userId: '1' }, 'userId'],
      ['profile', { userId: 0 }, 'userId'],
      ['profile', { username: 7 }, 'username'],
      ['update-profile', { firstName: ['Ann'] }, 'firstName'],
      ['update-profile', { lastName: true }, 'lastName'],
      ['update-profile', { firstName: 'broken \uD800 surrogate' }, 'firstName'],
      ['online', { room: 1 }, 'room'],
      ['online', { after: '7' }, 'after'],
      ['change-password', { authKey: null }, 'authKey'],
    ];
    let n = 0;
    for (const [type, fields, field] of cases) {
      const id = `f${++n}`;
      const reply = await client.sendRaw(JSON.stringify({ ...fields, id, type }), id);
      assert.equal(reply.ok, false, `${type} ${field}`);
      assert.equal(reply.error?.code, 'INVALID_FIELD', `${type} ${JSON.stringify(fields).slice(0, 120)}`);
      assert.equal(reply.error?.field, field, `${type}: ${reply.error?.message}`);
    }
    await stillChatting(group);
  });

  test('requests that need a login get NOT_AUTHENTICATED before logging in; ping and salt do not need one', async () => {
    const client = await connect(relay);
    const cases: [string, Record<string, unknown>][] = [
      ['join', { room: group.room }],
      ['leave', { room: group.room }],
      [
        'send',
        {
          ...wellFormedSend(),
          room: group.room,
          author: group.alice.user.profile.id,
        },
      ],
      ['profile', { userId: group.alice.user.profile.id }],
      ['profile', { username: group.alice.user.username }],
      ['online', {}],
      ['online', { room: group.room }],
      ['logout', {}],
      ['update-profile', { firstName: 'Mallory' }],
      [
        'change-password',
        {
          authKey: 'A'.repeat(43),
          kdf: registration('x').kdf,
          newAuthKey: 'A'.repeat(43),
          keySalt: 'A'.repeat(43),
          publicKey: newSigningKey().publicKey,
        },
      ],
    ];
    for (const [type, fields] of cases) {
      const reply = await client.request(type, fields);
      assert.equal(reply.ok, false, type);
      assert.equal(reply.error?.code, 'NOT_AUTHENTICATED', `${type}: ${reply.error?.message}`);
    }
    assert.equal((await client.request('ping')).ok, true);
    assert.equal((await client.request('salt', { username: group.alice.user.username })).ok, true);
    assert.equal(
      group.bob.client.events.filter((e) => e.ev === 'message' && e.author !== group.alice.user.profile.id).length,
      0,
      'nothing reached the room',
    );
    await stillChatting(group);
  });
});

describe('frames the relay will not read', () => {
  test('a frame over 64 KB is cut off: the connection is dropped (1006 on uWS, 1009 on the Node engine) and the sender leaves its rooms', async () => {
    const attacker = await loggedIn(relay, group.room);
    await group.bob.client.waitForEvent((e) => e.ev === 'join' && e.user?.id === attacker.user.profile.id);

    // Exactly 64 KB is still read.
    const head = '{"id":"edge","type":"ping","pad":"';
    const edge = `${head}${'x'.repeat(64 * 1024 - head.length - 2)}"}`;
    assert.equal(Buffer.byteLength(edge), 64 * 1024);
    assert.equal((await attacker.client.sendRaw(edge, 'edge')).ok, true);

    const closed = await sendAndClose(
      attacker.client,
      JSON.stringify({ id: 'big', type: 'ping', pad: 'x'.repeat(64 * 1024) }),
    );
    assert.equal(closed.code, unreadFrameCode(relay, 'too-big'));
    assert.equal(attacker.client.replies.filter((r) => r.re === 'big').length, 0, 'the frame was never answered');
    const left = await group.bob.client.waitForEvent((e) => e.ev === 'leave' && e.userId === attacker.user.profile.id);
    assert.deepEqual(left, {
      ev: 'leave',
      room: group.room,
      userId: attacker.user.profile.id,
      memberSeq: left.memberSeq,
    });
    assert.ok(
      Number.isSafeInteger(left.memberSeq) && (left.memberSeq as number) > 1,
      'numbered after the join before it',
    );
    await stillChatting(group);
  });

  test('a request split into WebSocket fragments is read as one frame, and fragments adding up to over 64 KB are cut off', async () => {
    const client = await connect(relay);
    const reply = new Promise<ReplyFrame>((resolve) =>
      client.socket.on('message', (data) => {
        const frame = JSON.parse(String(data));
        if (frame.re === 'frag') resolve(frame);
      }),
    );
    client.socket.send('{"id":"frag","ty', { fin: false });
    client.socket.send('pe":"pi', { fin: false });
    client.socket.send('ng"}', { fin: true });
    assert.equal((await withTimeout(reply, 'the fragmented ping')).ok, true);

    for (let i = 0; i < 4; i++) client.socket.send('x'.repeat(20 * 1024), { fin: false });
    const closed = await sendAndClose(client, '}');
    assert.equal(closed.code, unreadFrameCode(relay, 'too-big'));
    await stillChatting(group);
  });

  test('a binary frame closes the connection with 1003', async () => {
    const attacker = await loggedIn(relay, group.room);
    const closed = await sendAndClose(attacker.client, Buffer.from('{"id":1,"type":"ping"}'), true);
    assert.deepEqual(closed, {
      code: 1003,
      reason: 'binary frames are not supported',
    });
    await group.bob.client.waitForEvent((e) => e.ev === 'leave' && e.userId === attacker.user.profile.id);
    await stillChatting(group);
  });

  test('invalid UTF-8 in a text frame ends the connection (1006 on uWS, 1007 on the Node engine)', async () => {
    const broken: [string, number[]][] = [
      ['stray 0xFF', [0x7b, 0xff, 0x7d]],
      ['overlong slash', [0x22, 0xc0, 0xaf, 0x22]],
      ['encoded surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22]],
      ['truncated sequence', [0x22, 0xe2, 0x82]],
      ['above U+10FFFF', [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]],
    ];
    for (const [what, bytes] of broken) {
      const attacker = await connect(relay);
      const closed = await sendAndClose(attacker, Buffer.from(bytes), false);
      assert.equal(closed.code, unreadFrameCode(relay, 'not-utf8'), what);
      assert.equal(attacker.replies.length, 0, `${what}: no reply`);
    }
    // A lone surrogate written as a JSON escape is valid UTF-8 on the wire; the relay reads it and refuses the field.
    const client = await connect(relay);
    const reply = await client.sendRaw('{"id":"esc","type":"salt","username":"ab\\ud800cd"}', 'esc');
    assert.equal(reply.error?.code, 'INVALID_FIELD');
    assert.equal(reply.error?.field, 'username');
    await stillChatting(group);
  });

  test('deeply nested JSON is answered like any other frame', async () => {
    const client = await connect(relay);
    const depth = 20000;
    const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    assert.deepEqual(await client.sendRaw(nested, null), errorReply(null, 'BAD_FRAME'));
    assert.equal((await client.sendRaw(`{"id":"deep","type":"ping","x":${nested}}`, 'deep')).ok, true);
    await stillChatting(group);
  });
});

// ---------------------------------------------------------------------------------------------

describe('request floods (relay started with --rate 5)', () => {
  let slow: RelayProcess;
  let slowGroup: Bystanders;
  before(async () => {
    slow = await startRelay({ args: ['--rate', '5'] });
    slowGroup = await bystanders(slow);
  });
  after(() => slow.stop());

  test('past the burst of 10, requests get RATE_LIMITED with retryAfterMs, one reply each; waiting that long works again', async () => {
    const flooder = { client: await connect(slow) }; // has spent no tokens yet
    const sentAt = Date.now();
    const replies = await Promise.all(Array.from({ length: 20 }, () => flooder.client.request('ping')));
    const spanMs = Date.now() - sentAt;
    const accepted = replies.filter((r) => r.ok);
    const limited = replies.filter((r) => !r.ok);
    // The full burst of 10, plus a token per 200 ms (--rate 5) for as long as the 20 took to be
    // answered: none on a quiet machine, a few where a busy one stretches the round trip.
    const refilled = Math.floor((spanMs * 5) / 1000);
    assert.ok(
      accepted.length >= 10 && accepted.length <= 10 + refilled,
      `burst of twice the rate: ${accepted.length} accepted in ${spanMs} ms`,
    );
    assert.equal(accepted.length + limited.length, 20);
    for (const reply of limited) {
      assert.equal(reply.error?.code, 'RATE_LIMITED');
      assert.ok(
        Number.isInteger(reply.error?.retryAfterMs) &&
          reply.error!.retryAfterMs! > 0 &&
          reply.error!.retryAfterMs! <= 200,
        `retryAfterMs ${reply.error?.retryAfterMs}`,
      );
    }
    assert.equal(new Set(replies.map((r) => r.re)).size, 20, 'each request got its own reply');
    await new Promise((resolve) => setTimeout(resolve, limited.at(-1)!.error!.retryAfterMs! + 20));
    assert.equal((await flooder.client.request('ping')).ok, true, 'served again after waiting');
    await stillChatting(slowGroup);
  });

  test('a connection that keeps flooding after RATE_LIMITED replies is closed with 1008', async () => {
    const flooder = await loggedIn(slow, slowGroup.room);
    for (let i = 0; i < 200; i++) flooder.client.socket.send(JSON.stringify({ id: i, type: 'ping' }));
    const closed = await withTimeout(flooder.client.closed, 'the flooder to be cut off');
    assert.deepEqual(closed, { code: 1008, reason: 'rate limit exceeded' });
    const limited = flooder.client.replies.filter((r) => r.error?.code === 'RATE_LIMITED').length;
    assert.ok(limited >= 50 && flooder.client.replies.length < 200, `${limited} RATE_LIMITED replies before the close`);
    await slowGroup.bob.client.waitForEvent((e) => e.ev === 'leave' && e.userId === flooder.user.profile.id);
    await stillChatting(slowGroup);
    assert.match(slow.stderr(), /closing a connection that keeps flooding/);
  });

  test('the limit is per connection: the flood does not slow anyone else down', async () => {
    const flooder = await connect(slow);
    for (let i = 0; i < 30; i++) flooder.socket.send(JSON.stringify({ id: i, type: 'ping' }));
    for (let i = 0; i < 5; i++) await stillChatting(slowGroup);
    await flooder.close();
  });
});

// ---------------------------------------------------------------------------------------------

describe('junk frames', () => {
  /** The fields of each request type, so that many junk frames are nearly valid and reach the handlers. */
  const SCHEMA: Record<string, readonly string[]> = REQUEST_FIELDS;
  const JUNK_TYPES = ['', 'PING', 'fly', '__proto__', 'constructor', 'toString', 'valueOf', 'send ', 'register\u0000'];
  const FIELDS = [...new Set(Object.values(SCHEMA).flat())];
  const JUNK_FIELDS = ['__proto__', 'constructor', 'prototype', 'seq', 'ev', 're', 'ok', 'x'];
  const SPECIAL_CHARS = [
    '\u0000',
    '\u0007',
    '\n',
    '\u202E',
    '\u200B',
    '\uFEFF',
    '\uD800',
    '\uDFFF',
    '😀',
    'é',
    'ｉ',
    '"',
    '\\',
    '<',
    ' ',
  ];

  interface JunkOptions {
    seed: number;
    count: number;
    /** Offset for the generated ids, so two runs never share one. */
    offset: number;
    types: string[];
    /** The user id of the connection, when logged in: some junk messages then claim the right author. */
    self?: number;
  }

  function junkFrames({
    seed,
    count,
    offset,
    types,
    self,
  }: JunkOptions): { text: string; re: string | number | null }[] {
    const random = seededRandom(seed);
    const int = (n: number): number => Math.floor(random() * n);
    const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
    const randomString = (max: number): string => {
      let s = '';
      const length = int(max + 1);
      for (let i = 0; i < length; i++) s += random() < 0.2 ? pick(SPECIAL_CHARS) : String.fromCharCode(32 + int(95));
      return s;
    };
    const randomBase64 = (bytes: number): string =>
      Buffer.from(Array.from({ length: bytes }, () => int(256))).toString('base64url');
    const kdf = (): unknown => ({
      alg: 'scrypt',
      N: 2 ** 17,
      r: 8,
      p: 1,
      salt: randomBase64(16),
    });
    /** A value that passes (or nearly passes) validation for `field`. */
    const plausible = (field: string): unknown => {
      switch (field) {
        case 'username':
          return pick([
            group.alice.user.username,
            group.bob.user.username.toUpperCase(),
            `junk${int(1e6)}`,
            'Ann',
            'ab',
          ]);
        case 'firstName':
        case 'lastName':
          return pick(['Ann', 'Ｂob', ' Ева ', randomString(10)]);
        case 'kdf':
          return kdf();
        case 'authKey':
        case 'newAuthKey':
        case 'keySalt':
        case 'publicKey':
        case 'token':
          return randomBase64(32);
        case 'room':
          return pick(['general', group.room, `r${int(40)}`, 'Général']);
        case 'after':
        case 'limit':
          return int(100);
        case 'author':
          return pick([self ?? 1, group.alice.user.profile.id, 1 + int(20)]);
        case 'cid':
          return `abcdefgh${int(1e6)}`;
        case 'ts':
          return Date.now() + pick([0, 0, 10 * 60_000]);
        case 'text':
          return pick(['hello', randomString(50), 'x'.repeat(4000)]);
        case 'sig':
          return randomBase64(64);
        case 'userId':
          return pick([group.alice.user.profile.id, 1 + int(20), 1e9]);
        default:
          return value(0);
      }
    };
    const value = (depth: number): unknown => {
      switch (int(11)) {
        case 0:
          return null;
        case 1:
          return random() < 0.5;
        case 2:
          return pick([0, -1, 1, 2 ** 31, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER, int(1e9)]);
        case 3:
          return pick([0.5, -0.25, 1e308, -1e-308, 3.14159]);
        case 4:
          return randomString(12);
        case 5:
          return randomString(200);
        case 6:
          return 'x'.repeat(int(6000));
        case 7:
          return depth < 3 ? Array.from({ length: int(5) }, () => value(depth + 1)) : [];
        case 8:
          return depth < 3
            ? Object.fromEntries(Array.from({ length: int(5) }, () => [randomString(8), value(depth + 1)]))
            : {};
        case 9:
          return String(int(1000));
        default:
          return plausible(pick(FIELDS));
      }
    };
    const badIds = [-1, 1.5, '', 'x'.repeat(65), null, true, {}, [], 2 ** 53, '1'.repeat(65)];
    const frames: { text: string; re: string | number | null }[] = [];
    while (frames.length < count) {
      const i = offset + frames.length;
      const kind = int(20);
      let text: string;
      let re: string | number | null = null;
      if (kind === 0) {
        text = randomString(300); // almost never JSON; if it is, it is no object with an id either
        if (/^\s*\{/.test(text)) continue;
      } else if (kind === 1) {
        text = JSON.stringify(pick([value(0), [value(1)], 'ping', 42]));
      } else {
        // A null-prototype object, so that "__proto__" and friends become real keys in the JSON.
        const frame: Record<string, unknown> = Object.create(null);
        const type = random() < 0.9 ? pick(types) : pick(JUNK_TYPES);
        if (random() < 0.5 && Object.hasOwn(SCHEMA, type)) {
          // Nearly valid: every field of the type, then maybe one of them spoiled or one extra.
          for (const field of SCHEMA[type]!) if (random() < 0.9) frame[field] = plausible(field);
          if (random() < 0.3) frame[pick(SCHEMA[type]!.length ? SCHEMA[type]! : FIELDS)] = value(0);
          if (random() < 0.1) frame[pick(JUNK_FIELDS)] = value(0);
        } else {
          const fieldCount = int(7);
          for (let f = 0; f < fieldCount; f++)
            frame[random() < 0.85 ? pick(FIELDS) : pick(JUNK_FIELDS)] =
              random() < 0.5 ? plausible(pick(FIELDS)) : value(0);
        }
        if (random() < 0.95) frame.type = type;
        if (kind === 2) {
          if (random() < 0.8) frame.id = pick(badIds);
        } else {
          re = random() < 0.5 ? `j${i}` : 1_000_000 + i;
          frame.id = re;
        }
        text = JSON.stringify(frame);
      }
      if (text === undefined || Buffer.byteLength(text) > 60 * 1024) continue;
      frames.push({ text, re });
    }
    return frames;
  }

  test('2,000 random frames each get exactly one well-formed reply, and the relay stays up', async (t) => {
    // Half on a connection that starts anonymous, half on a logged-in member of the bystanders' room.
    const anonymous = await connect(relay);
    const member = await loggedIn(relay, group.room);
    const allTypes = Object.keys(SCHEMA);
    const runs = [
      {
        client: anonymous,
        frames: junkFrames({
          seed: 20240611,
          count: 1000,
          offset: 0,
          types: allTypes,
        }),
        before: anonymous.replies.length,
      },
      {
        // No logout for the member, so that its junk keeps reaching the logged-in handlers.
        client: member.client,
        frames: junkFrames({
          seed: 987654321,
          count: 1000,
          offset: 1000,
          types: allTypes.filter((t) => t !== 'logout'),
          self: member.user.profile.id,
        }),
        before: member.client.replies.length,
      },
    ];
    for (const { client, frames } of runs) for (const { text } of frames) client.socket.send(text);

    const codes = new Map<string, number>();
    for (const { client, frames, before } of runs) {
      await eventually(() => client.replies.length - before >= frames.length, `${frames.length} replies`, 30_000);
      const last = await withTimeout(
        Promise.race([client.closed.then(() => null), client.request('ping')]),
        'a last ping',
      );
      assert.ok(last?.ok, 'the connection is still open and serving');
      await new Promise((resolve) => setTimeout(resolve, 50)); // room for any stray extra reply
      const replies = client.replies.slice(before).filter((reply) => reply !== last);
      assert.equal(replies.length, frames.length, 'exactly one reply per frame');

      const count = <K>(keys: K[]): Map<K, number> => {
        const counts = new Map<K, number>();
        for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
        return counts;
      };
      assert.deepEqual(
        count(replies.map((r) => r.re)),
        count(frames.map((f) => f.re)),
        'each id answered once; unusable ids answered with re null',
      );

      for (const reply of replies) {
        assert.equal(typeof reply.ok, 'boolean');
        if (reply.ok) {
          assert.equal(typeof reply.result, 'object', JSON.stringify(reply));
        } else {
          assert.ok(
            RELAY_ERROR_CODES.has(reply.error!.code),
            `an error code in PROTOCOL.md's table: ${reply.error!.code}`,
          );
          assert.notEqual(reply.error!.code, 'INTERNAL', `no internal errors: ${JSON.stringify(reply)}`);
          assert.equal(typeof reply.error!.message, 'string');
        }
        const code = reply.ok ? 'ok' : reply.error!.code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    t.diagnostic(`reply codes: ${JSON.stringify(Object.fromEntries([...codes].sort((a, b) => b[1] - a[1])))}`);
    await stillChatting(group);
    assertNoRelayErrors(relay);
  });
});
