/**
 * Baseline 1: the plainest `ws` broadcast server. Every connected client is in the one room; a
 * frame from any client is sent to every open client with a loop, as most `ws` chat examples do.
 * It does not parse, validate, verify signatures or store anything: it exists only to compare the
 * cost of fan-out with the relay's. Run by bench/run.ts as its own process (its CPU is read from
 * /proc/<pid>/stat like the relay's).
 */
import WebSocket, { WebSocketServer } from 'ws';
import { serve } from './lib/serve.ts';

// No permessage-deflate: the relay does not compress either, so both pay for the same bytes.
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
  ws.on('error', () => undefined);
});

const listening = new Promise<number>((resolve, reject) => {
  wss.once('listening', () => resolve((wss.address() as { port: number }).port));
  wss.once('error', reject);
});

serve({
  address: async () => ({
    url: `ws://127.0.0.1:${await listening}`,
    clients: wss.clients.size,
  }),
});
