/**
 * One member of a hostile-network conversation (issue 10, point 7): a SovClient in one room that
 * records what it sees, so the test can say afterwards what arrived, in what order, how often, and
 * which join or leave notices it showed. The same code runs in pages A and B (hostile-peer.ts) and
 * in the Node bot (hostile-harness.ts), so the three are judged by one yardstick.
 */
import { SovClient } from '../../sdk/client.ts';
import { SovError, isTransient } from '../../sdk/errors.ts';
import type { SovClientOptions } from '../../sdk/client.ts';
import type { WebSocketConstructor } from '../../sdk/connection.ts';
import type { Room } from '../../sdk/room.ts';
import type { StorageAdapter } from '../../sdk/storage.ts';
import type { TransportChoice } from '../../sdk/transports/ladder.ts';

export type { TransportChoice };

// ## What the tests exchange

/** Long enough that a conversation adds up to kilobytes quickly, as real ones with links and quotes do (test/relay/hostile-networks.test.ts). */
export const FILLER =
  'Сообщение средней длины: чтобы разговор быстро набирал килобайты, как настоящий, со ссылками и цитатами.';
export const PASSWORD = 'hostile networks need passwords too';
/** How often a participant tries to register before the suite gives up on it (each try can meet a stall). */
const REGISTRATION_ATTEMPTS = 5;
/** Seeded history: `H 0 …` is the oldest. */
export const historyText = (index: number): string => `H ${index} ${FILLER}`;
/** A live message: `L A 3 …` is the fourth that A sent. */
export const liveText = (sender: string, index: number): string => `L ${sender} ${index} ${FILLER}`;
export const isHistory = (text: string): boolean => text.startsWith('H ');
export const isLive = (text: string): boolean => text.startsWith('L ');

export interface ParticipantSetup {
  /** A, B or bot: named in texts and reports. */
  name: string;
  doors: string[];
  transport?: TransportChoice;
}

/** One message as a participant holds it: [seq, text, state]. */
export type Held = [number | null, string, string];

export interface Progress {
  /** Live messages stored by the relay that this participant holds. */
  live: number;
  /** Seeded history messages it holds. */
  history: number;
  /** Its own live messages still pending or failed. */
  unsent: number;
  /** Its own live messages handed to room.send() so far. */
  handedOver: number;
  online: number[];
  state: string;
  transport: string;
  /** The page's visibilityState ('node' for the bot): a hidden page's timers are throttled, which would skew every timing. */
  visibility: string;
}

export interface ParticipantReport extends Progress {
  name: string;
  userId: number | null;
  /** Every message it holds, in its order. */
  messages: Held[];
  /** Join and leave notices shown for watched users since `watch`: "leave B", "join bot". */
  presence: string[];
  /** Every transport it used, in order, repeats collapsed. */
  transports: string[];
  /** Connection states it went through (connected, reconnecting, ...) with seconds since it was made, repeats collapsed. */
  states: string[];
  /** loadOlder() calls made and what they brought. */
  olderCalls: number;
  errors: string[];
  /** Its last live message the relay stored, and when (seconds since it was made). */
  lastStored: string;
}

