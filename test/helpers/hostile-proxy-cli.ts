/**
 * Runs hostile proxies (hostile-proxy.ts) in a process of their own.
 *
 * By hand, in front of a relay, to try a client on a hostile network:
 *   node --import tsx test/helpers/hostile-proxy-cli.ts --target 127.0.0.1:8080 --mode freeze,stall [--port 8081]
 *     [--freeze-bytes 16384] [--freeze-ms 30000] [--stall-ms 1000-5000] [--stall-gap-ms 1000-10000] [--seed 1]
 *
 * As the tests' proxy host (`--host`, forked by startHostileProxy): it starts and stops proxies on
 * request over IPC, reports each proxy's stats after every change (batched per event-loop turn), and
 * exits when the test process does.
 */
import { parseArgs } from 'node:util';
import { listenHostile } from './hostile-proxy.ts';
import type { HostMessage, HostRequest, HostileMode, HostileOptions, HostileServer } from './hostile-proxy.ts';

function serveTests(send: (message: HostMessage | { op: 'ready' }) => void): void {
  const proxies = new Map<number, HostileServer>();
  const dirty = new Set<number>();
  const report = (proxy: number): void => {
    if (dirty.size === 0) setImmediate(flush);
    dirty.add(proxy);
  };
  function flush(): void {
    for (const proxy of dirty) {
      const server = proxies.get(proxy);
      if (server) send({ op: 'stats', proxy, stats: server.stats() });
    }
    dirty.clear();
  }
  process.on('message', async (request: HostRequest) => {
    try {
      if (request.op === 'start') {
        const server = await listenHostile(request.options, () => report(request.id));
        proxies.set(request.id, server);
        send({ op: 'reply', id: request.id, port: server.port });
      } else if (request.op === 'stats') {
        // Pending reports go first, so the figures a test reads never run backwards.
        flush();
        send({
          op: 'reply',
          id: request.id,
          stats: proxies.get(request.proxy)!.stats(),
        });
      } else {
        await proxies.get(request.proxy)?.close();
        proxies.delete(request.proxy);
        send({ op: 'reply', id: request.id });
      }
    } catch (error) {
      send({ op: 'reply', id: request.id, error: String(error) });
    }
  });
  process.once('disconnect', () => process.exit(0));
  send({ op: 'ready' });
}

async function serveByHand(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' },
      mode: { type: 'string', default: '' },
      port: { type: 'string', default: '0' },
      'freeze-bytes': { type: 'string' },
      'freeze-ms': { type: 'string' },
      'stall-ms': { type: 'string' },
      'stall-gap-ms': { type: 'string' },
      seed: { type: 'string' },
    },
  });
  const target = /^(.+):(\d+)$/.exec(values.target ?? '');
  if (!target) throw new Error('--target HOST:PORT is required');
  const range = (text: string | undefined): [number, number] | undefined =>
    text === undefined ? undefined : (text.split('-').map(Number) as [number, number]);
  const options: HostileOptions = {
    target: { host: target[1]!, port: Number(target[2]) },
    mode: values.mode.split(',').filter(Boolean) as HostileMode[],
  };
  if (values['freeze-bytes'] !== undefined) options.freezeAfterBytes = Number(values['freeze-bytes']);
  if (values['freeze-ms'] !== undefined) options.freezeAfterMs = Number(values['freeze-ms']);
  const stallMs = range(values['stall-ms']);
  const stallGapMs = range(values['stall-gap-ms']);
  if (stallMs) options.stallMs = stallMs;
  if (stallGapMs) options.stallGapMs = stallGapMs;
  if (values.seed !== undefined) options.seed = Number(values.seed);
  let server: HostileServer | null = null;
  let shown = '';
  server = await listenHostile(
    options,
    () =>
      setImmediate(() => {
        const line = JSON.stringify(server?.stats());
        if (line !== shown) process.stderr.write(`${(shown = line)}\n`);
      }),
    Number(values.port),
  );
  process.stdout.write(
    `listening on http://127.0.0.1:${server.port} (${values.mode || 'faithful'} in front of ${values.target})\n`,
  );
}

if (process.argv.includes('--host') && process.send) serveTests((message) => process.send!(message));
else await serveByHand();
