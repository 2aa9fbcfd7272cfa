/**
 * Public keys at the relay, over real WebSockets: a key of small order (or with a small-order
 * component, or a non-canonical encoding) lets its holder's signatures mean nothing; the identity
 * point takes one constant signature, R = identity and S = 0, on any text. The relay refuses such
 * keys at registration and at password change, and refuses messages under one an older relay let in.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { toBase64Url } from '../../sdk/encoding.ts';
import { TestClient, registerUser, registration, uniqueName } from '../helpers/client.ts';
import { appendRecords, readRecords } from '../helpers/log-files.ts';
import { PACKAGE_ROOT, startRelay, tempDataDir } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { VECTORS_PATH, describeVector, fromHex, parseEdgeCases } from '../helpers/ed25519-vectors.ts';

const vectors = parseEdgeCases(JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, VECTORS_PATH), 'utf8')));
const refusedKeys = vectors.publicKeys.filter((vector) => !vector.valid);
const IDENTITY = toBase64Url(fromHex('01'.padEnd(64, '0')));
/** R = the identity point, S = 0: valid under the identity key for every message (cofactorless or not). */
const CONSTANT_SIGNATURE = toBase64Url(fromHex('01'.padEnd(128, '0')));

describe('public keys the relay refuses', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('registration refuses every low-order, mixed-order, non-canonical or off-curve key with INVALID_FIELD on publicKey', async () => {
    assert.ok(refusedKeys.length >= 20, 'the 14 low-order encodings and more');
    const client = await TestClient.connect(relay.wsUrl);
    for (const vector of refusedKeys) {
      const reply = await client.request(
        'register',
        registration(uniqueName('lowkey'), undefined, toBase64Url(fromHex(vector.key))),
      );
      assert.equal(reply.error?.code, 'INVALID_FIELD', describeVector(vector));
      assert.equal(reply.error?.field, 'publicKey', describeVector(vector));
    }
    await client.close();
  });

  test('a password change refuses the same keys and leaves the current key in place', async () => {
    const client = await TestClient.connect(relay.wsUrl);
    const user = await registerUser(client);
    for (const vector of refusedKeys) {
      const change = {
        ...registration(user.username, user.authKey),
        newAuthKey: user.authKey,
        publicKey: toBase64Url(fromHex(vector.key)),
      };
      const reply = await client.request('change-password', change);
      assert.equal(reply.error?.code, 'INVALID_FIELD', describeVector(vector));
      assert.equal(reply.error?.field, 'publicKey', describeVector(vector));
    }
    const { user: profile } = await client.call('profile', {
      userId: user.profile.id,
    });
    assert.deepEqual(
      profile.keys.map((key: { publicKey: string }) => key.publicKey),
      [user.publicKey],
    );
    await client.close();
  });
});

describe('a low-order key that an older relay stored', () => {
  test('the constant signature (R = identity, S = 0) is refused with BAD_SIGNATURE, on any text', async () => {
    const dataDir = tempDataDir();
    let relay = await startRelay({ dataDir });
    const first = await TestClient.connect(relay.wsUrl);
    const user = await registerUser(first);
    await first.close();
    await relay.stop();
    // The password change an older relay would have written for this key (accounts.log's own
    // record format): same credentials, the identity point as the new signing key.
    const accountsLog = path.join(dataDir, 'accounts.log');
    const account = readRecords(accountsLog)[0]!;
    const change = {
      t: 'password',
      id: account.id,
      kdf: account.kdf,
      auth: account.auth,
      keySalt: account.keySalt,
      key: { publicKey: IDENTITY, since: Date.now() },
    };
    appendRecords(accountsLog, [change]);

    relay = await startRelay({ dataDir });
    try {
      const client = await TestClient.connect(relay.wsUrl);
      const session = await client.call('login', {
        username: user.username,
        authKey: user.authKey,
      });
      assert.equal(session.user.keys.at(-1).publicKey, IDENTITY, 'the stored low-order key is the current one');
      const room = uniqueName('forgery');
      await client.call('join', { room });
      for (const text of ['I owe Mallory 1,000 €', 'any text at all', 'x']) {
        const message = {
          room,
          author: user.profile.id,
          cid: crypto.randomBytes(12).toString('base64url'),
          ts: Date.now(),
          text,
        };
        const reply = await client.request('send', {
          ...message,
          sig: CONSTANT_SIGNATURE,
        });
        assert.equal(reply.error?.code, 'BAD_SIGNATURE', `${text}: ${JSON.stringify(reply)}`);
      }
      const history = await client.call('join', { room });
      assert.deepEqual(history.messages, [], 'nothing was stored');
      await client.close();
    } finally {
      await relay.stop();
    }
  });
});
