/**
 * Front doors: the several addresses at which one relay can be reached (the host's own, a domain
 * behind a CDN, a path that another site proxies). On censored networks addresses burn: blocked
 * within hours, or left off a whitelist during a shutdown, so a relay is given several and the
 * client needs only one of them to work.
 *
 * The client tries one door at a time, in the order given, starting from the one that worked last
 * (kept in storage). It leaves a door after an attempt that got no hello in time (a black hole:
 * HELLO_TIMEOUT_MS) or after FAILURES_TO_LEAVE attempts in a row that failed outright (refused,
 * closed before the hello). Only one attempt is ever in flight: no burst of parallel connections
 * for a censor to notice or for the relay to count against the user's address.
 *
 * Every door must lead to the same relay, and the relay names itself in its hello (`relayId`).
 * The client keeps that id with its session and refuses a door that names another relay before
 * the session token goes out (client.ts, the handshake, WRONG_RELAY); such a door is then tried
 * only when every other door has failed too.
 */
import type { AttemptFailure, AttemptTarget } from './connection.ts';
import { SovError } from './errors.ts';
import { RELAY_ID_PATTERN, WS_PATH } from './protocol/frames.ts';
import type { StorageAdapter } from './storage.ts';

// ## Addresses

export interface Door {
  /** The door as the SDK names it: `ws://` or `wss://`, the host, the path without a trailing slash. */
  address: string;
  /** Its WebSocket endpoint: `address` followed by /v1/ws (a proxy that strips a path prefix gets /prefix/v1/ws). */
  ws: string;
  /** Its `http(s)://` base: avatar paths and the upload are relative to it. */
  http: string;
}

/**
 * The doors of the `relay` option: one address, several separated by white space (as the
 * `<sov-chat relay="...">` attribute holds them), or a list. Each may be `wss://`, `ws://`,
 * `https://` or `http://`; the path is kept, a trailing slash, the query and the fragment are
 * dropped. A door given twice counts once.
 *
 * @throws SovError INVALID_INPUT when there is no address, or one is not a relay address.
 * @example parseDoors('wss://a.example https://b.example/chat/')
 *   // [{ address: 'wss://a.example', ... }, { address: 'wss://b.example/chat', ws: 'wss://b.example/chat/v1/ws', http: 'https://b.example/chat' }]
 */
export function parseDoors(relay: string | readonly string[]): Door[] {
  const given = (typeof relay === 'string' ? [relay] : [...relay]).flatMap((entry) => (typeof entry === 'string' ? entry.split(/\s+/) : [entry])).filter((entry) => entry !== '');
  if (given.length === 0) throw new SovError('INVALID_INPUT', 'Give the relay address, like wss://chat.example.org.');
  const doors = new Map<string, Door>();
  for (const entry of given) {
    const door = parseDoor(entry);
    if (!doors.has(door.address)) doors.set(door.address, door);
  }
  return [...doors.values()];
}

