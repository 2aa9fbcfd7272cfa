/**
 * Rooms and messages: join (a page of history and of who is online), history (the pages before and
 * after), leave, send (size and signature checks, sequence number, durable append, fan-out), online.
 *
 * Every reply that lists messages or profiles is one page of `pageContentBytes` of them
 * (sdk/protocol/budget.ts): with a byte budget a whole reply fits its largest frame, since a
 * censoring network freezes a connection after about 16 KB and a frame larger than what is left
 * of a budget could never arrive. Without one, a page is 768 KB.
 */
import { SovError } from '../../sdk/errors.ts';
import { LIMITS, signedBytes } from '../../sdk/protocol.ts';
import { maxMessageBytes, pageContentBytes, storedMessageBytes } from '../../sdk/protocol/budget.ts';
import type { Socket } from '../connection.ts';
import { afterGrace } from '../presence.ts';
import { verifySignature } from '../signatures.ts';
import type { HistoryPage } from '../store/history.ts';
import { RawResult, eventFrame, profileOf, requireSession, roomTopic } from './context.ts';
import type { HandlerTable, RelayContext } from './context.ts';

/** A join reply gives who is online at most this share of its page; history gets the rest. */
const ONLINE_SHARE_OF_JOIN = 1 / 4;

/** One page of the profiles of `ids` above `after`, by id: JSON, and the last id when more remain. */
function profilePage(
  ctx: RelayContext,
  ids: number[],
  after: number,
  bytes: number,
): { json: string; bytes: number; next: number | null } {
  const sorted = ids.filter((id) => id > after).sort((a, b) => a - b);
  const parts: string[] = [];
  let used = 2;
  let last = after;
  for (const id of sorted) {
    const profile = profileOf(ctx, id);
    if (!profile) continue;
    const json = JSON.stringify(profile);
    const size = Buffer.byteLength(json) + 1;
    // The first profile goes even when it alone is over the page, or listing would stall on it.
    if (used + size > bytes && parts.length > 0) return { json: `[${parts.join(',')}]`, bytes: used, next: last };
    parts.push(json);
    used += size;
    last = id;
  }
  return { json: `[${parts.join(',')}]`, bytes: used, next: null };
}

function messagesJson(page: HistoryPage): string {
  return `[${page.messages.join(',')}]`;
}

function requireJoined(ws: Socket, room: string): void {
  if (!ws.data.rooms.has(room)) throw new SovError('NOT_IN_ROOM');
}

/** Leaves `room`; `closed`: because the connection closed, so it still counts in the room for the grace (presence.ts). */
export function leaveRoom(ctx: RelayContext, ws: Socket, room: string, closed = false): void {
  const connection = ws.data;
  if (!connection.rooms.delete(room) || !connection.session) return;
  ws.unsubscribe(roomTopic(room));
  const { userId } = connection.session;
  const exit = (): void => {
    const memberSeq = ctx.presence.exit(room, userId);
    if (memberSeq !== null) ctx.publish(roomTopic(room), eventFrame({ ev: 'leave', room, userId, memberSeq }));
  };
  if (closed) afterGrace(exit);
  else exit();
}

