import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import type { Logger } from '../../relay/logger.ts';
import { METRICS_CONTENT_TYPE, MetricsListenError, RelayMetrics, startMetricsServer } from '../../relay/metrics.ts';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.ts';

const quiet: Logger = () => undefined;

const RELAY_METRICS = [
  'sov_engine_info',
  'sov_connections',
  'sov_sessions',
  'sov_rooms',
  'sov_requests_total',
  'sov_refusals_total',
  'sov_messages_accepted_total',
  'sov_deliveries_total',
  'sov_bytes_out_total',
  'sov_fanout_seconds',
  'sov_fsync_seconds',
  'sov_event_loop_lag_seconds',
  'process_resident_memory_bytes',
];

function relayMetrics(figures = { connections: 0, sessions: 0, rooms: 0 }): RelayMetrics {
  const metrics = new RelayMetrics({
    engine: 'node',
    connections: () => figures.connections,
    sessions: () => figures.sessions,
    rooms: () => figures.rooms,
  });
  after(() => metrics.close());
  return metrics;
}

describe('relay metrics', () => {
  test('defines every relay metric with help and type, in a text Prometheus accepts', () => {
    const families = parsePrometheusText(relayMetrics().render());
    assert.deepEqual([...families.keys()].sort(), [...RELAY_METRICS].sort());
    for (const [name, family] of families) assert.ok(family.help.length > 10, `${name} explains itself`);
    assert.equal(families.get('sov_fanout_seconds')!.type, 'histogram');
    assert.equal(families.get('sov_requests_total')!.type, 'counter');
    assert.equal(families.get('sov_connections')!.type, 'gauge');
    assert.equal(sampleValue(families, 'sov_engine_info', { engine: 'node' }), 1);
  });

  test('gauges show the relay as it is at scrape time', () => {
    const figures = { connections: 3, sessions: 2, rooms: 1 };
    const metrics = relayMetrics(figures);
    figures.connections = 10;
    const families = parsePrometheusText(metrics.render());
    assert.equal(sampleValue(families, 'sov_connections'), 10);
    assert.equal(sampleValue(families, 'sov_sessions'), 2);
    assert.equal(sampleValue(families, 'sov_rooms'), 1);
    assert.ok(sampleValue(families, 'process_resident_memory_bytes')! > 1024 * 1024);
  });

  test('counts requests by type, refusals by code, messages, deliveries and bytes', () => {
    const metrics = relayMetrics();
    metrics.requestReceived('send');
    metrics.requestReceived('send');
    metrics.requestReceived('join');
    metrics.refused('RATE_LIMITED');
    metrics.messageAccepted();
    metrics.delivered(1000);
    metrics.delivered(3);
    metrics.bytesSent(512);
    const families = parsePrometheusText(metrics.render());
    assert.equal(sampleValue(families, 'sov_requests_total', { type: 'send' }), 2);
    assert.equal(sampleValue(families, 'sov_requests_total', { type: 'join' }), 1);
    assert.equal(sampleValue(families, 'sov_refusals_total', { code: 'RATE_LIMITED' }), 1);
    assert.equal(sampleValue(families, 'sov_messages_accepted_total'), 1);
    assert.equal(sampleValue(families, 'sov_deliveries_total'), 1003);
    assert.equal(sampleValue(families, 'sov_bytes_out_total'), 512);
  });

  test('times fan-out and fsync in seconds', () => {
    const metrics = relayMetrics();
    metrics.fanoutTook(0.0055);
    metrics.fsyncTook(0.002);
    metrics.fsyncTook(3);
    const families = parsePrometheusText(metrics.render());
    assert.equal(sampleValue(families, 'sov_fanout_seconds_bucket', { le: '0.005' }), 0);
    assert.equal(sampleValue(families, 'sov_fanout_seconds_bucket', { le: '0.01' }), 1);
    assert.equal(sampleValue(families, 'sov_fsync_seconds_count'), 2);
    assert.equal(sampleValue(families, 'sov_fsync_seconds_bucket', { le: '2.5' }), 1);
    assert.equal(sampleValue(families, 'sov_fsync_seconds_bucket', { le: '+Inf' }), 2);
  });

  test('event-loop lag shows a stall since the previous scrape, and only since then', async () => {
    const metrics = relayMetrics();
    const lag = (): number => sampleValue(parsePrometheusText(metrics.render()), 'sov_event_loop_lag_seconds')!;
    lag();
    const scraped = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stalled = Date.now();
    while (Date.now() - stalled < 150);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const during = lag();
    // At least the stall less the sampling resolution; at most the whole time since the last
    // scrape, which a busy machine may stretch well past the 250 ms asked for.
    assert.ok(during >= 0.1 && during <= (Date.now() - scraped) / 1000, `a 150 ms stall shows, got ${during}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const afterwards = lag();
    // A scrape that had kept the stall's sample would report it again: at least as much as before.
    assert.ok(afterwards < during, `the next scrape starts afresh, got ${afterwards} after ${during}`);
  });
});

async function get(
  url: string,
  method = 'GET',
): Promise<{
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}> {
  return new Promise((resolve, reject) => {
    http
      .request(url, { method, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject)
      .end();
  });
}

describe('metrics endpoint', () => {
  test('answers GET and HEAD /metrics in the Prometheus text format, 404 elsewhere, 405 for other methods', async () => {
    const metrics = relayMetrics({ connections: 7, sessions: 0, rooms: 0 });
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, metrics, quiet);
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const scrape = await get(server.url);
      assert.equal(scrape.status, 200);
      assert.equal(scrape.headers['content-type'], METRICS_CONTENT_TYPE);
      assert.equal(METRICS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
      assert.equal(sampleValue(parsePrometheusText(scrape.body), 'sov_connections'), 7);
      const head = await get(server.url, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.equal(head.headers['content-type'], METRICS_CONTENT_TYPE);
      assert.ok(Number(head.headers['content-length']) > 1000);
      assert.equal((await get(`${server.url}?name[]=sov_rooms`)).status, 200, 'a query string is ignored');
      for (const path of ['/', '/metrics/', '/v1/health', '/metricsx'])
        assert.equal((await get(server.url.replace('/metrics', path))).status, 404, path);
      const post = await get(server.url, 'POST');
      assert.equal(post.status, 405);
      assert.equal(post.headers.allow, 'GET, HEAD');
    } finally {
      await server.close();
    }
  });

  test('listens on IPv6 loopback written in brackets in its URL', async (t) => {
    const metrics = relayMetrics();
    let server;
    try {
      server = await startMetricsServer({ host: '::1', port: 0 }, metrics, quiet);
    } catch (error) {
      if (error instanceof MetricsListenError && /no such local address/.test(error.message))
        return t.skip('no IPv6 loopback here');
      throw error;
    }
    try {
      assert.match(server.url, /^http:\/\/\[::1\]:\d+\/metrics$/);
      assert.equal((await get(server.url)).status, 200);
    } finally {
      await server.close();
    }
  });

  test('a render that throws costs that scrape a 500 and a log line, not the server', async () => {
    const lines: string[] = [];
    let fail = true;
    const server = await startMetricsServer(
      { host: '127.0.0.1', port: 0 },
      { render: () => (fail ? assert.fail('gauge broke') : '# ok\n') },
      (level, message, fields) => lines.push(`${level} ${message} ${JSON.stringify(fields)}`),
    );
    try {
      assert.equal((await get(server.url)).status, 500);
      assert.ok(
        lines.some((line) => line.startsWith('error metrics: rendering failed') && line.includes('gauge broke')),
        lines.join('\n'),
      );
      fail = false;
      assert.equal((await get(server.url)).status, 200);
    } finally {
      await server.close();
    }
  });

  test('a port that is taken fails with a message naming the address', async () => {
    const taken = http.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      await assert.rejects(startMetricsServer({ host: '127.0.0.1', port }, relayMetrics(), quiet), (error: unknown) => {
        assert.ok(error instanceof MetricsListenError);
        assert.equal(error.message, `metrics: cannot listen on 127.0.0.1:${port} (the port is in use)`);
        return true;
      });
    } finally {
      taken.close();
    }
  });

  test('close ends kept-alive scrape connections instead of waiting for them', async () => {
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, relayMetrics(), quiet);
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) =>
      http.get(server.url, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject),
    );
    const started = Date.now();
    await server.close();
    // Waiting for the idle connection instead would take node:http's keep-alive timeout.
    const keepAliveMs = new http.Server().keepAliveTimeout;
    assert.ok(
      Date.now() - started < keepAliveMs,
      `closed in ${Date.now() - started} ms, before the ${keepAliveMs} ms an idle kept-alive connection lasts`,
    );
    agent.destroy();
  });
});
