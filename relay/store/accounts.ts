/**
 * Accounts in `accounts.log`: one `account` line per registration, then `profile` and `password`
 * lines for changes. Memory changes only after the line is durable, so a reply never promises
 * something a crash could take back. Ids come from AccountIds: never one that any log mentions.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { SovError } from '../../sdk/errors.ts';
import { DEFAULT_KDF, usernameKey } from '../../sdk/protocol.ts';
import type { KdfParams, Profile, PublicKeyEntry, RequestMap, Role } from '../../sdk/protocol.ts';
import type { AccountIds } from './account-ids.ts';
import { AppendLog } from './append-log.ts';
import type { FileOps } from './append-log.ts';
import { listOf, nullable, oneOf, optional, positive, shape, tagged, text, whole } from './record-fields.ts';
import type { Schema } from './record-fields.ts';
import type { Logger } from '../logger.ts';

export interface Account {
  readonly id: number;
  username: string;
  firstName: string;
  lastName: string;
  avatar: string | null;
  kdf: KdfParams;
  /** sha256(salt || authKey): the auth key is itself a KDF output, so a fast hash is enough here. */
  auth: { salt: string; hash: string };
  keySalt: string;
  keys: PublicKeyEntry[];
  role: Role;
  created: number;
  /** Random, made at registration; sessions carry it so that they act only for this account (account-ids.ts). */
  readonly nonce: string;
}

/** What a registration brings for the new account: its name, password-derived key and public key. */
export type NewAccount = RequestMap['register'];

export interface PasswordChange {
  kdf: KdfParams;
  authKey: string;
  keySalt: string;
  publicKey: string;
}

export type ProfileChange = Partial<Pick<Account, 'username' | 'firstName' | 'lastName' | 'avatar'>>;

/** An `account` line from before nonces has none; such an account uses its creation time (see apply). */
type StoredAccount = Omit<Account, 'nonce'> & { nonce?: string };

type AccountRecord =
  | ({ t: 'account' } & StoredAccount)
  | ({ t: 'profile'; id: number } & ProfileChange)
  | {
      t: 'password';
      id: number;
      kdf: KdfParams;
      auth: Account['auth'];
      keySalt: string;
      key: PublicKeyEntry;
    };

const kdf = shape<KdfParams>({
  alg: oneOf('scrypt'),
  N: positive,
  r: positive,
  p: positive,
  salt: text,
});
const auth = shape<Account['auth']>({ salt: text, hash: text });
const keyEntry = shape<PublicKeyEntry>({ publicKey: text, since: whole });
const account: Schema<StoredAccount> = {
  id: positive,
  username: text,
  firstName: text,
  lastName: text,
  avatar: nullable(text),
  kdf,
  auth,
  keySalt: text,
  // currentKey() reads the last one.
  keys: listOf(keyEntry, 1),
  role: oneOf('user', 'admin'),
  created: whole,
  nonce: optional(text),
};

/** Checks a record read back from accounts.log. */
export const readAccountRecord = tagged<AccountRecord>({
  account,
  profile: {
    id: positive,
    username: optional(text),
    firstName: optional(text),
    lastName: optional(text),
    avatar: optional(nullable(text)),
  },
  password: { id: positive, kdf, auth, keySalt: text, key: keyEntry },
});

export function hashAuthKey(authKey: string, salt: string): string {
  return crypto
    .createHash('sha256')
    .update(Buffer.from(salt, 'base64url'))
    .update(Buffer.from(authKey, 'base64url'))
    .digest('base64url');
}

function newAuth(authKey: string): Account['auth'] {
  const salt = crypto.randomBytes(16).toString('base64url');
  return { salt, hash: hashAuthKey(authKey, salt) };
}

export class Accounts {
  private readonly byId = new Map<number, Account>();
  private readonly byKey = new Map<string, Account>();
  /** Usernames claimed by a write still in flight, so two racing requests cannot both win. */
  private readonly claimed = new Set<string>();
  private log!: AppendLog;

  private constructor(
    private readonly serverSecret: Buffer,
    private readonly ids: AccountIds,
  ) {}

  /** `ids` is shared with the folder's other stores (see account-ids.ts). */
  static async open(
    folder: string,
    ids: AccountIds,
    serverSecret: Buffer,
    logger: Logger,
    ops?: FileOps,
  ): Promise<Accounts> {
    const accounts = new Accounts(serverSecret, ids);
    accounts.log = await AppendLog.open(
      path.join(folder, 'accounts.log'),
      readAccountRecord,
      (record) => accounts.apply(record),
      logger,
      ops,
    );
    // A file from before checksums gets them now rather than at the next compaction, which may be months away.
    if (accounts.log.legacyLines > 0) accounts.compact();
    return accounts;
  }

  get count(): number {
    return this.byId.size;
  }

  get(id: number): Account | undefined {
    return this.byId.get(id);
  }

  find(username: string): Account | undefined {
    return this.byKey.get(usernameKey(username));
  }

