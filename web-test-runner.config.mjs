// Browser tests in real Chromium (the system's, see README), against a real relay process.
import { esbuildPlugin } from '@web/dev-server-esbuild';
import { chromeLauncher } from '@web/test-runner-chrome';
import fs from 'node:fs';
import { RelayForTests } from './test/browser/relay-for-tests.mjs';

function chromePath() {
  const candidates = [process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  const found = candidates.find((file) => file && fs.existsSync(file));
  if (!found) throw new Error('Browser tests need Chrome or Chromium: install it (apt-get install chromium) or set CHROME_PATH.');
  return found;
}

const relay = new RelayForTests();
await relay.start();
process.on('exit', () => relay.dispose());

export default {
  files: ['test/browser/**/*.test.ts'],
  nodeResolve: true,
  concurrency: 1,
  testFramework: { config: { timeout: 30000 } },
  testsFinishTimeout: 5 * 60 * 1000,
  browsers: [
    chromeLauncher({
      launchOptions: {
        executablePath: chromePath(),
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      },
    }),
  ],
  plugins: [relay.plugin(), esbuildPlugin({ ts: true, target: 'es2022', tsconfig: './tsconfig.json' })],
};
