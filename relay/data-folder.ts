/**
 * The data folder: created when missing, locked against a second relay (two writers would
 * interleave log lines), and home of the relay's secret and its id.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { RELAY_ID_PATTERN } from '../sdk/protocol.ts';

export class DataFolderError extends Error {}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `mkdir -p` that survives a power cut: each folder it makes is fsynced into its parent before
 * anything inside can be acknowledged. Without that, the new folder's name may never reach the
 * disk, and with it goes everything later synced inside (found by test/relay/durability.test.ts).
 */
export function makeFolderDurably(folder: string): void {
  const target = path.resolve(folder);
  const first = fs.mkdirSync(target, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  for (let made = target; ; made = path.dirname(made)) {
    const parent = fs.openSync(path.dirname(made), 'r');
    try {
      fs.fsyncSync(parent);
    } finally {
      fs.closeSync(parent);
    }
    if (made === path.resolve(first)) return;
  }
}

/** Takes `relay.lock`; a lock left by a relay that died (kill -9, power loss) is taken over. */
export function lockDataFolder(folder: string): () => void {
  makeFolderDurably(folder);
  const lockFile = path.join(folder, 'relay.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), {
        flag: 'wx',
        mode: 0o600,
      });
      return () => {
        try {
          fs.rmSync(lockFile, { force: true });
        } catch {
          // A folder that turned read-only (a failing disk) keeps the lock file; everything else was
          // flushed already, and the next relay takes over a lock whose process is gone.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(fs.readFileSync(lockFile, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw new DataFolderError(`data folder ${folder} is in use by relay process ${owner}`);
      }
      fs.rmSync(lockFile, { force: true });
    }
  }
  throw new DataFolderError(`could not lock data folder ${folder}`);
}

/**
 * 32 random bytes made on first start. Keys the fake salts for unknown usernames, so they are
 * stable across restarts yet unpredictable; losing it only changes those fake answers.
 */
export async function loadServerSecret(folder: string): Promise<Buffer> {
  const file = path.join(folder, 'secret.key');
  if (fs.existsSync(file)) {
    const secret = fs.readFileSync(file);
    if (secret.length === 32) return secret;
  }
  const secret = crypto.randomBytes(32);
  await replaceFile(file, secret);
  return secret;
}

/**
 * The relay's id: 16 random bytes in base64url, made on first start and announced in every hello,
 * so that a client reaching the relay through several front doors can tell that each one leads
 * here (PROTOCOL.md, "Front doors"). Clients keep it with their session and refuse a relay with
 * another id, so a new id shuts out every client with a session until its user logs out: a
 * damaged file stops the start rather than being quietly replaced.
 */
export async function loadRelayId(folder: string): Promise<string> {
  const file = path.join(folder, 'relay.id');
  let stored: string;
  try {
    stored = fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const id = crypto.randomBytes(16).toString('base64url');
    await replaceFile(file, `${id}\n`);
    return id;
  }
  if (!RELAY_ID_PATTERN.test(stored)) {
    throw new DataFolderError(
      `${file} does not hold a relay id (22 characters of A-Z a-z 0-9 _ -). Restore it from a backup; deleting it gives the relay a new id, which clients with a session refuse until their users log out and in again.`,
    );
  }
  return stored;
}

/** Writes a file that only the relay's user may read, and fsyncs it. `wx` refuses to overwrite one. */
export function writeSynced(file: string, data: Buffer | string, flag: 'w' | 'wx'): void {
  const handle = fs.openSync(file, flag, 0o600);
  try {
    fs.writeFileSync(handle, data);
    fs.fsyncSync(handle);
  } finally {
    fs.closeSync(handle);
  }
}

/** Replaces `file` by a temp file, fsync and rename, then fsyncs the folder: a crash leaves the old file or the new one, whole. */
export async function replaceFile(file: string, data: Buffer | string): Promise<void> {
  const temp = `${file}.tmp`;
  writeSynced(temp, data, 'w');
  fs.renameSync(temp, file);
  await syncFolder(path.dirname(file));
}

/** fsync on a directory makes a rename inside it durable (POSIX leaves it in the page cache otherwise). */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.promises.open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
