/**
 * Public profiles, profile changes and avatar uploads, against the real relay process over real
 * WebSockets and HTTP.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import { TestClient, eventually, registerUser, uniqueName, withTimeout } from '../helpers/client.ts';
import type { EventFrame, TestUser } from '../helpers/client.ts';
import { startRelay, unreadFrameCode } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { fixture, pngChunk } from '../helpers/images.ts';
import { rawGet } from '../helpers/raw-http.ts';

let relay: RelayProcess;
before(async () => {
  relay = await startRelay();
});
after(() => relay.stop());

// ---------------------------------------------------------------------------------------------
// Helpers

interface Person {
  client: TestClient;
  user: TestUser;
}

async function loggedIn(on: RelayProcess = relay, options: WebSocket.ClientOptions = {}): Promise<Person> {
  const client = await TestClient.connect(on.wsUrl, options);
  // A connection the relay drops must fail its test, not crash the test process.
  client.socket.on('error', () => {});
  return { client, user: await registerUser(client) };
}

const PROFILE_FIELDS = ['avatar', 'firstName', 'id', 'keys', 'lastName', 'role', 'username'];

/** Waits for a `profile` event about `userId` matching `match` (the relay sends it with the reply). */
function profileEvent(
  client: TestClient,
  userId: number,
  match: (user: any) => boolean = () => true,
): Promise<EventFrame> {
  return client.waitForEvent((e) => e.ev === 'profile' && e.user?.id === userId && match(e.user), 'profile event');
}

function relayAlive(process: RelayProcess): void {
  assert.equal(process.child.exitCode, null, 'the relay process is still running');
  assert.equal(process.child.signalCode, null, 'the relay process is still running');
}

/**
 * A PNG whose header declares `width` x `height` RGB pixels. The IDAT holds `rows` real scanlines,
 * so a small image is fully decodable, and a huge header can front a few bytes of data: the relay
 * reads dimensions from the header and must refuse before any decoder would allocate for them.
 */
function makePng(width: number, height: number, seed = 0, rows = height): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  const stride = 1 + Math.min(width, 64) * 3;
  const raw = Buffer.alloc(Math.min(rows, 64) * stride);
  for (let i = 0; i < raw.length; i++) raw[i] = i % stride === 0 ? 0 : (i * 7 + seed) & 255;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND'),
  ]);
}

let pngSeed = 1;
/** A real 16x16 PNG, different bytes on every call (so each upload gets its own URL). */
const freshPng = (): Buffer => makePng(16, 16, pngSeed++);

interface UploadReply {
  status: number;
  headers: Headers;
  body: any;
}

