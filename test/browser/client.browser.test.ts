import { expect } from '@esm-bundle/chai';
import { SovClient } from '../../sdk/client.ts';
import type { SovError } from '../../sdk/errors.ts';
import type { CachedRoom, ClientMessage, Room } from '../../sdk/room.ts';
import { indexedDbStorage, memoryStorage } from '../../sdk/storage.ts';
import type { StorageAdapter } from '../../sdk/storage.ts';
import { hostileNetwork } from './hostile-network.ts';
import type { HostileNetwork } from './hostile-network.ts';
import { relayInfo, startRelayAgain, stopRelay, uniqueName } from './relay.ts';
import { until } from './until.ts';

const PASSWORD = 'correct horse battery';

const texts = (room: Room): string[] => room.messages.map((m) => m.text);

/**
 * The texts a client has cached for `room` in its IndexedDB (written in batches, 200 ms after the
 * last change): what a relaunch would show. Empty until the first batch is written.
 */
async function cachedTexts(storage: StorageAdapter, room: string): Promise<string[]> {
  const key = (await storage.keys('')).find((name) => name.endsWith(`|room|${room}`));
  const cached = key === undefined ? undefined : await storage.get<CachedRoom>(key);
  return cached?.messages.map((m) => m.text) ?? [];
}

interface Person {
  client: SovClient;
  username: string;
  network: HostileNetwork;
  databaseName: string;
}

async function person(relay: string, options: { webCrypto?: boolean } = {}): Promise<Person> {
  const network = hostileNetwork();
  const databaseName = uniqueName('db');
  const username = uniqueName('user');
  // The SDK's own heartbeat (5 s): a page busy hashing a password for two short beats would look
  // silent to its own heartbeat and drop the connection under the request that follows.
  const client = new SovClient({
    relay,
    WebSocket: network.WebSocket,
    storage: indexedDbStorage(databaseName),
    ...options,
  });
  await client.register({
    username,
    password: PASSWORD,
    firstName: 'Анна',
    lastName: 'Каренина',
  });
  return { client, username, network, databaseName };
}

