/**
 * The parts of the SDK that load on first use, each a chunk of its own in the browser builds, so
 * that the first download holds only what a chat needs from its first screen.
 */
import { SovError } from './errors.ts';

/** A module's address in a failed import's message: Chromium and Firefox name it, Safari does not. */
const FAILED_MODULE_URL = /\b(https?:\/\/[^\s'"]+)/;

/**
 * Loads a chunk on first use (the components use it for theirs, and an app may for its own):
 * `load` is a bare `import()` of one module, whose namespace it resolves with. A failed load
 * (offline, a connection that froze mid-file) rejects NETWORK and is tried again on the next call.
 * Browsers keep a failed module import for the page's life (Chromium answers a second import() of
 * the address from the failure without asking the network again), so the retry asks for the
 * address the failure named with a query the relay ignores (`?retry=1`, or `&retry=1`): a new
 * address, fetched anew. Where the failure names none (Safari), the retry repeats the import. A
 * module the chunk imports in turn (code it shares with another lazy part) keeps its failure too,
 * under an address only a reload clears: from the second failure on, the error says to reload.
 */
export function onFirstUse<T>(load: () => Promise<T>, what: string): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  let failedAt: string | undefined;
  let retries = 0;
  const attempt = (): Promise<T> =>
    failedAt ? import(/* @vite-ignore */ `${failedAt}${failedAt.includes('?') ? '&' : '?'}retry=${++retries}`) : load();
  return () =>
    (loaded ??= attempt().catch((error: unknown) => {
      loaded = undefined;
      failedAt ??= FAILED_MODULE_URL.exec(String(error))?.[1];
      const advice = retries > 0 ? ' Reload the page to try again.' : '';
      throw new SovError('NETWORK', `Could not load ${what}: ${String(error)}.${advice}`);
    }));
}

/** The long-polling and streaming transports: only when the ladder comes down to them (./transports/ladder.ts). */
export const loadHttpTransport = onFirstUse(() => import('./transports/http.ts'), 'the HTTP transport');

/** History and online lists past their first page (./pages.ts says why). */
export const loadPages = onFirstUse(() => import('./pages.ts'), 'the paging module');

/** Registration, login, password and profile changes, and the scrypt they run: a resumed chat needs none of them. */
export const loadAccount = onFirstUse(() => import('./account.ts'), 'the password module');

/** Resizing and uploading an avatar, with pica behind it: only when someone picks a picture. */
export const loadAvatar = onFirstUse(() => import('./avatar.ts'), 'the avatar module');
