/**
 * Makes the signing key the client stores (./signing.ts) from the seed the password gave. Only
 * registration and login do this, so it loads with them (../account.ts) and not with the code that
 * signs, which every page that sends a message needs.
 */
import { hasWebCryptoEd25519 } from './signing.ts';
import type { StoredSigningKey } from './signing.ts';

// PKCS#8 wrapping of a raw 32-byte ed25519 seed (RFC 8410), the only way WebCrypto imports one.
const PKCS8_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

export async function storedSigningKey(
  seed: Uint8Array,
  publicKey: string,
  preferWebCrypto = true,
): Promise<StoredSigningKey> {
  if (preferWebCrypto && (await hasWebCryptoEd25519())) {
    const der = new Uint8Array(PKCS8_PREFIX.length + 32);
    der.set(PKCS8_PREFIX);
    der.set(seed, PKCS8_PREFIX.length);
    const key = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign']);
    der.fill(0);
    return { kind: 'webcrypto', key, publicKey };
  }
  return { kind: 'noble', seed: seed.slice(), publicKey };
}
