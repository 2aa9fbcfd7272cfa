/**
 * `npm run bench`: measures the relay against the targets in the brief and prints a report, also
 * written to .bench/results.json. `npm run bench -- --quick` shrinks every size for a smoke run
 * (its numbers are not the benchmark's).
 *
 * Order of a run (each server and each load generator is its own process, on loopback):
 *   1.   throughput  relay + 2 generator processes pipelining pre-signed sends
 *   2+3. fan-out     relay + 2 receiver processes (1,000 members) + 1 sender process holding the
 *                    latency probe; 100 messages/s for cost, then 200 messages/s for latency
 *   5.   baselines   plain `ws`, socket.io and a bare-write "floor" server: same receivers, same
 *                    sender code, same schedule
 *   8.   transports  SDK readers behind hostile proxies (bench/transports.ts), then raw readers
 *                    on each transport for the relay's CPU per delivery
 *   4.   memory      a fresh relay + 2 processes holding 10,000 idle connections (run last, so
 *                    nothing else is running)
 * Server cost is always read from the server's own /proc/<pid>/stat, never inferred from clients.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BundleSize } from './lib/bundle-size.ts';
import { PACKAGE_ROOT, WorkerHandle, killAllNow, registerTempFolder, startRelay, stopAll } from './lib/children.ts';
import type { RelayHandle } from './lib/children.ts';
import { chooseEngine } from '../relay/engine/choose-engine.ts';
import { sdkPhase } from './sdk-bench.ts';
import { transportsPhase, transportsReport } from './transports.ts';
import type { TransportsResult } from './transports.ts';
import { CLK_TCK, cpuDelta, cpuModel, fileSystemOf, openFileCount, readCpu, readRss } from './lib/proc.ts';
import type { CpuDelta, CpuSample } from './lib/proc.ts';

const USAGE = `Usage: npm run bench [-- [--quick] [--only LIST] [--profile]]
  --quick       reduced sizes for a smoke run (numbers not comparable with a full run)
  --only LIST   run only some phases: comma-separated of ${['throughput', 'fanout', 'baselines', 'idle', 'sdk', 'transports'].join(', ')}
  --profile     run each relay with --cpu-prof; profiles land in .bench/profiles (open in Chrome DevTools)`;
const PHASES = ['throughput', 'fanout', 'baselines', 'idle', 'sdk', 'transports'] as const;
const cli = (() => {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean' },
        only: { type: 'string' },
        profile: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
})();
if (cli.help) {
  console.log(USAGE);
  process.exit(0);
}
const QUICK = cli.quick === true;
const ONLY = new Set(cli.only ? cli.only.split(',').map((name) => name.trim()) : PHASES);
for (const name of ONLY) {
  if (!(PHASES as readonly string[]).includes(name)) {
    console.error(`bench: unknown phase "${name}" in --only\n${USAGE}`);
    process.exit(2);
  }
}

const SIZES = QUICK
  ? {
      throughput: {
        generators: 2,
        connections: 20,
        pipeline: 16,
        warmupS: 0.5,
        windowS: 2,
        budgetPerSecond: 15_000,
      },
      fanout: {
        members: 200,
        receivers: 2,
        rate: 50,
        seconds: 2,
        repeats: 1,
        warmupMessages: 20,
      },
      latency: { rate: 200, seconds: 2 },
      idle: { connections: 1000, processes: 2 },
    }
  : {
      // 100 connections x 20 in flight: enough concurrency to keep the relay busy at any plausible rate.
      throughput: {
        generators: 2,
        connections: 100,
        pipeline: 20,
        warmupS: 1.5,
        windowS: 5,
        budgetPerSecond: 15_000,
      },
      // 100 messages/s x 1,000 members: 100,000 deliveries/s, a load socket.io can still follow on 2 shared cores,
      // and few enough messages that the relay's verify+store share of the cost stays small.
      // Repeated 3 times per server, the median reported: run-to-run spread is ~10-20% on this shared VM.
      fanout: {
        members: 1000,
        receivers: 2,
        rate: 100,
        seconds: 5,
        repeats: 3,
        warmupMessages: 100,
      },
      latency: { rate: 200, seconds: 6 },
      idle: { connections: 10_000, processes: 2 },
    };
const TEXT_LENGTH = 80;
const RECEIVER_NICE = 10;
const TARGETS = {
  acceptedPerSecond: 8000,
  cpuSecondsPerMillion: 1,
  p99Ms: 50,
  bytesPerIdleConnection: 3 * 1024,
  vsSocketIo: 5,
  vsWs: 2,
  verifyThousandMs: 300,
  componentsInitialGzip: 24_000,
};
// The size test holds <sov-chat> at the same 24 KB (issue 11: the 25 KB budget less 1 KB of margin).
/** Hard cap on the whole run (throughput and fan-out now run on both engines): past it every child is killed and the run fails. */
const RUN_DEADLINE_MS = QUICK ? 300_000 : 900_000;
// Every load generator connects from loopback: lift the per-address connection cap with the rate limits.
const RELAY_FLAGS = [
  '--rate',
  '1000000',
  '--registrations-per-hour',
  '1000000',
  '--max-connections-per-address',
  '1000000',
];
/** The relay's two engines: all phases run on uWS (where it loads); throughput and fan-out on both, side by side. */
type Engine = 'uws' | 'node';
const relayFlags = (engine: Engine): string[] => [...RELAY_FLAGS, '--engine', engine];
/** uWS first where its addon loads here (it is what sections 1-5 measure), then the Node engine. */
const ENGINES: Engine[] = (() => {
  try {
    chooseEngine('uws');
    return ['uws', 'node'];
  } catch {
    return ['node'];
  }
})();

const RESULTS_DIR = path.join(PACKAGE_ROOT, '.bench');
const RELAY_NODE_ARGS = cli.profile ? ['--cpu-prof', '--cpu-prof-dir', path.join(RESULTS_DIR, 'profiles')] : [];
const runStarted = performance.now();
const tempFolders: string[] = [];

// ---------------------------------------------------------------------------------------------
// Cleanup: whatever happens, no child outlives the run.

