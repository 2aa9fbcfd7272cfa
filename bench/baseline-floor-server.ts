/**
 * Reference point, not a competitor: the least a Node process can do to fan a WebSocket message
 * out with one write per member. A bare `net` server with a hand-written handshake; a text frame
 * from any client is framed once and the same Buffer is written to every client socket with
 * socket.write. No library, no parsing beyond the frame header, no per-client copy.
 *
 * Each write to a loopback socket is a sendto() whose kernel cost (including the receiving side's
 * TCP processing, which Linux runs in the sender's context on loopback) is charged to this
 * process. Its CPU per delivery is therefore the floor that the relay (uWS writes each member's
 * frame with one sendto as well) and the other baselines are measured against.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { serve } from './lib/serve.ts';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const clients = new Set<net.Socket>();

function frameOf(payload: Buffer): Buffer {
  const length = payload.length;
  const header =
    length < 126
      ? Buffer.from([0x81, length])
      : length < 65536
        ? Buffer.from([0x81, 126, length >> 8, length & 0xff])
        : null;
  if (!header) throw new Error('frame too large for the floor server');
  return Buffer.concat([header, payload]);
}

function broadcast(payload: Buffer): void {
  const frame = frameOf(payload);
  for (const client of clients) client.write(frame);
}

const server = net.createServer((socket) => {
  // ws and uWS both disable Nagle; so does the floor, so every server writes the same segments.
  socket.setNoDelay(true);
  let buffer: Buffer = Buffer.alloc(0);
  let upgraded = false;
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    if (!upgraded) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(buffer.toString('latin1', 0, end))?.[1];
      if (!key) {
        socket.destroy();
        return;
      }
      const accept = crypto
        .createHash('sha1')
        .update(key + WS_GUID)
        .digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      upgraded = true;
      clients.add(socket);
      buffer = buffer.subarray(end + 4);
    }
    // Client frames are always masked (RFC 6455 5.3). Only the sender sends any.
    while (buffer.length >= 2) {
      const opcode = buffer[0]! & 0x0f;
      let length = buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const masked = (buffer[1]! & 0x80) !== 0;
      const maskAt = offset;
      if (masked) offset += 4;
      if (buffer.length < offset + length) return;
      const payload = Buffer.from(buffer.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < length; i++) payload[i]! ^= buffer[maskAt + (i & 3)]!;
      buffer = buffer.subarray(offset + length);
      if (opcode === 0x1) broadcast(payload);
      else if (opcode === 0x8) socket.end();
    }
  });
  socket.on('close', () => clients.delete(socket));
  socket.on('error', () => undefined);
});

const listening = new Promise<number>((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
});

serve({
  address: async () => ({
    url: `ws://127.0.0.1:${await listening}`,
    clients: clients.size,
  }),
});
