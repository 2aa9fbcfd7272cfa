/**
 * One joined room: its messages in sequence order (verified before the app sees them), who is
 * online in it, and the outgoing messages with their state. Created by `SovClient.join`.
 *
 * Nothing handed out is changed afterwards: a change to the messages makes a new `messages` array,
 * and a change to a message (pending to sent, say) a new message object in it, so that views
 * comparing by identity (React, Lit, memoized selectors) see every change, and a snapshot kept
 * from before stays as it was (./snapshot.ts).
 */
import { SnapshotEmitter } from './snapshot.ts';
import { SovError } from './errors.ts';
import { toBase64Url } from './encoding.ts';
import { MemberList } from './member-list.ts';
import { messageText } from './protocol/fields.ts';
import type { ChatMessage, JoinResult, Profile } from './protocol/frames.ts';

export type MessageState = 'pending' | 'sent' | 'failed';

/** A message as the app sees it. */
export interface ClientMessage extends Readonly<Omit<ChatMessage, 'seq'>> {
  /** The room's sequence number; null while the message waits in the outbox. */
  readonly seq: number | null;
  /** True only when the signature checked out against the author's keys. Never show a false one as authentic. */
  readonly verified: boolean;
  readonly state: MessageState;
  /** Why a message failed (state "failed"). */
  readonly error?: SovError;
}

/** A room as `getSnapshot` gives it: one frozen object, the same until something in it changed. */
export interface RoomSnapshot {
  /** The same array as `room.messages`: a new one after each change. */
  readonly messages: readonly ClientMessage[];
  /** Who is online in the room (the same array as `room.online`). */
  readonly online: readonly Profile[];
  /** The relay may keep older messages: `loadOlder` would find some. */
  readonly hasOlder: boolean;
  /** `loadOlder` is waiting for the relay. */
  readonly loadingOlder: boolean;
  /** The relay has answered for this room in this run (Room.synced). */
  readonly synced: boolean;
}

export interface RoomEvents extends Record<string, unknown> {
  /** A new message, or a change to one (pending to sent, sent to failed...). */
  message: ClientMessage;
  join: Profile;
  leave: { userId: number; user?: Profile };
  /** The online list changed. */
  online: readonly Profile[];
  /** The relay could not give every missed message (the client was away longer than its history). */
  gap: { seq: number };
  /** Older messages `loadOlder` added at the front, oldest first (they raise no `message` events). */
  older: ClientMessage[];
}

/** What a Room needs from its client; kept narrow so the room can be read on its own. */
export interface RoomHost {
  readonly userId: number | null;
  keysOf(userId: number): Promise<string[]>;
  verify(message: ChatMessage, keys: string[]): Promise<boolean>;
  enqueue(room: Room, message: ClientMessage): void;
  retry(room: Room, message: ClientMessage): void;
  persist(room: Room): void;
  refill(room: Room): void;
  /** Fetches the page before the room's oldest message and adds it (addOlder); resolves with how many were new. */
  older(room: Room): Promise<number>;
  /** A join or leave never arrived: the member list is to be asked for again unless the missing words still come. */
  membersIncomplete(room: Room): void;
}

export interface CachedRoom {
  seq: number;
  messages: ClientMessage[];
}

