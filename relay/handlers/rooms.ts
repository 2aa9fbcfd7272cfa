/**
 * Rooms and messages: join (history and who is online), leave, send (signature check, sequence
 * number, durable append, fan-out), online.
 */
import { SovError } from '../../sdk/errors.ts';
import { LIMITS, signedBytes } from '../../sdk/protocol.ts';
import type { Socket } from '../connection.ts';
import { verifySignature } from '../signatures.ts';
import { RawResult, eventFrame, profileOf, profilesOf, requireSession, roomTopic } from './context.ts';
import type { HandlerTable, RelayContext } from './context.ts';

/**
 * History in one join reply stops at about this many bytes (the newest messages; `gap` tells a
 * resuming client what it will not get). 1,000 ordinary messages fit; a room of 4,000-character
 * messages sends its newest hundred or so. It keeps a reply well under the 1 MB a slow link may
 * hold in the relay's send buffer, and a phone on a slow link from a minutes-long download.
 */
export const MAX_HISTORY_REPLY_BYTES = 768 * 1024;

export function leaveRoom(ctx: RelayContext, ws: Socket, room: string): void {
  const connection = ws.data;
  if (!connection.rooms.delete(room) || !connection.session) return;
  ws.unsubscribe(roomTopic(room));
  if (ctx.presence.exit(room, connection.session.userId)) {
    ctx.publish(roomTopic(room), eventFrame({ ev: 'leave', room, userId: connection.session.userId }));
  }
}

export const roomHandlers: HandlerTable<'join' | 'leave' | 'send' | 'online'> = {
  join(ctx, ws, { room, after, limit }) {
    const { userId } = requireSession(ws);
    const connection = ws.data;
    if (!connection.rooms.has(room)) {
      if (connection.rooms.size >= LIMITS.maxRoomsPerConnection) throw new SovError('TOO_MANY_ROOMS');
      connection.rooms.add(room);
      // Subscribing and reading history in one synchronous step: no message can fall between them.
      ws.subscribe(roomTopic(room));
      if (ctx.presence.enter(room, userId)) {
        const user = profileOf(ctx, userId);
        if (user) ctx.publish(roomTopic(room), eventFrame({ ev: 'join', room, user }));
      }
    }
    const slice = ctx.history.since(room, after, Math.min(limit ?? ctx.history.historySize, ctx.history.historySize), MAX_HISTORY_REPLY_BYTES);
    const online = profilesOf(ctx, ctx.presence.roomMembers(room));
    return new RawResult(
      `{"room":${JSON.stringify(room)},"seq":${slice.seq},"gap":${slice.gap},"online":${JSON.stringify(online)},"messages":[${slice.messages.join(',')}]}`,
    );
  },

  leave(ctx, ws, { room }) {
    requireSession(ws);
    leaveRoom(ctx, ws, room);
    return {};
  },

  async send(ctx, ws, message) {
    const { userId } = requireSession(ws);
    if (!ws.data.rooms.has(message.room)) throw new SovError('NOT_IN_ROOM');
    if (message.author !== userId) throw new SovError('WRONG_AUTHOR', undefined, { field: 'author' });
    if (Math.abs(message.ts - Date.now()) > LIMITS.maxClockSkewMs) throw new SovError('CLOCK_SKEW', undefined, { field: 'ts' });
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

  online(ctx, ws, { room }) {
    requireSession(ws);
    return { users: profilesOf(ctx, room === undefined ? ctx.presence.onlineUsers() : ctx.presence.roomMembers(room)) };
  },
};
