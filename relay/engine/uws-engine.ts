/**
 * The engine on uWebSockets.js: fan-out is uWS topics, so a room's message is framed once and
 * written by native code to every member, corked into one syscall per socket per event-loop turn.
 * Used where its native addon loads (see choose-engine.ts); nothing outside this file touches uWS.
 */
import fs from 'node:fs';
import http from 'node:http';
import type * as UWS from 'uWebSockets.js';
import { CLOSE_CODES } from '../../sdk/protocol.ts';
import { connectionBudget } from './byte-budget.ts';
import type { ByteBudget } from './byte-budget.ts';
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

type UwsModule = typeof UWS;
/** TIME_WAIT lasts 60 s on Linux; a little more covers a restart's own delay. */
const LINGER_WAIT_MS = 90_000;
/** This build's HTTP 101 answer: the four standard lines, a Date and `uWebSockets: 20` (measured, 183 bytes). */
const UPGRADE_ANSWER_BYTES = 183;

/** uWS keeps the engine-blind peer in each socket's user data. */
interface SocketData<Data> {
  peer: UwsPeer<Data> | null;
  data: Data;
}

class UwsPeer<Data> implements Peer<Data> {
  open = true;
  private readonly topicNames = new Set<string>();

  constructor(
    private readonly socket: UWS.WebSocket<SocketData<Data>>,
    readonly data: Data,
    private readonly maxBackpressureBytes: number,
    private readonly budget: ByteBudget,
    /** Set while a budget is on: fan-out goes through send(), which counts. */
    private readonly topics: TopicIndex<UwsPeer<Data>> | null,
  ) {}

  send(frame: string | Buffer): boolean {
    if (!this.open || this.socket.getBufferedAmount() >= this.maxBackpressureBytes) return false;
    if (!this.budget.admit(typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length)) {
      this.end(CLOSE_CODES.BUDGET_SPENT, 'byte budget spent');
      return false;
    }
    // Corked: replies sent from a promise callback would otherwise cost a syscall each.
    let status = 0;
    this.socket.cork(() => {
      status = this.socket.send(frame);
    });
    return status !== 2;
  }

  budgetSpent(): number {
    return this.budget.bytes;
  }

  bufferedBytes(): number {
    return this.open ? this.socket.getBufferedAmount() : 0;
  }

  subscribe(topic: string): void {
    if (!this.open) return;
    if (!this.topics) {
      this.socket.subscribe(topic);
      return;
    }
    this.topicNames.add(topic);
    this.topics.add(topic, this);
  }

  unsubscribe(topic: string): void {
    if (!this.topics) {
      if (this.open) this.socket.unsubscribe(topic);
      return;
    }
    this.topicNames.delete(topic);
    this.topics.remove(topic, this);
  }

  /** On close: uWS forgets its own topics by itself, ours need telling. */
  unsubscribeAll(): void {
    for (const topic of [...this.topicNames]) this.unsubscribe(topic);
  }

  end(code: number, reason: string): void {
    if (this.open) this.socket.end(code, reason);
  }

  terminate(): void {
    if (this.open) this.socket.close();
  }
}

/**
 * uSockets binds with SO_REUSEPORT, so a second relay on a port another program listens on would
 * start and silently share its connections. Its exclusive option drops SO_REUSEADDR too, and a
 * probe bind with SO_REUSEADDR is no better: both fail for a minute after a restart while the old
 * relay's closed connections linger (accepted uWS sockets carry no SO_REUSEADDR). So the question
 * is asked directly: does a socket listen on this port (Linux: /proc/net/tcp and tcp6, state 0A)?
 * Elsewhere the check is skipped.
 */
function portIsFree(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  const listening = ['/proc/net/tcp', '/proc/net/tcp6'].some((file) => {
    let table: string;
    try {
      table = fs.readFileSync(file, 'utf8');
    } catch {
      return false;
    }
    return table.split('\n').some((line) => {
      const [, local, , state] = line.trim().split(/\s+/);
      return (
        state === '0A' && local !== undefined && Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port
      );
    });
  });
  return listening
    ? Promise.reject(new ListenError(`cannot listen on ${host}:${port}: another program is using it`))
    : Promise.resolve();
}

const statusLine = (status: number): string => `${status} ${http.STATUS_CODES[status] ?? ''}`.trimEnd();

/** Reads everything a handler may need now: uWS's request object dies when the route handler returns. */
function requestHead(req: UWS.HttpRequest, res: UWS.HttpResponse): HttpRequestHead {
  const headers = new Map<string, string>();
  req.forEach((name, value) => {
    // Repeated headers (X-Forwarded-For from a chain of proxies) are joined as RFC 9110 allows.
    const earlier = headers.get(name);
    headers.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
  });
  return {
    method: req.getCaseSensitiveMethod().toUpperCase(),
    path: req.getUrl(),
    query: req.getQuery() ?? '',
    header: (name) => headers.get(name) ?? '',
    peerAddress: Buffer.from(res.getRemoteAddressAsText()).toString('latin1'),
  };
}

function writeReply(res: UWS.HttpResponse, method: string, reply: HttpReply, closeConnection: boolean): void {
  res.cork(() => {
    res.writeStatus(statusLine(reply.status));
    const { 'content-length': length, ...headers } = reply.headers;
    for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    const body = reply.body ?? '';
    if (method === 'HEAD') {
      // endWithoutBody(length) never finishes the response in this build (uNetworking/uWebSockets
      // #1855): the process aborts, or the keep-alive connection hangs. Write the length ourselves.
      res.writeHeader('content-length', length ?? String(Buffer.byteLength(body)));
      res.endWithoutBody();
    } else {
      // uWS writes Content-Length for the body it sends.
      res.end(body, closeConnection);
    }
  });
}

