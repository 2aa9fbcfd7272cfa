// The front doors' pure parts (sdk/front-doors.ts): how the `relay` option (and the <sov-chat relay>
// attribute, which is handed over as it is) becomes doors, and which door each attempt goes to.
// test/relay/front-doors.test.ts drives the same through real relays and dead proxies.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SovError } from '../../sdk/errors.ts';
import { FAILURES_TO_LEAVE, FrontDoors, HELLO_TIMEOUT_MAX_MS, HELLO_TIMEOUT_MS, parseDoors, relayIdOf } from '../../sdk/front-doors.ts';
import type { Door } from '../../sdk/front-doors.ts';
import { memoryStorage } from '../../sdk/storage.ts';
import type { StorageAdapter } from '../../sdk/storage.ts';

const addresses = (doors: readonly Door[]): string[] => doors.map((door) => door.address);

describe('parseDoors', () => {
  test('maps http(s) to ws(s), keeps the path, drops a trailing slash, the query and the fragment', () => {
    assert.deepEqual(parseDoors('https://b.example/chat/?x=1#y'), [{ address: 'wss://b.example/chat', ws: 'wss://b.example/chat/v1/ws', http: 'https://b.example/chat' }]);
    assert.deepEqual(parseDoors('ws://127.0.0.1:8080'), [{ address: 'ws://127.0.0.1:8080', ws: 'ws://127.0.0.1:8080/v1/ws', http: 'http://127.0.0.1:8080' }]);
    assert.deepEqual(addresses(parseDoors('http://a.example//')), ['ws://a.example']);
  });

  test('takes a list, or one string of addresses separated by white space (the <sov-chat relay> attribute), in order, each once', () => {
    const expected = ['wss://a.example', 'wss://b.example/chat', 'ws://c.example:8080'];
    assert.deepEqual(addresses(parseDoors('wss://a.example https://b.example/chat\n\thttp://c.example:8080/ ')), expected);
    assert.deepEqual(addresses(parseDoors(['wss://a.example', 'https://b.example/chat', 'ws://c.example:8080'])), expected);
    assert.deepEqual(addresses(parseDoors(['wss://a.example https://b.example/chat', 'ws://c.example:8080'])), expected);
    assert.deepEqual(addresses(parseDoors('https://a.example wss://a.example/ wss://b.example/chat')), ['wss://a.example', 'wss://b.example/chat']);
  });

  test('refuses no address, a non-URL and other schemes with INVALID_INPUT', () => {
    for (const bad of ['', '   ', [], ['wss://a.example', 'not a url'], 'ftp://a.example', 'wss://a.example javascript:alert(1)']) {
      assert.throws(
        () => parseDoors(bad),
        (error: unknown) => error instanceof SovError && error.code === 'INVALID_INPUT',
        JSON.stringify(bad),
      );
    }
  });
});

describe('relayIdOf', () => {
  test('reads the relay id of a hello, and nothing from a hello without one or with a malformed one', () => {
    assert.equal(relayIdOf({ ev: 'hello', relayId: 'AAAAAAAAAAAAAAAAAAAA-_' }), 'AAAAAAAAAAAAAAAAAAAA-_');
    for (const hello of [null, undefined, {}, { relayId: 7 }, { relayId: 'short' }, { relayId: 'AAAAAAAAAAAAAAAAAAAA+/' }, { relayId: 'AAAAAAAAAAAAAAAAAAAAAAA' }]) assert.equal(relayIdOf(hello), null);
  });
});

