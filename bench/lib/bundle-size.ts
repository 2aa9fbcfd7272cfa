/**
 * What a browser downloads for an entry of relay/dist/browser: the entry plus every chunk it imports
 * statically (the initial download), and the chunks it may import later (lazy). Each file is
 * measured as the relay answers it (relay/static-files.ts) to a browser that accepts brotli, and
 * to one that accepts gzip only, summed, because each file travels compressed on its own.
 * Browsers offer brotli over HTTPS only, so plain http:// (a relay on localhost) gets gzip.
 */
import { loadStaticFiles, staticReply } from '../../relay/static-files.ts';
import type { StaticFiles } from '../../relay/static-files.ts';

/**
 * The ceiling npm test (test/build/bundle-size.test.ts) holds the initial download of <sov-chat>
 * (/sov-chat.js and the chunks it imports statically, as a browser without brotli gets it) under,
 * so that growth fails a test. The target is 25,000 with 1,000 of margin (issue 11: at most 24,000;
 * npm run bench reports against it). Issue 10's client side and issue 11's first reshaping took it to
 * 28,824 on 2026-12-02; the chat screen loading beside the connection instead of before the first
 * paint (web-components/sov-chat/chat-screen.ts), gzip by zopfli and the chat screen's top bar and
 * styles in its chunk brought it to 23,777 with the stores and the frame parser (BENCHMARKS.md):
 * the ceiling is now the 24,000 itself.
 */
export const SOV_CHAT_INITIAL_GZIP_BUDGET = 24_000;

export interface FileSize {
  /** Relative to the served folder. */
  file: string;
  bytes: number;
  gzip: number;
  br: number;
}

export interface BundleSize {
  entry: string;
  initial: FileSize[];
  lazy: FileSize[];
  initialBytes: number;
  initialGzip: number;
  initialBr: number;
}

const STATIC_IMPORT = /(?:^|[;}\s])import\s*(?:[\w${},\s*]+from\s*)?["']([^"']+)["']/g;
const DYNAMIC_IMPORT = /import\(\s*["']([^"']+)["']\s*\)/g;

/** Chrome's Accept-Encoding over HTTPS, and what is left of it over plain HTTP. */
const BROWSER_ACCEPTS = {
  br: 'gzip, deflate, br, zstd',
  gzip: 'gzip, deflate',
};

function sizeOf(files: StaticFiles, url: string): FileSize {
  const sent = (acceptEncoding: string): number =>
    staticReply(files, {
      method: 'GET',
      path: url,
      header: (name) => (name === 'accept-encoding' ? acceptEncoding : undefined),
    }).body!.length;
  return {
    file: url.slice(1),
    bytes: sent(''),
    gzip: sent(BROWSER_ACCEPTS.gzip),
    br: sent(BROWSER_ACCEPTS.br),
  };
}

function importsOf(files: StaticFiles, url: string, pattern: RegExp): string[] {
  const file = files.get(url);
  if (!file) throw new Error(`${url} is imported but not served`);
  return [...file.identity.body.toString('utf8').matchAll(pattern)].map(
    (match) => new URL(match[1]!, `http://relay${url}`).pathname,
  );
}

export function bundleSize(root: string, entry: string): BundleSize {
  const files = loadStaticFiles([root]);
  const initial = new Set<string>();
  const walk = (url: string): void => {
    if (initial.has(url)) return;
    initial.add(url);
    for (const next of importsOf(files, url, STATIC_IMPORT)) walk(next);
  };
  walk(`/${entry}`);
  const lazy = new Set<string>();
  const walkLazy = (url: string): void => {
    for (const next of [...importsOf(files, url, DYNAMIC_IMPORT), ...importsOf(files, url, STATIC_IMPORT)]) {
      if (initial.has(next) || lazy.has(next)) continue;
      lazy.add(next);
      walkLazy(next);
    }
  };
  for (const url of initial) walkLazy(url);
  const initialSizes = [...initial].map((url) => sizeOf(files, url));
  const sum = (key: 'bytes' | 'gzip' | 'br'): number => initialSizes.reduce((total, item) => total + item[key], 0);
  return {
    entry,
    initial: initialSizes,
    lazy: [...lazy].map((url) => sizeOf(files, url)),
    initialBytes: sum('bytes'),
    initialGzip: sum('gzip'),
    initialBr: sum('br'),
  };
}
