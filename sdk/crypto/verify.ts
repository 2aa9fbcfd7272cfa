/**
 * Verifies message signatures: WebCrypto Ed25519 where the browser has it (native, several times
 * faster), else @noble/ed25519. Either way under the rule of ./ed25519-rules.ts, the one the relay
 * applies, so browser and relay agree on every signature (test/vectors/ed25519-edge-cases.json).
 * Results are cached: history is re-read on every reconnect and would otherwise be verified again
 * and again.
 */
import { fromBase64Url } from '../encoding.ts';
import type { ChatMessage } from '../protocol/frames.ts';
import { signedBytes } from '../protocol/signed-bytes.ts';
import { hasWebCryptoEd25519, loadNoble } from './signing.ts';
import { onFirstUse } from '../lazy.ts';

const MAX_CACHED = 20_000;

/** A public key that passed the key rule, as each path needs it; null when the rule refused it. */
type VerifyingKey = { raw: Uint8Array; webCrypto: CryptoKey | null } | null;

// Loaded with noble on first use: pages that never verify (a login form) do not download them.
// A load that failed is tried again on the next call (../lazy.ts).
const loadRules = onFirstUse(() => import('./ed25519-rules.ts'), 'the signature rules');

export class Verifier {
  private readonly results = new Map<string, boolean>();
  private readonly keys = new Map<string, Promise<VerifyingKey>>();

  constructor(private readonly useWebCrypto = true) {}

  /** True when `message.sig` is valid under one of `publicKeys` (a user's current and older keys). */
  async verify(message: ChatMessage, publicKeys: string[]): Promise<boolean> {
    const bytes = signedBytes(message);
    // The cache key covers every signed byte and the keys tried, so a tampered copy never hits a cached "true".
    const cacheKey = `${message.sig}|${publicKeys.join(',')}|${bytes.length}|${message.room}|${message.author}|${message.cid}|${message.ts}|${message.text}`;
    const cached = this.results.get(cacheKey);
    if (cached !== undefined) return cached;
    let valid = false;
    const signature = fromBase64Url(message.sig);
    if (signature && signature.length === 64) {
      for (const publicKey of [...publicKeys].reverse()) {
        if (await this.verifyBytes(publicKey, bytes, signature)) {
          valid = true;
          break;
        }
      }
    }
    if (this.results.size >= MAX_CACHED) this.results.clear();
    this.results.set(cacheKey, valid);
    return valid;
  }

  /** True when `signature` (64 bytes) is `publicKey`'s (base64url) valid signature over `bytes`. */
  async verifyBytes(publicKey: string, bytes: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (signature.length !== 64) return false;
    const rules = await loadRules();
    const key = await this.verifyingKey(publicKey);
    // BoringSSL (Chromium) refuses S >= L itself, but WebCrypto does not promise it for every
    // engine (Firefox runs NSS, Safari CryptoKit): checking here keeps the rule the relay's everywhere.
    if (!key || !rules.hasCanonicalS(signature)) return false;
    if (key.webCrypto) {
      return crypto.subtle.verify(
        { name: 'Ed25519' },
        key.webCrypto,
        signature as Uint8Array<ArrayBuffer>,
        bytes as Uint8Array<ArrayBuffer>,
      );
    }
    const { verifyAsync } = await loadNoble();
    try {
      // noble's strict mode checks the cofactored equation, which also passes when R carries a
      // small-order point; requiring R without one gives the cofactorless answer of the relay's
      // OpenSSL. Only for signatures that pass: the check costs 0.6 ms, 60% of noble's own verify
      // (Node, bench machine), on the path for browsers without WebCrypto Ed25519.
      return (await verifyAsync(signature, bytes, key.raw, { zip215: false })) && rules.hasTorsionFreeR(signature);
    } catch {
      return false;
    }
  }

  /** Checks each key against the rule once (a multiplication by L) and imports it once for WebCrypto. */
  private verifyingKey(publicKey: string): Promise<VerifyingKey> {
    let key = this.keys.get(publicKey);
    if (!key) {
      key = this.loadKey(publicKey);
      this.keys.set(publicKey, key);
      // A key whose check could not run (its code failed to load) is checked again next time.
      key.catch(() => this.keys.delete(publicKey));
    }
    return key;
  }

  private async loadKey(publicKey: string): Promise<VerifyingKey> {
    const raw = fromBase64Url(publicKey);
    if (!raw || !(await loadRules()).isValidPublicKey(raw)) return null;
    if (!this.useWebCrypto || !(await hasWebCryptoEd25519())) return { raw, webCrypto: null };
    try {
      return {
        raw,
        webCrypto: await crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, { name: 'Ed25519' }, false, [
          'verify',
        ]),
      };
    } catch {
      return null;
    }
  }
}