function exchange(res: UWS.HttpResponse, req: UWS.HttpRequest): HttpExchange {
  const head = requestHead(req, res);
  let aborted = false;
  let responded = false;
  const abortListeners: (() => void)[] = [];
  res.onAborted(() => {
    aborted = true;
    for (const listener of abortListeners.splice(0)) listener();
  });
  return {
    ...head,
    get aborted() {
      return aborted;
    },
    onBody(handler) {
      // The chunk's memory is uWS's and is reused after the callback: copy it.
      res.onData((chunk, last) => handler(Buffer.from(new Uint8Array(chunk)), last));
    },
    respond(reply, closeConnection = false) {
      if (aborted || responded) return;
      responded = true;
      writeReply(res, head.method, reply, closeConnection);
    },
    stream(status, headers) {
      let ended = false;
      if (!aborted && !responded) {
        responded = true;
        // uWS sends the head with the first write (an empty write would be the chunked terminator).
        res.cork(() => {
          res.writeStatus(statusLine(status));
          for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
        });
      }
      return {
        write(text) {
          if (!aborted && !ended) res.cork(() => res.write(text));
        },
        end() {
          if (aborted || ended) return;
          ended = true;
          // Never end(…, true) after writes: this build then writes its Connection header into the body.
          res.cork(() => res.end());
        },
        onAbort(listener) {
          if (aborted) listener();
          else abortListeners.push(listener);
        },
      };
    },
  };
}

export function createUwsEngine(uWS: UwsModule) {
  return <Data>(options: EngineOptions, handlers: EngineHandlers<Data>): Engine => {
    const app = options.tls
      ? uWS.SSLApp({
          cert_file_name: options.tls.cert,
          key_file_name: options.tls.key,
        })
      : uWS.App();
    let listenSocket: UWS.us_listen_socket | null = null;
    const budgeted = options.connectionBudgetBytes > 0;
    const topics = budgeted ? new TopicIndex<UwsPeer<Data>>() : null;
    const certificateChain = options.tls ? fs.readFileSync(options.tls.cert, 'utf8') : null;
    const peerOf = (ws: UWS.WebSocket<SocketData<Data>>): UwsPeer<Data> => ws.getUserData().peer!;

    app.ws<SocketData<Data>>(options.wsPath, {
      compression: uWS.DISABLED,
      maxPayloadLength: options.maxFrameBytes,
      maxBackpressure: options.maxBackpressureBytes,
      idleTimeout: options.idleTimeoutSeconds,
      sendPingsAutomatically: true,
      upgrade(res, req, context) {
        const head = requestHead(req, res);
        const decision = handlers.upgrade(head);
        if ('refuse' in decision) {
          writeReply(res, head.method, decision.refuse, true);
          return;
        }
        res.upgrade<SocketData<Data>>(
          { peer: null, data: decision.accept },
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open(ws) {
        const userData = ws.getUserData();
        userData.peer = new UwsPeer(
          ws,
          userData.data,
          options.maxBackpressureBytes,
          connectionBudget(options.connectionBudgetBytes, UPGRADE_ANSWER_BYTES, certificateChain),
          topics,
        );
        handlers.open(userData.peer);
      },
      message(ws, message, isBinary) {
        handlers.message(peerOf(ws), isBinary ? null : Buffer.from(message).toString('utf8'));
      },
      drain(ws) {
        handlers.drain(peerOf(ws));
      },
      close(ws) {
        const peer = peerOf(ws);
        // A closed uWS socket must never be touched again: the peer turns every call into a no-op.
        peer.open = false;
        handlers.close(peer);
        peer.unsubscribeAll();
      },
    });
    app.any('/*', (res, req) => handlers.http(exchange(res, req)));

    return {
      name: 'uws',
      async listen(host, port) {
        await portIsFree(host, port);
        // Nobody listens there, yet the bind can fail: this build sets no SO_REUSEADDR, so the
        // connections a previous relay on this port closed hold it while they linger in TIME_WAIT
        // (up to 60 s on Linux). Waiting that out beats exiting and flapping under a supervisor.
        const deadline = Date.now() + LINGER_WAIT_MS;
        for (;;) {
          const token = await new Promise<UWS.us_listen_socket | false>((resolve) => app.listen(host, port, resolve));
          if (token) {
            listenSocket = token;
            return uWS.us_socket_local_port(token);
          }
          if (port === 0 || Date.now() > deadline)
            throw new ListenError(`cannot listen on ${host}:${port}: the address is in use or not available here`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      },
      publish(topic, frame) {
        if (topics) {
          // Encoded once, then sent to each member through send(), which counts its budget.
          const members = topics.of(topic);
          if (members.size === 0) return 0;
          const bytes = Buffer.from(frame);
          for (const peer of members) peer.send(bytes);
          return members.size;
        }
        const subscribers = app.numSubscribers(topic);
        if (subscribers > 0) app.publish(topic, frame);
        return subscribers;
      },
      stopListening() {
        if (listenSocket) uWS.us_listen_socket_close(listenSocket);
        listenSocket = null;
      },
    };
  };
}
