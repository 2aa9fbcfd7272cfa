/**
 * Who is online (relay/presence.ts), in-process: connections counted by user, rooms entered and
 * left with their member numbers (memberSeq, PROTOCOL.md "Member lists"). Sockets are plain
 * strings here: Presence only keeps and hands them back. The relay's use of it is tested through
 * real connections in member-seq.test.ts and presence-grace.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NOTICE_GRACE_MS, Presence, afterGrace } from '../../relay/presence.ts';

const ANN = 1;
const BOB = 2;

describe('presence: online', () => {
  test('a user with two tabs comes online with the first connection and goes offline with the last', () => {
    const presence = new Presence<string>();
    assert.equal(presence.connect(ANN, 'session-a', 'tab-1'), true, 'the first connection: online');
    assert.equal(presence.connect(ANN, 'session-a', 'tab-2'), false, 'a second tab: already online');
    assert.deepEqual(presence.onlineUsers(), [ANN]);
    assert.equal(presence.disconnect(ANN, 'session-a', 'tab-1'), false, 'one tab left');
    assert.equal(presence.disconnect(ANN, 'session-a', 'tab-2'), true, 'the last one: offline');
    assert.deepEqual(presence.onlineUsers(), []);
  });

  test('finds every connection of a session (for a logout) and of a user (for a password change), and forgets closed ones', () => {
    const presence = new Presence<string>();
    presence.connect(ANN, 'phone-session', 'phone');
    presence.connect(ANN, 'laptop-session', 'laptop-tab-1');
    presence.connect(ANN, 'laptop-session', 'laptop-tab-2');
    presence.connect(BOB, 'bob-session', 'bob');
    assert.deepEqual(presence.socketsOfSession('laptop-session').sort(), ['laptop-tab-1', 'laptop-tab-2']);
    assert.deepEqual(presence.socketsOfUser(ANN).sort(), ['laptop-tab-1', 'laptop-tab-2', 'phone']);
    presence.disconnect(ANN, 'laptop-session', 'laptop-tab-1');
    assert.deepEqual(presence.socketsOfSession('laptop-session'), ['laptop-tab-2']);
    assert.deepEqual(presence.socketsOfUser(ANN).sort(), ['laptop-tab-2', 'phone']);
    assert.deepEqual(presence.socketsOfSession('no-such-session'), []);
  });

  test('disconnecting a connection it never saw changes nothing', () => {
    const presence = new Presence<string>();
    presence.connect(ANN, 'session-a', 'tab-1');
    assert.equal(presence.disconnect(ANN, 'session-a', 'stranger'), false);
    assert.equal(presence.disconnect(BOB, 'session-b', 'tab-1'), false);
    assert.deepEqual(presence.socketsOfUser(ANN), ['tab-1']);
  });
});

describe('presence: rooms and memberSeq', () => {
  test('numbers a join only for the first connection of a user in the room, and a leave only for the last', () => {
    const presence = new Presence<string>();
    assert.equal(presence.enter('kitchen', ANN), 1, "Ann's join is number 1");
    assert.equal(presence.enter('kitchen', ANN), null, 'her second tab joins nothing');
    assert.equal(presence.enter('kitchen', BOB), 2, "Bob's join is number 2");
    assert.deepEqual(presence.roomMembers('kitchen').sort(), [ANN, BOB], 'each member once');
    assert.equal(presence.exit('kitchen', ANN), null, 'one of her tabs still in the room');
    assert.equal(presence.exit('kitchen', ANN), 3, 'her leave is number 3');
    assert.equal(presence.memberSeq('kitchen'), 3);
    assert.deepEqual(presence.roomMembers('kitchen'), [BOB]);
  });

  test('each room counts its own joins and leaves', () => {
    const presence = new Presence<string>();
    presence.enter('kitchen', ANN);
    presence.enter('kitchen', BOB);
    assert.equal(presence.enter('hall', ANN), 1);
    assert.equal(presence.memberSeq('kitchen'), 2);
    assert.equal(presence.memberSeq('hall'), 1);
    assert.equal(presence.roomCount(), 2);
  });

  test('a room that empties is forgotten, and its count starts again from 1', () => {
    const presence = new Presence<string>();
    presence.enter('kitchen', ANN);
    presence.enter('kitchen', BOB);
    presence.exit('kitchen', BOB);
    assert.equal(presence.exit('kitchen', ANN), 4);
    assert.equal(presence.roomCount(), 0);
    assert.equal(presence.memberSeq('kitchen'), 0, 'an empty room has number 0');
    assert.equal(presence.enter('kitchen', BOB), 1);
  });

  test('a leave from a room the user is not in is not numbered and changes nothing', () => {
    const presence = new Presence<string>();
    presence.enter('kitchen', ANN);
    assert.equal(presence.exit('kitchen', BOB), null);
    assert.equal(presence.exit('hall', ANN), null);
    assert.equal(presence.memberSeq('kitchen'), 1);
    assert.equal(presence.roomCount(), 1, 'no room made by a leave');
  });
});

describe('presence: the grace of a closed connection', () => {
  test(`a closed connection's exit runs after ${NOTICE_GRACE_MS} ms, not before`, (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let released = false;
    afterGrace(() => (released = true));
    t.mock.timers.tick(NOTICE_GRACE_MS - 1);
    assert.equal(released, false);
    t.mock.timers.tick(1);
    assert.equal(released, true);
  });
});
