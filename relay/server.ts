/**
 * The relay's wiring: stores, the engine, and one route table. HTTP serves the health check, the
 * demo, the browser bundles, avatars and avatar uploads; one WebSocket route carries the protocol.
 * Nothing here knows which engine runs underneath (see engine/engine.ts).
 */
import path from 'node:path';
import { SovError } from '../sdk/errors.ts';
import { AVATAR_UPLOAD_PATH, CLOSE_CODES, LIMITS, PROTOCOL_VERSION, WS_PATH } from '../sdk/protocol.ts';
import { maxMessageBytes } from '../sdk/protocol/budget.ts';
import { clientAddress } from './client-address.ts';
import { originAllowed } from './config.ts';
import type { RelayConfig } from './config.ts';
import { connectionCounters } from './connection-limits.ts';
import { lockDataFolder, loadRelayId, loadServerSecret } from './data-folder.ts';
import { chooseEngine } from './engine/choose-engine.ts';
import type { HttpExchange, HttpReply, HttpRequestHead, UpgradeDecision } from './engine/engine.ts';
import { HTTP_TRANSPORT_PREFIX, HttpTransport } from './http-transport.ts';
import type { Logger } from './logger.ts';
import { RelayMetrics, startMetricsServer } from './metrics.ts';
import type { MetricsServer } from './metrics.ts';
import { Presence } from './presence.ts';
import { KeyedLimiter } from './rate-limit.ts';
import { flushReplies, newConnection, releaseConnection } from './connection.ts';
import type { Connection, Socket } from './connection.ts';
import { frameHandler } from './frames.ts';
import { USERS_TOPIC, eventFrame } from './handlers/context.ts';
import type { RelayContext } from './handlers/context.ts';
import { signOut } from './handlers/sessions.ts';
import { Accounts } from './store/accounts.ts';
import { AccountIds } from './store/account-ids.ts';
import { realFileOps } from './store/append-log.ts';
import type { FileOps } from './store/append-log.ts';
import { HistoryStore } from './store/history.ts';
import { Sessions } from './store/sessions.ts';
import { loadStaticFiles, staticReply } from './static-files.ts';
import { relayPackageRoot } from './package-root.ts';
import { AVATAR_URL_PREFIX, AvatarStore } from './avatars/avatar-store.ts';
import { handleAvatarUpload, jsonReply } from './avatars/avatar-upload.ts';

export const RELAY_VERSION = 'sov-relay/0.1.0';
/** Per-socket send buffer cap: a consumer this far behind is cut off instead of growing memory. */
const MAX_BACKPRESSURE = 1024 * 1024;
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
  /** The relay's stable id (relay.id in the data folder), announced in every hello. */
  relayId: string;
  /** Stops accepting, closes connections, flushes and fsyncs every log. */
  close(): Promise<void>;
}

const textReply = (status: number, text: string): HttpReply => ({
  status,
  headers: {
    'content-type': 'text/plain; charset=utf-8',
    'x-content-type-options': 'nosniff',
  },
  body: text,
});

