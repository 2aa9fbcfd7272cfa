/**
 * The demo page and the browser bundles, read into memory at start: a handful of small files,
 * served without touching the disk and without any path from the URL ever reaching the file system.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface StaticFile {
  body: Buffer;
  type: string;
  /** Quoted strong validator: repeat visits on slow links cost a 304, not the file. */
  etag: string;
  /** Content-hashed build chunks never change under their name: cache them for good. */
  immutable: boolean;
}

const HASHED_CHUNK = /\/chunks\/.*-[A-Z0-9]{8}\.js(\.map)?$/;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** Maps URL paths to files for every file under each folder; later folders do not override earlier ones. */
export function loadStaticFiles(folders: string[]): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (root: string, folder: string): void => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(root, full);
      const type = TYPES[path.extname(entry.name)];
      if (!entry.isFile() || !type) continue;
      const url = `/${path.relative(root, full).split(path.sep).join('/')}`;
      if (files.has(url)) continue;
      const body = fs.readFileSync(full);
      const etag = `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      files.set(url, { body, type, etag, immutable: HASHED_CHUNK.test(url) });
    }
  };
  for (const folder of folders) if (fs.existsSync(folder)) walk(folder, folder);
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  return files;
}
