import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import { readImageInfo } from '../../relay/avatars/image-info.ts';
import type { ImageInfo } from '../../relay/avatars/image-info.ts';

// ---------------------------------------------------------------------------
// Builders

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`../fixtures/images/${name}`, import.meta.url)));
}

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const u32be = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const u32le = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const u24le = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255];

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function pngChunk(type: string, data: ArrayLike<number> = []): Uint8Array {
  const body = concat(ascii(type), data);
  return concat(u32be(data.length), body, u32be(crc32(body) >>> 0));
}

function ihdr(width: number, height: number, bitDepth = 8, colourType = 2, interlace = 0): Uint8Array {
  return pngChunk('IHDR', [...u32be(width), ...u32be(height), bitDepth, colourType, 0, 0, interlace]);
}

/** A real, decodable RGB PNG of the given size (each scanline: filter byte 0 + pixels). */
function makePng(width: number, height: number, extraChunks: Uint8Array[] = []): Uint8Array {
  const raw = new Uint8Array(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * (1 + width * 3) + 1 + x * 3;
      raw[p] = x & 255;
      raw[p + 1] = y & 255;
      raw[p + 2] = 128;
    }
  }
  return concat(
    PNG_SIGNATURE,
    ihdr(width, height),
    ...extraChunks,
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND'),
  );
}

function jpegSegment(marker: number, payload: ArrayLike<number>): number[] {
  const length = payload.length + 2;
  return [0xff, marker, length >> 8, length & 255, ...Array.from(payload)];
}

function sof(marker: number, width: number, height: number): number[] {
  // precision 8, height, width, one component (id 1, 1x1 sampling, table 0)
  return jpegSegment(marker, [8, height >> 8, height & 255, width >> 8, width & 255, 1, 1, 0x11, 0]);
}

const SOI = [0xff, 0xd8];
const EOI = [0xff, 0xd9];
const SOS_AND_DATA = [...jpegSegment(0xda, [1, 1, 0, 0, 63, 0]), 0x12, 0x34, 0xff, 0x00, 0x56];

function riffChunk(type: string, payload: ArrayLike<number>): Uint8Array {
  return concat(ascii(type), u32le(payload.length), payload, payload.length & 1 ? [0] : []);
}

function webp(...chunks: Uint8Array[]): Uint8Array {
  const body = concat(ascii('WEBP'), ...chunks);
  return concat(ascii('RIFF'), u32le(body.length), body);
}

/** The RIFF chunks (header + payload + pad) of a WebP file, by type. */
function webpChunks(file: Uint8Array): Map<string, Uint8Array> {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out = new Map<string, Uint8Array>();
  let o = 12;
  while (o < file.length) {
    const size = view.getUint32(o + 4, true);
    const type = new TextDecoder().decode(file.subarray(o, o + 4));
    out.set(type, file.slice(o, o + 8 + size + (size & 1)));
    o += 8 + size + (size & 1);
  }
  return out;
}

function vp8x(flags: number, width: number, height: number): Uint8Array {
  return riffChunk('VP8X', [flags, 0, 0, 0, ...u24le(width - 1), ...u24le(height - 1)]);
}

function anmf(x: number, y: number, width: number, height: number, frame: Uint8Array): Uint8Array {
  const header = [...u24le(x / 2), ...u24le(y / 2), ...u24le(width - 1), ...u24le(height - 1), ...u24le(100), 0];
  return riffChunk('ANMF', concat(header, frame));
}

const ANIM = riffChunk('ANIM', [0, 0, 0, 0, 0, 0]);

const png300x200 = makePng(300, 200);
const jpegFixture = fixture('chromium-300x200.jpg');
const vp8Fixture = fixture('simple-300x200-vp8.webp');
const vp8Chunk = webpChunks(vp8Fixture).get('VP8 ')!;

// ---------------------------------------------------------------------------

