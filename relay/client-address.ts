/**
 * Who a connection really comes from, when the relay sits behind reverse proxies.
 *
 * Per-address limits (registrations, connections) key on this address. X-Forwarded-For is written
 * by whoever sends the request, so the relay believes it only as far as a chain of proxies the
 * operator listed with --trust-proxy: everything to the left of the first hop it does not trust
 * could have been typed by the client to dodge its limits or frame someone else.
 */
import net from 'node:net';

/** Answers whether an address is one of the operator's proxies. */
export interface ProxyMatcher {
  trusts(ip: string): boolean;
}

/** A --trust-proxy entry that is neither an IP address nor a CIDR block. */
export class AddressListError extends Error {}

/**
 * One spelling per address, so a limit keyed on it counts one client once: IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`, which dual-stack sockets report for IPv4 peers) becomes plain IPv4, and IPv6
 * is lower-cased and compressed. Returns null for anything that is not an IP address.
 */
export function normalizeAddress(text: string): string | null {
  const family = net.isIP(text);
  if (family === 4) return text;
  if (family !== 6) return null;
  // A zone index (fe80::1%eth0) only appears on link-local peers; the WHATWG parser refuses it.
  if (text.includes('%')) return text.toLowerCase();
  // The WHATWG URL parser writes IPv6 in its canonical form (RFC 5952), embedded IPv4 as hex.
  const canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped === null) return canonical;
  const high = parseInt(mapped[1]!, 16);
  const low = parseInt(mapped[2]!, 16);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

function familyOf(ip: string): 'ipv4' | 'ipv6' {
  return net.isIPv4(ip) ? 'ipv4' : 'ipv6';
}

const TRUSTS_NOBODY: ProxyMatcher = { trusts: () => false };

/**
 * Reads a comma-separated list of addresses and CIDR blocks (`10.0.0.0/8, ::1, 2001:db8::/32`).
 * An empty list trusts nobody. IPv4 entries also match the same addresses written IPv4-mapped.
 * @throws AddressListError naming the first entry that is not an address or block.
 */
export function parseTrustedProxies(list: string): ProxyMatcher {
  const entries = list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return TRUSTS_NOBODY;
  // node:net's BlockList does the prefix arithmetic for both families.
  const blocks = new net.BlockList();
  for (const entry of entries) {
    const [addressText = '', prefixText, extra] = entry.split('/');
    const address = normalizeAddress(addressText);
    if (address === null || extra !== undefined)
      throw new AddressListError(`"${entry}" is not an IP address or CIDR block`);
    const family = familyOf(address);
    if (prefixText === undefined) {
      blocks.addAddress(address, family);
      continue;
    }
    const bits = family === 'ipv4' ? 32 : 128;
    // An IPv4-mapped block (::ffff:10.0.0.0/104) was normalized to IPv4 above: drop the 96 bits of mapping.
    const offset = family === 'ipv4' && net.isIPv6(addressText) ? 96 : 0;
    const prefix = Number(prefixText) - offset;
    if (!/^\d{1,3}$/.test(prefixText) || prefix < 0 || prefix > bits) {
      throw new AddressListError(`"${entry}": the prefix length must be from ${offset} to ${bits + offset}`);
    }
    blocks.addSubnet(address, prefix, family);
  }
  return {
    trusts(ip) {
      const address = normalizeAddress(ip);
      return address !== null && blocks.check(address, familyOf(address));
    },
  };
}

/**
 * The client's address for a request from `peerIp` carrying `forwardedFor` (the X-Forwarded-For
 * header, '' when absent; several headers joined with commas). An untrusted peer's header is
 * ignored. Behind trusted proxies the header is read from the right, each proxy having appended
 * the address it saw; the first address that is not a trusted proxy is the client. A malformed
 * entry ends the walk at the last trusted hop, since nothing left of it can be believed either.
 */
export function clientAddress(peerIp: string, forwardedFor: string, proxies: ProxyMatcher): string {
  let client = normalizeAddress(peerIp) ?? peerIp;
  if (!proxies.trusts(client) || forwardedFor.trim() === '') return client;
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]!.trim());
    if (hop === null) return client;
    client = hop;
    if (!proxies.trusts(hop)) return hop;
  }
  return client;
}
