/**
 * The SDK's reader of what the relay sends (sdk/protocol/relay-frames.ts), in process: every reply
 * kind and every event kind, as the relay sends them and with each field broken in turn. A broken
 * frame is refused whole with BAD_RELAY_FRAME naming the part at fault; a well-formed one comes back
 * copied, without anything else the relay put in it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SovError } from '../../sdk/errors.ts';
import type { ChatMessage, EventMap, EventName, Profile, RequestType, ResultMap } from '../../sdk/protocol/frames.ts';
import { openedStream, relayFrameOf, resultOf } from '../../sdk/protocol/relay-frames.ts';
import { PACKAGE_ROOT } from '../helpers/relay-process.ts';

const KEY = 'A'.repeat(43);
const alice: Profile = {
  id: 1,
  username: 'alice',
  firstName: 'Alice',
  lastName: 'Liddell',
  avatar: '/avatars/abc.png',
  keys: [{ publicKey: KEY, since: 1_700_000_000_000 }],
  role: 'user',
};
const bob: Profile = {
  id: 2,
  username: 'bob',
  firstName: 'Боб',
  lastName: 'B',
  avatar: null,
  keys: [],
  role: 'admin',
};
const message = (seq: number): ChatMessage => ({
  room: 'general',
  seq,
  author: 1,
  cid: `cid-${seq}-abcdefgh`,
  ts: 1_700_000_000_000 + seq,
  text: `hello ${seq}`,
  sig: 'S'.repeat(86),
});
const session = {
  token: KEY,
  expiresAt: 1_800_000_000_000,
  user: alice,
  keySalt: KEY,
};

/** A result of every request type, shaped as the relay sends it (relay/handlers/). */
const RESULTS: { [K in RequestType]: ResultMap[K] } = {
  ping: { time: 1_700_000_000_000 },
  salt: {
    kdf: {
      alg: 'scrypt',
      N: 2 ** 17,
      r: 8,
      p: 1,
      salt: 'c2FsdHNhbHRzYWx0c2FsdA',
    },
  },
  register: session,
  login: session,
  resume: { expiresAt: 1_800_000_000_000, user: alice },
  logout: {},
  'change-password': { user: alice },
  join: {
    room: 'general',
    seq: 2,
    messages: [message(1), message(2)],
    gap: false,
    older: false,
    more: false,
    online: [alice, bob],
    onlineNext: null,
    memberSeq: 4,
  },
  history: { room: 'general', messages: [message(1)], more: true },
  leave: {},
  send: { seq: 3 },
  profile: { user: bob },
  'update-profile': { user: alice },
  online: { users: [alice], next: 1, memberSeq: 4 },
};

/** Every event but hello, as the relay sends it. */
const EVENTS: { [K in Exclude<EventName, 'hello'>]: EventMap[K] } = {
  message: message(7),
  join: { room: 'general', user: bob, memberSeq: 5 },
  leave: { room: 'general', userId: 2, memberSeq: 6 },
  presence: { userId: 2, online: true, user: bob },
  profile: { user: bob },
  'session-ended': { reason: 'password-changed' },
};

const HELLO = {
  ev: 'hello',
  protocol: 1,
  relay: '0.1.0',
  relayId: 'AAAAAAAAAAAAAAAAAAAA-_',
  time: 1_700_000_000_000,
  limits: {
    maxFrameBytes: 65_536,
    maxTextLength: 4000,
    historySize: 1000,
    connectionBudget: 16_384,
    maxMessageBytes: 5000,
  },
  budgetSpent: 183,
};

/** Fields a frame may leave out (older relays; pages without a room). */
const OPTIONAL = new Set(['online.memberSeq', 'presence.user', 'hello.relayId', 'hello.budgetSpent']);

/** A value of another type than `value`'s, and null only where null is not allowed either. */
function wrongTypeFor(value: unknown): unknown {
  if (typeof value === 'string') return 7;
  if (typeof value === 'number') return '7';
  if (typeof value === 'boolean') return 'true';
  if (Array.isArray(value)) return { 0: value[0] };
  if (value === null) return true;
  return [value];
}

/** `value` with the field at `keys` replaced (or left out: `undefined`), copied. */
function breakField(value: unknown, keys: (string | number)[], replacement: unknown): unknown {
  const copy = structuredClone(value);
  let parent: Record<string | number, unknown> = copy as Record<string | number, unknown>;
  for (const key of keys.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  if (replacement === undefined) delete parent[keys.at(-1)!];
  else parent[keys.at(-1)!] = replacement;
  return copy;
}

/** The path of every field in `value`, nested objects and list items included. */
function fieldPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) return [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [index, item])
    : Object.entries(value);
  return entries.flatMap(([key, item]) => [[...prefix, key], ...fieldPaths(item, [...prefix, key])]);
}

function refusal(run: () => unknown): SovError {
  const outcome = run();
  if (outcome instanceof SovError) return outcome;
  assert.fail(`not refused: ${JSON.stringify(outcome)}`);
}

