/**
 * Registration, login, password and profile changes: the input checks, the password to keys
 * (./crypto/password.ts) and the requests. Loaded with the password module on the first
 * `register`, `login`, `changePassword` or `updateProfile`, as one chunk: a returning user resumes
 * the stored session and never needs any of it, and a profile change, rare, shares the name checks.
 */
import type { Credentials, PasswordChangeInput, Registration } from './client.ts';
import { MIN_PASSWORD_LENGTH } from './client.ts';
import { derivePasswordKeys, publicKeyOf, randomBytes } from './crypto/password.ts';
import type { StoredSigningKey } from './crypto/signing.ts';
import { storedSigningKey } from './crypto/signing-key.ts';
import { toBase64Url } from './encoding.ts';
import { SovError } from './errors.ts';
import { personName, username as usernameCheck } from './protocol/fields.ts';
import { DEFAULT_KDF } from './protocol/frames.ts';
import type { Profile, RequestMap, RequestType, ResultMap } from './protocol/frames.ts';
import { kdfParams } from './protocol/kdf.ts';

/** What registration and login need from the client. */
export interface AccountHost {
  /** Starts connecting to the relay, if the client is not connected yet. */
  connect(): void;
  request<K extends RequestType>(type: K, fields: RequestMap[K]): Promise<ResultMap[K]>;
  /** Keep the signing key as a non-extractable WebCrypto key where the browser can. */
  readonly useWebCrypto: boolean;
}

/** A session the relay has just opened, for the client to store and start. */
export interface NewSession {
  token: string;
  user: Profile;
  signingKey: StoredSigningKey;
}

/** How often a sign-in request goes out when the connection under it keeps being lost. */
const SIGN_IN_ATTEMPTS = 3;

/**
 * Sends a sign-in request, and sends it again on the next connection when the one under it was
 * lost (NETWORK: it closed or froze while the reply was due): the relay may have acted and the
 * reply been lost, and a person on a flaky network should not have to start over. Safe to repeat:
 * `salt` and `login` change nothing that a second one harms (an unused session expires), and the
 * relay signs the identical `register` in (PROTOCOL.md, "A repeated register"). TIMEOUT is not repeated: the
 * request has waited its whole time already.
 */
async function signInRequest<K extends 'salt' | 'register' | 'login'>(
  host: AccountHost,
  type: K,
  fields: RequestMap[K],
): Promise<ResultMap[K]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await host.request(type, fields);
    } catch (error) {
      if (!(error instanceof SovError) || error.code !== 'NETWORK' || attempt === SIGN_IN_ATTEMPTS) throw error;
    }
  }
}

/** Creates the account: checks the input, derives the keys, sends only derived and random values. */
export async function register(host: AccountHost, input: Registration): Promise<NewSession> {
  const username = usernameCheck(input.username, 'username');
  const firstName = personName(input.firstName, 'firstName');
  const lastName = personName(input.lastName, 'lastName');
  checkPassword(input.password, true);
  const kdf = { ...DEFAULT_KDF, salt: toBase64Url(randomBytes(16)) };
  const keySalt = toBase64Url(randomBytes(32));
  const keys = await derivePasswordKeys(input.password, kdf, input.onProgress);
  const seed = keys.signingSeed(keySalt);
  const publicKey = await publicKeyOf(seed);
  host.connect();
  const result = await signInRequest(host, 'register', {
    username,
    firstName,
    lastName,
    kdf,
    authKey: keys.authKey,
    keySalt,
    publicKey,
  });
  const signingKey = await storedSigningKey(seed, publicKey, host.useWebCrypto);
  seed.fill(0);
  return { token: result.token, user: result.user, signingKey };
}

