import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import { AppendLog } from '../../../relay/store/append-log.ts';
import { realFileOps } from '../../../relay/store/append-log.ts';
import type { FileOps } from '../../../relay/store/append-log.ts';
import { LogDamagedError, crc32InJs, formatLine } from '../../../relay/store/log-line.ts';
import { RecordError } from '../../../relay/store/record-fields.ts';
import type { Logger } from '../../../relay/logger.ts';
import { tempDataDir } from '../../helpers/relay-process.ts';

const quiet: Logger = () => undefined;
/** These tests store any JSON; the stores' own checks are tested through the relay. */
const anything = (value: unknown): unknown => value;
const ignore = (): void => undefined;

async function readBack(file: string): Promise<unknown[]> {
  const records: unknown[] = [];
  const log = await AppendLog.open(file, anything, (record) => records.push(record), quiet);
  await log.close();
  return records;
}

const lines = (...records: string[]): string => records.map((json) => `${formatLine(json)}\n`).join('');

/** Real writes, except while `full` is set: then a write lands half its bytes and fails like ENOSPC. */
function diskThatFills(): FileOps & { full: boolean } {
  return {
    full: false,
    async write(handle, data, position) {
      if (this.full) {
        await handle.write(data, 0, Math.floor(data.length / 2), position);
        throw Object.assign(new Error('ENOSPC: no space left on device'), {
          code: 'ENOSPC',
        });
      }
      await handle.write(data, 0, data.length, position);
    },
    datasync: realFileOps.datasync,
  };
}

