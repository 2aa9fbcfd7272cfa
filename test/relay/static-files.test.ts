// The relay serves the demo pages and the browser bundles like a web server: compressed the way
// the client asks, cacheable on slow links, loadable as modules from pages on other origins,
// HEAD as well as GET, and nothing outside those folders. First staticReply alone, rule by rule,
// then the real relay over the network.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { precompress } from '../../relay/precompress.mjs';
import { loadStaticFiles, staticReply } from '../../relay/static-files.ts';
import type { StaticFiles, StaticReply } from '../../relay/static-files.ts';
import { PATIENCE_MS } from '../helpers/client.ts';
import { PACKAGE_ROOT, startRelay, tempDataDir } from '../helpers/relay-process.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { rawGet } from '../helpers/raw-http.ts';

const DECODE: Record<string, (body: Buffer) => Buffer> = {
  br: (body) => zlib.brotliDecompressSync(body),
  gzip: (body) => zlib.gunzipSync(body),
  identity: (body) => body,
};

const POLICY = "default-src 'none'; script-src 'self'";
const SCRIPT = Buffer.from(Array.from({ length: 200 }, (_, i) => `export const value${i} = ${i};\n`).join(''));
const CHUNK = Buffer.from(Array.from({ length: 200 }, (_, i) => `export function chunk${i}(){return ${i}}\n`).join(''));
// The build's copies of CHUNK, made unlike the relay's, so that the test can tell which were sent.
const BUILT = {
  br: zlib.brotliCompressSync(CHUNK, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 },
  }),
  gzip: zlib.gzipSync(CHUNK, { level: 1 }),
};

/** A served folder as the build leaves it, with demo-like files that have no copies beside them. */
function fixture(): StaticFiles {
  const root = tempDataDir();
  const write = (name: string, body: Buffer | string): void => {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), body);
  };
  write(
    'index.html',
    `<!doctype html><meta http-equiv="Content-Security-Policy" content="${POLICY}"><title>x</title>${'<p>hello</p>'.repeat(50)}`,
  );
  write('app.js', SCRIPT);
  write('tiny.js', 'x');
  write('logo.png', Buffer.alloc(300, 1));
  write('chunks/chunk-ABCDEFGH.js', CHUNK);
  write('chunks/chunk-ABCDEFGH.js.br', BUILT.br);
  write('chunks/chunk-ABCDEFGH.js.gz', BUILT.gzip);
  return loadStaticFiles([root]);
}

function ask(files: StaticFiles, target: string, headers: Record<string, string> = {}, method = 'GET'): StaticReply {
  return staticReply(files, {
    method,
    path: target,
    header: (name) => headers[name],
  });
}

function codingOf(reply: StaticReply): string {
  return reply.headers['content-encoding'] ?? 'identity';
}

