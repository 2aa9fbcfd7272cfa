/**
 * Avatar files in `avatars/`, named by the SHA-256 of their bytes: the URL changes whenever the
 * image does, so browsers may cache each URL forever, and equal uploads share one file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { makeFolderDurably } from '../data-folder.ts';
import { syncFolder } from '../store/append-log.ts';
import type { ImageInfo } from './image-info.ts';

const EXTENSIONS = { png: 'png', jpeg: 'jpg', webp: 'webp' } as const;
const MIME_BY_EXTENSION: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  webp: 'image/webp',
};
const FILE_NAME = /^[0-9a-f]{64}\.(png|jpg|webp)$/;
export const AVATAR_URL_PREFIX = '/avatars/';

export class AvatarStore {
  constructor(private readonly folder: string) {
    // Each saved avatar fsyncs this folder; its own name in the data folder must be on disk too.
    makeFolderDurably(folder);
  }

  /** The same image saved by two uploads at once is written once; both wait for that write. */
  private readonly saving = new Map<string, Promise<void>>();

  /** Stores the image durably (temp file, fsync, rename, fsync folder) and returns its URL path. */
  async save(bytes: Uint8Array, info: ImageInfo): Promise<string> {
    const name = `${crypto.createHash('sha256').update(bytes).digest('hex')}.${EXTENSIONS[info.format]}`;
    let write = this.saving.get(name);
    if (!write) {
      write = this.write(path.join(this.folder, name), bytes).finally(() => this.saving.delete(name));
      this.saving.set(name, write);
    }
    await write;
    return AVATAR_URL_PREFIX + name;
  }

  private async write(file: string, bytes: Uint8Array): Promise<void> {
    if (!fs.existsSync(file)) {
      // A name of its own, so that no other write (another relay on a copy of the folder, a
      // leftover from a crash) can truncate the file this one is about to rename into place.
      const temp = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
      const handle = await fsp.open(temp, 'w', 0o600);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(temp, file).catch(async (error) => {
        await fsp.rm(temp, { force: true });
        throw error;
      });
      await syncFolder(this.folder);
    }
  }

  /** The stored image for a URL file name; null for anything that is not exactly a stored name. */
  async read(name: string): Promise<{ body: Buffer; mime: string } | null> {
    const match = FILE_NAME.exec(name);
    if (!match) return null;
    try {
      return {
        body: await fsp.readFile(path.join(this.folder, name)),
        mime: MIME_BY_EXTENSION[match[1]!]!,
      };
    } catch {
      return null;
    }
  }
}
