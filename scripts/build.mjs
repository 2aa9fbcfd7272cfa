// Builds everything `npm install` (prepare), `npm start` and `npm test` need:
//   dist/relay.js           the relay for Node (uWebSockets.js stays external: a native addon)
//   dist/sdk/index.js       the SDK as ESM for bundlers and Node, dependencies external, lazy chunks
//   dist/sdk/*.d.ts         its TypeScript declarations
//   dist/browser/           the SDK self-contained (plain ESM with lazy chunks), served by the relay
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const shared = { bundle: true, format: 'esm', sourcemap: true, logLevel: 'warning', tsconfig: 'tsconfig.json' };

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
  build({
    ...shared,
    entryPoints: { 'sovereign-chat': 'sdk/index.ts' },
    outdir: 'dist/browser',
    splitting: true,
    minify: true,
    platform: 'browser',
    target: 'es2022',
    chunkNames: 'chunks/[name]-[hash]',
  }),
]);
execFileSync(process.execPath, [path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc'), '-p', 'tsconfig.sdk-types.json'], { stdio: 'inherit' });
