/**
 * Issue 10, point 7, in real Chromium: on each hostile network, two Chromium pages and a Node bot
 * converse through a hostile proxy (test/helpers/hostile-proxy.ts) in front of a relay that spends
 * at most 12,288 bytes per TCP connection (`--conn-budget`). Page A loads a 1,000-message history
 * with loadOlder(); then A, B and the bot send 500 live messages between them; everyone must hold
 * all of them, in the relay's order, none twice, and nobody may see a join or leave notice for
 * someone who stayed. On (b) alone, the seed's flows run over the HTTP transport forced.
 *
 * Who is where: per group, A and B are SovClients in two Chromium pages of their own (opened by
 * hostile-harness-plugin.mjs, each in its own browser context: two people's browsers, each with its
 * own IndexedDB, cookies and connection pool, and its own renderer and event loop); the bot is the
 * SDK in Node with `ws` and memory storage (hostile-harness.ts). This page only conducts: it
 * starts the groups, reads what each member holds, and judges. All three members reach the relay
 * only through the network under test.
 *
 * Time: the groups run side by side (each spends most of its time waiting on the network), started
 * in `before`; each test waits for its group's outcome. Live messages are spread over 45 s, so
 * that every connection on (c) outlives its 30 s and freezes under the conversation, and (d) meets
 * several stalls. Every wait polls a condition with a deadline derived below; none is a sleep.
 *
 * Every group must pass. A check may carry `todo` (as node:test tests may) while a known defect is
 * open: in `npm test` a todo test that fails is reported as skipped and its failure printed;
 * `npm run test:hostile` (SOV_HOSTILE_STRICT=1) fails them for real. None does today.
 */
import type { ProxyStats } from '../helpers/hostile-proxy.ts';
import { SovClient } from '../../sdk/client.ts';
import type { SovClientOptions } from '../../sdk/client.ts';
import type { Profile } from '../../sdk/protocol.ts';
import { indexedDbStorage } from '../../sdk/storage.ts';
import type { NetworkInfo, NetworkRequest } from './hostile-harness.ts';
import {
  botMember,
  harnessConfig,
  networkStats,
  pageMember,
  startNetwork,
  stopNetwork,
} from './hostile-harness-client.ts';
import type { Member } from './hostile-harness-client.ts';
import { PASSWORD, freshUsername, isHistory, isLive } from './hostile-participant.ts';
import type { ParticipantReport } from './hostile-participant.ts';

// ## The numbers

/** The issue's numbers. */
const HISTORY = 1000;
const LIVE = 500;
/** The budget the issue's relay runs with: under the ~16 KB at which censored connections freeze. */
const BUDGET = 12_288;
/** Who sends how many of the live messages. */
const SENDERS: Array<[string, number]> = [
  ['A', 167],
  ['B', 167],
  ['bot', 166],
];
/** Live messages are spread over this long: more than (c)'s 30 s connection life, and several of (d)'s stalls. */
const LIVE_SPAN_MS = 45_000;

/**
 * Deadlines, generous because the suite shares 2 cores with other work; a fix has to be far off to
 * miss them, and one that waits for the 5 s heartbeat to find every freeze does miss them.
 * - registration: scrypt (N=2^17) takes about 1 s in this Chromium, up to 3x that under load, plus a
 *   black-holed first door (4 s, sdk/front-doors.ts) or a refused WebSocket before the ladder steps down.
 * - join and seeing the others online: a page of history and an online list, a few round trips.
 * - history: 1,000 messages of ~400 bytes are ~400 KB, about 100 pages of 4 KB (a third of the
 *   budget) and a new connection every two: 15 ms a page in Node on a quiet machine, but 0.5 s a
 *   page was measured in CI with the nine groups' 27 clients on 2 cores (47 s for 92 pages, on the
 *   faithful proxy); (d)'s stalls (1-5 s, 1-10 s apart) hold the path about a third of the time
 *   on top. 90 s.
 * - live, after the last message is handed to send(): a freeze found in ~3 s (the issue's point 3),
 *   a new connection and a resume, or a stall of up to 5 s, then the outbox's backlog, one message
 *   per round trip (a page's round trip was 0.3-0.5 s under that load): 40 s.
 */