describe('readImageInfo: PNG', () => {
  test('reads width and height from a PNG', () => {
    assert.deepEqual(readImageInfo(png300x200), {
      format: 'png',
      mime: 'image/png',
      width: 300,
      height: 200,
    });
  });

  test('reads width and height from a PNG written by a real encoder (Chromium)', () => {
    assert.deepEqual(readImageInfo(fixture('chromium-300x200.png')), {
      format: 'png',
      mime: 'image/png',
      width: 300,
      height: 200,
    });
  });

  test('accepts a 1x1 PNG and an interlaced PNG', () => {
    assert.deepEqual(readImageInfo(makePng(1, 1)), {
      format: 'png',
      mime: 'image/png',
      width: 1,
      height: 1,
    });
    const interlaced = concat(
      PNG_SIGNATURE,
      ihdr(2, 3, 8, 0, 1),
      pngChunk('IDAT', deflateSync(new Uint8Array(11))), // Adam7 passes of a 2x3 grey image: 2+2+4+3 bytes
      pngChunk('IEND'),
    );
    assert.equal(readImageInfo(interlaced)?.height, 3);
  });

  test('accepts ancillary chunks between the header and the image data', () => {
    const png = makePng(300, 200, [pngChunk('tEXt', ascii('Comment\0hello')), pngChunk('gAMA', u32be(45455))]);
    assert.deepEqual(readImageInfo(png), {
      format: 'png',
      mime: 'image/png',
      width: 300,
      height: 200,
    });
  });

  test('reads a PNG from a view that does not start at the beginning of its ArrayBuffer', () => {
    const padded = concat([1, 2, 3, 4, 5], png300x200, [9, 9, 9]);
    const view = padded.subarray(5, 5 + png300x200.length);
    assert.equal(readImageInfo(view)?.width, 300);
    assert.equal(readImageInfo(Buffer.from(png300x200))?.width, 300);
  });

  test('refuses a PNG truncated at any point', () => {
    const small = makePng(3, 2);
    for (let cut = 0; cut < small.length; cut++) {
      assert.equal(readImageInfo(small.subarray(0, cut)), null, `cut at ${cut}`);
    }
  });

  test('refuses a PNG whose image data no longer matches its CRC', () => {
    const corrupted = png300x200.slice();
    corrupted[33 + 8 + 5]! ^= 0x01; // a byte inside the IDAT data
    assert.equal(readImageInfo(corrupted), null);
  });

  test('refuses a PNG whose header CRC field is wrong', () => {
    const corrupted = png300x200.slice();
    corrupted[8 + 8 + 13]! ^= 0x80; // first byte of the IHDR CRC
    assert.equal(readImageInfo(corrupted), null);
  });

  test('refuses a PNG with HTML appended after IEND', () => {
    assert.equal(readImageInfo(concat(png300x200, ascii('<html><script>alert(1)</script></html>'))), null);
  });

  test('refuses a PNG with even a single byte after IEND', () => {
    assert.equal(readImageInfo(concat(png300x200, [0])), null);
  });

  test('refuses a PNG with a ZIP archive appended', () => {
    const zipEnd = [0x50, 0x4b, 0x05, 0x06, ...new Array<number>(18).fill(0)];
    assert.equal(readImageInfo(concat(png300x200, zipEnd)), null);
  });

  test('refuses a PNG that stops before IEND', () => {
    const withoutIend = png300x200.subarray(0, png300x200.length - 12);
    assert.equal(readImageInfo(withoutIend), null);
  });

  test('refuses a PNG whose first chunk is not IHDR', () => {
    const png = concat(PNG_SIGNATURE, pngChunk('tEXt', ascii('a\0b')), png300x200.subarray(8));
    assert.equal(readImageInfo(png), null);
  });

  test('refuses a PNG whose IHDR has the wrong length', () => {
    const longIhdr = pngChunk('IHDR', [...u32be(300), ...u32be(200), 8, 2, 0, 0, 0, 0]);
    assert.equal(readImageInfo(concat(PNG_SIGNATURE, longIhdr, png300x200.subarray(33))), null);
  });

  test('refuses a PNG with a second IHDR that could redefine the size', () => {
    const png = makePng(300, 200, [ihdr(20000, 20000)]);
    assert.equal(readImageInfo(png), null);
  });

  test('refuses a PNG whose chunk length runs past the end of the buffer', () => {
    const png = png300x200.slice();
    png.set(u32be(0x7ffffff0), 33); // length field of the IDAT chunk
    assert.equal(readImageInfo(png), null);
    png.set(u32be(0xffffffff), 33);
    assert.equal(readImageInfo(png), null);
  });

  test('refuses a PNG with zero width or zero height', () => {
    const rest = png300x200.subarray(33);
    assert.equal(readImageInfo(concat(PNG_SIGNATURE, ihdr(0, 200), rest)), null);
    assert.equal(readImageInfo(concat(PNG_SIGNATURE, ihdr(300, 0), rest)), null);
  });

  test('refuses a PNG with an impossible bit depth or colour type', () => {
    const rest = png300x200.subarray(33);
    assert.equal(readImageInfo(concat(PNG_SIGNATURE, ihdr(300, 200, 3, 2), rest)), null);
    assert.equal(readImageInfo(concat(PNG_SIGNATURE, ihdr(300, 200, 8, 5), rest)), null);
  });

  test('refuses a PNG with no image data', () => {
    assert.equal(readImageInfo(concat(PNG_SIGNATURE, ihdr(300, 200), pngChunk('IEND'))), null);
  });
});

