import type { IncomingMessage } from 'node:http';
import {
  LOOPBACK_PROXY,
  rangesOf,
  senderKey,
  trustsTheInternet,
  TrustProxyError,
  UNNAMED_SENDER,
} from '../src/auth/client-address';

/** A request from `peer`, with X-Forwarded-For when given: what senderKey reads of one. */
function requestFrom(peer: string | undefined, xff?: string | string[]): IncomingMessage {
  return {
    socket: { remoteAddress: peer },
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  } as unknown as IncomingMessage;
}

/** The per-address limit's key for a request from `peer`, with these headers. */
function keyOf(peer: string | undefined, xff?: string | string[], trust?: string[]) {
  return senderKey(trust ? rangesOf(trust) : undefined)(requestFrom(peer, xff));
}

describe('senderKey', () => {
  it.each<[string, string | undefined]>([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    // an IPv6 sender by its /48, a site's prefix: one customer may hold hundreds of /64s
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1::/48'],
    ['2001:db8:1:ff00::9', '2001:db8:1::/48'],
    ['2001:db8::1', '2001:db8:0::/48'],
    ['2001:0db8:00a0:0000:1::', '2001:db8:a0::/48'],
    // a dotted IPv4 tail is two groups
    ['1:2::3:4:5:1.2.3.4', '1:2:0::/48'],
    // an IPv4 address mapped into IPv6, in either form, or through NAT64, is that IPv4 address
    ['::ffff:a00:5', '10.0.0.5'],
    ['64:ff9b::c633:6409', '198.51.100.9'],
    ['64:ff9b::198.51.100.10', '198.51.100.10'],
    // but never exempt as loopback (RFC 6052: the prefix carries no such address)
    ['64:ff9b::7f00:1', '127.0.0.1'],
    ['::ffff:7f00:1', undefined],
    // loopback senders are not limited
    ['127.0.0.1', undefined],
    ['127.8.9.1', undefined],
    ['::1', undefined],
    ['::ffff:127.0.0.1', undefined],
  ])('a request from %s is keyed %s', (peer, key) => {
    expect(keyOf(peer)).toBe(key);
  });

  it('limits a connection already reset (no address left to read) as one shared sender', () => {
    expect(keyOf(undefined)).toBe('0.0.0.0');
    expect(keyOf(undefined, '198.51.100.1', ['loopback'])).toBe('0.0.0.0');
  });

  it('reads X-Forwarded-For only from a trusted proxy, from the right, up to the first untrusted hop', () => {
    // no proxy trusted: the header is whatever the client wrote
    expect(keyOf('203.0.113.7', '198.51.100.1')).toBe('203.0.113.7');
    // ... and from loopback, a proxy serve was not told of: one shared key, not none
    expect(keyOf('127.0.0.1', '198.51.100.1')).toBe(LOOPBACK_PROXY);
    expect(keyOf('127.0.0.1')).toBeUndefined();
    // a proxy on loopback: the address it appended
    expect(keyOf('127.0.0.1', '198.51.100.1', ['loopback'])).toBe('198.51.100.1');
    // what the client put to the left is not believed
    expect(keyOf('127.0.0.1', '1.2.3.4, 198.51.100.1', ['loopback'])).toBe('198.51.100.1');
    // two trusted proxies
    expect(keyOf('127.0.0.1', '1.2.3.4, 198.51.100.1, 10.0.0.2', ['loopback', '10.0.0.0/8'])).toBe(
      '198.51.100.1',
    );
    // headers given twice are one list
    expect(keyOf('::1', ['1.2.3.4', '198.51.100.9'], ['loopback'])).toBe('198.51.100.9');
    expect(keyOf('::ffff:10.1.2.3', '2001:db8:5::9', ['uniquelocal'])).toBe('2001:db8:5::/48');
    // ports and brackets, as some load balancers write them
    expect(keyOf('127.0.0.1', '203.0.113.7:5555', ['loopback'])).toBe('203.0.113.7');
    expect(keyOf('127.0.0.1', '[2001:db8:7::1]:443', ['loopback'])).toBe('2001:db8:7::/48');
    // a NAT64 address is trusted as itself, never as the IPv4 address it carries
    expect(keyOf('64:ff9b::a00:5', '198.51.100.1', ['uniquelocal'])).toBe('10.0.0.5');
    expect(keyOf('64:ff9b::a00:5', '198.51.100.1', ['64:ff9b::/96'])).toBe('198.51.100.1');
    // an untrusted peer's header is not read, even when it names a trusted address
    expect(keyOf('198.51.100.1', '127.0.0.1', ['loopback'])).toBe('198.51.100.1');
  });

  it('keys requests through a trusted proxy that names no usable sender together, and says so', () => {
    let told = 0;
    const req = (xff?: string) => requestFrom('127.0.0.1', xff);
    const senderOf = senderKey(rangesOf(['loopback']), () => told++);
    // a proxy that forgot the header, or passed on what is no address: one bucket, not none
    expect([undefined, '', 'unknown', '1.2.3.4, unknown'].map((x) => senderOf(req(x)))).toEqual(
      Array(4).fill(UNNAMED_SENDER),
    );
    expect(told).toBe(4);
    // loopback named in the header is limited as any other sender: a client in a trusted range
    // could write it to go unlimited
    expect(senderOf(req('127.0.0.1'))).toBe('127.0.0.1');
    expect(told).toBe(4);
  });

  it('keys requests from loopback that carry X-Forwarded-For, with loopback not trusted, as one proxy, and says so', () => {
    let told = 0;
    const req = (xff?: string) => requestFrom('::1', xff);
    for (const trusted of [undefined, rangesOf(['10.0.0.0/8'])]) {
      const senderOf = senderKey(trusted, undefined, () => told++);
      expect(senderOf(req())).toBeUndefined();
      expect(senderOf(req('203.0.113.7'))).toBe(LOOPBACK_PROXY);
      expect(senderOf(req(''))).toBe(LOOPBACK_PROXY);
    }
    expect(told).toBe(4);
    // named by --trust-proxy, the proxy's header names the sender
    expect(senderKey(rangesOf(['loopback']))(req('203.0.113.7'))).toBe('203.0.113.7');
  });
});