export const roomHandlers: HandlerTable<'join' | 'history' | 'leave' | 'send' | 'online'> = {
  join(ctx, ws, { room, after, limit, members }) {
    const { userId } = requireSession(ws);
    const connection = ws.data;
    if (!connection.rooms.has(room)) {
      if (connection.rooms.size >= LIMITS.maxRoomsPerConnection) throw new SovError('TOO_MANY_ROOMS');
      connection.rooms.add(room);
      // Subscribing and reading history in one synchronous step: no message can fall between them.
      ws.subscribe(roomTopic(room));
      const memberSeq = ctx.presence.enter(room, userId);
      const user = profileOf(ctx, userId);
      if (memberSeq !== null && user) ctx.publish(roomTopic(room), eventFrame({ ev: 'join', room, user, memberSeq }));
    }
    const page = pageContentBytes(ctx.config.connectionBudget);
    const online =
      members === false
        ? { json: '[]', bytes: 2, next: null }
        : profilePage(ctx, ctx.presence.roomMembers(room), 0, Math.floor(page * ONLINE_SHARE_OF_JOIN));
    const size = {
      bytes: page - online.bytes,
      limit: limit ?? Infinity,
      atLeastOne: false,
    };
    const history =
      after === undefined ? { ...ctx.history.newest(room, size), gap: false } : ctx.history.after(room, after, size);
    return new RawResult(
      `{"room":${JSON.stringify(room)},"seq":${ctx.history.lastSeq(room)},"gap":${history.gap},"messages":${messagesJson(history)},` +
        `"older":${after === undefined && history.more},"more":${after !== undefined && history.more},` +
        `"online":${online.json},"onlineNext":${online.next},"memberSeq":${ctx.presence.memberSeq(room)}}`,
    );
  },

  history(ctx, ws, { room, before, after, limit }) {
    requireSession(ws);
    requireJoined(ws, room);
    const size = {
      bytes: pageContentBytes(ctx.config.connectionBudget),
      limit: limit ?? Infinity,
      atLeastOne: true,
    };
    // parseRequest saw to it that exactly one of before and after is here.
    const page = before !== undefined ? ctx.history.before(room, before, size) : ctx.history.after(room, after!, size);
    return new RawResult(`{"room":${JSON.stringify(room)},"messages":${messagesJson(page)},"more":${page.more}}`);
  },

  leave(ctx, ws, { room }) {
    requireSession(ws);
    leaveRoom(ctx, ws, room);
    return {};
  },

  async send(ctx, ws, message) {
    const { userId } = requireSession(ws);
    requireJoined(ws, message.room);
    if (message.author !== userId) throw new SovError('WRONG_AUTHOR', undefined, { field: 'author' });
    // One message must fit one page, or no reply could carry it under the budget.
    if (storedMessageBytes(message) > maxMessageBytes(ctx.config.connectionBudget))
      throw new SovError('MESSAGE_TOO_BIG', undefined, { field: 'text' });
    if (Math.abs(message.ts - Date.now()) > LIMITS.maxClockSkewMs)
      throw new SovError('CLOCK_SKEW', undefined, { field: 'ts' });
    const account = ctx.accounts.get(userId);
    if (!account) throw new SovError('UNKNOWN_USER');
    const connection = ws.data;
    // Verification runs off the event loop and may finish out of order; chaining it per connection
    // keeps one sender's messages in the order they were sent. Only the check and the sequence
    // number wait in line, not the disk write.
    const admitted = connection.sendQueue.then(async () => {
      if (!(await verifySignature(ctx.accounts.currentKey(account), signedBytes(message), message.sig))) {
        throw new SovError('BAD_SIGNATURE', undefined, { field: 'sig' });
      }
      return { durable: ctx.history.accept(message) };
    });
    connection.sendQueue = admitted.then(
      () => undefined,
      () => undefined,
    );
    const stored = await (await admitted).durable;
    ctx.metrics.messageAccepted();
    const durableAt = performance.now();
    ctx.metrics.delivered(ctx.publish(roomTopic(message.room), `{"ev":"message",${stored.json.slice(1)}`));
    ctx.metrics.fanoutTook((performance.now() - durableAt) / 1000);
    return { seq: stored.seq };
  },

  online(ctx, ws, { room, after }) {
    requireSession(ws);
    const ids = room === undefined ? ctx.presence.onlineUsers() : ctx.presence.roomMembers(room);
    const page = profilePage(ctx, ids, after ?? 0, pageContentBytes(ctx.config.connectionBudget));
    const memberSeq = room === undefined ? '' : `,"memberSeq":${ctx.presence.memberSeq(room)}`;
    return new RawResult(`{"users":${page.json},"next":${page.next}${memberSeq}}`);
  },
};