function parseDoor(entry: unknown): Door {
  let url: URL;
  try {
    url = new URL(String(entry));
  } catch {
    throw new SovError('INVALID_INPUT', `"${String(entry)}" is not a relay address like wss://chat.example.org.`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) throw new SovError('INVALID_INPUT', `The relay address "${String(entry)}" must start with wss://, ws://, https:// or http://.`);
  const secure = url.protocol === 'wss:' || url.protocol === 'https:';
  const base = `${url.host}${url.pathname.replace(/\/+$/, '')}`;
  const address = `${secure ? 'wss' : 'ws'}://${base}`;
  return { address, ws: `${address}${WS_PATH}`, http: `${secure ? 'https' : 'http'}://${base}` };
}

/** The relay id a hello names, or null for a relay that names none (older than ids) or a malformed one. */
export function relayIdOf(hello: unknown): string | null {
  const relayId = typeof hello === 'object' && hello !== null ? (hello as { relayId?: unknown }).relayId : undefined;
  return typeof relayId === 'string' && RELAY_ID_PATTERN.test(relayId) ? relayId : null;
}

// ## Choosing a door

/**
 * Attempts in a row that failed outright (refused, closed before the hello, a failed handshake)
 * before the client leaves a door: one may be a blip (a phone moving between networks, the relay
 * restarting), two in a row are a door that does not work. With the reconnect backoff after each
 * (0.25-0.5 s, then 0.5-1 s) a refusing first door costs 0.9-1.4 s (test/relay/front-doors.test.ts).
 */
export const FAILURES_TO_LEAVE = 2;

/**
 * How long an attempt waits for the relay's hello before its door is left: a black-holed door
 * holds the user this long and no longer. A hello takes three round trips (TCP, TLS 1.3, the
 * WebSocket upgrade; the hello comes with the upgrade's answer): under 2.5 s even at the 800 ms
 * round trips of a congested mobile network, plus 1 s for a lost SYN (the first retransmission,
 * RFC 6298). A door that was silent before waits twice as long on its next turn, up to
 * HELLO_TIMEOUT_MAX_MS, so a network that is merely that slow still gets through. (The
 * heartbeat's own silence check, two heartbeats, gives up first when it is shorter.) A black-holed
 * first door costs 4.3-4.5 s in all (test/relay/front-doors.test.ts).
 */
export const HELLO_TIMEOUT_MS = 4000;
export const HELLO_TIMEOUT_MAX_MS = 32_000;

/** The client's doors: which one to try now, and what to make of each attempt's end. */
export class FrontDoors implements AttemptTarget {
  /** Settles once the door that worked last has been read from storage. */
  readonly recalled: Promise<void>;
  private index = 0;
  private failures = 0;
  private attempted = false;
  /** Per door: attempts in a row that went unanswered, which lengthen its next wait. */
  private readonly silences: number[];
  /** Doors that led to another relay than the session's. */
  private readonly wrong = new Set<number>();

  /**
   * @param doors from parseDoors
   * @param storage where the door that worked last is kept, under `memoryKey`
   * @param changed told of the door whenever attempts move to another one
   */
  constructor(
    readonly doors: readonly Door[],
    private readonly storage: StorageAdapter,
    private readonly memoryKey: string,
    private readonly changed: (door: Door) => void,
  ) {
    this.silences = doors.map(() => 0);
    this.recalled = this.recall();
  }

  /** The door attempts go to now. */
  get current(): Door {
    return this.doors[this.index]!;
  }

  url(): string {
    this.attempted = true;
    return this.current.ws;
  }

  helloTimeoutMs(): number {
    return Math.min(HELLO_TIMEOUT_MAX_MS, HELLO_TIMEOUT_MS * 2 ** this.silences[this.index]!);
  }

  reached(): void {
    this.failures = 0;
    this.silences[this.index] = 0;
    this.wrong.delete(this.index);
    // Only a cache: a failed write costs the next start a detour through dead doors.
    this.storage.set(this.memoryKey, this.current.address).catch(() => undefined);
  }

  failed(why: AttemptFailure): void {
    if (why.error?.code === 'WRONG_RELAY') this.refuse();
    else if (why.silent) {
      this.silences[this.index]!++;
      this.leave();
    } else if (++this.failures >= FAILURES_TO_LEAVE) this.leave();
  }

  /** The current door leads to another relay than the session's: leave it, and come back only when every other door has failed. */
  refuse(): void {
    this.wrong.add(this.index);
    this.leave();
  }

  private leave(): void {
    this.failures = 0;
    const order = this.doors.map((_, step) => (this.index + 1 + step) % this.doors.length);
    const next = order.find((index) => !this.wrong.has(index)) ?? order[0]!;
    this.moveTo(next);
  }

  private moveTo(index: number): void {
    if (index === this.index) return;
    this.index = index;
    this.changed(this.current);
  }

  private async recall(): Promise<void> {
    const remembered = await this.storage.get<string>(this.memoryKey).catch(() => undefined);
    const index = this.doors.findIndex((door) => door.address === remembered);
    // Once an attempt is out, its outcome belongs to the door it went to: too late to switch.
    if (index >= 0 && !this.attempted) this.moveTo(index);
  }
}