let finishing = false;
function abort(reason: string): never {
  if (!finishing) {
    finishing = true;
    console.error(`\nbench: ${reason}`);
  }
  killAllNow();
  removeTempFolders();
  process.exit(1);
}
process.on('exit', () => killAllNow());
process.on('SIGINT', () => abort('interrupted (SIGINT); all child processes killed'));
process.on('SIGTERM', () => abort('terminated (SIGTERM); all child processes killed'));
process.on('uncaughtException', (error) => abort(`uncaught error: ${error.stack ?? error}`));
process.on('unhandledRejection', (error) =>
  abort(`unhandled rejection: ${error instanceof Error ? error.stack : error}`),
);
setTimeout(
  () => abort(`the run passed its ${RUN_DEADLINE_MS / 1000} s deadline; all child processes killed`),
  RUN_DEADLINE_MS,
).unref();

function removeTempFolders(): void {
  for (const folder of tempFolders.splice(0)) {
    fs.rmSync(folder, { recursive: true, force: true });
    registerTempFolder(folder, false);
  }
}

/** A fresh relay data folder. os.tmpdir() is on the same disk as the repo here (see the report header), so fdatasync is real. */
function tempDataDir(): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'sov-bench-'));
  tempFolders.push(folder);
  registerTempFolder(folder);
  return folder;
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const elapsed = (): string => `${((performance.now() - runStarted) / 1000).toFixed(1)}s`;
function progress(text: string): void {
  process.stderr.write(`[${elapsed()}] ${text}\n`);
}
const int = (value: number): string => Math.round(value).toLocaleString('en-US');
const fixed = (value: number, digits = 2): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const verdict = (pass: boolean): string => (pass ? 'PASS' : 'FAIL');
function cpuText(cpu: CpuDelta): string {
  return `${fixed(cpu.percentOfOneCore, 0)}% of one core (main JS thread ${fixed(cpu.mainThreadPercentOfOneCore, 0)}%); user ${fixed(cpu.userSeconds)} s + sys ${fixed(cpu.systemSeconds)} s over ${fixed(cpu.wallSeconds)} s`;
}

async function startWorkers(count: number, name: string): Promise<WorkerHandle[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => WorkerHandle.start(`${name} ${i + 1}`, 'load-worker.ts')));
}

/** Splits `total` into `parts` near-equal whole shares. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/** Warnings and errors the relay logged; a benchmark that makes the relay complain should say so. */
function relayComplaints(relay: RelayHandle): string[] {
  return relay
    .log()
    .split('\n')
    .filter((line) => / (warn|error) /.test(line));
}

// ---------------------------------------------------------------------------------------------
// 1. Verified messages accepted per second.

/** `oneCore`: the relay is pinned to CPU 0 (a one-core VPS); the generators still run anywhere. */
async function throughputPhase(engine: Engine, oneCore = false) {
  const size = SIZES.throughput;
  const relay = await startRelay(tempDataDir(), relayFlags(engine), RELAY_NODE_ARGS, 15_000, oneCore ? 0 : undefined);
  const generators = await startWorkers(size.generators, 'generator');
  const perGenerator = split(size.connections, size.generators);
  // Enough pre-signed messages for budgetPerSecond during warmup + window + a margin; running out is detected and reported.
  const messagesPerConnection = Math.ceil(
    (size.budgetPerSecond * (size.warmupS + size.windowS + 1.5)) / size.connections,
  );
  progress(
    `throughput: ${size.connections} connections registering, ${int(messagesPerConnection * size.connections)} messages being pre-signed`,
  );
  const setups = await Promise.all(
    generators.map((generator, i) =>
      generator.call(
        'senders',
        {
          url: relay.wsUrl,
          connections: perGenerator[i],
          messagesPerConnection,
          pipeline: size.pipeline,
          textLength: TEXT_LENGTH,
        },
        120_000,
      ),
    ),
  );
  progress(`throughput: sending (warmup ${size.warmupS} s, window ${size.windowS} s)`);
  await Promise.all(generators.map((generator) => generator.call('start')));
  await sleep(size.warmupS * 1000);
  const snapshot = () => Promise.all(generators.map((generator) => generator.call('snapshot')));
  const [before, cpuBefore] = await Promise.all([snapshot(), readCpu(relay.pid)]);
  const generatorsBefore = generators.map((generator) => readCpu(generator.pid));
  await sleep(size.windowS * 1000);
  const cpuAfter = readCpu(relay.pid);
  const generatorCpu = generators.map((generator, i) => cpuDelta(generatorsBefore[i]!, readCpu(generator.pid)));
  const after = await snapshot();
  const finals = await Promise.all(generators.map((generator) => generator.call('stop-senders')));
  const cpu = cpuDelta(cpuBefore, cpuAfter);
  const relayRss = readRss(relay.pid);
  const sum = (list: any[], field: string): number => list.reduce((total, item) => total + item[field], 0);
  const windowEnd = Math.max(...after.map((item: any) => item.at));
  const exhaustedInWindow = after.some(
    (item: any) => item.firstExhaustedAt !== null && item.firstExhaustedAt <= windowEnd,
  );
  const errors: Record<string, number> = {};
  for (const item of finals)
    for (const [code, n] of Object.entries(item.errors as Record<string, number>))
      errors[code] = (errors[code] ?? 0) + n;
  const accepted = sum(after, 'ok') - sum(before, 'ok');
  const result = {
    connections: size.connections,
    generatorProcesses: size.generators,
    pipelinePerConnection: size.pipeline,
    textLength: TEXT_LENGTH,
    presigned: sum(setups, 'presigned'),
    signSecondsPerGenerator: setups.map((item: any) => item.signMs / 1000),
    windowSeconds: cpu.wallSeconds,
    accepted,
    acceptedPerSecond: accepted / cpu.wallSeconds,
    cpuMicrosecondsPerAccepted: (cpu.cpuSeconds / accepted) * 1e6,
    relayCpu: cpu,
    relayRssAfterWindow: relayRss.rss,
    generatorProcessesPercentOfOneCore: generatorCpu.map((item) => item.percentOfOneCore),
    errorsWholeRun: errors,
    totalOkWholeRun: sum(finals, 'ok'),
    closedConnections: finals.flatMap((item: any) => item.closedConnections),
    ranOutOfPresignedMessagesInWindow: exhaustedInWindow,
    relayWarnings: relayComplaints(relay),
    oneCore,
    pass: accepted / cpu.wallSeconds >= TARGETS.acceptedPerSecond && !exhaustedInWindow,
  };
  await Promise.all(generators.map((generator) => generator.stop()));
  await relay.stop();
  return result;
}

