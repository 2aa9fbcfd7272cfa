// A web-test-runner plugin for the suite on hostile networks (hostile-networks.browser.test.ts).
// It gives the test page three server commands (executeServerCommand from @web/test-runner-commands).
// Each answers { result } or { error }, or { pending: job } for work still running after 5 s, whose
// answer 'hostile-wait' { job } collects.
//
//   'hostile'      relays, hostile proxies and Node bots, run by hostile-harness.ts in a process of
//                  its own (forked on first use); the payload is a HarnessRequest, the answer its result.
//   'hostile-page' a Chromium page of its own in the test page's browser, in a browser context of its
//                  own (another person's browser: its own storage and connection pool; and a window of
//                  its own, so that no page is a hidden tab whose timers Chromium throttles):
//                  { op: 'open' } gives its id; { op: 'call', page, call } runs a call on the
//                  participant there (hostile-peer.ts); { op: 'close', page }.
//   'hostile-config' { strict, only }: SOV_HOSTILE_STRICT=1 (npm run test:hostile) makes the tests
//                  marked todo fail for real, otherwise a todo test that fails is reported as skipped;
//                  SOV_HOSTILE_ONLY=text runs only the groups whose title contains the text.
import { fork } from 'node:child_process';
import path from 'node:path';

const HARNESS = path.resolve('test/browser/hostile-harness.ts');
const PEER_PAGE = '/test/browser/hostile-peer.html';
/** Well under the 20 s after which the page stops waiting for a command's answer. */
const ANSWER_WITHIN_MS = 5000;

export function hostileHarnessPlugin() {
  let harness = null;
  let nextId = 1;
  const waiting = new Map();
  const pages = new Map();
  /** Answers of commands that took longer than ANSWER_WITHIN_MS, by job id, until the page collects them. */
  const jobs = new Map();

  async function answerWithin(job) {
    const answer = jobs.get(job);
    if (!answer) return { error: `no job ${job}` };
    let timer;
    const pending = new Promise((resolve) => (timer = setTimeout(() => resolve({ pending: job }), ANSWER_WITHIN_MS)));
    const first = await Promise.race([answer, pending]);
    clearTimeout(timer);
    if (!first.pending) jobs.delete(job);
    return first;
  }

  function theHarness() {
    harness ??= new Promise((resolve, reject) => {
      const child = fork(HARNESS, [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
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
      // No kill on exit: the harness sees its channel close and takes its relays with it (a SIGKILL
      // would leave them running).
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
    // The page gives up on a command after 20 s (web-test-runner's own limit), and starting a relay
    // with its history or registering on a hostile network can take longer: work still running after
    // ANSWER_WITHIN_MS is answered { pending: job }, and 'hostile-wait' { job } waits for it again.
    async executeCommand({ command, payload, session }) {
      const run = {
        hostile: () => ask(payload),
        'hostile-page': () => page(payload, session),
        'hostile-config': async () => ({
          strict: process.env.SOV_HOSTILE_STRICT === '1',
          only: process.env.SOV_HOSTILE_ONLY || null,
        }),
      }[command];
      if (command === 'hostile-wait') return answerWithin(payload.job);
      if (!run) return undefined;
      const job = nextId++;
      jobs.set(
        job,
        run().then(
          (result) => ({ result: result ?? null }),
          (error) => ({
            error: error instanceof Error ? error.message : String(error),
          }),
        ),
      );
      return answerWithin(job);
    },
  };
}
