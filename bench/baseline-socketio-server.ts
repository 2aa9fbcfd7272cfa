/**
 * Baseline 2: a socket.io broadcast server. Each client joins the room "general" on connect; a
 * "message" event from any client is re-emitted to the room with `io.to(room).emit`, the idiomatic
 * socket.io fan-out. WebSocket transport only (no long-polling) and no compression, to match the
 * relay. It does not verify signatures or store anything: fan-out cost comparison only. Run by
 * bench/run.ts as its own process.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { serve } from './lib/serve.ts';

const ROOM = 'general';
const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
});

io.on('connection', (socket) => {
  void socket.join(ROOM);
  socket.on('message', (message: unknown) => {
    io.to(ROOM).emit('message', message);
  });
});

const listening = new Promise<number>((resolve, reject) => {
  http.once('error', reject);
  http.listen(0, '127.0.0.1', () => resolve((http.address() as { port: number }).port));
});

serve({
  address: async () => ({
    url: `http://127.0.0.1:${await listening}`,
    clients: io.engine.clientsCount,
  }),
});
