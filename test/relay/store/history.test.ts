/**
 * The relay's history store (relay/store/history.ts) in-process, on a real data folder: messages
 * numbered per room, replays refused, pages read newest-first, before and after a number, what a
 * page holds (count and bytes), the kept history's limit, gaps, and a reopen reading the same.
 * The protocol's use of it (join, history) is tested through the relay in paging.test.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { SovError } from '../../../sdk/errors.ts';
import type { ChatMessage } from '../../../sdk/protocol.ts';
import type { Logger } from '../../../relay/logger.ts';
import { AccountIds } from '../../../relay/store/account-ids.ts';
import { HistoryStore } from '../../../relay/store/history.ts';
import type { HistoryPage, PageSize } from '../../../relay/store/history.ts';
import { realFileOps } from '../../../relay/store/append-log.ts';
import type { FileOps } from '../../../relay/store/append-log.ts';
import { formatLine } from '../../../relay/store/log-line.ts';
import { tempDataDir } from '../../helpers/relay-process.ts';

const quiet: Logger = () => undefined;
const ANN = 1;
const BOB = 2;
/** Up to `limit` messages, bytes no object: what the count rules look like alone. */
const upTo = (limit: number): PageSize => ({
  bytes: 1_000_000,
  limit,
  atLeastOne: true,
});

const stores: HistoryStore[] = [];
after(() => Promise.all(stores.map((store) => store.close())));

async function open(folder = tempDataDir(), historySize = 100, ops?: FileOps): Promise<HistoryStore> {
  const store = await HistoryStore.open(folder, new AccountIds(), historySize, quiet, ops);
  stores.push(store);
  return store;
}

let cids = 0;
function message(room: string, text: string, author = ANN): Omit<ChatMessage, 'seq'> {
  return {
    room,
    author,
    cid: `cid-${++cids}`,
    ts: Date.now(),
    text,
    sig: 'signature',
  };
}

async function write(store: HistoryStore, room: string, count: number, from = 1): Promise<void> {
  for (let i = from; i < from + count; i++) await store.accept(message(room, `m${i}`));
}

/** The texts of a page, with its flags: what a reader of the page gets. */
function read(page: HistoryPage & { gap?: boolean }): {
  texts: string[];
  more: boolean;
  gap?: boolean;
} {
  const texts = page.messages.map((json) => (JSON.parse(json) as ChatMessage).text);
  return page.gap === undefined ? { texts, more: page.more } : { texts, more: page.more, gap: page.gap };
}

const texts = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

