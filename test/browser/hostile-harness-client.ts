/**
 * The test page's side of the hostile-network harness (hostile-harness-plugin.mjs): networks (a relay
 * with hostile proxies as its front doors), and the conversation's members wherever they run: in a
 * Chromium page of their own, or in the Node bot. Every member answers the same calls
 * (hostile-participant.ts).
 */
import { executeServerCommand } from '@web/test-runner-commands';
import type { ProxyStats } from '../helpers/hostile-proxy.ts';
import type { HarnessRequest, NetworkInfo, NetworkRequest } from './hostile-harness.ts';
import type {
  ParticipantReport,
  ParticipantSetup,
  Progress,
  RemoteCall,
  TransportChoice,
} from './hostile-participant.ts';

type Answer = { result?: unknown; error?: string; pending?: number };

/** Runs a server command of hostile-harness-plugin.mjs; work that outlasts one command's answer is waited for again. */
async function command<T>(name: string, payload: unknown): Promise<T> {
  let reply = await executeServerCommand<Answer, unknown>(name, payload);
  while (reply.pending !== undefined)
    reply = await executeServerCommand<Answer, unknown>('hostile-wait', {
      job: reply.pending,
    });
  if (reply.error !== undefined) throw new Error(reply.error);
  return reply.result as T;
}

const harness = <T>(request: HarnessRequest): Promise<T> => command<T>('hostile', request);

/** Starts a relay with the given budget, its doors' proxies, and a room with seeded history. */
export const startNetwork = (request: NetworkRequest): Promise<NetworkInfo> => harness({ op: 'network', request });
/** Each door's proxy figures (null for a door that is the relay itself). */
export const networkStats = (network: number): Promise<Array<ProxyStats | null>> => harness({ op: 'stats', network });
export const stopNetwork = (network: number): Promise<void> => harness({ op: 'stop', network });

/** SOV_HOSTILE_STRICT=1: tests marked todo fail for real. SOV_HOSTILE_ONLY=text: only the groups whose title contains it run. */
export const harnessConfig = (): Promise<{
  strict: boolean;
  only: string | null;
}> => command('hostile-config', {});

/** One member of the conversation, wherever it runs. */
export interface Member {
  readonly name: string;
  register(): Promise<number>;
  join(room: string): Promise<void>;
  watch(users: Record<string, number>): Promise<void>;
  loadHistory(untilMs: number): Promise<void>;
  /** Starts handing `count` messages to room.send(), one every `everyMs`; returns at once. */
  startSending(count: number, everyMs: number): Promise<void>;
  progress(): Promise<Progress>;
  report(): Promise<ParticipantReport>;
  close(): Promise<void>;
}

function member(
  name: string,
  call: (call: RemoteCall) => Promise<unknown>,
  closed: () => Promise<void> = async () => undefined,
): Member {
  return {
    name,
    register: () => call({ method: 'register' }) as Promise<number>,
    join: async (room) => void (await call({ method: 'join', room })),
    watch: async (users) => void (await call({ method: 'watch', users })),
    loadHistory: async (untilMs) => void (await call({ method: 'loadHistory', untilMs })),
    startSending: async (count, everyMs) => void (await call({ method: 'sendPaced', count, everyMs })),
    progress: () => call({ method: 'progress' }) as Promise<Progress>,
    report: () => call({ method: 'report' }) as Promise<ParticipantReport>,
    close: async () => {
      await call({ method: 'close' }).catch(() => undefined);
      await closed();
    },
  };
}

/** A participant in a second Chromium page, opened now. */
export async function pageMember(setup: ParticipantSetup): Promise<Member> {
  const page = await command<number>('hostile-page', { op: 'open' });
  const call = (call: RemoteCall | { method: 'create'; setup: ParticipantSetup }): Promise<unknown> =>
    command('hostile-page', { op: 'call', page, call });
  await call({ method: 'create', setup });
  return member(setup.name, call, () => command('hostile-page', { op: 'close', page }));
}

/** The Node bot: the SDK in Node with `ws` and memory storage, through the network's doors. */
export async function botMember(network: number, name: string, transport?: TransportChoice): Promise<Member> {
  const bot = await harness<number>({
    op: 'bot',
    network,
    name,
    ...(transport ? { transport } : {}),
  });
  return member(name, (call) => harness({ op: 'call', bot, call }));
}
