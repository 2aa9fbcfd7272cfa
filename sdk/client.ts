/**
 * SovClient: accounts, rooms, profiles and the outbox over one relay connection.
 *
 *   const client = new SovClient({ relay: ['wss://chat.example.org', 'https://cdn.example.net/chat'] });
 *   await client.resume() || await client.login({ username, password });
 *   const room = await client.join('general');
 *   room.on('message', (m) => render(m));      // m.verified: did the signature check out
 *   await room.send('Привет!');
 */
import { Connection, RETIRE_MS } from './connection.ts';
import type { ConnectionState, HandshakeKind, StateChange, WebSocketConstructor } from './connection.ts';
import { SnapshotEmitter } from './snapshot.ts';
import type { AccountHost, NewSession } from './account.ts';
import { SovError, isTransient } from './errors.ts';
import { FrontDoors, httpUrlOf, parseDoors, relayIdOf, wsUrlOf } from './front-doors.ts';
import { roomName } from './protocol/fields.ts';
import { loadAccount, loadAvatar, loadPages } from './lazy.ts';
import { Outbox } from './outbox.ts';
import type { OutboxEntry, OutboxHost } from './outbox.ts';
import type { PagesHost } from './pages.ts';
import type { Profile, RequestMap, RequestType, ResultMap, ServerEvent } from './protocol/frames.ts';
import { Room } from './room.ts';
import type { CachedRoom, RoomHost } from './room.ts';
import { defaultStorage, guardedStorage } from './storage.ts';
import type { StorageAdapter } from './storage.ts';
import type { StoredSigningKey } from './crypto/signing.ts';
import { Verifier } from './crypto/verify.ts';
import type { TransportChoice } from './transports/ladder.ts';
import type { TransportName } from './transports/link.ts';

export interface SovClientOptions {
  /**
   * The relay: `wss://host`, `ws://host:port`, or its `https://` / `http://` address (a path is
   * kept). Several front doors of the same relay: a list, or one string with the addresses
   * separated by spaces. They are tried in order, from the one that worked last (./front-doors.ts).
   */
  relay: string | readonly string[];
  /** Where the session, history cache and outbox live. Default: IndexedDB, or memory without it. */
  storage?: StorageAdapter;
  /** A WebSocket class, for Node (the `ws` package). Default: the global one. */
  WebSocket?: WebSocketConstructor;
  /**
   * `auto` (default): WebSocket, and streamed HTTP or long polling where WebSocket does not get
   * through, back to WebSocket when it does. `websocket`, `http` (streamed) or `poll` pin one.
   */
  transport?: TransportChoice;
  requestTimeoutMs?: number;
  heartbeatMs?: number;
  /** Messages cached per room for offline start. Default 200. */
  historyCacheSize?: number;
  /** Use WebCrypto Ed25519 where available (default true); false forces @noble/ed25519. */
  webCrypto?: boolean;
}

export interface Credentials {
  username: string;
  password: string;
  /** Password hashing progress, 0..1: it takes about a second on purpose. */
  onProgress?: (fraction: number) => void;
}

export interface Registration extends Credentials {
  firstName: string;
  lastName: string;
}

export interface PasswordChangeInput {
  current: string;
  /** At least MIN_PASSWORD_LENGTH characters. */
  next: string;
  /** Progress of hashing both passwords, 0..1: about two seconds on purpose. */
  onProgress?: (fraction: number) => void;
}

export interface ClientEvents extends Record<string, unknown> {
  /** The connection's state changed: `{ state, previous, reason }`. */
  state: StateChange;
  login: Profile;
  /** The session ended: this device logged out, another ended it, or it expired. */
  logout: { reason: 'logout' | 'password-changed' | 'expired' };
  /** Any user's profile changed (yours included). */
  profile: Profile;
  presence: { userId: number; online: boolean; user?: Profile };
  /** Connection attempts now go to this front door (its address, as `door` gives it). */
  door: string;
  /** The connection now runs over this transport (a fallback when it is not `websocket`). */
  transport: TransportName;
  /** A front door led to another relay than the session's; it was closed before the token went out. */
  'wrong-relay': { door: string; relayId: string | null; error: SovError };
  /**
   * The relay sent a frame that breaks the protocol (code BAD_RELAY_FRAME, `field` the part at
   * fault): it was refused whole, the request it answered failed with this error, and the client
   * carries on with everything else.
   */
  error: SovError;
}

