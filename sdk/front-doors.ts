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
 * the session token goes out (client.ts, the handshake, WRONG_RELAY), and moves on at once.
 */
import type { AttemptTarget } from './connection.ts';
import { SovError } from './errors.ts';
import { WS_PATH } from './protocol/frames.ts';
import type { StorageAdapter } from './storage.ts';

// ## Addresses

/**
 * The doors of the `relay` option: one address, several separated by white space (as the
 * `<sov-chat relay="...">` attribute holds them), or a list. Each may be `wss://`, `ws://`,
 * `https://` or `http://`; the path is kept, a trailing slash, the query and the fragment are
 * dropped. A door given twice counts once. Each comes back as the SDK names it: `ws://` or
 * `wss://`, the host, the path; its WebSocket endpoint is that followed by /v1/ws (so a proxy that
 * strips a path prefix gets /prefix/v1/ws), its http(s) base the same with http.
 *
 * @throws SovError INVALID_INPUT when there is no address, or one is not a relay address.
 * @example parseDoors('wss://a.example https://b.example/chat/') // ['wss://a.example', 'wss://b.example/chat']
 */
export function parseDoors(relay: string | readonly string[]): string[] {
  const doors: string[] = [];
  for (const entry of [relay].flat().join(' ').split(/\s+/)) {
    const door = entry === '' ? null : parseDoor(entry);
    if (door && !doors.includes(door)) doors.push(door);
  }
  if (doors.length === 0) throw notARelay('');
  return doors;
}

function parseDoor(entry: string): string {
  let url: URL | null = null;
  try {
    url = new URL(entry);
  } catch {
    // Refused below, in the same words as another scheme.
  }
  const scheme = /^(?:ws|http)(s?):$/.exec(url?.protocol ?? '');
  if (!url || !scheme) throw notARelay(entry);
  return `ws${scheme[1]}://${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

const notARelay = (entry: string): SovError =>
  new SovError('INVALID_INPUT', `"${entry}" is not a relay address (wss://, ws://, https:// or http://).`);

/** A door's WebSocket endpoint. */
export const wsUrlOf = (door: string): string => door + WS_PATH;

/** A door's http(s) base: avatar paths and the upload are relative to it. */
export const httpUrlOf = (door: string): string => door.replace(/^ws/, 'http');

/** The relay id a hello names, or null for a relay that names none (one older than ids). */
export function relayIdOf(hello: { relayId?: string } | null): string | null {
  return hello?.relayId ?? null;
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
 * RFC 6298). Each attempt in a row that got no answer doubles the next one's wait, up to
 * HELLO_TIMEOUT_MAX_MS, so a network that is merely that slow still gets through. (The
 * heartbeat's own silence check, two heartbeats, gives up first when it is shorter.) A black-holed
 * first door costs 4.3-4.5 s in all (test/relay/front-doors.test.ts).
 */
export const HELLO_TIMEOUT_MS = 4000;
export const HELLO_TIMEOUT_MAX_MS = 8 * HELLO_TIMEOUT_MS;

/** The client's doors: which one to try now, and what to make of each attempt's end. */
export class FrontDoors implements AttemptTarget {
  /** Settles once the door that worked last has been read from storage; the client connects only then. */
  readonly recalled: Promise<void>;
  private index = 0;
  private failures = 0;
  private silences = 0;

  /**
   * @param doors from parseDoors
   * @param storage where the door that worked last is kept, under `memoryKey`
   * @param changed told of the door whenever attempts move to another one
   */
  constructor(
    readonly doors: readonly string[],
    private readonly storage: StorageAdapter,
    private readonly memoryKey: string,
    private readonly changed: (door: string) => void,
  ) {
    this.recalled = storage.get<string>(memoryKey).then(
      (remembered) => this.moveTo(doors.indexOf(remembered!)),
      () => undefined,
    );
  }

  /** The door attempts go to now. */
  get current(): string {
    return this.doors[this.index]!;
  }

  door(): string {
    return this.current;
  }

  helloTimeoutMs(): number {
    return Math.min(HELLO_TIMEOUT_MAX_MS, HELLO_TIMEOUT_MS * 2 ** this.silences);
  }

  reached(): void {
    this.failures = this.silences = 0;
    // Only a cache: a failed write costs the next start a detour through dead doors.
    this.storage.set(this.memoryKey, this.current).catch(() => undefined);
  }

  failed(silent: boolean, error?: SovError): void {
    if (silent) this.silences++;
    // Silence has cost seconds already, and a door to another relay will not turn into this one.
    if (silent || error?.code === 'WRONG_RELAY' || ++this.failures >= FAILURES_TO_LEAVE) this.leave();
  }

  /** Moves on to the next door, after the last to the first (the client also calls it for a door to another relay). */
  leave(): void {
    this.failures = 0;
    this.moveTo((this.index + 1) % this.doors.length);
  }

  private moveTo(index: number): void {
    if (index < 0 || index === this.index) return;
    this.index = index;
    this.changed(this.current);
  }
}
