// Builds everything `npm install` (prepare), `npm start` and `npm test` need:
//   dist/relay.js           the relay for Node (uWebSockets.js stays external: a native addon)
//   dist/sdk/index.js       the SDK as ESM for bundlers and Node, dependencies external, lazy chunks
//   dist/sdk/*.d.ts         its TypeScript declarations
//   dist/browser/           what browsers load, self-contained ESM with shared lazy chunks, served by
//                           the relay at /: sovereign-chat.js (the SDK) and sov-chat.js (the components),
//                           each text file with its brotli and gzip copies beside it (NAME.br, NAME.gz)
//   custom-elements.json    the components' manifest for editors and frameworks (scripts/manifest.mjs)
import { gzipAsync } from '@gfx/zopfli';
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import zlib from 'node:zlib';
import { CODING_SUFFIX, isCompressible, precompress } from '../relay/precompress.mjs';
import { writeCustomElementsManifest } from './manifest.mjs';

const require = createRequire(import.meta.url);

/**
 * esbuild minifies JavaScript but not the CSS inside Lit's css`...` templates: collapse its
 * whitespace and comments, the space after a property's colon and after commas, and the zero
 * before a decimal point (0.85em). Our styles hold no strings where whitespace matters, and no
 * selector with a space after a colon.
 */
function minifyCss(source) {
  return source.replace(/css`([^`]*)`/g, (_whole, body) =>
    `css\`${body
      .replace(/\/\*[^]*?\*\//g, '')
      .replace(/\s+/g, ' ')
      .replace(/\s*([{};,])\s*/g, '$1')
      .replace(/([{;(][-\w]+):\s/g, '$1:')
      .replace(/([\s:(,])0\.(\d)/g, '$1.$2')
      .replace(/;}/g, '}')
      .trim()}\``,
  );
}

const minifyLitCss = {
  name: 'minify-lit-css',
  setup(builder) {
    builder.onLoad({ filter: /web-components[\\/].*\.ts$/ }, async (args) => ({ contents: minifyCss(await fs.promises.readFile(args.path, 'utf8')), loader: 'ts' }));
  },
};

/**
 * esbuild puts code shared by the entry and its lazy chunks into chunks keyed by which of them
 * reach it, so an initial download came as several files, each compressed on its own: the
 * components' as nine (2.5 KB gzip more than one file), the SDK's as four (0.9 KB more). Making
 * every lazy module nominally import the entry gives all the initial code the same reach: one
 * shared chunk. Costs nothing at run time (the entry has already run when a lazy chunk loads).
 */
function oneInitialChunk(entry) {
  const lazyModules = /(sov-login|sov-profile|chat-screen|i18n-ru|sdk[\\/]account|sdk[\\/]avatar|sdk[\\/]pages|sdk[\\/]transports[\\/]http)\.ts$|@noble[\\/]ed25519[\\/]index\.js$|pica[\\/]dist[\\/]pica\.mjs$/;
  return {
    name: 'one-initial-chunk',
    setup(builder) {
      builder.onLoad({ filter: lazyModules }, async (args) => {
        const source = await fs.promises.readFile(args.path, 'utf8');
        const contents = `${source}\nimport ${JSON.stringify(path.resolve(entry))};\n`;
        const typescript = args.path.endsWith('.ts');
        return { contents: typescript ? minifyCss(contents) : contents, loader: typescript ? 'ts' : 'js', resolveDir: path.dirname(args.path) };
      });
    },
  };
}

/**
 * The names of our TypeScript's `private` members, for esbuild to shorten in the browser build of
 * the components (mangleProps): spelled out (`stopListening`, `scheduleReconnect`) they cost the
 * initial <sov-chat> download 0.8 KB gzip. esbuild renames a property by its name across the
 * whole bundle, Lit included, so a name qualifies only when every place it occurs in anything
 * the bundle is made of is its own `private` declaration or a `this.name` in our code: not a public
 * member anywhere, an object key, a local name, a string (`changed.has('screen')`), a Lit property
 * binding (`.name=${...}`), a comment, nor a word in a dependency. A decorated member never
 * qualifies (Lit's @state and @query find theirs by the name as a string), nor a name that the
 * platform calls on objects by itself. Private means used within its class, so no app or other
 * bundle can reach a renamed member, and what this rule cannot prove safe keeps its name.
 */
const CALLED_BY_NAME = new Set(['constructor', 'handleEvent', 'then', 'toJSON', 'toString', 'valueOf']);

async function privateMemberNames(entry) {
  const { metafile } = await build({ ...shared, entryPoints: [entry], outdir: NEXT, write: false, metafile: true, sourcemap: false, platform: 'browser', logLevel: 'silent' });
  const declared = new Set();
  const excluded = new Set(CALLED_BY_NAME);
  for (const input of Object.keys(metafile.inputs)) {
    const ours = !input.includes('node_modules');
    const text = fs.readFileSync(input, 'utf8');
    const occurrences = /(?<=[\n(,])\s*((?:@[\w.]+(?:\([^)]*\))?\s*)*)private\s+(?:(?:readonly|async|static|get|set)\s+)*([A-Za-z_$][\w$]*)|(\bthis\.)?([A-Za-z_$][\w$]*)/g;
    for (const [, decorator, privateName, viaThis, word] of text.matchAll(occurrences)) {
      if (privateName && ours && !decorator) declared.add(privateName);
      else if (privateName) excluded.add(privateName);
      else if (!(viaThis && ours)) excluded.add(word);
    }
  }
  return [...declared].filter((name) => !excluded.has(name)).sort();
}

