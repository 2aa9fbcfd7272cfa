// Several front doors to one relay (issue 10, point 6): the relay's stable id.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { TestClient, eventually } from '../helpers/client.ts';
import { logRecords, startRelay, tempDataDir } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const RELAY_ID = /^[A-Za-z0-9_-]{22}$/;

async function helloRelayId(target: { wsUrl: string }): Promise<unknown> {
  const client = await TestClient.connect(target.wsUrl);
  client.socket.terminate();
  return client.events.find((event) => event.ev === 'hello')!.relayId;
}

const relayFor = async (t: TestContext, options: Parameters<typeof startRelay>[0] = {}): Promise<RelayProcess> => {
  const relay = await startRelay(options);
  t.after(() => relay.stop());
  return relay;
};

describe('the relay id', () => {
  test('is made at the first start (22 base64url characters in relay.id), announced in every hello, and kept across a restart and in a copy of the folder', async (t) => {
    const first = await startRelay();
    const id = await helloRelayId(first);
    assert.match(String(id), RELAY_ID);
    assert.equal(fs.readFileSync(path.join(first.dataDir, 'relay.id'), 'utf8'), `${id}\n`);
    assert.equal(await helloRelayId(first), id, 'every connection hears the same id');
    assert.equal(await first.stop(), 0);

    const backup = path.join(tempDataDir(), 'backup');
    fs.cpSync(first.dataDir, backup, { recursive: true });
    const again = await relayFor(t, { dataDir: first.dataDir });
    assert.equal(await helloRelayId(again), id, 'after a restart');
    const restored = await relayFor(t, { dataDir: backup });
    assert.equal(await helloRelayId(restored), id, 'from a backup');
    const other = await relayFor(t);
    assert.notEqual(await helloRelayId(other), id, 'another data folder is another relay');
  });

  test('the relay logs its id when it starts, for an operator checking a new door', async (t) => {
    const relay = await relayFor(t, { args: ['--log-format', 'json'] });
    await eventually(() => logRecords(relay).some((record) => record.msg === 'relay started'), 'the start line');
    assert.equal(logRecords(relay).find((record) => record.msg === 'relay started')!.relayId, await helloRelayId(relay));
  });

  test('a damaged relay.id stops the start with a message naming the file, instead of giving the relay a new id', async () => {
    const dataDir = tempDataDir();
    fs.writeFileSync(path.join(dataDir, 'relay.id'), 'not an id\n');
    await assert.rejects(startRelay({ dataDir }), (error: Error) => error.message.includes(`${path.join(dataDir, 'relay.id')} does not hold a relay id`));
    assert.equal(fs.readFileSync(path.join(dataDir, 'relay.id'), 'utf8'), 'not an id\n', 'left for the operator to restore');
  });
});