describe('FrontDoors', () => {
  const THREE = 'ws://a.example ws://b.example ws://c.example';
  const make = async (relay = THREE, storage: StorageAdapter = memoryStorage()) => {
    const moves: string[] = [];
    const doors = new FrontDoors(parseDoors(relay), storage, 'door|test', (door) => moves.push(door.address));
    await doors.recalled;
    return { doors, moves, storage };
  };
  const at = (doors: FrontDoors): string => doors.url().replace('/v1/ws', '');

  test(`leaves a door after ${FAILURES_TO_LEAVE} failed attempts in a row, not after one, and goes round the list`, async () => {
    const { doors, moves } = await make();
    doors.failed({ silent: false });
    assert.equal(at(doors), 'ws://a.example', 'one failure may be a blip');
    doors.failed({ silent: false });
    assert.equal(at(doors), 'ws://b.example');
    for (let i = 0; i < 2 * FAILURES_TO_LEAVE; i++) doors.failed({ silent: false });
    assert.equal(at(doors), 'ws://a.example', 'after the last door, the first again');
    assert.deepEqual(moves, ['ws://b.example', 'ws://c.example', 'ws://a.example']);
  });

  test('a success between failures starts the count again', async () => {
    const { doors } = await make();
    doors.failed({ silent: false });
    doors.reached();
    doors.failed({ silent: false });
    assert.equal(at(doors), 'ws://a.example');
  });

  test('leaves a door after one attempt that got no answer, and waits twice as long on that door the next times, up to a cap', async () => {
    const { doors } = await make('ws://a.example ws://b.example');
    assert.equal(doors.helloTimeoutMs(), HELLO_TIMEOUT_MS);
    doors.failed({ silent: true });
    assert.equal(at(doors), 'ws://b.example');
    assert.equal(doors.helloTimeoutMs(), HELLO_TIMEOUT_MS, 'b has not been silent');
    doors.failed({ silent: true });
    assert.equal(at(doors), 'ws://a.example');
    assert.equal(doors.helloTimeoutMs(), 2 * HELLO_TIMEOUT_MS);
    for (let i = 0; i < 20; i++) doors.failed({ silent: true });
    assert.equal(doors.helloTimeoutMs(), HELLO_TIMEOUT_MAX_MS);
    doors.reached();
    assert.equal(doors.helloTimeoutMs(), HELLO_TIMEOUT_MS, 'an answer resets the wait');
  });

  test('a door that led to another relay is left at once and skipped while any other door remains', async () => {
    const { doors } = await make();
    doors.failed({ silent: false, error: new SovError('WRONG_RELAY') });
    assert.equal(at(doors), 'ws://b.example');
    doors.failed({ silent: true });
    assert.equal(at(doors), 'ws://c.example');
    doors.failed({ silent: true });
    assert.equal(at(doors), 'ws://b.example', 'a is skipped');
    doors.refuse();
    doors.refuse();
    assert.equal(at(doors), 'ws://a.example', 'every door refused: round the list again, the relay may have been fixed');
  });

  test('one door stays the door whatever happens', async () => {
    const { doors, moves } = await make('ws://a.example');
    doors.failed({ silent: true });
    doors.refuse();
    for (let i = 0; i < 5; i++) doors.failed({ silent: false });
    assert.equal(at(doors), 'ws://a.example');
    assert.deepEqual(moves, []);
  });

  test('the door that worked is remembered in storage, and the next client on that storage starts there', async () => {
    const { doors, storage } = await make();
    doors.failed({ silent: true });
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

  test('a remembered door read after the first attempt went out is not applied: that attempt belongs to the first door', async () => {
    const storage = memoryStorage();
    await storage.set('door|test', 'ws://c.example');
    const doors = new FrontDoors(parseDoors(THREE), storage, 'door|test', () => undefined);
    assert.equal(at(doors), 'ws://a.example');
    await doors.recalled;
    assert.equal(at(doors), 'ws://a.example');
  });

  test('storage that fails costs only the memory', async () => {
    const broken: StorageAdapter = { ...memoryStorage(), get: () => Promise.reject(new Error('no disk')), set: () => Promise.reject(new Error('no disk')) };
    const { doors } = await make(THREE, broken);
    doors.reached();
    assert.equal(at(doors), 'ws://a.example');
  });
});
