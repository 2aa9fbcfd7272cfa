/**
 * The spec vectors in test/vectors/ed25519-edge-cases.json (Wycheproof, "Taming the many EdDSAs",
 * C2SP/CCTV) through every ed25519 judge we have: the shared key rule, the relay's OpenSSL
 * verification, and the SDK Verifier on its noble path and on Node's WebCrypto. They must all agree
 * with the file, so a message is verified in the browser exactly when the relay accepted it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
// relay/signatures.ts also installs the key rule into request validation, as it does in the relay.
import { verifySignature } from '../../relay/signatures.ts';
import { isValidPublicKey } from '../../sdk/crypto/ed25519-rules.ts';
import { hasWebCryptoEd25519 } from '../../sdk/crypto/signing.ts';
import { Verifier } from '../../sdk/crypto/verify.ts';
import { toBase64Url } from '../../sdk/encoding.ts';
import { parseRequest } from '../../sdk/protocol/requests.ts';
import { PACKAGE_ROOT } from '../helpers/relay-process.ts';
import {
  VECTORS_PATH,
  describeVector,
  disagreements,
  fromHex,
  judgedBy,
  parseEdgeCases,
} from '../helpers/ed25519-vectors.ts';
import type { SignatureVector } from '../helpers/ed25519-vectors.ts';
import { registration } from '../helpers/client.ts';

const vectors = parseEdgeCases(JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, VECTORS_PATH), 'utf8')));

describe('ed25519 edge-case vectors', () => {
  test('the vectors cover valid and invalid keys and signatures from every named source', () => {
    assert.ok(vectors.publicKeys.some((vector) => vector.valid) && vectors.publicKeys.some((vector) => !vector.valid));
    assert.ok(
      vectors.signatures.filter((vector) => vector.valid).length >= 80,
      'Wycheproof alone has 88 valid signatures',
    );
    const used = new Set([...vectors.publicKeys, ...vectors.signatures].map((vector) => vector.source));
    assert.deepEqual([...used].sort(), Object.keys(vectors.sources).sort());
  });

  test('the key rule accepts exactly the canonical encodings of prime-order points', () => {
    const wrong = vectors.publicKeys
      .filter((vector) => isValidPublicKey(fromHex(vector.key)) !== vector.valid)
      .map(describeVector);
    assert.deepEqual(wrong, []);
  });

  test('the relay (OpenSSL through relay/signatures.ts) judges every signature as the vectors say', async () => {
    const relayJudge = (vector: SignatureVector): Promise<boolean> =>
      verifySignature(toBase64Url(fromHex(vector.key)), fromHex(vector.msg), toBase64Url(fromHex(vector.sig)));
    assert.deepEqual(await disagreements(vectors, relayJudge), []);
  });

  test('the SDK verifier on its noble path judges every signature as the vectors say', async () => {
    assert.deepEqual(await disagreements(vectors, judgedBy(new Verifier(false))), []);
  });

  test("the SDK verifier on Node's WebCrypto judges every signature as the vectors say", async (t) => {
    if (!(await hasWebCryptoEd25519())) return t.skip('this Node has no WebCrypto Ed25519');
    assert.deepEqual(await disagreements(vectors, judgedBy(new Verifier(true))), []);
  });
});

describe('the publicKey field of register and change-password', () => {
  const bad = vectors.publicKeys.filter((vector) => !vector.valid);
  const good = vectors.publicKeys.filter((vector) => vector.valid);

  test('refuses every key the rule refuses, naming the field', () => {
    for (const vector of bad) {
      const parsed = parseRequest(
        JSON.stringify({
          id: 1,
          type: 'register',
          ...registration('keyholder'),
          publicKey: toBase64Url(fromHex(vector.key)),
        }),
      );
      assert.equal(parsed.ok, false, describeVector(vector));
      assert.equal(!parsed.ok && parsed.error.code, 'INVALID_FIELD', describeVector(vector));
      assert.equal(!parsed.ok && parsed.error.field, 'publicKey', describeVector(vector));
    }
  });

  test('accepts every key the rule accepts', () => {
    for (const vector of good) {
      const parsed = parseRequest(
        JSON.stringify({
          id: 1,
          type: 'register',
          ...registration('keyholder'),
          publicKey: toBase64Url(fromHex(vector.key)),
        }),
      );
      assert.equal(parsed.ok, true, describeVector(vector));
    }
  });

  test('refuses a second spelling of a valid key (the unused low bits of the last base64url character set)', () => {
    const canonical = toBase64Url(fromHex(good[0]!.key));
    const last = canonical.at(-1)!;
    // 32 bytes take 43 characters, 258 bits: the last character's two low bits carry nothing.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = canonical.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    const parsed = parseRequest(
      JSON.stringify({
        id: 1,
        type: 'change-password',
        ...registration('keyholder'),
        newAuthKey: canonical,
        publicKey: respelled,
      }),
    );
    assert.equal(!parsed.ok && parsed.error.field, 'publicKey');
  });
});
