/** Image bytes for avatar tests: the real fixture files, and PNG chunks to build crafted ones. */
import fs from 'node:fs';
import zlib from 'node:zlib';

export const fixture = (name: string): Buffer =>
  fs.readFileSync(new URL(`../fixtures/images/${name}`, import.meta.url));

/** One PNG chunk: length, type, data, CRC-32 over type and data. */
export function pngChunk(type: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}
