/**
 * The parts of the SDK that load on first use, each a chunk of its own in the browser builds, so
 * that the first download holds only what a chat needs from its first screen. A failed load
 * (offline) rejects NETWORK and is tried again next time.
 */
import { SovError } from './errors.ts';

function onFirstUse<T>(load: () => Promise<T>, what: string): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () =>
    (loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw new SovError('NETWORK', `Could not load ${what}: ${String(error)}`);
    }));
}

/** History and online lists past their first page (./pages.ts says why). */
export const loadPages = onFirstUse(() => import('./pages.ts'), 'the paging module');

/** Registration, login, password and profile changes, and the scrypt they run: a resumed chat needs none of them. */
export const loadAccount = onFirstUse(() => import('./account.ts'), 'the password module');

/** Resizing and uploading an avatar, with pica behind it: only when someone picks a picture. */
export const loadAvatar = onFirstUse(() => import('./avatar.ts'), 'the avatar module');
