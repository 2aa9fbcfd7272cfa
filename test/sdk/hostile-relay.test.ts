// A relay that breaks the protocol, as the SDK meets it: the built package in Node with `ws`, talking
// to the real relay through a man in the middle that rewrites frames on their way to one client (as
// test/browser/hostile-network.ts does in Chromium). Each broken frame must be refused by the parser
// (sdk/protocol/relay-frames.ts) with BAD_RELAY_FRAME, reach neither room.messages nor a member list,
// and leave the client working: the next valid frame is taken as ever.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { SovClient, SovError, memoryStorage } from 'sovereign-chat';
import type { Room } from 'sovereign-chat';
import { eventually, uniqueName } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

type Frame = Record<string, unknown>;

/** Rewrites the next frame from the relay that `rewrite` changes (returns something else than null for), then stops. */
let rewriteOnce: ((frame: Frame) => Frame | null) | null = null;

/** `ws`, with every frame from the relay passing `rewriteOnce` before the SDK reads it. */
class RewritingSocket extends WebSocket {
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'message' && rewriteOnce) {
      const rewritten = rewriteOnce(JSON.parse(String(args[0])));
      if (rewritten) {
        rewriteOnce = null;
        return super.emit(event, Buffer.from(JSON.stringify(rewritten)), false);
      }
    }
    return super.emit(event, ...args);
  }
}

const isJoinReply = (frame: Frame): boolean =>
  frame.ok === true &&
  typeof frame.result === 'object' &&
  frame.result !== null &&
  'online' in frame.result &&
  'messages' in frame.result;
const texts = (room: Room): string[] => room.messages.map((message) => message.text);
const onlineNames = (room: Room): string[] => room.online.map((user) => user.username).sort();

describe('a relay that sends malformed frames', () => {
  let relay: RelayProcess;
  const clients: SovClient[] = [];
  before(async () => {
    relay = await startRelay();
  });
  after(async () => {
    for (const client of clients) client.close();
    await relay.stop();
  });

  /** A registered client; `hostile`: its frames pass the man in the middle. */
  async function person(name: string, hostile = false): Promise<SovClient> {
    const client = new SovClient({
      relay: relay.url,
      WebSocket: hostile ? RewritingSocket : WebSocket,
      storage: memoryStorage(),
    });
    clients.push(client);
    await client.register({
      username: uniqueName(name),
      password: 'a hostile relay',
      firstName: name,
      lastName: 'Test',
    });
    return client;
  }

  /** The errors `client` tells of, as [code, field]. */
  function errorsOf(client: SovClient): [string, string | undefined][] {
    const errors: [string, string | undefined][] = [];
    client.on('error', (error) => errors.push([error.code, error.field]));
    return errors;
  }

  test('a join reply with a malformed history entry is refused whole: the join fails with BAD_RELAY_FRAME, the entry is nowhere, and the next join and message arrive', async () => {
    const [alice, reader] = [await person('alice'), await person('reader', true)];
    const room = uniqueName('history');
    const roomA = await alice.join(room);
    await roomA.send('one');
    await roomA.send('two');
    const errors = errorsOf(reader);
    rewriteOnce = (frame) => {
      if (!isJoinReply(frame)) return null;
      const result = frame.result as { messages: Frame[] };
      return {
        ...frame,
        result: {
          ...result,
          messages: [result.messages[0], { ...result.messages[1], seq: 'two', text: 'FORGED' }],
        },
      };
    };
    await assert.rejects(
      reader.join(room),
      (error: unknown) =>
        error instanceof SovError && error.code === 'BAD_RELAY_FRAME' && error.field === 'result.messages.1.seq',
    );
    assert.deepEqual(errors, [['BAD_RELAY_FRAME', 'result.messages.1.seq']]);
    assert.equal(reader.state, 'connected', 'the connection carries on');

    const roomB = await reader.join(room);
    assert.deepEqual(texts(roomB), ['one', 'two']);
    await roomA.send('three');
    await eventually(() => texts(roomB).includes('three'), 'the next message at the reader');
    assert.deepEqual(texts(roomB), ['one', 'two', 'three']);
    assert.ok(roomB.messages.every((message) => message.verified));
  });

  test('a join event without its user is refused: the member list does not take it, the next join arrives, and the list asked for again is whole', async () => {
    const [watcher, carol, dave] = [await person('watcher', true), await person('carol'), await person('dave')];
    const room = uniqueName('members');
    const roomW = await watcher.join(room);
    const errors = errorsOf(watcher);
    rewriteOnce = (frame) => (frame.ev === 'join' ? { ...frame, user: undefined } : null);
    await carol.join(room);
    await eventually(() => errors.length === 1, 'the refused join event');
    assert.deepEqual(errors, [['BAD_RELAY_FRAME', 'join.user']]);
    assert.deepEqual(onlineNames(roomW), [watcher.user!.username]);

    await dave.join(room);
    await eventually(() => onlineNames(roomW).includes(dave.user!.username), 'the next join at the watcher');
    // The refused join left a number unheard (memberSeq): the list is asked for again and has carol, from the relay's own list.
    await eventually(() => onlineNames(roomW).includes(carol.user!.username), 'carol, from the list asked for again');
    assert.deepEqual(onlineNames(roomW), [carol.user!.username, dave.user!.username, watcher.user!.username].sort());
  });

  test('a message event with a field of the wrong type is refused: nothing of it is in room.messages, and the next message arrives', async () => {
    const [alice, reader] = [await person('alice'), await person('reader', true)];
    const room = uniqueName('live');
    const [roomA, roomB] = [await alice.join(room), await reader.join(room)];
    await roomA.send('zero');
    await eventually(() => texts(roomB).includes('zero'), 'a first message at the reader');
    const errors = errorsOf(reader);
    rewriteOnce = (frame) =>
      frame.ev === 'message' ? { ...frame, author: String(frame.author), text: 'FORGED' } : null;
    await roomA.send('first');
    await eventually(() => errors.length === 1, 'the refused message event');
    assert.deepEqual(errors, [['BAD_RELAY_FRAME', 'message.author']]);

    await roomA.send('second');
    await eventually(() => texts(roomB).includes('second'), 'the next message at the reader');
    assert.ok(!texts(roomB).includes('FORGED'));
    // The genuine first message is fetched as the hole before "second" shows (Room refill), from a valid page.
    await eventually(() => texts(roomB).length === 3, 'the genuine first message');
    assert.deepEqual(texts(roomB), ['zero', 'first', 'second']);
    assert.ok(roomB.messages.every((message) => message.verified && message.author === alice.user!.id));
  });
});