// ---------------------------------------------------------------------------------------------
// 2, 3 and 5. Fan-out (and latency) for any server: same receivers, same sender, same schedule.

interface FanoutTarget {
  kind: 'relay' | 'ws' | 'socketio' | 'floor';
  url: string;
  pid: number;
  room: string;
}

async function fanoutSetup(target: FanoutTarget, members: number) {
  const size = SIZES.fanout;
  const receivers = await startWorkers(size.receivers, `${target.kind} receivers`);
  // 2 cores hold the server, the receivers and the sender. Receivers run at nice 10 so that they,
  // not the server or the sender/probe process, absorb the CPU shortfall; in production the members
  // are on other machines. The server's CPU per delivery does not depend on this; its latency does.
  for (const receiver of receivers) os.setPriority(receiver.pid, RECEIVER_NICE);
  const shares = split(members, size.receivers);
  const cpuBefore = readCpu(target.pid);
  const started = performance.now();
  const setups = await Promise.all(
    receivers.map((receiver, i) =>
      target.kind === 'relay'
        ? receiver.call(
            'relay-members',
            {
              url: target.url,
              count: shares[i],
              room: target.room,
              concurrency: 20,
            },
            180_000,
          )
        : receiver.call(
            'baseline-members',
            {
              kind: target.kind,
              url: target.url,
              count: shares[i],
              concurrency: 20,
            },
            180_000,
          ),
    ),
  );
  const setupSeconds = (performance.now() - started) / 1000;
  const setupCpu = cpuDelta(cpuBefore, readCpu(target.pid));
  const sender = (await startWorkers(1, `${target.kind} sender`))[0]!;
  await sender.call('setup-sender', {
    kind: target.kind,
    url: target.url,
    room: target.room,
  });
  // Frames members got while the room filled up (join and presence events); all zero for the baselines.
  await sleep(300);
  const settled = await Promise.all(receivers.map((receiver) => receiver.call('count')));
  const eventTypes: Record<string, number> = {};
  for (const item of settled)
    for (const [name, n] of Object.entries(item.eventTypes as Record<string, number>))
      eventTypes[name] = (eventTypes[name] ?? 0) + n;
  return {
    receivers,
    shares,
    sender,
    setup: {
      members: setups.reduce((total: number, item: any) => total + item.members, 0),
      seconds: setupSeconds,
      serverCpuSeconds: setupCpu.cpuSeconds,
      framesToMembers: settled.reduce((total: number, item: any) => total + item.other + item.messages, 0),
      bytesToMembers: settled.reduce((total: number, item: any) => total + item.bytes, 0),
      replyBytesToMembers: settled.reduce((total: number, item: any) => total + item.replyBytes, 0),
      eventsToMembers: eventTypes,
    },
  };
}

/**
 * Sends `count` messages at `rate`, waits for every member to have them, and charges the server's
 * CPU over that whole span (sending and draining) to the deliveries the members actually counted.
 */
async function fanoutRun(
  target: FanoutTarget,
  setup: Awaited<ReturnType<typeof fanoutSetup>>,
  rate: number,
  count: number,
) {
  const { receivers, shares, sender } = setup;
  const countsBefore = await Promise.all(receivers.map((receiver) => receiver.call('count')));
  const cpuBefore: CpuSample = readCpu(target.pid);
  const clientPids = [...receivers.map((receiver) => receiver.pid), sender.pid];
  const clientsBefore = clientPids.map(readCpu);
  const drainMs = 30_000;
  const sent = await sender.call(
    'send-at-rate',
    { rate, count, textLength: TEXT_LENGTH, drainMs },
    drainMs + count * (1000 / rate) + 30_000,
  );
  // Every message the server accepted must reach every member; the relay acks each one, the baselines do not.
  const messages = target.kind === 'relay' ? sent.acks : count;
  const reached = await Promise.all(
    receivers.map((receiver, i) =>
      receiver.call(
        'wait-count',
        {
          target: countsBefore[i].messages + shares[i]! * messages,
          timeoutMs: 30_000,
        },
        40_000,
      ),
    ),
  );
  const cpu = cpuDelta(cpuBefore, readCpu(target.pid));
  const clientCpu = clientPids.map((pid, i) => cpuDelta(clientsBefore[i]!, readCpu(pid)));
  const deliveries = reached.reduce(
    (total: number, item: any, i: number) => total + item.messages - countsBefore[i].messages,
    0,
  );
  const expected = shares.reduce((total, share) => total + share * messages, 0);
  const lastAt = Math.max(...reached.map((item: any) => item.at));
  const spanSeconds = (lastAt - sent.startedAt) / 1000;
  return {
    rate,
    members: shares.reduce((total, share) => total + share, 0),
    messages: count,
    acked: target.kind === 'relay' ? sent.acks : null,
    ackErrors: sent.ackErrors,
    deliveries,
    expectedDeliveries: expected,
    allDelivered: reached.every((item: any) => item.reached),
    membersClosed: reached.reduce((total: number, item: any) => total + item.closed, 0),
    sendSeconds: sent.sendSeconds,
    senderScheduleLagMaxMs: sent.scheduleLagMaxMs,
    spanSeconds,
    deliveriesPerSecond: deliveries / spanSeconds,
    serverCpu: cpu,
    cpuSecondsPerMillionDeliveries: (cpu.cpuSeconds / deliveries) * 1e6,
    userCpuSecondsPerMillionDeliveries: (cpu.userSeconds / deliveries) * 1e6,
    systemCpuSecondsPerMillionDeliveries: (cpu.systemSeconds / deliveries) * 1e6,
    receiverProcessesPercentOfOneCore: clientCpu.slice(0, -1).map((item) => item.percentOfOneCore),
    senderProcessPercentOfOneCore: clientCpu[clientCpu.length - 1]!.percentOfOneCore,
    probeReceived: sent.probeReceived,
    latencyMs: sent.probe,
    ackLatencyMs: sent.ack,
  };
}

