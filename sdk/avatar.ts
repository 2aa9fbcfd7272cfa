/**
 * Avatar processing and upload, in the browser. Photos are shrunk and masked to a round PNG on
 * the user's device, so the relay stores and serves a small image and never has to decode one.
 */
import type { Pica } from 'pica';
import { SovError } from './errors.ts';
import { onFirstUse } from './lazy.ts';
import { AVATAR_UPLOAD_PATH, LIMITS } from './protocol/frames.ts';
import type { Profile } from './protocol/frames.ts';
import { relayFrameOf, resultOf } from './protocol/relay-frames.ts';

import { AVATAR_SIZE, DEFAULT_AVATAR_MAX_BYTES } from './avatar-limits.ts';

export { AVATAR_SIZE, DEFAULT_AVATAR_MAX_BYTES };

/**
 * The cover-cropped square is copied to a working canvas at most this large before pica resizes it.
 * A few-MB PNG can decode to tens of thousands of pixels a side; this bounds the canvas to 16 MB
 * (mobile browsers fail on larger ones) while leaving pica eight times the output size to work from.
 */
const MAX_WORKING_SIDE = 2048;
/** A 512 KB avatar needs about 45 s at a slow 100 kbit/s uplink; longer means the link is gone. */
const UPLOAD_TIMEOUT_MS = 60_000;

export interface ProcessAvatarOptions {
  /** Files larger than this are refused before decoding; defaults to DEFAULT_AVATAR_MAX_BYTES. */
  maxBytes?: number;
  /** Output side in pixels, 1 to LIMITS.maxAvatarSide; defaults to AVATAR_SIZE. */
  size?: number;
  /** Called with 0..1 as the work advances, ending with 1. */
  onProgress?: (fraction: number) => void;
}

export interface UploadAvatarOptions {
  /** Called with the fraction of bytes sent, ending with 1 once the relay has accepted the image. */
  onProgress?: (fraction: number) => void;
  /** Aborting it cancels the upload, which then rejects with CLOSED. */
  signal?: AbortSignal;
}

type Canvas = OffscreenCanvas | HTMLCanvasElement;
type Context2D = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;

/**
 * Checks, resizes (cover-crop, centred) to size x size with pica, masks to a circle with
 * transparent corners, exports PNG. Rejects only with SovError: FILE_TOO_LARGE, NOT_AN_IMAGE,
 * INVALID_INPUT, or NETWORK when the resizer code cannot be loaded.
 */
export async function processAvatar(file: Blob, options: ProcessAvatarOptions = {}): Promise<Blob> {
  const { maxBytes = DEFAULT_AVATAR_MAX_BYTES, size = AVATAR_SIZE, onProgress } = options;
  if (!(maxBytes > 0)) throw new SovError('INVALID_INPUT', 'maxBytes must be a positive number.');
  if (!Number.isInteger(size) || size < 1 || size > LIMITS.maxAvatarSide) {
    throw new SovError('INVALID_INPUT', `size must be a whole number from 1 to ${LIMITS.maxAvatarSide}.`);
  }
  // Both refusals come before decoding: decoding a huge or hostile file is exactly the cost to avoid.
  if (file.size > maxBytes) {
    throw new SovError(
      'FILE_TOO_LARGE',
      `The file is ${formatBytes(file.size)}; the limit is ${formatBytes(maxBytes)}.`,
    );
  }
  if (file.type !== '' && !file.type.startsWith('image/')) throw new SovError('NOT_AN_IMAGE');

  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new SovError('NOT_AN_IMAGE');
  }
  try {
    if (bitmap.width === 0 || bitmap.height === 0) throw new SovError('NOT_AN_IMAGE');
    report(onProgress, 0.1);
    const resizer = await loadPica();
    const square = cropToSquare(bitmap, Math.max(size, MAX_WORKING_SIDE));
    const resized = createCanvas(size, size).canvas;
    await resizer.resize(square, resized);
    release(square);
    report(onProgress, 0.8);
    const png = await toPng(maskToCircle(resized, size));
    report(onProgress, 1);
    return png;
  } catch (error) {
    if (error instanceof SovError) throw error;
    // Canvas allocation, pica and encoding fail only for images this browser cannot handle.
    throw new SovError('NOT_AN_IMAGE', 'This browser could not process the image; try a smaller one.');
  } finally {
    bitmap.close();
  }
}

/**
 * processAvatar, then uploadAvatar, with one progress (0..1) over both: what SovClient.setAvatar
 * runs. Here rather than in ./client.ts, which loads this module on first use: only a profile
 * editor needs it, and <sov-chat>'s first download has a size budget.
 */
