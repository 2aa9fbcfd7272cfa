import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AddressListError, clientAddress, normalizeAddress, parseTrustedProxies } from '../../relay/client-address.ts';

describe('trusted proxy list', () => {
  test('matches IPv4 and IPv6 addresses and blocks, and nothing else', () => {
    const proxies = parseTrustedProxies(' 10.0.0.0/8 , 192.168.1.7, 2001:db8::/32,::1 ');
    for (const ip of ['10.1.2.3', '10.255.255.255', '192.168.1.7', '2001:db8::5', '2001:DB8:0:0:0:0:0:9', '::1'])
      assert.ok(proxies.trusts(ip), ip);
    for (const ip of ['11.0.0.1', '192.168.1.8', '2001:db9::1', '::2', '', 'garbage', '10.0.0.256'])
      assert.ok(!proxies.trusts(ip), ip);
  });

  test('an IPv4 entry also matches the address written IPv4-mapped, as dual-stack sockets report it', () => {
    const proxies = parseTrustedProxies('127.0.0.1/8');
    assert.ok(proxies.trusts('::ffff:127.0.0.1'));
    assert.ok(proxies.trusts('::FFFF:7f00:1'));
    assert.ok(proxies.trusts('0:0:0:0:0:ffff:127.9.9.9'));
    assert.ok(!proxies.trusts('::ffff:128.0.0.1'));
  });

  test('an IPv4-mapped entry matches plain IPv4, its prefix counting the 96 mapping bits', () => {
    const proxies = parseTrustedProxies('::ffff:10.0.0.0/104,::ffff:1.2.3.4');
    assert.ok(proxies.trusts('10.20.30.40'));
    assert.ok(proxies.trusts('1.2.3.4'));
    assert.ok(!proxies.trusts('11.0.0.0'));
  });

  test('an empty list trusts nobody', () => {
    for (const list of ['', ' ', ',,']) assert.ok(!parseTrustedProxies(list).trusts('127.0.0.1'));
  });

  test('refuses entries that are not an address or a block, naming the entry', () => {
    for (const entry of [
      'localhost',
      '10.0.0.0/33',
      '10.0.0.0/',
      '10.0.0.0/8/8',
      '::/129',
      '::ffff:10.0.0.0/64',
      '10.0.0.0/-1',
      '1.2.3',
    ]) {
      assert.throws(
        () => parseTrustedProxies(`127.0.0.1,${entry}`),
        (error: unknown) => error instanceof AddressListError && error.message.includes(`"${entry}"`),
        entry,
      );
    }
  });
});

describe('address normalization', () => {
  test('gives one spelling per address so limits count a client once', () => {
    assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeAddress('::ffff:c0a8:0101'), '192.168.1.1');
    assert.equal(normalizeAddress('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(normalizeAddress('203.0.113.9'), '203.0.113.9');
    assert.equal(normalizeAddress('fe80::1%eth0'), 'fe80::1%eth0');
    for (const junk of ['', 'unknown', '1.2.3.4:80', '[::1]', '01.2.3.4', ' 1.2.3.4'])
      assert.equal(normalizeAddress(junk), null, junk);
  });
});

describe('client address', () => {
  const proxies = parseTrustedProxies('10.0.0.0/8,2001:db8::/32');

  test('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    assert.equal(clientAddress('203.0.113.5', '198.51.100.1', proxies), '203.0.113.5');
    assert.equal(clientAddress('203.0.113.5', '', parseTrustedProxies('')), '203.0.113.5');
  });

  test('takes the address the trusted proxy saw', () => {
    assert.equal(clientAddress('10.0.0.1', '198.51.100.1', proxies), '198.51.100.1');
  });

  test('a trusted proxy without the header is itself the client', () => {
    assert.equal(clientAddress('10.0.0.1', '', proxies), '10.0.0.1');
    assert.equal(clientAddress('10.0.0.1', '  ', proxies), '10.0.0.1');
  });

  test('entries a client wrote on the left cannot hide it', () => {
    // The client sent "X-Forwarded-For: 1.1.1.1, 2.2.2.2"; the proxy appended what it saw.
    assert.equal(clientAddress('10.0.0.1', '1.1.1.1, 2.2.2.2, 198.51.100.7', proxies), '198.51.100.7');
    // A spoofed entry that names a trusted proxy does not help either: the walk stops before it.
    assert.equal(clientAddress('10.0.0.1', '10.9.9.9, 198.51.100.7', proxies), '198.51.100.7');
  });

  test('skips every trusted hop of a chain of proxies', () => {
    assert.equal(clientAddress('10.0.0.3', '1.1.1.1, 198.51.100.7, 10.0.0.1, 10.0.0.2', proxies), '198.51.100.7');
    assert.equal(clientAddress('2001:db8::3', '2001:DB8::1,198.51.100.7', proxies), '198.51.100.7');
  });

  test('a chain of trusted hops only yields its leftmost hop', () => {
    assert.equal(clientAddress('10.0.0.3', '10.0.0.1,10.0.0.2', proxies), '10.0.0.1');
  });

  test('reads IPv6 clients and returns them in one spelling', () => {
    assert.equal(clientAddress('10.0.0.1', '2001:0DB9:0:0::1', proxies), '2001:db9::1');
    assert.equal(clientAddress('2001:db8::1', '2001:db9::1', proxies), '2001:db9::1');
  });

  test('IPv4-mapped peers and entries key the same as plain IPv4', () => {
    assert.equal(clientAddress('::ffff:10.0.0.1', '::ffff:198.51.100.7', proxies), '198.51.100.7');
    assert.equal(clientAddress('::ffff:203.0.113.5', '198.51.100.7', proxies), '203.0.113.5');
  });

  test('a malformed entry stops the walk at the last trusted hop', () => {
    assert.equal(clientAddress('10.0.0.2', 'garbage', proxies), '10.0.0.2');
    assert.equal(clientAddress('10.0.0.2', '198.51.100.7, garbage, 10.0.0.1', proxies), '10.0.0.1');
    assert.equal(clientAddress('10.0.0.2', '198.51.100.7,,', proxies), '10.0.0.2');
    assert.equal(clientAddress('10.0.0.2', '198.51.100.7:4711', proxies), '10.0.0.2');
    assert.equal(clientAddress('10.0.0.2', 'unknown', proxies), '10.0.0.2');
  });
});
