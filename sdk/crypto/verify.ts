/**
 * Verifies message signatures: WebCrypto Ed25519 where the browser has it (native, several times
 * faster), else @noble/ed25519 with `zip215: false`, the strict RFC 8032 rules the relay's OpenSSL
 * applies, so browser and relay agree on every signature. Results are cached: history is re-read
 * on every reconnect and would otherwise be verified again and again.
 */
import { fromBase64Url } from '../encoding.ts';
import { signedBytes } from '../protocol.ts';
import type { ChatMessage } from '../protocol.ts';
import { hasWebCryptoEd25519 } from './signing.ts';

const MAX_CACHED = 20_000;

export class Verifier {
  private readonly results = new Map<string, boolean>();
  private readonly webKeys = new Map<string, Promise<CryptoKey | null>>();

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
        if (await this.verifyOne(publicKey, bytes, signature)) {
          valid = true;
          break;
        }
      }
    }
    if (this.results.size >= MAX_CACHED) this.results.clear();
    this.results.set(cacheKey, valid);
    return valid;
  }

  private async verifyOne(publicKey: string, bytes: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const raw = fromBase64Url(publicKey);
    if (!raw || raw.length !== 32) return false;
    if (this.useWebCrypto && (await hasWebCryptoEd25519())) {
      const key = await this.webKey(publicKey, raw);
      if (!key) return false;
      return crypto.subtle.verify({ name: 'Ed25519' }, key, signature as Uint8Array<ArrayBuffer>, bytes as Uint8Array<ArrayBuffer>);
    }
    const { verifyAsync } = await import('@noble/ed25519');
    try {
      return await verifyAsync(signature, bytes, raw, { zip215: false });
    } catch {
      return false;
    }
  }

  private webKey(publicKey: string, raw: Uint8Array): Promise<CryptoKey | null> {
    let key = this.webKeys.get(publicKey);
    if (!key) {
      key = crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, { name: 'Ed25519' }, false, ['verify']).catch(() => null);
      this.webKeys.set(publicKey, key);
    }
    return key;
  }
}
