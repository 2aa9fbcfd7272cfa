/**
 * Records what the page sends out, for tests that check a secret never leaves the browser. Import
 * it before anything else: it wraps the page's ways out as it loads, before any SDK code runs.
 *
 * Recorded: WebSocket URLs and frames; fetch and XMLHttpRequest methods, URLs, headers and bodies;
 * beacons; EventSource URLs; the URL of every resource the page loads (images, scripts, styles:
 * resource timing sees those whatever made them); and the cookies, which ride on every request.
 * Not seen: what a worker sends from its own thread. Workers are counted instead, so a test can
 * require that none ran while it recorded.
 */

export interface Sent {
  /** Which way out: "WebSocket frame", "fetch", "cookie"... */
  channel: string;
  /** What went out, as text; binary content as UTF-8 text, hex and base64. */
  content: string;
}

let recorded: Array<Promise<Sent>> = [];
let resources: string[] = [];
let workers = 0;

function record(channel: string, content: string | Promise<string>): void {
  recorded.push(Promise.resolve(content).then((text) => ({ channel, content: text })));
}

function bytesText(bytes: Uint8Array): string {
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${new TextDecoder().decode(bytes)}\n${hex}\n${btoa(String.fromCharCode(...bytes))}`;
}

async function bodyText(body: unknown): Promise<string> {
  if (body === null || body === undefined) return '';
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof Blob) return bytesText(new Uint8Array(await body.arrayBuffer()));
  if (body instanceof ArrayBuffer) return bytesText(new Uint8Array(body));
  if (ArrayBuffer.isView(body)) return bytesText(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  if (body instanceof FormData) {
    const parts = await Promise.all(
      [...body.entries()].map(async ([name, value]) => `${name}=${await bodyText(value)}`),
    );
    return parts.join('\n');
  }
  // A stream or a Document: this recorder cannot read it, and says so, which fails any test that relies on it.
  return `[unreadable body: ${Object.prototype.toString.call(body)}]`;
}

const headersText = (headers: Headers): string =>
  [...headers.entries()].map(([name, value]) => `${name}: ${value}`).join('\n');

function countConstructions<T extends object>(target: T, onConstruct: (args: unknown[]) => void): T {
  return new Proxy(target, {
    construct(constructor, args, newTarget) {
      onConstruct(args);
      return Reflect.construct(constructor as new (...a: unknown[]) => object, args, newTarget);
    },
  });
}

// WebSocket: the URL when made, every frame sent.
window.WebSocket = countConstructions(WebSocket, ([url]) => record('WebSocket URL', String(url)));
const webSocketSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  record('WebSocket frame', bodyText(data));
  webSocketSend.call(this, data);
};

// fetch: the request as the browser will send it (a Request normalizes every way of calling fetch).
const nativeFetch = window.fetch;
window.fetch = function (input, init) {
  const request = new Request(input, init);
  const copy = request.clone();
  record(
    'fetch',
    copy.text().then((body) => `${copy.method} ${copy.url}\n${headersText(copy.headers)}\n${body}`),
  );
  return nativeFetch.call(window, request);
};

// XMLHttpRequest: URL, headers and body.
const xhrOpen = XMLHttpRequest.prototype.open;
XMLHttpRequest.prototype.open = function (this: XMLHttpRequest, ...args: unknown[]) {
  record('XMLHttpRequest URL', `${String(args[0])} ${String(args[1])}`);
  return Reflect.apply(xhrOpen, this, args);
} as typeof xhrOpen;
const xhrHeader = XMLHttpRequest.prototype.setRequestHeader;
XMLHttpRequest.prototype.setRequestHeader = function (name, value) {
  record('XMLHttpRequest header', `${name}: ${value}`);
  xhrHeader.call(this, name, value);
};
const xhrSend = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function (body) {
  record('XMLHttpRequest body', bodyText(body));
  xhrSend.call(this, body);
};

const nativeBeacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, data) => {
  record(
    'beacon',
    bodyText(data).then((body) => `${String(url)}\n${body}`),
  );
  return nativeBeacon(url, data);
};

window.EventSource = countConstructions(EventSource, ([url]) => record('EventSource URL', String(url)));
window.Worker = countConstructions(Worker, () => workers++);
window.SharedWorker = countConstructions(SharedWorker, () => workers++);

// Every resource loaded, by whatever means (the observer is not limited by the timing buffer).
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) resources.push(entry.name);
}).observe({ type: 'resource', buffered: true });

export const outbound = {
  /** Forgets what was sent so far. */
  reset(): void {
    recorded = [];
    resources = [];
    workers = 0;
  },
  /** Everything sent since the last reset, and the cookies now. */
  async sent(): Promise<Sent[]> {
    // Resource entries arrive asynchronously; a macrotask lets the observer deliver what is pending.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return [
      ...(await Promise.all(recorded)),
      ...resources.map((url) => ({ channel: 'resource', content: url })),
      { channel: 'cookie', content: document.cookie },
    ];
  },
  /** Workers made since the last reset: what they send is not recorded. */
  get workers(): number {
    return workers;
  },
};