/** Opening pages A and B and starting the bot: loading a page of the SDK's modules through the dev server. */
const SETUP_MS = 60_000;
const REGISTER_MS = 30_000;
const JOIN_MS = 30_000;
const ONLINE_MS = 15_000;
const HISTORY_MS = 90_000;
const SETTLE_MS = 40_000;
/**
 * When every test must have its answer, from the start of the suite: a group that misses every
 * deadline after setting up takes JOIN_MS + ONLINE_MS + HISTORY_MS + LIVE_SPAN_MS + SETTLE_MS
 * (3.7 min), after waiting its turn to set up (1.5 min for the last on a machine with a load of 10).
 * Under web-test-runner's 7 minutes per test file (web-test-runner.config.mjs), after which it
 * would drop every result of the file; a group still running then fails, saying how far it got.
 * A run where every group passes takes 2.5-3 minutes: the deadlines cost only when something fails.
 */
const SUITE_MS = 390_000;

// ## The networks

interface Network {
  title: string;
  request: NetworkRequest;
  /** Why it fails today (see the header); absent where it must pass. */
  todo?: string;
}

const NETWORKS: Network[] = [
  {
    title: 'control: a faithful proxy in front of a relay without a byte budget',
    request: { budget: 0, doors: [{}], history: HISTORY },
  },
  {
    title: 'control: a faithful proxy in front of a relay with a 12,288-byte budget',
    request: { budget: BUDGET, doors: [{}], history: HISTORY },
  },
  {
    title: '(a) every TCP connection frozen after 16 KB from the relay',
    request: { budget: BUDGET, doors: [{ mode: 'freeze' }], history: HISTORY },
  },
  {
    title: '(b) WebSocket upgrades refused while plain HTTP passes',
    request: {
      budget: BUDGET,
      doors: [{ mode: 'no-upgrade' }],
      history: HISTORY,
    },
  },
  {
    title: '(c) every TCP connection frozen 30 s after it opens',
    request: {
      budget: BUDGET,
      doors: [{ mode: 'freeze-after-time', freezeAfterMs: 30_000 }],
      history: HISTORY,
    },
  },
  {
    title: '(d) random stalls of 1-5 s',
    request: {
      budget: BUDGET,
      doors: [{ mode: 'stall', seed: 7 }],
      history: HISTORY,
    },
  },
  {
    title: '(e) the first front door refuses connections',
    request: {
      budget: BUDGET,
      doors: [{ mode: 'refuse' }, {}],
      history: HISTORY,
    },
  },
  {
    title: '(e) the first front door is a black hole',
    request: {
      budget: BUDGET,
      doors: [{ mode: 'blackhole' }, {}],
      history: HISTORY,
    },
  },
];

// ## Waiting without sleeping

