/**
 * The byte budget per TCP connection, in numbers both ends use. Censoring networks in Russia freeze
 * a connection to a foreign host after about 15-20 KB from the server (net4people/bbs issue 490),
 * so the relay sends at most `budget` bytes down one connection and the SDK moves to the next one
 * before that (make before break). The rules that make this work, and why:
 *
 * - No frame the relay sends is larger than a third of the budget (`largestFrameBytes`): history
 *   and online lists come in pages of that size, and a message whose frame would be larger is
 *   refused at send (MESSAGE_TOO_BIG). A frame that never fits a connection could never arrive.
 * - The SDK counts what it receives the way the relay counts what it sends (`frameCost`, starting
 *   from the hello's `budgetSpent`), and opens the next connection once what is left would not
 *   hold the largest frame and a margin (`rotationPoint`).
 * - Pages leave PAGE_ENVELOPE_BYTES of the largest frame to what surrounds them, so a whole reply
 *   fits; `maxMessageBytes` is a page's worth, announced in hello so the SDK refuses first.
 * - The relay still enforces the budget: a frame that would cross it is not sent, and the
 *   connection ends with BUDGET_SPENT. A client that does not rotate reconnects and resumes.
 */
import { LIMITS } from './frames.ts';
import type { ChatMessage } from './frames.ts';

/**
 * The relay's default (`--conn-budget`): under the 15-20 KB at which connections were seen to
 * freeze, with room for a TLS handshake's certificate chain, which counts too.
 */
export const DEFAULT_CONNECTION_BUDGET = 12_288;

/** TLS 1.3 record overhead per frame: 5-byte header, 16-byte AEAD tag, 1 content-type byte. */
export const TLS_RECORD_OVERHEAD = 22;

/** Pages without a budget: about 1,000 ordinary messages, well under the 1 MB a slow link may hold in the relay's send buffer. */
export const UNBUDGETED_PAGE_BYTES = 768 * 1024;

/** What the SDK keeps in hand besides the largest frame: presence events, pings and their replies while the next connection opens. */
export const ROTATION_MARGIN_BYTES = 1024;

/** Bytes a server-to-client WebSocket frame header takes (RFC 6455 5.2; servers do not mask). */
export function frameHeaderBytes(payload: number): number {
  return payload < 126 ? 2 : payload < 65536 ? 4 : 10;
}

/** What one frame of `payloadBytes` costs on the wire: its WebSocket header, and with TLS its record's overhead. */
export function frameCost(payloadBytes: number, tls: boolean): number {
  return payloadBytes + frameHeaderBytes(payloadBytes) + (tls ? TLS_RECORD_OVERHEAD : 0);
}

/** The largest frame the relay sends under `budget` (0: no budget, no limit but the protocol's). */
export function largestFrameBytes(budget: number): number {
  return budget > 0 ? Math.floor(budget / 3) : Number.POSITIVE_INFINITY;
}

/** How many bytes of history or profiles one reply carries. */
export function pageBytes(budget: number): number {
  return budget > 0 ? largestFrameBytes(budget) : UNBUDGETED_PAGE_BYTES;
}

/**
 * What a page reply carries besides its page: the reply envelope (`re`, `ok`, `result`), the field
 * names and flags, the sequence number and a room name. Measured: 160 bytes for a join reply with
 * a 10-character room and a 7-digit request id; a room name can add 192 bytes (48 letters of 4
 * bytes each in UTF-8). The SDK's request ids are numbers; a client that picks 64-character
 * string ids can push its own replies past the largest frame by that much.
 */
export const PAGE_ENVELOPE_BYTES = 384;

/** Bytes of stored JSON (messages or profiles, a comma after each) one page may carry. */
export function pageContentBytes(budget: number): number {
  return pageBytes(budget) - PAGE_ENVELOPE_BYTES;
}

/**
 * The largest message the relay stores under `budget`, measured by `storedMessageBytes`: one that
 * fills a page alone. Without a budget, the frame limit (which a 4,000-character text never nears).
 */
export function maxMessageBytes(budget: number): number {
  return budget > 0 ? pageContentBytes(budget) : LIMITS.maxFrameBytes;
}

/**
 * A message's size as the relay stores and pages it: its JSON with every field, the sequence
 * number counted at its largest (16 digits) so that the SDK, which does not know it yet, measures
 * what the relay will.
 */
export function storedMessageBytes({ room, author, cid, ts, text, sig }: Omit<ChatMessage, 'seq'>): number {
  return new TextEncoder().encode(
    JSON.stringify({
      room,
      seq: Number.MAX_SAFE_INTEGER,
      author,
      cid,
      ts,
      text,
      sig,
    }),
  ).length;
}

/** Spent past this, the SDK opens the next connection; Infinity without a budget. */
export function rotationPoint(budget: number): number {
  return budget > 0 ? budget - largestFrameBytes(budget) - ROTATION_MARGIN_BYTES : Number.POSITIVE_INFINITY;
}
