/**
 * Property-based fuzzing of the real relay process with fast-check: at least 10,000 hostile frames
 * per run over six connections (three anonymous, three logged in), while two other users keep
 * chatting in their room. The generators, the oracle (what PROTOCOL.md promises for each frame)
 * and the invariant checks live in test/helpers/fuzz/ (harness.ts and its modules), shared with scripts/fuzz-long.ts,
 * which runs the same thing with a million frames.
 *
 * Invariants: (a) the relay process never dies and still answers; (b) every frame gets exactly one
 * well-formed reply with a documented error code (or ok), or the documented close (1003 binary,
 * 1006 over 64 KB or not UTF-8, 1008 flooding); frames without a usable id get `re: null` with
 * BAD_JSON or BAD_FRAME; (c) every message the two bystanders send reaches both, unchanged;
 * (d) the relay's RSS grows by less than RSS_BOUND_MB (see there for why that bound).
 *
 * The seed is fixed (FUZZ_SEED overrides it, FUZZ_FRAMES the frame count); on a failure fast-check
 * prints the seed and the smallest failing round it found.
 *
 * The second describe block holds minimal reproductions of what the fuzzing found (a crash and
 * dropped replies), as regression tests of their fixes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestClient, registerUser, signMessage, withTimeout } from '../helpers/client.ts';
import { FuzzHarness } from '../helpers/fuzz/harness.ts';
import { RSS_BOUND_MB } from '../helpers/fuzz/relay-memory.ts';
import { formatSummary, formatViolations } from '../helpers/fuzz/report.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_126);
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 10_000);

describe('fuzzing the relay with fast-check', () => {
  test(`${FRAMES.toLocaleString('en')}+ hostile frames on six connections: no crash, one documented reply or close per frame, chat goes on, memory bounded`, {
    timeout: 15 * 60_000,
  }, async (t) => {
    const harness = await FuzzHarness.start({
      anonymousLanes: 3,
      memberLanes: 3,
    });
    try {
      let failure: unknown = null;
      try {
        await harness.assertRounds({
          frames: FRAMES,
          seed: SEED,
          minFrames: 0,
          maxFrames: 40,
          shrinkBudgetMs: 45_000,
        });
      } catch (error) {
        failure = error;
      }
      const summary = await harness.finish();
      t.diagnostic(`seed ${SEED}\n${formatSummary(summary)}`);
      if (failure) throw failure;
      assert.ok(harness.fuzzFrames >= FRAMES, `${harness.fuzzFrames} fuzz frames sent`);
      assert.equal(summary.relays.length, 1, 'one relay process served the whole run');
      assert.ok(summary.bystanders.confirmed > 10, 'the bystanders kept chatting');
      assert.equal(
        summary.bystanders.delivered,
        summary.bystanders.confirmed,
        'every bystander message was delivered to both',
      );
      const relay = summary.relays[0]!;
      assert.ok(
        relay.endRss - relay.startRss < RSS_BOUND_MB,
        `relay RSS ${relay.startRss.toFixed(1)} -> ${relay.endRss.toFixed(1)} MB`,
      );
      assert.equal(summary.violations.length, 0, `invariant violations:\n${formatViolations(summary.violations, 3)}`);
    } finally {
      await harness.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('what the fuzzer found', () => {
  /** Sends one frame on a fresh connection and returns the reply, or why there was none. */
  async function answerTo(relay: RelayProcess, frame: string): Promise<unknown> {
    const client = await TestClient.connect(relay.wsUrl);
    client.socket.on('error', () => {});
    client.socket.send(frame);
    const outcome = await withTimeout(
      Promise.race([
        client.waitFor(() => client.replies[0], 'a reply', 30_000),
        client.closed.then((close) => ({ closed: close.code })),
      ]),
      'a reply or a close',
      30_000,
    );
    client.socket.terminate();
    return outcome;
  }

  test('a request whose "type" cannot be turned into a string gets UNKNOWN_TYPE (it used to kill the relay)', async () => {
    // Found by the fuzzer: parseRequest quoted String(fields.type) back, and String() throws for an
    // object whose "toString" is not a function, or arrays nested thousands deep; the exception
    // escaped the uWS message handler and ended the process. One anonymous frame was enough.
    const frames = [
      '{"id":1,"type":{"toString":1}}',
      '{"id":1,"type":[{"valueOf":{},"toString":null}]}',
      `{"id":1,"type":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
    ];
    for (const frame of frames) {
      const relay = await startRelay();
      try {
        const reply = (await answerTo(relay, frame)) as {
          re?: unknown;
          ok?: boolean;
          error?: { code?: string };
        };
        assert.deepEqual(
          { re: reply.re, ok: reply.ok, code: reply.error?.code },
          { re: 1, ok: false, code: 'UNKNOWN_TYPE' },
          `the reply to ${frame.slice(0, 60)}`,
        );
        assert.equal(relay.child.exitCode, null, 'the relay is still running');
      } finally {
        await relay.stop();
      }
    }
  });

  test('a room with a huge history answers join with its newest 768 KB, and the requests behind it still get their replies', {
    timeout: 120_000,
  }, async () => {
    // Found by the fuzzer: 1000 messages of 4000 "€" (~12 MB of JSON) made `join` answer with one
    // frame bigger than the 1 MB send buffer; uWS then dropped the replies right behind it (pings
    // got no answer, and no close either). Now a join reply carries at most 768 KB of history and
    // a reply that finds the buffer full waits in the connection's own queue.
    const relay = await startRelay();
    try {
      const author = await TestClient.connect(relay.wsUrl);
      const user = await registerUser(author);
      await author.call('join', { room: 'big' });
      for (let batch = 0; batch < 20; batch++) {
        await Promise.all(
          Array.from({ length: 50 }, () => author.call('send', signMessage(user, 'big', '€'.repeat(4000)))),
        );
      }
      const reader = await TestClient.connect(relay.wsUrl);
      await registerUser(reader);
      reader.socket.send(JSON.stringify({ id: 'join', type: 'join', room: 'big' }));
      for (let i = 0; i < 5; i++) reader.socket.send(JSON.stringify({ id: `ping${i}`, type: 'ping' }));
      const joined = await reader.waitFor(() => reader.replies.find((r) => r.re === 'join'), 'the join reply', 60_000);
      assert.equal(joined.ok, true);
      const sent = JSON.stringify(joined.result.messages);
      assert.ok(Buffer.byteLength(sent) <= 768 * 1024 + 1000, `join reply history is ${Buffer.byteLength(sent)} bytes`);
      assert.ok(joined.result.messages.length > 0 && joined.result.messages.length < 1000);
      assert.equal(joined.result.messages.at(-1).seq, 1000, 'the newest messages');
      // Pings are answered in the event-loop turn that reads them, so once a later ping is answered
      // the earlier ones must have been (no timing involved).
      const later = await reader.request('ping');
      assert.equal(later.ok, true);
      const answered = reader.replies
        .filter((r) => typeof r.re === 'string' && r.re.startsWith('ping'))
        .map((r) => r.re);
      assert.deepEqual(answered, ['ping0', 'ping1', 'ping2', 'ping3', 'ping4'], 'each ping got its reply');
      assert.equal(reader.socket.readyState, reader.socket.OPEN);
    } finally {
      await relay.stop();
    }
  });
});