describe('readImageInfo: JPEG', () => {
  test('reads width and height from a JPEG', () => {
    assert.deepEqual(readImageInfo(jpegFixture), {
      format: 'jpeg',
      mime: 'image/jpeg',
      width: 300,
      height: 200,
    });
  });

  test('reads the size from a progressive (SOF2) frame header', () => {
    const jpeg = concat(SOI, sof(0xc2, 640, 480), SOS_AND_DATA, EOI);
    assert.deepEqual(readImageInfo(jpeg), {
      format: 'jpeg',
      mime: 'image/jpeg',
      width: 640,
      height: 480,
    });
  });

  test('does not mistake DHT, JPG or DAC segments for a frame header', () => {
    const looksLikeSof = [8, 0x7f, 0xff, 0x7f, 0xff, 1, 1, 0x11, 0];
    const jpeg = concat(
      SOI,
      jpegSegment(0xc4, looksLikeSof),
      jpegSegment(0xc8, looksLikeSof),
      jpegSegment(0xcc, looksLikeSof),
      sof(0xc0, 300, 200),
      SOS_AND_DATA,
      EOI,
    );
    assert.deepEqual(readImageInfo(jpeg), {
      format: 'jpeg',
      mime: 'image/jpeg',
      width: 300,
      height: 200,
    });
  });

  test('skips 0xFF fill bytes before a marker', () => {
    const jpeg = concat(
      SOI,
      jpegSegment(0xe0, ascii('JFIF\0')),
      [0xff, 0xff, 0xff],
      sof(0xc0, 300, 200),
      SOS_AND_DATA,
      EOI,
    );
    assert.equal(readImageInfo(jpeg)?.width, 300);
  });

  test('skips standalone RST and TEM markers, which have no length field', () => {
    const jpeg = concat(SOI, [0xff, 0xd0, 0xff, 0x01, 0xff, 0xd7], sof(0xc1, 300, 200), SOS_AND_DATA, EOI);
    assert.deepEqual(readImageInfo(jpeg), {
      format: 'jpeg',
      mime: 'image/jpeg',
      width: 300,
      height: 200,
    });
  });

  test('refuses a JPEG that does not end with EOI', () => {
    assert.equal(readImageInfo(jpegFixture.subarray(0, jpegFixture.length - 2)), null);
    assert.equal(readImageInfo(jpegFixture.subarray(0, jpegFixture.length - 1)), null);
  });

  test('refuses a JPEG with HTML appended after EOI', () => {
    assert.equal(readImageInfo(concat(jpegFixture, ascii('<html><script>alert(1)</script></html>'))), null);
  });

  test('refuses a JPEG truncated at any point', () => {
    for (let cut = 0; cut < jpegFixture.length; cut++) {
      assert.equal(readImageInfo(jpegFixture.subarray(0, cut)), null, `cut at ${cut}`);
    }
  });

  test('refuses a JPEG whose scan starts before any frame header', () => {
    assert.equal(readImageInfo(concat(SOI, SOS_AND_DATA, sof(0xc0, 300, 200), EOI)), null);
  });

  test('refuses a JPEG with no frame header at all', () => {
    assert.equal(readImageInfo(concat(SOI, jpegSegment(0xe0, ascii('JFIF\0')), EOI)), null);
    assert.equal(readImageInfo(concat(SOI, EOI)), null);
  });

  test('refuses a JPEG whose segment length runs past the end of the buffer', () => {
    const jpeg = concat(SOI, [0xff, 0xe1, 0xff, 0xf0, 1, 2, 3], EOI);
    assert.equal(readImageInfo(jpeg), null);
  });

  test('refuses a JPEG segment length shorter than the length field itself', () => {
    const jpeg = concat(SOI, [0xff, 0xe1, 0x00, 0x01], sof(0xc0, 300, 200), SOS_AND_DATA, EOI);
    assert.equal(readImageInfo(jpeg), null);
  });

  test('refuses a JPEG frame header with zero height or zero width', () => {
    assert.equal(readImageInfo(concat(SOI, sof(0xc0, 300, 0), SOS_AND_DATA, EOI)), null);
    assert.equal(readImageInfo(concat(SOI, sof(0xc0, 0, 200), SOS_AND_DATA, EOI)), null);
  });

  test('refuses a JPEG frame header whose length disagrees with its component count', () => {
    const bad = [0xff, 0xc0, 0x00, 0x0a, 8, 0, 200, 1, 44, 1, 1, 0x11]; // says 10, needs 11
    assert.equal(readImageInfo(concat(SOI, bad, SOS_AND_DATA, EOI)), null);
  });

  test('refuses garbage between JPEG segments', () => {
    const jpeg = concat(SOI, jpegSegment(0xe0, ascii('JFIF\0')), [0x00, 0x3c], sof(0xc0, 300, 200), SOS_AND_DATA, EOI);
    assert.equal(readImageInfo(jpeg), null);
    // a restart-marker code without its 0xFF prefix must not be skipped as a standalone marker
    const stray = concat(SOI, jpegSegment(0xe0, ascii('JFIF\0')), [0xd0], sof(0xc0, 300, 200), SOS_AND_DATA, EOI);
    assert.equal(readImageInfo(stray), null);
  });
});

