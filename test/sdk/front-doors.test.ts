// The front doors' pure parts (sdk/front-doors.ts): how the `relay` option (and the <sov-chat relay>
// attribute, which is handed over as it is) becomes doors, and which door each attempt goes to.
// test/relay/front-doors.test.ts drives the same through real relays and dead proxies.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SovError } from '../../sdk/errors.ts';
import {
  FAILURES_TO_LEAVE,
  FrontDoors,
  HELLO_TIMEOUT_MAX_MS,
  HELLO_TIMEOUT_MS,
  httpUrlOf,
  parseDoors,
  relayIdOf,
  wsUrlOf,
} from '../../sdk/front-doors.ts';
import { memoryStorage } from '../../sdk/storage.ts';
import type { StorageAdapter } from '../../sdk/storage.ts';

describe('parseDoors', () => {
  test('maps http(s) to ws(s), keeps the path, drops a trailing slash, the query and the fragment', () => {
    assert.deepEqual(parseDoors('https://b.example/chat/?x=1#y'), ['wss://b.example/chat']);
    assert.deepEqual(parseDoors('ws://127.0.0.1:8080'), ['ws://127.0.0.1:8080']);
    assert.deepEqual(parseDoors('http://a.example//'), ['ws://a.example']);
    assert.deepEqual(
      parseDoors('HTTPS://A.Example:443/Chat'),
      ['wss://a.example/Chat'],
      'the URL parser lower-cases the host and drops a default port',
    );
  });

  test("a door's WebSocket endpoint is under its path, and so is its http(s) base", () => {
    assert.equal(wsUrlOf('wss://b.example/chat'), 'wss://b.example/chat/v1/ws');
    assert.equal(httpUrlOf('wss://b.example/chat'), 'https://b.example/chat');
    assert.equal(httpUrlOf('ws://127.0.0.1:8080'), 'http://127.0.0.1:8080');
  });

  test('takes a list, or one string of addresses separated by white space (the <sov-chat relay> attribute), in order, each once', () => {
    const expected = ['wss://a.example', 'wss://b.example/chat', 'ws://c.example:8080'];
    assert.deepEqual(parseDoors('wss://a.example https://b.example/chat\n\thttp://c.example:8080/ '), expected);
    assert.deepEqual(parseDoors(['wss://a.example', 'https://b.example/chat', 'ws://c.example:8080']), expected);
    assert.deepEqual(parseDoors(['wss://a.example https://b.example/chat', 'ws://c.example:8080']), expected);
    assert.deepEqual(parseDoors('https://a.example wss://a.example/ wss://b.example/chat'), [
      'wss://a.example',
      'wss://b.example/chat',
    ]);
  });

  test('refuses no address, a non-URL and other schemes with INVALID_INPUT', () => {
    for (const bad of [
      '',
      '   ',
      [],
      ['wss://a.example', 'not a url'],
      'ftp://a.example',
      'wss://a.example javascript:alert(1)',
    ]) {
      assert.throws(
        () => parseDoors(bad),
        (error: unknown) => error instanceof SovError && error.code === 'INVALID_INPUT',
        JSON.stringify(bad),
      );
    }
  });
});

describe('relayIdOf', () => {
  // A relayId of another type never gets this far: the parser refuses the hello (test/sdk/relay-frames.test.ts).
  test('reads the relay id of a hello, and nothing from a hello without one (a relay older than ids)', () => {
    assert.equal(relayIdOf({ relayId: 'AAAAAAAAAAAAAAAAAAAA-_' }), 'AAAAAAAAAAAAAAAAAAAA-_');
    for (const hello of [null, {}]) assert.equal(relayIdOf(hello), null);
  });
});

