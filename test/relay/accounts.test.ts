import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  TestClient,
  eventually,
  newSigningKey,
  randomKey,
  registerUser,
  registration,
  signMessage,
  uniqueName,
} from '../helpers/client.ts';
import { readRecords } from '../helpers/log-files.ts';
import type { SessionResult } from '../../sdk/protocol.ts';
import { logRecords, startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

describe('registration', () => {
  let relay: RelayProcess;
  let client: TestClient;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());
  const fresh = async () => (client = await TestClient.connect(relay.wsUrl));

  test('creates an account with a numeric id and logs the new user in', async () => {
    await fresh();
    const name = uniqueName('Алёна');
    const result = await client.call('register', registration(name));
    assert.equal(typeof result.user.id, 'number');
    assert.equal(result.user.username, name);
    assert.equal(result.user.firstName, 'Иван');
    assert.match(result.token, /^[A-Za-z0-9_-]{43}$/, 'a 256-bit token');
    assert.ok(result.expiresAt > Date.now() + 29 * 24 * 3600 * 1000);
    const online = await client.call('online');
    assert.ok(online.users.some((u: { id: number }) => u.id === result.user.id));
  });

  test('refuses a second account with the same name, ignoring case and width', async () => {
    const base = uniqueName('Ivan');
    await (await fresh()).call('register', registration(base));
    for (const variant of [base.toUpperCase(), base.toLowerCase(), base.replace('I', 'Ｉ')]) {
      const reply = await (await fresh()).request('register', registration(variant));
      assert.equal(reply.error?.code, 'USERNAME_TAKEN', variant);
      assert.equal(reply.error?.field, 'username');
    }
  });

  test('the same registration sent again (its reply lost with its connection) signs in; a changed one is taken', async () => {
    const request = registration(uniqueName('again'));
    const first: SessionResult = await (await fresh()).call('register', request);
    const again: SessionResult = await (await fresh()).call('register', request);
    assert.equal(again.user.id, first.user.id, 'the same account, not a second one');
    assert.notEqual(again.token, first.token, 'a session of its own');
    assert.equal(again.keySalt, request.keySalt);
    const changed = [
      { ...request, keySalt: randomKey() },
      { ...request, kdf: { ...request.kdf, salt: randomKey().slice(0, 22) } },
      { ...request, publicKey: newSigningKey().publicKey },
      { ...request, authKey: randomKey() },
    ];
    for (const [i, variant] of changed.entries()) {
      const reply = await (await fresh()).request('register', variant);
      assert.equal(reply.error?.code, 'USERNAME_TAKEN', `variant ${i}`);
      assert.equal(reply.error?.field, 'username');
    }
  });

  test("a repeated registration is a login: a wrong key counts toward the name's lockout, which then refuses even the right one", async (t) => {
    const own = await startRelay({ args: ['--log-format', 'json'] });
    t.after(() => own.stop());
    const request = registration(uniqueName('locked'));
    await (await TestClient.connect(own.wsUrl)).call('register', request);
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const reply = await (await TestClient.connect(own.wsUrl)).request('register', {
        ...request,
        authKey: randomKey(),
      });
      codes.push(reply.error!.code);
    }
    assert.deepEqual(codes, Array(10).fill('USERNAME_TAKEN'));
    const locked = await (await TestClient.connect(own.wsUrl)).request('register', request);
    assert.equal(locked.error?.code, 'RATE_LIMITED', 'guesses through register lock the name like failed logins');
    const failed = logRecords(own).filter((record) => record.msg === 'failed login');
    assert.equal(failed.length, 10, 'each guess is logged as a failed login');
  });

  test('refuses empty and whitespace-only fields, naming the field', async () => {
    for (const field of ['username', 'firstName', 'lastName']) {
      for (const value of ['', '   ', '\t\n']) {
        const reply = await (await fresh()).request('register', {
          ...registration(uniqueName()),
          [field]: value,
        });
        assert.equal(reply.error?.code, 'EMPTY_FIELD', `${field}=${JSON.stringify(value)}`);
        assert.equal(reply.error?.field, field);
      }
    }
    const missing = await (await fresh()).request('register', {
      ...registration(uniqueName()),
      authKey: undefined,
    });
    assert.equal(missing.error?.code, 'INVALID_FIELD');
    assert.equal(missing.error?.field, 'authKey');
  });

  test('applies the username policy: 3-32 letters or digits of any script, with . _ - inside', async () => {
    for (const good of ['Володя', 'anna.k', 'a_b-c', 'ÅsaÖ', '李小龍']) {
      const reply = await (await fresh()).request('register', registration(`${good}${process.pid % 97}`));
      assert.equal(reply.ok, true, good);
    }
    for (const bad of ['ab', 'x'.repeat(33), 'has space', '-dash', 'dot.', 'emoji😀x', 'a\u202Eb12', 'semi;colon']) {
      const reply = await (await fresh()).request('register', registration(bad));
      assert.equal(reply.error?.code, 'INVALID_FIELD', bad);
    }
  });

  test('refuses KDF settings below the OWASP minimum', async () => {
    const weak = registration(uniqueName());
    weak.kdf.N = 2 ** 10;
    const reply = await (await fresh()).request('register', weak);
    assert.equal(reply.error?.code, 'INVALID_FIELD');
    assert.equal(reply.error?.field, 'kdf.N');
  });

  test('gives every account a different id, and the id never changes', async () => {
    const ids = new Set<number>();
    for (let i = 0; i < 5; i++) ids.add((await registerUser(await fresh())).profile.id);
    assert.equal(ids.size, 5);
    const user = await registerUser(await fresh());
    const renamed = await client.call('update-profile', {
      username: uniqueName('renamed'),
      firstName: 'Пётр',
    });
    assert.equal(renamed.user.id, user.profile.id);
  });
});

