/**
 * --origins on the real relay's HTTP routes: a refused origin gets 403 and is never named in
 * Access-Control-Allow-Origin. Echoing it there would let the refused page read the refusal (and
 * anything else that reply carried); an earlier version did exactly that on the 403.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loggedIn, openWebSocket } from '../helpers/client.ts';
import { fixture } from '../helpers/images.ts';
import { startRelay } from '../helpers/relay-process.ts';

const GOOD = 'https://good.example';
const EVIL = 'https://evil.example';

describe('a refused origin', () => {
  test('gets 403 on POST and OPTIONS /v1/avatar and at the WebSocket upgrade, never echoed in Access-Control-Allow-Origin; the allowed origin is', async () => {
    const relay = await startRelay({ args: ['--origins', GOOD] });
    try {
      const me = await loggedIn(relay, undefined, { origin: GOOD });
      const image = new Uint8Array(fixture('chromium-300x200.png'));
      const post = (origin: string, authorized: boolean) =>
        fetch(`${relay.url}/v1/avatar`, {
          method: 'POST',
          headers: {
            origin,
            'content-type': 'image/png',
            ...(authorized ? { authorization: `Bearer ${me.user.session.token}` } : {}),
          },
          body: image,
        });
      const preflight = (origin: string) =>
        fetch(`${relay.url}/v1/avatar`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization',
          },
        });

      for (const [what, response] of [
        ['an upload with a session', await post(EVIL, true)],
        ['an upload without one', await post(EVIL, false)],
        ['a preflight', await preflight(EVIL)],
      ] as const) {
        assert.equal(response.status, 403, what);
        assert.equal(
          response.headers.get('access-control-allow-origin'),
          null,
          `${what}: the refused origin is not echoed`,
        );
        const body = await response.text();
        if (body !== '') assert.equal(JSON.parse(body).error.code, 'FORBIDDEN_ORIGIN', what);
      }
      const upgrade = await openWebSocket(relay.wsUrl, { origin: EVIL });
      assert.ok('status' in upgrade && upgrade.status === 403, JSON.stringify(upgrade));

      const allowedPreflight = await preflight(GOOD);
      assert.equal(allowedPreflight.status, 204);
      assert.equal(allowedPreflight.headers.get('access-control-allow-origin'), GOOD);
      const allowed = await post(GOOD, true);
      assert.equal(allowed.status, 200, await allowed.clone().text());
      assert.equal(allowed.headers.get('access-control-allow-origin'), GOOD);
      me.client.close();
    } finally {
      await relay.stop();
    }
  });
});
