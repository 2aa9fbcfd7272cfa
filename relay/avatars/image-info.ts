import * as zlib from 'node:zlib';

export type ImageFormat = 'png' | 'jpeg' | 'webp';

export interface ImageInfo {
  format: ImageFormat;
  mime: 'image/png' | 'image/jpeg' | 'image/webp';
  width: number;
  height: number;
}

/**
 * Identifies an avatar upload by magic bytes and reads its dimensions from the
 * headers, without decoding pixels. Returns null for anything that is not a
 * well-formed PNG, JPEG or WebP (SVG, HTML, GIF, truncated files...).
 *
 * Uploads come from strangers on a public relay, so this errs on the side of
 * refusing: the file's declared Content-Type is never trusted, the container
 * structure must account for every byte (so the file cannot double as an HTML
 * page, a ZIP or a script when served back), and the dimensions reported are
 * the ones a decoder would actually allocate for, so the caller's size limit
 * cannot be bypassed by a header that lies.
 */
export function readImageInfo(bytes: Uint8Array): ImageInfo | null {
  // Typed callers cannot pass anything else, but the relay also hands us
  // whatever a JS plugin produced; a wrong type must be a refusal, not a crash.
  if (!(bytes instanceof Uint8Array)) return null;
  const r = new Reader(bytes);
  if (startsWith(bytes, PNG_SIGNATURE)) return readPng(r);
  if (r.u8(0) === 0xff && r.u8(1) === 0xd8 && r.u8(2) === 0xff) return readJpeg(r);
  if (startsWith(bytes, RIFF) && r.ascii(8, 4) === 'WEBP') return readWebp(r);
  return null;
}

// ---------------------------------------------------------------------------
// Bounds-checked reads. Every accessor returns -1 (or '') when out of range
// instead of throwing, so a hostile length field can only ever lead to a
// refusal; callers compare against -1 before using a value.