/** The client as `getSnapshot` gives it: one frozen object, the same until something in it changed. */
export interface ClientSnapshot {
  readonly state: ConnectionState;
  /** The logged-in user's profile, or null. */
  readonly user: Profile | null;
  /** The transport of the connection in use (as the last `transport` event said). */
  readonly transport: TransportName;
  /** The front door in use, or tried now. */
  readonly door: string;
}

interface StoredSession {
  token: string;
  user: Profile;
  signingKey: StoredSigningKey;
  /** The relay that issued the token (its hello's relayId): no door to another relay gets it. */
  relayId?: string;
}

/** Registration asks for at least this many characters: the password is the only secret there is. */
export const MIN_PASSWORD_LENGTH = 8;

export class SovClient extends SnapshotEmitter<ClientEvents, ClientSnapshot> {
  /** The logged-in user's profile, or null. */
  user: Profile | null = null;
  private readonly doors: FrontDoors;
  private readonly connection: Connection;
  private readonly storage: StorageAdapter;
  private readonly verifier: Verifier;
  private readonly rooms = new Map<string, Room>();
  private announcedTransport: TransportName;
  private readonly profiles = new Map<number, Profile>();
  private readonly profileRequests = new Map<number, Promise<Profile>>();
  private readonly cacheTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly storagePrefix: string;
  private readonly historyCacheSize: number;
  private readonly useWebCrypto: boolean;
  private session: StoredSession | null = null;
  private readonly outbox = new Outbox(this.outboxHost());

