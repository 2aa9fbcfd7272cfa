/**
 * The Node side of the browser suite on hostile networks (hostile-networks.browser.test.ts): a
 * process of its own, forked by hostile-harness-plugin.mjs, that runs for each test group a relay,
 * the hostile proxies in front of it (test/helpers/hostile-proxy.ts) and the Node bot, and answers
 * the plugin over IPC.
 *
 * Why a process of its own: the config of web-test-runner is plain JavaScript and cannot import
 * these TypeScript helpers, and the bot's work (scrypt at registration, a signature check per
 * message) would otherwise share an event loop with the dev server that feeds the pages.
 *
 *   node --import tsx test/browser/hostile-harness.ts      (forked with an IPC channel; exits with its parent)
 */
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { memoryStorage } from '../../sdk/storage.ts';
import type { WebSocketConstructor } from '../../sdk/connection.ts';
import { TestClient, registerUser, signMessage } from '../helpers/client.ts';
import { startHostileProxy } from '../helpers/hostile-proxy.ts';
import type { HostileOptions, HostileProxy, ProxyStats } from '../helpers/hostile-proxy.ts';
import { startRelay, tempDataDir } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { Participant, answer, freshUsername, historyText } from './hostile-participant.ts';
import type { ParticipantSetup, RemoteCall, TransportChoice } from './hostile-participant.ts';

/** What a test group asks for: the relay's byte budget, and each front door's proxy in order (null: the relay itself). */
export interface NetworkRequest {
  /** --conn-budget; 0 for none. */
  budget: number;
  doors: Array<Omit<HostileOptions, 'target'> | null>;
  /** Messages of seeded history in a fresh room. */
  history: number;
}

export interface NetworkInfo {
  network: number;
  /** The doors' addresses in order, as `relay` takes them. */
  doors: string[];
  /** The relay itself, no proxy between: for what must not depend on the network under test. */
  direct: string;
  room: string;
}

export type HarnessRequest =
  | { op: 'network'; request: NetworkRequest }
  | { op: 'stats'; network: number }
  | { op: 'stop'; network: number }
  | { op: 'bot'; network: number; name: string; transport?: TransportChoice }
  | { op: 'call'; bot: number; call: RemoteCall };

interface Network {
  relay: RelayProcess;
  proxies: Array<HostileProxy | null>;
  bots: Participant[];
}

/** `ws` with a guard: the SDK drops its error handler before it terminates a socket still connecting, and `ws` then emits an error nobody handles (test/relay/hostile-networks.test.ts). */
class GuardedWebSocket extends WebSocket {
  constructor(url: string) {
    super(url);
    this.on('error', () => undefined);
  }
}

const networks = new Map<number, Network>();
/** Every relay started here and not yet stopped: none may outlive this process. */
const relays = new Set<RelayProcess>();

async function relayOn(dataDir?: string, args: string[] = []): Promise<RelayProcess> {
  const relay = await startRelay({ ...(dataDir ? { dataDir } : {}), args });
  relays.add(relay);
  relay.child.once('exit', () => relays.delete(relay));
  return relay;
}
const bots = new Map<number, Participant>();
let nextId = 1;

/**
 * Writes `count` messages into a fresh room straight to the relay: raw frames signed with
 * node:crypto, all in flight at once, so 1,000 take about a second instead of a client's outbox
 * sending them one by one.
 */
async function seed(relay: RelayProcess, count: number): Promise<string> {
  const room = freshUsername('history').toLowerCase();
  const writer = await TestClient.connect(relay.wsUrl);
  try {
    const user = await registerUser(writer, freshUsername('seeder'));
    await writer.call('join', { room });
    await Promise.all(
      Array.from({ length: count }, (_, i) => i).map((i) =>
        writer.call('send', signMessage(user, room, historyText(i))),
      ),
    );
  } finally {
    await writer.close();
  }
  return room;
}

const NOT_COPIED = new Set(['relay.lock', 'relay.id']);
const folders = new Map<number, Promise<{ folder: string; room: string }>>();

/**
 * A data folder whose room holds `count` seeded messages, copied for each network from one seeded
 * once per count: seeding costs two relay starts and a thousand signature checks, and the groups
 * set up while the machine is busiest. Seeded without a budget, by a relay that then makes way:
 * the seeder's one connection carries a thousand replies and their fan-out, far over any budget.
 */
async function seeded(count: number): Promise<{ dataDir: string; room: string }> {
  let original = folders.get(count);
  if (!original) {
    original = (async () => {
      const seeding = await relayOn();
      const room = await seed(seeding, count);
      await seeding.stop();
      return { folder: seeding.dataDir, room };
    })();
    folders.set(count, original);
  }
  const { folder, room } = await original;
  const dataDir = tempDataDir();
  // The lock names the relay that held the folder, and relay.id names a relay: each copy's relay is another one.
  fs.cpSync(folder, dataDir, {
    recursive: true,
    filter: (source) => !NOT_COPIED.has(path.basename(source)),
  });
  return { dataDir, room };
}

async function handle(request: HarnessRequest): Promise<unknown> {
  switch (request.op) {
    case 'network': {
      const { budget, doors, history } = request.request;
      const { dataDir, room } = await seeded(history);
      const relay = await relayOn(dataDir, ['--conn-budget', String(budget)]);
      const network: Network = { relay, proxies: [], bots: [] };
      const id = nextId++;
      networks.set(id, network);
      const target = { host: '127.0.0.1', port: relay.port };
      network.proxies = await Promise.all(doors.map((door) => (door ? startHostileProxy({ target, ...door }) : null)));
      const info: NetworkInfo = {
        network: id,
        doors: network.proxies.map((proxy) => proxy?.url ?? relay.url),
        direct: relay.url,
        room,
      };
      return info;
    }
    case 'stats': {
      const network = networks.get(request.network);
      if (!network) throw new Error(`no network ${request.network}`);
      return Promise.all(
        network.proxies.map((proxy): Promise<ProxyStats | null> => (proxy ? proxy.stats() : Promise.resolve(null))),
      );
    }
    case 'stop': {
      const network = networks.get(request.network);
      if (!network) return null;
      networks.delete(request.network);
      for (const bot of network.bots) bot.close();
      await Promise.all(network.proxies.map((proxy) => proxy?.stop()));
      await network.relay.stop();
      return null;
    }
    case 'bot': {
      const network = networks.get(request.network);
      if (!network) throw new Error(`no network ${request.network}`);
      const doors = network.proxies.map((proxy) => proxy?.url ?? network.relay.url);
      const setup: ParticipantSetup = {
        name: request.name,
        doors,
        ...(request.transport ? { transport: request.transport } : {}),
      };
      const bot = new Participant(setup, memoryStorage(), GuardedWebSocket as unknown as WebSocketConstructor);
      const id = nextId++;
      bots.set(id, bot);
      network.bots.push(bot);
      return id;
    }
    case 'call': {
      const bot = bots.get(request.bot);
      if (!bot) throw new Error(`no bot ${request.bot}`);
      return answer(bot, request.call);
    }
  }
}

process.on('message', (message: { id: number; request: HarnessRequest }) => {
  handle(message.request).then(
    (result) => process.send!({ id: message.id, result: result ?? null }),
    (error: unknown) =>
      process.send!({
        id: message.id,
        error: error instanceof Error ? `${error.message}` : String(error),
      }),
  );
});
// The relays are its children and go with it (relay-process.ts removes their folders on exit). The
// channel closes when web-test-runner exits, however it ends.
process.once('disconnect', () => {
  for (const relay of relays) relay.child.kill('SIGKILL');
  process.exit(0);
});
process.send!({ ready: true });
