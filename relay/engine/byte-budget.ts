/**
 * How many bytes one TCP connection may still carry to the client. Censoring networks in Russia
 * freeze a connection to a foreign host after about 15-20 KB from the server (net4people/bbs
 * issue 490): no RST, no FIN, the bytes stop. A connection that never reaches that mark never
 * freezes, so the relay counts what it sends and the client moves to a new connection before the
 * count runs out (PROTOCOL.md, "Byte budget").
 *
 * The count is an estimate of bytes on the wire: the WebSocket frame header, and with TLS each
 * record's header and tag plus the handshake the server sends (mostly its certificate chain). The
 * SDK counts with the same formula (sdk/protocol/budget.ts).
 */
import { frameCost } from '../../sdk/protocol/budget.ts';

/** ServerHello, EncryptedExtensions, CertificateVerify and Finished, on top of the chain itself. */
const TLS_HANDSHAKE_OVERHEAD = 400;
/** Kept back for the close frame that tells the client the budget is spent. */
const CLOSE_FRAME_RESERVE = 32;

/** What the server's half of a TLS handshake costs: the DER certificate chain and the rest. */
export function tlsHandshakeBytes(certificateChainPem: string): number {
  const der = [...certificateChainPem.matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)].reduce(
    (total, match) => total + Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64').length,
    0,
  );
  return der + TLS_HANDSHAKE_OVERHEAD;
}

export interface BudgetOptions {
  /** Bytes the relay may send down one connection; 0 turns the budget off. */
  limit: number;
  /** Bytes already spent before the first frame: the HTTP upgrade answer, the TLS handshake. */
  spentAtOpen: number;
  tls: boolean;
}

/**
 * A new connection's budget. `upgradeAnswerBytes` is the engine's HTTP 101 answer (its length is
 * fixed per engine: uWS adds a Date and its own header); `certificateChain` is the PEM the server
 * presents, null without TLS.
 */
export function connectionBudget(
  limit: number,
  upgradeAnswerBytes: number,
  certificateChain: string | null,
): ByteBudget {
  const handshake = certificateChain === null ? 0 : tlsHandshakeBytes(certificateChain);
  return new ByteBudget({
    limit,
    spentAtOpen: upgradeAnswerBytes + handshake,
    tls: certificateChain !== null,
  });
}

export class ByteBudget {
  private spent: number;
  private frames = 0;

  constructor(private readonly options: BudgetOptions) {
    this.spent = options.spentAtOpen;
  }

  /**
   * Counts a frame of `payloadBytes` and returns true, or returns false when it would go past
   * the budget. The first two frames (the hello and one more) always pass: a frame bigger than a
   * whole budget could otherwise never be delivered, on any connection.
   */
  admit(payloadBytes: number): boolean {
    if (this.options.limit === 0) return true;
    const cost = frameCost(payloadBytes, this.options.tls);
    if (this.frames >= 2 && this.spent + cost > this.options.limit - CLOSE_FRAME_RESERVE) return false;
    this.spent += cost;
    this.frames++;
    return true;
  }

  get bytes(): number {
    return this.spent;
  }
}