describe('history store: accepting messages', () => {
  test('numbers each room from 1 in the order accepted, and stores exactly the JSON it returns', async () => {
    const store = await open();
    const first = await store.accept(message('kitchen', 'one'));
    const second = await store.accept(message('kitchen', 'two'));
    const elsewhere = await store.accept(message('hall', 'hello'));
    assert.deepEqual([first.seq, second.seq, elsewhere.seq], [1, 2, 1]);
    assert.equal(store.lastSeq('kitchen'), 2);
    assert.equal(store.lastSeq('nowhere'), 0);
    assert.deepEqual(store.newest('kitchen', upTo(10)).messages, [first.json, second.json]);
    assert.equal(JSON.parse(second.json).seq, 2);
    assert.equal(second.bytes, Buffer.byteLength(second.json));
  });

  test("refuses an author's repeated client id with DUPLICATE_MESSAGE and the first one's number; another author may use it", async () => {
    const store = await open();
    const original = message('kitchen', 'once');
    await store.accept(original);
    await assert.rejects(
      store.accept({ ...original, text: 'twice' }),
      (error: unknown) => error instanceof SovError && error.code === 'DUPLICATE_MESSAGE' && error.seq === 1,
    );
    const other = await store.accept({ ...original, author: BOB });
    assert.equal(other.seq, 2);
    assert.equal(store.lastSeq('kitchen'), 2, 'the refused one took no number');
  });

  test('a failed write takes back its number: the next message gets it, and the failed one may be sent again', async () => {
    // Real writes, except while `full` is set: then half the bytes land and the write fails like ENOSPC.
    const disk: FileOps & { full: boolean } = {
      full: false,
      async write(handle, data, position) {
        if (!this.full) return realFileOps.write(handle, data, position);
        await handle.write(data, 0, Math.floor(data.length / 2), position);
        throw Object.assign(new Error('ENOSPC: no space left on device'), {
          code: 'ENOSPC',
        });
      },
      datasync: realFileOps.datasync,
    };
    const store = await open(undefined, 100, disk);
    await store.accept(message('kitchen', 'stored'));
    disk.full = true;
    const lost = message('kitchen', 'not stored');
    await assert.rejects(
      store.accept(lost),
      (error: unknown) => error instanceof SovError && error.code === 'STORAGE_FAILED',
    );
    disk.full = false;
    assert.equal(store.lastSeq('kitchen'), 1);
    assert.equal(
      (await store.accept(lost)).seq,
      2,
      'the same message, sent again, is not a duplicate and takes number 2',
    );
    assert.deepEqual(read(store.newest('kitchen', upTo(10))).texts, ['stored', 'not stored']);
  });

  test('a reopened store reads the same history, numbers and replay records from the log', async () => {
    const folder = tempDataDir();
    const store = await open(folder);
    const sent = message('kitchen', 'm1');
    await store.accept(sent);
    await write(store, 'kitchen', 4, 2);
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    const reopened = await open(folder);
    assert.equal(reopened.lastSeq('kitchen'), 5);
    assert.deepEqual(read(reopened.newest('kitchen', upTo(10))).texts, texts(1, 5));
    await assert.rejects(
      reopened.accept(sent),
      (error: unknown) => error instanceof SovError && error.code === 'DUPLICATE_MESSAGE' && error.seq === 1,
    );
    assert.equal((await reopened.accept(message('kitchen', 'm6'))).seq, 6);
  });
});

describe('history store: pages', () => {
  test('newest: the last messages that fit, oldest first, with more when older ones are kept', async () => {
    const store = await open();
    await write(store, 'kitchen', 10);
    assert.deepEqual(read(store.newest('kitchen', upTo(3))), {
      texts: texts(8, 10),
      more: true,
    });
    assert.deepEqual(read(store.newest('kitchen', upTo(10))), {
      texts: texts(1, 10),
      more: false,
    });
    assert.deepEqual(read(store.newest('empty', upTo(10))), {
      texts: [],
      more: false,
    });
  });

  test('before: the page below a number, back to the first message', async () => {
    const store = await open();
    await write(store, 'kitchen', 10);
    assert.deepEqual(read(store.before('kitchen', 8, upTo(3))), {
      texts: texts(5, 7),
      more: true,
    });
    assert.deepEqual(read(store.before('kitchen', 5, upTo(3))), {
      texts: texts(2, 4),
      more: true,
    });
    assert.deepEqual(read(store.before('kitchen', 2, upTo(3))), {
      texts: ['m1'],
      more: false,
    });
    assert.deepEqual(read(store.before('kitchen', 1, upTo(3))), {
      texts: [],
      more: false,
    });
  });

  test('after: oldest first above a number, with more while newer remain and no gap when nothing was missed', async () => {
    const store = await open();
    await write(store, 'kitchen', 10);
    assert.deepEqual(read(store.after('kitchen', 0, upTo(4))), {
      texts: texts(1, 4),
      more: true,
      gap: false,
    });
    assert.deepEqual(read(store.after('kitchen', 4, upTo(4))), {
      texts: texts(5, 8),
      more: true,
      gap: false,
    });
    assert.deepEqual(read(store.after('kitchen', 8, upTo(4))), {
      texts: texts(9, 10),
      more: false,
      gap: false,
    });
    assert.deepEqual(read(store.after('kitchen', 10, upTo(4))), {
      texts: [],
      more: false,
      gap: false,
    });
  });

  test('a page stops before the message that would pass its bytes, a comma counted after each', async () => {
    const store = await open();
    const sizes: number[] = [];
    for (let i = 1; i <= 3; i++) sizes.push((await store.accept(message('kitchen', `m${i}`))).bytes);
    const twoFit = sizes[1]! + 1 + sizes[2]! + 1;
    assert.deepEqual(read(store.newest('kitchen', { bytes: twoFit, limit: 10, atLeastOne: true })), {
      texts: ['m2', 'm3'],
      more: true,
    });
    assert.deepEqual(
      read(
        store.newest('kitchen', {
          bytes: twoFit - 1,
          limit: 10,
          atLeastOne: true,
        }),
      ),
      { texts: ['m3'], more: true },
    );
    assert.deepEqual(
      read(
        store.after('kitchen', 0, {
          bytes: sizes[0]! + 1,
          limit: 10,
          atLeastOne: true,
        }),
      ),
      { texts: ['m1'], more: true, gap: false },
    );
  });

  test('a message larger than the page goes alone where a page must not be empty (history), and not at all where it shares a frame (join)', async () => {
    const store = await open();
    await store.accept(message('kitchen', 'x'.repeat(500)));
    assert.deepEqual(read(store.newest('kitchen', { bytes: 100, limit: 10, atLeastOne: true })).texts, [
      'x'.repeat(500),
    ]);
    assert.deepEqual(read(store.newest('kitchen', { bytes: 100, limit: 10, atLeastOne: false })), {
      texts: [],
      more: true,
    });
  });
});

