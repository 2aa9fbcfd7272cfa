/**
 * History and lists of who is online past the first page (PROTOCOL.md "Pages"): the rest of a
 * resume's catch-up, older messages, further pages of profiles. Internal to ./client.ts, which
 * loads it on first use: without a byte budget a join reply holds all of it for nearly every room,
 * and in <sov-chat>'s first download this code would cross its size budget (bench/lib/bundle-size.ts).
 */
import type { Profile, RequestMap, RequestType, ResultMap } from './protocol/frames.ts';
import type { Room } from './room.ts';

/** What the pages need from the client: requests, and its profile cache. */
export interface PagesHost {
  request<K extends RequestType>(type: K, fields: RequestMap[K]): Promise<ResultMap[K]>;
  learn(users: Profile[]): void;
}

/**
 * Pages of messages after the room's `catchUp` number until the newest, applied in order, each
 * asked for from where the last one ended. Stops, leaving `catchUp` for the next connection's
 * join to go on from, when a request fails or a newer sync of the room took over.
 */
export async function catchUp(host: PagesHost, room: Room, sync: number): Promise<void> {
  for (let more = true; more && room.syncs === sync; ) {
    // Past any page handed in meanwhile (a rejoin's), never back to one the room has.
    const after = Math.max(room.catchUp!, room.pagedTo);
    const next = await host.request('history', { room: room.name, after });
    if (room.syncs !== sync) return;
    const page = await room.applyPage(next.messages);
    // A newer sync may have begun while the page was checked: where to go on is its to say.
    if (room.syncs !== sync) return;
    const last = page.at(-1)?.seq ?? 0;
    // Numbers only grow: a relay that answered with nothing newer would keep the client asking.
    more = next.more && last > after;
    room.catchUp = more ? last : null;
  }
}

/** One page of who is online: the users with ids after `after` up to `next` (to the end when null), as of the room's `memberSeq`. */
export interface OnlinePage {
  users: Profile[];
  after: number;
  next: number | null;
  memberSeq: number;
}

/** Pages of who is online (in `room`, or on the relay) after `after` until the last; each goes to `take` while `current()`. */
export async function onlinePages(
  host: PagesHost,
  room: string | undefined,
  after: number | null,
  take: (page: OnlinePage) => void,
  current = (): boolean => true,
): Promise<void> {
  while (after !== null && current()) {
    const { users, next, memberSeq } = await host.request('online', room === undefined ? { after } : { room, after });
    if (!current()) return;
    host.learn(users);
    // Ids only grow: a relay that pointed back would keep the client asking forever.
    const following = next !== null && next > after ? next : null;
    take({ users, after, next: following, memberSeq: memberSeq ?? 0 });
    after = following;
  }
}

/** The page of messages before the oldest one `room` has, added at its front; resolves with how many were new. */
export async function loadOlder(host: PagesHost, room: Room): Promise<number> {
  const before = room.messages.find((message) => message.seq !== null)?.seq ?? room.seq + 1;
  const { messages, more } = await host.request('history', {
    room: room.name,
    before,
  });
  return room.addOlder(messages, before, more);
}
