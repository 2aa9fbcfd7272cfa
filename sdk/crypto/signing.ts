/**
 * The user's ed25519 signing key. Where the browser has WebCrypto Ed25519, the seed is imported
 * once as a non-extractable CryptoKey and only that key object is stored (IndexedDB can hold it;
 * script on the page can use it but never read it out). Elsewhere the seed is kept and noble signs.
 */
import { toBase64Url } from '../encoding.ts';

export type StoredSigningKey =
  | { kind: 'webcrypto'; key: CryptoKey; publicKey: string }
  | { kind: 'noble'; seed: Uint8Array; publicKey: string };

// PKCS#8 wrapping of a raw 32-byte ed25519 seed (RFC 8410), the only way WebCrypto imports one.
const PKCS8_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

// The public key of RFC 8032's first test vector: a valid point to probe support with.
const RFC8032_TEST_KEY = new Uint8Array(
  'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'.match(/../g)!.map((byte) => parseInt(byte, 16)),
);

let webCryptoEd25519: Promise<boolean> | undefined;

/** Whether this browser's WebCrypto does Ed25519 (Chrome 137+, Firefox 129+, Safari 17+). */
export function hasWebCryptoEd25519(): Promise<boolean> {
  webCryptoEd25519 ??= (async () => {
    try {
      if (!globalThis.crypto?.subtle) return false;
      await crypto.subtle.importKey('raw', RFC8032_TEST_KEY, { name: 'Ed25519' }, false, ['verify']);
      return true;
    } catch {
      return false;
    }
  })();
  return webCryptoEd25519;
}

export async function storedSigningKey(seed: Uint8Array, publicKey: string, preferWebCrypto = true): Promise<StoredSigningKey> {
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

export async function sign(key: StoredSigningKey, bytes: Uint8Array): Promise<string> {
  if (key.kind === 'webcrypto') return toBase64Url(new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key.key, bytes as Uint8Array<ArrayBuffer>)));
  const { signAsync } = await import('@noble/ed25519');
  return toBase64Url(await signAsync(bytes, key.seed));
}
