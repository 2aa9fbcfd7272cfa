/**
 * Bounds on open connections, so that one address cannot take the relay's file descriptors from
 * everyone else. Measured before these bounds: with the file limit at 1,024, 1,000 anonymous
 * sockets from one address made new clients time out, `/v1/health` fail, and the relay spin at
 * 100 % CPU while accept() failed with EMFILE.
 */
import fs from 'node:fs';

/** Descriptors kept free for logs, avatar files and the sockets being refused. */
const RESERVED_DESCRIPTORS = 128;

/** Counts open connections per address against a cap, and all of them against a total. */
export class ConnectionCounter {
  private readonly byAddress = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly perAddress: number,
    private readonly overall: number,
  ) {}

  /** Counts one more from `address` and returns true, or returns false (and counts nothing) when over a cap. */
  add(address: string): boolean {
    const count = this.byAddress.get(address) ?? 0;
    if (count >= this.perAddress || this.total >= this.overall) return false;
    this.byAddress.set(address, count + 1);
    this.total++;
    return true;
  }

  remove(address: string): void {
    const count = this.byAddress.get(address);
    if (count === undefined) return;
    if (count > 1) this.byAddress.set(address, count - 1);
    else this.byAddress.delete(address);
    this.total--;
  }

  get size(): number {
    return this.total;
  }
}

/**
 * Connections left to plain HTTP when WebSockets have taken their whole share: health checks, the
 * pages' files, and the upgrade refusals that tell a client why (429) still get through.
 */
const HTTP_HEADROOM = 64;
/**
 * TCP connections allowed per address, as a multiple of the WebSocket cap. At exactly the cap, one
 * WebSocket too many was reset before a byte was read, so only the uWS engine (which counts no TCP
 * connections) ever answered 429 TOO_MANY_CONNECTIONS; with room above it the node engine reads the
 * upgrade and refuses it the same way, and an address at its WebSocket cap can still load the page.
 */
const TCP_CONNECTIONS_PER_WEBSOCKET = 2;

/**
 * The two counters the relay keeps: open WebSockets per client address (refused above with 429),
 * and TCP connections per peer (only engines that see TCP connections count them; above their
 * caps a connection is dropped before a byte is read).
 */
export function connectionCounters(perAddress: number): {
  webSockets: ConnectionCounter;
  tcpConnections: ConnectionCounter;
} {
  const ceiling = connectionCeiling();
  return {
    webSockets: new ConnectionCounter(perAddress, Math.max(1, ceiling - HTTP_HEADROOM)),
    tcpConnections: new ConnectionCounter(perAddress * TCP_CONNECTIONS_PER_WEBSOCKET, ceiling),
  };
}

/**
 * How many connections the process can hold: its soft file limit (`ulimit -n`, systemd's
 * `LimitNOFILE`) less a reserve. Refusing above it keeps accept() from ever failing with EMFILE,
 * which some engines answer by retrying in a tight loop.
 */
function connectionCeiling(): number {
  try {
    const limits = fs.readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    if (soft !== undefined) return Math.max(16, Number(soft) - RESERVED_DESCRIPTORS);
  } catch {
    // Not Linux: no /proc. The operating system's own limit applies.
  }
  return Number.MAX_SAFE_INTEGER;
}