export class Room extends SnapshotEmitter<RoomEvents, RoomSnapshot> {
  /**
   * The messages, in the order of `messages`. The array changes; the objects in it never do (a
   * changed message is a new object in its place), and each is frozen as it goes in.
   */
  private list: ClientMessage[] = [];
  /** What `messages` handed out since the list last changed: copied once after a burst of changes, not at each. */
  private listView: readonly ClientMessage[] | null = null;
  private onlineView: readonly Profile[] | null = null;
  /** Highest sequence number received; a hole below it is fetched as soon as it shows. */
  seq = 0;
  /**
   * @internal The last number of the pages handed in, checked or still being checked (`seq`
   * reaches it once they are): a rejoin goes on past it (a handshake does not wait for the check,
   * ./client.ts syncRoom).
   */
  pagedTo = 0;
  private readonly members = new MemberList();
  private readonly bySeq = new Set<number>();
  private readonly waiting = new Map<
    string,
    { resolve(message: ClientMessage): void; reject(error: SovError): void }
  >();
  private incoming: Promise<void> = Promise.resolve();
  private olderLoad: Promise<number> | null = null;
  /** The relay may keep messages older than the oldest here: `loadOlder` would find some. */
  hasOlder = false;
  /**
   * @internal While missed messages come in pages: the last number of the last page applied, from
   * which the catch-up goes on (live messages may already have raised `seq` past it). Null otherwise.
   */
  catchUp: number | null = null;
  /**
   * The relay has answered for this room in this run: until then `messages` are what this device
   * kept and `hasOlder` is not known yet (offline, or the connection was lost during `join`, which
   * then resolves and leaves the room to the next connection). From then on a rejoin asks for
   * everything after `seq`, even 0. Set by the room only.
   */
  synced = false;
  /** @internal How many times the room was synced: pages of an earlier sync stop when a newer one starts. */
  syncs = 0;
  /**
   * @internal How many syncs asked for the member list: its pages stop only when a newer one asks
   * for it again (a rotation's sync, which keeps the list, does not stop them).
   */
  memberSyncs = 0;

  constructor(
    readonly name: string,
    private readonly host: RoomHost,
  ) {
    super();
  }

  /** Messages in order: sent ones by sequence number, then pending and failed ones by creation. A new frozen array after each change. */
  get messages(): readonly ClientMessage[] {
    return (this.listView ??= Object.freeze([...this.list]));
  }

  /** Who is online in the room: a new frozen array after each change. */
  get online(): readonly Profile[] {
    return (this.onlineView ??= Object.freeze(this.members.online));
  }

  protected read(): RoomSnapshot {
    return {
      messages: this.messages,
      online: this.online,
      hasOlder: this.hasOlder,
      loadingOlder: this.loadingOlder,
      synced: this.synced,
    };
  }

  /** @internal Some join or leave never arrived (./member-list.ts). */
  get membersIncomplete(): boolean {
    return this.members.incomplete;
  }

  /** True while `loadOlder` is waiting for the relay. */
  get loadingOlder(): boolean {
    return this.olderLoad !== null;
  }

  /**
   * Fetches the page of messages before the oldest one here (as many as fit one frame of the
   * relay's), verifies them like any history and puts them at the front, in order, each once; an
   * `older` event carries them. Resolves with how many were added: 0 when there are none (then
   * `hasOlder` turns false). Calls while one is loading share it.
   */
  loadOlder(): Promise<number> {
    if (!this.hasOlder) return Promise.resolve(0);
    if (!this.olderLoad) {
      this.olderLoad = this.host.older(this).finally(() => {
        this.olderLoad = null;
        this.changed();
      });
      this.changed();
    }
    return this.olderLoad;
  }

  /**
   * @internal Adds a page of older messages at the front, checked like any from the relay;
   * resolves with how many were new. `more`: the relay keeps older ones still.
   */
  addOlder(page: ChatMessage[], before: number, more: boolean): Promise<number> {
    const added: ClientMessage[] = [];
    // Behind whatever is being verified already, so a message live and in the page shows once.
    return this.queue(async () => {
      // A page answers what was asked: a relay cannot slip newer numbers in at the front this way.
      for (const message of page) {
        const checked = message.seq < before ? await this.check(message) : null;
        if (checked && this.accept(checked, false)) added.push(checked);
      }
      // Subscribers hear of it when the load ends (loadOlder).
      this.hasOlder = more && added.length > 0;
      if (added.length > 0) {
        this.emit('older', added);
        this.host.persist(this);
      }
    }).then(() => added.length);
  }