class Reader {
  readonly bytes: Uint8Array;
  readonly length: number;
  private readonly view: DataView;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.length = bytes.length;
    // Honour byteOffset: Node Buffers are often slices of a shared pool, and
    // reading from offset 0 of the pool would parse someone else's bytes.
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  has(offset: number, count: number): boolean {
    return Number.isSafeInteger(offset) && offset >= 0 && count >= 0 && offset + count <= this.length;
  }
  u8(o: number): number {
    return this.has(o, 1) ? this.view.getUint8(o) : -1;
  }
  u16be(o: number): number {
    return this.has(o, 2) ? this.view.getUint16(o, false) : -1;
  }
  u16le(o: number): number {
    return this.has(o, 2) ? this.view.getUint16(o, true) : -1;
  }
  u24le(o: number): number {
    return this.has(o, 3) ? this.view.getUint16(o, true) | (this.view.getUint8(o + 2) << 16) : -1;
  }
  u32be(o: number): number {
    return this.has(o, 4) ? this.view.getUint32(o, false) : -1;
  }
  u32le(o: number): number {
    return this.has(o, 4) ? this.view.getUint32(o, true) : -1;
  }
  ascii(o: number, count: number): string {
    if (!this.has(o, count)) return '';
    let s = '';
    for (let i = 0; i < count; i++) s += String.fromCharCode(this.view.getUint8(o + i));
    return s;
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;
const RIFF = [0x52, 0x49, 0x46, 0x46] as const;

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function validSize(width: number, height: number): boolean {
  return Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1;
}

// ---------------------------------------------------------------------------
// CRC-32 (ISO-HDLC, as used by PNG). zlib.crc32 only exists from Node 20.15
// and package.json allows any Node 20, so fall back to a table when missing
// rather than failing to load on an older patch release.

type Crc32Fn = (data: Uint8Array) => number;

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

let crcTable: Uint32Array | undefined;
function tableCrc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const crc32: Crc32Fn = typeof nativeCrc32 === 'function' ? (data) => nativeCrc32(data) >>> 0 : tableCrc32;

// ---------------------------------------------------------------------------
// PNG

// Bit depths the PNG spec allows per colour type; anything else is a file no
// conforming decoder will open, so there is no point storing it.
const PNG_BIT_DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const PNG_MAX_DIMENSION = 0x7fffffff;

function readPng(r: Reader): ImageInfo | null {
  let offset = PNG_SIGNATURE.length;
  let width = 0;
  let height = 0;
  let sawIdat = false;
  let first = true;

  // Walking (and CRC-checking) every chunk rather than stopping at IHDR is
  // what makes "ends exactly at IEND" meaningful: otherwise a file could smuggle
  // arbitrary content inside a bogus chunk or after the image.
  while (true) {
    const length = r.u32be(offset);
    // The spec caps chunk lengths at 2^31-1; larger values are only ever
    // produced by corruption or by someone probing for integer overflows.
    if (length < 0 || length > 0x7fffffff) return null;
    const typeStart = offset + 4;
    const dataStart = offset + 8;
    const crcStart = dataStart + length;
    if (!r.has(offset, 12 + length)) return null;
    const type = r.ascii(typeStart, 4);
    if (!/^[A-Za-z]{4}$/.test(type)) return null;

    const expected = r.u32be(crcStart);
    if (crc32(r.bytes.subarray(typeStart, crcStart)) !== expected) return null;

    if (first) {
      // IHDR must come first so that the dimensions we report are the ones
      // the decoder uses, not a decoy later in the stream.
      if (type !== 'IHDR' || length !== 13) return null;
      width = r.u32be(dataStart);
      height = r.u32be(dataStart + 4);
      const bitDepth = r.u8(dataStart + 8);
      const colourType = r.u8(dataStart + 9);
      const compression = r.u8(dataStart + 10);
      const filter = r.u8(dataStart + 11);
      const interlace = r.u8(dataStart + 12);
      if (width > PNG_MAX_DIMENSION || height > PNG_MAX_DIMENSION) return null;
      if (!PNG_BIT_DEPTHS[colourType]?.includes(bitDepth)) return null;
      if (compression !== 0 || filter !== 0 || (interlace !== 0 && interlace !== 1)) return null;
      first = false;
    } else if (type === 'IHDR') {
      return null;
    } else if (type === 'IDAT') {
      sawIdat = true;
    } else if (type === 'IEND') {
      if (length !== 0 || !sawIdat) return null;
      // Anything after IEND is ignored by image decoders but not by browsers
      // sniffing HTML or by unzip reading a central directory from the end.
      return crcStart + 4 === r.length && validSize(width, height)
        ? { format: 'png', mime: 'image/png', width, height }
        : null;
    }
    offset = crcStart + 4;
  }
}

// ---------------------------------------------------------------------------
// JPEG

function isSofMarker(marker: number): boolean {
  // C4 (DHT), C8 (JPG extension) and CC (DAC) share the SOFn range but carry
  // tables, not frame geometry; reading them as SOF yields garbage dimensions.
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function readJpeg(r: Reader): ImageInfo | null {
  // A JPEG decoder stops at the first EOI, so anything after it (HTML, a zip) is invisible to us
  // but not to a browser or unzip. So the walk goes through every segment and the entropy-coded
  // scans to the first real EOI, which must be the file's last two bytes.
  if (r.length < 4 || r.u8(r.length - 2) !== 0xff || r.u8(r.length - 1) !== 0xd9) return null;

  let size: { width: number; height: number } | null = null;
  let offset = 2; // past SOI
  while (true) {
    if (r.u8(offset) !== 0xff) return null;
    // Any number of 0xFF fill bytes may precede a marker code.
    while (r.u8(offset) === 0xff) offset++;
    const marker = r.u8(offset);
    offset++;
    if (marker < 0) return null;
    if (marker === 0xd9) return size && offset === r.length ? { format: 'jpeg', mime: 'image/jpeg', ...size } : null;

    // Standalone markers have no length field; reading one would desync the
    // walk and let crafted bytes be mistaken for a frame header.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    // 0x00 is byte stuffing, only meaningful inside entropy-coded data. A
    // second SOI or a scan before any frame header means there are no
    // trustworthy dimensions to report.
    if (marker === 0x00 || marker === 0xd8 || (marker === 0xda && !size)) return null;

    const length = r.u16be(offset);
    if (length < 2 || !r.has(offset, length)) return null;

    if (isSofMarker(marker)) {
      if (size) return null; // one frame per image
      // Lf = 8 + 3 * Nf: precision, height, width, component count, then three
      // bytes per component. A mismatch means the header is not what it claims.
      const height = r.u16be(offset + 3);
      const width = r.u16be(offset + 5);
      const components = r.u8(offset + 7);
      if (length < 8 || components < 1 || length !== 8 + 3 * components) return null;
      // Height 0 defers the real height to a DNL marker after the first scan;
      // we refuse rather than report a size the decoder will later change.
      if (!validSize(width, height)) return null;
      size = { width, height };
    }
    offset += length;
    if (marker === 0xda) {
      // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte) or a restart marker inside
      // it; any other marker ends the scan (the next table, scan or EOI).
      while (
        offset < r.length - 1 &&
        !(r.u8(offset) === 0xff && r.u8(offset + 1) !== 0x00 && (r.u8(offset + 1) < 0xd0 || r.u8(offset + 1) > 0xd7))
      )
        offset++;
    }
  }
}

// ---------------------------------------------------------------------------
// WebP

interface RiffChunk {
  type: string;
  start: number; // first payload byte
  size: number; // payload size, excluding the pad byte
}

/**
 * Splits [start, end) into RIFF chunks, or returns null unless the chunks
 * (each padded to an even length) tile the range exactly. Leaving no
 * unaccounted bytes is the point: there is nowhere to hide a second payload.
 */
function riffChunks(r: Reader, start: number, end: number): RiffChunk[] | null {
  const chunks: RiffChunk[] = [];
  let offset = start;
  while (offset < end) {
    if (offset + 8 > end) return null;
    const type = r.ascii(offset, 4);
    const size = r.u32le(offset + 4);
    if (type === '' || size < 0) return null;
    const next = offset + 8 + size + (size & 1);
    if (next > end) return null;
    chunks.push({ type, start: offset + 8, size });
    offset = next;
  }
  return offset === end ? chunks : null;
}

interface Size {
  width: number;
  height: number;
}

function readVp8(r: Reader, c: RiffChunk): Size | null {
  if (c.size < 10) return null;
  const tag = r.u24le(c.start);
  const keyFrame = (tag & 1) === 0;
  const version = (tag >> 1) & 7;
  const showFrame = (tag >> 4) & 1;
  const firstPartitionSize = tag >>> 5;
  // Same sanity checks libwebp applies before trusting the frame header; a
  // still image is always a single shown key frame.
  if (!keyFrame || version > 3 || !showFrame || firstPartitionSize >= c.size) return null;
  if (r.u8(c.start + 3) !== 0x9d || r.u8(c.start + 4) !== 0x01 || r.u8(c.start + 5) !== 0x2a) return null;
  // The top two bits are an upscaling hint for the renderer, not part of the
  // decoded size.
  const width = r.u16le(c.start + 6) & 0x3fff;
  const height = r.u16le(c.start + 8) & 0x3fff;
  return validSize(width, height) ? { width, height } : null;
}

function readVp8l(r: Reader, c: RiffChunk): Size | null {
  if (c.size < 5 || r.u8(c.start) !== 0x2f) return null;
  const bits = r.u32le(c.start + 1);
  if (bits < 0) return null;
  // Only version 0 exists; a decoder must reject the others.
  if (bits >>> 29 !== 0) return null;
  return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
}

/** Size of the single VP8/VP8L bitstream among `chunks`; other chunk types (ALPH, ICCP, EXIF, unknown) are allowed. */
function bitstreamSize(r: Reader, chunks: readonly RiffChunk[]): Size | null {
  const streams = chunks.filter((c) => c.type === 'VP8 ' || c.type === 'VP8L');
  // libwebp decodes the first one it meets; a second would be a place to hide
  // a different image behind the one we measured.
  if (streams.length !== 1) return null;
  const s = streams[0]!;
  return s.type === 'VP8 ' ? readVp8(r, s) : readVp8l(r, s);
}

const VP8X_FLAG_ANIMATION = 0x02;

function readWebp(r: Reader): ImageInfo | null {
  // The RIFF size is what a decoder trusts; data beyond it is ignored by the
  // decoder but is still served to whoever downloads the avatar.
  if (r.u32le(4) !== r.length - 8) return null;
  const chunks = riffChunks(r, 12, r.length);
  const head = chunks?.[0];
  if (!chunks || !head) return null;

  let size: Size | null;
  if (head.type === 'VP8 ' || head.type === 'VP8L') {
    // Simple format: exactly one bitstream chunk; metadata needs VP8X.
    size = chunks.length === 1 ? bitstreamSize(r, chunks) : null;
  } else if (head.type === 'VP8X') {
    size = readVp8x(r, head, chunks.slice(1));
  } else {
    return null;
  }
  return size && validSize(size.width, size.height)
    ? {
        format: 'webp',
        mime: 'image/webp',
        width: size.width,
        height: size.height,
      }
    : null;
}

function readVp8x(r: Reader, head: RiffChunk, rest: readonly RiffChunk[]): Size | null {
  if (head.size < 10) return null;
  const flags = r.u8(head.start);
  const width = r.u24le(head.start + 4) + 1;
  const height = r.u24le(head.start + 7) + 1;
  // The spec caps the canvas area at 2^32-1 pixels.
  if (width * height > 0xffffffff) return null;

  if (flags & VP8X_FLAG_ANIMATION) {
    // Each frame is decoded into the canvas, so the canvas bounds all
    // allocations only if every frame actually fits inside it.
    if (!rest.some((c) => c.type === 'ANIM')) return null;
    const frames = rest.filter((c) => c.type === 'ANMF');
    if (frames.length === 0) return null;
    for (const f of frames) {
      if (f.size < 16) return null;
      const x = r.u24le(f.start) * 2;
      const y = r.u24le(f.start + 3) * 2;
      const fw = r.u24le(f.start + 6) + 1;
      const fh = r.u24le(f.start + 9) + 1;
      if (x + fw > width || y + fh > height) return null;
      const sub = riffChunks(r, f.start + 16, f.start + f.size);
      const frameSize = sub && bitstreamSize(r, sub);
      if (!frameSize || frameSize.width !== fw || frameSize.height !== fh) return null;
    }
    return { width, height };
  }

  // For a still image the caller limits the canvas size, but the decoder
  // allocates for the bitstream; libwebp refuses a mismatch and so do we, or a
  // small canvas could front a 16383x16383 bitstream.
  const stream = bitstreamSize(r, rest);
  if (!stream || stream.width !== width || stream.height !== height) return null;
  return { width, height };
}
