// A web-test-runner plugin for the suite on hostile networks (hostile-networks.browser.test.ts).
// It gives the test page three server commands (executeServerCommand from @web/test-runner-commands):
//
// Each answers { result } or { error }.
//   'hostile'      relays, hostile proxies and Node bots, run by hostile-harness.ts in a process of
//                  its own (forked on first use); the payload is a HarnessRequest, the answer its result.
//   'hostile-page' a second Chromium page in the test page's browser (a tab of the same profile, as a
//                  user's second tab would be): { op: 'open' } gives its id; { op: 'call', page, call }
//                  runs a RemoteCall on the participant there (hostile-peer.ts); { op: 'close', page }.
//   'hostile-config' { strict }: SOV_HOSTILE_STRICT=1 (npm run test:hostile) makes the tests marked
//                  todo fail for real; otherwise a todo test that fails is reported as skipped.
import { fork } from 'node:child_process';
import path from 'node:path';

const HARNESS = path.resolve('test/browser/hostile-harness.ts');
const PEER_PAGE = '/test/browser/hostile-peer.html';

export function hostileHarnessPlugin() {
  let harness = null;
  let nextId = 1;
  const waiting = new Map();
  const pages = new Map();

  function theHarness() {
    harness ??= new Promise((resolve, reject) => {
      const child = fork(HARNESS, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        harness = null;
        reject(new Error(`the hostile harness exited (${code ?? signal})`));
        for (const settle of waiting.values()) settle({ error: `the hostile harness exited (${code ?? signal})` });
        waiting.clear();
      });
      child.on('message', (message) => {
        if (message.ready) return resolve(child);
        waiting.get(message.id)?.(message);
        waiting.delete(message.id);
      });
      process.once('exit', () => child.kill('SIGKILL'));
    });
    return harness;
  }

  async function ask(request) {
    const child = await theHarness();
    const id = nextId++;
    const reply = await new Promise((settle) => {
      waiting.set(id, settle);
      child.send({ id, request });
    });
    if (reply.error) throw new Error(reply.error);
    return reply.result;
  }

  async function page(payload, session) {
    if (payload.op === 'open') {
      const opener = session.browser.getPage(session.id);
      const context = await opener.browser().createBrowserContext();
      const peer = await context.newPage();
      await peer.goto(new URL(PEER_PAGE, opener.url()).href);
      await peer.waitForFunction('window.hostilePeer !== undefined');
      const id = nextId++;
      pages.set(id, peer);
      return id;
    }
    const peer = pages.get(payload.page);
    if (!peer) throw new Error(`no page ${payload.page}`);
    if (payload.op === 'close') {
      pages.delete(payload.page);
      await peer.browserContext().close();
      return null;
    }
    return peer.evaluate((call) => window.hostilePeer(call), payload.call);
  }

  return {
    name: 'sov-hostile-harness',
    // Answers { result } or { error }: a failure here is often the expected outcome of a test (a
    // registration refused on a hostile network), for the page to report, not for the runner's log.
    async executeCommand({ command, payload, session }) {
      const run = { hostile: () => ask(payload), 'hostile-page': () => page(payload, session), 'hostile-config': async () => ({ strict: process.env.SOV_HOSTILE_STRICT === '1' }) }[command];
      if (!run) return undefined;
      return run().then(
        (result) => ({ result: result ?? null }),
        (error) => ({ error: error instanceof Error ? error.message : String(error) }),
      );
    },
  };
}