  /**
   * Signs and sends `text`. The message shows at once as "pending"; the promise resolves when the
   * relay has stored it, or rejects (and the message turns "failed") if the relay refuses it.
   * Offline, it waits in the persisted outbox and goes out, in order, on reconnect.
   */
  send(text: string): Promise<ClientMessage> {
    let checked: string;
    try {
      checked = messageText(text, 'text');
    } catch (error) {
      return Promise.reject(error);
    }
    const author = this.host.userId;
    if (author === null) return Promise.reject(new SovError('NOT_AUTHENTICATED'));
    const message: ClientMessage = {
      room: this.name,
      seq: null,
      author,
      cid: toBase64Url(crypto.getRandomValues(new Uint8Array(12))),
      ts: Date.now(),
      text: checked,
      sig: '',
      verified: true,
      state: 'pending',
    };
    this.insert(this.list.length, message);
    this.emit('message', message);
    const settled = this.settlement(message.cid);
    this.host.enqueue(this, message);
    return settled;
  }

  /**
   * Sends a failed message again (same client id, so it can never be stored twice). `message` may
   * be any copy of it the app holds: the room's current one is what goes.
   */
  retry(message: ClientMessage): Promise<ClientMessage> {
    const current = this.list.find((m) => m.author === message.author && m.cid === message.cid);
    if (current?.state !== 'failed') return Promise.resolve(current ?? message);
    const pending = this.replace(current, revised(current, { state: 'pending' }));
    this.emit('message', pending);
    const settled = this.settlement(pending.cid);
    this.host.retry(this, pending);
    return settled;
  }

  /** @internal The outbox reports a result for one of this room's messages. */
  settle(cid: string, outcome: { seq: number } | { error: SovError }): void {
    const message = this.list.find((m) => m.cid === cid && m.author === this.host.userId);
    const waiter = this.waiting.get(cid);
    this.waiting.delete(cid);
    if (!message) return;
    if ('seq' in outcome) {
      // Known by number from now on, so the relay's copy of it (which may arrive after this
      // reply) is recognised as this message, not added a second time.
      this.bySeq.add(outcome.seq);
      let sent = message;
      if (message.state !== 'sent') {
        sent = revised(message, { state: 'sent', seq: outcome.seq });
        // Before any message stored after it that came first (over HTTP a reply and the stream's
        // events travel apart, so another's next message can arrive before our reply); what is
        // still pending or failed keeps its place around it.
        let index = this.list.indexOf(message);
        this.list.splice(index, 1);
        while (index > 0 && (this.list[index - 1]!.seq ?? 0) > outcome.seq) index--;
        this.insert(index, sent);
        this.emit('message', sent);
      }
      waiter?.resolve(sent);
    } else {
      this.emit('message', this.replace(message, revised(message, { state: 'failed', error: outcome.error })));
      waiter?.reject(outcome.error);
    }
  }