/** The fan-out measurement, repeated; the median run (by CPU per delivery) stands for the server, with the range. */
async function fanoutRepeated(target: FanoutTarget, setup: Awaited<ReturnType<typeof fanoutSetup>>) {
  const size = SIZES.fanout;
  const runs = [];
  for (let i = 0; i < size.repeats; i++) runs.push(await fanoutRun(target, setup, size.rate, size.rate * size.seconds));
  const sorted = [...runs].sort((a, b) => a.cpuSecondsPerMillionDeliveries - b.cpuSecondsPerMillionDeliveries);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return {
    ...median,
    repeats: runs.length,
    cpuSecondsPerMillionRange: [
      sorted[0]!.cpuSecondsPerMillionDeliveries,
      sorted[sorted.length - 1]!.cpuSecondsPerMillionDeliveries,
    ],
    allRuns: runs.map((run) => ({
      cpuSecondsPerMillionDeliveries: run.cpuSecondsPerMillionDeliveries,
      deliveries: run.deliveries,
      expectedDeliveries: run.expectedDeliveries,
      p99Ms: run.latencyMs?.p99 ?? null,
    })),
    allDeliveredEveryRun: runs.every((run) => run.allDelivered && run.deliveries === run.expectedDeliveries),
  };
}

async function fanoutTeardown(setup: Awaited<ReturnType<typeof fanoutSetup>>): Promise<void> {
  const all = [...setup.receivers, setup.sender];
  await Promise.all(all.map((worker) => worker.call('close-all', {}, 20_000).catch(() => undefined)));
  await Promise.all(all.map((worker) => worker.stop()));
}

async function warmup(target: FanoutTarget, setup: Awaited<ReturnType<typeof fanoutSetup>>): Promise<void> {
  // JIT, TCP buffers and the members' first frames settle before anything is charged.
  await fanoutRun(target, setup, SIZES.fanout.rate, SIZES.fanout.warmupMessages);
}

async function relayFanoutPhase(engine: Engine) {
  const size = SIZES.fanout;
  const relay = await startRelay(tempDataDir(), relayFlags(engine), RELAY_NODE_ARGS);
  const target: FanoutTarget = {
    kind: 'relay',
    url: relay.wsUrl,
    pid: relay.pid,
    room: 'general',
  };
  progress(`fan-out: ${size.members} relay members registering and joining "general"`);
  const setup = await fanoutSetup(target, size.members);
  progress(`fan-out: room filled in ${fixed(setup.setup.seconds, 1)} s; warmup`);
  try {
    await warmup(target, setup);
    progress(`fan-out: ${size.rate} messages/s for ${size.seconds} s`);
    const fanout = await fanoutRepeated(target, setup);
    progress(`latency: ${SIZES.latency.rate} messages/s for ${SIZES.latency.seconds} s`);
    const latency = await fanoutRun(target, setup, SIZES.latency.rate, SIZES.latency.rate * SIZES.latency.seconds);
    const rss = readRss(relay.pid);
    return {
      setup: setup.setup,
      fanout,
      latency,
      relayRssAfter: rss.rss,
      relayWarnings: relayComplaints(relay),
    };
  } finally {
    await fanoutTeardown(setup);
    await relay.stop();
  }
}

const BASELINE_FILES = {
  ws: 'baseline-ws-server.ts',
  socketio: 'baseline-socketio-server.ts',
  floor: 'baseline-floor-server.ts',
} as const;

