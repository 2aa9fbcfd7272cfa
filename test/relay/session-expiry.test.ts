/**
 * Sessions expire as documented: `--session-days N` is how long a session lives without use
 * (README), and the expiry slides forward on use (PROTOCOL.md), also across restarts.
 *
 * Days pass in milliseconds: the relay runs under the clock-shift shim (test/helpers/clock-shift.c),
 * and the test moves its wall clock forward while it runs. Nothing in the relay is mocked or
 * rewritten; its timers keep real time. Every step checks that the relay's clock (the `time` in
 * its hello) is where the test put it, so a shim that failed to load cannot pass for an expiry.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestClient, registerUser } from '../helpers/client.ts';
import type { ReplyFrame, TestUser } from '../helpers/client.ts';
import { ClockShift, DAY_MS } from '../helpers/clock-shift.ts';
import { preloadShim } from '../helpers/preload-shim.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const clockShift = preloadShim('clock-shift');
/** Slack for "about": requests and restarts take seconds at most, the steps here are hours apart. */
const SLACK_MS = 60_000;

function start(clock: ClockShift, sessionDays: number, dataDir?: string): Promise<RelayProcess> {
  return startRelay({
    dataDir,
    args: ['--session-days', String(sessionDays)],
    env: clock.env(clockShift.file()),
  });
}

/** A connection, after checking that the relay's clock reads what the test set. */
async function connect(relay: RelayProcess, clock: ClockShift): Promise<TestClient> {
  const client = await TestClient.connect(relay.wsUrl);
  const hello = client.events.find((event) => event.ev === 'hello')!;
  assert.ok(
    Math.abs(hello.time - clock.now()) < SLACK_MS,
    `the relay's clock reads ${new Date(hello.time).toISOString()}, the test set ${new Date(clock.now()).toISOString()}`,
  );
  return client;
}

/** Resumes `token` on a new connection: the reply, ok or not. */
async function resume(relay: RelayProcess, clock: ClockShift, token: string): Promise<ReplyFrame> {
  const client = await connect(relay, clock);
  try {
    return await client.request('resume', { token });
  } finally {
    await client.close();
  }
}

function assertLives(reply: ReplyFrame, user: TestUser, clock: ClockShift, days: number, what: string): void {
  assert.equal(reply.ok, true, `${what}: resume refused with ${reply.error?.code}`);
  assert.equal(reply.result.user.id, user.profile.id, what);
  const slid = clock.now() + days * DAY_MS;
  assert.ok(
    Math.abs(reply.result.expiresAt - slid) < SLACK_MS,
    `${what}: expires ${new Date(reply.result.expiresAt).toISOString()}, not ${days} day(s) after this use (${new Date(slid).toISOString()})`,
  );
}

function assertRefused(reply: ReplyFrame, what: string): void {
  assert.equal(reply.error?.code, 'SESSION_INVALID', `${what}: ${reply.ok ? 'resumed' : reply.error?.code}`);
}

/** Two users on a relay at the current clock: one whose session the test keeps using, one it leaves alone. */
async function twoSessions(
  relay: RelayProcess,
  clock: ClockShift,
  days: number,
): Promise<{ used: TestUser; unused: TestUser }> {
  const used = await registerUser(await connect(relay, clock));
  const unused = await registerUser(await connect(relay, clock));
  for (const user of [used, unused]) {
    assert.ok(
      Math.abs(user.session.expiresAt - (clock.now() + days * DAY_MS)) < SLACK_MS,
      `a new session is issued for ${days} day(s)`,
    );
  }
  return { used, unused };
}

describe('session expiry, on a clock the test moves', () => {
  test('--session-days 1: a session resumed every 0.9 days outlives the window and ends a day after its last use; one left unused is refused after a day', {
    skip: clockShift.skip,
  }, async () => {
    const clock = new ClockShift();
    const relay = await start(clock, 1);
    try {
      const { used, unused } = await twoSessions(relay, clock, 1);
      clock.set(0.9 * DAY_MS);
      assertLives(await resume(relay, clock, used.session.token), used, clock, 1, 'resumed after 0.9 days');
      clock.set(1.8 * DAY_MS);
      assertLives(
        await resume(relay, clock, used.session.token),
        used,
        clock,
        1,
        'resumed 1.8 days after login, 0.9 after its last use',
      );
      assertRefused(await resume(relay, clock, unused.session.token), 'unused for 1.8 days');
      clock.set(2.9 * DAY_MS);
      assertRefused(await resume(relay, clock, used.session.token), 'unused for 1.1 days since its last resume');
    } finally {
      await relay.stop();
    }
  });

  test('--session-days 2: the slid expiry is on disk: after a restart, a session resumed at 1.5 days lives at 3 days; an expired one stays refused after restarts', {
    skip: clockShift.skip,
  }, async () => {
    const clock = new ClockShift();
    let relay = await start(clock, 2);
    try {
      const { used, unused } = await twoSessions(relay, clock, 2);
      clock.set(1.5 * DAY_MS);
      assertLives(await resume(relay, clock, used.session.token), used, clock, 2, 'resumed after 1.5 days');
      assert.equal(await relay.stop('SIGTERM'), 0);

      clock.set(3 * DAY_MS);
      relay = await start(clock, 2, relay.dataDir);
      assertLives(
        await resume(relay, clock, used.session.token),
        used,
        clock,
        2,
        'after a restart, resumed 3 days after login, 1.5 after its last use',
      );
      assertRefused(await resume(relay, clock, unused.session.token), 'unused for 3 days');
      assert.equal(await relay.stop('SIGTERM'), 0);

      relay = await start(clock, 2, relay.dataDir);
      assertRefused(await resume(relay, clock, unused.session.token), 'expired, after another restart');
      clock.set(5.5 * DAY_MS);
      assertRefused(
        await resume(relay, clock, used.session.token),
        'after another restart, unused for 2.5 days since its last resume',
      );
    } finally {
      await relay.stop();
    }
  });

  test('--session-days 1: a session resumed after 0.9 days still lives after a restart at 1.8 days', {
    skip: clockShift.skip,
    // Found by this test: a slid expiry was written only once it had moved a whole day, which
    // with a one-day window never happened, so a restart took the slide back.
  }, async () => {
    const clock = new ClockShift();
    let relay = await start(clock, 1);
    try {
      const { used } = await twoSessions(relay, clock, 1);
      clock.set(0.9 * DAY_MS);
      assertLives(await resume(relay, clock, used.session.token), used, clock, 1, 'resumed after 0.9 days');
      assert.equal(await relay.stop('SIGTERM'), 0);
      clock.set(1.8 * DAY_MS);
      relay = await start(clock, 1, relay.dataDir);
      assertLives(
        await resume(relay, clock, used.session.token),
        used,
        clock,
        1,
        'after a restart, resumed 1.8 days after login, 0.9 after its last use',
      );
    } finally {
      await relay.stop();
    }
  });
});
