/**
 * The HTTP transport over a real relay: the same frames, sessions and limits as the WebSocket,
 * for networks that drop WebSocket upgrades (relay/http-transport.ts). The client here is raw
 * fetch, reading the streamed response as it arrives, as the SDK's HTTP transport does.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  TestClient,
  newSigningKey,
  randomKey,
  registerUser,
  registration,
  signMessage,
  uniqueName,
} from '../helpers/client.ts';
import type { TestUser } from '../helpers/client.ts';
import { startRelay } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';

const BUDGET = 8192;

/** One HTTP-transport connection: frames by number, requests by id, acks as a client sends them. */
class HttpClient {
  readonly frames: Record<string, any>[] = [];
  /** Bytes of each streamed response, as they arrived. */
  readonly responseBytes: number[] = [];
  private seen = 0;
  private nextId = 1;
  private reading = false;
  private stopped = false;
  private paused = false;

  private constructor(
    private readonly url: string,
    readonly stream: string,
  ) {}

  static async open(url: string, headers: Record<string, string> = {}): Promise<HttpClient> {
    const response = await fetch(`${url}/v1/http/open`, {
      method: 'POST',
      headers,
    });
    assert.equal(response.status, 200, await response.clone().text());
    const { stream } = (await response.json()) as { stream: string };
    return new HttpClient(url, stream);
  }

  /** Keeps one streamed read open at a time, each acknowledging what arrived, until stopReading() or close(). */
  startReading(path: 'stream' | 'poll' = 'stream'): void {
    this.paused = false;
    if (this.reading) return;
    this.reading = true;
    void (async () => {
      while (!this.stopped && !this.paused) await this.readOnce(path);
      this.reading = false;
    })();
  }

  /** The read in flight ends when another reader takes over (the relay keeps one per connection). */
  stopReading(): void {
    this.paused = true;
  }

  get seenFrames(): number {
    return this.seen;
  }

  async readOnce(path: 'stream' | 'poll' = 'stream'): Promise<number> {
    const response = await fetch(`${this.url}/v1/http/${path}?ack=${this.seen}`, {
      headers: { 'sov-stream': this.stream },
    });
    if (response.status !== 200) {
      this.stopped = true;
      return response.status;
    }
    let bytes = 0;
    let pending = '';
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      pending += decoder.decode(chunk, { stream: true });
      for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        const space = line.indexOf(' ');
        const n = Number(line.slice(0, space));
        // A frame sent again after a response was cut off: already seen.
        if (n <= this.seen) continue;
        assert.equal(n, this.seen + 1, 'frames arrive in order, without holes');
        this.seen = n;
        this.frames.push(JSON.parse(line.slice(space + 1)));
      }
    }
    this.responseBytes.push(bytes);
    return 200;
  }

  async send(...frames: Record<string, unknown>[]): Promise<number> {
    const body = frames.map((frame) => JSON.stringify(frame)).join('\n');
    const response = await fetch(`${this.url}/v1/http/send`, {
      method: 'POST',
      headers: { 'sov-stream': this.stream },
      body,
    });
    return response.status;
  }

  async call(type: string, fields: Record<string, unknown> = {}): Promise<any> {
    const id = this.nextId++;
    assert.equal(await this.send({ id, type, ...fields }), 204);
    const reply = await this.waitFor((frame) => frame.re === id, `the reply to ${type}`);
    if (!reply.ok)
      throw Object.assign(new Error(`${type}: ${reply.error.code}`), {
        code: reply.error.code,
      });
    return reply.result;
  }

  async waitFor(
    match: (frame: Record<string, any>) => boolean,
    what: string,
    ms = 15_000,
  ): Promise<Record<string, any>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    await fetch(`${this.url}/v1/http/close`, {
      method: 'POST',
      headers: { 'sov-stream': this.stream },
    });
  }
}

async function httpUser(relay: RelayProcess): Promise<{ client: HttpClient; user: TestUser }> {
  const client = await HttpClient.open(relay.url);
  client.startReading();
  const username = uniqueName();
  const authKey = randomKey();
  const key = newSigningKey();
  const session = await client.call('register', registration(username, authKey, key.publicKey));
  return {
    client,
    user: { username, authKey, ...key, session, profile: session.user },
  };
}

