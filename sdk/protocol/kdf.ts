/**
 * The password hashing settings a relay may ask for, and the checks on base64url bytes, integers
 * and objects they are built from (./requests.ts builds keys, tokens and numbers from them too).
 * Apart from ./fields.ts because esbuild puts all of a file's code in one chunk: in the browser only
 * registration and login (../account.ts, loaded on first use) check these, so they download with
 * them and not with <sov-chat>.
 */
import { base64UrlLength } from '../encoding.ts';
import { invalid, isRecord, string } from './fields.ts';
import type { Check } from './fields.ts';
import { DEFAULT_KDF } from './frames.ts';
import type { KdfParams } from './frames.ts';

const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function object(value: unknown, field: string): Record<string, unknown> {
  if (!isRecord(value)) throw invalid(field, 'must be an object');
  return value;
}

/** base64url (no padding) of `minBytes` to `maxBytes` bytes. */
export const base64Bytes =
  (minBytes: number, maxBytes = minBytes): Check<string> =>
  (value, field) => {
    const text = string(value, field);
    const ok =
      BASE64URL.test(text) && text.length >= base64UrlLength(minBytes) && text.length <= base64UrlLength(maxBytes);
    if (!ok)
      throw invalid(
        field,
        `must be ${minBytes === maxBytes ? minBytes : `${minBytes}-${maxBytes}`} bytes in base64url`,
      );
    return text;
  };

/** A safe integer from `min` to `max`. */
export const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check<number> =>
  (value, field) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw invalid(field, `must be an integer from ${min} to ${max}`);
    }
    return value;
  };

/** The password hashing settings a relay may ask for: scrypt at least at the OWASP minimum, at most 2^20. */
export const kdfParams: Check<KdfParams> = (value, field) => {
  const kdf = object(value, field);
  if (kdf.alg !== 'scrypt') throw invalid(`${field}.alg`, 'must be "scrypt"');
  const N = integer(DEFAULT_KDF.N, 2 ** 20)(kdf.N, `${field}.N`);
  if ((N & (N - 1)) !== 0) throw invalid(`${field}.N`, 'must be a power of two');
  return {
    alg: 'scrypt',
    N,
    r: integer(DEFAULT_KDF.r, 32)(kdf.r, `${field}.r`),
    p: integer(DEFAULT_KDF.p, 4)(kdf.p, `${field}.p`),
    salt: base64Bytes(16, 64)(kdf.salt, `${field}.salt`),
  };
};