describe('login', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('logs in with the auth key and hands out the key salt only then', async () => {
    const user = await registerUser(await TestClient.connect(relay.wsUrl));
    const client = await TestClient.connect(relay.wsUrl);
    const salt = await client.call('salt', {
      username: user.username.toUpperCase(),
    });
    assert.equal(salt.kdf.N, 2 ** 17);
    const result = await client.call('login', {
      username: user.username,
      authKey: user.authKey,
    });
    assert.equal(result.user.id, user.profile.id);
    assert.equal(result.keySalt, user.session.keySalt);
    assert.notEqual(result.token, user.session.token, 'each login is its own session');
  });

  test('refuses a wrong auth key and an unknown user with the same error', async () => {
    const user = await registerUser(await TestClient.connect(relay.wsUrl));
    const client = await TestClient.connect(relay.wsUrl);
    const wrong = await client.request('login', {
      username: user.username,
      authKey: randomKey(),
    });
    const unknown = await client.request('login', {
      username: uniqueName('nobody'),
      authKey: randomKey(),
    });
    assert.equal(wrong.error?.code, 'BAD_CREDENTIALS');
    assert.deepEqual(unknown.error, wrong.error);
  });

  test('answers a salt for unknown names that is stable and shaped like a real one', async () => {
    const client = await TestClient.connect(relay.wsUrl);
    const ghost = uniqueName('ghost');
    const first = await client.call('salt', { username: ghost });
    const second = await client.call('salt', { username: ghost.toUpperCase() });
    assert.deepEqual(first, second);
    const real = await client.call('salt', {
      username: (await registerUser(await TestClient.connect(relay.wsUrl))).username,
    });
    assert.deepEqual(Object.keys(first.kdf).sort(), Object.keys(real.kdf).sort());
    assert.equal(first.kdf.salt.length, real.kdf.salt.length);
  });

  test('limits failed logins per username, even from fresh connections', async () => {
    const user = await registerUser(await TestClient.connect(relay.wsUrl));
    const codes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const client = await TestClient.connect(relay.wsUrl);
      codes.push(
        (
          await client.request('login', {
            username: user.username,
            authKey: randomKey(),
          })
        ).error!.code,
      );
      await client.close();
    }
    assert.deepEqual(codes.slice(0, 10), Array(10).fill('BAD_CREDENTIALS'));
    assert.deepEqual(codes.slice(10), ['RATE_LIMITED', 'RATE_LIMITED']);
    const locked = await (await TestClient.connect(relay.wsUrl)).request('login', {
      username: user.username,
      authKey: user.authKey,
    });
    assert.equal(locked.error?.code, 'RATE_LIMITED', 'even the right key waits: the lockout must not become an oracle');
    assert.ok(locked.error!.retryAfterMs! > 0);
  });

  test('limits failed logins per address across usernames', async () => {
    const client = await TestClient.connect(relay.wsUrl);
    let limited = 0;
    for (let i = 0; i < 40; i++) {
      const reply = await client.request('login', {
        username: uniqueName('spray'),
        authKey: randomKey(),
      });
      if (reply.error?.code === 'RATE_LIMITED') limited++;
    }
    assert.ok(limited >= 1, 'password spraying from one address hits the per-IP limit');
  });
});

describe('registration rate limit', () => {
  test('limits new accounts per address', async () => {
    const relay = await startRelay({ args: ['--registrations-per-hour', '3'] });
    try {
      const codes = [];
      for (let i = 0; i < 5; i++) {
        codes.push(
          (await (await TestClient.connect(relay.wsUrl)).request('register', registration(uniqueName()))).error?.code ??
            'ok',
        );
      }
      assert.deepEqual(codes, ['ok', 'ok', 'ok', 'RATE_LIMITED', 'RATE_LIMITED']);
    } finally {
      await relay.stop();
    }
  });
});

