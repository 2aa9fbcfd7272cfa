/**
 * `npm run soak`: 1,000 people chatting for 30 minutes (not part of CI). Checks that the relay's
 * memory and latency stay flat over time: a leak or a slowly growing queue shows as a trend.
 *
 *   npm run soak -- [--people 1000] [--rooms 10] [--interval-s 10] [--minutes 30] [--sample-s 30]
 *
 * The relay and two load processes run on this machine, like the benchmark. Every `--sample-s`
 * it prints relay RSS and CPU and the send-to-own-copy latency of that interval; at the end it
 * compares the first and last fifth of the run and writes .bench/soak.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PACKAGE_ROOT, WorkerHandle, registerTempFolder, startRelay, stopAll } from './lib/children.ts';
import { cpuDelta, readCpu, readRss } from './lib/proc.ts';

const { values } = parseArgs({
  options: {
    people: { type: 'string', default: '1000' },
    rooms: { type: 'string', default: '10' },
    'interval-s': { type: 'string', default: '10' },
    minutes: { type: 'string', default: '30' },
    'sample-s': { type: 'string', default: '30' },
  },
});
const PEOPLE = Number(values.people);
const ROOMS = Number(values.rooms);
const INTERVAL_MS = Number(values['interval-s']) * 1000;
const DURATION_MS = Number(values.minutes) * 60_000;
const SAMPLE_MS = Number(values['sample-s']) * 1000;
const PROCESSES = 2;

interface Sample {
  minute: number;
  rssMiB: number;
  cpuPercent: number;
  sent: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
  closed: number;
  errors: Record<string, number>;
}

const fixed = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : '-');
const mean = (list: number[]): number => list.reduce((sum, value) => sum + value, 0) / (list.length || 1);

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sov-soak-'));
  registerTempFolder(dataDir);
  const relay = await startRelay(dataDir, [
    '--rate',
    '1000',
    '--registrations-per-hour',
    '1000000',
    '--max-connections-per-address',
    '1000000',
  ]);
  const workers = await Promise.all(
    Array.from({ length: PROCESSES }, (_, i) => WorkerHandle.start(`soak-${i}`, 'load-worker.ts')),
  );
  console.log(
    `soak: ${PEOPLE} people in ${ROOMS} rooms, a message each every ${INTERVAL_MS / 1000} s (${fixed((PEOPLE * 1000) / INTERVAL_MS, 0)} messages/s, ${fixed(((PEOPLE * 1000) / INTERVAL_MS) * (PEOPLE / ROOMS), 0)} deliveries/s), ${DURATION_MS / 60_000} min`,
  );
  const perWorker = Math.ceil(PEOPLE / PROCESSES);
  await Promise.all(
    workers.map((worker) =>
      worker.call(
        'chatters',
        {
          url: relay.wsUrl,
          count: perWorker,
          rooms: ROOMS,
          intervalMs: INTERVAL_MS,
          textLength: 80,
          concurrency: 50,
        },
        300_000,
      ),
    ),
  );
  const started = performance.now();
  const samples: Sample[] = [];
  let cpuBefore = readCpu(relay.pid);
  console.log(' minute   RSS MiB   CPU %      sent  received   p50 ms   p99 ms   max ms  closed  errors');
  while (performance.now() - started < DURATION_MS) {
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    const snapshots = await Promise.all(workers.map((worker) => worker.call('soak-snapshot')));
    const cpuAfter = readCpu(relay.pid);
    const cpu = cpuDelta(cpuBefore, cpuAfter);
    cpuBefore = cpuAfter;
    const latencies = snapshots.map((snapshot) => snapshot.latency);
    const errors: Record<string, number> = {};
    for (const snapshot of snapshots)
      for (const [code, n] of Object.entries(snapshot.errors as Record<string, number>))
        errors[code] = (errors[code] ?? 0) + n;
    const sample: Sample = {
      minute: (performance.now() - started) / 60_000,
      rssMiB: readRss(relay.pid).rss / 2 ** 20,
      cpuPercent: cpu.percentOfOneCore,
      sent: snapshots.reduce((sum, snapshot) => sum + snapshot.sent, 0),
      received: snapshots.reduce((sum, snapshot) => sum + snapshot.received, 0),
      // The worse of the two processes: one bad tail is not averaged away.
      p50: Math.max(...latencies.map((latency) => latency.p50)),
      p99: Math.max(...latencies.map((latency) => latency.p99)),
      max: Math.max(...latencies.map((latency) => latency.max)),
      closed: snapshots.reduce((sum, snapshot) => sum + snapshot.closed, 0),
      errors,
    };
    samples.push(sample);
    console.log(
      `${fixed(sample.minute).padStart(7)} ${fixed(sample.rssMiB).padStart(9)} ${fixed(sample.cpuPercent, 0).padStart(7)} ${String(sample.sent).padStart(9)} ${String(sample.received).padStart(9)} ${fixed(sample.p50).padStart(8)} ${fixed(sample.p99).padStart(8)} ${fixed(sample.max).padStart(8)} ${String(sample.closed).padStart(7)}  ${JSON.stringify(errors)}`,
    );
  }
  const fifth = Math.max(1, Math.floor(samples.length / 5));
  const [first, last] = [samples.slice(0, fifth), samples.slice(-fifth)];
  const summary = {
    people: PEOPLE,
    rooms: ROOMS,
    intervalMs: INTERVAL_MS,
    minutes: DURATION_MS / 60_000,
    rssMiB: {
      firstFifth: mean(first.map((s) => s.rssMiB)),
      lastFifth: mean(last.map((s) => s.rssMiB)),
      peak: readRss(relay.pid).peak / 2 ** 20,
    },
    p99Ms: {
      firstFifth: mean(first.map((s) => s.p99)),
      lastFifth: mean(last.map((s) => s.p99)),
    },
    cpuPercent: mean(samples.map((s) => s.cpuPercent)),
    messagesSent: samples.at(-1)?.sent ?? 0,
    deliveries: samples.at(-1)?.received ?? 0,
    connectionsClosed: samples.at(-1)?.closed ?? 0,
    errors: samples.at(-1)?.errors ?? {},
    relayLogWarnings: relay
      .log()
      .split('\n')
      .filter((line) => /warn|error/i.test(line)).length,
    finishedAt: new Date().toISOString(),
  };
  console.log(
    `\nRSS ${fixed(summary.rssMiB.firstFifth)} MiB (first fifth) -> ${fixed(summary.rssMiB.lastFifth)} MiB (last fifth), peak ${fixed(summary.rssMiB.peak)} MiB; p99 ${fixed(summary.p99Ms.firstFifth)} -> ${fixed(summary.p99Ms.lastFifth)} ms; relay CPU ${fixed(summary.cpuPercent, 0)}% of a core; ${summary.messagesSent} messages, ${summary.deliveries} deliveries, ${summary.connectionsClosed} connections closed, errors ${JSON.stringify(summary.errors)}, relay log warnings ${summary.relayLogWarnings}`,
  );
  fs.mkdirSync(path.join(PACKAGE_ROOT, '.bench'), { recursive: true });
  fs.writeFileSync(
    path.join(PACKAGE_ROOT, '.bench', 'soak.json'),
    `${JSON.stringify({ summary, samples }, null, 2)}\n`,
  );
  await Promise.all(workers.map((worker) => worker.call('close-all', {}, 60_000).catch(() => undefined)));
  await Promise.all(workers.map((worker) => worker.stop()));
  await relay.stop();
  await stopAll();
}

await main();