describe('staticReply', () => {
  const files = fixture();

  test('a file goes as brotli to a client that accepts it, else gzip, else as is, and each decodes to the file', () => {
    for (const [acceptEncoding, coding] of [
      ['gzip, deflate, br', 'br'],
      ['gzip, deflate', 'gzip'],
      ['deflate', 'identity'],
      ['', 'identity'],
    ] as const) {
      const reply = ask(files, '/app.js', {
        'accept-encoding': acceptEncoding,
      });
      assert.equal(reply.status, 200);
      assert.equal(codingOf(reply), coding, acceptEncoding);
      assert.equal(reply.headers['content-length'], String(reply.body!.length));
      assert.deepEqual(DECODE[coding]!(reply.body!), SCRIPT);
      if (coding !== 'identity') assert.ok(reply.body!.length < SCRIPT.length);
    }
  });

  test('Accept-Encoding is parsed, not searched: q=0 refuses, * covers the unlisted, weights rank, ties go to brotli', () => {
    const cases: [string, string][] = [
      ['gzip;q=0', 'identity'],
      ['gzip;q=0, br;q=0', 'identity'],
      ['br;q=0, gzip', 'gzip'],
      ['BR ; Q=0.5 , GZIP ; q=0.8', 'gzip'],
      ['gzip, br', 'br'],
      ['*', 'br'],
      ['*;q=0', 'identity'],
      ['*, br;q=0', 'gzip'],
      ['gzip;q=0, *', 'br'],
      ['identity, br;q=0.5', 'identity'],
      ['gzip, identity', 'gzip'],
      ['x-gzip', 'gzip'],
      ['gzip;q=0.000', 'identity'],
      ['gzip;q=2, br;q=abc', 'identity'],
      ['brotli, gzipped, xbr', 'identity'],
      ['identity;q=0', 'identity'],
    ];
    for (const [acceptEncoding, coding] of cases)
      assert.equal(codingOf(ask(files, '/app.js', { 'accept-encoding': acceptEncoding })), coding, acceptEncoding);
  });

  test('a file with compressed forms says Vary: Accept-Encoding in every answer; one without any goes as is', () => {
    for (const acceptEncoding of ['br', 'gzip', ''])
      assert.equal(ask(files, '/app.js', { 'accept-encoding': acceptEncoding }).headers.vary, 'accept-encoding');
    const tiny = ask(files, '/tiny.js', { 'accept-encoding': 'br' });
    assert.equal(codingOf(tiny), 'identity');
    assert.equal(tiny.headers.vary, undefined);
    const image = ask(files, '/logo.png', { 'accept-encoding': 'br, gzip' });
    assert.equal(codingOf(image), 'identity');
    assert.equal(image.body!.length, 300);
  });

  test('each form has its own strong ETag, and If-None-Match answers 304 only for the form the request would get', () => {
    const etags = new Map(
      ['br', 'gzip', ''].map((coding) => [coding, ask(files, '/app.js', { 'accept-encoding': coding }).headers.etag!]),
    );
    assert.equal(new Set(etags.values()).size, 3);
    for (const etag of etags.values()) assert.match(etag, /^"[\w-]{22}"$/);
    // A cache holding the brotli body must not get 304 for a request that would be sent identity.
    assert.equal(ask(files, '/app.js', { 'if-none-match': etags.get('br')! }).status, 200);
    assert.equal(
      ask(files, '/app.js', {
        'accept-encoding': 'br',
        'if-none-match': etags.get('br')!,
      }).status,
      304,
    );
    assert.equal(
      ask(files, '/app.js', {
        'accept-encoding': 'gzip',
        'if-none-match': `"other", ${etags.get('gzip')!}`,
      }).status,
      304,
    );
    assert.equal(ask(files, '/app.js', { 'if-none-match': `W/${etags.get('')!}` }).status, 304);
    assert.equal(ask(files, '/app.js', { 'if-none-match': '*' }).status, 304);
    assert.equal(ask(files, '/app.js', { 'if-none-match': '"other", "another"' }).status, 200);
  });

  test('a 304 keeps the validators, caching, Vary and CORS, and drops type, coding and length', () => {
    const etag = ask(files, '/app.js', { 'accept-encoding': 'br' }).headers.etag!;
    for (const method of ['GET', 'HEAD']) {
      const reply = ask(files, '/app.js', { 'accept-encoding': 'br', 'if-none-match': etag }, method);
      assert.equal(reply.status, 304);
      assert.equal(reply.body, null);
      assert.equal(reply.headers.etag, etag);
      assert.equal(reply.headers['cache-control'], 'no-cache');
      assert.equal(reply.headers.vary, 'accept-encoding');
      assert.equal(reply.headers['access-control-allow-origin'], '*');
      for (const name of ['content-type', 'content-encoding', 'content-length'])
        assert.equal(reply.headers[name], undefined, name);
    }
  });

  test('HEAD answers exactly like GET, with the same Content-Length, and no body', () => {
    for (const [target, acceptEncoding] of [
      ['/app.js', 'br'],
      ['/app.js', 'gzip'],
      ['/', ''],
      ['/nope.js', 'br'],
    ] as const) {
      const get = ask(files, target, { 'accept-encoding': acceptEncoding });
      const head = ask(files, target, { 'accept-encoding': acceptEncoding }, 'HEAD');
      assert.equal(head.status, get.status);
      assert.deepEqual(head.headers, get.headers);
      assert.equal(head.headers['content-length'], String(get.body!.length));
      assert.equal(head.body, null);
    }
  });

  test('copies the build wrote beside a file are sent as written, and a file without any is compressed at load', () => {
    for (const coding of ['br', 'gzip'] as const) {
      assert.deepEqual(
        ask(files, '/chunks/chunk-ABCDEFGH.js', { 'accept-encoding': coding }).body,
        BUILT[coding],
        coding,
      );
      assert.deepEqual(ask(files, '/app.js', { 'accept-encoding': coding }).body, precompress(SCRIPT)[coding]);
    }
    for (const name of ['/chunks/chunk-ABCDEFGH.js.br', '/chunks/chunk-ABCDEFGH.js.gz'])
      assert.equal(ask(files, name).status, 404, name);
  });

  test('hashed chunks cache for good, everything else revalidates, and scripts load cross-origin', () => {
    assert.equal(
      ask(files, '/chunks/chunk-ABCDEFGH.js').headers['cache-control'],
      'public, max-age=31536000, immutable',
    );
    const script = ask(files, '/app.js');
    assert.equal(script.headers['cache-control'], 'no-cache');
    assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(script.headers['access-control-allow-origin'], '*');
    assert.equal(script.headers['cross-origin-resource-policy'], 'cross-origin');
    assert.equal(script.headers['x-content-type-options'], 'nosniff');
    assert.equal(ask(files, '/').headers['access-control-allow-origin'], undefined);
  });

  test("a page sends its meta tag's policy as a header with frame-ancestors 'none', which a meta tag cannot carry", () => {
    for (const target of ['/', '/index.html', '/index.html?lang=ru']) {
      const page = ask(files, target, { 'accept-encoding': 'br' });
      assert.equal(page.status, 200, target);
      assert.equal(page.headers['content-security-policy'], `${POLICY}; frame-ancestors 'none'`);
    }
    assert.equal(ask(files, '/app.js').headers['content-security-policy'], undefined);
  });

  test('an unknown path is 404, and a method other than GET or HEAD is 405 with Allow: GET, HEAD', () => {
    const missing = ask(files, '/nope.js');
    assert.equal(missing.status, 404);
    assert.equal(missing.body!.toString(), 'not found');
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'get']) {
      const refused = ask(files, '/app.js', {}, method);
      assert.equal(refused.status, 405, method);
      assert.equal(refused.headers.allow, 'GET, HEAD');
      assert.equal(JSON.parse(refused.body!.toString()).error.code, 'INVALID_FIELD');
    }
  });
});

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** node:http, not fetch: fetch would decompress the body and hide what the relay sent. */
function request(url: string, headers: Record<string, string>, method = 'GET'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    http
      .request(url, { method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      })
      .on('error', reject)
      .end();
  });
}

