import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { AppendLog } from '../../relay/store/append-log.ts';
import type { FileOps } from '../../relay/store/append-log.ts';
import type { Logger } from '../../relay/logger.ts';
import { tempDataDir } from '../helpers/relay-process.ts';

const quiet: Logger = () => undefined;

async function readBack(file: string): Promise<unknown[]> {
  const records: unknown[] = [];
  const log = await AppendLog.open(file, (record) => records.push(record), quiet);
  await log.close();
  return records;
}

/** Real writes, except while `full` is set: then a write lands half its bytes and fails like ENOSPC. */
function diskThatFills(): FileOps & { full: boolean } {
  return {
    full: false,
    async write(handle, data, position) {
      if (this.full) {
        await handle.write(data, 0, Math.floor(data.length / 2), position);
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      }
      await handle.write(data, 0, data.length, position);
    },
  };
}

describe('append-only log', () => {
  test('stores appended records in order and reads them back', async () => {
    const file = path.join(tempDataDir(), 'a.log');
    const log = await AppendLog.open(file, () => undefined, quiet);
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
    const log = await AppendLog.open(file, (record) => records.push(record), (_level, message) => logged.push(message));
    await log.append('{"n":3}');
    await log.close();
    assert.deepEqual(records, [{ n: 1 }, { n: 2 }]);
    assert.ok(logged.some((line) => line.includes('torn')));
    assert.equal(fs.readFileSync(file, 'utf8'), '{"n":1}\n{"n":2}\n{"n":3}\n');
  });

  test('a failed write rejects with STORAGE_FAILED, leaves no half line, and writing works again later', async () => {
    const file = path.join(tempDataDir(), 'a.log');
    const disk = diskThatFills();
    const log = await AppendLog.open(file, () => undefined, quiet, disk);
    await log.append('{"n":1}');
    disk.full = true;
    const failed = await Promise.allSettled([log.append('{"n":2}'), log.append('{"n":3}')]);
    assert.deepEqual(failed.map((r) => r.status === 'rejected' && (r.reason as { code: string }).code), ['STORAGE_FAILED', 'STORAGE_FAILED']);
    assert.equal(fs.readFileSync(file, 'utf8'), '{"n":1}\n', 'the half-written batch was cut back');
    disk.full = false;
    await log.append('{"n":4}');
    await log.close();
    assert.deepEqual(await readBack(file), [{ n: 1 }, { n: 4 }]);
  });

  test('compaction replaces the file with the live records and keeps appends made meanwhile', async () => {
    const folder = tempDataDir();
    const file = path.join(folder, 'a.log');
    const log = await AppendLog.open(file, () => undefined, quiet);
    for (let n = 1; n <= 10; n++) await log.append(JSON.stringify({ n }));
    log.compact(() => ['{"n":9}', '{"n":10}']);
    await log.append('{"n":11}');
    await log.close();
    assert.deepEqual(await readBack(file), [{ n: 9 }, { n: 10 }, { n: 11 }]);
    assert.deepEqual(fs.readdirSync(folder), ['a.log'], 'no temp file left behind');
  });
});
