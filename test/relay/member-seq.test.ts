// Each room numbers its joins and leaves (memberSeq, PROTOCOL.md "Member lists"): one up per
// arrival or departure, none for a second connection of someone already there, and every list of
// who is online says the number it is as of. The SDK orders words from two connections by it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestClient, registerUser, uniqueName } from '../helpers/client.ts';
import type { EventFrame } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

describe('member numbers', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('count each join and leave in a room by one, and lists say the number they are as of', async () => {
    const room = uniqueName('room');
    const watcher = await TestClient.connect(relay.wsUrl);
    await registerUser(watcher);
    const first = await watcher.call('join', { room });
    assert.equal(first.memberSeq, 1, "the watcher's own join is the room's first");
    const anna = await TestClient.connect(relay.wsUrl);
    const annaUser = await registerUser(anna);
    await anna.call('join', { room });
    // A second connection of Anna's in the room: no arrival, no number.
    const annaAgain = await TestClient.connect(relay.wsUrl);
    await annaAgain.call('resume', { token: annaUser.session.token });
    assert.equal((await annaAgain.call('join', { room, members: false })).memberSeq, 2);
    const boris = await TestClient.connect(relay.wsUrl);
    const borisUser = await registerUser(boris);
    await boris.call('join', { room });
    await anna.call('leave', { room });
    await annaAgain.call('leave', { room });
    await boris.call('leave', { room });
    const numbered = (): string[] =>
      watcher.events
        .filter((event: EventFrame) => event.ev === 'join' || event.ev === 'leave')
        .map(
          (event) =>
            `${event.ev} ${event.ev === 'join' ? (event.user as { id: number }).id : event.userId} ${event.memberSeq}`,
        );
    await watcher.waitFor(() => (numbered().length >= 5 ? true : undefined), 'five numbered notices');
    const [annaId, borisId, watcherId] = [annaUser.profile.id, borisUser.profile.id, first.online[0]!.id];
    assert.deepEqual(numbered(), [
      `join ${watcherId} 1`,
      `join ${annaId} 2`,
      `join ${borisId} 3`,
      `leave ${annaId} 4`,
      `leave ${borisId} 5`,
    ]);
    const { users, memberSeq } = await watcher.call('online', { room });
    assert.deepEqual(
      (users as { id: number }[]).map((user) => user.id),
      [watcherId],
    );
    assert.equal(memberSeq, 5, 'a page of the room says its number');
    assert.equal(
      (await watcher.call('online', {})).memberSeq,
      undefined,
      "the relay-wide list has none: it is no room's",
    );
    await Promise.all([watcher.close(), anna.close(), annaAgain.close(), boris.close()]);
  });
});
