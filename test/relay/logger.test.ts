import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../../relay/logger.ts';
import type { LogFormat, LogLevel } from '../../relay/logger.ts';

function capture(format: LogFormat, level: LogLevel = 'debug') {
  const lines: string[] = [];
  return {
    lines,
    log: createLogger({ format, level, write: (line) => lines.push(line) }),
  };
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('logger', () => {
  test('text format writes time, level, message and the fields as JSON on one line', () => {
    const { lines, log } = capture('text');
    log('info', 'signed up', { userId: 7, ip: '203.0.113.5' });
    log('warn', 'no fields');
    const [time, rest] = [lines[0]!.slice(0, 24), lines[0]!.slice(24)];
    assert.match(time, ISO_TIME);
    assert.equal(rest, ' info signed up {"userId":7,"ip":"203.0.113.5"}\n');
    assert.match(lines[1]!, / warn no fields\n$/);
  });

  test('json format writes one object per line with time, level and msg first', () => {
    const { lines, log } = capture('json');
    log('error', 'storage failed', {
      file: 'messages.log',
      nested: { code: 'ENOSPC' },
    });
    assert.equal(lines.length, 1);
    assert.ok(lines[0]!.endsWith('}\n'));
    const record: unknown = JSON.parse(lines[0]!);
    assert.deepEqual(Object.keys(record as object), ['time', 'level', 'msg', 'file', 'nested']);
    const { time, ...rest } = record as Record<string, unknown>;
    assert.match(String(time), ISO_TIME);
    assert.deepEqual(rest, {
      level: 'error',
      msg: 'storage failed',
      file: 'messages.log',
      nested: { code: 'ENOSPC' },
    });
  });

  test('drops records below the configured level', () => {
    const { lines, log } = capture('text', 'warn');
    for (const level of ['debug', 'info', 'warn', 'error'] as const) log(level, level);
    assert.deepEqual(
      lines.map((line) => line.split(' ')[1]),
      ['warn', 'error'],
    );
    const all = capture('json', 'debug');
    all.log('debug', 'shown');
    assert.equal(all.lines.length, 1);
  });

  test('never writes passwords, auth keys, tokens, signatures or message text, at any depth', () => {
    for (const format of ['text', 'json'] as const) {
      const { lines, log } = capture(format);
      log('info', 'careless', {
        password: 'hunter2',
        authKey: 'AUTHKEY',
        request: {
          type: 'change-password',
          newAuthKey: 'NEWKEY',
          Token: 'TOKEN',
          messages: [{ text: 'private words', sig: 'SIG' }],
        },
      });
      for (const secret of ['hunter2', 'AUTHKEY', 'NEWKEY', 'TOKEN', 'private words', 'SIG'])
        assert.ok(!lines[0]!.includes(secret), `${format}: ${secret}`);
      assert.equal(lines[0]!.match(/\[redacted\]/g)?.length, 6);
      assert.ok(lines[0]!.includes('change-password'), 'other fields stay');
    }
  });

  test('a field cannot forge the time, level or message of a json record', () => {
    const { lines, log } = capture('json');
    log('info', 'real', {
      time: 'then',
      level: 'error',
      msg: 'forged',
      ip: '::1',
    });
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record.level, 'info');
    assert.equal(record.msg, 'real');
    assert.match(String(record.time), ISO_TIME);
    assert.equal(record.ip, '::1');
  });

  test('a newline in a text message cannot start a forged record', () => {
    const { lines, log } = capture('text');
    log('info', 'port busy\n2026-01-01T00:00:00.000Z error forged');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.split('\n').length, 2, 'one line and its terminator');
    assert.match(lines[0]!, /port busy\\n2026/);
  });

  test('errors, bigints and cyclic fields are written instead of throwing', () => {
    const { lines, log } = capture('json');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    log('error', 'odd fields', { error: new RangeError('too big'), size: 10n });
    log('error', 'cyclic', { cyclic });
    assert.deepEqual(
      { ...JSON.parse(lines[0]!), time: 0 },
      {
        time: 0,
        level: 'error',
        msg: 'odd fields',
        error: 'RangeError: too big',
        size: '10',
      },
    );
    const second = JSON.parse(lines[1]!) as Record<string, unknown>;
    assert.equal(second.msg, 'cyclic');
    assert.match(String(second.unloggableFields), /circular/i);
  });
});