describe('the HTTP transport', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay({ args: ['--conn-budget', String(BUDGET)] });
  });
  after(() => relay.stop());

  test('opens with an unguessable id that never appears in a URL, and the hello comes first', async () => {
    const client = await HttpClient.open(relay.url);
    assert.match(client.stream, /^[A-Za-z0-9_-]{32}$/, '24 random bytes');
    await client.readOnce('poll');
    assert.equal(client.frames[0]!.ev, 'hello');
    assert.equal(client.frames[0]!.limits.connectionBudget, BUDGET);
    await client.close();
    const gone = await fetch(`${relay.url}/v1/http/poll?ack=1`, {
      headers: { 'sov-stream': client.stream },
    });
    assert.equal(gone.status, 404, 'a closed stream is gone');
    const guessed = await fetch(`${relay.url}/v1/http/poll`, {
      headers: { 'sov-stream': 'A'.repeat(32) },
    });
    assert.equal(guessed.status, 404);
  });

  test('an HTTP client and a WebSocket client talk in one room: same frames, same sessions, join and leave notices', async () => {
    const room = uniqueName('room');
    const { client: viaHttp, user: anna } = await httpUser(relay);
    const viaWs = await TestClient.connect(relay.wsUrl);
    const boris = await registerUser(viaWs);
    await viaWs.call('join', { room });
    await viaHttp.call('join', { room });
    await viaWs.waitForEvent(
      (event) => event.ev === 'join' && (event as { user?: { id: number } }).user?.id === anna.profile.id,
    );

    await viaHttp.call('send', signMessage(anna, room, 'over HTTP'));
    await viaWs.waitForEvent((event) => event.ev === 'message' && (event as { text?: string }).text === 'over HTTP');
    await viaWs.call('send', signMessage(boris, room, 'over WebSocket'));
    await viaHttp.waitFor(
      (frame) => frame.ev === 'message' && frame.text === 'over WebSocket',
      'the WebSocket message',
    );

    // The session works on either transport.
    const again = await HttpClient.open(relay.url);
    again.startReading();
    const resumed = await again.call('resume', { token: boris.session.token });
    assert.equal(resumed.user.id, boris.profile.id);
    await again.close();

    await viaHttp.close();
    await viaWs.waitForEvent(
      (event) => event.ev === 'leave' && (event as { userId?: number }).userId === anna.profile.id,
    );
    await viaWs.close();
  });

  test('no response carries more than the byte budget, and across many responses nothing is lost or repeated', async () => {
    const room = uniqueName('room');
    const { client: reader } = await httpUser(relay);
    await reader.call('join', { room });
    const writer = await TestClient.connect(relay.wsUrl);
    const author = await registerUser(writer);
    await writer.call('join', { room });
    const texts = Array.from({ length: 150 }, (_, i) => `${i} ${'ж'.repeat(150)}`);
    // The writer's own copies would spend its WebSocket budget: send in batches on fresh connections.
    let seq = 0;
    for (let i = 0; i < texts.length; i += 10) {
      const batch = await TestClient.connect(relay.wsUrl);
      await batch.call('resume', { token: author.session.token });
      await batch.call('join', { room, after: seq });
      for (const text of texts.slice(i, i + 10)) seq = (await batch.call('send', signMessage(author, room, text))).seq;
      await batch.close();
    }
    await reader.waitFor(
      () => reader.frames.filter((frame) => frame.ev === 'message').length >= texts.length,
      'every message',
      30_000,
    );
    const received = reader.frames.filter((frame) => frame.ev === 'message').map((frame) => frame.text);
    assert.deepEqual(received, texts, 'complete, in order, none twice');
    assert.ok(
      reader.responseBytes.length >= 4,
      `${reader.responseBytes.length} responses: the budget made the reader come back`,
    );
    for (const bytes of reader.responseBytes)
      assert.ok(bytes <= BUDGET, `a response body carried ${bytes} bytes, budget ${BUDGET}`);
    await Promise.all([reader.close(), writer.close()]);
  });

  test('a response cut off by the network loses nothing: unacknowledged frames come again', async () => {
    const room = uniqueName('room');
    const { client } = await httpUser(relay);
    await client.call('join', { room });
    const poster = await TestClient.connect(relay.wsUrl);
    const author = await registerUser(poster);
    await poster.call('join', { room });
    // Reading stops; a reader that takes the first bytes of a response and walks away, as a frozen
    // network leaves it, takes over; then reading resumes from what the client really has.
    client.stopReading();
    const cutOff = new Promise<number>((resolve) => {
      const request = http.get(
        `${relay.url}/v1/http/stream?ack=${client.seenFrames}`,
        { headers: { 'sov-stream': client.stream } },
        (response) => {
          response.once('data', (chunk: Buffer) => {
            request.destroy();
            resolve(chunk.length);
          });
        },
      );
      request.on('error', () => undefined);
    });
    await poster.call('send', signMessage(author, room, 'written once, read twice'));
    assert.ok((await cutOff) > 0, 'the cut-off reader got some of it');
    assert.equal(
      client.frames.some((frame) => frame.text === 'written once, read twice'),
      false,
    );
    client.startReading();
    await client.waitFor(
      (frame) => frame.ev === 'message' && frame.text === 'written once, read twice',
      'the message again',
    );
    await Promise.all([client.close(), poster.close()]);
  });

  test('refuses other origins without echoing them, and a body that is not UTF-8 ends the connection', async () => {
    const strict = await startRelay({
      args: ['--origins', 'https://good.example'],
    });
    try {
      const refused = await fetch(`${strict.url}/v1/http/open`, {
        method: 'POST',
        headers: { origin: 'https://evil.example' },
      });
      assert.equal(refused.status, 403);
      assert.equal(refused.headers.get('access-control-allow-origin'), null);
      const allowed = await HttpClient.open(strict.url, {
        origin: 'https://good.example',
      });
      const bad = await fetch(`${strict.url}/v1/http/send`, {
        method: 'POST',
        headers: {
          'sov-stream': allowed.stream,
          origin: 'https://good.example',
        },
        body: Buffer.from([0x7b, 0xff, 0x7d]),
      });
      assert.equal(bad.status, 204);
      const after = await fetch(`${strict.url}/v1/http/poll`, {
        headers: {
          'sov-stream': allowed.stream,
          origin: 'https://good.example',
        },
      });
      assert.equal(after.status, 404, 'the connection ended');
    } finally {
      await strict.stop();
    }
  });
});
