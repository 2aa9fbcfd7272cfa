/**
 * One joined room: its messages in sequence order (verified before the app sees them), who is
 * online in it, and the outgoing messages with their state. Created by `SovClient.join`.
 */
import { Emitter } from './emitter.ts';
import { SovError } from './errors.ts';
import { toBase64Url } from './encoding.ts';
import { messageText } from './protocol/fields.ts';
import type { ChatMessage, JoinResult, Profile } from './protocol/frames.ts';

export type MessageState = 'pending' | 'sent' | 'failed';

/** A message as the app sees it. */
export interface ClientMessage extends Omit<ChatMessage, 'seq'> {
  /** The room's sequence number; null while the message waits in the outbox. */
  seq: number | null;
  /** True only when the signature checked out against the author's keys. Never show a false one as authentic. */
  verified: boolean;
  state: MessageState;
  /** Why a message failed (state "failed"). */
  error?: SovError;
}

export interface RoomEvents extends Record<string, unknown> {
  /** A new message, or a change to one (pending to sent, sent to failed...). */
  message: ClientMessage;
  join: Profile;
  leave: { userId: number; user?: Profile };
  /** The online list changed. */
  online: Profile[];
  /** The relay could not give every missed message (the client was away longer than its history). */
  gap: { seq: number };
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
}

export interface CachedRoom {
  seq: number;
  messages: ClientMessage[];
}

