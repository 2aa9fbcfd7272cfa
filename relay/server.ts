/**
 * The relay's wiring: stores, the engine, and one route table. HTTP serves the health check, the
 * demo, the browser bundles, avatars and avatar uploads; one WebSocket route carries the protocol.
 * Nothing here knows which engine runs underneath (see engine/engine.ts).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SovError } from '../sdk/errors.ts';
import { AVATAR_UPLOAD_PATH, CLOSE_CODES, LIMITS, PROTOCOL_VERSION, WS_PATH, parseRequest } from '../sdk/protocol.ts';
import type { ParsedFrame } from '../sdk/protocol.ts';
import { clientAddress } from './client-address.ts';
import { originAllowed } from './config.ts';
import type { RelayConfig } from './config.ts';
import { ConnectionCounter, connectionCeiling } from './connection-limits.ts';
import { lockDataFolder, loadServerSecret } from './data-folder.ts';
import { chooseEngine } from './engine/choose-engine.ts';
import type { HttpExchange, HttpReply, HttpRequestHead } from './engine/engine.ts';
import type { Logger } from './logger.ts';
import { errorText } from './logger.ts';
import { RelayMetrics, startMetricsServer } from './metrics.ts';
import type { MetricsServer } from './metrics.ts';
import { Presence } from './presence.ts';
import { KeyedLimiter, TokenBucket } from './rate-limit.ts';
import { RawResult, USERS_TOPIC, eventFrame, handleRequest, signOut } from './requests.ts';
import type { Connection, RelayContext, Socket } from './requests.ts';
import { Accounts } from './store/accounts.ts';
import { History } from './store/history.ts';
import { Sessions } from './store/sessions.ts';
import { loadStaticFiles, staticReply } from './static-files.ts';
import { AVATAR_URL_PREFIX, AvatarStore } from './avatars/avatar-store.ts';
import { handleAvatarUpload, jsonReply } from './avatars/avatar-upload.ts';

export const RELAY_VERSION = 'sov-relay/0.1.0';
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Consecutive RATE_LIMITED replies after which a flooding connection is closed. */
const MAX_STRIKES = 50;
/** Per-socket send buffer cap: a consumer this far behind is cut off instead of growing memory. */
const MAX_BACKPRESSURE = 1024 * 1024;
/** Replies waiting for a full send buffer to drain, per connection (see sendReply). */
const MAX_QUEUED_REPLY_BYTES = 4 * 1024 * 1024;
const SLOW_CONSUMER_SWEEP_MS = 2000;
/** Seconds without any frame before a connection is dropped; pings go out before that. */
const IDLE_TIMEOUT_S = 32;
/**
 * A connection that has not logged in by then is closed: an anonymous socket costs a file
 * descriptor and nothing else, so without a bound they pile up. The SDK opens its connection
 * only when it logs in, and a login takes a few seconds of scrypt even on a slow phone.
 */
const LOGIN_DEADLINE_MS = 60_000;

export interface RunningRelay {
  port: number;
  url: string;
  engine: string;
  /** Stops accepting, closes connections, flushes and fsyncs every log. */
  close(): Promise<void>;
}

const textReply = (status: number, text: string): HttpReply => ({
  status,
  headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' },
  body: text,
});

