/**
 * The SDK's part of `npm run bench`, in the system Chromium:
 *   - verifying a 1,000-message history (20 authors), cold cache, one message after another as a
 *     Room does, with WebCrypto Ed25519 and with @noble/ed25519 alone;
 *   - the password KDF (scrypt N=2^17): how long it takes and the longest main-thread task;
 *   - what a browser downloads: the SDK and <sov-chat> bundles, initial and lazy, gzip and brotli as the relay sends them.
 * The page is our own SDK code bundled by esbuild, served from memory on a loopback port.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath } from '../scripts/chromium.mjs';
import { signedBytes } from '../sdk/protocol.ts';
import type { ChatMessage } from '../sdk/protocol.ts';
import { bundleSize } from './lib/bundle-size.ts';
import type { BundleSize } from './lib/bundle-size.ts';
import { PACKAGE_ROOT } from './lib/children.ts';

const MESSAGES = 1000;
const AUTHORS = 20;
const REPEATS = 5;

export interface SdkResult {
  browser: string;
  webCryptoEd25519: boolean;
  verifyWebCryptoMs: number[];
  verifyNobleMs: number[];
  /** `observed`: the long-task observer saw the deliberate 80 ms control task. */
  kdf: {
    ms: number;
    observed: boolean;
    longTasks: number;
    longestTaskMs: number;
  };
  sdk: BundleSize;
  components: BundleSize;
}

const PAGE_SOURCE = `
import { Verifier } from ${JSON.stringify(path.join(PACKAGE_ROOT, 'sdk/crypto/verify.ts'))};
import { derivePasswordKeys } from ${JSON.stringify(path.join(PACKAGE_ROOT, 'sdk/crypto/password.ts'))};
import { hasWebCryptoEd25519 } from ${JSON.stringify(path.join(PACKAGE_ROOT, 'sdk/crypto/signing.ts'))};
import { DEFAULT_KDF } from ${JSON.stringify(path.join(PACKAGE_ROOT, 'sdk/protocol.ts'))};
import { toBase64Url } from ${JSON.stringify(path.join(PACKAGE_ROOT, 'sdk/encoding.ts'))};

window.bench = {
  hasWebCrypto: () => hasWebCryptoEd25519(),
  async verify(messages, keys, webCrypto) {
    const verifier = new Verifier(webCrypto);
    const started = performance.now();
    let valid = 0;
    for (const message of messages) if (await verifier.verify(message, [keys[message.author]])) valid++;
    return { ms: performance.now() - started, valid };
  },
  async kdf() {
    const tasks = [];
    const observer = new PerformanceObserver((list) => tasks.push(...list.getEntries().map((entry) => entry.duration)));
    observer.observe({ type: 'longtask' });
    // Control: one deliberate 80 ms task, so a silent observer cannot pass for a smooth KDF.
    await new Promise((resolve) => setTimeout(() => { const end = performance.now() + 80; while (performance.now() < end); resolve(); }, 0));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const observed = tasks.splice(0).length > 0;
    const salt = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
    const started = performance.now();
    await derivePasswordKeys('correct horse battery', { ...DEFAULT_KDF, salt }, () => {});
    const ms = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
    observer.disconnect();
    return { ms, observed, longTasks: tasks.length, longestTaskMs: Math.max(0, ...tasks) };
  },
};
`;

function signedHistory(): {
  messages: ChatMessage[];
  keys: Record<number, string>;
} {
  const authors = Array.from({ length: AUTHORS }, () => crypto.generateKeyPairSync('ed25519'));
  const keys: Record<number, string> = {};
  authors.forEach((pair, index) => (keys[index + 1] = pair.publicKey.export({ format: 'jwk' }).x!));
  const messages = Array.from({ length: MESSAGES }, (_, index): ChatMessage => {
    const author = (index % AUTHORS) + 1;
    const unsigned = {
      room: 'general',
      author,
      cid: `bench${index.toString().padStart(6, '0')}`,
      ts: Date.now() - (MESSAGES - index) * 1000,
      text: `Message ${index}: ${'текст '.repeat(8)}`,
    };
    const sig = crypto.sign(null, signedBytes(unsigned), authors[author - 1]!.privateKey).toString('base64url');
    return { ...unsigned, seq: index + 1, sig };
  });
  return { messages, keys };
}

async function serve(script: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    if (request.url === '/bench.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else
      response
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><script type="module" src="/bench.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export async function sdkPhase(progress: (text: string) => void): Promise<SdkResult> {
  const bundled = await build({
    stdin: { contents: PAGE_SOURCE, loader: 'ts', resolveDir: PACKAGE_ROOT },
    bundle: true,
    format: 'esm',
    minify: true,
    write: false,
    platform: 'browser',
    target: 'es2022',
    tsconfig: path.join(PACKAGE_ROOT, 'tsconfig.json'),
  });
  const server = await serve(bundled.outputFiles[0]!.text);
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
    headless: true,
  });
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => 'bench' in window);
    const { messages, keys } = signedHistory();
    const webCryptoEd25519 = await page.evaluate(() => (window as any).bench.hasWebCrypto());
    const run = async (webCrypto: boolean): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        const result = await page.evaluate(([m, k, w]) => (window as any).bench.verify(m, k, w), [
          messages,
          keys,
          webCrypto,
        ] as const);
        if (result.valid !== MESSAGES)
          throw new Error(`only ${result.valid} of ${MESSAGES} signatures verified (webCrypto ${webCrypto})`);
        times.push(result.ms);
      }
      return times;
    };
    progress(`sdk: verifying ${MESSAGES} messages x ${REPEATS}, WebCrypto then noble`);
    const verifyWebCryptoMs = await run(true);
    const verifyNobleMs = await run(false);
    progress('sdk: password KDF (scrypt N=2^17)');
    const kdf = await page.evaluate(() => (window as any).bench.kdf());
    return {
      browser: browser.version(),
      webCryptoEd25519,
      verifyWebCryptoMs,
      verifyNobleMs,
      kdf,
      sdk: bundleSize(path.join(PACKAGE_ROOT, 'relay/dist/browser'), 'sovereign-chat.js'),
      components: bundleSize(path.join(PACKAGE_ROOT, 'relay/dist/browser'), 'sov-chat.js'),
    };
  } finally {
    await browser.close();
    await server.close();
  }
}
