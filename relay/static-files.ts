/**
 * The demo pages and the browser bundles, read into memory at start: a handful of small files,
 * served without touching the disk and without any path from the URL ever reaching the file system.
 * `staticReply` answers a request from its method, path and headers alone, so every HTTP engine
 * the relay runs on serves these files the same way.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SovError } from '../sdk/errors.ts';
import { CODING_SUFFIX, isCompressible, precompress } from './precompress.mjs';
import type { ContentCoding } from './precompress.mjs';

export type { ContentCoding };

/** One stored form of a file: its bytes and the strong validator of exactly those bytes. */
export interface Representation {
  body: Buffer;
  /**
   * Quoted, and different for each coding: a cache that revalidates with the ETag of a brotli body
   * must never be told 304 by a request that would get the identity one.
   */
  etag: string;
}

export interface StaticFile {
  type: string;
  /** Content-hashed build chunks never change under their name: cache them for good. */
  immutable: boolean;
  identity: Representation;
  /** The compressed forms smaller than the file (the build's NAME.br and NAME.gz, or made at load). */
  encoded: Partial<Record<ContentCoding, Representation>>;
  /** HTML pages: the Content-Security-Policy sent as a header, with frame-ancestors. */
  contentSecurityPolicy: string | null;
}

export type StaticFiles = ReadonlyMap<string, StaticFile>;

/** What staticReply needs of a request, whatever the engine. */
export interface StaticRequest {
  /** As sent: methods are case-sensitive, `get` is not GET. */
  method: string;
  /** The request target; a query string is ignored (the demo links to /index.html?lang=ru). */
  path: string;
  /** A request header by lower-case name: undefined or '' when absent. */
  header(name: string): string | undefined;
}

export interface StaticReply {
  status: number;
  /** Lower-case names. content-length is the GET body's length, for HEAD too. */
  headers: Record<string, string>;
  /** null for HEAD and 304. */
  body: Buffer | null;
}

// ## Loading

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

/**
 * frame-ancestors is ignored in a meta tag, so it can only come as a header. 'none': the pages take
 * passwords, so no other site may frame them under a fake UI (clickjacking), and nothing of ours
 * frames them either; a site that wants the chat embeds <sov-chat>, not the page.
 */
const FRAME_ANCESTORS = "frame-ancestors 'none'";

/** Our own pages write the tag in this one form (demo/*.html). */
const META_POLICY = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/i;

function representation(body: Buffer): Representation {
  return {
    body,
    etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  };
}

/**
 * The build writes NAME.br and NAME.gz beside what it compresses. demo/ is only copied, so a file
 * with neither is compressed here: the demo's five files (6 KB) take about 15 ms at start.
 */
function encodedForms(file: string, body: Buffer): StaticFile['encoded'] {
  if (!isCompressible(file)) return {};
  const codings = Object.keys(CODING_SUFFIX) as ContentCoding[];
  const beside = codings.filter((coding) => fs.existsSync(file + CODING_SUFFIX[coding]));
  const copies =
    beside.length > 0
      ? Object.fromEntries(beside.map((coding) => [coding, fs.readFileSync(file + CODING_SUFFIX[coding])]))
      : precompress(body);
  return Object.fromEntries(Object.entries(copies).map(([coding, copy]) => [coding, representation(copy)]));
}

/**
 * The page's own meta policy, so it is written once and still holds where the page is served by
 * something other than the relay; the header adds what only a header can carry. A browser enforces
 * both, and the header's is the meta's plus frame-ancestors, so together they are the header's.
 */
function pagePolicy(type: string, body: Buffer): string | null {
  if (!type.startsWith('text/html')) return null;
  const meta = META_POLICY.exec(body.toString('utf8'))?.[1];
  return meta ? `${meta}; ${FRAME_ANCESTORS}` : FRAME_ANCESTORS;
}

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
      files.set(url, {
        type,
        immutable: HASHED_CHUNK.test(url),
        identity: representation(body),
        encoded: encodedForms(full, body),
        contentSecurityPolicy: pagePolicy(type, body),
      });
    }
  };
  for (const folder of folders) if (fs.existsSync(folder)) walk(folder, folder);
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  return files;
}

// ## Negotiation (RFC 9110 12.5.3 and 13.1.2)

