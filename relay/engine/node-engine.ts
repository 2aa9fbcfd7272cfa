/**
 * The engine on node:http / node:https and `ws`: pure JavaScript, so it runs on every Node version
 * and every libc (Node 22+ on Debian 12, Ubuntu 22.04 or Alpine, where no uWebSockets.js build on
 * the registry loads). It gives handlers the same contract as the uWS engine: the same frame limit,
 * a send buffer cap above which published frames are skipped, pings and an idle cut-off, drops
 * without a close frame where uWS drops, and topics for fan-out.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type net from 'node:net';
import { WebSocketServer } from 'ws';
import { CLOSE_CODES } from '../../sdk/protocol.ts';
import { connectionBudget } from './byte-budget.ts';
import type { ByteBudget } from './byte-budget.ts';
import type WebSocket from 'ws';
import { ListenError } from './engine.ts';
import type {
  Engine,
  EngineHandlers,
  EngineOptions,
  HttpExchange,
  HttpReply,
  HttpRequestHead,
  Peer,
} from './engine.ts';
import { TopicIndex } from './topics.ts';

/**
 * HTTP timeouts that bound what a silent or dribbling client can hold: uWS gives a request 10 s
 * to arrive; Node's defaults (60 s for headers, 300 s for the whole request) would let a few
 * thousand idle sockets pin the relay's file descriptors for minutes. Uploads are at most 4 MB.
 */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 120_000;
const TIMEOUT_CHECK_INTERVAL_MS = 2_000;
/**
 * The kernel's queues of connections it has completed (or is completing) and the relay has not yet
 * accepted. Node's default, 511, overflows in a burst larger than that while the event loop is
 * busy or the process waits for a core: SYNs are dropped (the client retries after 1, 3, 7... s),
 * and once the half-open queue is full too the kernel answers with SYN cookies whose final ACK it
 * drops if the accept queue is still full, keeping no trace: the client believes it is connected,
 * the relay never hears of it. Measured (RELIABILITY.md, "Steady on a busy machine"): 1,200 silent
 * connections against a stalled listener, backlog 511: 176 such phantoms, never accepted; 4096:
 * none. Linux caps the value at net.core.somaxconn (4096 since 5.4, 128 before: raise it there).
 */
const LISTEN_BACKLOG = 4096;
/** `ws`'s HTTP 101 answer: the status line, Upgrade, Connection and the accept key (measured, 129 bytes). */
const UPGRADE_ANSWER_BYTES = 129;

class NodePeer<Data> implements Peer<Data> {
  open = true;
  /** A frame or pong arrived since the last idle sweep. */
  alive = true;
  private readonly topicNames = new Set<string>();

  constructor(
    readonly socket: WebSocket,
    readonly data: Data,
    private readonly maxBackpressureBytes: number,
    private readonly budget: ByteBudget,
    private readonly topics: TopicIndex<NodePeer<Data>>,
  ) {}

  send(frame: string | Buffer): boolean {
    if (!this.open || this.socket.bufferedAmount >= this.maxBackpressureBytes) return false;
    if (!this.budget.admit(typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length)) {
      this.end(CLOSE_CODES.BUDGET_SPENT, 'byte budget spent');
      return false;
    }
    this.socket.send(frame, { binary: false });
    return true;
  }

  budgetSpent(): number {
    return this.budget.bytes;
  }

  bufferedBytes(): number {
    return this.open ? this.socket.bufferedAmount : 0;
  }

  subscribe(topic: string): void {
    if (!this.open) return;
    this.topicNames.add(topic);
    this.topics.add(topic, this);
  }

  unsubscribe(topic: string): void {
    this.topicNames.delete(topic);
    this.topics.remove(topic, this);
  }

  unsubscribeAll(): void {
    for (const topic of [...this.topicNames]) this.unsubscribe(topic);
  }

  end(code: number, reason: string): void {
    if (this.open) this.socket.close(code, reason);
  }

  terminate(): void {
    if (this.open) this.socket.terminate();
  }
}

function requestHead(req: http.IncomingMessage): HttpRequestHead {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    path: query === -1 ? url : url.slice(0, query),
    query: query === -1 ? '' : url.slice(query + 1),
    header: (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : (value ?? '');
    },
    peerAddress: req.socket.remoteAddress ?? '',
  };
}

function exchange(req: http.IncomingMessage, res: http.ServerResponse): HttpExchange {
  const head = requestHead(req);
  let aborted = false;
  let responded = false;
  res.once('close', () => {
    if (!res.writableFinished) aborted = true;
  });
  return {
    ...head,
    get aborted() {
      return aborted;
    },
    onBody(handler) {
      req.on('data', (chunk: Buffer) => handler(chunk, false));
      req.once('end', () => handler(Buffer.alloc(0), true));
    },
    respond(reply: HttpReply, closeConnection = false) {
      if (aborted || responded) return;
      responded = true;
      const body = reply.body ?? '';
      res.writeHead(reply.status, {
        'content-length': String(Buffer.byteLength(body)),
        ...reply.headers,
      });
      if (closeConnection) res.shouldKeepAlive = false;
      // Node sends no body for HEAD by itself; the length stays the GET body's.
      res.end(head.method === 'HEAD' ? undefined : body);
    },
    stream(status, headers) {
      const abortListeners: (() => void)[] = [];
      res.once('close', () => {
        if (!res.writableFinished) for (const listener of abortListeners.splice(0)) listener();
      });
      if (!aborted && !responded) {
        responded = true;
        res.writeHead(status, headers);
        // The headers go now: a client waiting for its first frame should not wait for it to see 200.
        res.flushHeaders();
      }
      return {
        write(text) {
          if (!aborted && !res.writableEnded) res.write(text);
        },
        end() {
          if (!aborted && !res.writableEnded) res.end();
        },
        onAbort(listener) {
          if (aborted) listener();
          else abortListeners.push(listener);
        },
      };
    },
  };
}