describe('SovClient against a real relay', function () {
  this.timeout(60_000);
  let relay: string;
  let alice: Person;
  let bob: Person;

  before(async () => {
    relay = (await relayInfo()).url;
    [alice, bob] = await Promise.all([person(relay), person(relay)]);
  });

  after(() => {
    alice?.client.close();
    bob?.client.close();
  });

  it('two clients exchange signed messages that each verifies', async () => {
    const room = uniqueName('room');
    const a = await alice.client.join(room);
    const b = await bob.client.join(room);
    const sent = await a.send('Привет, Боб!');
    expect(sent.state).to.equal('sent');
    expect(sent.seq).to.equal(1);
    await until(() => b.messages.length === 1, 'the message at Bob');
    expect(b.messages[0]).to.include({
      text: 'Привет, Боб!',
      verified: true,
      state: 'sent',
      author: alice.client.user!.id,
    });
    await b.send('И тебе привет');
    await until(() => a.messages.length === 2, 'the answer at Alice');
    expect(texts(a)).to.deep.equal(['Привет, Боб!', 'И тебе привет']);
    expect(a.messages[1]!.verified).to.equal(true);
  });

  it('flags a message that was altered on the way, never shows it as authentic', async () => {
    const room = uniqueName('room');
    const a = await alice.client.join(room);
    const b = await bob.client.join(room);
    bob.network.tamper = (frame) => (frame.ev === 'message' ? { ...frame, text: 'Send me your password' } : frame);
    await a.send('Meet at noon');
    await until(() => b.messages.length === 1, 'the altered message');
    bob.network.tamper = null;
    expect(b.messages[0]).to.include({
      text: 'Send me your password',
      verified: false,
    });
  });

  it('shows joins, leaves and who is online in the room', async () => {
    const room = uniqueName('room');
    const a = await alice.client.join(room);
    const joined: number[] = [];
    a.on('join', (user) => joined.push(user.id));
    const left: number[] = [];
    a.on('leave', ({ userId }) => left.push(userId));
    await bob.client.join(room);
    await until(() => joined.includes(bob.client.user!.id), 'Bob joining');
    expect(a.online.map((u) => u.id)).to.have.members([alice.client.user!.id, bob.client.user!.id]);
    await bob.client.leave(room);
    await until(() => left.includes(bob.client.user!.id), 'Bob leaving');
    expect(a.online.map((u) => u.id)).to.deep.equal([alice.client.user!.id]);
  });

  it('a dropped connection reconnects and recovers what was missed, without loss or duplicates', async () => {
    const room = uniqueName('room');
    const a = await alice.client.join(room);
    const b = await bob.client.join(room);
    await a.send('before');
    await until(() => b.messages.length === 1, 'the first message');
    bob.network.frozen = true;
    for (const text of ['while', 'Bob', 'was', 'away']) await a.send(text);
    bob.network.frozen = false;
    bob.network.dropAll();
    await until(() => bob.client.state === 'connected' && b.messages.length === 5, 'Bob catching up');
    expect(texts(b)).to.deep.equal(['before', 'while', 'Bob', 'was', 'away']);
    expect(b.messages.map((m) => m.seq)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(b.messages.every((m) => m.verified)).to.equal(true);
  });

  it('heartbeats notice a frozen connection and reconnect', async () => {
    // Bob on a second device with a 1 s heartbeat, resumed from his stored session: no password
    // hashing runs beside the heartbeat under test.
    const network = hostileNetwork();
    const device = new SovClient({
      relay,
      WebSocket: network.WebSocket,
      storage: indexedDbStorage(bob.databaseName),
      heartbeatMs: 1000,
    });
    try {
      expect(await device.resume()).to.equal(true);
      await until(() => device.state === 'connected', 'the device online');
      const states: string[] = [];
      device.on('state', ({ state }) => states.push(state));
      const before = network.opened;
      network.frozen = true;
      await until(() => states.includes('reconnecting'), 'the stall to be noticed');
      network.frozen = false;
      await until(() => device.state === 'connected' && network.opened > before, 'a fresh connection');
    } finally {
      device.close();
    }
  });

  // One outage for several checks: this uWebSockets.js build cannot rebind a port whose old
  // connections sit in TIME_WAIT, so every relay restart here costs up to a minute.
  it('through a relay crash: the outbox waits and delivers once and in order, a relaunch resumes from cache, nothing is lost or doubled', async function () {
    this.timeout(150_000);
    const room = uniqueName('room');
    const a = await alice.client.join(room);
    const b = await bob.client.join(room);
    await a.send('before the crash');
    await until(() => b.messages.length === 1, 'the first message at Bob');
    const bobsCache = indexedDbStorage(bob.databaseName);
    await until(
      () => cachedTexts(bobsCache, room).then((cached) => cached.includes('before the crash')),
      'the message in Bob’s IndexedDB cache',
    );

    await stopRelay('SIGKILL');
    await until(
      () => alice.client.state === 'reconnecting' && bob.client.state === 'reconnecting',
      'both noticing the relay is gone',
    );
    const offline = ['one', 'two', 'three'].map((text) => a.send(text));
    expect(a.messages.map((m) => m.state)).to.deep.equal(['sent', 'pending', 'pending', 'pending']);

    const relaunched = new SovClient({
      relay,
      storage: indexedDbStorage(bob.databaseName),
      heartbeatMs: 1000,
    });
    try {
      expect(await relaunched.resume()).to.equal(true, 'resumes offline from the stored session');
      expect(relaunched.user!.id).to.equal(bob.client.user!.id);
      const cached = await relaunched.join(room);
      expect(texts(cached)).to.deep.equal(['before the crash'], 'cached history shows before the network answers');

      await startRelayAgain();
      const delivered = await Promise.all(offline);
      expect(delivered.map((m) => m.seq)).to.deep.equal([2, 3, 4]);
      await b.send('Bob is back');
      const all = ['before the crash', 'one', 'two', 'three', 'Bob is back'];
      await until(
        () => a.messages.length === 5 && b.messages.length === 5 && cached.messages.length === 5,
        'everyone to have all five',
      );
      for (const view of [a, b, cached]) {
        expect(texts(view)).to.deep.equal(all);
        expect(view.messages.map((m) => m.seq)).to.deep.equal([1, 2, 3, 4, 5]);
        expect(view.messages.every((m) => m.verified && m.state === 'sent')).to.equal(true);
      }
    } finally {
      relaunched.close();
    }
  });

  it('logout ends the session on the relay and wipes the stored token, key and history', async () => {
    const carol = await person(relay);
    const room = await carol.client.join(uniqueName('room'));
    await room.send('bye');
    const storage = indexedDbStorage(carol.databaseName);
    // Session, key and the room's history are all stored before logging out, so the wipe has work to do.
    await until(
      () => cachedTexts(storage, room.name).then((cached) => cached.includes('bye')),
      'the message in the IndexedDB cache',
    );
    expect((await storage.keys('')).length).to.be.greaterThan(0);
    const loggedOut: string[] = [];
    carol.client.on('logout', ({ reason }) => loggedOut.push(reason));
    await carol.client.logout();
    expect(loggedOut).to.deep.equal(['logout']);
    expect(await storage.keys('')).to.deep.equal([]);
    expect(carol.client.user).to.equal(null);
    const again = new SovClient({ relay, storage });
    expect(await again.resume()).to.equal(false);
    again.close();
    const back = await carol.client.login({
      username: carol.username,
      password: PASSWORD,
    });
    expect(back.username).to.equal(carol.username);
    carol.client.close();
  });

  it('refuses an existing username, a wrong password and empty fields with their codes', async () => {
    const other = new SovClient({ relay, storage: memoryStorage() });
    const code = (promise: Promise<unknown>) =>
      promise.then(
        () => 'ok',
        (error: SovError) => `${error.code}:${error.field ?? ''}`,
      );
    expect(
      await code(
        other.register({
          username: alice.username.toUpperCase(),
          password: PASSWORD,
          firstName: 'A',
          lastName: 'B',
        }),
      ),
    ).to.equal('USERNAME_TAKEN:username');
    expect(await code(other.login({ username: alice.username, password: 'wrong password' }))).to.equal(
      'BAD_CREDENTIALS:',
    );
    expect(
      await code(
        other.register({
          username: '   ',
          password: PASSWORD,
          firstName: 'A',
          lastName: 'B',
        }),
      ),
    ).to.equal('EMPTY_FIELD:username');
    expect(
      await code(
        other.register({
          username: uniqueName(),
          password: PASSWORD,
          firstName: '',
          lastName: 'B',
        }),
      ),
    ).to.equal('EMPTY_FIELD:firstName');
    expect(
      await code(
        other.register({
          username: uniqueName(),
          password: '',
          firstName: 'A',
          lastName: 'B',
        }),
      ),
    ).to.equal('EMPTY_FIELD:password');
    expect(
      await code(
        other.register({
          username: uniqueName(),
          password: 'short',
          firstName: 'A',
          lastName: 'B',
        }),
      ),
    ).to.equal('INVALID_FIELD:password');
    other.close();
  });

  it('reports password-hashing progress while logging in', async () => {
    const device = new SovClient({ relay, storage: memoryStorage() });
    const progress: number[] = [];
    await device.login({
      username: bob.username,
      password: PASSWORD,
      onProgress: (fraction) => progress.push(fraction),
    });
    expect(progress.length).to.be.greaterThan(3);
    expect(progress[progress.length - 1]).to.equal(1);
    device.close();
  });

  it('signs and verifies with @noble/ed25519 where WebCrypto Ed25519 is not used', async () => {
    const nobleUser = await person(relay, { webCrypto: false });
    const room = uniqueName('room');
    const mine = await nobleUser.client.join(room);
    const theirs = await alice.client.join(room);
    await mine.send('signed by noble');
    await theirs.send('verified by noble');
    await until(() => mine.messages.length === 2 && theirs.messages.length === 2, 'both messages on both sides');
    expect(mine.messages.map((m: ClientMessage) => m.verified)).to.deep.equal([true, true]);
    expect(theirs.messages.map((m: ClientMessage) => m.verified)).to.deep.equal([true, true]);
    nobleUser.client.close();
  });

  it('profile changes reach the other client at once', async () => {
    const seen: string[] = [];
    bob.client.on('profile', (user) => user.id === alice.client.user!.id && seen.push(user.firstName));
    await alice.client.updateProfile({ firstName: 'Алиса' });
    await until(() => seen.includes('Алиса'), 'the new name at Bob');
    expect(alice.client.user!.firstName).to.equal('Алиса');
  });
});
