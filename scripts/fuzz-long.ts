/**
 * The relay fuzz of test/relay/fuzz.test.ts at scale: the same generators, oracle and invariants
 * (test/helpers/fuzz/harness.ts) against one real relay process (built dist/, as `npm start` runs
 * it), a million frames by default, then a summary: frames sent, replies by code, closes by code,
 * relay RSS start/peak/end, duration and every invariant violation.
 *
 *   node --import tsx scripts/fuzz-long.ts [--frames N] [--seed S] [--rss-bound MB]
 *
 * Unlike the test it does not stop at the first violation: it records it, restarts the relay if
 * the violation killed it, and goes on. Exit status 1 if any invariant was violated.
 */
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { roundArbitrary } from '../test/helpers/fuzz/arbitraries.ts';
import { FuzzHarness } from '../test/helpers/fuzz/harness.ts';
import { RSS_BOUND_MB } from '../test/helpers/fuzz/relay-memory.ts';
import { formatSummary } from '../test/helpers/fuzz/report.ts';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '20261126' },
    'rss-bound': { type: 'string', default: String(RSS_BOUND_MB) },
  },
});
const frames = Number(values.frames);
const seed = Number(values.seed);
const rssBound = Number(values['rss-bound']);
if (!Number.isSafeInteger(frames) || frames < 1 || !Number.isSafeInteger(seed) || !(rssBound > 0)) {
  console.error('usage: node --import tsx scripts/fuzz-long.ts [--frames N] [--seed S] [--rss-bound MB]');
  process.exit(2);
}

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
};

const harness = await FuzzHarness.start({
  anonymousLanes: 3,
  memberLanes: 3,
  log,
});
const arbitrary = roundArbitrary(harness.lanes.length, 0, 40);
log(`fuzzing ${frames.toLocaleString('en')} frames, seed ${seed}`);

let round = 0;
let lastReport = Date.now();
try {
  // Rounds come from fast-check in chunks of 50 (chunk n uses seed + n), so a run is reproducible
  // from its seed up to the relay's own timing.
  for (let chunk = 0; harness.fuzzFrames < frames; chunk++) {
    for (const spec of fc.sample(arbitrary, {
      seed: seed + chunk,
      numRuns: 50,
    })) {
      await harness.runRound(spec);
      round++;
      if (harness.fuzzFrames >= frames) break;
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        log(
          `${harness.fuzzFrames.toLocaleString('en')} frames, ${round} rounds, relay RSS ${harness.rssNow()?.toFixed(1)} MB, ${harness.violations.length} violations`,
        );
      }
    }
  }
  const summary = await harness.finish(rssBound);
  console.log(`Sovereign Chat relay fuzz: ${frames.toLocaleString('en')} frames requested, seed ${seed}`);
  console.log(formatSummary(summary, rssBound));
  process.exitCode = summary.violations.length === 0 ? 0 : 1;
} finally {
  await harness.stop();
}
