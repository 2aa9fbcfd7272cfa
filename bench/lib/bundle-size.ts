/**
 * What a browser downloads for an entry of dist/browser: the entry plus every chunk it imports
 * statically (the initial download), and the chunks it may import later (lazy). Sizes are minified
 * bytes and gzip -9 bytes per file, summed, because each file travels compressed on its own.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export interface FileSize {
  file: string;
  bytes: number;
  gzip: number;
}

export interface BundleSize {
  entry: string;
  initial: FileSize[];
  lazy: FileSize[];
  initialGzip: number;
  initialBytes: number;
}

const STATIC_IMPORT = /(?:^|[;}\s])import\s*(?:[\w${},\s*]+from\s*)?["']([^"']+)["']/g;
const DYNAMIC_IMPORT = /import\(\s*["']([^"']+)["']\s*\)/g;

function sizeOf(file: string, root: string): FileSize {
  const body = fs.readFileSync(file);
  return { file: path.relative(root, file), bytes: body.length, gzip: zlib.gzipSync(body, { level: 9 }).length };
}

function importsOf(file: string, pattern: RegExp): string[] {
  const source = fs.readFileSync(file, 'utf8');
  return [...source.matchAll(pattern)].map((match) => path.resolve(path.dirname(file), match[1]!));
}

export function bundleSize(root: string, entry: string): BundleSize {
  const initial = new Set<string>();
  const walk = (file: string): void => {
    if (initial.has(file)) return;
    initial.add(file);
    for (const next of importsOf(file, STATIC_IMPORT)) walk(next);
  };
  walk(path.join(root, entry));
  const lazy = new Set<string>();
  const walkLazy = (file: string): void => {
    for (const next of [...importsOf(file, DYNAMIC_IMPORT), ...importsOf(file, STATIC_IMPORT)]) {
      if (initial.has(next) || lazy.has(next)) continue;
      lazy.add(next);
      walkLazy(next);
    }
  };
  for (const file of initial) walkLazy(file);
  const initialSizes = [...initial].map((file) => sizeOf(file, root));
  return {
    entry,
    initial: initialSizes,
    lazy: [...lazy].map((file) => sizeOf(file, root)),
    initialGzip: initialSizes.reduce((sum, item) => sum + item.gzip, 0),
    initialBytes: initialSizes.reduce((sum, item) => sum + item.bytes, 0),
  };
}
