/**
 * What the relay needs from a web server, and nothing more: the seam between the relay's handlers
 * and the two engines that can carry them (uWebSockets.js where its native addon loads, node:http
 * with `ws` everywhere else). Handlers see a `Peer` and an `HttpExchange`, never an engine's own
 * objects, so everything above this file runs unchanged on either engine.
 */

/** One WebSocket connection. Every method is a no-op once the connection is closed. */
export interface Peer<Data> {
  /** What the upgrade handler returned for this connection. */
  readonly data: Data;
  readonly open: boolean;
  /**
   * Sends one text frame. Returns false when the frame was not sent: the connection is closed,
   * its send buffer is over `maxBackpressureBytes` (callers that must not lose a frame queue it
   * and retry on `drain`), or its byte budget is spent, in which case the engine also ends the
   * connection with CLOSE_CODES.BUDGET_SPENT.
   */
  send(frame: string): boolean;
  bufferedBytes(): number;
  /**
   * Bytes of the connection's byte budget spent so far (TLS handshake and upgrade answer included);
   * 0 where no budget applies. The hello tells the client, which counts on from there.
   */
  budgetSpent(): number;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Sends a close frame with this code and reason, then closes. */
  end(code: number, reason: string): void;
  /** Drops the connection at once, without a close frame (the client sees 1006). */
  terminate(): void;
}

/** The parts of an HTTP request the relay reads, available for as long as the exchange lives. */
export interface HttpRequestHead {
  /** Upper case: `GET`, `HEAD`, `POST`, ... */
  readonly method: string;
  /** The path without the query string, exactly as sent (never decoded or normalised). */
  readonly path: string;
  /** The query string without its `?`, as sent; '' when there is none. */
  readonly query: string;
  /** A request header by lower-case name; '' when absent. */
  header(name: string): string;
  /** The TCP peer's address (a proxy's, behind one): see client-address.ts for the client's. */
  readonly peerAddress: string;
}

export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  /**
   * Engines add Content-Length from the body unless `headers` has one. For `HEAD` they send the
   * headers and that length, never a body (a HEAD reply may carry the GET body's length and no body).
   */
  body: Buffer | string | null;
}

export interface HttpExchange extends HttpRequestHead {
  /** Streams the request body; `last` is true on the final chunk (which may be empty). */
  onBody(handler: (chunk: Buffer, last: boolean) => void): void;
  /** True once the client went away; `respond` is then a no-op. */
  readonly aborted: boolean;
  /** Sends the whole reply once; later calls are ignored. `closeConnection` ends keep-alive. */
  respond(reply: HttpReply, closeConnection?: boolean): void;
  /**
   * Starts a streamed reply (chunked, no Content-Length) instead of `respond`: its body goes out
   * as it is written. Used by the HTTP transport for frames from the relay. A `connection: close`
   * header makes the TCP connection end with the reply, so the next request opens a new one.
   */
  stream(status: number, headers: Record<string, string>): HttpStream;
}

/** A reply body sent piece by piece. Every method is a no-op once it has ended or the client left. */
export interface HttpStream {
  /** Writes now (buffered by the engine if the socket is full). */
  write(text: string): void;
  end(): void;
  /** Calls `listener` once when the client goes away before `end`. */
  onAbort(listener: () => void): void;
}

/** A refused upgrade is answered with this plain HTTP reply, and the connection closed. */
export type UpgradeDecision<Data> = { accept: Data } | { refuse: HttpReply };

export interface EngineHandlers<Data> {
  /** Every HTTP request that is not a WebSocket upgrade on `wsPath`. */
  http(exchange: HttpExchange): void;
  upgrade(head: HttpRequestHead): UpgradeDecision<Data>;
  open(peer: Peer<Data>): void;
  /** A text frame; binary frames come as `null` (the protocol has none). */
  message(peer: Peer<Data>, text: string | null): void;
  /** The send buffer went down after being over the limit. */
  drain(peer: Peer<Data>): void;
  close(peer: Peer<Data>): void;
  /**
   * A new TCP connection from `peerAddress`, before any byte is read; false drops it at once.
   * Only engines that can see TCP connections call it (node); uWebSockets.js 20.30 has no hook.
   */
  connection?(peerAddress: string): boolean;
  /** The TCP connection from `peerAddress` that `connection` admitted has closed. */
  connectionClosed?(peerAddress: string): void;
}

export interface EngineOptions {
  tls: { cert: string; key: string } | null;
  wsPath: string;
  maxFrameBytes: number;
  /** A connection whose send buffer is over this gets no more published frames. */
  maxBackpressureBytes: number;
  /** Seconds without a frame (pongs count) after which a connection is dropped; pings go out before. */
  idleTimeoutSeconds: number;
  /** Bytes one connection may carry to the client (byte-budget.ts); 0: no budget. */
  connectionBudgetBytes: number;
}

export interface Engine {
  readonly name: EngineName;
  /** Binds and resolves with the port, or rejects with a message naming the address. */
  listen(host: string, port: number): Promise<number>;
  /**
   * Sends `frame` to every peer subscribed to `topic`, skipping those over the backpressure limit.
   * Returns how many peers are subscribed.
   */
  publish(topic: string, frame: string): number;
  /** Stops accepting new connections; open ones stay. */
  stopListening(): void;
}

export type EngineName = 'uws' | 'node';

export type EngineFactory = <Data>(options: EngineOptions, handlers: EngineHandlers<Data>) => Engine;

/** The port could not be bound; the message names the address and why. */
export class ListenError extends Error {}