/** Logs in with the KDF settings the relay holds for the name, and checks the key the password gives. */
export async function login(host: AccountHost, input: Credentials): Promise<NewSession> {
  const username = usernameCheck(input.username, 'username');
  checkPassword(input.password, false);
  host.connect();
  const { kdf: offered } = await signInRequest(host, 'salt', { username });
  // A relay that offered weak (cheap to brute-force) or absurd (memory-exhausting) settings is refused.
  const kdf = kdfParams(offered, 'kdf');
  const keys = await derivePasswordKeys(input.password, kdf, input.onProgress);
  const result = await signInRequest(host, 'login', {
    username,
    authKey: keys.authKey,
  });
  const seed = keys.signingSeed(result.keySalt);
  const publicKey = await publicKeyOf(seed);
  if (publicKey !== currentKeyOf(result.user)) {
    // Only a relay that altered the profile or key salt gets here; signing would produce rejected messages.
    await host.request('logout', {}).catch(() => undefined);
    throw keyMismatch();
  }
  const signingKey = await storedSigningKey(seed, publicKey, host.useWebCrypto);
  seed.fill(0);
  return { token: result.token, user: result.user, signingKey };
}

/** The profile and signing key a password change leaves the session with. */
export interface ChangedPassword {
  user: Profile;
  signingKey: StoredSigningKey;
}

/**
 * Changes the password of the signed-in user: the current one proves itself with its auth key (as
 * at login); the new one gets a fresh scrypt salt, a fresh key salt and so a new signing key. The
 * relay appends the new public key to the profile's list and keeps the old ones, so messages signed
 * before the change still verify. Two scrypt runs: `onProgress` covers both (0..0.5, then 0.5..1).
 */
export async function changePassword(
  host: AccountHost,
  username: string,
  input: PasswordChangeInput,
): Promise<ChangedPassword> {
  checkPassword(input.current, false, 'current');
  checkPassword(input.next, true, 'next');
  const progress = input.onProgress;
  const { kdf: offered } = await host.request('salt', { username });
  const current = await derivePasswordKeys(
    input.current,
    kdfParams(offered, 'kdf'),
    progress && ((fraction) => progress(fraction / 2)),
  );
  const kdf = { ...DEFAULT_KDF, salt: toBase64Url(randomBytes(16)) };
  const keySalt = toBase64Url(randomBytes(32));
  const next = await derivePasswordKeys(input.next, kdf, progress && ((fraction) => progress(0.5 + fraction / 2)));
  const seed = next.signingSeed(keySalt);
  const publicKey = await publicKeyOf(seed);
  const { user } = await host
    .request('change-password', {
      authKey: current.authKey,
      kdf,
      newAuthKey: next.authKey,
      keySalt,
      publicKey,
    })
    .catch((error: unknown) => {
      // The relay names its field, authKey; the caller knows it as `current`.
      throw error instanceof SovError && error.code === 'BAD_CREDENTIALS'
        ? new SovError('BAD_CREDENTIALS', 'The current password is wrong.', {
            field: 'current',
          })
        : error;
    });
  // The relay took the new key or this session would sign messages it refuses.
  if (publicKey !== currentKeyOf(user)) throw keyMismatch();
  const signingKey = await storedSigningKey(seed, publicKey, host.useWebCrypto);
  seed.fill(0);
  return { user, signingKey };
}

const currentKeyOf = (user: Profile): string | undefined => user.keys[user.keys.length - 1]?.publicKey;

const keyMismatch = (): SovError =>
  new SovError('INTERNAL', "The key from your password does not match the relay's record of your key.");

/** `chosen`: a password being set (registration, a change's new one), which must be long enough. */
function checkPassword(password: unknown, chosen: boolean, field = 'password'): void {
  if (typeof password !== 'string' || password === '')
    throw new SovError('EMPTY_FIELD', 'Enter a password.', { field });
  if (chosen && [...password].length < MIN_PASSWORD_LENGTH) {
    throw new SovError('INVALID_FIELD', `The password must be at least ${MIN_PASSWORD_LENGTH} characters.`, { field });
  }
}

/** Checks the names in `change` as registration does, then sends it; resolves with the updated profile. */
export async function updateProfile(
  host: AccountHost,
  change: { username?: string; firstName?: string; lastName?: string },
): Promise<Profile> {
  const fields: RequestMap['update-profile'] = {};
  if (change.username !== undefined) fields.username = usernameCheck(change.username, 'username');
  if (change.firstName !== undefined) fields.firstName = personName(change.firstName, 'firstName');
  if (change.lastName !== undefined) fields.lastName = personName(change.lastName, 'lastName');
  return (await host.request('update-profile', fields)).user;
}
