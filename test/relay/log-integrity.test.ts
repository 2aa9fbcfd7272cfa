/**
 * Damaged logs: what the relay does on start with a record of the wrong shape, with damage that
 * still parses as JSON, and with logs written before lines had checksums. Each case stages a copy
 * of one data folder that a real relay filled, then starts the real relay on it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { TestClient, registerUser, signMessage } from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { logLines, readRecords } from '../helpers/log-files.ts';
import { RELAY_BIN, startRelay, tempDataDir } from '../helpers/relay-process.ts';

const LOGS = ['accounts.log', 'sessions.log', 'messages.log'] as const;
const CHECKSUMMED = /^[0-9a-f]{8} /;

interface Filled {
  dataDir: string;
  /** Ids 1 to 5; the first sent 60 messages to "general", the second changed their first name. */
  users: TestUser[];
}

/** A data folder as a relay leaves it after some use. */
async function fill(): Promise<Filled> {
  const relay = await startRelay();
  const users: TestUser[] = [];
  for (let i = 0; i < 5; i++) users.push(await registerUser(await TestClient.connect(relay.wsUrl)));
  const client = await TestClient.connect(relay.wsUrl);
  await client.call('resume', { token: users[0]!.session.token });
  await client.call('join', { room: 'general' });
  for (let i = 1; i <= 60; i++) await client.call('send', signMessage(users[0]!, 'general', `m${i}`));
  const second = await TestClient.connect(relay.wsUrl);
  await second.call('resume', { token: users[1]!.session.token });
  await second.call('update-profile', { firstName: 'Renamed' });
  assert.equal(await relay.stop('SIGINT'), 0);
  return { dataDir: relay.dataDir, users };
}

function copyOf(folder: string): string {
  const copy = tempDataDir();
  fs.cpSync(folder, copy, { recursive: true });
  return copy;
}

