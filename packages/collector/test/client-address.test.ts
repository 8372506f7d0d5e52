import type { IncomingMessage } from 'node:http';
import { rangesOf, senderKey, TrustProxyError } from '../src/auth/client-address';

/** The per-address limit's key for a request from `peer`, with these headers. */
function keyOf(peer: string, xff?: string | string[], trust?: string[]) {
  const req = {
    socket: { remoteAddress: peer },
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  } as unknown as IncomingMessage;
  return senderKey(trust ? rangesOf(trust) : undefined)(req);
}

describe('senderKey', () => {
  it.each<[string, string | undefined]>([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    // one host can hold a whole /64
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0db8:00a0:0000:1::', '2001:db8:a0:0::/64'],
    // loopback senders are not limited
    ['127.0.0.1', undefined],
    ['127.8.9.1', undefined],
    ['::1', undefined],
    ['::ffff:127.0.0.1', undefined],
  ])('a request from %s is keyed %s', (peer, key) => {
    expect(keyOf(peer)).toBe(key);
  });

  it('reads X-Forwarded-For only from a trusted proxy, from the right, up to the first untrusted hop', () => {
    // no proxy trusted: the header is whatever the client wrote
    expect(keyOf('203.0.113.7', '198.51.100.1')).toBe('203.0.113.7');
    expect(keyOf('127.0.0.1', '198.51.100.1')).toBeUndefined();
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
    expect(keyOf('::ffff:10.1.2.3', '2001:db8:5::9', ['uniquelocal'])).toBe('2001:db8:5:0::/64');
    // an untrusted peer's header is not read, even when it names a trusted address
    expect(keyOf('198.51.100.1', '127.0.0.1', ['loopback'])).toBe('198.51.100.1');
  });

  it('falls back to the proxy when what it passed on is not an address, and exempts a client on loopback', () => {
    expect(keyOf('10.0.0.2', 'unknown', ['10.0.0.2'])).toBe('10.0.0.2');
    expect(keyOf('10.0.0.2', '', ['10.0.0.2'])).toBe('10.0.0.2');
    expect(keyOf('127.0.0.1', '', ['loopback'])).toBeUndefined();
    expect(keyOf('127.0.0.1', '127.0.0.1', ['loopback'])).toBeUndefined();
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
