/**
 * Who is online in one room, kept right whatever order the relay's words about it arrive in.
 *
 * The relay numbers each room's joins and leaves (`memberSeq`, PROTOCOL.md "Member lists"), and
 * gives every list page as of a number. Words arrive out of order whenever two connections overlap
 * (a rotation: the old one may still deliver a join after the new one said more), and a list page
 * may be applied after events that came behind it. So the list keeps, per user, the newest word
 * heard and its number, and ignores anything older; a number never heard is an event lost on the
 * way (a connection cut short), after which the list is incomplete until asked for again.
 */
import type { Profile } from './protocol/frames.ts';

interface Word {
  /** Null: the user left (kept, so an older join heard late does not bring them back). */
  user: Profile | null;
  memberSeq: number;
}

/** A gap wider than this is not tracked number by number: the list is simply incomplete. */
const MAX_MISSING = 256;

export class MemberList {
  private readonly words = new Map<number, Word>();
  /** The highest number heard, or given by a list. */
  private heard = 0;
  /** Numbers below `heard` never heard. */
  private readonly missing = new Set<number>();
  private overflow = false;

  get online(): Profile[] {
    const users: Profile[] = [];
    for (const { user } of this.words.values()) if (user) users.push(user);
    return users;
  }

  has(userId: number): boolean {
    return this.words.get(userId)?.user != null;
  }

  /** Some join or leave never arrived: the list may be wrong until it is asked for again. */
  get incomplete(): boolean {
    return this.overflow || this.missing.size > 0;
  }

  /**
   * A join (`user`) or a leave (null) numbered `memberSeq`. Returns what it changed: `joined`,
   * `left` (with the profile that left), or null when it was old news or no change.
   */
  event(userId: number, user: Profile | null, memberSeq: number): { joined: Profile } | { left: Profile } | null {
    this.hear(memberSeq);
    const word = this.words.get(userId);
    if (word && word.memberSeq >= memberSeq) return null;
    this.words.set(userId, { user, memberSeq });
    if (user && !word?.user) return { joined: user };
    if (!user && word?.user) return { left: word.user };
    return null;
  }

  /**
   * A page of the list as of `memberSeq`: the users online with ids after `after` up to `next`
   * (to the end when null). `fresh`: the first page of a list asked for anew, which replaces what
   * was known (the relay may have numbered afresh since: it restarted, or the room emptied).
   */
  page(users: Profile[], memberSeq: number, after: number, next: number | null, fresh: boolean): void {
    if (fresh) {
      this.words.clear();
      this.missing.clear();
      this.overflow = false;
      this.heard = memberSeq;
    }
    const listed = new Set(users.map((user) => user.id));
    for (const [userId, word] of this.words) {
      const inPage = userId > after && (next === null || userId <= next);
      if (inPage && word.user && word.memberSeq <= memberSeq && !listed.has(userId))
        this.words.set(userId, { user: null, memberSeq });
    }
    for (const user of users) {
      const word = this.words.get(user.id);
      if (!word || word.memberSeq <= memberSeq) this.words.set(user.id, { user, memberSeq });
    }
  }

  /**
   * A join that did not ask for the list (a rotation's, beside a connection that keeps it): every
   * number up to `memberSeq` happened before it, and only the old connection can still bring those
   * not heard yet.
   */
  expect(memberSeq: number): void {
    this.hear(memberSeq, true);
  }

  /** A user's new profile, if they are online here; true when the list changed. */
  profileChanged(user: Profile): boolean {
    const word = this.words.get(user.id);
    if (!word?.user) return false;
    this.words.set(user.id, { user, memberSeq: word.memberSeq });
    return true;
  }

  /** Takes note of a number; `upTo`: every number up to it, not that one as heard (it may be old). */
  private hear(memberSeq: number, upTo = false): void {
    if (memberSeq <= this.heard) {
      if (!upTo) this.missing.delete(memberSeq);
      return;
    }
    const unheard = memberSeq - this.heard - (upTo ? 0 : 1);
    if (unheard > MAX_MISSING || this.missing.size + unheard > MAX_MISSING) this.overflow = true;
    else for (let n = this.heard + 1; n <= this.heard + unheard; n++) this.missing.add(n);
    this.heard = memberSeq;
  }
}
