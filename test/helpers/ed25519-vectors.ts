/**
 * Reads test/vectors/ed25519-edge-cases.json, the ed25519 edge cases that the relay and both SDK
 * verification paths must judge alike. No Node imports: the browser suite loads it too.
 */
import type { Verifier } from '../../sdk/crypto/verify.ts';
import { toBase64Url } from '../../sdk/encoding.ts';
export interface KeyVector {
  /** 32 bytes, hex. */
  key: string;
  valid: boolean;
  source: string;
  comment: string;
}

export interface SignatureVector extends KeyVector {
  /** The signed message, hex. */
  msg: string;
  /** The signature, hex: 64 bytes, or another length where a vector tests that. */
  sig: string;
}

export interface EdgeCases {
  sources: Record<string, string>;
  publicKeys: KeyVector[];
  signatures: SignatureVector[];
}

export const VECTORS_PATH = 'test/vectors/ed25519-edge-cases.json';

function text(entry: Record<string, unknown>, field: string): string {
  const value = entry[field];
  if (typeof value !== 'string')
    throw new Error(`${VECTORS_PATH}: "${field}" must be a string in ${JSON.stringify(entry)}`);
  return value;
}

function keyVector(value: unknown, sources: Record<string, string>): KeyVector {
  if (typeof value !== 'object' || value === null) throw new Error(`${VECTORS_PATH}: a vector must be an object`);
  const entry = value as Record<string, unknown>;
  if (typeof entry.valid !== 'boolean')
    throw new Error(`${VECTORS_PATH}: "valid" must be true or false in ${JSON.stringify(entry)}`);
  const source = text(entry, 'source');
  // Every vector names where it comes from; an unknown source name is a typo in the file.
  if (!Object.hasOwn(sources, source)) throw new Error(`${VECTORS_PATH}: unknown source "${source}"`);
  return {
    key: text(entry, 'key'),
    valid: entry.valid,
    source,
    comment: text(entry, 'comment'),
  };
}

/** Checks the file's shape, so a broken vectors file fails loudly instead of testing nothing. */
export function parseEdgeCases(json: unknown): EdgeCases {
  if (typeof json !== 'object' || json === null) throw new Error(`${VECTORS_PATH}: not an object`);
  const file = json as Record<string, unknown>;
  const sources = file.sources as Record<string, string>;
  if (!Array.isArray(file.publicKeys) || !Array.isArray(file.signatures))
    throw new Error(`${VECTORS_PATH}: missing vector lists`);
  return {
    sources,
    publicKeys: file.publicKeys.map((entry) => keyVector(entry, sources)),
    signatures: file.signatures.map((entry: Record<string, unknown>) => ({
      ...keyVector(entry, sources),
      msg: text(entry, 'msg'),
      sig: text(entry, 'sig'),
    })),
  };
}

export function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** How a failed vector shows in an assertion message: where it comes from and what it expected. */
export function describeVector(vector: KeyVector): string {
  return `${vector.source} ${vector.comment} (expected ${vector.valid ? 'valid' : 'invalid'})`;
}

/**
 * Runs every signature vector through `judge` and lists those it gets wrong, so one assertion that
 * the list is empty shows every disagreement at once.
 */
export async function disagreements(
  vectors: EdgeCases,
  judge: (vector: SignatureVector) => Promise<boolean>,
): Promise<string[]> {
  const wrong: string[] = [];
  for (const vector of vectors.signatures)
    if ((await judge(vector)) !== vector.valid) wrong.push(describeVector(vector));
  return wrong;
}

/** A judge for `disagreements`: the SDK Verifier on the path it was built for. */
export const judgedBy =
  (verifier: Verifier) =>
  (vector: SignatureVector): Promise<boolean> =>
    verifier.verifyBytes(toBase64Url(fromHex(vector.key)), fromHex(vector.msg), fromHex(vector.sig));