describe('replies', () => {
  for (const type of Object.keys(RESULTS) as RequestType[]) {
    test(`a ${type} result as the relay sends it comes back equal, and a copy without extra fields`, () => {
      const sent = RESULTS[type];
      const frame = relayFrameOf(
        JSON.stringify({
          re: 9,
          ok: true,
          result: { ...sent, injected: '<script>' },
        }),
      );
      assert.ok('result' in frame && frame.re === 9);
      const result = resultOf(type, frame.result);
      assert.ok(!(result instanceof SovError), String(result));
      assert.deepEqual(result, sent);
      assert.ok(!('injected' in result));
    });

    test(`a ${type} result with any field of the wrong type, or without a field it needs, is refused naming that field`, () => {
      const sent = RESULTS[type];
      let broken = 0;
      for (const keys of fieldPaths(sent)) {
        const at = ['result', ...keys].join('.');
        const wrong = refusal(() =>
          resultOf(
            type,
            breakField(
              sent,
              keys,
              wrongTypeFor(
                keys.reduce<unknown>((value, key) => (value as Record<string | number, unknown>)[key], sent),
              ),
            ),
          ),
        );
        assert.deepEqual({ code: wrong.code, field: wrong.field }, { code: 'BAD_RELAY_FRAME', field: at });
        // An item left out of a list leaves a shorter list, which is well-formed.
        if (typeof keys.at(-1) === 'string' && !OPTIONAL.has(`${type}.${keys.join('.')}`)) {
          assert.equal(refusal(() => resultOf(type, breakField(sent, keys, undefined))).field, at);
        }
        broken++;
      }
      assert.equal(broken, fieldPaths(sent).length);
      assert.equal(refusal(() => resultOf(type, [sent])).field, 'result');
    });
  }

  test('a result without the fields an older relay leaves out is taken', () => {
    assert.deepEqual(resultOf('online', { users: [], next: null }), {
      users: [],
      next: null,
      memberSeq: undefined,
    });
  });

  test("an error reply becomes the SovError it names, details checked, an unknown code INTERNAL with the relay's words", () => {
    const frame = relayFrameOf(
      JSON.stringify({
        re: 4,
        ok: false,
        error: { code: 'DUPLICATE_MESSAGE', message: 'Seen it.', seq: 12 },
      }),
    );
    assert.ok('error' in frame);
    assert.deepEqual(
      {
        re: frame.re,
        code: frame.error.code,
        message: frame.error.message,
        seq: frame.error.seq,
      },
      { re: 4, code: 'DUPLICATE_MESSAGE', message: 'Seen it.', seq: 12 },
    );
    const unknown = relayFrameOf(
      JSON.stringify({
        re: 5,
        ok: false,
        error: { code: 'FROM_THE_FUTURE', message: 'New.' },
      }),
    );
    assert.ok('error' in unknown);
    assert.deepEqual(
      { code: unknown.error.code, message: unknown.error.message },
      { code: 'INTERNAL', message: 'New.' },
    );
  });

  test('a code only the SDK raises is not believed from the relay: NETWORK or TIMEOUT would make the outbox retry a refused message forever', () => {
    for (const code of ['NETWORK', 'TIMEOUT', 'CLOSED', 'WRONG_RELAY', 'BAD_RELAY_FRAME', 'INVALID_INPUT']) {
      const frame = relayFrameOf(
        JSON.stringify({
          re: 7,
          ok: false,
          error: { code, message: 'From the relay.' },
        }),
      );
      assert.ok('error' in frame, code);
      assert.equal(frame.error.code, 'INTERNAL', code);
    }
    for (const [error, field] of [
      [{ code: 'RATE_LIMITED', message: 'Wait.', retryAfterMs: '1000' }, 'error.retryAfterMs'],
      [{ code: 7, message: 'x' }, 'error.code'],
      ['RATE_LIMITED', 'error'],
    ] as const) {
      const refused = relayFrameOf(JSON.stringify({ re: 6, ok: false, error }));
      assert.ok('refused' in refused, JSON.stringify(error));
      assert.deepEqual(
        {
          re: refused.re,
          code: refused.refused.code,
          field: refused.refused.field,
        },
        { re: 6, code: 'BAD_RELAY_FRAME', field },
      );
    }
  });

  test('a frame that is not JSON, not an object, or neither reply nor event is refused, with the request it answers where it names one by number (the SDK numbers its requests)', () => {
    for (const [text, re, field] of [
      ['{"re": 1, "ok": tru', null, 'frame'],
      ['[1, 2]', null, 'frame'],
      ['"hello"', null, 'frame'],
      ['{"re": 3, "ok": "yes", "result": {}}', 3, 'ok'],
      ['{"re": "a-1", "result": {}}', null, 'ok'],
    ] as const) {
      const frame = relayFrameOf(text);
      assert.ok('refused' in frame, text);
      assert.deepEqual(
        { re: frame.re, code: frame.refused.code, field: frame.refused.field },
        { re, code: 'BAD_RELAY_FRAME', field },
      );
    }
  });
});

