import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { reconnectDelay } from '../../sdk/backoff.ts';
import { fromBase64Url, toBase64Url } from '../../sdk/encoding.ts';
import { Emitter } from '../../sdk/emitter.ts';
import { SovError, isTransient } from '../../sdk/errors.ts';
import { usernameKey } from '../../sdk/protocol/fields.ts';
import { parseRequest } from '../../sdk/protocol/requests.ts';
import { signedBytes } from '../../sdk/protocol/signed-bytes.ts';
import { takeStreamLines } from '../../sdk/protocol/stream-lines.ts';

describe('reconnect backoff', () => {
  test('grows exponentially from half a second, is capped at 30 s, and jitters within the upper half', () => {
    assert.equal(
      reconnectDelay(0, () => 0),
      250,
    );
    assert.equal(
      reconnectDelay(0, () => 1),
      500,
    );
    assert.equal(
      reconnectDelay(3, () => 1),
      4000,
    );
    assert.equal(
      reconnectDelay(50, () => 1),
      30_000,
    );
    assert.equal(
      reconnectDelay(50, () => 0),
      15_000,
    );
    for (let attempt = 0; attempt < 20; attempt++) {
      const delay = reconnectDelay(attempt);
      assert.ok(delay >= Math.min(30_000, 500 * 2 ** attempt) / 2 && delay <= 30_000);
    }
  });
});

describe('events', () => {
  class Ticker extends Emitter<{ tick: number }> {
    tick(value: number): void {
      this.emit('tick', value);
    }
  }

  test('once hears one event; off, and the function on returns, stop a listener', () => {
    const ticker = new Ticker();
    const heard: string[] = [];
    ticker.once('tick', (n) => heard.push(`once ${n}`));
    const always = (n: number): void => void heard.push(`on ${n}`);
    ticker.on('tick', always);
    const stop = ticker.on('tick', (n) => heard.push(`stopped ${n}`));
    ticker.tick(1);
    stop();
    ticker.tick(2);
    ticker.off('tick', always);
    ticker.tick(3);
    assert.deepEqual(heard, ['once 1', 'on 1', 'stopped 1', 'on 2']);
  });
});

describe('transient errors', () => {
  test('are the ones where the request never got its answer', () => {
    assert.deepEqual(
      ['NETWORK', 'TIMEOUT', 'CLOSED', 'RATE_LIMITED', 'BAD_SIGNATURE'].map((code) =>
        isTransient(new SovError(code as never)),
      ),
      [true, true, true, false, false],
    );
    assert.equal(isTransient(new Error('NETWORK')), false);
  });
});

describe('HTTP stream lines', () => {
  test('hand over whole numbered lines across chunks, skip unnumbered ones, and stop when told', () => {
    const seen: string[] = [];
    const take = (n: number, frame: string): boolean => (seen.push(`${n}:${frame}`), frame !== 'stop');
    let rest = takeStreamLines('1 {"a":1}\n2 {"b"', take);
    assert.equal(rest, '2 {"b"');
    rest = takeStreamLines(`${rest}:2}\nx junk\n3 stop\n4 never\n`, take);
    assert.deepEqual(seen, ['1:{"a":1}', '2:{"b":2}', '3:stop']);
    assert.equal(rest, '', 'the rest is dropped once stopped');
  });
});

describe('base64url', () => {
  test('matches Node for every length and byte value', () => {
    for (let length = 0; length < 70; length++) {
      const bytes = crypto.randomBytes(length);
      const text = toBase64Url(bytes);
      assert.equal(text, bytes.toString('base64url'));
      assert.deepEqual(Buffer.from(fromBase64Url(text)!), bytes);
    }
  });

  test('refuses characters outside the alphabet and impossible lengths', () => {
    for (const bad of ['ab+c', 'ab/c', 'abc=', 'a', 'ab c', 'абв']) assert.equal(fromBase64Url(bad), null, bad);
  });
});

describe('signed bytes', () => {
  test('are the UTF-8 of a JSON array with label, version, room, author, id, time and text', () => {
    const bytes = signedBytes({
      room: 'general',
      author: 7,
      cid: 'abcdefgh',
      ts: 1700000000000,
      text: 'Привет "мир"\n',
    });
    assert.equal(
      Buffer.from(bytes).toString('utf8'),
      '["sov/message",1,"general",7,"abcdefgh",1700000000000,"Привет \\"мир\\"\\n"]',
    );
  });

  test('change when any signed field changes', () => {
    const base = {
      room: 'general',
      author: 7,
      cid: 'abcdefgh',
      ts: 1,
      text: 'hi',
    };
    const variants = [{ room: 'other' }, { author: 8 }, { cid: 'abcdefgi' }, { ts: 2 }, { text: 'hI' }];
    for (const change of variants) assert.notDeepEqual(signedBytes({ ...base, ...change }), signedBytes(base));
  });
});

describe('request validation', () => {
  test('normalizes names and rooms, keeps message text untouched', () => {
    const parsed = parseRequest(JSON.stringify({ id: 1, type: 'join', room: '  Ｇｅｎｅｒａｌ ' }));
    assert.ok(parsed.ok);
    assert.equal((parsed.request as { room: string }).room, 'general');
    assert.equal(usernameKey('ＩＶＡＮ'), usernameKey('ivan'));
  });

  test('answers each kind of bad frame with its own code', () => {
    const code = (frame: string) => {
      const parsed = parseRequest(frame);
      return parsed.ok ? 'ok' : parsed.error.code;
    };
    assert.equal(code('{'), 'BAD_JSON');
    assert.equal(code('[1]'), 'BAD_FRAME');
    assert.equal(code('{"type":"ping"}'), 'BAD_FRAME');
    assert.equal(code('{"id":1,"type":"nope"}'), 'UNKNOWN_TYPE');
    assert.equal(code('{"id":1,"type":"join","room":5}'), 'INVALID_FIELD');
    assert.equal(code('{"id":1,"type":"join","room":"  "}'), 'EMPTY_FIELD');
    assert.equal(code('{"id":1,"type":"ping"}'), 'ok');
  });

  test('SovError round-trips through the wire form with its details', () => {
    const error = new SovError('RATE_LIMITED', 'slow down', {
      retryAfterMs: 1500,
    });
    const back = SovError.fromWire(JSON.parse(JSON.stringify(error.toWire())));
    assert.ok(back instanceof SovError);
    assert.deepEqual([back.code, back.message, back.retryAfterMs], ['RATE_LIMITED', 'slow down', 1500]);
    assert.equal(SovError.fromWire({ code: 'NOT_A_CODE' as never, message: 'x' }).code, 'INTERNAL');
  });
});
