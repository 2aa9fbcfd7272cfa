/**
 * The accounts the fuzz registers and signs with: fresh names, keys, and a signed message's signature.
 */
import crypto from 'node:crypto';
import { signedBytes } from '../../../sdk/protocol.ts';
import type { Peer } from './peer.ts';

export interface Identity {
  id: number;
  username: string;
  authKey: string;
  privateKey: crypto.KeyObject;
  publicKey: string;
  token: string;
}

export function randomKey(bytes = 32): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

export function newKeys(): { privateKey: crypto.KeyObject; publicKey: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  return { privateKey, publicKey: publicKey.export({ format: 'jwk' }).x! };
}

export function kdf(): Record<string, unknown> {
  return { alg: 'scrypt', N: 2 ** 17, r: 8, p: 1, salt: randomKey(16) };
}

let nameCounter = 0;
export function freshName(prefix: string): string {
  return `${prefix}${process.pid.toString(36)}x${(++nameCounter).toString(36)}`;
}

export function sign(
  privateKey: crypto.KeyObject,
  message: {
    room: string;
    author: number;
    cid: string;
    ts: number;
    text: string;
  },
): string {
  return crypto.sign(null, signedBytes(message), privateKey).toString('base64url');
}

export async function registerIdentity(peer: Peer, prefix: string): Promise<Identity> {
  const keys = newKeys();
  const username = freshName(prefix);
  const authKey = randomKey();
  const result = await peer.call('register', {
    username,
    firstName: 'Fuzz',
    lastName: prefix,
    kdf: kdf(),
    authKey,
    keySalt: randomKey(),
    publicKey: keys.publicKey,
  });
  return {
    id: result.user.id,
    username,
    authKey,
    ...keys,
    token: result.token,
  };
}
