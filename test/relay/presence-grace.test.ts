// A closed connection still counts in its rooms and online for NOTICE_GRACE_MS (relay/presence.ts): a
// client back within it (the SDK moving to a new connection that its budget or a freeze cut short,
// a phone changing networks) is never told as gone, while one that stays away is, once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NOTICE_GRACE_MS } from '../../relay/presence.ts';
import { TestClient, registerUser, uniqueName } from '../helpers/client.ts';
import type { EventFrame, TestUser } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('notices of a closed connection wait out a grace', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  /** A watcher in `room`, and Anna in it on a connection of her own; the watcher's notices about Anna. */
  const arrange = async (room: string) => {
    const watcher = await TestClient.connect(relay.wsUrl);
    await registerUser(watcher);
    await watcher.call('join', { room });
    const first = await TestClient.connect(relay.wsUrl);
    const anna = await registerUser(first);
    await first.call('join', { room });
    const about = (): string[] =>
      watcher.events
        .filter(
          (event: EventFrame) =>
            (event.ev === 'leave' && event.userId === anna.profile.id) ||
            (event.ev === 'join' && (event.user as { id: number }).id === anna.profile.id) ||
            (event.ev === 'presence' && event.userId === anna.profile.id),
        )
        .map((event) => `${event.ev}${event.ev === 'presence' ? ` ${event.online}` : ''}`);
    await watcher.waitFor(() => (about().includes('join') ? true : undefined), 'the join of Anna');
    watcher.events.length = 0;
    return { watcher, first, anna, about };
  };
  const comeBack = async (anna: TestUser, room: string): Promise<TestClient> => {
    const again = await TestClient.connect(relay.wsUrl);
    await again.call('resume', { token: anna.session.token });
    await again.call('join', { room, after: 0 });
    return again;
  };

  test('a user whose connection drops and who is back within the grace is never told as gone or back, and still counts in the room meanwhile', async () => {
    const room = uniqueName('room');
    const { watcher, first, anna, about } = await arrange(room);
    first.socket.terminate();
    await sleep(500);
    const newcomer = await TestClient.connect(relay.wsUrl);
    await registerUser(newcomer);
    const { online } = await newcomer.call('join', { room });
    assert.ok(
      (online as { id: number }[]).some((user) => user.id === anna.profile.id),
      'whoever joins meanwhile finds her in the room',
    );
    await newcomer.close();
    const again = await comeBack(anna, room);
    await sleep(NOTICE_GRACE_MS + 1000);
    assert.deepEqual(about(), []);
    await Promise.all([again.close(), watcher.close()]);
  });

  test('a user who stays away is told as gone once, after the grace; leaving on purpose is told at once', async () => {
    const room = uniqueName('room');
    const { watcher, first, anna, about } = await arrange(room);
    const closedAt = Date.now();
    first.socket.terminate();
    await watcher.waitFor(
      () => (about().includes('leave') ? true : undefined),
      'the leave notice',
      NOTICE_GRACE_MS + 15_000,
    );
    assert.ok(Date.now() - closedAt >= NOTICE_GRACE_MS - 100, `told after ${Date.now() - closedAt} ms`);
    await watcher.waitFor(() => (about().includes('presence false') ? true : undefined), 'the offline notice');
    assert.deepEqual(about(), ['leave', 'presence false']);
    watcher.events.length = 0;
    const again = await comeBack(anna, room);
    await watcher.waitFor(() => (about().includes('join') ? true : undefined), 'the join after a real absence');
    const leftAt = Date.now();
    await again.call('leave', { room });
    await watcher.waitFor(() => (about().includes('leave') ? true : undefined), 'the leave on purpose');
    assert.ok(Date.now() - leftAt < NOTICE_GRACE_MS, 'a leave on purpose is not held back');
    await Promise.all([again.close(), watcher.close()]);
  });
});
