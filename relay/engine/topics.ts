/**
 * Who listens to which topic, for engines that fan out in JavaScript: the Node engine always, the
 * uWS engine while a byte budget is on (uWS's own publish writes natively and cannot count each
 * connection's bytes).
 */
export class TopicIndex<P> {
  private readonly members = new Map<string, Set<P>>();

  add(topic: string, peer: P): void {
    let set = this.members.get(topic);
    if (!set) {
      set = new Set();
      this.members.set(topic, set);
    }
    set.add(peer);
  }

  remove(topic: string, peer: P): void {
    const set = this.members.get(topic);
    if (!set?.delete(peer)) return;
    if (set.size === 0) this.members.delete(topic);
  }

  of(topic: string): ReadonlySet<P> {
    return this.members.get(topic) ?? EMPTY;
  }
}

const EMPTY: ReadonlySet<never> = new Set();