export async function startRelay(config: RelayConfig, log: Logger): Promise<RunningRelay> {
  const engineChoice = chooseEngine(config.engine);
  const unlock = lockDataFolder(config.dataDir);
  const secret = await loadServerSecret(config.dataDir);
  const relayId = await loadRelayId(config.dataDir);
  const presence = new Presence<Socket>();
  const sockets = new Set<Socket>();
  const metrics = new RelayMetrics({
    engine: engineChoice.name,
    connections: () => sockets.size,
    sessions: () => [...sockets].filter((ws) => ws.data.session !== null).length,
    rooms: () => presence.roomCount(),
  });
  const fileOps: FileOps = {
    ...realFileOps,
    async datasync(handle) {
      const started = performance.now();
      await realFileOps.datasync(handle);
      metrics.fsyncTook((performance.now() - started) / 1000);
    },
  };
  const accountIds = new AccountIds();
  const [accounts, sessions, history] = await Promise.all([
    Accounts.open(config.dataDir, accountIds, secret, log, fileOps),
    Sessions.open(config.dataDir, accountIds, config.sessionDays * 24 * 60 * 60 * 1000, log, fileOps),
    HistoryStore.open(config.dataDir, accountIds, config.historySize, log, fileOps),
  ]);
  const avatars = new AvatarStore(path.join(config.dataDir, 'avatars'));
  const staticFiles = loadStaticFiles([
    path.join(relayPackageRoot(), 'dist', 'demo'),
    path.join(relayPackageRoot(), 'dist', 'browser'),
  ]);
  const { webSockets, tcpConnections } = connectionCounters(config.maxConnectionsPerAddress);

  const publish = (topic: string, frame: string): number => {
    const members = engine.publish(topic, frame) + httpTransport.publish(topic, frame);
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
  const hello = (peer: Socket): string =>
    eventFrame({
      ev: 'hello',
      protocol: PROTOCOL_VERSION,
      relay: RELAY_VERSION,
      relayId,
      time: Date.now(),
      limits: {
        ...LIMITS,
        historySize: config.historySize,
        connectionBudget: config.connectionBudget,
        maxMessageBytes: maxMessageBytes(config.connectionBudget),
      },
      budgetSpent: peer.budgetSpent(),
    });

  const onFrame = frameHandler(ctx);

  /** A new connection, WebSocket or HTTP: the origin check and the per-address cap. */
  const admit = (head: HttpRequestHead): UpgradeDecision<Connection> => {
    if (!originAllowed(config, head.header('origin'))) return { refuse: textReply(403, 'origin not allowed') };
    // Behind a trusted reverse proxy every peer is the proxy: the client is the one it forwarded.
    const ip = clientAddress(head.peerAddress, head.header('x-forwarded-for'), config.trustedProxies);
    if (!webSockets.add(ip)) {
      log('warn', 'refused a connection: too many from one address', {
        ip,
        limit: config.maxConnectionsPerAddress,
      });
      return {
        refuse: jsonReply(429, {
          ok: false,
          error: new SovError('TOO_MANY_CONNECTIONS').toWire(),
        }),
      };
    }
    return { accept: newConnection(ip, config.requestsPerSecond) };
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
      avatars
        .read(exchange.path.slice(AVATAR_URL_PREFIX.length))
        .then((image) => exchange.respond(image ? avatarReply(image) : textReply(404, 'not found')));
    },
    staticFile: (exchange) => exchange.respond(staticReply(staticFiles, exchange)),
    httpTransport: (exchange) => httpTransport.handle(exchange),
  });

  const opened = (ws: Socket): void => {
    sockets.add(ws);
    ws.data.loginDeadline = setTimeout(() => {
      if (!ws.data.session) ws.end(CLOSE_CODES.POLICY, `log in within ${LOGIN_DEADLINE_MS / 1000} s`);
    }, LOGIN_DEADLINE_MS);
    ws.send(hello(ws));
  };
  const closed = (ws: Socket): void => {
    releaseConnection(ws.data);
    sockets.delete(ws);
    webSockets.remove(ws.data.ip);
    signOut(ctx, ws, true);
  };
  const httpTransport = new HttpTransport({
    admit,
    open: opened,
    frame: onFrame,
    close: closed,
    cors: (origin) =>
      originAllowed(config, origin) ? { 'access-control-allow-origin': origin || '*', vary: 'origin' } : null,
    budget: config.connectionBudget,
    log,
  });

  const engine = engineChoice.create<Connection>(
    {
      tls: config.tls,
      wsPath: WS_PATH,
      maxFrameBytes: LIMITS.maxFrameBytes,
      maxBackpressureBytes: MAX_BACKPRESSURE,
      idleTimeoutSeconds: IDLE_TIMEOUT_S,
      connectionBudgetBytes: config.connectionBudget,
    },
    {
      http: routes,
      upgrade: admit,
      open: opened,
      message: onFrame,
      drain: flushReplies,
      close: closed,
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
      log('warn', 'slow consumer: messages were dropped for it; closing it', {
        ip: ws.data.ip,
        buffered: ws.bufferedBytes(),
      });
      ws.terminate();
    }
  }, SLOW_CONSUMER_SWEEP_MS);
  slowConsumerSweep.unref();

  let closing: Promise<void> | null = null;
  return {
    port,
    url,
    engine: engine.name,
    relayId,
    close() {
      closing ??= (async () => {
        clearInterval(slowConsumerSweep);
        engine.stopListening();
        httpTransport.close();
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
  httpTransport(exchange: HttpExchange): void;
  health(exchange: HttpExchange): void;
  avatarPreflight(exchange: HttpExchange): void;
  avatarUpload(exchange: HttpExchange): void;
  avatar(exchange: HttpExchange): void;
  staticFile(exchange: HttpExchange): void;
}

/** The HTTP route table. Every GET route answers HEAD too (uptime monitors send HEAD). */
function httpRoutes(handle: RouteHandlers): (exchange: HttpExchange) => void {
  const table: {
    path: string;
    prefix?: true;
    methods: Record<string, (exchange: HttpExchange) => void>;
  }[] = [
    { path: '/v1/health', methods: { GET: handle.health } },
    {
      path: AVATAR_UPLOAD_PATH,
      methods: { OPTIONS: handle.avatarPreflight, POST: handle.avatarUpload },
    },
    { path: AVATAR_URL_PREFIX, prefix: true, methods: { GET: handle.avatar } },
    {
      path: HTTP_TRANSPORT_PREFIX,
      prefix: true,
      methods: {
        GET: handle.httpTransport,
        POST: handle.httpTransport,
        OPTIONS: handle.httpTransport,
      },
    },
    { path: '/', prefix: true, methods: { GET: handle.staticFile } },
  ];
  return (exchange) => {
    const route = table.find((entry) =>
      entry.prefix ? exchange.path.startsWith(entry.path) : exchange.path === entry.path,
    );
    // node:http passes on targets that are not a path (`*`, `http://host/...`); none names anything here.
    if (!route) return exchange.respond(textReply(404, 'not found'));
    const method = exchange.method === 'HEAD' ? 'GET' : exchange.method;
    const handler = route.methods[method];
    if (handler) return handler(exchange);
    const allowed = Object.keys(route.methods).flatMap((name) => (name === 'GET' ? ['GET', 'HEAD'] : [name]));
    const refusal = jsonReply(405, {
      ok: false,
      error: { code: 'INVALID_FIELD', message: 'Method not allowed.' },
    });
    exchange.respond({
      ...refusal,
      headers: { ...refusal.headers, allow: allowed.join(', ') },
    });
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