export async function startRelay(config: RelayConfig, log: Logger): Promise<RunningRelay> {
  const engineChoice = chooseEngine(config.engine);
  const unlock = lockDataFolder(config.dataDir);
  const secret = await loadServerSecret(config.dataDir);
  const [accounts, sessions, history] = await Promise.all([
    Accounts.open(config.dataDir, secret, log),
    Sessions.open(config.dataDir, config.sessionDays * 24 * 60 * 60 * 1000, log),
    History.open(config.dataDir, config.historySize, log),
  ]);
  const avatars = new AvatarStore(path.join(config.dataDir, 'avatars'));
  const staticFiles = loadStaticFiles([path.join(PACKAGE_ROOT, 'demo'), path.join(PACKAGE_ROOT, 'dist', 'browser')]);
  const sockets = new Set<Socket>();
  const webSockets = new ConnectionCounter(config.maxConnectionsPerAddress, connectionCeiling());
  const tcpConnections = new ConnectionCounter(config.maxConnectionsPerAddress, connectionCeiling());

  const presence = new Presence<Socket>();
  const metrics = new RelayMetrics({
    engine: engineChoice.name,
    connections: () => sockets.size,
    sessions: () => [...sockets].filter((ws) => ws.data.session !== null).length,
    rooms: () => presence.roomCount(),
  });
  const publish = (topic: string, frame: string): number => {
    const members = engine.publish(topic, frame);
    metrics.bytesSent(Buffer.byteLength(frame) * members);
    return members;
  };
  const ctx: RelayContext = {
    config,
    accounts,
    sessions,
    history,
    presence,
    limits: {
      // Password guessing: 10 tries per name, then one a minute; 30 per address, then one every 10 s.
      loginByName: new KeyedLimiter(1 / 60, 10),
      loginByIp: new KeyedLimiter(1 / 10, 30),
      registerByIp: new KeyedLimiter(config.registrationsPerHour / 3600, config.registrationsPerHour),
    },
    log,
    metrics,
    publish,
  };
  const hello = (): string =>
    eventFrame({
      ev: 'hello',
      protocol: PROTOCOL_VERSION,
      relay: RELAY_VERSION,
      time: Date.now(),
      limits: { ...LIMITS, historySize: config.historySize },
    });

  const reply = (ws: Socket, id: string | number | null, outcome: { result: unknown } | { error: SovError }): void => {
    if ('error' in outcome) metrics.refused(outcome.error.code);
    if (!ws.open) return;
    const re = JSON.stringify(id);
    const frame =
      'error' in outcome
        ? `{"re":${re},"ok":false,"error":${JSON.stringify(outcome.error.toWire())}}`
        : `{"re":${re},"ok":true,"result":${outcome.result instanceof RawResult ? outcome.result.json : JSON.stringify(outcome.result)}}`;
    metrics.bytesSent(Buffer.byteLength(frame));
    sendReply(ws, frame);
  };

  /**
   * Every request gets its reply, even when the send buffer is over MAX_BACKPRESSURE (the engine
   * would drop the frame): it then waits in the connection's own queue, sent in order as the
   * buffer drains. Replies are small and one per request (rate limited), so the queue stays short;
   * one that still outgrows MAX_QUEUED_REPLY_BYTES belongs to a consumer that stopped reading.
   */
  const sendReply = (ws: Socket, frame: string): void => {
    const connection = ws.data;
    if (connection.queuedReplies.length === 0 && ws.send(frame)) return;
    connection.queuedReplies.push(frame);
    connection.queuedReplyBytes += frame.length;
    if (connection.queuedReplyBytes > MAX_QUEUED_REPLY_BYTES) {
      log('warn', 'slow consumer: replies piled up unread; closing it', { ip: connection.ip, queued: connection.queuedReplyBytes });
      ws.terminate();
    }
  };

  const flushReplies = (ws: Socket): void => {
    const connection = ws.data;
    while (connection.queuedReplies.length > 0 && ws.send(connection.queuedReplies[0]!)) {
      connection.queuedReplyBytes -= connection.queuedReplies.shift()!.length;
    }
  };

  const onFrame = (ws: Socket, text: string | null): void => {
    if (text === null) {
      ws.end(CLOSE_CODES.UNSUPPORTED_DATA, 'binary frames are not supported');
      return;
    }
    const connection = ws.data;
    let parsed: ParsedFrame;
    try {
      parsed = parseRequest(text);
    } catch (error) {
      // parseRequest answers every frame it can read; a throw is a bug, and it must cost this
      // frame an INTERNAL reply, never the process (a throw out of an engine callback ends it).
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
    metrics.requestReceived(parsed.request.type);
    handleRequest(ctx, ws, parsed.request).then(
      (result) => reply(ws, id, { result }),
      (error: unknown) => {
        if (!(error instanceof SovError)) log('error', 'request failed', { type: parsed.request.type, error: errorText(error) });
        reply(ws, id, { error: error instanceof SovError ? error : new SovError('INTERNAL') });
      },
    );
  };

  const upgrade = (head: HttpRequestHead) => {
    if (!originAllowed(config, head.header('origin'))) return { refuse: textReply(403, 'origin not allowed') };
    // Behind a trusted reverse proxy every peer is the proxy: the client is the one it forwarded.
    const ip = clientAddress(head.peerAddress, head.header('x-forwarded-for'), config.trustedProxies);
    if (!webSockets.add(ip)) {
      log('warn', 'refused a connection: too many from one address', { ip, limit: config.maxConnectionsPerAddress });
      return { refuse: jsonReply(429, { ok: false, error: new SovError('TOO_MANY_CONNECTIONS').toWire() }) };
    }
    const connection: Connection = {
      ip,
      session: null,
      rooms: new Set(),
      bucket: new TokenBucket(config.requestsPerSecond, config.requestsPerSecond * 2),
      strikes: 0,
      sendQueue: Promise.resolve(),
      queuedReplies: [],
      queuedReplyBytes: 0,
      loginDeadline: null,
    };
    return { accept: connection };
  };

  const routes = httpRoutes({
    health: (exchange) => exchange.respond(textReply(200, 'ok')),
    avatarPreflight: (exchange) => exchange.respond(preflightReply(config, exchange.header('origin'))),
    avatarUpload: (exchange) =>
      handleAvatarUpload(exchange, {
        config,
        accounts,
        sessions,
        avatars,
        log,
        onChange: (user) => publish(USERS_TOPIC, eventFrame({ ev: 'profile', user })),
      }),
    avatar: (exchange) => {
      avatars.read(exchange.path.slice(AVATAR_URL_PREFIX.length)).then((image) => exchange.respond(image ? avatarReply(image) : textReply(404, 'not found')));
    },
    staticFile: (exchange) => exchange.respond(staticReply(staticFiles, exchange)),
  });

  const engine = engineChoice.create<Connection>(
    {
      tls: config.tls,
      wsPath: WS_PATH,
      maxFrameBytes: LIMITS.maxFrameBytes,
      maxBackpressureBytes: MAX_BACKPRESSURE,
      idleTimeoutSeconds: IDLE_TIMEOUT_S,
    },
    {
      http: routes,
      upgrade,
      open(ws) {
        sockets.add(ws);
        ws.data.loginDeadline = setTimeout(() => {
          if (!ws.data.session) ws.end(CLOSE_CODES.POLICY, `log in within ${LOGIN_DEADLINE_MS / 1000} s`);
        }, LOGIN_DEADLINE_MS);
        ws.send(hello());
      },
      message: onFrame,
      drain: flushReplies,
      close(ws) {
        const connection = ws.data;
        if (connection.loginDeadline) clearTimeout(connection.loginDeadline);
        connection.queuedReplies = [];
        sockets.delete(ws);
        webSockets.remove(connection.ip);
        signOut(ctx, ws);
      },
      // A trusted proxy carries many clients on its connections; they are counted per client at the upgrade.
      connection: (address) => config.trustedProxies.trusts(address) || tcpConnections.add(address),
      connectionClosed: (address) => tcpConnections.remove(address),
    },
  );

  let port: number;
  let metricsServer: MetricsServer | null = null;
  try {
    port = await engine.listen(config.host, config.port);
    if (config.metrics) metricsServer = await startMetricsServer(config.metrics, metrics, log);
  } catch (error) {
    engine.stopListening();
    metrics.close();
    await Promise.all([accounts.close(), sessions.close(), history.close()]);
    unlock();
    throw error;
  }
  log('info', `engine: ${engine.name} (${engineChoice.reason})`);
  const url = `${config.tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  // The engine skips publishing to a socket whose send buffer is over MAX_BACKPRESSURE, so memory
  // stays bounded; this sweep then cuts such a consumer off (it will reconnect and resume by
  // sequence number) and logs it, which a silent close-on-limit option would not.
  const slowConsumerSweep = setInterval(() => {
    for (const ws of sockets) {
      if (ws.bufferedBytes() < MAX_BACKPRESSURE) continue;
      log('warn', 'slow consumer: messages were dropped for it; closing it', { ip: ws.data.ip, buffered: ws.bufferedBytes() });
      ws.terminate();
    }
  }, SLOW_CONSUMER_SWEEP_MS);
  slowConsumerSweep.unref();

  let closing: Promise<void> | null = null;
  return {
    port,
    url,
    engine: engine.name,
    close() {
      closing ??= (async () => {
        clearInterval(slowConsumerSweep);
        engine.stopListening();
        await metricsServer?.close();
        metrics.close();
        for (const ws of [...sockets]) ws.end(CLOSE_CODES.GOING_AWAY, 'relay shutting down');
        await Promise.all([accounts.close(), sessions.close(), history.close()]);
        unlock();
      })();
      return closing;
    },
  };
}

interface RouteHandlers {
  health(exchange: HttpExchange): void;
  avatarPreflight(exchange: HttpExchange): void;
  avatarUpload(exchange: HttpExchange): void;
  avatar(exchange: HttpExchange): void;
  staticFile(exchange: HttpExchange): void;
}

/** The HTTP route table. Every GET route answers HEAD too (uptime monitors send HEAD). */
function httpRoutes(handle: RouteHandlers): (exchange: HttpExchange) => void {
  const table: { path: string; prefix?: true; methods: Record<string, (exchange: HttpExchange) => void> }[] = [
    { path: '/v1/health', methods: { GET: handle.health } },
    { path: AVATAR_UPLOAD_PATH, methods: { OPTIONS: handle.avatarPreflight, POST: handle.avatarUpload } },
    { path: AVATAR_URL_PREFIX, prefix: true, methods: { GET: handle.avatar } },
    { path: '/', prefix: true, methods: { GET: handle.staticFile } },
  ];
  return (exchange) => {
    const route = table.find((entry) => (entry.prefix ? exchange.path.startsWith(entry.path) : exchange.path === entry.path));
    // node:http passes on targets that are not a path (`*`, `http://host/...`); none names anything here.
    if (!route) return exchange.respond(textReply(404, 'not found'));
    const method = exchange.method === 'HEAD' ? 'GET' : exchange.method;
    const handler = route.methods[method];
    if (handler) return handler(exchange);
    const allowed = Object.keys(route.methods).flatMap((name) => (name === 'GET' ? ['GET', 'HEAD'] : [name]));
    const refusal = jsonReply(405, { ok: false, error: { code: 'INVALID_FIELD', message: 'Method not allowed.' } });
    exchange.respond({ ...refusal, headers: { ...refusal.headers, allow: allowed.join(', ') } });
  };
}

function preflightReply(config: RelayConfig, origin: string): HttpReply {
  if (!originAllowed(config, origin)) return { status: 403, headers: { vary: 'origin' }, body: null };
  return {
    status: 204,
    headers: {
      'access-control-allow-origin': origin || '*',
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-max-age': '86400',
      vary: 'origin',
    },
    body: null,
  };
}

function avatarReply(image: { body: Buffer; mime: string }): HttpReply {
  return {
    status: 200,
    headers: {
      'content-type': image.mime,
      'x-content-type-options': 'nosniff',
      'cache-control': 'public, max-age=31536000, immutable',
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      'content-security-policy': "default-src 'none'",
    },
    body: image.body,
  };
}
