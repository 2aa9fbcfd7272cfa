/**
 * Where the SDK keeps what must survive a relaunch: the session (token, profile, signing key),
 * each room's recent history, and the outbox. A small key-value interface, so IndexedDB in
 * browsers and plain memory in Node bots and tests are interchangeable (and so is your own).
 */
import { SovError } from './errors.ts';

export interface StorageAdapter {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Every key that starts with `prefix`. */
  keys(prefix: string): Promise<string[]>;
}

/** Keeps everything in a Map: nothing survives the process. For bots, tests and browsers without IndexedDB. */
export function memoryStorage(): StorageAdapter {
  const values = new Map<string, unknown>();
  return {
    async get<T>(key: string) {
      return values.get(key) as T | undefined;
    },
    async set(key, value) {
      values.set(key, value);
    },
    async delete(key) {
      values.delete(key);
    },
    async keys(prefix) {
      return [...values.keys()].filter((key) => key.startsWith(prefix));
    },
  };
}

const STORE = 'kv';

/**
 * IndexedDB, one object store of key-value pairs. Values are stored by structured clone, which is
 * what lets a non-extractable CryptoKey be kept without ever exposing its bytes. Written against
 * IndexedDB itself rather than through idb: these four calls are all the SDK needs, and idb's
 * wrapper of the whole API cost the initial <sov-chat> download 1.1 KB of its 25 KB gzip budget.
 */
export function indexedDbStorage(databaseName = 'sovereign-chat'): StorageAdapter {
  let database: Promise<IDBDatabase> | undefined;
  const db = (): Promise<IDBDatabase> =>
    (database ??= new Promise((resolve, reject) => {
      const opening = indexedDB.open(databaseName, 1);
      opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
      opening.onsuccess = () => resolve(opening.result);
      opening.onerror = () => reject(opening.error);
    }));
  /** Runs one request in a transaction of its own; settles once the transaction has committed (or failed). */
  const run = async <T>(mode: IDBTransactionMode, request: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const transaction = (await db()).transaction(STORE, mode);
    const pending = request(transaction.objectStore(STORE));
    return new Promise((resolve, reject) => {
      transaction.oncomplete = () => resolve(pending.result);
      transaction.onerror = transaction.onabort = () => reject(transaction.error ?? pending.error ?? new DOMException('Transaction aborted', 'AbortError'));
    });
  };
  return {
    async get<T>(key: string) {
      return (await run('readonly', (store) => store.get(key))) as T | undefined;
    },
    async set(key, value) {
      await run('readwrite', (store) => store.put(value, key));
    },
    async delete(key) {
      await run('readwrite', (store) => store.delete(key));
    },
    async keys(prefix) {
      const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`);
      return (await run('readonly', (store) => store.getAllKeys(range))).map(String);
    },
  };
}

/** IndexedDB when the environment has it, else memory. */
export function defaultStorage(): StorageAdapter {
  return typeof indexedDB === 'undefined' ? memoryStorage() : indexedDbStorage();
}

/**
 * Wraps an adapter so that its failures (private browsing without IndexedDB, a full disk, a
 * blocked upgrade) reach the app as SovError STORAGE_UNAVAILABLE instead of a bare DOMException.
 */
export function guardedStorage(inner: StorageAdapter): StorageAdapter {
  const guard = <T>(work: () => Promise<T>): Promise<T> =>
    work().catch((error: unknown) => {
      throw new SovError('STORAGE_UNAVAILABLE', `${ERROR_TEXT} (${error instanceof Error ? error.message : String(error)})`);
    });
  return {
    get: <T>(key: string) => guard(() => inner.get<T>(key)),
    set: (key, value) => guard(() => inner.set(key, value)),
    delete: (key) => guard(() => inner.delete(key)),
    keys: (prefix) => guard(() => inner.keys(prefix)),
  };
}

const ERROR_TEXT = 'This browser could not use its storage';