describe('rangesOf (--trust-proxy)', () => {
  it('takes addresses, CIDR ranges and the names loopback, linklocal, uniquelocal', () => {
    const list = rangesOf(['10.0.0.0/8', '192.0.2.5', 'fd00::/8', 'LinkLocal', ' loopback ']);
    expect(list.check('10.255.0.1', 'ipv4')).toBe(true);
    expect(list.check('192.0.2.5', 'ipv4')).toBe(true);
    expect(list.check('192.0.2.6', 'ipv4')).toBe(false);
    expect(list.check('fd12::1', 'ipv6')).toBe(true);
    expect(list.check('169.254.3.4', 'ipv4')).toBe(true);
    expect(list.check('::1', 'ipv6')).toBe(true);
    expect(list.check('11.0.0.1', 'ipv4')).toBe(false);
  });

  it.each([
    '',
    'proxy.example',
    '10.0.0.0/33',
    '10.0.0.0/8/1',
    '10.0.0.0/x',
    '::1/129',
    '300.1.1.1',
  ])('refuses %j, naming what it takes', (entry) => {
    expect(() => rangesOf([entry])).toThrow(TrustProxyError);
    expect(() => rangesOf([entry])).toThrow(/--trust-proxy takes addresses, CIDR ranges/);
  });
});

describe('trustsTheInternet', () => {
  it.each<[string[], boolean]>([
    [['0.0.0.0/0'], true],
    [['0.0.0.0/2'], true],
    [['::/0'], true],
    [['2a00::/8'], true],
    [['::ffff:0:0/96'], true],
    [['loopback', 'uniquelocal', 'linklocal'], false],
    [['10.0.0.0/8', '104.16.0.0/13', '2001:db8::/32'], false],
  ])('%j -> %s', (list, wide) => {
    expect(trustsTheInternet(rangesOf(list))).toBe(wide);
  });
});
