/**
 * From a text frame to exactly one reply: parse and validate, charge the connection's rate limit,
 * run the handler, encode the result or the error. Closes connections that send binary frames or
 * keep flooding. Transport-blind: it sees only the peer.
 */
import { SovError } from '../sdk/errors.ts';
import { CLOSE_CODES, parseRequest } from '../sdk/protocol.ts';
import type { ParsedFrame } from '../sdk/protocol.ts';
import { sendReply } from './connection.ts';
import type { Socket } from './connection.ts';
import { RawResult } from './handlers/context.ts';
import type { RelayContext } from './handlers/context.ts';
import { handleRequest } from './handlers/index.ts';
import { errorText } from './logger.ts';

/** Consecutive RATE_LIMITED replies after which a flooding connection is closed. */
const MAX_STRIKES = 50;

type Outcome = { result: unknown } | { error: SovError };

function replyFrame(id: string | number | null, outcome: Outcome): string {
  const re = JSON.stringify(id);
  if ('error' in outcome) return `{"re":${re},"ok":false,"error":${JSON.stringify(outcome.error.toWire())}}`;
  const result = outcome.result instanceof RawResult ? outcome.result.json : JSON.stringify(outcome.result);
  return `{"re":${re},"ok":true,"result":${result}}`;
}

/** Returns the handler for one connection's frames (null: a binary frame). */
export function frameHandler(ctx: RelayContext): (ws: Socket, text: string | null) => void {
  const { log, metrics } = ctx;
  const reply = (ws: Socket, id: string | number | null, outcome: Outcome): void => {
    if ('error' in outcome) metrics.refused(outcome.error.code);
    if (!ws.open) return;
    const frame = replyFrame(id, outcome);
    metrics.bytesSent(Buffer.byteLength(frame));
    sendReply(ws, frame, log);
  };

  return (ws, text) => {
    if (text === null) {
      ws.end(CLOSE_CODES.UNSUPPORTED_DATA, 'binary frames are not supported');
      return;
    }
    const connection = ws.data;
    let parsed: ParsedFrame;
    try {
      parsed = parseRequest(text);
    } catch (error) {
      // parseRequest answers every frame it can read; a throw is a bug, and it must cost this
      // frame an INTERNAL reply, never the process (a throw out of an engine callback ends it).
      log('error', 'request parsing failed', {
        ip: connection.ip,
        error: errorText(error),
      });
      parsed = { ok: false, id: null, error: new SovError('INTERNAL') };
    }
    const id = parsed.ok ? parsed.request.id : parsed.id;
    const wait = connection.bucket.take();
    if (wait > 0) {
      if (++connection.strikes > MAX_STRIKES) {
        log('warn', 'closing a connection that keeps flooding', {
          ip: connection.ip,
        });
        ws.end(CLOSE_CODES.POLICY, 'rate limit exceeded');
        return;
      }
      reply(ws, id, {
        error: new SovError('RATE_LIMITED', undefined, { retryAfterMs: wait }),
      });
      return;
    }
    connection.strikes = 0;
    if (!parsed.ok) {
      reply(ws, id, { error: parsed.error });
      return;
    }
    const { request } = parsed;
    metrics.requestReceived(request.type);
    handleRequest(ctx, ws, request).then(
      (result) => reply(ws, id, { result }),
      (error: unknown) => {
        if (!(error instanceof SovError))
          log('error', 'request failed', {
            type: request.type,
            error: errorText(error),
          });
        reply(ws, id, {
          error: error instanceof SovError ? error : new SovError('INTERNAL'),
        });
      },
    );
  };
}