describe('password change', () => {
  test('rotates the signing key, keeps the old one for old messages and ends the other sessions', async () => {
    const relay = await startRelay();
    try {
      const client = await TestClient.connect(relay.wsUrl);
      const user = await registerUser(client);
      await client.call('join', { room: 'general' });
      await client.call('send', signMessage(user, 'general', 'signed with the first key'));
      const otherDevice = await TestClient.connect(relay.wsUrl);
      await otherDevice.call('resume', {
        token: (
          await (
            await TestClient.connect(relay.wsUrl)
          ).call('login', { username: user.username, authKey: user.authKey })
        ).token,
      });

      const next = newSigningKey();
      const wrong = await client.request('change-password', {
        ...registration('x'),
        authKey: randomKey(),
        newAuthKey: randomKey(),
      });
      assert.equal(wrong.error?.code, 'BAD_CREDENTIALS');
      const newAuthKey = randomKey();
      const changed = await client.call('change-password', {
        authKey: user.authKey,
        kdf: registration('x').kdf,
        newAuthKey,
        keySalt: randomKey(),
        publicKey: next.publicKey,
      });
      assert.deepEqual(
        changed.user.keys.map((k: { publicKey: string }) => k.publicKey),
        [user.publicKey, next.publicKey],
      );
      const ended = await otherDevice.waitForEvent((e) => e.ev === 'session-ended');
      assert.equal(ended.reason, 'password-changed');
      assert.equal((await otherDevice.request('online')).error?.code, 'NOT_AUTHENTICATED');

      const stale = await client.request('send', signMessage(user, 'general', 'old key after the change'));
      assert.equal(stale.error?.code, 'BAD_SIGNATURE');
      const fresh = await client.call('send', signMessage({ ...user, ...next }, 'general', 'new key'));
      assert.equal(fresh.seq, 2);
      const login = await (await TestClient.connect(relay.wsUrl)).request('login', {
        username: user.username,
        authKey: user.authKey,
      });
      assert.equal(login.error?.code, 'BAD_CREDENTIALS');
      await (await TestClient.connect(relay.wsUrl)).call('login', {
        username: user.username,
        authKey: newAuthKey,
      });
    } finally {
      await relay.stop();
    }
  });
});

describe('the accounts file', () => {
  test('never holds the password material: only salted hashes of the auth key and of tokens', async () => {
    const relay = await startRelay();
    const user = await registerUser(await TestClient.connect(relay.wsUrl));
    await relay.stop();
    const files = fs
      .readdirSync(relay.dataDir)
      .map((name) => path.join(relay.dataDir, name))
      .filter((f) => fs.statSync(f).isFile());
    const everything = files.map((file) => fs.readFileSync(file, 'utf8')).join('\n');
    assert.ok(!everything.includes(user.authKey), 'auth key not stored');
    assert.ok(!everything.includes(user.session.token), 'session token not stored');
    assert.ok(everything.includes(user.publicKey), 'public key stored');
  });

  test('keeps every acknowledged account through kill -9 in the middle of a burst of registrations', async () => {
    const relay = await startRelay();
    const acknowledged: { id: number; username: string }[] = [];
    // Each registration logs its connection in, so each needs a connection of its own.
    const burst = Array.from({ length: 200 }, (_, i) => {
      const username = uniqueName(`burst${i}u`);
      return TestClient.connect(relay.wsUrl)
        .then((fresh) => fresh.request('register', registration(username)))
        .then((reply) => {
          if (reply.ok) acknowledged.push({ id: reply.result.user.id, username });
        })
        .catch(() => undefined);
    });
    await eventually(() => acknowledged.length >= 30, '30 registrations');
    relay.child.kill('SIGKILL');
    await relay.stop();
    await Promise.allSettled(burst);
    // Simulate the crash landing mid-line as well: a torn tail must be dropped, not refused.
    fs.appendFileSync(path.join(relay.dataDir, 'accounts.log'), '{"t":"account","id":99999,"usern');

    const restarted = await startRelay({ dataDir: relay.dataDir });
    try {
      assert.match(restarted.stderr(), /dropping torn last line/);
      const client = await TestClient.connect(restarted.wsUrl);
      await registerUser(client);
      for (const { id, username } of acknowledged) {
        const { user } = await client.call('profile', { username });
        assert.equal(user.id, id, `${username} kept its id`);
      }
      const ids = new Set<number>();
      for (const record of readRecords(path.join(relay.dataDir, 'accounts.log'))) {
        if (record.t === 'account') {
          assert.ok(!ids.has(record.id), `id ${record.id} is unique`);
          ids.add(record.id);
        }
      }
    } finally {
      await restarted.stop();
    }
  });
});
