import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestClient, registerUser } from '../helpers/client.ts';
import { readRecords, writeRecords } from '../helpers/log-files.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

describe('sessions', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('the token alone resumes the session on a new connection, on several devices at once', async () => {
    const user = await registerUser(await TestClient.connect(relay.wsUrl));
    const laptop = await TestClient.connect(relay.wsUrl);
    const phone = await TestClient.connect(relay.wsUrl);
    const phoneLogin = await phone.call('login', {
      username: user.username,
      authKey: user.authKey,
    });
    const resumed = await laptop.call('resume', { token: user.session.token });
    assert.equal(resumed.user.id, user.profile.id);
    assert.ok(resumed.expiresAt >= user.session.expiresAt);
    assert.equal(phoneLogin.user.id, user.profile.id);
    await laptop.call('join', { room: 'general' });
    await phone.call('join', { room: 'general' });
  });

  test('refuses an unknown token without saying more', async () => {
    const client = await TestClient.connect(relay.wsUrl);
    const reply = await client.request('resume', { token: 'A'.repeat(43) });
    assert.equal(reply.error?.code, 'SESSION_INVALID');
  });

  test('logout revokes the token at once on every connection that uses it, and only there', async () => {
    const first = await TestClient.connect(relay.wsUrl);
    const user = await registerUser(first);
    const second = await TestClient.connect(relay.wsUrl);
    await second.call('resume', { token: user.session.token });
    const otherSession = await TestClient.connect(relay.wsUrl);
    await otherSession.call('login', {
      username: user.username,
      authKey: user.authKey,
    });
    await second.call('join', { room: 'general' });

    await first.call('logout');
    const ended = await second.waitForEvent((e) => e.ev === 'session-ended');
    assert.equal(ended.reason, 'logout');
    assert.equal((await second.request('join', { room: 'general' })).error?.code, 'NOT_AUTHENTICATED');
    assert.equal((await first.request('online')).error?.code, 'NOT_AUTHENTICATED');
    assert.equal(
      (await (await TestClient.connect(relay.wsUrl)).request('resume', { token: user.session.token })).error?.code,
      'SESSION_INVALID',
    );
    assert.equal((await otherSession.request('online')).ok, true, "another device's session is untouched");
  });

  test('a second login on a logged-in connection is refused', async () => {
    const client = await TestClient.connect(relay.wsUrl);
    const user = await registerUser(client);
    const reply = await client.request('resume', { token: user.session.token });
    assert.equal(reply.error?.code, 'ALREADY_AUTHENTICATED');
  });
});

describe('session storage', () => {
  test('survives a restart, drops expired sessions, and stores only token hashes', async () => {
    const relay = await startRelay();
    const user = await registerUser(await TestClient.connect(relay.wsUrl));
    const other = await registerUser(await TestClient.connect(relay.wsUrl));
    assert.equal(await relay.stop('SIGINT'), 0);

    // Age the second user's session past its expiry, as if 31 days had passed.
    const file = path.join(relay.dataDir, 'sessions.log');
    assert.ok(!fs.readFileSync(file, 'utf8').includes(user.session.token));
    const records = readRecords(file);
    writeRecords(
      file,
      records.map((record) => (record.uid === other.profile.id ? { ...record, exp: Date.now() - 1000 } : record)),
    );

    const restarted = await startRelay({ dataDir: relay.dataDir });
    try {
      const client = await TestClient.connect(restarted.wsUrl);
      assert.equal((await client.call('resume', { token: user.session.token })).user.id, user.profile.id);
      const expired = await (await TestClient.connect(restarted.wsUrl)).request('resume', {
        token: other.session.token,
      });
      assert.equal(expired.error?.code, 'SESSION_INVALID');
    } finally {
      await restarted.stop();
    }
  });
});