const shared = { bundle: true, format: 'esm', sourcemap: true, logLevel: 'warning', tsconfig: 'tsconfig.json' };

// Relay-only code (STYLE.md, convention 1): the relay, and the protocol's request schemas, which only
// the relay imports (sdk/protocol.ts, sdk/protocol/requests.ts). esbuild's metafile lists every
// module a build loaded, whether tree shaking kept any of it or not, so a stray import fails here
// even while it costs no bytes yet.
const RELAY_ONLY = /^(relay\/|sdk\/protocol\.ts$|sdk\/protocol\/requests\.ts$)/;

async function browserBuild(entryPoints, chunkFolder, plugins = [], options = {}) {
  const result = await build({
    ...shared,
    ...options,
    entryPoints,
    outdir: `${NEXT}/browser`,
    splitting: true,
    minify: true,
    platform: 'browser',
    target: 'es2022',
    chunkNames: `${chunkFolder}/[name]-[hash]`,
    // Lit's licence notices go to NAME.LEGAL.txt beside each file (served too), linked from a
    // one-line comment: inline they cost the initial <sov-chat> download 205 of its 25,599 gzip bytes.
    legalComments: 'linked',
    metafile: true,
    plugins: [...plugins, minifyLitCss],
  });
  const leaked = Object.keys(result.metafile.inputs).filter((input) => RELAY_ONLY.test(input));
  if (leaked.length) throw new Error(`relay-only modules in the browser build of ${Object.keys(entryPoints)}: ${leaked.join(', ')}`);
  return result;
}

// Built beside dist/ and swapped in at the end, so a relay starting during a rebuild (`npm start`
// in another terminal, a test) never finds dist/ half written.
const NEXT = 'dist.next';
fs.rmSync(NEXT, { recursive: true, force: true });
await Promise.all([
  build({ ...shared, entryPoints: ['relay/main.ts'], outfile: `${NEXT}/relay.js`, platform: 'node', target: 'node20', packages: 'external' }),
  build({
    ...shared,
    entryPoints: { index: 'sdk/index.ts' },
    outdir: `${NEXT}/sdk`,
    splitting: true,
    platform: 'neutral',
    target: 'es2022',
    packages: 'external',
    chunkNames: 'chunks/[name]-[hash]',
  }),
  // Two builds, not one with two entries: chunks shared between the entries would split the
  // components' initial download into more files, each compressed on its own.
  browserBuild({ 'sovereign-chat': 'sdk/index.ts' }, 'chunks', [oneInitialChunk('sdk/index.ts')]),
  browserBuild({ 'sov-chat': 'web-components/index.ts' }, 'chunks/sov-chat', [oneInitialChunk('web-components/index.ts')], {
    mangleProps: new RegExp(`^(${(await privateMemberNames('web-components/index.ts')).join('|')})$`),
  }),
]);
execFileSync(process.execPath, [path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc'), '-p', 'tsconfig.sdk-types.json', '--outDir', `${NEXT}/sdk`], { stdio: 'inherit' });
writeCustomElementsManifest();
/**
 * gzip by zopfli: the same format every browser reads, 3-4 % smaller than zlib's -9 (the initial
 * <sov-chat> chunk: 888 bytes), at up to half a second per file, once, at build. Each copy is
 * unpacked again and compared, so a compressor fault can never ship a damaged file.
 */
async function zopfliGzip(body) {
  const copy = Buffer.from(await gzipAsync(body, { numiterations: 15 }));
  if (!zlib.gunzipSync(copy).equals(body)) throw new Error('zopfli produced a gzip copy that does not unpack to its file');
  return copy;
}

// The relay sends these instead of compressing on every request (see relay/precompress.mjs).
for (const file of fs.readdirSync(`${NEXT}/browser`, { recursive: true }).map((name) => path.join(`${NEXT}/browser`, String(name)))) {
  if (!isCompressible(file)) continue;
  const body = fs.readFileSync(file);
  const copies = precompress(body);
  // Source maps only go to developer tools: zlib's copy is good enough, and zopfli would triple the build's time.
  const smaller = file.endsWith('.map') ? null : await zopfliGzip(body);
  if (copies.gzip && smaller && smaller.length < copies.gzip.length) copies.gzip = smaller;
  for (const [coding, copy] of Object.entries(copies)) fs.writeFileSync(file + CODING_SUFFIX[coding], copy);
}
fs.rmSync('dist.old', { recursive: true, force: true });
if (fs.existsSync('dist')) fs.renameSync('dist', 'dist.old');
fs.renameSync(NEXT, 'dist');
fs.rmSync('dist.old', { recursive: true, force: true });
