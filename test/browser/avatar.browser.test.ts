import { expect } from '@esm-bundle/chai';
import { AVATAR_SIZE, DEFAULT_AVATAR_MAX_BYTES, processAvatar, uploadAvatar } from '../../sdk/avatar.ts';
import { toBase64Url } from '../../sdk/encoding.ts';
import { SovError } from '../../sdk/errors.ts';
import type { ErrorCode } from '../../sdk/errors.ts';
import type { Profile } from '../../sdk/protocol.ts';
import { relayInfo, uniqueName } from './relay.ts';

type Rgb = [number, number, number];
const ORANGE: Rgb = [230, 120, 20];
const TEAL: Rgb = [20, 160, 150];
const RED: Rgb = [220, 30, 40];
const GREEN: Rgb = [40, 180, 60];
const BLUE: Rgb = [30, 60, 210];

const css = ([r, g, b]: Rgb): string => `rgb(${r}, ${g}, ${b})`;

/** A PNG drawn on a canvas: `paint` fills it. */
async function drawnPng(
  width: number,
  height: number,
  paint: (context: OffscreenCanvasRenderingContext2D) => void,
): Promise<Blob> {
  const canvas = new OffscreenCanvas(width, height);
  paint(canvas.getContext('2d')!);
  return canvas.convertToBlob({ type: 'image/png' });
}

/** Decodes an image and reads its RGBA pixels. */
async function pixels(image: Blob): Promise<{
  width: number;
  height: number;
  at(x: number, y: number): number[];
}> {
  const bitmap = await createImageBitmap(image);
  const { width, height } = bitmap;
  const context = new OffscreenCanvas(width, height).getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const data = context.getImageData(0, 0, width, height).data;
  return {
    width,
    height,
    at: (x, y) => [...data.subarray((y * width + x) * 4, (y * width + x) * 4 + 4)],
  };
}

function expectColour(pixel: number[], colour: Rgb, where: string): void {
  const [r, g, b, a] = pixel;
  expect(a, `${where} alpha`).to.equal(255);
  for (const [index, channel] of [r, g, b].entries()) {
    expect(
      Math.abs(channel! - colour[index]!),
      `${where} is ${pixel.join(',')}, not ${colour.join(',')}`,
    ).to.be.at.most(2);
  }
}

async function rejection(promise: Promise<unknown>): Promise<SovError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(SovError);
    return error as SovError;
  }
  throw new Error('expected a rejection');
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<SovError> {
  const error = await rejection(promise);
  expect(error.code, error.message).to.equal(code);
  return error;
}

const randomBase64Url = (length: number): string => toBase64Url(crypto.getRandomValues(new Uint8Array(length)));
/** RFC 8032 section 7.1, TEST 1 (d75a9801...511a). */
const RFC8032_TEST1_PUBLIC_KEY = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo';

/** Registers a fresh account over a raw WebSocket and returns its session token and profile. */
async function register(wsUrl: string): Promise<{ token: string; user: Profile }> {
  const socket = new WebSocket(wsUrl);
  try {
    const reply = await new Promise<{
      ok: boolean;
      result: { token: string; user: Profile };
    }>((resolve, reject) => {
      socket.onopen = () =>
        socket.send(
          JSON.stringify({
            id: 1,
            type: 'register',
            username: uniqueName('avatar'),
            firstName: 'Ada',
            lastName: 'Lovelace',
            kdf: {
              alg: 'scrypt',
              N: 131072,
              r: 8,
              p: 1,
              salt: randomBase64Url(16),
            },
            authKey: randomBase64Url(32),
            keySalt: randomBase64Url(32),
            // The relay takes only prime-order keys; these accounts never sign, so one fixed valid key serves.
            publicKey: RFC8032_TEST1_PUBLIC_KEY,
          }),
        );
      socket.onmessage = (event) => {
        const frame = JSON.parse(event.data as string);
        if (frame.re === 1) resolve(frame);
      };
      socket.onerror = () => reject(new Error('the relay WebSocket failed'));
    });
    expect(reply.ok, JSON.stringify(reply)).to.equal(true);
    return reply.result;
  } finally {
    socket.close();
  }
}

