// Runs every test/**/*.test.ts with node's test runner. Node 20 neither expands globs in --test
// nor picks up .ts files by itself, so the list is made here.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const files = fs
  .readdirSync('test', { recursive: true })
  .map((file) => path.join('test', String(file)))
  // test/browser runs in Chromium under web-test-runner, not here.
  .filter((file) => file.endsWith('.test.ts') && !file.startsWith(path.join('test', 'browser')))
  .sort();
const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...process.argv.slice(2), ...files], {
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
