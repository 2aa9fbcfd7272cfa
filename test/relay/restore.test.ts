/**
 * Restores from inconsistent copies of a data folder: accounts.log older than the other logs, a log
 * cut at a line boundary, sessions from another relay's folder. Every line checks out, so nothing
 * stops the start; what must not happen is one person's identity (id, sessions, messages) passing
 * to another.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { TestClient, registerUser, signMessage } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { fixture } from '../helpers/images.ts';
import { appendRecords, readRecords, writeRecords } from '../helpers/log-files.ts';
import { startRelay, tempDataDir } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

async function register(relay: RelayProcess, count: number): Promise<TestUser[]> {
  const users: TestUser[] = [];
  for (let i = 0; i < count; i++) users.push(await registerUser(await TestClient.connect(relay.wsUrl)));
  return users;
}

async function post(relay: RelayProcess, user: TestUser, text: string): Promise<void> {
  const client = await TestClient.connect(relay.wsUrl);
  await client.call('resume', { token: user.session.token });
  await client.call('join', { room: 'general' });
  await client.call('send', signMessage(user, 'general', text));
}

async function resume(relay: RelayProcess, user: TestUser) {
  return (await TestClient.connect(relay.wsUrl)).request('resume', {
    token: user.session.token,
  });
}

async function uploadAvatar(relay: RelayProcess, token: string): Promise<{ status: number; code: string | undefined }> {
  const res = await fetch(`${relay.url}/v1/avatar`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' },
    body: new Uint8Array(fixture('chromium-300x200.png')),
  });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code };
}

/**
 * Starts the relay on a restored folder that lacks `lost`'s account and registers a newcomer:
 * the lost id goes to no one, its token logs no one in (over WebSocket or HTTP), its messages keep
 * an author that nobody is.
 */
async function assertLostAccountStaysLost(dataDir: string, lost: TestUser): Promise<void> {
  const relay = await startRelay({ dataDir });
  try {
    const [newcomer] = (await register(relay, 1)) as [TestUser];
    assert.ok(
      newcomer.profile.id > lost.profile.id,
      `the newcomer got id ${newcomer.profile.id}, not the lost account's ${lost.profile.id} or below`,
    );
    assert.equal((await resume(relay, lost)).error?.code, 'SESSION_INVALID', "the lost account's token logs no one in");
    assert.deepEqual(await uploadAvatar(relay, lost.session.token), {
      status: 401,
      code: 'SESSION_INVALID',
    });
    const client = await TestClient.connect(relay.wsUrl);
    await client.call('resume', { token: newcomer.session.token });
    const { messages } = await client.call('join', { room: 'general' });
    const theirs = messages.filter((m: { text: string }) => m.text.startsWith('lost'));
    assert.ok(
      theirs.length > 0 && theirs.every((m: { author: number }) => m.author === lost.profile.id),
      'their messages keep their author id',
    );
    assert.equal(
      (await client.request('profile', { userId: lost.profile.id })).error?.code,
      'UNKNOWN_USER',
      'an id nobody holds',
    );
    assert.equal((await client.call('profile', { userId: newcomer.profile.id })).user.username, newcomer.username);
  } finally {
    await relay.stop();
  }
}