describe('FrontDoors', () => {
  const THREE = 'ws://a.example ws://b.example ws://c.example';
  const make = async (relay = THREE, storage: StorageAdapter = memoryStorage()) => {
    const moves: string[] = [];
    const doors = new FrontDoors(parseDoors(relay), storage, 'door|test', (door) => moves.push(door));
    await doors.recalled;
    return { doors, moves, storage };
  };
  const at = (doors: FrontDoors): string => doors.door();

  test(`leaves a door after ${FAILURES_TO_LEAVE} failed attempts in a row, not after one, and goes round the list`, async () => {
    const { doors, moves } = await make();
    doors.failed(false);
    assert.equal(at(doors), 'ws://a.example', 'one failure may be a blip');
    doors.failed(false);
    assert.equal(at(doors), 'ws://b.example');
    for (let i = 0; i < 2 * FAILURES_TO_LEAVE; i++) doors.failed(false);
    assert.equal(at(doors), 'ws://a.example', 'after the last door, the first again');
    assert.deepEqual(moves, ['ws://b.example', 'ws://c.example', 'ws://a.example']);
  });

  test('a success between failures starts the count again', async () => {
    const { doors } = await make();
    doors.failed(false);
    doors.reached();
    doors.failed(false);
    assert.equal(at(doors), 'ws://a.example');
  });

  test('leaves a door after one attempt that got no answer, and each such attempt in a row doubles the next wait, up to a cap', async () => {
    const { doors } = await make('ws://a.example ws://b.example');
    assert.equal(doors.helloTimeoutMs(), HELLO_TIMEOUT_MS);
    doors.failed(true);
    assert.equal(at(doors), 'ws://b.example');
    assert.equal(doors.helloTimeoutMs(), 2 * HELLO_TIMEOUT_MS, 'the network may just be slow');
    doors.failed(false);
    assert.equal(doors.helloTimeoutMs(), 2 * HELLO_TIMEOUT_MS, 'a refusal says nothing about slowness');
    doors.failed(true);
    assert.equal(at(doors), 'ws://a.example');
    assert.equal(doors.helloTimeoutMs(), 4 * HELLO_TIMEOUT_MS);
    for (let i = 0; i < 20; i++) doors.failed(true);
    assert.equal(doors.helloTimeoutMs(), HELLO_TIMEOUT_MAX_MS);
    doors.reached();
    assert.equal(doors.helloTimeoutMs(), HELLO_TIMEOUT_MS, 'an answer resets the wait');
  });

  test('a door that led to another relay is left at once, without a second try, and comes round again like any other', async () => {
    const { doors } = await make();
    doors.failed(false, new SovError('WRONG_RELAY'));
    assert.equal(at(doors), 'ws://b.example');
    assert.equal(doors.helloTimeoutMs(), HELLO_TIMEOUT_MS, 'it answered: no longer wait');
    doors.leave();
    assert.equal(at(doors), 'ws://c.example', 'leave() is what the client calls for a door it found wrong itself');
    doors.leave();
    assert.equal(at(doors), 'ws://a.example', 'the relay behind it may have been put right');
  });

  test('one door stays the door whatever happens', async () => {
    const { doors, moves } = await make('ws://a.example');
    doors.failed(true);
    doors.failed(false, new SovError('WRONG_RELAY'));
    for (let i = 0; i < 5; i++) doors.failed(false);
    assert.equal(at(doors), 'ws://a.example');
    assert.deepEqual(moves, []);
  });

  test('the door that worked is remembered in storage, and the next client on that storage starts there', async () => {
    const { doors, storage } = await make();
    doors.failed(true);
    doors.reached();
    await new Promise((resolve) => setImmediate(resolve));
    const again = await make(THREE, storage);
    assert.equal(at(again.doors), 'ws://b.example');
    assert.deepEqual(again.moves, ['ws://b.example']);
  });

  test('a remembered door that is no longer in the list is ignored', async () => {
    const storage = memoryStorage();
    await storage.set('door|test', 'ws://gone.example');
    const { doors, moves } = await make(THREE, storage);
    assert.equal(at(doors), 'ws://a.example');
    assert.deepEqual(moves, []);
  });

  test('storage that fails costs only the memory', async () => {
    const broken: StorageAdapter = {
      ...memoryStorage(),
      get: () => Promise.reject(new Error('no disk')),
      set: () => Promise.reject(new Error('no disk')),
    };
    const { doors } = await make(THREE, broken);
    doors.reached();
    assert.equal(at(doors), 'ws://a.example');
  });
});
