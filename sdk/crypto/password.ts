/**
 * Password to keys, in the browser (PROTOCOL.md, "Security model"). Loaded lazily: scrypt is the
 * biggest piece of crypto the SDK has and only login, registration and password change need it.
 *
 *   master  = scrypt(NFC(password), kdf.salt, N, r, p)   memory-hard: guessing costs 128 MiB per try
 *   authKey = HKDF-SHA256(master, info "sov/auth")        sent to the relay, which stores its hash
 *   seed    = HKDF-SHA256(master, salt keySalt, info "sov/sign")  the ed25519 private key; never sent
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { getPublicKeyAsync } from '@noble/ed25519';
import type { KdfParams } from '../protocol/frames.ts';
import { fromBase64Url, toBase64Url, utf8 } from '../encoding.ts';

export interface PasswordKeys {
  /** base64url, what the relay checks. */
  authKey: string;
  /** Derives the signing seed once the relay has handed out `keySalt` (after the auth key checked out). */
  signingSeed(keySalt: string): Uint8Array;
}

/**
 * Runs scrypt without freezing the page: noble's async variant yields to the event loop every
 * 10 ms, so no main-thread task runs long, and `onProgress` drives a progress bar (0..1).
 */
export async function derivePasswordKeys(
  password: string,
  kdf: KdfParams,
  onProgress?: (fraction: number) => void,
): Promise<PasswordKeys> {
  const salt = fromBase64Url(kdf.salt);
  if (!salt) throw new TypeError('bad KDF salt');
  // NFC so that the same password typed on different keyboards (composed or decomposed accents) matches.
  const master = await scryptAsync(utf8(password.normalize('NFC')), salt, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    dkLen: 32,
    asyncTick: 10,
    ...(onProgress ? { onProgress } : {}),
  });
  const authKey = toBase64Url(hkdf(sha256, master, undefined, utf8('sov/auth'), 32));
  return {
    authKey,
    signingSeed: (keySalt) => hkdf(sha256, master, fromBase64Url(keySalt) ?? undefined, utf8('sov/sign'), 32),
  };
}

export async function publicKeyOf(seed: Uint8Array): Promise<string> {
  return toBase64Url(await getPublicKeyAsync(seed));
}

export function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}