describe('readImageInfo: WebP', () => {
  const expected: ImageInfo = {
    format: 'webp',
    mime: 'image/webp',
    width: 300,
    height: 200,
  };

  test('reads width and height from a lossy (VP8) WebP', () => {
    assert.deepEqual(readImageInfo(vp8Fixture), expected);
  });

  test('reads width and height from a lossless (VP8L) WebP', () => {
    assert.deepEqual(readImageInfo(fixture('simple-300x200-vp8l.webp')), expected);
  });

  test('reads the canvas size from extended (VP8X) WebPs with an ICC profile, alpha or lossless data', () => {
    assert.deepEqual(readImageInfo(fixture('chromium-300x200-vp8x-lossy.webp')), expected);
    assert.deepEqual(readImageInfo(fixture('chromium-300x200-vp8x-lossless.webp')), expected);
    assert.deepEqual(readImageInfo(fixture('chromium-300x200-vp8x-alpha.webp')), expected);
  });

  test('reads the canvas size from an animated WebP', () => {
    const animated = webp(vp8x(0x02, 320, 240), ANIM, anmf(0, 0, 300, 200, vp8Chunk), anmf(20, 40, 300, 200, vp8Chunk));
    assert.deepEqual(readImageInfo(animated), {
      ...expected,
      width: 320,
      height: 240,
    });
  });

  test('refuses an animated WebP whose frame spills outside the canvas', () => {
    const animated = webp(vp8x(0x02, 320, 240), ANIM, anmf(22, 0, 300, 200, vp8Chunk));
    assert.equal(readImageInfo(animated), null);
  });

  test('refuses an animated WebP whose frame header disagrees with its bitstream', () => {
    const animated = webp(vp8x(0x02, 320, 240), ANIM, anmf(0, 0, 30, 20, vp8Chunk));
    assert.equal(readImageInfo(animated), null);
  });

  test('refuses an extended WebP whose canvas size disagrees with its bitstream', () => {
    assert.equal(readImageInfo(webp(vp8x(0, 16, 16), vp8Chunk)), null);
    assert.deepEqual(readImageInfo(webp(vp8x(0, 300, 200), vp8Chunk)), expected);
  });

  test('refuses a WebP with two bitstreams', () => {
    const vp8l = webpChunks(fixture('simple-300x200-vp8l.webp')).get('VP8L')!;
    assert.equal(readImageInfo(webp(vp8x(0, 300, 200), vp8Chunk, vp8l)), null);
    assert.equal(readImageInfo(webp(vp8Chunk, vp8l)), null);
  });

  test('refuses a simple-format WebP carrying extra chunks (metadata needs the VP8X layout)', () => {
    assert.equal(readImageInfo(webp(vp8Chunk, riffChunk('EXIF', ascii('<html></html>')))), null);
  });

  test('refuses a WebP whose RIFF size does not match the file length', () => {
    const grown = concat(vp8Fixture, ascii('<html></html>'));
    assert.equal(readImageInfo(grown), null, 'trailing bytes with the original RIFF size');
    const wrongSize = vp8Fixture.slice();
    wrongSize.set(u32le(vp8Fixture.length - 8 - 2), 4);
    assert.equal(readImageInfo(wrongSize), null, 'RIFF size smaller than the file');
  });

  test('refuses a WebP with trailing bytes even when the RIFF size covers them', () => {
    const grown = concat(vp8Fixture, ascii('<html></html>'));
    grown.set(u32le(grown.length - 8), 4);
    assert.equal(readImageInfo(grown), null);
  });

  test('refuses a WebP truncated at any point', () => {
    for (let cut = 0; cut < vp8Fixture.length; cut++) {
      assert.equal(readImageInfo(vp8Fixture.subarray(0, cut)), null, `cut at ${cut}`);
    }
  });

  test('refuses a WebP whose chunk length runs past the end of the file', () => {
    const bad = vp8Fixture.slice();
    bad.set(u32le(0xfffffff0), 16);
    assert.equal(readImageInfo(bad), null);
  });

  test('refuses a VP8 bitstream without its start code', () => {
    const bad = vp8Fixture.slice();
    bad[20 + 3] = 0x00; // 9D 01 2A start code begins 3 bytes into the payload
    assert.equal(readImageInfo(bad), null);
  });

  test('refuses a VP8 bitstream that does not start with a key frame', () => {
    const bad = vp8Fixture.slice();
    bad[20]! |= 0x01; // frame-tag bit 0 set means inter frame
    assert.equal(readImageInfo(bad), null);
  });

  test('refuses a WebP canvas larger than the format allows (2^32-1 pixels)', () => {
    const huge = webp(vp8x(0x02, 1 << 24, 1 << 24), ANIM, anmf(0, 0, 300, 200, vp8Chunk));
    assert.equal(readImageInfo(huge), null);
  });

  test('refuses a VP8L bitstream without its signature byte', () => {
    const bad = fixture('simple-300x200-vp8l.webp');
    bad[20] = 0x2e;
    assert.equal(readImageInfo(bad), null);
  });

  test('refuses other RIFF formats such as WAVE and AVI', () => {
    for (const kind of ['WAVE', 'AVI ']) {
      const riff = vp8Fixture.slice();
      riff.set(ascii(kind), 8);
      assert.equal(readImageInfo(riff), null, kind);
    }
  });
});