export class Room extends Emitter<RoomEvents> {
  /** Messages in order: sent ones by sequence number, then pending and failed ones by creation. */
  readonly messages: ClientMessage[] = [];
  /** Highest sequence number received; a hole below it is fetched as soon as it shows. */
  seq = 0;
  private readonly onlineUsers = new Map<number, Profile>();
  private readonly bySeq = new Set<number>();
  private readonly waiting = new Map<string, { resolve(message: ClientMessage): void; reject(error: SovError): void }>();
  private incoming: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly host: RoomHost,
  ) {
    super();
  }

  get online(): Profile[] {
    return [...this.onlineUsers.values()];
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
    this.messages.push(message);
    this.emit('message', message);
    const settled = this.settlement(message.cid);
    this.host.enqueue(this, message);
    return settled;
  }

  /** Sends a failed message again (same client id, so it can never be stored twice). */
  retry(message: ClientMessage): Promise<ClientMessage> {
    if (message.state !== 'failed') return Promise.resolve(message);
    message.state = 'pending';
    delete message.error;
    this.emit('message', message);
    const settled = this.settlement(message.cid);
    this.host.retry(this, message);
    return settled;
  }

  /** @internal The outbox reports a result for one of this room's messages. */
  settle(cid: string, outcome: { seq: number } | { error: SovError }): void {
    const message = this.messages.find((m) => m.cid === cid && m.author === this.host.userId);
    const waiter = this.waiting.get(cid);
    this.waiting.delete(cid);
    if (!message) return;
    if ('seq' in outcome) {
      // Known by number from now on, so the relay's copy of it (which may arrive after this
      // reply) is recognised as this message, not added a second time.
      this.bySeq.add(outcome.seq);
      if (message.state !== 'sent') {
        message.state = 'sent';
        message.seq = outcome.seq;
        this.emit('message', message);
      }
      waiter?.resolve(message);
    } else {
      message.state = 'failed';
      message.error = outcome.error;
      this.emit('message', message);
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
    for (const message of pending) {
      this.messages.push(message);
      this.settlement(message.cid).catch(() => undefined);
      this.emit('message', message);
    }
  }

  /** @internal Applies a join reply: online list, and history after what the room already has. */
  applyJoin(result: JoinResult): Promise<void> {
    this.onlineUsers.clear();
    for (const user of result.online) this.onlineUsers.set(user.id, user);
    this.emit('online', this.online);
    if (result.gap) {
      this.emit('gap', { seq: this.seq });
      // Messages kept from before the hole stay; numbering continues from what the relay sends now.
      this.seq = Math.max(0, (result.messages[0]?.seq ?? result.seq + 1) - 1);
    }
    for (const message of result.messages) this.receive(message);
    return this.incoming;
  }

  /** @internal A message from the relay (live or history): verified, then added in order, once. */
  receive(message: ChatMessage): void {
    this.incoming = this.incoming
      .then(async () => {
        if (this.takeBackOwn(message)) return;
        if (this.bySeq.has(message.seq)) return;
        const keys = await this.host.keysOf(message.author).catch(() => []);
        // A verifier that fails (its code could not load, say) leaves the message unverified; it
        // must not break the chain, or every later message of the room would be lost.
        const signed = keys.length > 0 && (await this.host.verify(message, keys).catch(() => false));
        if (this.bySeq.has(message.seq)) return;
        if (message.seq > this.seq + 1 && this.seq > 0) this.host.refill(this);
        // The signature covers the room a message names, not the room whose history carries it: a
        // relay could pass another room's message off as this room's.
        const verified = signed && message.room === this.name && !this.replayed(message);
        this.accept({ ...message, verified, state: 'sent' });
        this.host.persist(this);
      })
      .catch(() => undefined);
  }

  /**
   * Our own message came back through the relay: it is sent, whether its reply came first, comes
   * later or was lost. Matched by client id, so it is never shown twice; our text is kept.
   */
  private takeBackOwn(message: ChatMessage): boolean {
    if (message.author !== this.host.userId) return false;
    const own = this.messages.find((m) => m.author === message.author && m.cid === message.cid && (m.seq === null || m.seq === message.seq));
    if (!own) return false;
    this.bySeq.add(message.seq);
    this.seq = Math.max(this.seq, message.seq);
    own.sig = message.sig;
    own.ts = message.ts;
    this.settle(message.cid, { seq: message.seq });
    this.host.persist(this);
    return true;
  }

  /**
   * A relay can serve a validly signed message again under a new number; its author wrote it once,
   * at the lower number. A copy already shown that turns out to be the later one loses its mark.
   */
  private replayed(message: ChatMessage): boolean {
    const copy = this.messages.find((m) => m.seq !== null && m.author === message.author && m.cid === message.cid && m.sig === message.sig);
    if (!copy) return false;
    if (copy.seq! < message.seq) return true;
    if (copy.verified) {
      copy.verified = false;
      this.emit('message', copy);
    }
    return false;
  }

  /** @internal */
  userJoined(user: Profile): void {
    this.onlineUsers.set(user.id, user);
    this.emit('join', user);
    this.emit('online', this.online);
  }

  /** @internal */
  userLeft(userId: number): void {
    const user = this.onlineUsers.get(userId);
    this.onlineUsers.delete(userId);
    this.emit('leave', user ? { userId, user } : { userId });
    this.emit('online', this.online);
  }

  /** @internal */
  profileChanged(user: Profile): void {
    if (!this.onlineUsers.has(user.id)) return;
    this.onlineUsers.set(user.id, user);
    this.emit('online', this.online);
  }

  /** @internal What to cache: the newest sent messages. */
  snapshot(limit: number): CachedRoom {
    const sent = this.messages.filter((m) => m.state === 'sent' && m.seq !== null);
    return { seq: this.seq, messages: sent.slice(-limit) };
  }

  private accept(message: ClientMessage): void {
    if (message.seq === null || this.bySeq.has(message.seq)) return;
    this.bySeq.add(message.seq);
    this.seq = Math.max(this.seq, message.seq);
    // Keep sent messages in sequence order, ahead of anything still pending.
    let index = this.messages.length;
    while (index > 0) {
      const before = this.messages[index - 1]!;
      if (before.seq !== null && before.seq < message.seq) break;
      index--;
    }
    this.messages.splice(index, 0, message);
    this.emit('message', message);
  }

  private settlement(cid: string): Promise<ClientMessage> {
    return new Promise((resolve, reject) => this.waiting.set(cid, { resolve, reject }));
  }
}
