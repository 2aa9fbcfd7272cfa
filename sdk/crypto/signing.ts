/**
 * The user's ed25519 signing key. Where the browser has WebCrypto Ed25519, the seed is imported
 * once as a non-extractable CryptoKey and only that key object is stored (IndexedDB can hold it;
 * script on the page can use it but never read it out). Elsewhere the seed is kept and noble signs.
 * The key is made from the seed in ./signing-key.ts, which loads with login and registration.
 */
import { toBase64Url } from '../encoding.ts';
import { onFirstUse } from '../lazy.ts';

/** noble, for browsers without WebCrypto Ed25519: loaded on first use, and again after a failed load. */
export const loadNoble = onFirstUse(() => import('@noble/ed25519'), 'the signature code');

export type StoredSigningKey =
  | { kind: 'webcrypto'; key: CryptoKey; publicKey: string }
  | { kind: 'noble'; seed: Uint8Array; publicKey: string };

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

export async function sign(key: StoredSigningKey, bytes: Uint8Array): Promise<string> {
  if (key.kind === 'webcrypto')
    return toBase64Url(
      new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key.key, bytes as Uint8Array<ArrayBuffer>)),
    );
  const { signAsync } = await loadNoble();
  return toBase64Url(await signAsync(bytes, key.seed));
}