describe('history store: the kept history and gaps', () => {
  test('keeps the last historySize messages of a room: no page reaches below them, before or after a reopen', async () => {
    const folder = tempDataDir();
    const store = await open(folder, 5);
    await write(store, 'kitchen', 12);
    assert.deepEqual(read(store.newest('kitchen', upTo(100))), {
      texts: texts(8, 12),
      more: false,
    });
    assert.deepEqual(read(store.before('kitchen', 9, upTo(100))), {
      texts: ['m8'],
      more: false,
    });
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    const reopened = await open(folder, 5);
    assert.deepEqual(read(reopened.newest('kitchen', upTo(100))), {
      texts: texts(8, 12),
      more: false,
    });
    assert.equal(reopened.lastSeq('kitchen'), 12);
  });

  test('after a number whose next messages were trimmed away: a gap, and the kept history from its oldest', async () => {
    const store = await open(undefined, 5);
    await write(store, 'kitchen', 12);
    assert.deepEqual(read(store.after('kitchen', 3, upTo(2))), {
      texts: ['m8', 'm9'],
      more: true,
      gap: true,
    });
    assert.deepEqual(
      read(store.after('kitchen', 7, upTo(2))),
      { texts: ['m8', 'm9'], more: true, gap: false },
      'nothing missed from 7 on',
    );
  });

  test("after a number above the room's newest (a relay restored from an old backup): a gap, and the kept history from its oldest", async () => {
    const store = await open();
    await write(store, 'kitchen', 3);
    assert.deepEqual(read(store.after('kitchen', 9, upTo(10))), {
      texts: texts(1, 3),
      more: false,
      gap: true,
    });
  });

  test('a hole in the numbers (a damaged line dropped by repair) is a gap for a reader resuming before it, not after it', async () => {
    const folder = tempDataDir();
    const lines = [1, 2, 4, 5].map((seq) =>
      formatLine(
        JSON.stringify({
          room: 'kitchen',
          seq,
          author: ANN,
          cid: `hole-${seq}`,
          ts: Date.now(),
          text: `m${seq}`,
          sig: 'signature',
        }),
      ),
    );
    fs.writeFileSync(path.join(folder, 'messages.log'), lines.map((line) => `${line}\n`).join(''));
    const store = await open(folder);
    assert.deepEqual(read(store.after('kitchen', 1, upTo(10))), {
      texts: ['m2', 'm4', 'm5'],
      more: false,
      gap: true,
    });
    assert.deepEqual(read(store.after('kitchen', 3, upTo(10))), {
      texts: ['m4', 'm5'],
      more: false,
      gap: false,
    });
    assert.deepEqual(
      read(store.before('kitchen', 5, upTo(2))),
      { texts: ['m2', 'm4'], more: true },
      'before() pages across the hole by number',
    );
    assert.equal((await store.accept(message('kitchen', 'm6'))).seq, 6);
  });
});