describe('processAvatar', () => {
  it('turns an 800x600 picture into a 256x256 round PNG with transparent corners and the same colours', async () => {
    const source = await drawnPng(800, 600, (context) => {
      context.fillStyle = css(ORANGE);
      context.fillRect(0, 0, 800, 600);
      context.fillStyle = css(TEAL);
      context.fillRect(300, 200, 200, 200);
    });
    const avatar = await processAvatar(source);
    expect(avatar.type).to.equal('image/png');
    const image = await pixels(avatar);
    expect([image.width, image.height]).to.deep.equal([AVATAR_SIZE, AVATAR_SIZE]);
    expect(image.at(0, 0)[3], 'top-left corner alpha').to.equal(0);
    expect(image.at(AVATAR_SIZE - 1, AVATAR_SIZE - 1)[3], 'bottom-right corner alpha').to.equal(0);
    expectColour(image.at(AVATAR_SIZE / 2, AVATAR_SIZE / 2), TEAL, 'centre');
    expectColour(image.at(AVATAR_SIZE / 2, 8), ORANGE, 'top edge inside the circle');
  });

  it('smooths the circle edge instead of leaving jagged steps', async () => {
    const source = await drawnPng(300, 300, (context) => {
      context.fillStyle = css(TEAL);
      context.fillRect(0, 0, 300, 300);
    });
    const image = await pixels(await processAvatar(source));
    const alphas = Array.from({ length: AVATAR_SIZE }, (_, x) => image.at(x, 20)[3]!);
    expect(
      alphas.some((alpha) => alpha > 0 && alpha < 255),
      'a partly transparent pixel on row 20',
    ).to.equal(true);
  });

  it('cover-crops a tall 300x900 picture to its middle square', async () => {
    const source = await drawnPng(300, 900, (context) => {
      for (const [index, colour] of [RED, GREEN, BLUE].entries()) {
        context.fillStyle = css(colour);
        context.fillRect(0, index * 300, 300, 300);
      }
    });
    const image = await pixels(await processAvatar(source));
    expectColour(image.at(AVATAR_SIZE / 2, AVATAR_SIZE / 2), GREEN, 'centre');
    // Squashing instead of cropping would put red at the top and blue at the bottom.
    expectColour(image.at(AVATAR_SIZE / 2, 4), GREEN, 'top of the circle');
    expectColour(image.at(AVATAR_SIZE / 2, AVATAR_SIZE - 5), GREEN, 'bottom of the circle');
  });

  it('honours a custom size', async () => {
    const source = await drawnPng(120, 80, (context) => context.fillRect(0, 0, 120, 80));
    const image = await pixels(await processAvatar(source, { size: 64 }));
    expect([image.width, image.height]).to.deep.equal([64, 64]);
  });

  it('reports progress that rises to 1', async () => {
    const source = await drawnPng(400, 400, (context) => context.fillRect(0, 0, 400, 400));
    const seen: number[] = [];
    await processAvatar(source, {
      onProgress: (fraction) => seen.push(fraction),
    });
    expect(seen.length).to.be.greaterThan(1);
    expect(seen).to.deep.equal([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).to.equal(1);
  });

  it('accepts an image file whose type the browser left empty', async () => {
    const png = await drawnPng(50, 50, (context) => context.fillRect(0, 0, 50, 50));
    const untyped = new Blob([await png.arrayBuffer()]);
    expect(untyped.type).to.equal('');
    expect((await processAvatar(untyped)).type).to.equal('image/png');
  });

  it('refuses a file over 4 MB with FILE_TOO_LARGE before trying to decode it', async () => {
    const decode = globalThis.createImageBitmap;
    let decodes = 0;
    globalThis.createImageBitmap = ((...args: Parameters<typeof decode>) => {
      decodes++;
      return decode(...args);
    }) as typeof decode;
    try {
      const huge = new Blob([new Uint8Array(DEFAULT_AVATAR_MAX_BYTES + 1)], {
        type: 'image/png',
      });
      const error = await expectCode(processAvatar(huge), 'FILE_TOO_LARGE');
      expect(error.message).to.contain('4 MB');
    } finally {
      globalThis.createImageBitmap = decode;
    }
    expect(decodes).to.equal(0);
  });

  it('refuses an image over a configured limit with FILE_TOO_LARGE', async () => {
    const noise = await drawnPng(100, 100, (context) => {
      const data = context.createImageData(100, 100);
      crypto.getRandomValues(data.data);
      context.putImageData(data, 0, 0);
    });
    expect(noise.size).to.be.greaterThan(1000);
    await expectCode(processAvatar(noise, { maxBytes: 1000 }), 'FILE_TOO_LARGE');
  });

  it('refuses a text file with NOT_AN_IMAGE', async () => {
    await expectCode(processAvatar(new File(['just words'], 'notes.txt', { type: 'text/plain' })), 'NOT_AN_IMAGE');
  });

  it('refuses garbage bytes that claim to be a PNG with NOT_AN_IMAGE', async () => {
    const garbage = new Blob([crypto.getRandomValues(new Uint8Array(2048))], {
      type: 'image/png',
    });
    await expectCode(processAvatar(garbage), 'NOT_AN_IMAGE');
  });

  it('refuses an SVG without a size with NOT_AN_IMAGE', async () => {
    const svg = new Blob(['<svg xmlns="http://www.w3.org/2000/svg"><circle r="5"/></svg>'], { type: 'image/svg+xml' });
    await expectCode(processAvatar(svg), 'NOT_AN_IMAGE');
  });

  it('refuses an impossible output size with INVALID_INPUT', async () => {
    const source = await drawnPng(10, 10, (context) => context.fillRect(0, 0, 10, 10));
    await expectCode(processAvatar(source, { size: 0 }), 'INVALID_INPUT');
    await expectCode(processAvatar(source, { size: 4096 }), 'INVALID_INPUT');
  });
});

describe('uploadAvatar against a real relay', function () {
  this.timeout(30_000);

  async function avatarPng(): Promise<Blob> {
    return processAvatar(
      await drawnPng(640, 480, (context) => {
        const gradient = context.createLinearGradient(0, 0, 640, 480);
        gradient.addColorStop(0, css(RED));
        gradient.addColorStop(1, css(BLUE));
        context.fillStyle = gradient;
        context.fillRect(0, 0, 640, 480);
      }),
    );
  }

  it('uploads a processed avatar, reports progress up to 1 and serves the same bytes back', async () => {
    const { url, wsUrl } = await relayInfo();
    const { token, user } = await register(wsUrl);
    const image = await avatarPng();
    const seen: number[] = [];
    const profile = await uploadAvatar(url, token, image, {
      onProgress: (fraction) => seen.push(fraction),
    });

    expect(profile.id).to.equal(user.id);
    expect(profile.avatar).to.match(/^\/avatars\/[0-9a-f]{64}\.png$/);
    expect(seen.at(-1)).to.equal(1);
    expect(seen).to.deep.equal([...seen].sort((a, b) => a - b));

    const served = await fetch(`${url}${profile.avatar}`);
    expect(served.headers.get('content-type')).to.equal('image/png');
    expect(new Uint8Array(await served.arrayBuffer())).to.deep.equal(new Uint8Array(await image.arrayBuffer()));
  });

  it('accepts a relay address with a trailing slash', async () => {
    const { url, wsUrl } = await relayInfo();
    const { token } = await register(wsUrl);
    const profile = await uploadAvatar(`${url}/`, token, await avatarPng());
    expect(profile.avatar).to.match(/^\/avatars\/[0-9a-f]{64}\.png$/);
  });

  it('rejects with SESSION_INVALID when the token is not a live session', async () => {
    const { url } = await relayInfo();
    await expectCode(uploadAvatar(url, randomBase64Url(32), await avatarPng()), 'SESSION_INVALID');
  });

  it('rejects with BAD_IMAGE when the relay finds no image in the bytes', async () => {
    const { url, wsUrl } = await relayInfo();
    const { token } = await register(wsUrl);
    await expectCode(
      uploadAvatar(url, token, new Blob(['definitely not a picture'], { type: 'text/plain' })),
      'BAD_IMAGE',
    );
  });

  it('refuses an image over the relay limit with IMAGE_TOO_LARGE without sending it', async () => {
    const { url, wsUrl } = await relayInfo();
    const { token } = await register(wsUrl);
    const seen: number[] = [];
    const huge = new Blob([new Uint8Array(512 * 1024 + 1)], {
      type: 'image/png',
    });
    await expectCode(
      uploadAvatar(url, token, huge, {
        onProgress: (fraction) => seen.push(fraction),
      }),
      'IMAGE_TOO_LARGE',
    );
    expect(seen).to.deep.equal([]);
  });

  it('rejects with CLOSED when the signal cancels the upload', async () => {
    const { url, wsUrl } = await relayInfo();
    const { token } = await register(wsUrl);
    const controller = new AbortController();
    const upload = uploadAvatar(url, token, await avatarPng(), {
      signal: controller.signal,
    });
    controller.abort();
    const error = await expectCode(upload, 'CLOSED');
    expect(error.message).to.equal('Upload cancelled.');
    await expectCode(
      uploadAvatar(url, token, await avatarPng(), {
        signal: controller.signal,
      }),
      'CLOSED',
    );
  });

  it('rejects with NETWORK when nothing listens at the address', async () => {
    const { url } = await relayInfo();
    // The relay's own port on a loopback address it does not listen on.
    const nowhere = url.replace(/\/\/[^:/]+/, '//127.0.0.2');
    await expectCode(uploadAvatar(nowhere, randomBase64Url(32), await avatarPng()), 'NETWORK');
  });
});