/** The server's order among codings the client weighs equally: brotli is 10% smaller than gzip here. */
const PREFERENCE: readonly ContentCoding[] = ['br', 'gzip'];

const CODING_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const QVALUE = /^q=(0(\.\d{0,3})?|1(\.0{0,3})?)$/;

/** Weight by coding name; a member with a malformed weight is dropped rather than guessed at. */
function acceptedCodings(acceptEncoding: string): Map<string, number> {
  const weights = new Map<string, number>();
  for (const member of acceptEncoding.toLowerCase().split(',')) {
    const [name = '', ...parameters] = member.split(';').map((part) => part.trim());
    const weight = parameters.find((parameter) => parameter.startsWith('q='));
    const q = weight === undefined ? 1 : QVALUE.exec(weight)?.[1];
    if (!CODING_NAME.test(name) || q === undefined) continue;
    weights.set(name === 'x-gzip' ? 'gzip' : name, Number(q));
  }
  return weights;
}

/**
 * The acceptable coding of highest weight, ties going to PREFERENCE. identity is the answer when
 * nothing else is acceptable, even if the client refused it: it is all there is to send. A request
 * without Accept-Encoding gets identity too (curl, scripts), though the RFC would allow any.
 */
function chooseCoding(acceptEncoding: string, file: StaticFile): ContentCoding | 'identity' {
  const accepted = acceptedCodings(acceptEncoding);
  const weight = (coding: string): number => accepted.get(coding) ?? accepted.get('*') ?? 0;
  let best: ContentCoding | null = null;
  for (const coding of PREFERENCE)
    if (file.encoded[coding] && weight(coding) > (best ? weight(best) : 0)) best = coding;
  return best && weight(best) >= (accepted.get('identity') ?? 0) ? best : 'identity';
}

/** If-None-Match compares weakly: W/"x" matches "x". */
function anyTagMatches(ifNoneMatch: string, etag: string): boolean {
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}

// ## Replies

const METHOD_NOT_ALLOWED = Buffer.from(
  JSON.stringify({
    ok: false,
    error: new SovError('INVALID_FIELD', 'Method not allowed.').toWire(),
  }),
);
const NOT_FOUND = Buffer.from('not found');

function plain(
  status: number,
  type: string,
  body: Buffer,
  method: string,
  extra: Record<string, string> = {},
): StaticReply {
  const headers = {
    'content-type': type,
    'x-content-type-options': 'nosniff',
    'content-length': String(body.length),
    ...extra,
  };
  return { status, headers, body: method === 'HEAD' ? null : body };
}

/** The answer to a GET or HEAD for a static file, or the 404 or 405 in its place. */
export function staticReply(files: StaticFiles, request: StaticRequest): StaticReply {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return plain(405, 'application/json', METHOD_NOT_ALLOWED, request.method, {
      allow: 'GET, HEAD',
    });
  }
  const file = files.get(request.path.split('?')[0]!);
  if (!file) return plain(404, 'text/plain; charset=utf-8', NOT_FOUND, request.method);
  const coding = chooseCoding(request.header('accept-encoding') ?? '', file);
  const chosen = coding === 'identity' ? file.identity : file.encoded[coding]!;
  const headers: Record<string, string> = {
    etag: chosen.etag,
    'cache-control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    'x-content-type-options': 'nosniff',
  };
  if (Object.keys(file.encoded).length > 0) headers.vary = 'accept-encoding';
  // The bundles are public code that pages on any origin load as modules, which needs CORS.
  if (file.type.startsWith('text/javascript')) {
    headers['access-control-allow-origin'] = '*';
    headers['cross-origin-resource-policy'] = 'cross-origin';
  }
  if (file.contentSecurityPolicy) headers['content-security-policy'] = file.contentSecurityPolicy;
  // A 304 carries no representation metadata (content type, coding, length): RFC 9110 15.4.5.
  if (anyTagMatches(request.header('if-none-match') ?? '', chosen.etag)) return { status: 304, headers, body: null };
  headers['content-type'] = file.type;
  if (coding !== 'identity') headers['content-encoding'] = coding;
  headers['content-length'] = String(chosen.body.length);
  return {
    status: 200,
    headers,
    body: request.method === 'HEAD' ? null : chosen.body,
  };
}