export async function setAvatar(
  httpBase: string,
  token: string,
  file: Blob,
  options: { maxBytes?: number; onProgress?: (fraction: number) => void },
): Promise<Profile> {
  const progress = options.onProgress;
  const image = await processAvatar(file, {
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
    ...(progress ? { onProgress: (fraction: number) => progress(fraction * 0.5) } : {}),
  });
  return uploadAvatar(
    httpBase,
    token,
    image,
    progress ? { onProgress: (fraction: number) => progress(0.5 + fraction * 0.5) } : {},
  );
}

/**
 * Uploads a processed avatar to the relay (httpBase like 'https://chat.example.org' or
 * 'http://127.0.0.1:8080'), resolves with the updated Profile. Rejects with the relay's code
 * (BAD_IMAGE, IMAGE_TOO_LARGE, SESSION_INVALID, RATE_LIMITED...), NETWORK, TIMEOUT, INVALID_INPUT
 * for a malformed address or token, or CLOSED when cancelled.
 */
export async function uploadAvatar(
  httpBase: string,
  token: string,
  image: Blob,
  options: UploadAvatarOptions = {},
): Promise<Profile> {
  const { onProgress, signal } = options;
  const cancelled = (): SovError => new SovError('CLOSED', 'Upload cancelled.');
  if (signal?.aborted) throw cancelled();
  // The relay would refuse it too, but only after the whole body had crossed the network.
  if (image.size > LIMITS.maxAvatarBytes) {
    throw new SovError('IMAGE_TOO_LARGE', `Avatars may be at most ${LIMITS.maxAvatarBytes / 1024} KB.`);
  }

  // XMLHttpRequest rather than fetch: only it reports upload progress in every browser.
  const xhr = new XMLHttpRequest();
  try {
    xhr.open('POST', httpBase.replace(/\/+$/, '') + AVATAR_UPLOAD_PATH);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', 'image/png');
  } catch {
    throw new SovError('INVALID_INPUT', 'The relay address or the session token is malformed.');
  }
  xhr.timeout = UPLOAD_TIMEOUT_MS;
  xhr.responseType = 'text';

  return new Promise<Profile>((resolve, reject) => {
    let sent = 0;
    const progress = (fraction: number): void => {
      if (fraction <= sent) return;
      sent = fraction;
      report(onProgress, fraction);
    };
    const onAbort = (): void => xhr.abort();
    const finish = (outcome: Profile | SovError): void => {
      signal?.removeEventListener('abort', onAbort);
      if (outcome instanceof SovError) return reject(outcome);
      progress(1);
      resolve(outcome);
    };

    xhr.upload.onprogress = (event) => {
      // Stop short of 1: the relay may still refuse the image once it has all of it.
      if (event.lengthComputable && event.total > 0) progress(Math.min(event.loaded / event.total, 0.99));
    };
    xhr.onload = () => finish(readReply(xhr.status, xhr.responseText));
    xhr.onerror = () => finish(new SovError('NETWORK'));
    xhr.ontimeout = () =>
      finish(new SovError('TIMEOUT', `The relay did not take the upload within ${UPLOAD_TIMEOUT_MS / 1000} seconds.`));
    xhr.onabort = () => finish(cancelled());
    signal?.addEventListener('abort', onAbort, { once: true });
    xhr.send(image);
  });
}

let picaInstance: Promise<Pica> | undefined;

/** pica's own chunk: a failed load is asked for again under a new address (./lazy.ts). */
const loadPicaModule = onFirstUse(() => import('pica'), 'the image resizer');

/** pica is ~16 KB gzipped and only needed when someone changes an avatar, so it loads on first use. */
function loadPica(): Promise<Pica> {
  picaInstance ??= Promise.all([loadPicaModule(), picaFeatures()]).then(
    // One instance for the page: it owns the worker pool that later resizes reuse. The named class,
    // not the default factory: pica's .d.ts files sit in a CommonJS package, so TypeScript types
    // `default` as the whole module while browsers get the factory.
    ([module, features]) => new module.Pica({ features }),
    (error: unknown) => {
      picaInstance = undefined; // a failed chunk load may succeed on the next attempt
      throw error instanceof SovError
        ? error
        : new SovError('NETWORK', `The image resizer could not be loaded: ${String(error)}`);
    },
  );
  return picaInstance;
}

/**
 * What pica may use on this page. Its workers start from blob: URLs and its fast path compiles
 * WebAssembly; a host page's Content-Security-Policy may forbid either (no `worker-src blob:`, no
 * 'wasm-unsafe-eval'), and pica then waits forever for a worker that never starts. So both are
 * tried first, and pica gets only what works; plain JS on the main thread always does.
 */
