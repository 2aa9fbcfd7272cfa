// The relay serves the demo pages and the browser bundles: cacheable on slow links, loadable as
// modules from pages on other origins, and nothing outside those folders.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

describe('static files', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('the demo page and the SDK demo are at / and /sdk.html', async () => {
    for (const [path, marker] of [['/', '<sov-chat'], ['/sdk.html', 'sdk-demo.js']] as const) {
      const response = await fetch(`${relay.url}${path}`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type')!, /^text\/html/);
      assert.ok((await response.text()).includes(marker));
    }
  });

  test('/sov-chat.js loads cross-origin, revalidates with an ETag, and its hashed chunks cache for good', async () => {
    const response = await fetch(`${relay.url}/sov-chat.js`, { headers: { origin: 'https://some-blog.example' } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/javascript/);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    assert.equal(response.headers.get('cache-control'), 'no-cache');
    const etag = response.headers.get('etag')!;
    const body = await response.text();
    const again = await fetch(`${relay.url}/sov-chat.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), '');
    const chunk = /from"\.\/(chunks\/[^"]+\.js)"/.exec(body)?.[1];
    assert.ok(chunk, 'the entry imports a chunk');
    const chunkResponse = await fetch(`${relay.url}/${chunk}`);
    assert.equal(chunkResponse.status, 200);
    assert.equal(chunkResponse.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(chunkResponse.headers.get('access-control-allow-origin'), '*');
  });

  test('nothing outside the served folders, whatever the path says', async () => {
    for (const path of ['/package.json', '/../package.json', '/%2e%2e/package.json', '/relay.js', '/nope.js']) {
      const response = await fetch(`${relay.url}${path}`);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
  });
});
