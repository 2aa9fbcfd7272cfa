/**
 * ed25519 verification with node:crypto (OpenSSL): about 100x faster than a JS implementation.
 * Building a KeyObject costs as much as a verify, and the key check below a multiplication by the
 * group order (0.6 ms), so both happen once per public key and the result is cached.
 * OpenSSL applies the RFC 8032 cofactorless rules (S must be below the group order, R canonical)
 * but accepts keys of small order, under which one constant signature verifies on any text, and
 * some non-canonical key encodings. So a key is first held to the rule the SDK applies
 * (sdk/crypto/ed25519-rules.ts): registration refuses such keys, and this refuses them again for
 * accounts an older relay let in. Relay and browsers then agree on which signatures are valid.
 */
import crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import os from 'node:os';
import { isValidPublicKey } from '../sdk/crypto/ed25519-rules.ts';
import { installPublicKeyRule } from '../sdk/protocol.ts';

// Registration and password change (request validation in sdk/protocol.ts) refuse the keys that
// verification below refuses; protocol.ts cannot import the rule itself (see publicKeyRule there).
installPublicKeyRule(isValidPublicKey);

// DER prefix of an SPKI structure holding a raw 32-byte ed25519 key (RFC 8410).
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const MAX_CACHED_KEYS = 50_000;

const keyCache = new Map<string, KeyObject | null>();

function keyObject(publicKey: string): KeyObject | null {
  let key = keyCache.get(publicKey);
  if (key !== undefined) return key;
  const raw = Buffer.from(publicKey, 'base64url');
  try {
    key = isValidPublicKey(raw)
      ? crypto.createPublicKey({
          key: Buffer.concat([ED25519_SPKI_PREFIX, raw]),
          format: 'der',
          type: 'spki',
        })
      : null;
  } catch {
    key = null;
  }
  if (keyCache.size >= MAX_CACHED_KEYS) keyCache.clear();
  keyCache.set(publicKey, key);
  return key;
}

/**
 * Verifying off the main thread (crypto.verify's callback form, on libuv's pool) costs about 80 µs
 * more CPU per message than the ~110 µs verify itself, but spreads the work over every core.
 * Measured on the 2-core bench machine: with two cores the pool accepts 8,155 messages/s against
 * 5,806/s on the main thread; pinned to one core it falls to 3,823/s against 6,076/s. So the relay
 * uses the pool only when it has more than one core to run it on (sched affinity counts).
 */
const VERIFY_OFF_THREAD = os.availableParallelism() > 1;

/** Resolves true when `signature` (base64url) is `publicKey`'s (base64url) valid signature over `data`. */
export function verifySignature(publicKey: string, data: Uint8Array, signature: string): Promise<boolean> {
  const key = keyObject(publicKey);
  const sig = Buffer.from(signature, 'base64url');
  if (!key || sig.length !== 64) return Promise.resolve(false);
  if (!VERIFY_OFF_THREAD) {
    try {
      return Promise.resolve(crypto.verify(null, data, key, sig));
    } catch {
      return Promise.resolve(false);
    }
  }
  return new Promise((resolve) => {
    try {
      crypto.verify(null, data, key, sig, (error, valid) => resolve(!error && valid));
    } catch {
      resolve(false);
    }
  });
}