class Failure {
  constructor(readonly why: string) {}
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** What `work` gave, or a Failure saying why or that it took longer than `ms`. Never rejects. */
async function attempt<T>(what: string, ms: number, work: () => Promise<T>): Promise<T | Failure> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const started = Date.now();
  const late = new Promise<Failure>(
    (resolve) => (timer = setTimeout(() => resolve(new Failure(`${what}: no answer in ${seconds(ms)}`)), ms)),
  );
  const done = work().then(
    (value) => value,
    (error: unknown) =>
      new Failure(
        `${what} failed after ${seconds(Date.now() - started)}: ${error instanceof Error ? error.message : String(error)}`,
      ),
  );
  try {
    return await Promise.race([done, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `probe` every `everyMs` until it holds or `ms` passes; says which. */
async function waitFor(probe: () => Promise<boolean>, ms: number, everyMs = 500): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Runs at most `width` pieces of work at a time, the rest in the order they came. */
function gate(width: number): <T>(work: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: Array<() => void> = [];
  return async (work) => {
    if (running >= width) await new Promise<void>((resolve) => queue.push(resolve));
    running++;
    try {
      return await work();
    } finally {
      running--;
      queue.shift()?.();
    }
  };
}

/** Groups setting up at once (see converse). */
const settingUp = gate(3);

// ## Judging what arrived

/** 0,1,2,3,7,9,10 → "0-3, 7, 9-10"; long lists are cut. */
function ranges(numbers: number[]): string {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j;
  }
  return parts.length > 8 ? `${parts.slice(0, 8).join(', ')}, …` : parts.join(', ');
}

/** "L bot 12 …" → ['bot', 12]; "H 5 …" → ['H', 5]. */
function parse(text: string): [string, number] {
  const words = text.split(' ');
  return isHistory(text) ? ['H', Number(words[1])] : [words[1]!, Number(words[2])];
}

/** Problems with A's history: what is missing, held twice, or out of order. */
function historyProblems(report: ParticipantReport): string[] {
  const held = report.messages.filter(([, text]) => isHistory(text));
  const indices = held.map(([, text]) => parse(text)[1]);
  const problems: string[] = [];
  const missing = Array.from({ length: HISTORY }, (_, i) => i).filter((i) => !indices.includes(i));
  if (missing.length > 0)
    problems.push(
      `${report.name} holds ${HISTORY - missing.length} of ${HISTORY} history messages; missing H ${ranges(missing)}`,
    );
  const twice = indices.filter((index, position) => indices.indexOf(index) !== position);
  if (twice.length > 0)
    problems.push(`${report.name} holds ${twice.length} history messages twice: H ${ranges(twice)}`);
  const disorder = indices.findIndex((index, position) => position > 0 && index <= indices[position - 1]!);
  if (disorder > 0)
    problems.push(
      `${report.name}'s history is out of order at position ${disorder}: H ${indices[disorder - 1]} then H ${indices[disorder]}`,
    );
  return problems;
}

/** Problems with the live messages at every member, and between them. */
function liveProblems(reports: ParticipantReport[]): string[] {
  const problems: string[] = [];
  const orders = new Map<string, string[]>();
  for (const report of reports) {
    const stored = report.messages.filter(([seq, text, state]) => isLive(text) && seq !== null && state === 'sent');
    const texts = stored.map(([, text]) => text);
    orders.set(
      report.name,
      stored.map(([seq, text]) => `${seq}:${parse(text).join(' ')}`),
    );
    for (const [sender, count] of SENDERS) {
      const indices = texts.filter((text) => parse(text)[0] === sender).map((text) => parse(text)[1]);
      const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !indices.includes(i));
      if (missing.length > 0)
        problems.push(`${report.name} lacks ${missing.length} of ${sender}'s ${count}: ${ranges(missing)}`);
      const twice = indices.filter((index, position) => indices.indexOf(index) !== position);
      if (twice.length > 0)
        problems.push(`${report.name} holds ${twice.length} of ${sender}'s twice: ${ranges(twice)}`);
      const disorder = indices.findIndex((index, position) => position > 0 && index < indices[position - 1]!);
      if (disorder > 0)
        problems.push(
          `${report.name} holds ${sender}'s out of the order sent: ${indices[disorder - 1]} before ${indices[disorder]}`,
        );
    }
    const seqs = stored.map(([seq]) => seq!);
    const unordered = seqs.findIndex((seq, position) => position > 0 && seq <= seqs[position - 1]!);
    if (unordered > 0) problems.push(`${report.name} holds seq ${seqs[unordered - 1]} before seq ${seqs[unordered]}`);
    const own = report.messages.filter(
      ([, text, state]) => isLive(text) && parse(text)[0] === report.name && state !== 'sent',
    );
    if (own.length > 0)
      problems.push(
        `${report.name}'s own: ${own.filter(([, , state]) => state === 'pending').length} still pending, ${own.filter(([, , state]) => state === 'failed').length} failed`,
      );
  }
  // The same messages under the same numbers everywhere: one history, not three.
  const [first, ...others] = reports;
  for (const other of first ? others : []) {
    const mine = orders.get(first!.name)!;
    const theirs = orders.get(other.name)!;
    const at = mine.findIndex((entry, position) => theirs[position] !== undefined && theirs[position] !== entry);
    if (at >= 0)
      problems.push(`${first!.name} and ${other.name} differ at live message ${at}: ${mine[at]} against ${theirs[at]}`);
  }
  return problems;
}

const door = (stats: ProxyStats | null, index: number): string =>
  stats
    ? `door ${index + 1}: ${stats.connections} TCP connections (${stats.open} open), ${(stats.bytesToClient / 1024).toFixed(0)} KB to clients, ${stats.refusedUpgrades} upgrades refused, ${stats.stalls} stalls`
    : `door ${index + 1}: the relay itself`;

/** One line per member and per door: what the failure message shows besides the problems. */
function context(reports: ParticipantReport[], stats: Array<ProxyStats | null>, timings: string[]): string {
  const members = reports.map(
    (report) =>
      `  ${report.name}${report.visibility === 'hidden' ? ' (a hidden page: timers throttled)' : ''}: transports ${report.transports.join('→')}, states ${report.states.join('→') || 'none'}, ` +
      `handed over ${report.handedOver} (last stored ${report.lastStored}), live ${report.live}/${LIVE}, history ${report.history}, loadOlder ${report.olderCalls} calls` +
      `${report.presence.length ? `, notices ${report.presence.join(' ')}` : ''}${report.errors.length ? `, errors: ${report.errors.slice(0, 3).join('; ')}` : ''}`,
  );
  return [...members, ...stats.map((one, index) => `  ${door(one, index)}`), `  ${timings.join(', ')}`].join('\n');
}

// ## One group's conversation

interface Outcome {
  /** What stopped the conversation before a step (nobody registered, say): every step fails with it. */
  stopped: string | null;
  history: string[];
  live: string[];
  presence: string[];
  context: string;
}

/** Runs one group's conversation; `timings` gets each step as it is reached. */
async function converse(network: Network, timings: string[]): Promise<Outcome> {
  const outcome: Outcome = {
    stopped: null,
    history: [],
    live: [],
    presence: [],
    context: '',
  };
  const started = Date.now();
  const mark = (what: string): void => void timings.push(`${what} at ${seconds(Date.now() - started)}`);
  let info: NetworkInfo | undefined;
  const members: Member[] = [];
  let reports: ParticipantReport[] = [];
  let stats: Array<ProxyStats | null> = [];
  try {
    // Setting up (a relay started twice, 1,000 messages seeded, two pages loaded, three scrypt
    // registrations) is not under test, and nine groups at once on two busy cores took over a
    // minute: three groups at a time.
    const ids = await settingUp(async () => {
      const started = await startNetwork(network.request);
      info = started;
      const doors = started.doors;
      mark('relay and proxies up');
      const made = await attempt('opening pages A and B and starting the bot', SETUP_MS, async () => [
        await pageMember({ name: 'A', doors }),
        await pageMember({ name: 'B', doors }),
        await botMember(started.network, 'bot'),
      ]);
      if (made instanceof Failure) throw made;
      members.push(...made);
      mark('pages A and B and the bot up');
      const registered = await Promise.all(
        members.map((member) => attempt(`${member.name}'s registration`, REGISTER_MS, () => member.register())),
      );
      const unregistered = registered.filter((id): id is Failure => id instanceof Failure);
      if (unregistered.length > 0) throw new Failure(unregistered.map((failure) => failure.why).join('; '));
      mark('registered');
      return registered as number[];
    });
    const { room } = info!;
    const joins = await Promise.all(
      members.map((member) => attempt(`${member.name}'s join()`, JOIN_MS, () => member.join(room))),
    );
    const unjoined = joins.filter((join): join is Failure => join instanceof Failure);
    if (unjoined.length > 0) throw new Failure(unjoined.map((failure) => failure.why).join('; '));
    mark('joined');

    // Notices count as false from the moment each member sees the other two: before that, a join
    // notice is the truth.
    const users = Object.fromEntries(members.map((member, index) => [member.name, ids[index]!]));
    const everyone = Object.values(users);
    let onlineLists: number[][] = [];
    const seen = await waitFor(async () => {
      onlineLists = (await Promise.all(members.map((member) => member.progress()))).map((one) => one.online);
      return onlineLists.every((online) => everyone.every((id) => online.includes(id)));
    }, ONLINE_MS);
    if (!seen) {
      const lists = members
        .map((member, index) => `${member.name} [${onlineLists[index]?.join(', ') ?? '?'}]`)
        .join(', ');
      outcome.presence.push(
        `not everyone saw all three online within ${seconds(ONLINE_MS)} (ids ${JSON.stringify(users)}): ${lists}`,
      );
    }
    await Promise.all(members.map((member) => member.watch(users)));
    mark('online');

    const a = members[0]!;
    const historyDeadline = Date.now() + HISTORY_MS;
    await attempt("A's loadOlder() calls", HISTORY_MS, () => a.loadHistory(historyDeadline));
    await waitFor(async () => (await a.progress()).history >= HISTORY, historyDeadline - Date.now());
    outcome.history = historyProblems(await a.report());
    mark('history');

    await Promise.all(
      members.map((member, index) =>
        member.startSending(SENDERS[index]![1], Math.round(LIVE_SPAN_MS / SENDERS[index]![1])),
      ),
    );
    // Until everyone has handed over its last message (on time unless a page is very busy), then
    // until everyone holds all of them, or SETTLE_MS has passed.
    const handed = await waitFor(async () => {
      const progress = await Promise.all(members.map((member) => member.progress()));
      return progress.every((one, index) => one.handedOver >= SENDERS[index]![1]);
    }, 2 * LIVE_SPAN_MS);
    if (!handed)
      outcome.live.push(
        `not every member had handed its messages to send() ${seconds(2 * LIVE_SPAN_MS)} after it began`,
      );
    await waitFor(async () => {
      const progress = await Promise.all(members.map((member) => member.progress()));
      return progress.every((one) => one.live >= LIVE && one.unsent === 0);
    }, SETTLE_MS);
    mark('live');
  } catch (error) {
    outcome.stopped = error instanceof Failure ? error.why : error instanceof Error ? error.message : String(error);
  } finally {
    reports = await Promise.all(members.map((member) => member.report().catch(() => null))).then((all) =>
      all.filter((one): one is ParticipantReport => one !== null),
    );
    if (info) stats = await networkStats(info.network).catch(() => []);
    await Promise.all(members.map((member) => member.close()));
    if (info) await stopNetwork(info.network).catch(() => undefined);
  }
  if (!outcome.stopped) {
    outcome.live.push(...liveProblems(reports));
    for (const report of reports)
      if (report.presence.length) outcome.presence.push(`${report.name} saw ${report.presence.join(', ')}`);
  }
  outcome.context = context(reports, stats, timings);
  return outcome;
}

// ## The seed's flows over the HTTP transport alone, on (b)

const FLOWS_TITLE =
  "(b) the seed's flows over the HTTP transport alone (transport: 'http', every WebSocket upgrade refused)";
const FLOWS = [
  'register',
  'update the profile',
  'upload an avatar',
  'resume after a reload',
  'Exit',
  'log in',
] as const;
type Flow = (typeof FLOWS)[number];

/** A 300x200 picture, as a user's photo would be. */
async function photo(): Promise<Blob> {
  const canvas = new OffscreenCanvas(300, 200);
  const context = canvas.getContext('2d')!;
  context.fillStyle = 'rgb(20, 160, 150)';
  context.fillRect(0, 0, 300, 200);
  return canvas.convertToBlob({ type: 'image/png' });
}

/**
 * Runs the flows one after another through a proxy that refuses every WebSocket upgrade, with
 * `transport: 'http'`; each flow's problem, or null. A flow after a failed one is not reached.
 */
async function httpFlows(): Promise<Map<Flow, string | null>> {
  const results = new Map<Flow, string | null>();
  const info = await startNetwork({
    budget: BUDGET,
    doors: [{ mode: 'no-upgrade' }],
    history: 0,
  });
  const database = freshUsername('http');
  const options: SovClientOptions = {
    relay: info.doors,
    transport: 'http',
    storage: indexedDbStorage(database),
  };
  const username = freshUsername('http');
  const clients: SovClient[] = [];
  const client = (): SovClient => {
    const made = new SovClient(options);
    clients.push(made);
    return made;
  };
  /** Problems common to every flow: the transport in use, and any WebSocket attempt at all. */
  const onHttp = async (used: SovClient): Promise<string[]> => {
    const problems =
      used.transport === 'http-stream' ? [] : [`the transport in use is ${used.transport}, not http-stream`];
    const refused = (await networkStats(info.network))[0]?.refusedUpgrades ?? 0;
    return refused > 0
      ? [...problems, `with transport 'http' the client still tried ${refused} WebSocket upgrades`]
      : problems;
  };
  const step = async (flow: Flow, work: () => Promise<string[]>): Promise<boolean> => {
    const outcome = await attempt(flow, REGISTER_MS, work);
    let problems = outcome instanceof Failure ? [outcome.why] : outcome;
    if (problems.length > 0) {
      const stats = (await networkStats(info.network).catch(() => []))[0];
      const used = clients.at(-1);
      problems = [...problems, `(transport ${used ? used.transport : 'none'}; ${door(stats ?? null, 0)})`];
    }
    results.set(flow, problems.length ? problems.join('; ') : null);
    return problems.length === 0;
  };
  let expected: Profile | null = null;
  try {
    const first = client();
    const steps: Array<[Flow, () => Promise<string[]>]> = [
      [
        'register',
        async () => {
          await first.register({
            username,
            password: PASSWORD,
            firstName: 'Анна',
            lastName: 'HTTP',
          });
          return onHttp(first);
        },
      ],
      [
        'update the profile',
        async () => {
          expected = await first.updateProfile({
            firstName: 'Мария',
            lastName: 'Поток',
          });
          return [
            ...(expected.firstName === 'Мария' ? [] : [`the profile says ${expected.firstName}`]),
            ...(await onHttp(first)),
          ];
        },
      ],
      [
        'upload an avatar',
        async () => {
          expected = await first.setAvatar(await photo());
          const url = first.avatarUrl(expected);
          const served = url ? await fetch(url) : null;
          const type = served?.headers.get('content-type') ?? 'nothing';
          return [
            ...(served?.ok && type === 'image/png'
              ? []
              : [`the avatar at ${url} served ${served?.status ?? 'no'} ${type}`]),
            ...(await onHttp(first)),
          ];
        },
      ],
      [
        'resume after a reload',
        async () => {
          first.close();
          const again = client();
          if (!(await again.resume())) return ['resume() found no session after the reload'];
          const room = await again.join(freshUsername('room').toLowerCase());
          const sent = await room.send('после перезагрузки');
          const problems = [
            ...(again.user?.firstName === 'Мария' && again.user.avatar === expected!.avatar
              ? []
              : [`the resumed profile is ${JSON.stringify(again.user)}`]),
            ...(sent.state === 'sent' ? [] : [`a message after the reload is ${sent.state}`]),
          ];
          return [...problems, ...(await onHttp(again))];
        },
      ],
      [
        'Exit',
        async () => {
          const current = clients.at(-1)!;
          await current.logout();
          current.close();
          return (await client().resume()) ? ['after Exit, a reloaded client still resumes the session'] : [];
        },
      ],
      [
        'log in',
        async () => {
          const last = clients.at(-1)!;
          const user = await last.login({ username, password: PASSWORD });
          return [
            ...(user.firstName === 'Мария' && user.avatar === expected!.avatar
              ? []
              : [`logged in as ${JSON.stringify(user)}`]),
            ...(await onHttp(last)),
          ];
        },
      ],
    ];
    let failed: Flow | null = null;
    for (const [flow, work] of steps) {
      if (failed) results.set(flow, `not reached: "${failed}" failed`);
      else if (!(await step(flow, work))) failed = flow;
    }
  } finally {
    for (const made of clients) made.close();
    await stopNetwork(info.network).catch(() => undefined);
  }
  return results;
}

// ## The tests

describe('hostile networks: two Chromium pages and a Node bot converse (issue 10, point 7)', function () {
  let strict = false;
  let only: string | null = null;
  let suiteEnds = Date.now() + SUITE_MS;
  const outcomes = new Map<Network, Promise<Outcome>>();
  const timings = new Map<Network, string[]>();
  let flows: Promise<Map<Flow, string | null>> | undefined;

  before(async () => {
    suiteEnds = Date.now() + SUITE_MS;
    ({ strict, only } = await harnessConfig());
    for (const network of NETWORKS) {
      if (!chosen(network.title)) continue;
      timings.set(network, []);
      outcomes.set(network, converse(network, timings.get(network)!));
    }
    if (chosen(FLOWS_TITLE)) flows = settingUp(httpFlows);
  });

  /** `work`, or a failure at the suite's deadline saying how far the group got (`reached`). */
  const inTime = async <T>(work: Promise<T>, reached: () => string): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `not finished by the suite's deadline (${seconds(SUITE_MS)} from its start); reached: ${reached() || 'nothing'}`,
            ),
          ),
        suiteEnds - Date.now(),
      );
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  };

  /** SOV_HOSTILE_ONLY=text runs only the groups whose title contains it (the others are skipped). */
  const chosen = (title: string): boolean => only === null || title.includes(only);

  /**
   * A test that fails today for the reason given: in npm test it is skipped when it fails, with the
   * failure printed; under SOV_HOSTILE_STRICT=1 it fails.
   */
  function check(title: string, todo: string | undefined, body: () => Promise<void>, running: () => boolean): void {
    it(title, async function () {
      if (!running()) this.skip();
      // inTime gives up at the suite's deadline; this only keeps mocha from giving up first.
      this.timeout(suiteEnds - Date.now() + 10_000);
      try {
        await body();
      } catch (error) {
        if (!todo || strict) throw error;
        console.warn(`todo (${todo}): ${title}\n${error instanceof Error ? error.message : String(error)}`);
        this.skip();
      }
    });
  }

  const verdict = (problems: string[], outcome: Outcome): void => {
    const all = outcome.stopped ? [`the conversation stopped: ${outcome.stopped}`] : problems;
    if (all.length > 0) throw new Error(`${all.join('\n')}\n${outcome.context}`);
  };

  for (const network of NETWORKS) {
    describe(network.title, () => {
      const outcome = (): Promise<Outcome> => inTime(outcomes.get(network)!, () => timings.get(network)!.join(', '));
      const running = (): boolean => outcomes.has(network);
      const title = `page A loads the ${HISTORY.toLocaleString('en')}-message history with loadOlder(): all of it, in order, none twice`;
      check(title, network.todo, async () => verdict((await outcome()).history, await outcome()), running);
      check(
        `${LIVE} live messages from A, B and the bot reach all three: all of them, in the relay's order, none twice`,
        network.todo,
        async () => verdict((await outcome()).live, await outcome()),
        running,
      );
      check(
        'nobody sees a join or leave notice for someone who stayed',
        network.todo,
        async () => verdict((await outcome()).presence, await outcome()),
        running,
      );
    });
  }

  describe(FLOWS_TITLE, () => {
    for (const flow of FLOWS) {
      check(
        flow,
        undefined,
        async () => {
          const problem = (await inTime(flows!, () => '')).get(flow);
          if (problem) throw new Error(problem);
        },
        () => flows !== undefined,
      );
    }
  });
});
