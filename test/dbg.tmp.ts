import WebSocket from 'ws';
import { SovClient, memoryStorage } from '../sdk/index.ts';
import { startHostileProxy } from '/work/main/test/helpers/hostile-proxy.ts';
import { startRelay } from '/work/main/test/helpers/relay-process.ts';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const relay = await startRelay();
const proxy = await startHostileProxy({ target: { host: '127.0.0.1', port: relay.port }, mode: 'stall', seed: 10, stallGapMs: [1000, 3000] });
const mk = (url: string) => new SovClient({ relay: url, WebSocket: WebSocket as any, storage: memoryStorage() });
const [a, b, w] = [mk(proxy.url), mk(proxy.url), mk(relay.url)];
await Promise.all([a, b, w].map((c, i) => c.register({ username: `u${Date.now()}${i}`, password: 'bots need passwords', firstName: 'x', lastName: 'y' })));
console.error('A', a.user!.id, 'B', b.user!.id);
const name = `r${Date.now()}`;
const [ra, rb] = [await a.join(name), await b.join(name)];
const rw = await w.join(name);
rw.on('join', (u) => console.error(Date.now() % 100000, 'WATCHER join', u.id));
rw.on('leave', (u) => console.error(Date.now() % 100000, 'WATCHER leave', u.userId));
for (let i = 0; i < 20; i++) { void ra.send(`${i}`).catch(() => undefined); await sleep(500); }
for (let i = 0; i < 20; i++) { if (rb.messages.length >= 20) break; await sleep(1000); }
console.error('B has', rb.messages.length);
a.close(); b.close(); w.close(); await proxy.stop(); await relay.stop(); process.exit(0);
