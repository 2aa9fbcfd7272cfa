// Builds everything `npm install` (prepare), `npm start` and `npm test` need:
//   dist/relay.js           the relay for Node (uWebSockets.js stays external: a native addon)
//   dist/sdk/index.js       the SDK as ESM for bundlers and Node, dependencies external, lazy chunks
//   dist/sdk/*.d.ts         its TypeScript declarations
//   dist/browser/           what browsers load, self-contained ESM with shared lazy chunks, served by
//                           the relay at /: sovereign-chat.js (the SDK) and sov-chat.js (the components)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/**
 * esbuild minifies JavaScript but not the CSS inside Lit's css`...` templates: collapse its
 * whitespace and comments. Our styles hold no strings where whitespace matters.
 */
const minifyLitCss = {
  name: 'minify-lit-css',
  setup(builder) {
    builder.onLoad({ filter: /web-components[\\/].*\.ts$/ }, async (args) => {
      const source = await fs.promises.readFile(args.path, 'utf8');
      const contents = source.replace(/css`([^`]*)`/g, (_whole, body) =>
        `css\`${body
          .replace(/\/\*[^]*?\*\//g, '')
          .replace(/\s+/g, ' ')
          .replace(/\s*([{};])\s*/g, '$1')
          .replace(/;}/g, '}')
          .trim()}\``,
      );
      return { contents, loader: 'ts' };
    });
  },
};
const shared = { bundle: true, format: 'esm', sourcemap: true, logLevel: 'warning', tsconfig: 'tsconfig.json' };

function browserBuild(entryPoints, chunkFolder) {
  return build({
    ...shared,
    entryPoints,
    outdir: 'dist/browser',
    splitting: true,
    minify: true,
    platform: 'browser',
    target: 'es2022',
    chunkNames: `${chunkFolder}/[name]-[hash]`,
    plugins: [minifyLitCss],
  });
}

fs.rmSync('dist', { recursive: true, force: true });
await Promise.all([
  build({ ...shared, entryPoints: ['relay/main.ts'], outfile: 'dist/relay.js', platform: 'node', target: 'node20', packages: 'external' }),
  build({
    ...shared,
    entryPoints: { index: 'sdk/index.ts' },
    outdir: 'dist/sdk',
    splitting: true,
    platform: 'neutral',
    target: 'es2022',
    packages: 'external',
    chunkNames: 'chunks/[name]-[hash]',
  }),
  // Two builds, not one with two entries: shared chunks between the entries would split the
  // components' initial download into more files, each compressed on its own.
  browserBuild({ 'sovereign-chat': 'sdk/index.ts' }, 'chunks'),
  browserBuild({ 'sov-chat': 'web-components/index.ts' }, 'chunks/sov-chat'),
]);
execFileSync(process.execPath, [path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc'), '-p', 'tsconfig.sdk-types.json'], { stdio: 'inherit' });
