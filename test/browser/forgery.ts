/**
 * What a dishonest relay operator can do to stored history, for the tests that check none of it
 * is ever shown as authentic: alter any field of a stored message, move it between rooms, and
 * sign in someone else's name with a real key of their own (any operator can open an account).
 */
import { getPublicKeyAsync, signAsync } from '@noble/ed25519';
import { Connection } from '../../sdk/connection.ts';
import { toBase64Url } from '../../sdk/encoding.ts';
import { DEFAULT_KDF, signedBytes } from '../../sdk/protocol.ts';
import type { ChatMessage, Profile, UnsignedMessage } from '../../sdk/protocol.ts';
import { uniqueName } from './relay.ts';

const randomBase64Url = (length: number): string => toBase64Url(crypto.getRandomValues(new Uint8Array(length)));

/** The operator's own account: registered like anyone's, with a signing key the test holds. */
export interface OperatorAccount {
  user: Profile;
  publicKey: string;
  sign(message: UnsignedMessage): Promise<string>;
}

/** Registers an account whose signing seed the test keeps (no password: the relay never sees one anyway). */
export async function operatorAccount(wsUrl: string): Promise<OperatorAccount> {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const publicKey = toBase64Url(await getPublicKeyAsync(seed));
  // One address, no failover: the operator's own connection to the relay under test.
  const target = {
    door: () => wsUrl.replace(/\/v1\/ws$/, ''),
    helloTimeoutMs: () => 10_000,
    reached: () => undefined,
    failed: () => undefined,
  };
  const connection = new Connection({
    target,
    handshake: async () => undefined,
  });
  connection.start();
  try {
    const { user } = await connection.request('register', {
      username: uniqueName('operator'),
      firstName: 'Mallory',
      lastName: 'Operator',
      kdf: { ...DEFAULT_KDF, salt: randomBase64Url(16) },
      authKey: randomBase64Url(32),
      keySalt: randomBase64Url(32),
      publicKey,
    });
    return {
      user,
      publicKey,
      sign: async (message) => toBase64Url(await signAsync(signedBytes(message), seed)),
    };
  } finally {
    connection.close();
  }
}

export interface ForgeryMaterial {
  operator: OperatorAccount;
  /** Genuine messages of the same author in another room, one for each forgery that takes one. */
  otherRoom: readonly [ChatMessage, ChatMessage];
  /** A genuine message earlier in the same room. */
  earlier: ChatMessage;
}

/** One way to forge a stored message: it replaces the genuine message `original`, keeping its place. */
export interface Forgery {
  what: string;
  /** Whose key the forged message's signature is valid under, where the forgery keeps one valid. */
  validSignature?: 'author' | 'operator';
  forge(original: ChatMessage, material: ForgeryMaterial): Promise<ChatMessage>;
}

const FORGED_TEXT = 'Transfer the deposit to account 4242 today';

/** What can be done to a relay's stored messages: each is a line of its data folder, rewritten. */
export const STORED_FORGERIES: Forgery[] = [
  {
    what: 'text altered',
    forge: async (original) => ({ ...original, text: FORGED_TEXT }),
  },
  {
    what: 'author altered',
    forge: async (original, { operator }) => ({
      ...original,
      author: operator.user.id,
    }),
  },
  // The store files a message under the room it names, so a moved message names its new room.
  {
    what: 'moved from another room',
    forge: async (original, { otherRoom }) => ({
      ...otherRoom[0],
      room: original.room,
      seq: original.seq,
    }),
  },
  {
    what: 'timestamp altered',
    forge: async (original) => ({ ...original, ts: original.ts - 86_400_000 }),
  },
  {
    what: 'client id altered',
    forge: async (original) => ({ ...original, cid: randomBase64Url(12) }),
  },
  {
    what: "re-signed by another user's valid key",
    validSignature: 'operator',
    forge: async (original, { operator }) => {
      const altered = { ...original, text: FORGED_TEXT };
      return { ...altered, sig: await operator.sign(altered) };
    },
  },
];

/** What a relay can further put in a join reply, beyond what its store could hold. */
export const WIRE_FORGERIES: Forgery[] = [
  ...STORED_FORGERIES,
  // Validly signed, for the room it names: only that name gives it away. Not the message moved
  // above: the two would be copies of one signed message, and the replay check alone would catch it.
  {
    what: 'from another room, naming that room',
    validSignature: 'author',
    forge: async (original, { otherRoom }) => ({
      ...otherRoom[1],
      seq: original.seq,
    }),
  },
  // Validly signed, for this room: the relay plays an old message again under a new number.
  {
    what: 'an earlier message replayed',
    validSignature: 'author',
    forge: async (original, { earlier }) => ({ ...earlier, seq: original.seq }),
  },
];
