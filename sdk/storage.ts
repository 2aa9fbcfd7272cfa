/**
 * Where the SDK keeps what must survive a relaunch: the session (token, profile, signing key),
 * each room's recent history, and the outbox. A small key-value interface, so IndexedDB in
 * browsers and plain memory in Node bots and tests are interchangeable (and so is your own).
 */
import { openDB } from 'idb';
import { SovError } from './errors.ts';
import type { IDBPDatabase } from 'idb';

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
 * IndexedDB through idb. Values are stored by structured clone, which is what lets a
 * non-extractable CryptoKey be kept without ever exposing its bytes.
 */
export function indexedDbStorage(databaseName = 'sovereign-chat'): StorageAdapter {
  let database: Promise<IDBPDatabase> | undefined;
  const db = (): Promise<IDBPDatabase> =>
    (database ??= openDB(databaseName, 1, {
      upgrade(upgrading) {
        upgrading.createObjectStore(STORE);
      },
    }));
  return {
    async get<T>(key: string) {
      return (await (await db()).get(STORE, key)) as T | undefined;
    },
    async set(key, value) {
      await (await db()).put(STORE, value, key);
    },
    async delete(key) {
      await (await db()).delete(STORE, key);
    },
    async keys(prefix) {
      const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`);
      return (await (await db()).getAllKeys(STORE, range)).map(String);
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
      throw new SovError(
        'STORAGE_UNAVAILABLE',
        `${ERROR_TEXT} (${error instanceof Error ? error.message : String(error)})`,
      );
    });
  return {
    get: <T>(key: string) => guard(() => inner.get<T>(key)),
    set: (key, value) => guard(() => inner.set(key, value)),
    delete: (key) => guard(() => inner.delete(key)),
    keys: (prefix) => guard(() => inner.keys(prefix)),
  };
}

const ERROR_TEXT = 'This browser could not use its storage';
