/**
 * The ed25519 edge-case vectors through the SDK Verifier in real Chromium, on WebCrypto (BoringSSL)
 * and on @noble/ed25519. test/sdk/ed25519-rules.test.ts holds the relay to the same file, so a
 * browser marks a message verified exactly when the relay would have accepted it.
 */
import { expect } from '@esm-bundle/chai';
import { hasWebCryptoEd25519 } from '../../sdk/crypto/signing.ts';
import { Verifier } from '../../sdk/crypto/verify.ts';
import { VECTORS_PATH, disagreements, judgedBy, parseEdgeCases } from '../helpers/ed25519-vectors.ts';
import type { EdgeCases } from '../helpers/ed25519-vectors.ts';

async function loadVectors(): Promise<EdgeCases> {
  const response = await fetch(`/${VECTORS_PATH}`);
  expect(response.ok, `GET /${VECTORS_PATH}`).to.equal(true);
  return parseEdgeCases(await response.json());
}

describe('ed25519 edge-case vectors in Chromium', () => {
  it('this Chromium has WebCrypto Ed25519, so the WebCrypto path below is really exercised', async () => {
    expect(await hasWebCryptoEd25519()).to.equal(true);
  });

  it('the Verifier on WebCrypto judges every vector as the relay does', async () => {
    expect(await disagreements(await loadVectors(), judgedBy(new Verifier(true)))).to.deep.equal([]);
  });

  it('the Verifier on @noble/ed25519 judges every vector as the relay does', async () => {
    expect(await disagreements(await loadVectors(), judgedBy(new Verifier(false)))).to.deep.equal([]);
  });
});
