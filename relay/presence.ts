/**
 * Who is online, per relay and per room, counted by user rather than by connection: a user with
 * two tabs joins once and leaves when the last tab goes. Also indexes sockets by user and by
 * session, so a logout or password change reaches every connection that uses the session.
 *
 * Each room numbers its joins and leaves (`memberSeq`, PROTOCOL.md "Member lists"): a client that
 * hears them on two connections at once (a rotation), or a list page and an event in either
 * order, keeps the newest word on each user, and a number it never heard says an event was lost.
 * The count starts again when a room empties: then no connection is left to have heard the old one.
 */
interface RoomMembers {
  /** User id → that user's connections in the room. */
  connections: Map<number, number>;
  /** The number of the room's latest join or leave. */
  memberSeq: number;
}

export class Presence<Socket> {
  private readonly byUser = new Map<number, Set<Socket>>();
  private readonly bySession = new Map<string, Set<Socket>>();
  private readonly rooms = new Map<string, RoomMembers>();

  /** Returns true when this is the user's first connection (the user just came online). */
  connect(userId: number, sessionHash: string, socket: Socket): boolean {
    addTo(this.bySession, sessionHash, socket);
    return addTo(this.byUser, userId, socket);
  }

  /** Returns true when this was the user's last connection (the user just went offline). */
  disconnect(userId: number, sessionHash: string, socket: Socket): boolean {
    removeFrom(this.bySession, sessionHash, socket);
    return removeFrom(this.byUser, userId, socket);
  }

  /** The user's join's number when the user was not in the room before, else null. */
  enter(room: string, userId: number): number | null {
    let members = this.rooms.get(room);
    if (!members) {
      members = { connections: new Map(), memberSeq: 0 };
      this.rooms.set(room, members);
    }
    const count = members.connections.get(userId) ?? 0;
    members.connections.set(userId, count + 1);
    return count === 0 ? ++members.memberSeq : null;
  }

  /** The user's leave's number when the user has no connection left in the room, else null. */
  exit(room: string, userId: number): number | null {
    const members = this.rooms.get(room);
    const count = members?.connections.get(userId);
    if (!members || count === undefined) return null;
    if (count > 1) {
      members.connections.set(userId, count - 1);
      return null;
    }
    members.connections.delete(userId);
    if (members.connections.size === 0) this.rooms.delete(room);
    return ++members.memberSeq;
  }

  /** The number of the room's latest join or leave (0 for an empty room). */
  memberSeq(room: string): number {
    return this.rooms.get(room)?.memberSeq ?? 0;
  }

  socketsOfSession(sessionHash: string): Socket[] {
    return [...(this.bySession.get(sessionHash) ?? [])];
  }

  socketsOfUser(userId: number): Socket[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  roomMembers(room: string): number[] {
    return [...(this.rooms.get(room)?.connections.keys() ?? [])];
  }

  roomCount(): number {
    return this.rooms.size;
  }

  onlineUsers(): number[] {
    return [...this.byUser.keys()];
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): boolean {
  let set = map.get(key);
  const first = !set;
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
  return first;
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): boolean {
  const set = map.get(key);
  if (!set?.delete(value)) return false;
  if (set.size > 0) return false;
  map.delete(key);
  return true;
}

/**
 * How long a closed connection still counts, in its rooms and online. A client usually comes back
 * within it: the SDK moving to a new connection that the byte budget or a freeze cut short, a phone
 * changing networks. Then nobody is told of a leave and a join that never happened, and whoever
 * joins meanwhile finds the user in the room. Leaving a room on purpose, logging out and ended
 * sessions count at once.
 */
export const NOTICE_GRACE_MS = 5000;

/** Runs `release` (a closed connection's exit from presence) once the grace is over. */
export function afterGrace(release: () => void): void {
  setTimeout(release, NOTICE_GRACE_MS).unref?.();
}