async function baselinePhase(kind: 'ws' | 'socketio' | 'floor') {
  const size = SIZES.fanout;
  const server = await WorkerHandle.start(`${kind} baseline server`, BASELINE_FILES[kind]);
  try {
    const { url } = await server.call('address');
    const target: FanoutTarget = {
      kind,
      url,
      pid: server.pid,
      room: 'general',
    };
    progress(`baseline ${kind}: ${size.members} members connecting`);
    const setup = await fanoutSetup(target, size.members);
    try {
      await warmup(target, setup);
      progress(`baseline ${kind}: ${size.rate} messages/s for ${size.seconds} s`);
      const fanout = await fanoutRepeated(target, setup);
      return { setup: setup.setup, fanout };
    } finally {
      await fanoutTeardown(setup);
    }
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Memory per idle connection.

async function idlePhase() {
  const size = SIZES.idle;
  const relay = await startRelay(tempDataDir(), relayFlags(ENGINES[0]!), RELAY_NODE_ARGS);
  const holders = await startWorkers(size.processes, 'idle holder');
  // uWS and V8 need a moment after a burst (hello frames flushed, young garbage collected).
  const settle = (): Promise<void> => sleep(3000);
  try {
    // The account for the logged-in step is made first, so its cost is in the baseline.
    const { token } = await holders[0]!.call('register-one', {
      url: relay.wsUrl,
    });
    // Let startup garbage settle so the baseline is the relay at rest, not mid-initialisation.
    await sleep(1500);
    const before = readRss(relay.pid);
    const fdsBefore = openFileCount(relay.pid);
    progress(`idle: opening ${int(size.connections)} connections`);
    const started = performance.now();
    const opened = await Promise.all(
      split(size.connections, size.processes).map((count, i) =>
        holders[i]!.call('idle', { url: relay.wsUrl, count, concurrency: 100 }, 120_000),
      ),
    );
    const openSeconds = (performance.now() - started) / 1000;
    const connections = opened.reduce((total: number, item: any) => total + item.opened, 0);
    await settle();
    const idle = readRss(relay.pid);
    const fdsAfter = openFileCount(relay.pid);
    // Not part of the target (which is about idle sockets), but what a real client costs: the same
    // connections logged in (one shared account, via resume), then also joined to one room.
    progress('idle: logging the connections in, then joining a room');
    await Promise.all(holders.map((holder) => holder.call('idle-login', { token, concurrency: 50 }, 120_000)));
    await settle();
    const loggedIn = readRss(relay.pid);
    const joins = await Promise.all(
      holders.map((holder) => holder.call('idle-login', { token, room: 'general', concurrency: 50 }, 120_000)),
    );
    await settle();
    const joined = readRss(relay.pid);
    const perConnection = (idle.rss - before.rss) / connections;
    return {
      connections,
      failed: opened.reduce((total: number, item: any) => total + item.failed, 0),
      firstError: opened.map((item: any) => item.firstError).find(Boolean) ?? null,
      openSeconds,
      relayFdsBefore: fdsBefore,
      relayFdsAfter: fdsAfter,
      rssBefore: before.rss,
      rssIdle: idle.rss,
      rssLoggedIn: loggedIn.rss,
      rssJoined: joined.rss,
      peakRss: joined.peak,
      bytesPerConnection: perConnection,
      extraBytesPerConnectionLoggedIn: (loggedIn.rss - idle.rss) / connections,
      extraBytesPerConnectionJoined: (joined.rss - loggedIn.rss) / connections,
      closedDuringLogin: joins.reduce((total: number, item: any) => total + item.closed, 0),
      relayWarnings: relayComplaints(relay),
      pass: perConnection < TARGETS.bytesPerIdleConnection && connections === size.connections,
    };
  } finally {
    await Promise.all(holders.map((holder) => holder.call('close-all', {}, 20_000).catch(() => undefined)));
    await Promise.all(holders.map((holder) => holder.stop()));
    await relay.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Report.

type PhaseResult<T> = { ok: true; value: T } | { ok: false; error: string };

async function phase<T>(name: string, run: () => Promise<T>): Promise<PhaseResult<T>> {
  const started = performance.now();
  try {
    const value = await run();
    progress(`${name}: done in ${fixed((performance.now() - started) / 1000, 1)} s`);
    return { ok: true, value };
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    progress(`${name}: FAILED: ${text}`);
    return { ok: false, error: text };
  }
}

function latencyText(latency: any): string {
  return latency
    ? `p50 ${fixed(latency.p50, 1)} ms, p90 ${fixed(latency.p90, 1)} ms, p99 ${fixed(latency.p99, 1)} ms, max ${fixed(latency.max, 1)} ms (${int(latency.samples)} samples)`
    : 'no samples';
}

function report(results: any): string {
  const out: string[] = [];
  const add = (line = ''): void => void out.push(line);
  const failed = (result: PhaseResult<unknown> | undefined, title: string): boolean => {
    if (result === undefined) {
      add(`   ${title}: not run (--only)`);
      return true;
    }
    if (result.ok) return false;
    add(`   ${title} FAILED TO RUN: ${result.error.split('\n')[0]}`);
    return true;
  };
  const m = results.machine;
  add(`Sovereign Chat relay benchmark${QUICK ? ' (--quick smoke run: reduced sizes, not comparable)' : ''}`);
  add(`${results.finishedAt}, ${fixed(results.durationSeconds, 0)} s`);
  add(
    `Machine: ${m.cores} cores (${m.cpu}), ${fixed(m.memoryGiB, 1)} GiB, Node ${m.node}, ${m.platform}; data folder on ${m.dataFileSystem}`,
  );
  add('Every server and every load generator is a separate process on this machine, talking over loopback,');
  add("so the load generators compete with the server for the same 2 cores. Server CPU is the server process's");
  add('own utime+stime from /proc/<pid>/stat (all its threads; "main JS thread" from /proc/<pid>/task/<pid>/stat).');
  add(`The relay runs with ${RELAY_FLAGS.join(' ')} --engine ${results.engines[0]}. CPU tick is 1/${CLK_TCK} s.`);
  add(`Sections 1-5 measure the ${results.engines[0]} engine; section 7 puts the engines side by side.`);

  add('');
  add(`1. Verified messages accepted per second                     target >= ${int(TARGETS.acceptedPerSecond)}/s`);
  for (const [key, title] of [
    ['throughput', 'all cores'],
    ['throughputOneCore', 'relay pinned to one core (taskset -c 0), as on a one-core VPS'],
  ] as const) {
    const t = results.phases[key] as PhaseResult<any> | undefined;
    if (failed(t, key) || !t?.ok) continue;
    const v = t.value;
    add(`   ${title}:`);
    add(
      `   ${v.connections} logged-in connections in ${v.generatorProcesses} generator processes, each in its own room, ${v.pipelinePerConnection} sends in flight`,
    );
    add(
      `   per connection; ${int(v.presigned)} messages (${v.textLength}-character text) ed25519-signed before the window.`,
    );
    add(
      `   accepted (ok replies):  ${int(v.acceptedPerSecond)}/s  (${int(v.accepted)} in ${fixed(v.windowSeconds)} s)   ${verdict(v.pass)}`,
    );
    add(`   relay CPU:              ${cpuText(v.relayCpu)}`);
    add(`   relay CPU per message:  ${fixed(v.cpuMicrosecondsPerAccepted, 1)} µs`);
    add(
      `   generator processes:    ${v.generatorProcessesPercentOfOneCore.map((p: number) => `${fixed(p, 0)}%`).join(' + ')} of one core (so the relay, not the load, is the limit)`,
    );
    add(`   relay VmRSS after:      ${fixed(v.relayRssAfterWindow / 2 ** 20, 1)} MiB`);
    add(
      `   error replies:          ${Object.keys(v.errorsWholeRun).length ? JSON.stringify(v.errorsWholeRun) : 'none'}; connections closed by the relay: ${v.closedConnections.length}`,
    );
    if (v.ranOutOfPresignedMessagesInWindow)
      add('   WARNING: a generator ran out of pre-signed messages inside the window; the rate is a lower bound.');
  }

  const t = results.phases.throughput as PhaseResult<any> | undefined;
  const t1 = results.phases.throughputOneCore as PhaseResult<any> | undefined;

  add('');
  add(
    `2. Fan-out to a ${int(SIZES.fanout.members)}-member room                               target <= ${TARGETS.cpuSecondsPerMillion} relay CPU-s per million deliveries`,
  );
  const f = results.phases.relayFanout as PhaseResult<any> | undefined;
  if (!failed(f, 'fan-out') && f?.ok) {
    const v = f.value;
    const s = v.setup;
    add(
      `   room filled by ${int(s.members)} members (each its own account: register + join) in ${fixed(s.seconds, 1)} s; relay CPU ${fixed(s.serverCpuSeconds)} s.`,
    );
    add(
      `   While it filled, members received ${int(s.framesToMembers)} frames, ${fixed(s.bytesToMembers / 1e6, 1)} MB: events ${Object.entries(
        s.eventsToMembers,
      )
        .map(([name, n]) => `${name} ${int(n as number)}`)
        .join(', ')};`,
    );
    add(`   replies ${fixed(s.replyBytesToMembers / 1e6, 1)} MB (join replies list every online member's profile).`);
    add(`   Receiver processes run at nice ${RECEIVER_NICE} (see latency).`);
    fanoutLines(add, v.fanout, 'relay');
    if (t?.ok) {
      const acceptShare = ((t.value.cpuMicrosecondsPerAccepted * 1e-6 * v.fanout.messages) / v.fanout.deliveries) * 1e6;
      add(
        `     of which accepting the messages (verify + store, ${fixed(t.value.cpuMicrosecondsPerAccepted, 0)} µs each as measured in 1.): about ${fixed(acceptShare)} CPU-s`,
      );
      add(
        `     per million deliveries (${fixed((acceptShare / v.fanout.cpuSecondsPerMillionDeliveries) * 100, 0)}%); the rest is fan-out.`,
      );
    }
    const floor = results.phases.floor as PhaseResult<any> | undefined;
    if (floor?.ok) {
      add(
        `     For scale: one bare write() per delivery (the write floor in 5.) costs ${fixed(floor.value.fanout.cpuSecondsPerMillionDeliveries)} CPU-s per million here.`,
      );
    }
  }

  add('');
  add(
    `3. Latency, send to receive, ${int(SIZES.fanout.members)} members x ${SIZES.latency.rate} messages/s               target p99 < ${TARGETS.p99Ms} ms`,
  );
  if (!failed(f, 'latency') && f?.ok) {
    const v = f.value.latency;
    add(`   measured in the sender process from ws.send() to the same message arriving on a probe member socket`);
    add(`   in that process (one clock); includes signature check, the fdatasync'ed append and the fan-out.`);
    add(
      `   send -> probe receipt:  ${latencyText(v.latencyMs)}   ${verdict(v.latencyMs !== null && v.latencyMs.p99 < TARGETS.p99Ms)}`,
    );
    add(`   send -> ok reply:       ${latencyText(v.ackLatencyMs)}`);
    add('   (the relay replies ok after it has written the message to every member, so the ok waits for the fan-out)');
    add(
      `   deliveries ${int(v.deliveries)} of ${int(v.expectedDeliveries)}, ${int(v.deliveriesPerSecond)}/s; relay ${fixed(v.cpuSecondsPerMillionDeliveries)} CPU-s per million deliveries at this rate`,
    );
    add(`   (${cpuText(v.serverCpu)}); sender schedule lag max ${fixed(v.senderScheduleLagMaxMs, 1)} ms.`);
    add(
      `   receiver processes (nice ${RECEIVER_NICE}) ${v.receiverProcessesPercentOfOneCore.map((p: number) => `${fixed(p, 0)}%`).join(' + ')}, sender process ${fixed(v.senderProcessPercentOfOneCore, 0)}% of one core.`,
    );
    if (Object.keys(v.ackErrors).length) add(`   error replies: ${JSON.stringify(v.ackErrors)}`);
  }

  add('');
  add(
    `4. Memory per idle connection                                target < ${int(TARGETS.bytesPerIdleConnection)} bytes`,
  );
  const i = results.phases.idle as PhaseResult<any> | undefined;
  if (!failed(i, 'idle connections') && i?.ok) {
    const v = i.value;
    add(
      `   ${int(v.connections)} WebSocket connections opened (not logged in) from ${SIZES.idle.processes} processes in ${fixed(v.openSeconds, 1)} s; ${v.failed} failed${v.firstError ? ` (${v.firstError})` : ''}.`,
    );
    add(
      `   relay open fds ${int(v.relayFdsBefore)} -> ${int(v.relayFdsAfter)}; VmRSS ${fixed(v.rssBefore / 2 ** 20, 1)} MiB -> ${fixed(v.rssIdle / 2 ** 20, 1)} MiB`,
    );
    add(`   RSS per idle connection: ${int(v.bytesPerConnection)} bytes   ${verdict(v.pass)}`);
    add(
      `   then logged in (resume, one shared account): +${int(v.extraBytesPerConnectionLoggedIn)} bytes each (VmRSS ${fixed(v.rssLoggedIn / 2 ** 20, 1)} MiB);`,
    );
    add(
      `   then joined "general": +${int(v.extraBytesPerConnectionJoined)} bytes each (VmRSS ${fixed(v.rssJoined / 2 ** 20, 1)} MiB, peak ${fixed(v.peakRss / 2 ** 20, 1)} MiB)${v.closedDuringLogin ? `; ${v.closedDuringLogin} connections closed meanwhile` : ''}.`,
    );
  }

  add('');
  add(
    `5. Baselines: the same ${int(SIZES.fanout.members)}-member fan-out on plain ws, socket.io and a raw write floor`,
  );
  add('   These servers only rebroadcast: they do not parse, validate, verify signatures or store. The relay');
  add("   figure includes its verify + fdatasync'ed store of every message (a small share at this message rate).");
  add('   Same receiver processes, same sender code, same message size and schedule: fan-out cost only.');
  add('   The "write floor" is a bare net server writing one pre-built frame per member (no library): the');
  add('   least any Node server pays with one write() per delivery, which is what uWS, ws and socket.io all do.');
  const w = results.phases.wsBaseline as PhaseResult<any> | undefined;
  const io = results.phases.socketIoBaseline as PhaseResult<any> | undefined;
  const floor = results.phases.floor as PhaseResult<any> | undefined;
  if (!failed(w, 'ws baseline') && w?.ok) fanoutLines(add, w.value.fanout, 'ws (loop over clients, client.send)');
  if (!failed(io, 'socket.io baseline') && io?.ok) fanoutLines(add, io.value.fanout, 'socket.io (io.to(room).emit)');
  if (!failed(floor, 'write floor') && floor?.ok)
    fanoutLines(add, floor.value.fanout, 'write floor (net.Socket.write of one shared frame)');
  if (f?.ok) {
    const relay = f.value.fanout;
    add('');
    add('   CPU-s per million deliveries     total    user     sys    / relay');
    const row = (name: string, v: any): void =>
      add(
        `   ${name.padEnd(30)} ${fixed(v.cpuSecondsPerMillionDeliveries).padStart(7)} ${fixed(v.userCpuSecondsPerMillionDeliveries).padStart(7)} ${fixed(v.systemCpuSecondsPerMillionDeliveries).padStart(7)} ${fixed(v.cpuSecondsPerMillionDeliveries / relay.cpuSecondsPerMillionDeliveries).padStart(8)}x`,
      );
    row('relay (incl. verify + store)', relay);
    if (w?.ok) row('ws', w.value.fanout);
    if (io?.ok) row('socket.io', io.value.fanout);
    if (floor?.ok) row('write floor', floor.value.fanout);
    add('');
    if (io?.ok) {
      const ratio = io.value.fanout.cpuSecondsPerMillionDeliveries / relay.cpuSecondsPerMillionDeliveries;
      add(
        `   socket.io / relay: ${fixed(ratio, 1)}x   target >= ${TARGETS.vsSocketIo}x   ${verdict(ratio >= TARGETS.vsSocketIo)}`,
      );
    }
    if (w?.ok) {
      const ratio = w.value.fanout.cpuSecondsPerMillionDeliveries / relay.cpuSecondsPerMillionDeliveries;
      add(`   ws / relay:        ${fixed(ratio, 1)}x   target >= ${TARGETS.vsWs}x   ${verdict(ratio >= TARGETS.vsWs)}`);
    }
    if (floor?.ok) {
      const floorCost = floor.value.fanout.cpuSecondsPerMillionDeliveries;
      add(
        `   The write floor costs ${fixed(floorCost)} CPU-s per million deliveries on this machine, ${fixed(floor.value.fanout.systemCpuSecondsPerMillionDeliveries)} of it kernel time`,
      );
      add("   (on loopback the receiving side's TCP processing is charged to the writing process). The relay is");
      add(
        `   ${fixed(relay.cpuSecondsPerMillionDeliveries / floorCost, 2)}x the floor: uWS writes from native code, so its user-space share can be below net.Socket's,`,
      );
      add('   but the kernel cost of one write per delivery (the sys column) is paid by every server here alike.');
    }
  }

  add('');
  add('6. SDK and components in Chromium');
  const k = results.phases.sdk as PhaseResult<any> | undefined;
  if (!failed(k, 'sdk') && k?.ok) {
    const v = k.value;
    const median = (list: number[]): number => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
    add(
      `   ${v.browser}; WebCrypto Ed25519 ${v.webCryptoEd25519 ? 'available' : 'NOT available (both figures are noble)'}`,
    );
    add(
      `   verify a 1,000-message history (20 authors, cold cache, one after another as a Room does), median of ${v.verifyWebCryptoMs.length}:`,
    );
    add(
      `     WebCrypto: ${fixed(median(v.verifyWebCryptoMs), 0)} ms (runs ${v.verifyWebCryptoMs.map((ms: number) => fixed(ms, 0)).join(', ')})   target < ${TARGETS.verifyThousandMs} ms   ${verdict(median(v.verifyWebCryptoMs) < TARGETS.verifyThousandMs)}`,
    );
    add(
      `     noble:     ${fixed(median(v.verifyNobleMs), 0)} ms (runs ${v.verifyNobleMs.map((ms: number) => fixed(ms, 0)).join(', ')})`,
    );
    add(
      `   password KDF (scrypt N=2^17, r=8, p=1): ${fixed(v.kdf.ms, 0)} ms; main-thread tasks over 50 ms: ${v.kdf.longTasks} (longest ${fixed(v.kdf.longestTaskMs, 0)} ms)   ${v.kdf.observed ? verdict(v.kdf.longTasks === 0) : 'UNMEASURED: the long-task observer missed its 80 ms control task'}`,
    );
    const sizes = (label: string, size: BundleSize, target?: number): void => {
      const kb = (bytes: number): string => `${fixed(bytes / 1000, 1)} KB`;
      add(
        `   ${label}: initial ${kb(size.initialGzip)} gzip, ${kb(size.initialBr)} brotli (${kb(size.initialBytes)} min, ${size.initial.length} file${size.initial.length === 1 ? '' : 's'})${target ? `   target <= ${kb(target)} gzip   ${verdict(size.initialGzip <= target)}` : ''}`,
      );
      add(
        `     loaded later (gzip / brotli): ${size.lazy.map((item) => `${path.basename(item.file).replace(/-[A-Z0-9]{8}\.js$/, '')} ${kb(item.gzip)} / ${kb(item.br)}`).join(', ')}`,
      );
    };
    sizes('SDK (/sovereign-chat.js)', v.sdk);
    sizes('<sov-chat> (/sov-chat.js)', v.components, TARGETS.componentsInitialGzip);
  }

  add('');
  add('7. The two engines side by side (same load, same machine, one run)');
  const byEngine: [string, PhaseResult<any> | undefined, PhaseResult<any> | undefined][] = [
    [results.engines[0], t, f],
    ...(results.engines[1]
      ? [
          [results.engines[1], results.phases.throughputNode, results.phases.relayFanoutNode] as [
            string,
            PhaseResult<any> | undefined,
            PhaseResult<any> | undefined,
          ],
        ]
      : []),
  ];
  if (byEngine.length < 2) add('   only one engine ran: uWebSockets.js does not load on this Node');
  add(
    `   ${'engine'.padEnd(8)}${'accepted/s'.padStart(12)}${'CPU µs/msg'.padStart(12)}${'fan-out CPU-s/M'.padStart(17)}${'p99 fan-out'.padStart(13)}${'p99 latency'.padStart(13)}`,
  );
  for (const [engine, throughput, fanout] of byEngine) {
    const cells = [
      throughput?.ok ? int(throughput.value.acceptedPerSecond) : '-',
      throughput?.ok ? fixed(throughput.value.cpuMicrosecondsPerAccepted, 1) : '-',
      fanout?.ok ? fixed(fanout.value.fanout.cpuSecondsPerMillionDeliveries) : '-',
      fanout?.ok && fanout.value.fanout.latencyMs ? `${fixed(fanout.value.fanout.latencyMs.p99, 1)} ms` : '-',
      fanout?.ok && fanout.value.latency.latencyMs ? `${fixed(fanout.value.latency.latencyMs.p99, 1)} ms` : '-',
    ];
    add(
      `   ${engine.padEnd(8)}${cells[0]!.padStart(12)}${cells[1]!.padStart(12)}${cells[2]!.padStart(17)}${cells[3]!.padStart(13)}${cells[4]!.padStart(13)}`,
    );
  }
  add(
    `   (fan-out at ${SIZES.fanout.rate} msg/s to ${int(SIZES.fanout.members)} members; latency at ${SIZES.latency.rate} msg/s)`,
  );

  add('');
  add('8. Hostile networks and transports (issue 10)');
  const h = results.phases.transports as PhaseResult<TransportsResult> | undefined;
  if (!failed(h, 'transports') && h?.ok) for (const line of transportsReport(h.value)) add(line);

  const warnings = [
    ...(h?.ok ? h.value.relayWarnings : []),
    ...(results.phases.throughputNode?.ok ? results.phases.throughputNode.value.relayWarnings : []),
    ...(results.phases.relayFanoutNode?.ok ? results.phases.relayFanoutNode.value.relayWarnings : []),
    ...(t?.ok ? t.value.relayWarnings : []),
    ...(t1?.ok ? t1.value.relayWarnings : []),
    ...(f?.ok ? f.value.relayWarnings : []),
    ...(i?.ok ? i.value.relayWarnings : []),
  ];
  add('');
  add(`Relay log warnings/errors during the run: ${warnings.length === 0 ? 'none' : warnings.length}`);
  for (const line of warnings.slice(0, 10)) add(`   ${line}`);
  add('');
  add(`Results: ${path.relative(process.cwd(), path.join(RESULTS_DIR, 'results.json')) || 'results.json'}`);
  return out.join('\n');
}

function fanoutLines(add: (line?: string) => void, v: any, label: string): void {
  add(`   ${label}: ${int(v.messages)} messages at ${v.rate}/s to ${int(v.members)} counted members`);
  add(
    `     deliveries ${int(v.deliveries)} of ${int(v.expectedDeliveries)}${v.allDelivered ? '' : ' (NOT ALL ARRIVED)'}${v.membersClosed ? `, ${v.membersClosed} members disconnected` : ''}; ${int(v.deliveriesPerSecond)} deliveries/s over ${fixed(v.spanSeconds)} s`,
  );
  add(
    `     server CPU: ${fixed(v.cpuSecondsPerMillionDeliveries)} CPU-s per million deliveries (user ${fixed(v.userCpuSecondsPerMillionDeliveries)} + sys ${fixed(v.systemCpuSecondsPerMillionDeliveries)})${label === 'relay' ? `   ${verdict(v.cpuSecondsPerMillionDeliveries <= TARGETS.cpuSecondsPerMillion)}` : ''}`,
  );
  if (v.repeats > 1) {
    add(
      `     median of ${v.repeats} runs of ${fixed(v.messages / v.rate, 0)} s (range ${fixed(v.cpuSecondsPerMillionRange[0])} to ${fixed(v.cpuSecondsPerMillionRange[1])}); the lines above and below are that median run${v.allDeliveredEveryRun ? '' : '; NOT EVERY RUN DELIVERED EVERYTHING'}`,
    );
  }
  add(`     ${cpuText(v.serverCpu)}`);
  add(
    `     receiver processes ${v.receiverProcessesPercentOfOneCore.map((p: number) => `${fixed(p, 0)}%`).join(' + ')}, sender process ${fixed(v.senderProcessPercentOfOneCore, 0)}% of one core`,
  );
  add(`     send -> receive at this rate: ${latencyText(v.latencyMs)}`);
  if (v.acked !== null && v.acked !== v.messages)
    add(`     only ${v.acked} of ${v.messages} sends were accepted: ${JSON.stringify(v.ackErrors)}`);
}

// ---------------------------------------------------------------------------------------------

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-V']).status === 0;
}

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(PACKAGE_ROOT, 'relay', 'dist', 'relay.js')))
    abort('relay/dist/relay.js is missing; run `npm run build` (npm run bench builds first)');
  const probeDir = tempDataDir();
  const results: any = {
    quick: QUICK,
    startedAt: new Date().toISOString(),
    machine: {
      cores: os.cpus().length,
      cpu: cpuModel(),
      memoryGiB: os.totalmem() / 2 ** 30,
      node: process.version,
      platform: `${os.type()} ${os.release()}`,
      dataFileSystem: fileSystemOf(probeDir),
      clockTicksPerSecond: CLK_TCK,
    },
    sizes: SIZES,
    targets: TARGETS,
    phases: {} as Record<string, PhaseResult<unknown>>,
  };
  // Baselines need the relay's fan-out figure for their ratios, so --only baselines runs it too.
  results.engines = ENGINES;
  if (ONLY.has('throughput')) {
    results.phases.throughput = await phase(`throughput (${ENGINES[0]})`, () => throughputPhase(ENGINES[0]!));
    if (hasTaskset())
      results.phases.throughputOneCore = await phase(`throughput, one core (${ENGINES[0]})`, () =>
        throughputPhase(ENGINES[0]!, true),
      );
  }
  if (ONLY.has('fanout') || ONLY.has('baselines'))
    results.phases.relayFanout = await phase(`relay fan-out + latency (${ENGINES[0]})`, () =>
      relayFanoutPhase(ENGINES[0]!),
    );
  if (ENGINES[1] !== undefined) {
    if (ONLY.has('throughput'))
      results.phases.throughputNode = await phase('throughput (node)', () => throughputPhase('node'));
    if (ONLY.has('fanout'))
      results.phases.relayFanoutNode = await phase('relay fan-out + latency (node)', () => relayFanoutPhase('node'));
  }
  if (ONLY.has('baselines')) {
    results.phases.wsBaseline = await phase('ws baseline', () => baselinePhase('ws'));
    results.phases.socketIoBaseline = await phase('socket.io baseline', () => baselinePhase('socketio'));
    results.phases.floor = await phase('write floor', () => baselinePhase('floor'));
  }
  if (ONLY.has('transports'))
    results.phases.transports = await phase('transports', () => transportsPhase(progress, QUICK));
  if (ONLY.has('idle')) results.phases.idle = await phase('idle connections', idlePhase);
  if (ONLY.has('sdk')) results.phases.sdk = await phase('sdk', () => sdkPhase(progress));
  results.finishedAt = new Date().toISOString();
  results.durationSeconds = (performance.now() - runStarted) / 1000;
  const text = report(results);
  results.report = text;
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\n${text}`);
  finishing = true;
  await stopAll();
  removeTempFolders();
  const anyFailed = Object.values(results.phases).some((result) => !(result as PhaseResult<unknown>).ok);
  process.exit(anyFailed ? 1 : 0);
}

main().catch((error) => abort(`failed: ${error instanceof Error ? error.stack : error}`));
