// The initial download of <sov-chat> has a budget, checked on every npm test rather than only when
// someone runs the benchmark: a size is exact, so this cannot flake, and a change that crosses the
// line fails where it is made. Measured on the built relay/dist/browser as the relay answers a browser.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { SOV_CHAT_INITIAL_GZIP_BUDGET, bundleSize } from '../../bench/lib/bundle-size.ts';
import { PACKAGE_ROOT } from '../helpers/relay-process.ts';

test('the initial download of <sov-chat>, as the relay sends it to a browser, stays within its 24 KB gzip budget (SOV_CHAT_INITIAL_GZIP_BUDGET)', () => {
  const size = bundleSize(path.join(PACKAGE_ROOT, 'relay/dist/browser'), 'sov-chat.js');
  const files = size.initial
    .map((item) => `${item.file}: ${item.bytes} B, gzip ${item.gzip} B, br ${item.br} B`)
    .join('\n');
  assert.ok(size.initial.length >= 2, `the entry and the chunk it imports:\n${files}`);
  assert.ok(
    size.initialGzip <= SOV_CHAT_INITIAL_GZIP_BUDGET,
    `${size.initialGzip} B gzip, over the ${SOV_CHAT_INITIAL_GZIP_BUDGET} B budget by ${size.initialGzip - SOV_CHAT_INITIAL_GZIP_BUDGET} B:\n${files}`,
  );
  // Over HTTPS browsers offer brotli, and the relay sends it: the build's .br copies are there.
  assert.ok(
    size.initialBr < size.initialGzip,
    `brotli ${size.initialBr} B is not below gzip ${size.initialGzip} B:\n${files}`,
  );
});
