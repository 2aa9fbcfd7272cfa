// Browser tests in real Chromium (the system's, see README), against a real relay process.
import { esbuildPlugin } from '@web/dev-server-esbuild';
import { chromeLauncher } from '@web/test-runner-chrome';
import { CHROMIUM_ARGS, chromiumPath } from './scripts/chromium.mjs';
import { failingModules } from './test/browser/failing-modules.mjs';
import { hostileHarnessPlugin } from './test/browser/hostile-harness-plugin.mjs';
import { reactPlugin } from './test/browser/react-plugin.mjs';
import { RelayForTests } from './test/browser/relay-for-tests.mjs';

const relay = new RelayForTests();
await relay.start();
process.on('exit', () => relay.dispose());
// test/browser/sov-chat-lazy-parts.browser.test.ts and signature-code-lazy.browser.test.ts refuse
// them to see <sov-chat> and the SDK recover.
const refused = failingModules(['/web-components/sov-chat/chat-screen.ts', '/sdk/crypto/ed25519-rules.ts']);

export default {
  files: ['test/browser/**/*.test.ts', 'test/browser/**/*.test.tsx'],
  nodeResolve: true,
  concurrency: 1,
  testFramework: { config: { timeout: 30000 } },
  // The hostile-network suite's deadlines fit inside this (test/browser/hostile-networks.browser.test.ts, SUITE_MS).
  testsFinishTimeout: 7 * 60 * 1000,
  browsers: [
    chromeLauncher({
      launchOptions: {
        executablePath: chromiumPath(),
        headless: true,
        args: CHROMIUM_ARGS,
      },
    }),
  ],
  middleware: [refused.middleware],
  plugins: [
    relay.plugin(),
    hostileHarnessPlugin(),
    refused.plugin,
    reactPlugin(),
    esbuildPlugin({
      ts: true,
      tsx: true,
      target: 'es2022',
      tsconfig: './tsconfig.json',
    }),
  ],
};
