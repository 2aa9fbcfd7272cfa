/**
 * One connection to the relay, over whichever transport carries it: the seam between the
 * connection's state machine (../connection.ts) and the transports (./websocket.ts, ./http.ts).
 * A link moves frames and says when it ended; everything else (hello, handshake, requests,
 * heartbeats, the byte budget, freezes) is the connection's, the same for every transport.
 */

/** The rungs of the transport ladder, from the cheapest to the one that gets through the most. */
export type TransportName = 'websocket' | 'http-stream' | 'http-poll';

/** What a link tells its owner. Calls stop once the link is closed by its owner. */
export interface LinkListener {
  /** One frame from the relay. */
  frame(text: string): void;
  /** The link ended on its own: the relay closed it (with `code` on a WebSocket), or it failed. */
  closed(code: number | null): void;
}

export interface Link {
  readonly transport: TransportName;
  /** Sends one frame; frames arrive at the relay in the order sent. */
  send(frame: string): void;
  /** Ends the link at once, without waiting for a close handshake that a frozen network never delivers. */
  close(): void;
  /**
   * The relay stopped delivering on this link: try a fresh path without ending it (the HTTP
   * transport opens a new read on a new TCP connection, which the relay resumes from the last
   * frame acknowledged). Returns false where there is nothing to try.
   */
  unstick(): boolean;
}

/** Opens a link to a front door (a `ws(s)://host/path` as sdk/front-doors.ts names them). */
export type LinkOpener = (door: string, listener: LinkListener) => Link;
