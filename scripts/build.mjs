// Builds everything `npm install` (prepare), `npm start` and `npm test` need, for the two packages
// of this repository (README, "Packages"):
// sovereign-chat, the root package, for apps and their bundlers:
//   dist/sdk/index.js       the SDK as ESM for bundlers and Node
//   dist/components/*.js    the components: index.js registers <sov-chat> (which loads the rest as it
//                           shows them), NAME.js one element and what it needs; one build with the SDK, so both share its chunks
//   dist/chunks/            code shared by those entries, and lazy chunks (pica, the login form...)
//   dist/{sdk,web-components}/**/*.d.ts, dist/components/*.d.ts   TypeScript declarations
// sov-relay, in relay/, for operators:
//   relay/dist/relay.js     the relay for Node (its packages stay imports: uWebSockets.js is a native addon)
//   relay/dist/browser/     what browsers load, self-contained ESM with shared lazy chunks, served by
//                           the relay at /: sovereign-chat.js (the SDK) and sov-chat.js (the components),
//                           each text file with its brotli and gzip copies beside it (NAME.br, NAME.gz)
//   relay/dist/demo/        the demo pages, served at / too
// and custom-elements.json, the components' manifest for editors and frameworks (scripts/manifest.mjs)
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
  return source.replace(
    /css`([^`]*)`/g,
    (_whole, body) =>
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
    builder.onLoad({ filter: /web-components[\\/].*\.ts$/ }, async (args) => ({
      contents: minifyCss(await fs.promises.readFile(args.path, 'utf8')),
      loader: 'ts',
    }));
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
  const lazyModules =
    /(sov-login|sov-profile|chat-screen|i18n-ru|sdk[\\/]account|sdk[\\/]avatar|sdk[\\/]pages|sdk[\\/]transports[\\/]http)\.ts$|@noble[\\/]ed25519[\\/]index\.js$|pica[\\/]dist[\\/]pica\.mjs$/;
  return {
    name: 'one-initial-chunk',
    setup(builder) {
      builder.onLoad({ filter: lazyModules }, async (args) => {
        const source = await fs.promises.readFile(args.path, 'utf8');
        const contents = `${source}\nimport ${JSON.stringify(path.resolve(entry))};\n`;
        const typescript = args.path.endsWith('.ts');
        return {
          contents: typescript ? minifyCss(contents) : contents,
          loader: typescript ? 'ts' : 'js',
          resolveDir: path.dirname(args.path),
        };
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
  const { metafile } = await build({
    ...shared,
    entryPoints: [entry],
    outdir: NEXT,
    write: false,
    metafile: true,
    sourcemap: false,
    platform: 'browser',
    logLevel: 'silent',
  });
  const declared = new Set();
  const excluded = new Set(CALLED_BY_NAME);
  for (const input of Object.keys(metafile.inputs)) {
    const ours = !input.includes('node_modules');
    const text = fs.readFileSync(input, 'utf8');
    const occurrences =
      /(?<=[\n(,])\s*((?:@[\w.]+(?:\([^)]*\))?\s*)*)private\s+(?:(?:readonly|async|static|get|set)\s+)*([A-Za-z_$][\w$]*)|(\bthis\.)?([A-Za-z_$][\w$]*)/g;
    for (const [, decorator, privateName, viaThis, word] of text.matchAll(occurrences)) {
      if (privateName && ours && !decorator) declared.add(privateName);
      else if (privateName) excluded.add(privateName);
      else if (!(viaThis && ours)) excluded.add(word);
    }
  }
  return [...declared].filter((name) => !excluded.has(name)).sort();
}

const shared = {
  bundle: true,
  format: 'esm',
  sourcemap: true,
  logLevel: 'warning',
  tsconfig: 'tsconfig.json',
};

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
    outdir: `${RELAY_NEXT}/browser`,
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
  if (leaked.length)
    throw new Error(`relay-only modules in the browser build of ${Object.keys(entryPoints)}: ${leaked.join(', ')}`);
  return result;
}

// The component entries of sovereign-chat, `sovereign-chat/components/NAME.js`: importing one
// registers that element and the elements it renders, nothing else.
const ELEMENTS = {
  'sov-chat': 'web-components/sov-chat/sov-chat.ts',
  'sov-chat-room': 'web-components/sov-chat-room/sov-chat-room.ts',
  'sov-roster': 'web-components/sov-roster/sov-roster.ts',
  'sov-login': 'web-components/sov-login/sov-login.ts',
  'sov-profile': 'web-components/sov-profile/sov-profile.ts',
  'sov-avatar': 'web-components/shared/sov-avatar.ts',
};
// Only the package's runtime dependencies stay imports for the app's bundler to resolve (small,
// audited, and a security fix reaches apps without our release). Lit and pica are bundled in: as
// dependencies they would put 5.8 MB of Lit's development builds and maps into every app's
// node_modules; pica stays a lazy chunk, loaded when an avatar is first processed.
const RUNTIME_DEPENDENCIES = Object.keys(JSON.parse(fs.readFileSync('package.json', 'utf8')).dependencies);

// Built beside dist/ and relay/dist/ and swapped in at the end, so a relay starting during a rebuild
// (`npm start` in another terminal, a test) never finds its dist/ half written.
const NEXT = 'dist.next';
const RELAY_NEXT = 'relay/dist.next';
for (const folder of [NEXT, RELAY_NEXT]) fs.rmSync(folder, { recursive: true, force: true });
await Promise.all([
  build({
    ...shared,
    entryPoints: ['relay/main.ts'],
    outfile: `${RELAY_NEXT}/relay.js`,
    platform: 'node',
    target: 'node20',
    packages: 'external',
  }),
  // One build for the SDK and the components, so an app importing both gets one copy of the SDK:
  // what several entries share goes into chunks they all import.
  build({
    ...shared,
    entryPoints: {
      'sdk/index': 'sdk/index.ts',
      'components/index': 'web-components/index.ts',
      ...Object.fromEntries(Object.entries(ELEMENTS).map(([name, source]) => [`components/${name}`, source])),
    },
    outdir: NEXT,
    splitting: true,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2022',
    external: RUNTIME_DEPENDENCIES,
    chunkNames: 'chunks/[name]-[hash]',
    plugins: [minifyLitCss],
  }),
  // Two builds, not one with two entries: chunks shared between the entries would split the
  // components' initial download into more files, each compressed on its own.
  browserBuild({ 'sovereign-chat': 'sdk/index.ts' }, 'chunks', [oneInitialChunk('sdk/index.ts')]),
  browserBuild(
    { 'sov-chat': 'web-components/index.ts' },
    'chunks/sov-chat',
    [oneInitialChunk('web-components/index.ts')],
    {
      mangleProps: new RegExp(`^(${(await privateMemberNames('web-components/index.ts')).join('|')})$`),
    },
  ),
]);
execFileSync(
  process.execPath,
  [
    path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc'),
    '-p',
    'tsconfig.package-types.json',
    '--outDir',
    NEXT,
  ],
  { stdio: 'inherit' },
);
// The declarations of each component entry, beside its JavaScript, for the exports' `types`.
fs.writeFileSync(`${NEXT}/components/index.d.ts`, "export * from '../web-components/index.js';\n");
for (const [name, source] of Object.entries(ELEMENTS))
  fs.writeFileSync(`${NEXT}/components/${name}.d.ts`, `export * from '../${source.replace(/\.ts$/, '.js')}';\n`);
fs.cpSync('demo', `${RELAY_NEXT}/demo`, { recursive: true });
writeCustomElementsManifest(
  Object.fromEntries(Object.entries(ELEMENTS).map(([name, source]) => [source, `dist/components/${name}.js`])),
);
/**
 * gzip by zopfli: the same format every browser reads, 3-4 % smaller than zlib's -9 (the initial
 * <sov-chat> chunk: 888 bytes), at up to half a second per file, once, at build. Each copy is
 * unpacked again and compared, so a compressor fault can never ship a damaged file.
 */
async function zopfliGzip(body) {
  // Imported here, once everything else is built: its WebAssembly runtime rethrows any uncaught
  // error with its own one-line source attached, which would bury a type error of ours under 20 KB.
  const { gzipAsync } = await import('@gfx/zopfli');
  const copy = Buffer.from(await gzipAsync(body, { numiterations: 15 }));
  if (!zlib.gunzipSync(copy).equals(body))
    throw new Error('zopfli produced a gzip copy that does not unpack to its file');
  return copy;
}

// The relay sends these instead of compressing on every request (see relay/precompress.mjs).
for (const file of fs
  .readdirSync(`${RELAY_NEXT}/browser`, { recursive: true })
  .map((name) => path.join(`${RELAY_NEXT}/browser`, String(name)))) {
  if (!isCompressible(file)) continue;
  const body = fs.readFileSync(file);
  const copies = precompress(body);
  // Source maps only go to developer tools: zlib's copy is good enough, and zopfli would triple the build's time.
  const smaller = file.endsWith('.map') ? null : await zopfliGzip(body);
  if (copies.gzip && smaller && smaller.length < copies.gzip.length) copies.gzip = smaller;
  for (const [coding, copy] of Object.entries(copies)) fs.writeFileSync(file + CODING_SUFFIX[coding], copy);
}
for (const [next, final] of [
  [NEXT, 'dist'],
  [RELAY_NEXT, 'relay/dist'],
]) {
  fs.rmSync(`${final}.old`, { recursive: true, force: true });
  if (fs.existsSync(final)) fs.renameSync(final, `${final}.old`);
  fs.renameSync(next, final);
  fs.rmSync(`${final}.old`, { recursive: true, force: true });
}
