/**
 * Who is online, per relay and per room, counted by user rather than by connection: a user with
 * two tabs joins once and leaves when the last tab goes. Also indexes sockets by user and by
 * session, so a logout or password change reaches every connection that uses the session.
 */
export class Presence<Socket> {
  private readonly byUser = new Map<number, Set<Socket>>();
  private readonly bySession = new Map<string, Set<Socket>>();
  private readonly rooms = new Map<string, Map<number, number>>();

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

  /** Returns true when the user was not in the room before. */
  enter(room: string, userId: number): boolean {
    let members = this.rooms.get(room);
    if (!members) {
      members = new Map();
      this.rooms.set(room, members);
    }
    const count = members.get(userId) ?? 0;
    members.set(userId, count + 1);
    return count === 0;
  }

  /** Returns true when the user has no connection left in the room. */
  exit(room: string, userId: number): boolean {
    const members = this.rooms.get(room);
    const count = members?.get(userId);
    if (!members || count === undefined) return false;
    if (count > 1) {
      members.set(userId, count - 1);
      return false;
    }
    members.delete(userId);
    if (members.size === 0) this.rooms.delete(room);
    return true;
  }

  socketsOfSession(sessionHash: string): Socket[] {
    return [...(this.bySession.get(sessionHash) ?? [])];
  }

  socketsOfUser(userId: number): Socket[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  roomMembers(room: string): number[] {
    return [...(this.rooms.get(room)?.keys() ?? [])];
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
