/**
 * Two people who keep chatting in their room through all of the fuzzing (invariant c).
 */
import { type Identity, registerIdentity, sign } from './identities.ts';
import type { FuzzHarness } from './harness.ts';
import { Peer, sleep } from './peer.ts';

interface Talker {
  peer: Peer;
  me: Identity;
  received: Map<string, any>;
}

export class Bystanders {
  readonly room = `bystanders-${process.pid.toString(36)}`;
  sent = 0;
  /** cid -> the signed message and the seq its reply gave. */
  private readonly confirmed = new Map<string, { body: Record<string, unknown>; seq: number }>();
  private running = true;
  private loop: Promise<void> = Promise.resolve();
  private ending = false;

  private constructor(
    private readonly harness: FuzzHarness,
    readonly alice: Talker,
    readonly bob: Talker,
  ) {}

  static async start(harness: FuzzHarness): Promise<Bystanders> {
    const talker = async (): Promise<Talker> => {
      const peer = await Peer.connect(harness.relay.wsUrl);
      const me = await registerIdentity(peer, 'byst');
      return { peer, me, received: new Map() };
    };
    const [alice, bob] = await Promise.all([talker(), talker()]);
    const group = new Bystanders(harness, alice, bob);
    for (const person of [alice, bob]) {
      person.peer.onEvent = (event) => {
        if (event.ev === 'message' && event.room === group.room) person.received.set(event.cid, event);
      };
      person.peer.onProblem = (problem) => harness.violation('c', 'malformed frame to a bystander', problem);
      person.peer.closed.then((info) => {
        if (!group.ending) harness.suspect('c', 'a bystander was disconnected', `close ${info.code} ${info.reason}`);
      });
      await person.peer.call('join', { room: group.room });
    }
    group.loop = group.chat();
    return group;
  }

  get delivered(): number {
    let count = 0;
    for (const cid of this.confirmed.keys()) if (this.alice.received.has(cid) && this.bob.received.has(cid)) count++;
    return count;
  }

  private async chat(): Promise<void> {
    for (let turn = 0; this.running; turn++) {
      const [from, to] = turn % 2 ? [this.bob, this.alice] : [this.alice, this.bob];
      try {
        await this.say(from, to);
      } catch (error) {
        this.harness.suspect('c', 'a bystander message failed', String(error));
        return;
      }
      await sleep(20);
    }
  }

  private async say(from: Talker, to: Talker): Promise<void> {
    const unsigned = {
      room: this.room,
      author: from.me.id,
      cid: `by${from.me.id}x${++this.sent}x${Date.now().toString(36)}`,
      ts: Date.now(),
      text: `still here ${this.sent} ✓`,
    };
    const body = { ...unsigned, sig: sign(from.me.privateKey, unsigned) };
    const reply = await from.peer.request('send', body);
    if (!reply.ok) {
      this.harness.violation('c', 'a bystander message was refused', `${reply.error?.code} ${reply.error?.message}`);
      return;
    }
    this.confirmed.set(body.cid, { body, seq: reply.result.seq });
    // Wait for the delivery before the next message (bounded, so that a lost message cannot stall
    // the loop; whether it arrived is judged at the end).
    const deadline = Date.now() + 30_000;
    while (!to.received.has(body.cid) && Date.now() < deadline && this.harness.relayAlive()) await to.peer.changed(250);
  }

  /**
   * Stops chatting and checks that every confirmed message reached both, unchanged. After a crash
   * (`alive` false) undelivered messages are only a symptom of the death, reported as (a).
   */
  async finish(alive: boolean): Promise<void> {
    this.running = false;
    await this.loop;
    if (alive && this.alice.peer.open && this.bob.peer.open) {
      // Messages of one room arrive in seq order, so once a last one arrives everything before it has.
      await this.say(this.alice, this.bob).catch(() => {});
      await this.say(this.bob, this.alice).catch(() => {});
      const deadline = Date.now() + 30_000;
      while (this.delivered < this.confirmed.size && Date.now() < deadline) await sleep(50);
    }
    this.ending = true;
    for (const [cid, { body, seq }] of this.confirmed) {
      for (const [name, person] of [
        ['alice', this.alice],
        ['bob', this.bob],
      ] as const) {
        const event = person.received.get(cid);
        if (!event) {
          if (alive)
            this.harness.violation(
              'c',
              'a bystander message was not delivered',
              `${cid} (seq ${seq}) never reached ${name}`,
            );
          continue;
        }
        const expected = JSON.stringify({ ev: 'message', ...body, seq });
        const got = JSON.stringify({
          ev: event.ev,
          room: event.room,
          author: event.author,
          cid: event.cid,
          ts: event.ts,
          text: event.text,
          sig: event.sig,
          seq: event.seq,
        });
        if (got !== expected || Object.keys(event).length !== 8)
          this.harness.violation(
            'c',
            'a bystander message arrived altered',
            `expected ${expected}\n  got ${JSON.stringify(event)}`,
          );
      }
    }
    this.alice.peer.terminate();
    this.bob.peer.terminate();
  }

  stats(): { sent: number; confirmed: number; delivered: number } {
    return {
      sent: this.sent,
      confirmed: this.confirmed.size,
      delivered: this.delivered,
    };
  }
}