describe('events', () => {
  for (const name of Object.keys(EVENTS) as (keyof typeof EVENTS)[]) {
    test(`a ${name} event as the relay sends it comes back equal, and a copy without extra fields`, () => {
      const frame = relayFrameOf(JSON.stringify({ ev: name, ...EVENTS[name], verified: true }));
      assert.ok('event' in frame);
      assert.deepEqual(frame.event, { ev: name, ...EVENTS[name] });
    });

    test(`a ${name} event with any field of the wrong type, or without a field it needs, is refused naming that field`, () => {
      const sent = EVENTS[name];
      for (const keys of fieldPaths(sent)) {
        const at = [name, ...keys].join('.');
        const original = keys.reduce<unknown>((value, key) => (value as Record<string | number, unknown>)[key], sent);
        const wrong = relayFrameOf(
          JSON.stringify({
            ev: name,
            ...(breakField(sent, keys, wrongTypeFor(original)) as object),
          }),
        );
        assert.ok('refused' in wrong, at);
        assert.deepEqual(
          {
            re: wrong.re,
            code: wrong.refused.code,
            field: wrong.refused.field,
          },
          { re: null, code: 'BAD_RELAY_FRAME', field: at },
        );
        if (typeof keys.at(-1) === 'string' && !OPTIONAL.has(`${name}.${keys.join('.')}`)) {
          const missing = relayFrameOf(
            JSON.stringify({
              ev: name,
              ...(breakField(sent, keys, undefined) as object),
            }),
          );
          assert.ok('refused' in missing && missing.refused.field === at, `${at} left out`);
        }
      }
    });
  }

  test('a presence event for a user going offline carries no profile', () => {
    const frame = relayFrameOf(JSON.stringify({ ev: 'presence', userId: 2, online: false }));
    assert.ok('event' in frame);
    assert.deepEqual(frame.event, {
      ev: 'presence',
      userId: 2,
      online: false,
      user: undefined,
    });
  });

  test('the hello keeps the relay id and the limits the SDK acts on, and is refused with any of them of the wrong type', () => {
    const frame = relayFrameOf(JSON.stringify(HELLO));
    assert.ok('hello' in frame);
    assert.deepEqual(frame.hello, {
      protocol: 1,
      relayId: HELLO.relayId,
      limits: {
        maxFrameBytes: 65_536,
        connectionBudget: 16_384,
        maxMessageBytes: 5000,
      },
      budgetSpent: 183,
    });
    const older = relayFrameOf(JSON.stringify({ ...HELLO, relayId: undefined, budgetSpent: undefined }));
    assert.ok(
      'hello' in older && older.hello.relayId === undefined && older.hello.budgetSpent === undefined,
      'a relay older than ids and budgets',
    );
    for (const [keys, wrong] of [
      [['relayId'], 7],
      [['relayId'], null],
      [['budgetSpent'], -1],
      [['protocol'], '1'],
      [['limits'], 'none'],
      [['limits', 'connectionBudget'], 1.5],
      [['limits', 'maxFrameBytes'], undefined],
    ] as const) {
      const refused = relayFrameOf(JSON.stringify(breakField(HELLO, [...keys], wrong)));
      assert.ok(
        'refused' in refused && refused.refused.field === ['hello', ...keys].join('.'),
        `${keys.join('.')}: ${String(wrong)}`,
      );
    }
  });

  test('a message numbered below 1 and a user id below 0 are refused', () => {
    for (const [frame, field] of [
      [{ ev: 'message', ...message(1), seq: 0 }, 'message.seq'],
      [{ ev: 'leave', room: 'general', userId: -1, memberSeq: 1 }, 'leave.userId'],
      [{ ev: 'session-ended', reason: 'bored' }, 'session-ended.reason'],
    ] as const) {
      const refused = relayFrameOf(JSON.stringify(frame));
      assert.ok('refused' in refused && refused.refused.field === field, field);
    }
  });

  test('an event this version does not know is ignored, not refused: a newer relay may add some', () => {
    assert.deepEqual(relayFrameOf('{"ev": "typing", "room": "general", "userId": 2}'), { ignored: 'typing' });
  });
});

describe('HTTP transport', () => {
  test('the answer to open names its stream, or nothing usable', () => {
    assert.equal(openedStream({ stream: 'abc' }), 'abc');
    for (const body of [null, 'abc', { stream: 7 }, ['abc']]) assert.equal(openedStream(body), null);
  });
});

describe('the SDK takes what the relay sends through the parser only', () => {
  // The protocol's convention (STYLE.md, 1): nothing from the network is cast. `as unknown as` is how
  // a cast of untyped data usually looks; the parser's one `as` is on the copy it builds, field by field.
  test('no "as unknown as" anywhere in sdk/', () => {
    const sdk = path.join(PACKAGE_ROOT, 'sdk');
    const offenders = fs
      .readdirSync(sdk, { recursive: true })
      .map(String)
      .filter(
        (file) => file.endsWith('.ts') && fs.readFileSync(path.join(sdk, file), 'utf8').includes('as unknown as'),
      );
    assert.deepEqual(offenders, []);
  });
});
