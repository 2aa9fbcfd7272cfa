/**
 * The relay's wiring: a flat table of uWebSockets.js routes. HTTP serves the demo, the browser
 * bundle, avatars and avatar uploads; one WebSocket route carries the protocol. Fan-out is uWS
 * topics (`publish`), so a message is serialized once however many members a room has.
 */
import { STATUS_CODES } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { SovError } from '../sdk/errors.ts';
import { AVATAR_UPLOAD_PATH, CLOSE_CODES, LIMITS, PROTOCOL_VERSION, WS_PATH, parseRequest } from '../sdk/protocol.ts';
import type { ParsedFrame } from '../sdk/protocol.ts';
import { originAllowed } from './config.ts';
import type { RelayConfig } from './config.ts';
import { lockDataFolder, loadServerSecret } from './data-folder.ts';
import type { Logger } from './logger.ts';
import { errorText } from './logger.ts';
import { Presence } from './presence.ts';
import { KeyedLimiter, TokenBucket } from './rate-limit.ts';
import { RawResult, USERS_TOPIC, eventFrame, handleRequest, signOut } from './requests.ts';
import type { Connection, RelayContext, Socket } from './requests.ts';
import { Accounts } from './store/accounts.ts';
import { History } from './store/history.ts';
import { Sessions } from './store/sessions.ts';
import { loadStaticFiles, staticReply } from './static-files.ts';
import type { StaticFiles } from './static-files.ts';
import { AVATAR_URL_PREFIX, AvatarStore } from './avatars/avatar-store.ts';
import { handleAvatarUpload } from './avatars/avatar-upload.ts';

export const RELAY_VERSION = 'sov-relay/0.1.0';
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Consecutive RATE_LIMITED replies after which a flooding connection is closed. */
const MAX_STRIKES = 50;
/** Per-socket send buffer cap: a consumer this far behind is cut off instead of growing memory. */
const MAX_BACKPRESSURE = 1024 * 1024;
/** Replies waiting for a full send buffer to drain, per connection (see sendReply). */
const MAX_QUEUED_REPLY_BYTES = 4 * 1024 * 1024;
const SLOW_CONSUMER_SWEEP_MS = 2000;
/** Seconds without any frame before uWS closes a connection; it pings before that. */
const IDLE_TIMEOUT_S = 32;

export interface RunningRelay {
  port: number;
  url: string;
  /** Stops accepting, closes connections, flushes and fsyncs every log. */
  close(): Promise<void>;
}

function textOf(buffer: ArrayBuffer): string {
  return Buffer.from(buffer).toString('utf8');
}