  /** @internal Rejects every send still waiting (the client logged out or was closed). */
  abandon(error: SovError): void {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  /** @internal Restores messages cached from an earlier run, before the network answers. */
  restore(cached: CachedRoom, pending: ClientMessage[]): void {
    for (const message of cached.messages) this.accept(message);
    this.seq = Math.max(this.seq, cached.seq);
    this.hasOlder = (cached.messages[0]?.seq ?? this.seq + 1) > 1;
    for (const message of pending) {
      this.insert(this.list.length, message);
      this.settlement(message.cid).catch(() => undefined);
      this.emit('message', message);
    }
    this.changed();
  }

  /**
   * @internal Takes a join reply's word on who is online, as it arrives (before any event behind
   * it): the first page of a new list, or, for a join that did not ask for the list (`members`
   * false), the number up to which the old connection owes joins and leaves.
   */
  applyJoinMembers(result: JoinResult, members: boolean): void {
    if (members) this.addOnline(result.online, result.memberSeq, 0, result.onlineNext, true);
    else this.members.expect(result.memberSeq);
    this.checkMembers();
  }

  /**
   * @internal Applies a join reply's history after what the room already has. Resolves with the
   * page's messages once all of it is in.
   */
  applyJoin(result: JoinResult): Promise<ChatMessage[]> {
    // Only a join without `after` (a room with nothing yet) says whether older messages are kept.
    // Subscribers hear of it with the page's messages: a relay keeps older ones only behind a full page.
    this.hasOlder ||= result.older;
    if (!this.synced) {
      this.synced = true;
      this.changed();
    }
    const messages = result.messages;
    if (result.gap) {
      this.emit('gap', { seq: this.seq });
      // Messages kept from before the hole stay; numbering continues from what the relay sends now.
      this.seq = this.pagedTo = Math.max(0, (messages[0]?.seq ?? result.seq + 1) - 1);
    }
    return this.applyPage(messages);
  }

  /** @internal Adds a page of newer messages in order; resolves with them once all are in. */
  applyPage(messages: ChatMessage[]): Promise<ChatMessage[]> {
    this.pagedTo = Math.max(this.pagedTo, messages.at(-1)?.seq ?? 0);
    for (const message of messages) this.receive(message);
    return this.queue(async () => undefined).then(() => messages);
  }

  /** @internal A page of who is online as of `memberSeq`, ids after `after` up to `next` (./member-list.ts). */
  addOnline(users: Profile[], memberSeq: number, after: number, next: number | null, fresh = false): void {
    this.members.page(users, memberSeq, after, next, fresh);
    this.onlineChanged();
  }

  /**
   * @internal A message from the relay (live, or in a page of history): verified, then added in
   * order, once. A hole before it is fetched: before a live message, also in a room the relay
   * described as empty (synced at seq 0), whose first message may have been lost on the way; a
   * first visit's page starts where the relay chose, and what is before it is loadOlder's.
   */
  receive(message: ChatMessage, live = false): void {
    void this.queue(async () => {
      const checked = await this.check(message);
      if (!checked) return;
      const known = this.seq > 0 || (live && this.synced);
      if (message.seq > this.seq + 1 && known) this.host.refill(this);
      this.accept(checked);
      this.host.persist(this);
    });
  }

  /** Runs `work` once everything from the relay before it is checked and in: one order for live messages and pages. */
  private queue(work: () => Promise<void>): Promise<void> {
    this.incoming = this.incoming.then(work).catch(() => undefined);
    return this.incoming;
  }

  /**
   * A message from the relay as the app may see it, its signature checked; null when it is here
   * already (our own coming back included). Every message from the relay passes here, live or in
   * any page of history.
   */
  private async check(message: ChatMessage): Promise<ClientMessage | null> {
    if (this.takeBackOwn(message)) return null;
    if (this.bySeq.has(message.seq)) return null;
    const keys = await this.host.keysOf(message.author).catch(() => []);
    // A verifier whose code could not load is tried once more (the load too, ./lazy.ts); a second
    // failure leaves the message unverified: it must not break the chain, or every later message
    // of the room would be lost.
    const verify = () => this.host.verify(message, keys);
    const signed =
      keys.length > 0 &&
      (await verify()
        .catch(verify)
        .catch(() => false));
    if (this.bySeq.has(message.seq)) return null;
    // The signature covers the room a message names, not the room whose history carries it: a
    // relay could pass another room's message off as this room's.
    const verified = signed && message.room === this.name && !this.replayed(message);
    return { ...message, verified, state: 'sent' };
  }

  /**
   * Our own message came back through the relay: it is sent, whether its reply came first, comes
   * later or was lost. Matched by client id, so it is never shown twice; our text is kept.
   */
  private takeBackOwn(message: ChatMessage): boolean {
    if (message.author !== this.host.userId) return false;
    const own = this.list.find(
      (m) => m.author === message.author && m.cid === message.cid && (m.seq === null || m.seq === message.seq),
    );
    if (!own) return false;
    this.bySeq.add(message.seq);
    this.seq = Math.max(this.seq, message.seq);
    // The signature and time the relay stored (signed as it went out, later than the message was written).
    const stored =
      own.sig === message.sig && own.ts === message.ts
        ? own
        : this.replace(own, revised(own, { sig: message.sig, ts: message.ts }));
    if (stored.state !== 'sent') this.settle(message.cid, { seq: message.seq });
    else if (stored !== own) this.emit('message', stored);
    this.host.persist(this);
    return true;
  }

  /**
   * A relay can serve a validly signed message again under a new number; its author wrote it once,
   * at the lower number. A copy already shown that turns out to be the later one loses its mark.
   */
  private replayed(message: ChatMessage): boolean {
    const copy = this.list.find(
      (m) => m.seq !== null && m.author === message.author && m.cid === message.cid && m.sig === message.sig,
    );
    if (!copy) return false;
    if (copy.seq! < message.seq) return true;
    if (copy.verified) this.emit('message', this.replace(copy, revised(copy, { verified: false })));
    return false;
  }

  /**
   * @internal A join (`user`) or leave (null) event. Told twice when two connections overlap (a
   * rotation), or late: one arrival, one notice, and nothing older than what is known.
   */
  memberEvent(userId: number, user: Profile | null, memberSeq: number): void {
    const change = this.members.event(userId, user, memberSeq);
    this.checkMembers();
    if (!change) return;
    this.onlineView = null;
    if ('joined' in change) this.emit('join', change.joined);
    else this.emit('leave', { userId, user: change.left });
    this.emit('online', this.online);
  }

  /** @internal */
  profileChanged(user: Profile): void {
    if (this.members.profileChanged(user)) this.onlineChanged();
  }

  private onlineChanged(): void {
    this.onlineView = null;
    this.emit('online', this.online);
  }

  /** Puts `message` at `index`, frozen. */
  private insert(index: number, message: ClientMessage): void {
    this.list.splice(index, 0, Object.freeze(message));
    this.listView = null;
  }

  /** Puts `next` in the place of `current`, frozen: a message handed out is replaced, never changed. */
  private replace(current: ClientMessage, next: ClientMessage): ClientMessage {
    this.list[this.list.indexOf(current)] = Object.freeze(next);
    this.listView = null;
    return next;
  }

  private checkMembers(): void {
    if (this.members.incomplete) this.host.membersIncomplete(this);
  }

  /**
   * @internal What to cache: the newest sent messages. During a catch-up only those up to it, and
   * never past what is checked and in (a handshake moves the catch-up on before its page is), so a
   * restart resumes from there instead of skipping what was not fetched or checked yet.
   */
  snapshot(limit: number): CachedRoom {
    const upTo = Math.min(this.catchUp ?? this.seq, this.seq);
    const sent = this.list.filter((m) => m.state === 'sent' && m.seq !== null && m.seq <= upTo);
    return { seq: upTo, messages: sent.slice(-limit) };
  }

  /** Adds a sent message in order, once; true when it was new. `announce`: emit `message` for it. */
  private accept(message: ClientMessage, announce = true): boolean {
    if (message.seq === null || this.bySeq.has(message.seq)) return false;
    this.bySeq.add(message.seq);
    this.seq = Math.max(this.seq, message.seq);
    this.insert(this.sentIndex(message.seq), message);
    if (announce) this.emit('message', message);
    return true;
  }

  /** Where a sent message numbered `seq` goes: sent messages in sequence order, ahead of anything still pending. */
  private sentIndex(seq: number): number {
    let index = this.list.length;
    while (index > 0) {
      const before = this.list[index - 1]!;
      if (before.seq !== null && before.seq < seq) break;
      index--;
    }
    return index;
  }

  private settlement(cid: string): Promise<ClientMessage> {
    return new Promise((resolve, reject) => this.waiting.set(cid, { resolve, reject }));
  }
}

/** A copy of `message` with `change`, without the error of an earlier failure (a failed message carries its own). */
function revised({ error: _earlierError, ...message }: ClientMessage, change: Partial<ClientMessage>): ClientMessage {
  return { ...message, ...change };
}