describe('append-only log', () => {
  test('a compaction asked for right after an acknowledged batch keeps that batch, and the one behind it', async () => {
    // The owner applies each record in the onDurable callback, as the stores do, and asks for a
    // compaction once a4 is acknowledged: the snapshot must already hold the whole first batch.
    const file = path.join(tempDataDir(), 'c.log');
    const log = await AppendLog.open(file, anything, ignore, quiet);
    const applied: string[] = [];
    const write = async (n: string): Promise<void> => {
      const line = JSON.stringify({ n });
      await log.append(line, () => applied.push(line));
      if (n === 'a4') log.compact(() => [...applied]);
    };
    const first = ['a0', 'a1', 'a2', 'a3', 'a4'].map(write);
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is on its way to disk
    const second = ['b0', 'b1', 'b2', 'b3', 'b4'].map(write); // queued behind it
    await Promise.all([...first, ...second]);
    await log.close();
    const expected = ['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2', 'b3', 'b4'].map((n) => ({ n }));
    assert.deepEqual(await readBack(file), expected);
  });

  test('stores appended records in order and reads them back', async () => {
    const file = path.join(tempDataDir(), 'a.log');
    const log = await AppendLog.open(file, anything, ignore, quiet);
    await Promise.all([1, 2, 3].map((n) => log.append(JSON.stringify({ n }))));
    await log.append(JSON.stringify({ n: 4 }));
    await log.close();
    assert.deepEqual(await readBack(file), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
  });

  test('drops a torn last line with a log line and cuts it off the file', async () => {
    const file = path.join(tempDataDir(), 'a.log');
    fs.writeFileSync(file, '{"n":1}\n{"n":2}\n{"n":');
    const logged: string[] = [];
    const records: unknown[] = [];
    const log = await AppendLog.open(
      file,
      anything,
      (record) => records.push(record),
      (_level, message) => logged.push(message),
    );
    await log.append('{"n":3}');
    await log.close();
    assert.deepEqual(records, [{ n: 1 }, { n: 2 }]);
    assert.ok(logged.some((line) => line.includes('torn')));
    assert.equal(fs.readFileSync(file, 'utf8'), `{"n":1}\n{"n":2}\n${lines('{"n":3}')}`);
  });

  test('writes each record as a line of its checksum and its JSON', async () => {
    const file = path.join(tempDataDir(), 'a.log');
    const log = await AppendLog.open(file, anything, ignore, quiet);
    await log.append('{"n":"ё"}');
    await log.close();
    const crc = zlib.crc32(Buffer.from('{"n":"ё"}', 'utf8')).toString(16).padStart(8, '0');
    assert.equal(fs.readFileSync(file, 'utf8'), `${crc} {"n":"ё"}\n`);
  });

  test('the CRC-32 used where zlib has none gives the standard check value and what zlib gives', () => {
    // The check value of CRC-32/ISO-HDLC (the zlib/PNG CRC) for the ASCII digits 1 to 9.
    assert.equal(crc32InJs('123456789'), 0xcbf43926);
    for (const text of ['', '{"n":1}', 'Привет, мир! 👋', 'x'.repeat(5000)])
      assert.equal(crc32InJs(text), zlib.crc32(text), text.slice(0, 20));
  });

  test('a line in the middle that fails its checksum or its check stops the open, naming the file and line', async () => {
    const file = path.join(tempDataDir(), 'a.log');
    const damaged = lines('{"n":1}', '{"n":2}', '{"n":3}').replace('{"n":2}', '{"n":5}');
    fs.writeFileSync(file, damaged);
    await assert.rejects(AppendLog.open(file, anything, ignore, quiet), (error: unknown) => {
      assert.ok(error instanceof LogDamagedError);
      assert.equal(error.message.startsWith(`${file} line 2: its checksum does not match`), true, error.message);
      return true;
    });
    fs.writeFileSync(file, lines('{"n":1}', 'null', '{"n":3}'));
    const objects = (value: unknown): unknown => {
      if (typeof value !== 'object' || value === null) throw new RecordError('the record must be a JSON object');
      return value;
    };
    await assert.rejects(AppendLog.open(file, objects, ignore, quiet), {
      message: new RegExp(`^${file} line 2: the record must be a JSON object`),
    });
  });

  test('reads lines from before checksums at the start of a file, and refuses one after a checksummed line', async () => {
    const file = path.join(tempDataDir(), 'a.log');
    fs.writeFileSync(file, `{"n":1}\n{"n":2}\n${lines('{"n":3}')}`);
    const log = await AppendLog.open(file, anything, ignore, quiet);
    assert.equal(log.legacyLines, 2);
    log.compact(() => ['{"n":1}', '{"n":2}', '{"n":3}']);
    await log.close();
    assert.equal(fs.readFileSync(file, 'utf8'), lines('{"n":1}', '{"n":2}', '{"n":3}'), 'compaction writes checksums');

    fs.appendFileSync(file, '{"n":4}\n');
    await assert.rejects(AppendLog.open(file, anything, ignore, quiet), {
      message: /line 4: it has no checksum, yet lines before it have one/,
    });
  });

  test('a failed write rejects with STORAGE_FAILED, leaves no half line, and writing works again later', async () => {
    const file = path.join(tempDataDir(), 'a.log');
    const disk = diskThatFills();
    const log = await AppendLog.open(file, anything, ignore, quiet, disk);
    await log.append('{"n":1}');
    disk.full = true;
    const failed = await Promise.allSettled([log.append('{"n":2}'), log.append('{"n":3}')]);
    assert.deepEqual(
      failed.map((r) => r.status === 'rejected' && (r.reason as { code: string }).code),
      ['STORAGE_FAILED', 'STORAGE_FAILED'],
    );
    assert.equal(fs.readFileSync(file, 'utf8'), lines('{"n":1}'), 'the half-written batch was cut back');
    disk.full = false;
    await log.append('{"n":4}');
    await log.close();
    assert.deepEqual(await readBack(file), [{ n: 1 }, { n: 4 }]);
  });

  test('compaction replaces the file with the live records and keeps appends made meanwhile', async () => {
    const folder = tempDataDir();
    const file = path.join(folder, 'a.log');
    const log = await AppendLog.open(file, anything, ignore, quiet);
    for (let n = 1; n <= 10; n++) await log.append(JSON.stringify({ n }));
    log.compact(() => ['{"n":9}', '{"n":10}']);
    await log.append('{"n":11}');
    await log.close();
    assert.deepEqual(await readBack(file), [{ n: 9 }, { n: 10 }, { n: 11 }]);
    assert.deepEqual(fs.readdirSync(folder), ['a.log'], 'no temp file left behind');
  });
});
