/**
 * GET requests whose target reaches the relay byte for byte, for path-traversal tests. `fetch` (like
 * `new URL`) resolves `/../` and `%2e%2e` and turns `\` into `/` before sending, so a hostile path
 * sent through it arrives harmless. `http.request({ path })` sends the path as given but refuses
 * control characters and anything above U+00FF, so such targets, and any not starting with `/`
 * (`*`, `http://host/...`), go on a bare socket instead. That socket half-closes after the request:
 * uWS answers a request line it cannot parse with silence until its 10 s header timeout, and the
 * end of input makes it close at once.
 */
import http from 'node:http';
import net from 'node:net';

export interface RawReply {
  /** The status code, or 0 when the relay closed the connection without answering. */
  status: number;
  /** Everything the relay sent, status line and headers included. */
  raw: Buffer;
}

/** Sends `GET target` on a fresh connection and resolves with whatever comes back. */
export function rawGet(port: number, target: string | Buffer): Promise<RawReply> {
  const sendable = typeof target === 'string' && /^\/[\u0021-\u00ff]*$/.test(target);
  return sendable
    ? viaHttp(port, target as string)
    : viaSocket(port, Buffer.isBuffer(target) ? target : Buffer.from(target, 'utf8'));
}

function viaHttp(port: number, path: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    http
      .request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        const head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n${Object.entries(res.headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('')}\r\n`;
        const chunks: Buffer[] = [Buffer.from(head, 'latin1')];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, raw: Buffer.concat(chunks) }));
      })
      .on('error', reject)
      .end();
  });
}

function viaSocket(port: number, target: Buffer): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end(
        Buffer.concat([
          Buffer.from('GET '),
          target,
          Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
        ]),
      );
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A refused request may end in a reset rather than a FIN; what arrived before it still counts.
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? socket.destroy() : reject(error),
    );
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw.toString('latin1'))?.[1] ?? 0),
        raw,
      });
    });
  });
}