let names = 0;
/** A fresh username: letters and digits, unique across pages and processes. */
export function freshUsername(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${(++names).toString(36)}${Math.random().toString(36).slice(2, 7)}`;
}

const collapse = (list: string[], next: string): void => void (list.at(-1) !== next && list.push(next));
const message = (error: unknown): string =>
  error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);

export class Participant {
  readonly client: SovClient;
  room: Room | null = null;
  readonly username: string;
  private readonly presence: string[] = [];
  private readonly transports: string[] = [];
  private readonly states: string[] = [];
  private readonly errors: string[] = [];
  private watched = new Map<number, string>();
  private olderCalls = 0;
  private handedOver = 0;
  private readonly made = Date.now();
  /** When the relay last stored one of its live messages (the outbox moving). */
  private lastStored = 'never';

  constructor(
    readonly setup: ParticipantSetup,
    storage: StorageAdapter,
    WebSocket?: WebSocketConstructor,
  ) {
    const options: SovClientOptions = {
      relay: setup.doors,
      storage,
      ...(WebSocket ? { WebSocket } : {}),
      ...(setup.transport ? { transport: setup.transport } : {}),
    };
    this.client = new SovClient(options);
    this.username = freshUsername(setup.name.toLowerCase());
    this.transports.push(this.client.transport);
    this.client.on('transport', (name) => collapse(this.transports, name));
    this.client.on(
      'state',
      ({ state }) => this.states.at(-1)?.startsWith(`${state} `) || this.states.push(`${state} ${this.age()}`),
    );
  }

  /**
   * Registers as a person would on this network: a request caught in a stall fails (NETWORK, the
   * connection froze), and they try again; when the first try was stored after all, the next one
   * says USERNAME_TAKEN and they sign in with the same password.
   */
  async register(): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const user = await this.client.register({
          username: this.username,
          password: PASSWORD,
          firstName: 'Тест',
          lastName: this.setup.name,
        });
        return user.id;
      } catch (error) {
        if (attempt > 1 && error instanceof SovError && error.code === 'USERNAME_TAKEN') {
          return (await this.client.login({ username: this.username, password: PASSWORD })).id;
        }
        if (!isTransient(error) || attempt === REGISTRATION_ATTEMPTS) throw error;
      }
    }
  }

  async join(room: string): Promise<void> {
    this.room = await this.client.join(room);
    this.room.on(
      'join',
      (user) => this.watched.has(user.id) && this.presence.push(`join ${this.watched.get(user.id)}`),
    );
    this.room.on(
      'leave',
      ({ userId }) => this.watched.has(userId) && this.presence.push(`leave ${this.watched.get(userId)}`),
    );
  }

  /** From now on, a join or leave notice for one of these users (who stay throughout) is recorded as false. */
  watch(users: Record<string, number>): void {
    this.watched = new Map(Object.entries(users).map(([name, id]) => [id, name]));
  }

  /** Calls loadOlder() until nothing older is left or `untilMs` (epoch ms) passes; failures are recorded, not thrown. */
  async loadHistory(untilMs: number): Promise<void> {
    const room = this.requireRoom();
    // Until the relay has answered for the room (a join whose connection froze resolves before),
    // whether older messages are kept is not known yet.
    while ((!room.synced || room.hasOlder) && Date.now() < untilMs) {
      if (!room.synced) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      this.olderCalls++;
      try {
        await room.loadOlder();
      } catch (error) {
        this.errors.push(`loadOlder() #${this.olderCalls}: ${message(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  /**
   * Hands `count` live messages to room.send(), the i-th at `i * everyMs` from now, and resolves once
   * the last is handed over (not when it is stored: the outbox carries it from there, as for a user).
   * By the clock, not a sleep after each: a busy page's late timers must not stretch the conversation.
   */
  async sendPaced(count: number, everyMs: number): Promise<void> {
    const room = this.requireRoom();
    const start = Date.now();
    for (let i = 0; i < count; i++) {
      const wait = start + i * everyMs - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      room
        .send(liveText(this.setup.name, i))
        .then(() => (this.lastStored = `#${i} at ${this.age()}`))
        .catch((error: unknown) => this.errors.length < 20 && this.errors.push(`send ${i}: ${message(error)}`));
      this.handedOver++;
    }
  }

  progress(): Progress {
    const held = this.room?.messages ?? [];
    return {
      live: held.filter((m) => m.seq !== null && m.state === 'sent' && isLive(m.text)).length,
      history: held.filter((m) => m.seq !== null && isHistory(m.text)).length,
      unsent: held.filter((m) => m.state !== 'sent' && m.author === this.client.user?.id).length,
      handedOver: this.handedOver,
      online: this.room?.online.map((user) => user.id) ?? [],
      state: this.client.state,
      transport: this.client.transport,
      visibility: typeof document === 'undefined' ? 'node' : document.visibilityState,
    };
  }

  report(): ParticipantReport {
    return {
      ...this.progress(),
      name: this.setup.name,
      userId: this.client.user?.id ?? null,
      messages: (this.room?.messages ?? []).map((m): Held => [m.seq, m.text, m.state]),
      presence: [...this.presence],
      transports: [...this.transports],
      states: [...this.states],
      olderCalls: this.olderCalls,
      errors: [...this.errors],
      lastStored: this.lastStored,
    };
  }

  close(): void {
    this.client.close();
  }

  /** Seconds since it was made, for timelines. */
  private age(): string {
    return `${((Date.now() - this.made) / 1000).toFixed(1)}s`;
  }

  private requireRoom(): Room {
    if (!this.room) throw new Error(`${this.setup.name} has not joined a room`);
    return this.room;
  }
}

/** The calls a remote participant (a page, the bot) answers, by name, with JSON arguments and results. */
export type RemoteCall =
  | { method: 'register' }
  | { method: 'join'; room: string }
  | { method: 'watch'; users: Record<string, number> }
  | { method: 'loadHistory'; untilMs: number }
  | { method: 'sendPaced'; count: number; everyMs: number }
  | { method: 'progress' }
  | { method: 'report' }
  | { method: 'close' };

/** Runs one remote call on `participant`. sendPaced starts the sending and returns at once: the caller polls progress. */
export async function answer(participant: Participant, call: RemoteCall): Promise<unknown> {
  switch (call.method) {
    case 'register':
      return participant.register();
    case 'join':
      return participant.join(call.room);
    case 'watch':
      return participant.watch(call.users);
    case 'loadHistory':
      return participant.loadHistory(call.untilMs);
    case 'sendPaced':
      void participant.sendPaced(call.count, call.everyMs);
      return null;
    case 'progress':
      return participant.progress();
    case 'report':
      return participant.report();
    case 'close':
      return participant.close();
  }
}
