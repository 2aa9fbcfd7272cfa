/**
 * The member list's rules (sdk/member-list.ts): the newest numbered word on each user wins whatever
 * order words arrive in, a list page yields to newer events, and a number never heard marks the
 * list incomplete until it comes or a new list replaces it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemberList } from '../../sdk/member-list.ts';
import type { Profile } from '../../sdk/protocol/frames.ts';

const user = (id: number): Profile => ({
  id,
  username: `user${id}`,
  firstName: '',
  lastName: '',
  avatar: null,
  keys: [],
  role: 'user',
});
const ids = (list: MemberList): number[] => list.online.map((profile) => profile.id).sort((a, b) => a - b);

describe('member list', () => {
  test('a late join older than a leave does not bring the user back, and raises no notice', () => {
    const list = new MemberList();
    list.page([user(1), user(2)], 10, 0, null, true);
    assert.deepEqual(list.event(2, null, 12), { left: user(2) });
    assert.equal(list.event(2, user(2), 11), null, 'the join numbered 11 came late, on the old connection');
    assert.deepEqual(ids(list), [1]);
    assert.equal(list.incomplete, false, 'every number up to 12 was heard');
  });

  test('the same event twice (two connections) is one change', () => {
    const list = new MemberList();
    list.page([], 3, 0, null, true);
    assert.deepEqual(list.event(5, user(5), 4), { joined: user(5) });
    assert.equal(list.event(5, user(5), 4), null);
    assert.deepEqual(ids(list), [5]);
  });

  test('a page yields to events newer than it and removes who it no longer lists', () => {
    const list = new MemberList();
    list.page([user(1), user(4)], 20, 0, 5, true);
    // Heard before the second page was applied, though the page was made earlier (number 20).
    list.event(9, user(9), 21);
    list.event(8, null, 22);
    list.page([user(6), user(8)], 20, 5, null, false);
    assert.deepEqual(
      ids(list),
      [1, 4, 6, 9],
      '9 joined after the page, 8 left after it; 1 and 4 are outside this page, kept from the first',
    );
    list.page([user(6)], 23, 5, null, false);
    assert.deepEqual(ids(list), [1, 4, 6], 'a page as of 23 drops 9 (heard at 21) from its range');
  });

  test('a number never heard makes the list incomplete until it arrives', () => {
    const list = new MemberList();
    list.page([user(1)], 5, 0, null, true);
    list.event(2, user(2), 7);
    assert.equal(list.incomplete, true, 'number 6 is missing');
    list.event(3, user(3), 6);
    assert.equal(list.incomplete, false);
    assert.deepEqual(ids(list), [1, 2, 3]);
  });

  test("a rotation's join expects every number up to its own from the old connection", () => {
    const list = new MemberList();
    list.page([user(1)], 5, 0, null, true);
    list.expect(8);
    assert.equal(list.incomplete, true, '6, 7 and 8 happened before the new connection joined');
    for (const n of [6, 7, 8]) list.event(10 + n, user(10 + n), n);
    assert.equal(list.incomplete, false);
    list.expect(8);
    assert.equal(list.incomplete, false, 'nothing new is owed');
  });

  test('a fresh list replaces everything, numbering included, and a wide gap is simply incomplete', () => {
    const list = new MemberList();
    list.page([user(1)], 500, 0, null, true);
    list.event(2, user(2), 2000);
    assert.equal(list.incomplete, true);
    // The relay restarted: its numbers start again.
    list.page([user(3)], 2, 0, null, true);
    assert.deepEqual(ids(list), [3]);
    assert.equal(list.incomplete, false);
    assert.deepEqual(list.event(4, user(4), 3), { joined: user(4) });
  });

  test('a profile change reaches only users online', () => {
    const list = new MemberList();
    list.page([user(1)], 1, 0, null, true);
    assert.equal(list.profileChanged({ ...user(1), firstName: 'Anna' }), true);
    assert.equal(list.profileChanged(user(2)), false);
    assert.equal(list.online[0]!.firstName, 'Anna');
  });
});