function lines(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

/** Replaces the first line that `matches` with `change(line)`; returns its line number. */
function editLine(file: string, matches: (line: string) => boolean, change: (line: string) => string): number {
  const all = lines(file);
  const index = all.findIndex(matches);
  assert.ok(index >= 0, `no line to edit in ${file}`);
  all[index] = change(all[index]!);
  fs.writeFileSync(file, `${all.join('\n')}\n`);
  return index + 1;
}

function insertLine(file: string, number: number, line: string): void {
  const all = lines(file);
  all.splice(number - 1, 0, line);
  fs.writeFileSync(file, `${all.join('\n')}\n`);
}

/**
 * Turns every log line but the last `keepLast` of each file into a line as the relay wrote them
 * before checksums: bare JSON, and without the account nonces that came with them.
 */
function stripChecksums(folder: string, keepLast = 0): void {
  const withoutNonce = (json: string): string => {
    const { nonce: _nonce, n: _n, ...record } = JSON.parse(json);
    return JSON.stringify(record);
  };
  for (const name of LOGS) {
    const file = path.join(folder, name);
    const all = lines(file);
    const stripped = all.map((line, index) => {
      if (index >= all.length - keepLast) return line;
      const json = line.replace(CHECKSUMMED, '');
      return name === 'messages.log' ? json : withoutNonce(json);
    });
    fs.writeFileSync(file, `${stripped.join('\n')}\n`);
  }
}

/** Starts the relay on `dataDir` expecting it to refuse; resolves with what it wrote to stderr. */
async function refusal(dataDir: string): Promise<string> {
  let started;
  try {
    started = await startRelay({ dataDir });
  } catch (error) {
    const message = (error as Error).message;
    assert.match(message, /^relay exited with 1 before listening/);
    return message;
  }
  await started.stop();
  assert.fail('the relay started');
}

function assertNamesLine(stderr: string, file: string, line: number, problem: RegExp): void {
  assert.ok(stderr.includes(`sov-relay: ${file} line ${line}: `), `names ${file} line ${line}:\n${stderr}`);
  assert.match(stderr, problem);
  assert.doesNotMatch(stderr, /TypeError|    at /, 'a message for the operator, not a stack trace');
}

function repair(dataDir: string): {
  status: number | null;
  stdout: string;
  stderr: string;
} {
  return spawnSync(process.execPath, [RELAY_BIN, 'repair', '--data', dataDir], {
    encoding: 'utf8',
    timeout: 30_000,
  });
}

function backupsOf(dataDir: string): string[] {
  return fs.readdirSync(dataDir).filter((name) => name.includes('.bak-'));
}

/** Edits that leave a line valid JSON of the right shape: only its checksum tells. */
const SILENT_DAMAGE: [(typeof LOGS)[number], string, string][] = [
  ['messages.log', '"seq":20,', '"seq":50,'],
  ['accounts.log', '"t":"account","id":5,', '"t":"accoumt","id":5,'],
  ['sessions.log', '"uid":5,', '"uid":3,'],
];

/** Records of the wrong shape that each log's check must catch, with what the message says. */
const WRONG_SHAPES: Record<(typeof LOGS)[number], [string, RegExp][]> = {
  'accounts.log': [
    ['{"t":"profile","id":"3","firstName":"A"}', /"id" must be a whole number/],
    ['{"t":"account","id":7}', /"username" must be a string/],
    ['{"t":"password","id":2,"kdf":null}', /"kdf" must be a JSON object/],
    ['{}', /"t" must be one of "account", "profile", "password"/],
  ],
  'sessions.log': [
    ['{"t":"add","h":"abc","uid":"3","exp":1}', /"uid" must be a whole number/],
    ['{"t":"touch","h":7,"exp":1}', /"h" must be a string/],
    ['{"t":"sweep"}', /"t" must be one of "add", "touch", "del"/],
  ],
  'messages.log': [
    [
      '{"room":"general","seq":"21","author":1,"cid":"abcdefgh","ts":1,"text":"hi","sig":"s"}',
      /"seq" must be a whole number/,
    ],
    ['{"room":"general","seen":"1:abcdefgh","seq":3}', /"ts" must be a whole number/],
    ['{"room":7,"replayFloor":5}', /"room" must be a string/],
    ['{}', /"room" must be a string/],
  ],
};
const NOT_OBJECTS = ['null', '[]', '"x"', '5'];

describe('damaged logs', () => {
  let filled: Filled;
  before(async () => {
    filled = await fill();
  });

  test('a record of the wrong shape in any log stops the start, with a message naming the file and line', async () => {
    for (const name of LOGS) {
      const cases: [string, RegExp][] = [
        ...NOT_OBJECTS.map((json): [string, RegExp] => [json, /the record must be a JSON object/]),
        ...WRONG_SHAPES[name],
      ];
      for (const [json, problem] of cases) {
        const dataDir = copyOf(filled.dataDir);
        const file = path.join(dataDir, name);
        insertLine(file, 2, logLines([json]).trimEnd());
        assertNamesLine(await refusal(dataDir), file, 2, problem);
      }
    }
  });

  test('so does one in a log written before checksums', async () => {
    for (const name of LOGS) {
      for (const json of ['null', WRONG_SHAPES[name][0]![0]]) {
        const dataDir = copyOf(filled.dataDir);
        stripChecksums(dataDir);
        const file = path.join(dataDir, name);
        insertLine(file, 2, json);
        assertNamesLine(
          await refusal(dataDir),
          file,
          2,
          json === 'null' ? /the record must be a JSON object/ : WRONG_SHAPES[name][0]![1],
        );
      }
    }
  });

  test('damage that still parses as JSON stops the start: a changed seq, record type or user id', async () => {
    for (const [name, before, after] of SILENT_DAMAGE) {
      const dataDir = copyOf(filled.dataDir);
      const file = path.join(dataDir, name);
      const line = editLine(
        file,
        (text) => text.includes(before),
        (text) => text.replace(before, after),
      );
      const stderr = await refusal(dataDir);
      assertNamesLine(stderr, file, line, /its checksum does not match/);
      assert.ok(stderr.includes(`run \`sov-relay repair --data ${dataDir}\``), 'tells the operator what to run');
    }
  });

  test('a line without a checksum after checksummed ones stops the start', async () => {
    const dataDir = copyOf(filled.dataDir);
    const file = path.join(dataDir, 'sessions.log');
    fs.appendFileSync(file, '{"t":"del","h":"abc"}\n');
    assertNamesLine(
      await refusal(dataDir),
      file,
      lines(file).length,
      /it has no checksum, yet lines before it have one/,
    );
  });
});

describe('logs from before checksums', () => {
  test('load as they are, also with checksummed lines appended, and are rewritten with checksums at the first start', async () => {
    const filled = await fill();
    const [author, renamed] = filled.users as [TestUser, TestUser];
    for (const keepLast of [0, 2]) {
      const dataDir = copyOf(filled.dataDir);
      stripChecksums(dataDir, keepLast);
      const relay = await startRelay({ dataDir });
      try {
        const client = await TestClient.connect(relay.wsUrl);
        assert.equal((await client.call('resume', { token: author.session.token })).user.id, author.profile.id);
        const history = await client.call('join', { room: 'general' });
        assert.deepEqual(
          history.messages.map((m: { text: string }) => m.text),
          Array.from({ length: 60 }, (_, i) => `m${i + 1}`),
        );
        assert.equal((await client.call('profile', { userId: renamed.profile.id })).user.firstName, 'Renamed');
        const login = await TestClient.connect(relay.wsUrl);
        assert.equal(
          (
            await login.call('login', {
              username: renamed.username,
              authKey: renamed.authKey,
            })
          ).user.id,
          renamed.profile.id,
        );
      } finally {
        assert.equal(await relay.stop('SIGINT'), 0);
      }
      for (const name of LOGS) {
        const file = path.join(dataDir, name);
        assert.ok(
          lines(file).every((line) => CHECKSUMMED.test(line)),
          `${name} (${keepLast} checksummed lines kept) was rewritten with checksums`,
        );
        assert.ok(readRecords(file).length > 0);
      }
    }
  });
});

describe('sov-relay repair', () => {
  let filled: Filled;
  before(async () => {
    filled = await fill();
  });

  test('saves a damaged log, keeps every line that checks out, says what it dropped, and the relay starts again', async () => {
    const [author, , third, , fifth] = filled.users as [TestUser, TestUser, TestUser, TestUser, TestUser];
    for (const [name, before, after] of SILENT_DAMAGE) {
      const dataDir = copyOf(filled.dataDir);
      const file = path.join(dataDir, name);
      const line = editLine(
        file,
        (text) => text.includes(before),
        (text) => text.replace(before, after),
      );
      const damaged = fs.readFileSync(file);
      const untouched = LOGS.filter((other) => other !== name).map((other) =>
        fs.readFileSync(path.join(dataDir, other)),
      );

      const run = repair(dataDir);
      assert.equal(run.status, 0, run.stderr);
      assert.match(
        run.stdout,
        new RegExp(
          `^${name} line ${line} dropped: its checksum does not match .*${after.replaceAll('"', '\\\\"')}`,
          'm',
        ),
      );
      assert.match(
        run.stdout,
        new RegExp(`^${name}: kept \\d+ lines, dropped 1; the file as it was is ${name}\\.bak-`, 'm'),
      );
      const backups = backupsOf(dataDir);
      assert.equal(backups.length, 1);
      assert.deepEqual(fs.readFileSync(path.join(dataDir, backups[0]!)), damaged, 'the backup is the log as it was');
      const kept = lines(file);
      assert.deepEqual(
        kept,
        damaged
          .toString('utf8')
          .split('\n')
          .slice(0, -1)
          .filter((_, index) => index !== line - 1),
        'only the damaged line is gone',
      );
      assert.deepEqual(
        LOGS.filter((other) => other !== name).map((other) => fs.readFileSync(path.join(dataDir, other))),
        untouched,
      );

      const relay = await startRelay({ dataDir });
      try {
        const resume = async (user: TestUser) =>
          (await TestClient.connect(relay.wsUrl)).request('resume', {
            token: user.session.token,
          });
        const client = await TestClient.connect(relay.wsUrl);
        await client.call('resume', { token: author.session.token });
        if (name === 'messages.log') {
          const resumed = await client.call('join', {
            room: 'general',
            after: 10,
          });
          assert.deepEqual(
            resumed.messages.map((m: { seq: number }) => m.seq),
            Array.from({ length: 50 }, (_, i) => 11 + i).filter((seq) => seq !== 20),
          );
          assert.equal(resumed.gap, true, 'the dropped message is reported as missed');
          assert.equal((await client.call('send', signMessage(author, 'general', 'after the repair'))).seq, 61);
        } else if (name === 'accounts.log') {
          assert.equal(
            (await client.request('profile', { userId: fifth.profile.id })).error?.code,
            'UNKNOWN_USER',
            'the account whose line was dropped is gone',
          );
          assert.equal((await resume(fifth)).error?.code, 'SESSION_INVALID');
          assert.equal((await client.call('profile', { userId: third.profile.id })).user.username, third.username);
          const newcomer = await registerUser(await TestClient.connect(relay.wsUrl));
          assert.ok(
            newcomer.profile.id > fifth.profile.id,
            `the dropped account's id ${fifth.profile.id} is not given out again (got ${newcomer.profile.id})`,
          );
          assert.equal((await resume(fifth)).error?.code, 'SESSION_INVALID', 'not even once another account exists');
        } else {
          assert.equal(
            (await resume(fifth)).error?.code,
            'SESSION_INVALID',
            'the session whose line was dropped is gone',
          );
          assert.equal((await resume(third)).result?.user.id, third.profile.id);
        }
      } finally {
        await relay.stop();
      }
    }
  });

  test('leaves a sound folder as it was, and drops a torn last line with a backup', () => {
    const dataDir = copyOf(filled.dataDir);
    const before = LOGS.map((name) => fs.readFileSync(path.join(dataDir, name)));
    const sound = repair(dataDir);
    assert.equal(sound.status, 0, sound.stderr);
    assert.match(sound.stdout, /^accounts\.log: \d+ lines, all good$/m);
    assert.match(sound.stdout, /Nothing to repair/);
    assert.deepEqual(backupsOf(dataDir), []);
    assert.deepEqual(
      LOGS.map((name) => fs.readFileSync(path.join(dataDir, name))),
      before,
    );

    fs.appendFileSync(path.join(dataDir, 'messages.log'), '5e1f00aa {"room":"general","se');
    const torn = repair(dataDir);
    assert.equal(torn.status, 0, torn.stderr);
    assert.match(torn.stdout, /^messages\.log: a torn last line \(\d+ bytes, never acknowledged\) dropped$/m);
    assert.equal(backupsOf(dataDir).length, 1);
    assert.deepEqual(fs.readFileSync(path.join(dataDir, 'messages.log')), before[2]);
  });

  test('does not touch a folder that a running relay uses', async () => {
    const relay = await startRelay({ dataDir: copyOf(filled.dataDir) });
    try {
      const run = repair(relay.dataDir);
      assert.equal(run.status, 1);
      assert.match(run.stderr, /^sov-relay repair: data folder .* is in use by relay process \d+; stop it first$/m);
      assert.deepEqual(backupsOf(relay.dataDir), []);
    } finally {
      await relay.stop();
    }
  });
});
