// The parser of relay frames loads beside the first link (sdk/connection.ts, sdk/lazy.ts): frames
// that arrive before it must wait for it, in order, not be dropped. In process, with a WebSocket
// class that answers as the relay does at once (its hello in the same tick as the socket opens),
// before the parser's module can have loaded; this file's process has not loaded it yet.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SovClient } from '../../sdk/client.ts';
import type { ConnectionState, WebSocketLike } from '../../sdk/connection.ts';
import { memoryStorage } from '../../sdk/storage.ts';
import { eventually } from '../helpers/client.ts';

const HELLO = {
  ev: 'hello',
  protocol: 1,
  relay: 'in-process',
  relayId: 'AAAAAAAAAAAAAAAAAAAA-_',
  time: Date.now(),
  limits: {
    maxFrameBytes: 65_536,
    connectionBudget: 0,
    maxMessageBytes: 65_536,
  },
};

class InstantRelay implements WebSocketLike {
  readyState = 1;
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;

  constructor(_url: string) {
    queueMicrotask(() => {
      this.onopen?.({});
      this.onmessage?.({ data: JSON.stringify(HELLO) });
    });
  }

  send(data: string): void {
    const { id } = JSON.parse(data) as { id: number };
    queueMicrotask(() =>
      this.onmessage?.({
        data: JSON.stringify({
          re: id,
          ok: true,
          result: { time: Date.now() },
        }),
      }),
    );
  }

  close(): void {
    this.onclose = this.onmessage = null;
  }
}

test('a hello that arrives before the parser has loaded is read once it has: the first link comes up, without a second attempt', async () => {
  const client = new SovClient({
    relay: 'ws://relay.invalid',
    WebSocket: InstantRelay,
    storage: memoryStorage(),
  });
  const states: ConnectionState[] = [];
  client.on('state', ({ state }) => states.push(state));
  try {
    client.connect();
    await eventually(() => client.state === 'connected', 'connected', 2000);
    assert.deepEqual(states, ['connecting', 'connected']);
  } finally {
    client.close();
  }
});