describe('readImageInfo: things that are not avatars', () => {
  test('refuses SVG, even though browsers render it as an image', () => {
    const svg =
      '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"><script>alert(1)</script></svg>';
    assert.equal(readImageInfo(ascii(svg)), null);
    assert.equal(readImageInfo(ascii('<svg width="300" height="200"></svg>')), null);
  });

  test('refuses HTML', () => {
    assert.equal(readImageInfo(ascii('<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>')), null);
  });

  test('refuses a GIF89a', () => {
    // 1x1 transparent GIF
    const gif = [
      0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
      0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
      0x02, 0x44, 0x01, 0x00, 0x3b,
    ];
    assert.equal(readImageInfo(new Uint8Array(gif)), null);
  });

  test('refuses an empty buffer', () => {
    assert.equal(readImageInfo(new Uint8Array(0)), null);
  });

  test('refuses bare magic numbers with nothing behind them', () => {
    assert.equal(readImageInfo(new Uint8Array(PNG_SIGNATURE)), null);
    assert.equal(readImageInfo(new Uint8Array([0xff, 0xd8, 0xff])), null);
    assert.equal(readImageInfo(new Uint8Array([0xff, 0xd8, 0xff, 0xd9])), null);
    assert.equal(readImageInfo(concat(ascii('RIFF'), u32le(4), ascii('WEBP'))), null);
  });

  test('refuses a value that is not a byte array instead of throwing', () => {
    const notBytes = ['\x89PNG', null, undefined, 42, {}, [0x89, 0x50]] as unknown as Uint8Array[];
    for (const value of notBytes) assert.equal(readImageInfo(value), null);
  });
});

