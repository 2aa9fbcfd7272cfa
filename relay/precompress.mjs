// The compressed copies of a served file, made once: by the build for relay/dist/browser (beside each
// file, as NAME.br and NAME.gz) and by the relay at start for the demo pages, which are only copied. Plain
// JavaScript so that scripts/build.mjs, which Node runs without a TypeScript loader, shares it.
import zlib from 'node:zlib';

/** The content codings the relay serves besides identity, in its order of preference, by file suffix. */
export const CODING_SUFFIX = { br: '.br', gzip: '.gz' };

const COMPRESSIBLE = /\.(js|mjs|css|html|map|json|svg|txt)$/;

export function isCompressible(fileName) {
  return COMPRESSIBLE.test(fileName);
}

/**
 * Brotli at its highest quality in text mode and gzip -9: both cost time once, at build, and save
 * bytes on every download. The initial <sov-chat> chunk (74.8 KB) takes 120 ms at brotli 11 and
 * comes to 22.7 KB, against 25.4 KB gzip. A copy that is not smaller is left out: gzip adds 18
 * bytes of framing, so a file of a few bytes would only grow.
 */
export function precompress(body) {
  const copies = {
    br: zlib.brotliCompressSync(body, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: zlib.constants.BROTLI_MAX_QUALITY,
        [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    }),
    gzip: zlib.gzipSync(body, { level: 9 }),
  };
  return Object.fromEntries(Object.entries(copies).filter(([, copy]) => copy.length < body.length));
}