/** A refused upgrade: a complete HTTP/1.1 reply written to the raw socket, which is then closed. */
function refuseUpgrade(socket: Duplex, reply: HttpReply): void {
  const body = Buffer.from(reply.body ?? '');
  const lines = [`HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status] ?? ''}`];
  for (const [name, value] of Object.entries(reply.headers)) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${body.length}`, 'connection: close', '', '');
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body]));
}

export function createNodeEngine<Data>(options: EngineOptions, handlers: EngineHandlers<Data>): Engine {
  const timeouts = {
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Node checks the two timeouts above only this often (30 s by default); read at creation only.
    connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
  };
  const server = options.tls
    ? https.createServer({
        ...timeouts,
        cert: fs.readFileSync(options.tls.cert),
        key: fs.readFileSync(options.tls.key),
      })
    : http.createServer(timeouts);

  const topics = new TopicIndex<NodePeer<Data>>();
  const certificateChain = options.tls ? fs.readFileSync(options.tls.cert, 'utf8') : null;
  const peers = new Set<NodePeer<Data>>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxFrameBytes,
    perMessageDeflate: false,
    // The relay validates UTF-8 like uWS does: ws refuses a broken text frame with 1007.
    skipUTF8Validation: false,
  });

  server.on('connection', (socket: net.Socket) => {
    const address = socket.remoteAddress ?? '';
    if (handlers.connection && !handlers.connection(address)) {
      socket.destroy();
      return;
    }
    // Nagle off like uWS: a chat frame should leave now, not wait for the next one.
    socket.setNoDelay(true);
    socket.once('close', () => handlers.connectionClosed?.(address));
  });
  // No 'clientError' listener on purpose: Node's own answers 400 or 408 and then destroys the
  // socket. Ending it gracefully instead left a slowloris client that never reads holding it open.
  server.on('request', (req, res) => handlers.http(exchange(req, res)));
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, bytes: Buffer) => {
    socket.on('error', () => socket.destroy());
    const head = requestHead(req);
    if (head.path !== options.wsPath || head.method !== 'GET') {
      refuseUpgrade(socket, {
        status: 404,
        headers: { 'content-type': 'text/plain' },
        body: 'not found',
      });
      return;
    }
    const decision = handlers.upgrade(head);
    if ('refuse' in decision) {
      refuseUpgrade(socket, decision.refuse);
      return;
    }
    wss.handleUpgrade(req, socket, bytes, (ws) => accept(ws, socket, decision.accept));
  });

  function accept(ws: WebSocket, socket: Duplex, data: Data): void {
    const peer = new NodePeer(
      ws,
      data,
      options.maxBackpressureBytes,
      connectionBudget(options.connectionBudgetBytes, UPGRADE_ANSWER_BYTES, certificateChain),
      topics,
    );
    peers.add(peer);
    ws.on('message', (message, isBinary) => {
      peer.alive = true;
      handlers.message(peer, isBinary ? null : message.toString());
    });
    ws.on('pong', () => {
      peer.alive = true;
    });
    // ws has already sent its close frame (1009 too big, 1007 not UTF-8); the error needs no more.
    ws.on('error', () => undefined);
    socket.on('drain', () => {
      if (peer.open) handlers.drain(peer);
    });
    ws.once('close', () => {
      peer.open = false;
      peers.delete(peer);
      peer.unsubscribeAll();
      handlers.close(peer);
    });
    handlers.open(peer);
  }

  // uWS pings a connection that has been quiet and drops one silent for idleTimeout; a sweep at
  // half that period gives the same bound: a peer silent through two sweeps is gone.
  const idleSweep = setInterval(
    () => {
      for (const peer of peers) {
        if (!peer.alive) {
          peer.terminate();
          continue;
        }
        peer.alive = false;
        peer.socket.ping();
      }
    },
    (options.idleTimeoutSeconds * 1000) / 2,
  );
  idleSweep.unref();

  return {
    name: 'node',
    listen(host, port) {
      return new Promise((resolve, reject) => {
        const onError = (error: NodeJS.ErrnoException): void => {
          const why =
            error.code === 'EADDRINUSE'
              ? 'another program is using it'
              : error.code === 'EACCES'
                ? 'permission denied'
                : error.message;
          reject(new ListenError(`cannot listen on ${host}:${port}: ${why}`));
        };
        server.once('error', onError);
        server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
          server.off('error', onError);
          resolve((server.address() as net.AddressInfo).port);
        });
      });
    },
    publish(topic, frame) {
      const members = topics.of(topic);
      if (members.size === 0) return 0;
      // Encoded once for every member, as uWS frames a published message once.
      const bytes = Buffer.from(frame);
      for (const peer of members) peer.send(bytes);
      return members.size;
    },
    stopListening() {
      clearInterval(idleSweep);
      server.close();
    },
  };
}
