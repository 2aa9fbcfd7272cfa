/**
 * The byte budget per connection (--conn-budget): the relay never sends more than the budget down
 * one TCP connection, counted here from the client's side as raw TCP bytes, and ends it with 4001
 * instead of sending the frame that would cross it.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CLOSE_CODES } from '../../sdk/protocol.ts';
import { ByteBudget, tlsHandshakeBytes } from '../../relay/engine/byte-budget.ts';
import { frameCost, frameHeaderBytes } from '../../sdk/protocol/budget.ts';
import { TestClient, registerUser, signMessage, uniqueName, withTimeout } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const BUDGET = 8192;

describe('byte budget arithmetic', () => {
  test('frame headers follow RFC 6455: 2 bytes to 125, 4 to 65,535, 10 beyond', () => {
    assert.deepEqual([0, 125, 126, 65535, 65536].map(frameHeaderBytes), [2, 2, 4, 4, 10]);
  });

  test('a budget admits frames until the next would cross it, but always the first two', () => {
    const budget = new ByteBudget({
      limit: 1000,
      spentAtOpen: 900,
      tls: false,
    });
    assert.equal(budget.admit(500), true, 'the hello, whatever the budget');
    assert.equal(
      budget.admit(500),
      true,
      'and one more, so a frame bigger than a budget still gets through on a fresh connection',
    );
    assert.equal(budget.admit(1), false);
    const roomy = new ByteBudget({ limit: 1000, spentAtOpen: 100, tls: true });
    assert.equal(roomy.admit(100), true);
    assert.equal(roomy.admit(100), true);
    assert.equal(roomy.admit(500), true);
    assert.equal(roomy.bytes, 100 + 2 * (100 + 2 + 22) + (500 + 4 + 22), 'header and TLS record counted per frame');
    assert.equal(roomy.admit(100), false, 'past the limit less the close frame reserve');
  });

  test('the TLS handshake is charged with the certificate chain it carries', () => {
    const der = Buffer.alloc(1234, 7)
      .toString('base64')
      .replace(/(.{64})/g, '$1\n');
    const pem = `-----BEGIN CERTIFICATE-----\n${der}\n-----END CERTIFICATE-----\n`;
    assert.equal(tlsHandshakeBytes(pem + pem), 2 * 1234 + 400);
  });

  test('the budget off (0) admits everything', () => {
    const off = new ByteBudget({ limit: 0, spentAtOpen: 0, tls: false });
    for (let i = 0; i < 100; i++) assert.equal(off.admit(60_000), true);
  });
});

describe('a relay with --conn-budget', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay({ args: ['--conn-budget', String(BUDGET)] });
  });
  after(() => relay.stop());

  test('announces the budget in hello, and what the upgrade answer already spent, to the byte', async () => {
    const client = await TestClient.connect(relay.wsUrl);
    const tcp = (client.socket as unknown as { _socket: net.Socket })._socket;
    const hello = client.events.find((event) => event.ev === 'hello') as unknown as {
      limits: { connectionBudget: number };
      budgetSpent: number;
    };
    assert.equal(hello.limits.connectionBudget, BUDGET);
    // Nothing but the upgrade answer and the hello has come down this connection yet.
    const helloBytes = Buffer.byteLength(JSON.stringify(hello));
    assert.equal(
      hello.budgetSpent + frameCost(helloBytes, false),
      tcp.bytesRead,
      'the engine counts its own upgrade answer exactly',
    );
    await client.close();
  });

  test('never sends more than the budget down one TCP connection, and ends it with 4001 instead of crossing it', async () => {
    const room = uniqueName('room');
    const reader = await TestClient.connect(relay.wsUrl);
    const tcp = (reader.socket as unknown as { _socket: net.Socket })._socket;
    await registerUser(reader);
    await reader.call('join', { room });
    const author = await registerUser(await TestClient.connect(relay.wsUrl));
    let sent = 0;
    let lastSeq = 0;
    const closed = reader.closed.then((close) => ({
      ...close,
      bytes: tcp.bytesRead,
    }));
    let done = false;
    void closed.then(() => (done = true));
    // A fresh writer connection per message, so only the reader's connection fills up.
    while (!done && sent < 200) {
      const writer = await TestClient.connect(relay.wsUrl);
      await writer.call('resume', { token: author.session.token });
      await writer.call('join', { room, after: lastSeq });
      lastSeq = (await writer.call('send', signMessage(author, room, `message ${sent++} ${'x'.repeat(200)}`))).seq;
      await writer.close();
    }
    const close = await withTimeout(closed, 'the relay to end the reader connection');
    assert.equal(close.code, CLOSE_CODES.BUDGET_SPENT);
    assert.ok(close.bytes <= BUDGET, `${close.bytes} bytes arrived on one TCP connection, budget ${BUDGET}`);
    assert.ok(close.bytes > BUDGET - 600, `the budget was used (${close.bytes} of ${BUDGET} bytes), not cut short`);
    assert.ok(sent < 200, 'the connection ended before the writer was done');
    // The writer, with its own budget, carries on; the reader resumes on a new connection.
    const again = await TestClient.connect(relay.wsUrl);
    await registerUser(again);
    const { seq } = await again.call('join', { room });
    assert.equal(seq, lastSeq, 'every acknowledged message is in the history');
    await again.close();
  });
});