  /**
   * The KDF parameters a client needs to log in as `username`. An unknown name gets a salt derived
   * from the relay's secret, stable across calls and restarts, so the answer cannot be used to test
   * whether an account exists. Both paths compute the HMAC so they also take the same time.
   */
  kdfFor(username: string): KdfParams {
    // Both paths do the same work (the fake is computed and a fresh object built either way), so
    // the answer's timing does not tell whether the name exists.
    const fake = {
      ...DEFAULT_KDF,
      salt: crypto
        .createHmac('sha256', this.serverSecret)
        .update(`salt:${usernameKey(username)}`)
        .digest()
        .subarray(0, 16)
        .toString('base64url'),
    };
    const account = this.find(username);
    return account ? { ...account.kdf } : fake;
  }

  /** Constant-time check of an auth key; unknown users cost the same hash so timing reveals nothing. */
  checkAuthKey(account: Account | undefined, authKey: string): boolean {
    const auth = account?.auth ?? {
      salt: 'AAAAAAAAAAAAAAAAAAAAAA',
      hash: 'A'.repeat(43),
    };
    const expected = Buffer.from(auth.hash, 'base64url');
    const actual = Buffer.from(hashAuthKey(authKey, auth.salt), 'base64url');
    return crypto.timingSafeEqual(expected, actual) && account !== undefined;
  }

  async register(input: NewAccount): Promise<Account> {
    const key = this.claim(input.username);
    try {
      const now = Date.now();
      const account: Account = {
        id: this.ids.claim(),
        username: input.username,
        firstName: input.firstName,
        lastName: input.lastName,
        avatar: null,
        kdf: input.kdf,
        auth: newAuth(input.authKey),
        keySalt: input.keySalt,
        keys: [{ publicKey: input.publicKey, since: now }],
        role: 'user',
        created: now,
        nonce: crypto.randomBytes(12).toString('base64url'),
      };
      await this.write({ t: 'account', ...account });
      return this.byId.get(account.id)!;
    } finally {
      this.claimed.delete(key);
    }
  }

  async updateProfile(id: number, change: ProfileChange): Promise<Account> {
    const account = this.require(id);
    const renaming = change.username !== undefined && usernameKey(change.username) !== usernameKey(account.username);
    const key = renaming ? this.claim(change.username!) : null;
    try {
      await this.write({ t: 'profile', id, ...change });
      return account;
    } finally {
      if (key !== null) this.claimed.delete(key);
    }
  }

  /** Rotates the auth key and the signing key; old public keys stay so old messages still verify. */
  async changePassword(id: number, change: PasswordChange): Promise<Account> {
    const account = this.require(id);
    await this.write({
      t: 'password',
      id,
      kdf: change.kdf,
      auth: newAuth(change.authKey),
      keySalt: change.keySalt,
      key: { publicKey: change.publicKey, since: Date.now() },
    });
    return account;
  }

  profile(account: Account): Profile {
    const { id, username, firstName, lastName, avatar, keys, role } = account;
    return {
      id,
      username,
      firstName,
      lastName,
      avatar,
      keys: keys.map((key) => ({ ...key })),
      role,
    };
  }

  currentKey(account: Account): string {
    return account.keys[account.keys.length - 1]!.publicKey;
  }

  async close(): Promise<void> {
    await this.log.close();
  }

  private require(id: number): Account {
    const account = this.byId.get(id);
    if (!account) throw new SovError('UNKNOWN_USER');
    return account;
  }

  private claim(username: string): string {
    const key = usernameKey(username);
    if (this.byKey.has(key) || this.claimed.has(key))
      throw new SovError('USERNAME_TAKEN', undefined, { field: 'username' });
    this.claimed.add(key);
    return key;
  }

  private async write(record: AccountRecord): Promise<void> {
    await this.log.append(JSON.stringify(record), () => this.apply(record));
    // Each account is one line after compaction; rewrite once the log holds mostly superseded lines.
    if (this.log.lineCount > 1000 && this.log.lineCount > this.byId.size * 3) this.compact();
  }

  private compact(): void {
    this.log.compact(() => [...this.byId.values()].map((account) => JSON.stringify({ t: 'account', ...account })));
  }

  private apply(record: AccountRecord): void {
    switch (record.t) {
      case 'account': {
        const { t: _t, nonce, ...stored } = record;
        // Derived, not random, so that it stays the same until a compaction writes it down.
        const account: Account = {
          ...stored,
          nonce: nonce ?? `created-${stored.created}`,
        };
        this.byId.set(account.id, account);
        this.byKey.set(usernameKey(account.username), account);
        this.ids.hold(account.id, account.nonce);
        break;
      }
      case 'profile': {
        this.ids.saw(record.id);
        const account = this.byId.get(record.id);
        if (!account) return;
        if (record.username !== undefined) {
          this.byKey.delete(usernameKey(account.username));
          account.username = record.username;
          this.byKey.set(usernameKey(account.username), account);
        }
        if (record.firstName !== undefined) account.firstName = record.firstName;
        if (record.lastName !== undefined) account.lastName = record.lastName;
        if (record.avatar !== undefined) account.avatar = record.avatar;
        break;
      }
      case 'password': {
        this.ids.saw(record.id);
        const account = this.byId.get(record.id);
        if (!account) return;
        account.kdf = record.kdf;
        account.auth = record.auth;
        account.keySalt = record.keySalt;
        account.keys.push(record.key);
        break;
      }
    }
  }
}