  constructor(options: SovClientOptions) {
    super();
    const doors = parseDoors(options.relay);
    this.storage = guardedStorage(options.storage ?? defaultStorage());
    // Named by the first door, as when there was only one: sessions stored then are found.
    this.storagePrefix = `${wsUrlOf(doors[0]!)}|`;
    // Under the prefix, so that logging out wipes it with the rest: no trace of the session is left.
    this.doors = new FrontDoors(doors, this.storage, this.key('door'), (door) => this.emit('door', door));
    this.historyCacheSize = options.historyCacheSize ?? 200;
    this.useWebCrypto = options.webCrypto ?? true;
    this.verifier = new Verifier(this.useWebCrypto);
    this.connection = new Connection({
      target: this.doors,
      ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
      ...(options.transport ? { transport: options.transport } : {}),
      ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
      handshake: (kind) => this.handshake(kind),
    });
    this.announcedTransport = this.connection.transport;
    this.connection.on('transport', (transport) => {
      this.announcedTransport = transport;
      this.emit('transport', transport);
    });
    this.connection.on('error', (error) => this.emit('error', error));
    // Member lists the rotation took as known may have missed a join or a leave: ask again.
    this.connection.on('resync', () => {
      for (const room of this.rooms.values()) void this.syncRoom(room, false).catch(() => undefined);
    });
    this.connection.on('state', (change) => {
      this.emit('state', change);
      if (change.state === 'connected') void this.outbox.flush();
    });
    this.connection.on('event', (event) => this.dispatch(event));
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  /** The transport in use (or tried next): `websocket`, or a fallback, `http-stream` or `http-poll`. The `transport` event says when it changes. */
  get transport(): TransportName {
    return this.connection.transport;
  }

  /** The front door in use, or tried now: its address, `wss://host/path` (`ws://` without TLS). The `door` event says when it changes. */
  get door(): string {
    return this.doors.current;
  }

  /** The relay's http(s) base URL through the door in use: avatar paths in profiles are relative to it. */
  get httpUrl(): string {
    return httpUrlOf(this.doors.current);
  }

  /**
   * Starts connecting (if not yet), once storage has said which front door worked last; watch
   * `state` or the `state` event. resume/register/login do it themselves.
   */
  connect(): void {
    void this.doors.recalled.then(() => this.connection.start());
  }

  /**
   * Picks up the session stored by an earlier run, without the password. Resolves true when there
   * is one (offline too: cached history and the outbox work until the relay answers), false when
   * there is none or the relay says it ended.
   */
  resume(): Promise<boolean> {
    return typed(async () => {
      if (this.session) return true;
      await this.doors.recalled;
      const stored = await this.storage.get<StoredSession>(this.key('session'));
      if (!stored) return false;
      this.session = stored;
      this.user = stored.user;
      this.profiles.set(stored.user.id, stored.user);
      this.outbox.load((await this.storage.get<OutboxEntry[]>(this.key('outbox'))) ?? []);
      // Already connected (connect() came first): that connection has not seen the token yet,
      // and may lead to another relay than the session's.
      if (this.connection.state === 'connected')
        await this.handshake().catch((error: unknown) => this.leaveWrongRelay(error));
      this.connection.start();
      if (this.connection.state !== 'connected') {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            stop();
            resolve();
          };
          const stop = this.on('state', ({ state }) => state !== 'connecting' && done());
          const timer = setTimeout(done, 10_000);
        });
      }
      if (!this.session) return false;
      this.emit('login', stored.user);
      return true;
    });
  }

  /** Creates an account and logs in (./account.ts, loaded on first use). */
  register(input: Registration): Promise<Profile> {
    return typed(async () => {
      this.requireLoggedOut();
      await this.doors.recalled;
      return this.startSession(await (await loadAccount()).register(this.accountHost(), input));
    });
  }

  /** Logs in with a username and password (./account.ts, loaded on first use). */
  login(input: Credentials): Promise<Profile> {
    return typed(async () => {
      this.requireLoggedOut();
      await this.doors.recalled;
      return this.startSession(await (await loadAccount()).login(this.accountHost(), input));
    });
  }

  /**
   * Changes the password (./account.ts, loaded on first use). The relay ends every other session of
   * this user with `session-ended` `password-changed`; this one stays and signs with the new key from
   * now on. Messages signed before keep verifying: profiles list old public keys too.
   * @throws SovError EMPTY_FIELD or INVALID_FIELD (`field` "current" or "next", the new one too
   *   short), BAD_CREDENTIALS (field "current"), RATE_LIMITED, NOT_AUTHENTICATED
   * @example await client.changePassword({ current, next, onProgress: (f) => (bar.value = f) });
   */
  changePassword(input: PasswordChangeInput): Promise<Profile> {
    return typed(async () => {
      const session = this.session;
      if (!session) throw new SovError('NOT_AUTHENTICATED');
      const { user, signingKey } = await (await loadAccount()).changePassword(
        this.accountHost(),
        session.user.username,
        input,
      );
      // The relay's profile event comes before its reply and has already replaced this.session's profile.
      if (this.session?.token !== session.token)
        throw new SovError('NOT_AUTHENTICATED', 'Logged out during the password change.');
      this.session = { ...this.session, signingKey };
      await this.ownProfileChanged(user);
      return user;
    });
  }

  /** Ends the session on the relay (if it can be reached) and wipes the token, key, history cache and outbox. */
  logout(): Promise<void> {
    return typed(async () => {
      if (!this.session) return;
      await this.request('logout', {}, 5000).catch(() => undefined);
      await this.forgetSession('logout');
    });
  }

  /** Joins a room (or returns it if joined): cached messages first, then exactly the missed ones from the relay. */
  join(name: string): Promise<Room> {
    return typed(async () => {
      const room = roomName(name, 'room');
      const existing = this.rooms.get(room);
      if (existing) return existing;
      if (!this.session) throw new SovError('NOT_AUTHENTICATED');
      const instance = new Room(room, this.roomHost);
      this.rooms.set(room, instance);
      const cached = await this.storage.get<CachedRoom>(this.key(`room|${room}`));
      const pending = this.outbox.pendingIn(room, this.session.user.id);
      if (cached || pending.length) instance.restore(cached ?? { seq: 0, messages: [] }, pending);
      if (this.connection.state === 'connected')
        await this.syncRoom(instance, false).catch((error: unknown) => this.forgetRoomOnRefusal(room, error));
      // Messages written offline for this room can go now that the relay has us in it.
      void this.outbox.flush();
      return instance;
    });
  }

  leave(name: string): Promise<void> {
    return typed(async () => {
      const room = roomName(name, 'room');
      if (!this.rooms.delete(room)) return;
      await this.request('leave', { room }).catch(() => undefined);
    });
  }

  /** A user's public profile (cached; kept fresh by profile events). */
  profile(userId: number): Promise<Profile> {
    return typed(async () => {
      const known = this.profiles.get(userId);
      if (known) return known;
      let request = this.profileRequests.get(userId);
      if (!request) {
        request = this.request('profile', { userId }).then(({ user }) => {
          this.profiles.set(user.id, user);
          return user;
        });
        request.finally(() => this.profileRequests.delete(userId)).catch(() => undefined);
        this.profileRequests.set(userId, request);
      }
      return request;
    });
  }

  /** Users online on the whole relay (fetched page by page). */
  online(): Promise<Profile[]> {
    return typed(async () => {
      const users: Profile[] = [];
      await (await loadPages()).onlinePages(this.pagesHost, undefined, 0, (page) => users.push(...page.users));
      return users;
    });
  }

  updateProfile(change: { username?: string; firstName?: string; lastName?: string }): Promise<Profile> {
    return typed(async () => {
      const user = await (await loadAccount()).updateProfile(this.accountHost(), change);
      await this.ownProfileChanged(user);
      return user;
    });
  }

  /**
   * Makes `file` the user's avatar: checks it (not an image, over `maxBytes`), resizes it to a round
   * 256x256 PNG with transparent corners, and uploads it with progress (0..1 over the whole job).
   */
  setAvatar(
    file: Blob,
    options: {
      maxBytes?: number;
      onProgress?: (fraction: number) => void;
    } = {},
  ): Promise<Profile> {
    return typed(async () => {
      if (!this.session) throw new SovError('NOT_AUTHENTICATED');
      const user = await (await loadAvatar()).setAvatar(this.httpUrl, this.session.token, file, options);
      await this.ownProfileChanged(user);
      return user;
    });
  }

  /** An absolute URL for a profile's avatar, or null. */
  avatarUrl(profile: Pick<Profile, 'avatar'>): string | null {
    // Relative to the door's path: behind https://b.example/chat, /avatars/x.png is /chat/avatars/x.png.
    return profile.avatar ? new URL(profile.avatar.replace(/^\/+/, ''), `${this.httpUrl}/`).href : null;
  }

  protected read(): ClientSnapshot {
    return {
      state: this.state,
      user: this.user,
      transport: this.announcedTransport,
      door: this.door,
    };
  }

  /** Stops for good: no reconnects, pending requests reject with CLOSED. Storage is kept. */
  close(): void {
    this.connection.close();
    for (const room of this.rooms.values()) room.abandon(new SovError('CLOSED'));
  }

  // -------------------------------------------------------------------------------------------

  private readonly roomHost: RoomHost = this.makeRoomHost();
  /** Rooms whose member list will be asked for again if it is still incomplete by then. */
  private readonly memberResyncs = new Set<Room>();
  private readonly pagesHost: PagesHost = {
    request: (type, fields) => this.request(type, fields),
    learn: (users) => {
      for (const user of users) this.profiles.set(user.id, user);
    },
  };

  /**
   * An author's public keys, for checking their messages. A profile request whose connection was
   * lost or froze (NETWORK) is sent again a second later, a few times (a request waits for the
   * connection): a message is not shown as unverified only because a stall ate its author's
   * profile, and the room's messages wait in order meanwhile. Anything else (TIMEOUT: the relay
   * did not answer; the client closed; signed out) gives no keys, and the message shows unverified.
   */
  private async keysOf(userId: number): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.profile(userId)).keys.map((key) => key.publicKey);
      } catch (error) {
        if (!(error instanceof SovError) || error.code !== 'NETWORK' || attempt === 5 || !this.session) return [];
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  private makeRoomHost(): RoomHost {
    const client = this;
    return {
      get userId() {
        return client.session?.user.id ?? null;
      },
      keysOf: (userId) => this.keysOf(userId),
      verify: (message, keys) => this.verifier.verify(message, keys),
      enqueue: (room, message) => this.outbox.add(room, message),
      retry: (room, message) => this.outbox.add(room, message),
      persist: (room) => this.scheduleCache(room),
      // A catch-up under way fetches the hole anyway; a second one would ask for the same pages.
      refill: (room) => {
        if (room.catchUp === null) void this.syncRoom(room, false).catch(() => undefined);
      },
      older: async (room) => (await loadPages()).loadOlder(this.pagesHost, room),
      membersIncomplete: (room) => this.resyncMembersLater(room),
    };
  }

  /**
   * A room's member list missed a join or leave (./member-list.ts). The old connection of a
   * rotation may still bring it, within the time it gets to finish (RETIRE_MS); after that the
   * list is asked for again.
   */
  private resyncMembersLater(room: Room): void {
    if (this.memberResyncs.has(room)) return;
    this.memberResyncs.add(room);
    setTimeout(() => {
      this.memberResyncs.delete(room);
      if (room.membersIncomplete && this.rooms.get(room.name) === room)
        void this.syncRoom(room, false).catch(() => undefined);
    }, RETIRE_MS);
  }

  private accountHost(): AccountHost {
    return {
      connect: () => this.connection.start(),
      request: (type, fields) => this.request(type, fields),
      useWebCrypto: this.useWebCrypto,
    };
  }

  private request<K extends RequestType>(type: K, fields: RequestMap[K], timeoutMs?: number): Promise<ResultMap[K]> {
    return this.connection.request(type, fields, timeoutMs ? { timeoutMs } : {});
  }

  private key(name: string): string {
    return this.storagePrefix + name;
  }

  private requireLoggedOut(): void {
    if (this.session) throw new SovError('ALREADY_AUTHENTICATED');
  }

  private async startSession({ token, user, signingKey }: NewSession): Promise<Profile> {
    const relayId = relayIdOf(this.connection.hello);
    this.session = { token, user, signingKey, ...(relayId ? { relayId } : {}) };
    this.user = user;
    this.profiles.set(user.id, user);
    await this.storage.set(this.key('session'), this.session);
    this.emit('login', user);
    return user;
  }

  private async forgetSession(reason: ClientEvents['logout']['reason']): Promise<void> {
    if (!this.session) return;
    this.session = null;
    this.user = null;
    this.outbox.load([]);
    for (const room of this.rooms.values())
      room.abandon(new SovError('NOT_AUTHENTICATED', 'Logged out before the message was sent.'));
    this.rooms.clear();
    for (const timer of this.cacheTimers.values()) clearTimeout(timer);
    this.cacheTimers.clear();
    for (const key of await this.storage.keys(this.storagePrefix)) await this.storage.delete(key);
    this.emit('logout', { reason });
  }

  private async ownProfileChanged(user: Profile): Promise<void> {
    this.profiles.set(user.id, user);
    if (this.session && user.id === this.session.user.id) {
      this.user = user;
      this.session = { ...this.session, user };
      await this.storage.set(this.key('session'), this.session);
    }
  }

  /**
   * Runs on every new connection before anything else is sent: resume the session, rejoin rooms.
   * A `rotate` replaces a working connection (./connection.ts): the member lists are known.
   */
  private async handshake(kind: HandshakeKind = 'connect'): Promise<void> {
    const session = this.session;
    if (!session) return;
    const relayId = this.checkRelay(session);
    try {
      const { user } = await this.connection.request('resume', { token: session.token }, { handshake: true });
      // A session stored before relays had ids learns its relay's now.
      if (this.session === session && !session.relayId && relayId) this.session = { ...session, relayId };
      await this.ownProfileChanged(user);
    } catch (error) {
      if (error instanceof SovError && error.code === 'SESSION_INVALID') {
        await this.forgetSession('expired');
        return;
      }
      throw error;
    }
    for (const room of [...this.rooms.values()]) {
      try {
        await this.syncRoom(room, true, { members: kind === 'connect' });
      } catch (error) {
        // A room the relay now refuses (say, too many rooms) is dropped; reconnecting over and over would not help.
        if (error instanceof SovError && !isTransient(error)) this.rooms.delete(room.name);
        else throw error;
      }
    }
    void this.outbox.flush();
  }

  /**
   * The relay behind this door must be the session's: a door to another one (a lapsed domain, a
   * proxy pointed at the wrong host) would get the token and answer SESSION_INVALID, which logs
   * the user out. Returns the relay's id.
   * @throws SovError WRONG_RELAY, before anything is sent
   */
  private checkRelay(session: StoredSession): string | null {
    const relayId = relayIdOf(this.connection.hello);
    if (!session.relayId || relayId === session.relayId) return relayId;
    const error = new SovError('WRONG_RELAY');
    this.emit('wrong-relay', { door: this.doors.current, relayId, error });
    throw error;
  }

  /** A connection that was up before the session was known, to another relay than the session's: leave its door. */
  private leaveWrongRelay(error: unknown): void {
    if (!(error instanceof SovError) || error.code !== 'WRONG_RELAY') return;
    this.doors.leave();
    this.connection.disconnect('wrong-relay');
    this.connection.start('wrong-relay');
  }

  /**
   * Joins `room` on the relay and brings it up to date: who is online, page by page, unless
   * `members` is false (a connection opened beside one that knows: the list is kept), and what it
   * missed, page after page, each from where the last one ended (./pages.ts). A page lost with its
   * connection is asked for on the next one from there, never from the start: under a byte budget,
   * a reply that froze a connection once would freeze the next one too. In a handshake only the
   * join itself waits: pages that spent a connection's budget before it counted as connected would
   * make every reconnect back off longer, and the outbox wait for all of them.
   */
  private async syncRoom(
    room: Room,
    handshake: boolean,
    { members = true }: { members?: boolean } = {},
  ): Promise<void> {
    const sync = ++room.syncs;
    const memberSync = members ? ++room.memberSyncs : -1;
    const after = Math.max(room.catchUp ?? room.seq, room.pagedTo);
    // Once the relay has told the room's state, everything after it is owed, from 0 too (a room that
    // was empty then): a join without `after` would bring only the newest page and leave the rest
    // to loadOlder, as for a first visit.
    const fields: RequestMap['join'] = after > 0 || room.synced ? { room: room.name, after } : { room: room.name };
    if (!members) fields.members = false;
    // Who is online goes in as the reply arrives: events behind it on the same connection may be
    // handled before this function goes on, and they are newer than the list.
    const result = await this.connection.request('join', fields, {
      handshake,
      onReply: (reply) => room.applyJoinMembers(reply, members),
    });
    if (members) this.pagesHost.learn(result.online);
    // Set before the page goes in, so a hole that a live message shows meanwhile is left to this
    // catch-up (refill), and a restart meanwhile resumes from here.
    room.catchUp = result.more ? after : null;
    const applied = room.applyJoin(result);
    // A handshake does not wait for the page to be checked: checking may need an author's keys
    // (keysOf), asked for on this connection, which counts as connected only once the handshake is over.
    if (!handshake) await applied;
    const onlineNext = room.memberSyncs === memberSync ? result.onlineNext : null;
    const catchingUp = room.syncs === sync && room.catchUp !== null;
    if (catchingUp) room.catchUp = result.messages.at(-1)?.seq ?? after;
    if (onlineNext === null && !catchingUp) return;
    const rest = loadPages().then((pages) =>
      Promise.all([
        pages.onlinePages(
          this.pagesHost,
          room.name,
          onlineNext,
          (page) => room.addOnline(page.users, page.memberSeq, page.after, page.next),
          () => room.memberSyncs === memberSync,
        ),
        catchingUp && pages.catchUp(this.pagesHost, room, sync),
      ]),
    );
    // A page lost with its connection is asked for again (messages from where the catch-up stopped,
    // the member list whole), unless newer syncs took over both.
    const current = (): boolean => room.syncs === sync || room.memberSyncs === memberSync;
    const retry = rest.catch((error: unknown) => {
      if (current() && this.rooms.get(room.name) === room && isTransient(error) && this.connection.state !== 'closed') {
        setTimeout(() => current() && void this.syncRoom(room, false).catch(() => undefined), 500);
      }
    });
    if (!handshake) await rest;
    else void retry;
  }

  private forgetRoomOnRefusal(room: string, error: unknown): void {
    if (error instanceof SovError && !isTransient(error)) {
      this.rooms.delete(room);
      throw error;
    }
  }

  private dispatch(event: ServerEvent): void {
    switch (event.ev) {
      case 'message':
        {
          const { ev: _name, ...message } = event;
          this.rooms.get(message.room)?.receive(message, true);
        }
        break;
      case 'join':
        this.profiles.set(event.user.id, event.user);
        this.rooms.get(event.room)?.memberEvent(event.user.id, event.user, event.memberSeq);
        break;
      case 'leave':
        this.rooms.get(event.room)?.memberEvent(event.userId, null, event.memberSeq);
        break;
      case 'presence':
        if (event.user) this.profiles.set(event.user.id, event.user);
        this.emit(
          'presence',
          event.user
            ? { userId: event.userId, online: event.online, user: event.user }
            : { userId: event.userId, online: event.online },
        );
        break;
      case 'profile':
        void this.ownProfileChanged(event.user).catch(() => undefined);
        for (const room of this.rooms.values()) room.profileChanged(event.user);
        this.emit('profile', event.user);
        break;
      case 'session-ended':
        void this.forgetSession(event.reason).catch(() => undefined);
        break;
      case 'hello':
        break;
    }
  }

  private outboxHost(): OutboxHost {
    return {
      sender: () =>
        this.connection.state === 'connected' && this.session
          ? {
              userId: this.session.user.id,
              signingKey: this.session.signingKey,
            }
          : null,
      room: (name) => this.rooms.get(name),
      maxMessageBytes: () => this.connection.hello?.limits.maxMessageBytes ?? Infinity,
      send: (message) => this.request('send', message),
      save: (entries) => this.storage.set(this.key('outbox'), entries),
    };
  }

  private scheduleCache(room: Room): void {
    if (this.cacheTimers.has(room.name)) return;
    // Batched: history arrives in bursts after a reconnect, and each IndexedDB write costs.
    this.cacheTimers.set(
      room.name,
      setTimeout(() => {
        this.cacheTimers.delete(room.name);
        // Only a cache: a failed write loses nothing the relay cannot send again.
        if (this.session && this.rooms.get(room.name) === room)
          void this.storage
            .set(this.key(`room|${room.name}`), room.snapshot(this.historyCacheSize))
            .catch(() => undefined);
      }, 200),
    );
  }
}

/** Every public method rejects with SovError only: anything else (a bug, a browser quirk) is wrapped. */
function typed<T>(work: () => Promise<T>): Promise<T> {
  return work().catch((error: unknown) => {
    throw error instanceof SovError
      ? error
      : new SovError('INTERNAL', error instanceof Error ? error.message : String(error));
  });
}