describe('restoring an inconsistent copy of the data folder', () => {
  test('accounts.log older than the other logs: a newcomer gets a new id, and the lost account stays lost', async () => {
    const original = await startRelay();
    const restored = tempDataDir();
    let latecomer: TestUser;
    try {
      await register(original, 10);
      fs.copyFileSync(path.join(original.dataDir, 'accounts.log'), path.join(restored, 'accounts.log'));
      [latecomer] = (await register(original, 1)) as [TestUser];
      await post(original, latecomer, 'lost: a message from the latecomer');
    } finally {
      assert.equal(await original.stop('SIGINT'), 0);
    }
    for (const name of ['sessions.log', 'messages.log', 'secret.key'])
      fs.copyFileSync(path.join(original.dataDir, name), path.join(restored, name));
    await assertLostAccountStaysLost(restored, latecomer);
  });

  test('accounts.log cut at a line boundary: the same, for the account on the cut line', async () => {
    const original = await startRelay();
    let cut: TestUser;
    try {
      await register(original, 3);
      [cut] = (await register(original, 1)) as [TestUser];
      await post(original, cut, 'lost: written before the cut');
    } finally {
      assert.equal(await original.stop('SIGINT'), 0);
    }
    const file = path.join(original.dataDir, 'accounts.log');
    const records = readRecords(file);
    assert.equal(records.at(-1)!.id, cut.profile.id, 'the last line is the account to cut');
    writeRecords(file, records.slice(0, -1));
    await assertLostAccountStaysLost(original.dataDir, cut);
  });

  test('a session acts only for the account it was issued to, even where another account holds its id', async () => {
    const [ours, theirs] = await Promise.all([startRelay(), startRelay()]);
    let ourUsers: TestUser[];
    let theirUsers: TestUser[];
    try {
      [ourUsers, theirUsers] = await Promise.all([register(ours, 3), register(theirs, 3)]);
    } finally {
      await Promise.all([ours.stop('SIGINT'), theirs.stop('SIGINT')]);
    }
    assert.deepEqual(
      theirUsers.map((user) => user.profile.id),
      ourUsers.map((user) => user.profile.id),
      'both relays gave out ids 1 to 3',
    );
    // Another relay's sessions restored into this folder by mistake.
    appendRecords(path.join(ours.dataDir, 'sessions.log'), readRecords(path.join(theirs.dataDir, 'sessions.log')));

    const relay = await startRelay({ dataDir: ours.dataDir });
    try {
      for (const [index, stranger] of theirUsers.entries()) {
        assert.equal(
          (await resume(relay, stranger)).error?.code,
          'SESSION_INVALID',
          `their user ${stranger.profile.id} does not log in as ours`,
        );
        assert.equal((await resume(relay, ourUsers[index]!)).result?.user.username, ourUsers[index]!.username);
      }
      assert.match(relay.stderr(), /refused and ended a session issued to another account/);
    } finally {
      await relay.stop();
    }
  });
});

describe('restoring a copy taken while the relay runs', () => {
  test('a folder copied file by file under a stream of writes starts, and no token opens another account', async () => {
    const relay = await startRelay();
    const copy = tempDataDir();
    const known: TestUser[] = await register(relay, 5);
    let writing = true;
    // Writers: new accounts (the records that hand out ids), sessions, messages and renames.
    const writers = [0, 1, 2].map(async (lane) => {
      for (let round = 0; writing; round++) {
        const [user] = (await register(relay, 1)) as [TestUser];
        known.push(user);
        const client = await TestClient.connect(relay.wsUrl);
        await client.call('resume', { token: user.session.token });
        await client.call('join', { room: 'general' });
        await client.call('send', signMessage(user, 'general', `lane ${lane} round ${round}`));
        await client.call('update-profile', { firstName: `Round${round}` });
        client.close();
      }
    });
    try {
      await register(relay, 3);
      // The worst order for ids: accounts first, so the copy's sessions and messages are newer
      // than its accounts; each file copied while writes land, with writes in between.
      for (const name of ['accounts.log', 'secret.key', 'sessions.log', 'messages.log']) {
        const before = known.length;
        while (known.length < before + 3) await new Promise((resolve) => setImmediate(resolve));
        fs.copyFileSync(path.join(relay.dataDir, name), path.join(copy, name));
      }
    } finally {
      writing = false;
      await Promise.all(writers);
      assert.equal(await relay.stop('SIGINT'), 0);
    }

    const restored = await startRelay({ dataDir: copy });
    try {
      const newcomers = await register(restored, 10);
      const heldIds = new Map(newcomers.map((user) => [user.profile.id, user.username]));
      let resumed = 0;
      for (const user of known) {
        const answer = await resume(restored, user);
        if (answer.error) {
          assert.equal(answer.error.code, 'SESSION_INVALID', `${user.username}: ${answer.error.code}`);
          continue;
        }
        resumed++;
        assert.equal(
          answer.result.user.id,
          user.profile.id,
          `${user.username}'s token opens account ${answer.result.user.id}`,
        );
        assert.equal(
          answer.result.user.username,
          user.username,
          `${user.username}'s token opens ${answer.result.user.username}'s account`,
        );
        assert.ok(
          !heldIds.has(user.profile.id),
          `id ${user.profile.id} went to newcomer ${heldIds.get(user.profile.id)} while ${user.username}'s token still works`,
        );
      }
      assert.ok(resumed > 0 && resumed < known.length, `a torn copy: ${resumed} of ${known.length} tokens still work`);
    } finally {
      await restored.stop();
    }
  });
});
