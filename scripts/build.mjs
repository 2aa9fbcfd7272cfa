// Bundles the relay for Node (uWebSockets.js stays external: it is a native addon).
import { build } from 'esbuild';

await build({
  entryPoints: ['relay/main.ts'],
  outfile: 'dist/relay.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