/**
 * Every byte the relay sends on one connection for a request and then, once the first answer's
 * headers are in, a GET /v1/health that closes it. Any byte after the first answer's headers would
 * come before the second answer, and a first answer left unfinished would leave the second unsent.
 */
function headThenHealth(port: number, first: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(first));
    let received = '';
    let secondSent = false;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (secondSent || !received.includes('\r\n\r\n')) return;
      secondSent = true;
      socket.write('GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    socket.setTimeout(PATIENCE_MS, () => socket.destroy(new Error('the relay stopped answering')));
  });
}

describe('static files over a real relay', () => {
  let relay: RelayProcess;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay.stop());

  test('the demo page and the SDK demo are at / and /sdk.html', async () => {
    for (const [target, marker] of [
      ['/', '<sov-chat'],
      ['/sdk.html', 'sdk-demo.js'],
    ] as const) {
      const response = await fetch(`${relay.url}${target}`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type')!, /^text\/html/);
      assert.ok((await response.text()).includes(marker));
    }
  });

  test('/sov-chat.js loads cross-origin, revalidates with an ETag, and its hashed chunks cache for good', async () => {
    const response = await fetch(`${relay.url}/sov-chat.js`, {
      headers: { origin: 'https://some-blog.example' },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/javascript/);
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    assert.equal(response.headers.get('cache-control'), 'no-cache');
    const etag = response.headers.get('etag')!;
    const body = await response.text();
    const again = await fetch(`${relay.url}/sov-chat.js`, {
      headers: { 'if-none-match': etag },
    });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), '');
    const chunk = /from"\.\/(chunks\/[^"]+\.js)"/.exec(body)?.[1];
    assert.ok(chunk, 'the entry imports a chunk');
    const chunkResponse = await fetch(`${relay.url}/${chunk}`);
    assert.equal(chunkResponse.status, 200);
    assert.equal(chunkResponse.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(chunkResponse.headers.get('access-control-allow-origin'), '*');
  });

  test('br, gzip and identity each bring their own bytes, which decode to the identity body, with Vary', async () => {
    const entry = fs.readFileSync(path.join(PACKAGE_ROOT, 'relay/dist/browser/sov-chat.js'), 'utf8');
    const chunk = /from"\.\/(chunks\/[^"]+\.js)"/.exec(entry)![1]!;
    for (const target of ['/', '/sov-chat.js', `/${chunk}`]) {
      const identity = await request(`${relay.url}${target}`, {});
      assert.equal(identity.headers['content-encoding'], undefined);
      for (const coding of ['br', 'gzip']) {
        const encoded = await request(`${relay.url}${target}`, {
          'accept-encoding': coding,
        });
        assert.equal(encoded.status, 200);
        assert.equal(encoded.headers['content-encoding'], coding, `${target} ${coding}`);
        assert.equal(encoded.headers.vary, 'accept-encoding');
        assert.equal(Number(encoded.headers['content-length']), encoded.body.length);
        assert.ok(encoded.body.length < identity.body.length);
        assert.deepEqual(DECODE[coding]!(encoded.body), identity.body);
      }
    }
  });

  test('HEAD on /, /sov-chat.js, /v1/health and an avatar answers with the Content-Length of a GET and not one body byte', async () => {
    const avatar = `/avatars/${'0'.repeat(64)}.png`;
    for (const [target, status] of [
      ['/', 200],
      ['/sov-chat.js', 200],
      ['/v1/health', 200],
      [avatar, 404],
    ] as const) {
      const get = await request(`${relay.url}${target}`, {});
      const raw = await headThenHealth(relay.port, `HEAD ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const end = raw.indexOf('\r\n\r\n') + 4;
      const head = raw.slice(0, end);
      assert.match(head, new RegExp(`^HTTP/1.1 ${status} `), target);
      assert.equal(/\r\ncontent-length: (\d+)\r\n/i.exec(head)?.[1], String(get.body.length), target);
      assert.equal(head.match(/\r\ncontent-length:/gi)?.length, 1, `${target}: one Content-Length`);
      assert.match(
        raw.slice(end),
        /^HTTP\/1.1 200 OK\r\n[^]*\r\n\r\nok$/,
        `${target}: nothing between the HEAD answer and the next`,
      );
    }
  });

  test("the demo pages carry their Content-Security-Policy as a header, with frame-ancestors 'none'", async () => {
    for (const target of ['/', '/sdk.html']) {
      const page = await request(`${relay.url}${target}`, {});
      const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(page.body.toString())?.[1];
      assert.ok(meta, `${target} keeps its meta policy`);
      assert.equal(page.headers['content-security-policy'], `${meta}; frame-ancestors 'none'`);
    }
  });

  test('the licence notices the components chunk links to are served beside it', async () => {
    const entry = fs.readFileSync(path.join(PACKAGE_ROOT, 'relay/dist/browser/sov-chat.js'), 'utf8');
    const chunk = /from"\.\/(chunks\/[^"]+\.js)"/.exec(entry)![1]!;
    const source = (await request(`${relay.url}/${chunk}`, {})).body.toString();
    const notices = /\/\*! For license information please see (\S+) \*\//.exec(source)?.[1];
    assert.ok(notices, 'the chunk links its notices');
    const response = await request(`${relay.url}/${path.posix.dirname(chunk)}/${notices}`, {});
    assert.equal(response.status, 200);
    assert.match(response.body.toString(), /Copyright \d{4} Google LLC\s+\* SPDX-License-Identifier: BSD-3-Clause/);
  });

  test('a method other than GET or HEAD is 405 with Allow: GET, HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const refused = await request(`${relay.url}/sov-chat.js`, {}, method);
      assert.equal(refused.status, 405, method);
      assert.equal(refused.headers.allow, 'GET, HEAD');
    }
  });

  test('nothing outside the served folders or a stored avatar, whatever the path says, sent byte for byte', async () => {
    // A secret beside avatars/ in the data folder, and files beside the served folders: none may come back.
    const secret = `secret key ${crypto.randomBytes(16).toString('hex')}`;
    fs.writeFileSync(path.join(relay.dataDir, 'secret.key'), secret);
    const outside = [
      secret,
      fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8').slice(0, 40),
      'root:x:0:0',
    ];
    const overlong = Buffer.from([0xc0, 0xae]); // "." as an overlong (invalid) UTF-8 sequence
    // Each sent as written: rawGet never resolves dots or backslashes as fetch would.
    const targets = [
      '/package.json',
      '/relay.js',
      '/nope.js',
      '/sov-chat.js.br',
      '/sov-chat.js.gz',
      '/../package.json',
      '/%2e%2e/package.json',
      '/%2E%2E/package.json',
      '/./../package.json',
      '/chunks/../../package.json',
      '/chunks/..%2f..%2fpackage.json',
      '/sov-chat.js/../../package.json',
      '//etc/passwd',
      '/../../../../etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/avatars/../secret.key',
      '/avatars/%2e%2e%2fsecret.key',
      '/avatars/..%2fsecret.key',
      '/avatars/%2e%2e/secret.key',
      `/avatars/${'0'.repeat(64)}.png/../../secret.key`,
      '/..\\package.json',
      '/avatars/..\\secret.key',
      '/%5c..%5cpackage.json',
      '/avatars/%2e%2e%5csecret.key',
      '/package.json%00.js',
      '/avatars/%00/../secret.key',
      '/%c0%ae%c0%ae/package.json',
      '/avatars/%c0%ae%c0%ae%c0%afsecret.key',
      '/%e0%80%ae%e0%80%ae/package.json',
    ];
    // Targets that are not a path, or not valid HTTP at all, where the engines differ: node:http
    // passes absolute URLs and `*` on to the route table (which once crashed the relay: no route
    // matched) and answers the rest with 400; uWS closes on anything it cannot parse without sending
    // a byte (status 0), and takes raw non-ASCII bytes as a path.
    const byEngine: [string | Buffer, { node: number; uws: number }][] = [
      [`http://127.0.0.1:${relay.port}/../package.json`, { node: 404, uws: 0 }],
      ['http://127.0.0.1/avatars/../secret.key', { node: 404, uws: 0 }],
      ['*', { node: 404, uws: 0 }],
      ['..%2fpackage.json', { node: 400, uws: 0 }],
      [Buffer.from('/avatars/\0/../secret.key', 'latin1'), { node: 400, uws: 0 }],
      [Buffer.concat([Buffer.from('/'), overlong, overlong, Buffer.from('/package.json')]), { node: 400, uws: 404 }],
    ];
    const cases = [
      ...targets.map((target) => [target, 404] as const),
      ...byEngine.map(([target, status]) => [target, status[relay.engine]] as const),
    ];
    for (const [target, status] of cases) {
      const shown = JSON.stringify(Buffer.isBuffer(target) ? target.toString('latin1') : target);
      const reply = await rawGet(relay.port, target);
      const text = reply.raw.toString('latin1');
      for (const forbidden of outside)
        assert.ok(!text.includes(forbidden), `${shown} brought back a file from outside: ${text.slice(0, 300)}`);
      assert.equal(reply.status, status, `${shown}: ${text.slice(0, 300)}`);
    }
    assert.equal(relay.child.exitCode, null, 'the relay is still running');
    assert.equal((await rawGet(relay.port, '/v1/health')).status, 200);
  });
});