type PicaFeature = 'js' | 'wasm' | 'ww';

async function picaFeatures(): Promise<PicaFeature[]> {
  const features: PicaFeature[] = ['js'];
  try {
    new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    features.push('wasm');
  } catch {
    // No WebAssembly compilation allowed here.
  }
  if (await blobWorkersStart()) features.push('ww');
  return features;
}

function blobWorkersStart(): Promise<boolean> {
  return new Promise((resolve) => {
    let worker: Worker;
    const url = URL.createObjectURL(new Blob(['postMessage(1)'], { type: 'text/javascript' }));
    const done = (works: boolean): void => {
      clearTimeout(timer);
      worker?.terminate();
      URL.revokeObjectURL(url);
      resolve(works);
    };
    const timer = setTimeout(() => done(false), 2000);
    try {
      worker = new Worker(url);
      worker.onmessage = () => done(true);
      worker.onerror = () => done(false);
    } catch {
      done(false);
    }
  });
}

/** The centred square of the source (cover crop), at most maxSide pixels a side. */
function cropToSquare(bitmap: ImageBitmap, maxSide: number): Canvas {
  const side = Math.min(bitmap.width, bitmap.height);
  // Whole-pixel offsets: a fractional source origin would resample, and blur, every pixel.
  const left = Math.floor((bitmap.width - side) / 2);
  const top = Math.floor((bitmap.height - side) / 2);
  const target = Math.min(side, maxSide);
  const { canvas, context } = createCanvas(target, target);
  context.imageSmoothingQuality = 'high';
  context.drawImage(bitmap, left, top, side, side, 0, 0, target, target);
  return canvas;
}

/** A fresh canvas with the image cut to a circle: everything outside it is alpha 0. */
function maskToCircle(image: Canvas, size: number): Canvas {
  const { canvas, context } = createCanvas(size, size);
  context.drawImage(image, 0, 0);
  // Keep only what lies under a filled disc. Not clip(): Chromium clips without antialiasing, which
  // leaves a jagged edge, while fills are antialiased everywhere.
  context.globalCompositeOperation = 'destination-in';
  context.beginPath();
  context.arc(size / 2, size / 2, size / 2, 0, 2 * Math.PI);
  context.fill();
  return canvas;
}

function createCanvas(width: number, height: number): { canvas: Canvas; context: Context2D } {
  // OffscreenCanvas needs no document and never touches layout; the element is the fallback for
  // browsers whose OffscreenCanvas has no 2D context (Safari before 16.4).
  if (typeof OffscreenCanvas !== 'undefined') {
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d');
    if (context) return { canvas, context };
  }
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d');
  if (!context) throw new SovError('NOT_AN_IMAGE', 'This browser could not allocate a canvas for the image.');
  return { canvas, context };
}

/** Frees a canvas's pixels now: Safari on iOS caps total canvas memory and collects canvases late. */
function release(canvas: Canvas): void {
  canvas.width = 0;
  canvas.height = 0;
}

async function toPng(canvas: Canvas): Promise<Blob> {
  if (!('toBlob' in canvas)) return canvas.convertToBlob({ type: 'image/png' });
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new SovError('NOT_AN_IMAGE', 'This browser could not encode the image as PNG.');
  return blob;
}

/**
 * Reads the relay's `{ ok, result: { user } } | { ok: false, error }` answer, checked as the SDK
 * checks every reply (./protocol/relay-frames.ts): an avatar is a profile update, with its result.
 */
function readReply(status: number, body: string): Profile | SovError {
  const reply = relayFrameOf(body);
  if ('error' in reply) return reply.error;
  // A reply that breaks the protocol: BAD_RELAY_FRAME, naming the field at fault.
  if ('refused' in reply) return reply.refused;
  if ('result' in reply) {
    const result = resultOf('update-profile', reply.result);
    return result instanceof SovError ? result : result.user;
  }
  // A proxy's HTML error page, a truncated body: nothing the SDK can act on.
  return new SovError('INTERNAL', `The upload got HTTP ${status} with a body that is not a relay reply.`);
}

/** Calls an app's progress callback without letting its bug turn into this operation's failure. */
function report(onProgress: ((fraction: number) => void) | undefined, fraction: number): void {
  try {
    onProgress?.(fraction);
  } catch (error) {
    reportError(error);
  }
}

function formatBytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  if (mb >= 1) return `${Number(mb.toFixed(1))} MB`;
  return `${Number((bytes / 1024).toFixed(1))} KB`;
}