async function upload(
  on: RelayProcess,
  body: Uint8Array | ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
  init: RequestInit = {},
): Promise<UploadReply> {
  const payload = (body instanceof Uint8Array ? new Uint8Array(body) : body) as BodyInit;
  const res = await fetch(`${on.url}/v1/avatar`, {
    method: 'POST',
    headers,
    body: payload,
    ...init,
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === '' ? null : JSON.parse(text),
  };
}

const bearer = (person: Person): Record<string, string> => ({
  authorization: `Bearer ${person.user.session.token}`,
});

/**
 * An avatar upload sent all but its last byte: `sent` resolves once that much has left, `finish()`
 * sends the last byte, and `reply` resolves with the relay's answer.
 */
function heldUpload(
  on: RelayProcess,
  body: Buffer,
  headers: Record<string, string>,
): {
  sent: Promise<void>;
  finish(): void;
  reply: Promise<{ status: number; body: any }>;
} {
  const request = http.request(`${on.url}/v1/avatar`, {
    method: 'POST',
    headers: {
      ...headers,
      'content-type': 'image/png',
      'content-length': String(body.length),
    },
    agent: false,
  });
  const reply = new Promise<{ status: number; body: any }>((resolve, reject) => {
    request.on('error', reject).on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
  });
  const sent = new Promise<void>((resolve, reject) =>
    request.write(body.subarray(0, -1), (error) => (error ? reject(error) : resolve())),
  );
  return { sent, finish: () => request.end(body.subarray(-1)), reply };
}

function assertRefused(reply: UploadReply, status: number, code: string): void {
  assert.equal(reply.status, status, `HTTP status for ${code}: ${JSON.stringify(reply.body)}`);
  assert.equal(reply.body?.ok, false);
  assert.equal(reply.body?.error?.code, code);
  assert.equal(typeof reply.body?.error?.message, 'string');
}

// ---------------------------------------------------------------------------------------------

describe('public profiles', () => {
  test('any logged-in user reads another user’s public profile by id and by username', async () => {
    const owner = await loggedIn();
    const reader = await loggedIn();
    const expected = {
      id: owner.user.profile.id,
      username: owner.user.username,
      firstName: 'Иван',
      lastName: 'Petrov',
      avatar: null,
      keys: [
        {
          publicKey: owner.user.publicKey,
          since: owner.user.profile.keys[0]!.since,
        },
      ],
      role: 'user',
    };
    const byId = await reader.client.call('profile', {
      userId: owner.user.profile.id,
    });
    assert.deepEqual(byId.user, expected);
    assert.deepEqual(Object.keys(byId.user).sort(), PROFILE_FIELDS, 'nothing private (auth hash, key salt, KDF) leaks');
    const byName = await reader.client.call('profile', {
      username: owner.user.username,
    });
    assert.deepEqual(byName.user, expected);
    const byOtherCase = await reader.client.call('profile', {
      username: owner.user.username.toUpperCase(),
    });
    assert.deepEqual(byOtherCase.user, expected, 'usernames are found ignoring case');
  });

  test('reading a profile without logging in is refused with NOT_AUTHENTICATED', async () => {
    const owner = await loggedIn();
    const anonymous = await TestClient.connect(relay.wsUrl);
    for (const fields of [{ userId: owner.user.profile.id }, { username: owner.user.username }]) {
      const reply = await anonymous.request('profile', fields);
      assert.equal(reply.ok, false);
      assert.equal(reply.error?.code, 'NOT_AUTHENTICATED', JSON.stringify(fields));
    }
    await anonymous.close();
  });

  test('an id or username nobody has is refused with UNKNOWN_USER', async () => {
    const { client } = await loggedIn();
    assert.equal((await client.request('profile', { userId: 987654321 })).error?.code, 'UNKNOWN_USER');
    assert.equal((await client.request('profile', { username: uniqueName('nobody') })).error?.code, 'UNKNOWN_USER');
  });
});

describe('profile changes', () => {
  test('a user changes first name, last name and username, and every logged-in user hears it at once', async () => {
    const me = await loggedIn();
    const other = await loggedIn();
    const anonymous = await TestClient.connect(relay.wsUrl);
    const newName = uniqueName('Renamed');
    const { user } = await me.client.call('update-profile', {
      username: newName,
      firstName: '  Мария ',
      lastName: 'Ｓmith',
    });
    assert.equal(user.id, me.user.profile.id);
    assert.equal(user.username, newName);
    assert.equal(user.firstName, 'Мария', 'names are trimmed');
    assert.equal(user.lastName, 'Smith', 'names are NFKC-normalized (full-width letters become ASCII)');
    assert.deepEqual(user.keys, me.user.profile.keys);

    const event = await profileEvent(other.client, user.id, (u) => u.username === newName);
    assert.deepEqual(event, { ev: 'profile', user });
    assert.deepEqual((await other.client.call('profile', { userId: user.id })).user, user);
    assert.deepEqual((await other.client.call('profile', { username: newName })).user, user);
    assert.equal(
      (await other.client.request('profile', { username: me.user.username })).error?.code,
      'UNKNOWN_USER',
      'the old name is free',
    );

    await anonymous.call('ping');
    assert.equal(
      anonymous.events.filter((e) => e.ev === 'profile').length,
      0,
      'connections that never logged in are not told',
    );
    await anonymous.close();
  });

  test('changing one field leaves the others as they were', async () => {
    const me = await loggedIn();
    const { user } = await me.client.call('update-profile', {
      lastName: 'Ivanova',
    });
    assert.deepEqual(user, { ...me.user.profile, lastName: 'Ivanova' });
  });

  test('the user id never changes, whatever is updated', async () => {
    const me = await loggedIn();
    const other = await loggedIn();
    const id = me.user.profile.id;
    const changes = [
      { firstName: 'Пётр' },
      { lastName: 'Сидоров' },
      { username: uniqueName('first') },
      {
        username: uniqueName('second'),
        firstName: 'Anna',
        lastName: 'Karenina',
      },
    ];
    for (const change of changes) {
      const { user } = await me.client.call('update-profile', change);
      assert.equal(user.id, id, JSON.stringify(change));
      assert.equal((await other.client.call('profile', { userId: id })).user.username, user.username);
    }
    // The freed name can be taken by someone else without touching the first account.
    const takeover = await loggedIn();
    await takeover.client.call('update-profile', {
      username: me.user.username,
    });
    assert.notEqual(takeover.user.profile.id, id);
    assert.equal((await other.client.call('profile', { userId: id })).user.username, changes[3]!.username);
  });

  test('renaming to a username someone else has, in any letter case, is refused with USERNAME_TAKEN', async () => {
    const me = await loggedIn();
    const taken = await loggedIn(relay);
    for (const variant of [taken.user.username, taken.user.username.toUpperCase(), taken.user.username.toLowerCase()]) {
      const reply = await me.client.request('update-profile', {
        username: variant,
        firstName: 'Nope',
      });
      assert.equal(reply.error?.code, 'USERNAME_TAKEN', variant);
      assert.equal(reply.error?.field, 'username');
    }
    const unchanged = (await taken.client.call('profile', { userId: me.user.profile.id })).user;
    assert.deepEqual(unchanged, me.user.profile, 'a refused change changes nothing, not even the other fields');
  });

  test('a user may change only the letter case of their own username', async () => {
    const me = await loggedIn();
    const { user } = await me.client.call('update-profile', {
      username: me.user.username.toUpperCase(),
    });
    assert.equal(user.username, me.user.username.toUpperCase());
  });

  test('whitespace-only names are refused with EMPTY_FIELD, naming the field', async () => {
    const me = await loggedIn();
    for (const field of ['firstName', 'lastName', 'username']) {
      for (const value of ['', ' ', '\t\n ', '\u3000']) {
        const reply = await me.client.request('update-profile', {
          [field]: value,
        });
        assert.equal(reply.error?.code, 'EMPTY_FIELD', `${field}=${JSON.stringify(value)}`);
        assert.equal(reply.error?.field, field);
      }
    }
  });

  test('names with control characters, bidi overrides or invisible characters are refused with INVALID_FIELD', async () => {
    const me = await loggedIn();
    const bad = [
      'Ann\u0000a', // NUL
      'Ann\u0007a', // bell
      'Ann\u001Ba', // escape
      'Ann\u007Fa', // delete
      'Ann\u0085a', // C1 next line
      'Ann\na', // line break inside
      'Ann\u202Ea', // right-to-left override
      'Ann\u202Da', // left-to-right override
      'Ann\u2066a', // left-to-right isolate
      'Ann\u200Ba', // zero-width space
      'Ann\u2060a', // word joiner
      'Ann\uFEFFa', // zero-width no-break space
      'Ann\uD800a', // lone surrogate
      'x'.repeat(65), // over 64 characters
    ];
    for (const field of ['firstName', 'lastName']) {
      for (const value of bad) {
        const reply = await me.client.request('update-profile', {
          [field]: value,
        });
        assert.equal(reply.error?.code, 'INVALID_FIELD', `${field}=${JSON.stringify(value)}`);
        assert.equal(reply.error?.field, field);
      }
    }
    for (const value of ['ab\u202Ecd', 'ab\u200Bcd', 'ab\u0000cd', 'has space', 'x'.repeat(33)]) {
      const reply = await me.client.request('update-profile', {
        username: value,
      });
      assert.equal(reply.error?.code, 'INVALID_FIELD', `username=${JSON.stringify(value)}`);
      assert.equal(reply.error?.field, 'username');
    }
    const unchanged = (await me.client.call('profile', { userId: me.user.profile.id })).user;
    assert.deepEqual(unchanged, me.user.profile);
  });

  test('64 characters of any script fit in a name', async () => {
    const me = await loggedIn();
    const name = '李'.repeat(32) + 'é'.repeat(32);
    const { user } = await me.client.call('update-profile', {
      firstName: name,
    });
    assert.equal(user.firstName, name);
  });

  test('a 10 MB name is cut off as a too-big frame: the connection is dropped, nothing changes, the relay serves everyone else', async () => {
    const me = await loggedIn();
    const other = await loggedIn();
    const huge = JSON.stringify({
      id: 'huge',
      type: 'update-profile',
      firstName: 'x'.repeat(10 * 1024 * 1024),
    });
    me.client.socket.send(huge);
    const closed = await withTimeout(me.client.closed, 'the oversized connection to close');
    assert.equal(closed.code, unreadFrameCode(relay, 'too-big'));
    assert.equal(me.client.replies.filter((r) => r.re === 'huge').length, 0, 'no reply: the frame was never read');

    const profile = (await other.client.call('profile', { userId: me.user.profile.id })).user;
    assert.equal(profile.firstName, 'Иван', 'the name did not change');
    assert.equal(other.client.events.filter((e) => e.ev === 'profile' && e.user.id === me.user.profile.id).length, 0);
    await other.client.call('update-profile', { firstName: 'Still' });
    const third = await loggedIn();
    assert.equal((await third.client.call('profile', { userId: other.user.profile.id })).user.firstName, 'Still');
    relayAlive(relay);
  });
});

// ---------------------------------------------------------------------------------------------

describe('avatar upload', () => {
  test('a PNG is stored under its SHA-256, served back byte for byte, and announced to everyone', async () => {
    const me = await loggedIn();
    const other = await loggedIn();
    const png = fixture('chromium-300x200.png');
    const reply = await upload(relay, png, {
      ...bearer(me),
      'content-type': 'image/png',
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.headers.get('content-type'), 'application/json');
    const sha = crypto.createHash('sha256').update(png).digest('hex');
    const avatar = `/avatars/${sha}.png`;
    assert.deepEqual(reply.body, {
      ok: true,
      result: { user: { ...me.user.profile, avatar } },
    });

    const image = await fetch(`${relay.url}${avatar}`);
    assert.equal(image.status, 200);
    assert.equal(image.headers.get('content-type'), 'image/png');
    assert.equal(image.headers.get('x-content-type-options'), 'nosniff');
    assert.match(image.headers.get('cache-control') ?? '', /\bimmutable\b/);
    assert.match(image.headers.get('cache-control') ?? '', /max-age=\d{7,}/);
    assert.ok(Buffer.from(await image.arrayBuffer()).equals(png), 'the same bytes come back');

    const event = await profileEvent(other.client, me.user.profile.id, (u) => u.avatar === avatar);
    assert.deepEqual(event.user, { ...me.user.profile, avatar });
    assert.equal((await other.client.call('profile', { userId: me.user.profile.id })).user.avatar, avatar);
    const mine = await profileEvent(me.client, me.user.profile.id, (u) => u.avatar === avatar);
    assert.equal(mine.user.avatar, avatar, 'the uploader’s other tabs learn it too');
  });

  test('JPEG and WebP avatars are accepted and served with their own content type', async () => {
    const me = await loggedIn();
    const cases = [
      { file: 'chromium-300x200.jpg', ext: 'jpg', mime: 'image/jpeg' },
      { file: 'simple-300x200-vp8.webp', ext: 'webp', mime: 'image/webp' },
      { file: 'simple-300x200-vp8l.webp', ext: 'webp', mime: 'image/webp' },
      {
        file: 'chromium-300x200-vp8x-alpha.webp',
        ext: 'webp',
        mime: 'image/webp',
      },
    ];
    for (const { file, ext, mime } of cases) {
      const bytes = fixture(file);
      // The declared content type is ignored either way: the bytes decide.
      const reply = await upload(relay, bytes, {
        ...bearer(me),
        'content-type': 'application/octet-stream',
      });
      assert.equal(reply.status, 200, `${file}: ${JSON.stringify(reply.body)}`);
      const avatar = `/avatars/${crypto.createHash('sha256').update(bytes).digest('hex')}.${ext}`;
      assert.equal(reply.body.result.user.avatar, avatar, file);
      const image = await fetch(`${relay.url}${avatar}`);
      assert.equal(image.headers.get('content-type'), mime, file);
      assert.ok(Buffer.from(await image.arrayBuffer()).equals(bytes), file);
    }
  });

  test('two uploads of the same new image finishing at the same moment both succeed with one URL; the file is written once, whole, with no temp file left', async () => {
    // Until identical saves shared one write, two of them at once shared one temp file and one got
    // 507 STORAGE_FAILED (RELIABILITY.md); chaos.test.ts met that only by chance. Here both bodies
    // are held back one byte short until the relay has read them, then finished in the same tick.
    const [ann, bob] = await Promise.all([loggedIn(), loggedIn()]);
    const image = freshPng();
    const name = `${crypto.createHash('sha256').update(image).digest('hex')}.png`;
    const folder = path.join(relay.dataDir, 'avatars');
    // Every write goes through a temp file of its own (`<name>.<pid>.<random>.tmp`): count them.
    const temps = new Set<string>();
    const sentinel = `sentinel-${name}`;
    let sentinelSeen = false;
    const watcher = fs.watch(folder, (_, file) => {
      if (file?.startsWith(`${name}.`) && file.endsWith('.tmp')) temps.add(file);
      if (file === sentinel) sentinelSeen = true;
    });
    try {
      const held = [ann, bob].map((person) => heldUpload(relay, image, bearer(person)));
      await Promise.all(held.map((upload) => upload.sent));
      // A request on another connection, answered after the relay has read the held bodies so far.
      assert.equal((await rawGet(relay.port, '/v1/health')).status, 200);
      for (const upload of held) upload.finish();
      const replies = await Promise.all(held.map((upload) => upload.reply));

      for (const reply of replies) assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.deepEqual(
        replies.map((reply) => reply.body.result.user.avatar),
        [`/avatars/${name}`, `/avatars/${name}`],
        'both get the same URL',
      );
      // inotify keeps order: once the sentinel's event is in, so are those of the uploads' writes.
      fs.writeFileSync(path.join(folder, sentinel), '');
      await eventually(() => sentinelSeen, 'the watcher to catch up');
      fs.rmSync(path.join(folder, sentinel));
      assert.equal(temps.size, 1, `the image was written once, through one temp file: ${[...temps].join(', ')}`);
      const files = fs.readdirSync(folder);
      assert.deepEqual(
        files.filter((file) => file.startsWith(name)),
        [name],
        'one file for the image',
      );
      assert.deepEqual(
        files.filter((file) => file.endsWith('.tmp')),
        [],
        'no temp file left',
      );
      assert.ok(fs.readFileSync(path.join(folder, name)).equals(image), 'the stored file is the whole image');
      const served = await fetch(`${relay.url}/avatars/${name}`);
      assert.ok(Buffer.from(await served.arrayBuffer()).equals(image), 'and is served byte for byte');
    } finally {
      watcher.close();
    }
  });

  test('an upload without a token is refused with 401 NOT_AUTHENTICATED', async () => {
    assertRefused(await upload(relay, freshPng()), 401, 'NOT_AUTHENTICATED');
    assertRefused(await upload(relay, freshPng(), { authorization: 'Basic dXNlcjpwYXNz' }), 401, 'NOT_AUTHENTICATED');
    assertRefused(await upload(relay, freshPng(), { authorization: 'Bearer ' }), 401, 'NOT_AUTHENTICATED');
  });

  test('an upload with an unknown or ended session is refused with 401 SESSION_INVALID', async () => {
    assertRefused(
      await upload(relay, freshPng(), {
        authorization: `Bearer ${crypto.randomBytes(32).toString('base64url')}`,
      }),
      401,
      'SESSION_INVALID',
    );
    const me = await loggedIn();
    const headers = bearer(me);
    await me.client.call('logout');
    assertRefused(await upload(relay, freshPng(), headers), 401, 'SESSION_INVALID');
  });

  test('SVG, HTML, GIF and other non-images are refused with 415 BAD_IMAGE, whatever the content type says', async () => {
    const me = await loggedIn();
    const png = freshPng();
    const gif = Buffer.concat([
      Buffer.from('GIF89a', 'ascii'),
      Buffer.from([
        1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b,
      ]),
    ]);
    const bodies: [string, Buffer, string][] = [
      ['SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), 'image/svg+xml'],
      ['HTML', Buffer.from('<!doctype html><html><script>alert(document.cookie)</script></html>'), 'image/png'],
      ['GIF', gif, 'image/gif'],
      ['PNG with HTML after IEND', Buffer.concat([png, Buffer.from('<html><script>alert(1)</script>')]), 'image/png'],
      ['truncated PNG', png.subarray(0, png.length - 5), 'image/png'],
      ['empty body', Buffer.alloc(0), 'image/png'],
    ];
    for (const [what, body, type] of bodies) {
      assertRefused(await upload(relay, body, { ...bearer(me), 'content-type': type }), 415, 'BAD_IMAGE');
    }
    assert.equal(
      (await me.client.call('profile', { userId: me.user.profile.id })).user.avatar,
      null,
      'nothing was stored',
    );
  });

  test('a body over 512 KB is refused with 413 IMAGE_TOO_LARGE, whether or not it declares its length', async () => {
    const me = await loggedIn();
    const big = Buffer.concat([freshPng(), Buffer.alloc(600 * 1024, 0x41)]);
    assertRefused(await upload(relay, big, bearer(me)), 413, 'IMAGE_TOO_LARGE');

    // Chunked, so the relay can only count bytes as they arrive.
    const chunked = (): ReadableStream<Uint8Array> =>
      new ReadableStream({
        start(controller) {
          for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(64 * 1024).fill(i));
          controller.close();
        },
      });
    assertRefused(
      await upload(relay, chunked(), bearer(me), {
        duplex: 'half',
      } as RequestInit),
      413,
      'IMAGE_TOO_LARGE',
    );

    // A 5 MB photo straight from a phone: the refusal must reach the client, not a broken pipe.
    const photo = Buffer.alloc(5 * 1024 * 1024, 0x42);
    assertRefused(await upload(relay, photo, bearer(me)), 413, 'IMAGE_TOO_LARGE');
    assert.equal(
      (await me.client.call('profile', { userId: me.user.profile.id })).user.avatar,
      null,
      'nothing was stored',
    );
  });

  test('a refused upload still gets its answer while the client is sending a large body', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 0x43);
    assertRefused(await upload(relay, body), 401, 'NOT_AUTHENTICATED');
    assertRefused(
      await upload(relay, body, {
        authorization: `Bearer ${crypto.randomBytes(32).toString('base64url')}`,
      }),
      401,
      'SESSION_INVALID',
    );
  });

  test('an image of exactly 512 KB is not refused for its size', async () => {
    const me = await loggedIn();
    // A real PNG padded to the limit with an ancillary chunk: still one well-formed file.
    const png = freshPng();
    const head = png.subarray(0, 33); // signature + IHDR
    const tail = png.subarray(33);
    const padding = 512 * 1024 - png.length - 12;
    const file = Buffer.concat([head, pngChunk('tEXt', Buffer.alloc(padding, 0x61)), tail]);
    assert.equal(file.length, 512 * 1024);
    const reply = await upload(relay, file, bearer(me));
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
  });

  test('a PNG whose header claims 4000x4000 pixels is refused with 413 IMAGE_TOO_LARGE, though the file is tiny', async () => {
    const me = await loggedIn();
    const bomb = makePng(4000, 4000, 7, 2);
    assert.ok(bomb.length < 1024, 'a few hundred bytes on the wire');
    assertRefused(await upload(relay, bomb, bearer(me)), 413, 'IMAGE_TOO_LARGE');
    assertRefused(await upload(relay, makePng(1025, 1, 8), bearer(me)), 413, 'IMAGE_TOO_LARGE');
    const edge = await upload(relay, makePng(1024, 1024, 9, 2), bearer(me));
    assert.equal(edge.status, 200, `1024x1024 is allowed: ${JSON.stringify(edge.body)}`);
  });

  test('avatar URLs that name no stored file are 404, including path tricks', async () => {
    // Sent byte for byte (fetch would resolve the dots); static-files.test.ts tries many more.
    for (const name of ['0'.repeat(64) + '.png', '..%2Faccounts.log', '%2e%2e%2fsecret', '../accounts.log', 'x.png']) {
      const reply = await rawGet(relay.port, `/avatars/${name}`);
      assert.equal(reply.status, 404, name);
      assert.doesNotMatch(reply.raw.toString(), /"uid"|"kdf"/, `${name}: no account records`);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('avatar CORS and allowed origins', () => {
  let strict: RelayProcess;
  before(async () => {
    strict = await startRelay({ args: ['--origins', 'https://good.example'] });
  });
  after(() => strict.stop());

  test('with any origin allowed, a preflight from another site gets 204 and may send the Authorization header', async () => {
    const res = await fetch(`${relay.url}/v1/avatar`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://other.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://other.example');
    const allowed = (res.headers.get('access-control-allow-headers') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase());
    assert.ok(allowed.includes('authorization'), `allow-headers: ${allowed}`);
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /\bPOST\b/);
    const me = await loggedIn();
    const reply = await upload(relay, freshPng(), {
      ...bearer(me),
      origin: 'https://other.example',
    });
    assert.equal(reply.status, 200);
    assert.equal(
      reply.headers.get('access-control-allow-origin'),
      'https://other.example',
      'the page may read the reply',
    );
  });

  test('with --origins, uploads from another origin are refused with 403 FORBIDDEN_ORIGIN and its preflight fails', async () => {
    const me = await loggedIn(strict, { origin: 'https://good.example' });
    const preflight = await fetch(`${strict.url}/v1/avatar`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
      },
    });
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
    assertRefused(
      await upload(strict, freshPng(), {
        ...bearer(me),
        origin: 'https://evil.example',
      }),
      403,
      'FORBIDDEN_ORIGIN',
    );
    assert.equal((await me.client.call('profile', { userId: me.user.profile.id })).user.avatar, null);
  });

  test('with --origins, the allowed origin uploads normally', async () => {
    const me = await loggedIn(strict, { origin: 'https://good.example' });
    const preflight = await fetch(`${strict.url}/v1/avatar`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://good.example',
        'access-control-request-method': 'POST',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://good.example');
    const reply = await upload(strict, freshPng(), {
      ...bearer(me),
      origin: 'https://good.example',
    });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.headers.get('access-control-allow-origin'), 'https://good.example');
    assert.match(reply.body.result.user.avatar, /^\/avatars\/[0-9a-f]{64}\.png$/);
  });

  test('with --origins, a WebSocket from another origin is refused at the upgrade, the allowed one and non-browser clients connect', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(strict.wsUrl, {
        origin: 'https://evil.example',
      });
      socket.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        socket.terminate();
      });
      socket.on('error', () => {});
      socket.on('open', () => reject(new Error('the upgrade from evil.example was accepted')));
    });
    assert.equal(status, 403);
    const good = await TestClient.connect(strict.wsUrl, {
      origin: 'https://good.example',
    });
    assert.ok(good.events.some((e) => e.ev === 'hello'));
    const noOrigin = await TestClient.connect(strict.wsUrl);
    assert.ok(
      noOrigin.events.some((e) => e.ev === 'hello'),
      'non-browser clients send no Origin and are allowed',
    );
    await Promise.all([good.close(), noOrigin.close()]);
  });
});