export async function startRelay(config: RelayConfig, log: Logger): Promise<RunningRelay> {
  const unlock = lockDataFolder(config.dataDir);
  const secret = await loadServerSecret(config.dataDir);
  const [accounts, sessions, history] = await Promise.all([
    Accounts.open(config.dataDir, secret, log),
    Sessions.open(config.dataDir, config.sessionDays * 24 * 60 * 60 * 1000, log),
    History.open(config.dataDir, config.historySize, log),
  ]);
  const avatars = new AvatarStore(path.join(config.dataDir, 'avatars'));
  const staticFiles = loadStaticFiles([path.join(PACKAGE_ROOT, 'demo'), path.join(PACKAGE_ROOT, 'dist', 'browser')]);

  const app: TemplatedApp = config.tls
    ? uWS.SSLApp({ cert_file_name: config.tls.cert, key_file_name: config.tls.key })
    : uWS.App();
  const ctx: RelayContext = {
    config,
    accounts,
    sessions,
    history,
    presence: new Presence<Socket>(),
    limits: {
      // Password guessing: 10 tries per name, then one a minute; 30 per address, then one every 10 s.
      loginByName: new KeyedLimiter(1 / 60, 10),
      loginByIp: new KeyedLimiter(1 / 10, 30),
      registerByIp: new KeyedLimiter(config.registrationsPerHour / 3600, config.registrationsPerHour),
    },
    publish: (topic, frame) => app.publish(topic, frame),
  };
  const sockets = new Set<Socket>();
  const hello = (): string =>
    eventFrame({
      ev: 'hello',
      protocol: PROTOCOL_VERSION,
      relay: RELAY_VERSION,
      time: Date.now(),
      limits: { ...LIMITS, historySize: config.historySize },
    });

  const reply = (ws: Socket, id: string | number | null, outcome: { result: unknown } | { error: SovError }): void => {
    if (ws.getUserData().closed) return;
    const re = JSON.stringify(id);
    const frame =
      'error' in outcome
        ? `{"re":${re},"ok":false,"error":${JSON.stringify(outcome.error.toWire())}}`
        : `{"re":${re},"ok":true,"result":${outcome.result instanceof RawResult ? outcome.result.json : JSON.stringify(outcome.result)}}`;
    sendReply(ws, frame);
  };

  /**
   * Every request gets its reply, even when the send buffer is over MAX_BACKPRESSURE (uWS would
   * drop the frame): it then waits in the connection's own queue, sent in order as the buffer
   * drains. Replies are small and one per request (rate limited), so the queue stays short; one
   * that still outgrows MAX_QUEUED_REPLY_BYTES belongs to a consumer that stopped reading.
   */
  const sendReply = (ws: Socket, frame: string): void => {
    const connection = ws.getUserData();
    if (connection.queuedReplies.length === 0 && ws.getBufferedAmount() < MAX_BACKPRESSURE) {
      ws.cork(() => ws.send(frame));
      return;
    }
    connection.queuedReplies.push(frame);
    connection.queuedReplyBytes += frame.length;
    if (connection.queuedReplyBytes > MAX_QUEUED_REPLY_BYTES) {
      log('warn', 'slow consumer: replies piled up unread; closing it', { ip: connection.ip, queued: connection.queuedReplyBytes });
      ws.close();
    }
  };

  const flushReplies = (ws: Socket): void => {
    const connection = ws.getUserData();
    ws.cork(() => {
      while (connection.queuedReplies.length > 0 && ws.getBufferedAmount() < MAX_BACKPRESSURE) {
        const frame = connection.queuedReplies.shift()!;
        connection.queuedReplyBytes -= frame.length;
        ws.send(frame);
      }
    });
  };

  app.ws<Connection>(WS_PATH, {
    compression: uWS.DISABLED,
    maxPayloadLength: LIMITS.maxFrameBytes,
    maxBackpressure: MAX_BACKPRESSURE,
    idleTimeout: IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,

    upgrade(res, req, context) {
      const origin = req.getHeader('origin');
      if (!originAllowed(config, origin)) {
        res.writeStatus('403 Forbidden').end('origin not allowed');
        return;
      }
      const connection: Connection = {
        ip: textOf(res.getRemoteAddressAsText()),
        closed: false,
        session: null,
        rooms: new Set(),
        bucket: new TokenBucket(config.requestsPerSecond, config.requestsPerSecond * 2),
        strikes: 0,
        sendQueue: Promise.resolve(),
        queuedReplies: [],
        queuedReplyBytes: 0,
      };
      res.upgrade(
        connection,
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },

    open(ws) {
      sockets.add(ws);
      ws.send(hello());
    },

    message(ws, message, isBinary) {
      if (isBinary) {
        ws.end(CLOSE_CODES.UNSUPPORTED_DATA, 'binary frames are not supported');
        return;
      }
      const connection = ws.getUserData();
      let parsed: ParsedFrame;
      try {
        parsed = parseRequest(textOf(message));
      } catch (error) {
        // parseRequest answers every frame it can read; a throw is a bug, and it must cost this
        // frame an INTERNAL reply, never the process (a throw out of a uWS handler ends it).
        log('error', 'request parsing failed', { ip: connection.ip, error: errorText(error) });
        parsed = { ok: false, id: null, error: new SovError('INTERNAL') };
      }
      const id = parsed.ok ? parsed.request.id : parsed.id;
      const wait = connection.bucket.take();
      if (wait > 0) {
        if (++connection.strikes > MAX_STRIKES) {
          log('warn', 'closing a connection that keeps flooding', { ip: connection.ip });
          ws.end(CLOSE_CODES.POLICY, 'rate limit exceeded');
          return;
        }
        reply(ws, id, { error: new SovError('RATE_LIMITED', undefined, { retryAfterMs: wait }) });
        return;
      }
      connection.strikes = 0;
      if (!parsed.ok) {
        reply(ws, id, { error: parsed.error });
        return;
      }
      handleRequest(ctx, ws, parsed.request).then(
        (result) => reply(ws, id, { result }),
        (error: unknown) => {
          if (!(error instanceof SovError)) log('error', 'request failed', { type: parsed.request.type, error: errorText(error) });
          reply(ws, id, { error: error instanceof SovError ? error : new SovError('INTERNAL') });
        },
      );
    },

    drain(ws) {
      flushReplies(ws);
    },

    close(ws) {
      const connection = ws.getUserData();
      connection.closed = true;
      connection.queuedReplies = [];
      sockets.delete(ws);
      signOut(ctx, ws);
    },
  });

  for (const method of ['get', 'head'] as const) app[method]('/v1/health', (res, req) => {
    endGetOrHead(res.writeHeader('content-type', 'text/plain'), req.getMethod(), 'ok');
  });

  app.options(AVATAR_UPLOAD_PATH, (res, req) => {
    const origin = req.getHeader('origin');
    res.cork(() => {
      res.writeStatus(originAllowed(config, origin) ? '204 No Content' : '403 Forbidden');
      if (originAllowed(config, origin)) {
        res.writeHeader('access-control-allow-origin', origin || '*');
        res.writeHeader('access-control-allow-methods', 'POST');
        res.writeHeader('access-control-allow-headers', 'authorization, content-type');
        res.writeHeader('access-control-max-age', '86400');
      }
      res.writeHeader('vary', 'origin').end();
    });
  });

  app.post(AVATAR_UPLOAD_PATH, (res, req) =>
    handleAvatarUpload(res, req, {
      config,
      accounts,
      sessions,
      avatars,
      log,
      onChange: (user) => app.publish(USERS_TOPIC, eventFrame({ ev: 'profile', user })),
    }),
  );

  for (const method of ['get', 'head'] as const) app[method](`${AVATAR_URL_PREFIX}:name`, (res, req) => {
    const name = req.getParameter(0) ?? '';
    const requestMethod = req.getMethod();
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    avatars.read(name).then((image) => {
      if (aborted) return;
      res.cork(() => {
        if (!image) {
          endGetOrHead(res.writeStatus('404 Not Found'), requestMethod, 'not found');
          return;
        }
        res
          .writeHeader('content-type', image.mime)
          .writeHeader('x-content-type-options', 'nosniff')
          .writeHeader('cache-control', 'public, max-age=31536000, immutable')
          .writeHeader('access-control-allow-origin', '*')
          .writeHeader('cross-origin-resource-policy', 'cross-origin')
          .writeHeader('content-security-policy', "default-src 'none'");
        endGetOrHead(res, requestMethod, image.body);
      });
    });
  });

  // Every method: staticReply answers GET and HEAD, and 405 with Allow for the rest.
  app.any('/*', (res, req) => serveStatic(res, req, staticFiles));

  const listenSocket = await listen(app, config.host, config.port, log);
  const port = uWS.us_socket_local_port(listenSocket);
  const url = `${config.tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  // uWS skips publishing to a socket whose send buffer is over MAX_BACKPRESSURE, so memory stays
  // bounded; this sweep then cuts such a consumer off (it will reconnect and resume by sequence
  // number) and logs it, which uWS's own close-on-limit option would do silently.
  const slowConsumerSweep = setInterval(() => {
    for (const ws of sockets) {
      if (ws.getBufferedAmount() < MAX_BACKPRESSURE) continue;
      log('warn', 'slow consumer: messages were dropped for it; closing it', { ip: ws.getUserData().ip, buffered: ws.getBufferedAmount() });
      ws.close();
    }
  }, SLOW_CONSUMER_SWEEP_MS);
  slowConsumerSweep.unref();

  let closing: Promise<void> | null = null;
  return {
    port,
    url,
    close() {
      closing ??= (async () => {
        clearInterval(slowConsumerSweep);
        uWS.us_listen_socket_close(listenSocket);
        for (const ws of [...sockets]) ws.end(CLOSE_CODES.GOING_AWAY, 'relay shutting down');
        await Promise.all([accounts.close(), sessions.close(), history.close()]);
        unlock();
      })();
      return closing;
    },
  };
}

/**
 * Binds the port, retrying for up to 90 s. The uWebSockets.js build we use does not set
 * SO_REUSEADDR, so after a restart the kernel refuses the port while connections the previous
 * relay closed sit in TIME_WAIT (60 s on Linux). Waiting it out beats exiting and flapping.
 */
async function listen(app: TemplatedApp, host: string, port: number, log: Logger): Promise<us_listen_socket> {
  const deadline = Date.now() + 90_000;
  for (let attempt = 0; ; attempt++) {
    const token = await new Promise<us_listen_socket | false>((resolve) => app.listen(host, port, (socket) => resolve(socket || false)));
    if (token) return token;
    if (port === 0 || Date.now() > deadline) throw new Error(`cannot listen on ${host}:${port} (is another program using it?)`);
    if (attempt === 5) log('warn', `port ${port} is busy, probably connections of the previous run in TIME_WAIT (up to 60 s); retrying`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * uWS writes its own Content-Length for a body. Without one it writes none, so a HEAD's comes from
 * the reply; endWithoutBody(length) would write it, but in our build it leaves the response
 * unfinished (uNetworking/uWebSockets#1855): the process aborts, and with an abort handler the
 * keep-alive connection hangs instead.
 */
function serveStatic(res: HttpResponse, req: HttpRequest, files: StaticFiles): void {
  // The request object is only valid during this call; staticReply reads it synchronously.
  const reply = staticReply(files, { method: req.getCaseSensitiveMethod(), path: req.getUrl(), header: (name) => req.getHeader(name) });
  res.writeStatus(`${reply.status} ${STATUS_CODES[reply.status]}`);
  for (const [name, value] of Object.entries(reply.headers)) if (!(reply.body && name === 'content-length')) res.writeHeader(name, value);
  if (reply.body) res.end(reply.body);
  else res.endWithoutBody();
}

/** GET routes that also answer HEAD: the same headers and Content-Length, no body. */
function endGetOrHead(res: HttpResponse, method: string, body: string | Buffer): void {
  if (method === 'head') res.writeHeader('content-length', String(Buffer.byteLength(body))).endWithoutBody();
  else res.end(body);
}