describe('readImageInfo: hostile input', () => {
  test('never throws on 2,000 random, bit-flipped and spliced buffers', () => {
    // Deterministic PRNG (mulberry32) so a failure can be reproduced from the seed.
    let seed = 0x5eed1234;
    const rand = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const int = (n: number): number => Math.floor(rand() * n);

    const seeds = [
      makePng(3, 2),
      png300x200,
      fixture('chromium-300x200.png'),
      jpegFixture,
      concat(SOI, sof(0xc2, 640, 480), SOS_AND_DATA, EOI),
      vp8Fixture,
      fixture('simple-300x200-vp8l.webp'),
      fixture('chromium-300x200-vp8x-alpha.webp'),
      webp(vp8x(0x02, 320, 240), ANIM, anmf(0, 0, 300, 200, vp8Chunk)),
    ];
    const prefixes = [PNG_SIGNATURE, [0xff, 0xd8, 0xff], [...ascii('RIFF'), 0, 0, 0, 0, ...ascii('WEBP')]];

    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      let input: Uint8Array;
      const kind = i % 4;
      if (kind === 0) {
        // pure noise, sometimes behind a valid magic number so the parsers are reached
        const noise = new Uint8Array(int(64));
        for (let j = 0; j < noise.length; j++) noise[j] = int(256);
        input = rand() < 0.75 ? concat(prefixes[int(prefixes.length)]!, noise) : noise;
      } else if (kind === 1) {
        // a real image with a few bits flipped
        input = seeds[int(seeds.length)]!.slice();
        for (let flips = 1 + int(8); flips > 0; flips--) input[int(input.length)]! ^= 1 << int(8);
      } else if (kind === 2) {
        // a real image with a few bytes overwritten by extreme values (lengths, sizes)
        input = seeds[int(seeds.length)]!.slice();
        const extremes = [0x00, 0xff, 0x7f, 0x80];
        for (let n = 1 + int(4); n > 0; n--)
          input.fill(extremes[int(extremes.length)]!, int(input.length), int(input.length) + 1 + int(4));
      } else {
        // splice: the head of one image glued to the tail of another, or truncated
        const a = seeds[int(seeds.length)]!;
        const b = seeds[int(seeds.length)]!;
        input =
          rand() < 0.5 ? concat(a.subarray(0, int(a.length)), b.subarray(int(b.length))) : a.subarray(0, int(a.length));
      }

      let result: ImageInfo | null = null;
      assert.doesNotThrow(() => {
        result = readImageInfo(input);
      }, `input #${i}`);
      if (result !== null) {
        accepted++;
        const info: ImageInfo = result;
        assert.ok(Number.isInteger(info.width) && info.width >= 1, `input #${i} width`);
        assert.ok(Number.isInteger(info.height) && info.height >= 1, `input #${i} height`);
        assert.equal(info.mime, `image/${info.format}`);
      }
    }
    // Sanity check that the corpus is not trivially rejected everywhere: a
    // flipped bit in a JPEG's entropy data, for example, is not detectable
    // from the headers and must still be accepted.
    assert.ok(accepted > 0, 'some mutated inputs should still parse');
  });
});
