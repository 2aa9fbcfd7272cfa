/**
 * The relay's Prometheus metrics and the endpoint that serves them (--metrics HOST:PORT).
 *
 * The endpoint has its own node:http server on its own address rather than a route beside the
 * chat: it has no authentication, so it belongs on loopback or a private network, while the chat
 * faces the internet. Counting is a few additions per event; all reading happens at scrape time.
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import type { ErrorCode } from '../sdk/errors.ts';
import type { RequestType } from '../sdk/protocol.ts';
import type { Logger } from './logger.ts';
import { errorText } from './logger.ts';
import { Registry } from './prometheus.ts';
import type { Counter, Histogram } from './prometheus.ts';

/** Live figures the relay reports when scraped. */
export interface RelayGauges {
  /** Open WebSocket connections, logged in or not. */
  connections(): number;
  /** Connections that are logged in. */
  sessions(): number;
  /** Rooms with at least one member online. */
  rooms(): number;
}

export interface RelayMetricsOptions extends RelayGauges {
  /** The engine actually running (after `auto` was resolved). */
  engine: 'uws' | 'node';
}

/**
 * Fan-out of one message to a 1,000-member room costs about 5.5 ms on the benchmark VM (one write
 * per member, BENCHMARKS.md), a small room well under a millisecond: buckets from 0.1 ms to 1 s.
 */
const FANOUT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** fdatasync takes tens of microseconds on a fast SSD and tens of milliseconds on a busy virtual disk; seconds mean trouble. */
const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** The event-loop sampling timer's period; every sample includes it, so it is taken off. */
const LOOP_RESOLUTION_MS = 10;

/** The relay's metrics, named once here; the relay calls the typed methods as things happen. */
export class RelayMetrics {
  private readonly registry = new Registry();
  private readonly requests: Counter<'type'>;
  private readonly refusals: Counter<'code'>;
  private readonly accepted: Counter<never>;
  private readonly deliveries: Counter<never>;
  private readonly bytesOut: Counter<never>;
  private readonly fanout: Histogram;
  private readonly fsync: Histogram;
  private readonly loopDelay: IntervalHistogram;

  constructor(options: RelayMetricsOptions) {
    const r = this.registry;
    r.gauge('sov_engine_info', 'The engine serving the relay (always 1).', () => 1, { engine: options.engine });
    r.gauge('sov_connections', 'Open WebSocket connections, logged in or not.', () => options.connections());
    r.gauge('sov_sessions', 'WebSocket connections that are logged in.', () => options.sessions());
    r.gauge('sov_rooms', 'Rooms with at least one member online.', () => options.rooms());
    this.requests = r.counter('sov_requests_total', 'Requests received, by request type.', ['type']);
    this.refusals = r.counter('sov_refusals_total', 'Requests and uploads refused, by error code.', ['code']);
    this.accepted = r.counter('sov_messages_accepted_total', 'Chat messages accepted and stored.');
    this.deliveries = r.counter(
      'sov_deliveries_total',
      'Chat messages handed to members (one per member online in the room).',
    );
    this.bytesOut = r.counter('sov_bytes_out_total', 'Bytes of WebSocket frames sent to clients.');
    this.fanout = r.histogram(
      'sov_fanout_seconds',
      'Time from accepting a message to its publish call returning.',
      FANOUT_BUCKETS,
    );
    this.fsync = r.histogram('sov_fsync_seconds', 'Time one fdatasync of a log took.', FSYNC_BUCKETS);
    this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loopDelay.enable();
    r.gauge(
      'sov_event_loop_lag_seconds',
      `99th percentile of event-loop delay since the previous scrape (sampled every ${LOOP_RESOLUTION_MS} ms).`,
      () => this.takeLoopLag(),
    );
    r.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss());
  }

  requestReceived(type: RequestType): void {
    this.requests.inc({ type });
  }

  refused(code: ErrorCode): void {
    this.refusals.inc({ code });
  }

  messageAccepted(): void {
    this.accepted.inc({});
  }

  delivered(members: number): void {
    this.deliveries.inc({}, members);
  }

  bytesSent(bytes: number): void {
    this.bytesOut.inc({}, bytes);
  }

  fanoutTook(seconds: number): void {
    this.fanout.observe(seconds);
  }

  fsyncTook(seconds: number): void {
    this.fsync.observe(seconds);
  }

  render(): string {
    return this.registry.render();
  }

  /** Stops sampling the event loop. */
  close(): void {
    this.loopDelay.disable();
  }

  /**
   * p99 rather than the mean: a 200 ms stall among a thousand quiet samples moves the mean by
   * 0.2 ms and the p99 by the whole stall. Read and reset, so each scrape covers the time since the
   * one before; two Prometheus servers scraping the same relay would each see part of it.
   */
  private takeLoopLag(): number {
    const samples = this.loopDelay.count;
    const p99 = this.loopDelay.percentile(99);
    this.loopDelay.reset();
    return samples === 0 ? 0 : Math.max(0, p99 / 1e6 - LOOP_RESOLUTION_MS) / 1000;
  }
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsServer {
  /** Where Prometheus scrapes, e.g. http://127.0.0.1:9464/metrics. */
  url: string;
  close(): Promise<void>;
}

/** The metrics address cannot be listened on (taken, not local, not allowed). */
export class MetricsListenError extends Error {}

/**
 * Serves `render()` at GET and HEAD /metrics on its own address; 404 elsewhere, 405 for other
 * methods. Resolves once listening. @throws MetricsListenError naming the address.
 */
export async function startMetricsServer(
  address: { host: string; port: number },
  metrics: { render(): string },
  log: Logger,
): Promise<MetricsServer> {
  // Short timeouts: a scrape is one small request, and a socket left hanging holds a descriptor.
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let body: string;
    try {
      body = metrics.render();
    } catch (error) {
      log('error', 'metrics: rendering failed', { error: errorText(error) });
      res.writeHead(500).end();
      return;
    }
    // Node leaves out the body of a HEAD reply by itself; the headers still say its length.
    res
      .writeHead(200, {
        'content-type': METRICS_CONTENT_TYPE,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      })
      .end(body);
  });
  const hostText = address.host.includes(':') ? `[${address.host}]` : address.host;
  await new Promise<void>((resolve, reject) => {
    const refused = (error: NodeJS.ErrnoException): void => {
      const why =
        error.code === 'EADDRINUSE'
          ? 'the port is in use'
          : error.code === 'EADDRNOTAVAIL'
            ? 'no such local address'
            : error.code === 'EACCES'
              ? 'permission denied'
              : errorText(error);
      reject(new MetricsListenError(`metrics: cannot listen on ${hostText}:${address.port} (${why})`));
    };
    server.once('error', refused).listen(address.port, address.host, () => {
      server.off('error', refused);
      resolve();
    });
  });
  // Later errors (none are expected once listening) are logged; unhandled, one would end the relay.
  server.on('error', (error) => log('error', 'metrics: server error', { error: errorText(error) }));
  const bound = server.address();
  const url = `http://${hostText}:${typeof bound === 'object' && bound !== null ? bound.port : address.port}/metrics`;
  log('info', 'metrics: serving', { url });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Prometheus keeps its connection alive between scrapes; that must not hold up shutdown.
        server.closeAllConnections();
      }),
  };
}
