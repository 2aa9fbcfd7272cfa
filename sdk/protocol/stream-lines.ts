/**
 * The HTTP transport's wire format, shared by the relay and the SDK (PROTOCOL.md "HTTP transport"):
 * a streamed read carries one `<n> <frame>\n` line per frame, numbered so that the next read can
 * acknowledge what arrived, and the stream id travels in a header, never in a URL (proxies log URLs).
 */
export const STREAM_HEADER = 'sov-stream';

/**
 * Hands each whole `<n> <frame>` line in `buffered` to `take` and returns the unfinished rest, for
 * the next chunk to go after. `take` returns false to stop (the read was given up): the rest is
 * then dropped. A line without a number is skipped.
 */
export function takeStreamLines(buffered: string, take: (n: number, frame: string) => boolean): string {
  let rest = buffered;
  for (let newline = rest.indexOf('\n'); newline >= 0; newline = rest.indexOf('\n')) {
    const line = rest.slice(0, newline);
    rest = rest.slice(newline + 1);
    const space = line.indexOf(' ');
    const n = Number(line.slice(0, space));
    if (Number.isSafeInteger(n) && !take(n, line.slice(space + 1))) return '';
  }
  return rest;
}
