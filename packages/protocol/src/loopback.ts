/**
 * True for hosts that never leave the machine: `localhost`, 127.0.0.0/8 and `::1`, and 127/8
 * mapped into IPv6 (`::ffff:127.0.0.1`, which the URL parser writes `[::ffff:7f00:1]`), with or
 * without brackets. Not `localhost.` nor `*.localhost`: RFC 6761 asks resolvers to answer it
 * with loopback, but not every one does. The contract allows plain HTTP to loopback only: the
 * SDK refuses anything else over `http://`, `jcs-errors` and `serve` warn.
 *
 * @example
 * isLoopbackHost(new URL('http://[::1]:8080/').hostname); // true
 * isLoopbackHost('0.0.0.0'); // false
 * isLoopbackHost('localhost.'); // false: looked up in DNS
 */
export function isLoopbackHost(hostname: string): boolean {
  // Not `localhost.` with its trailing dot: /etc/hosts does not name it, so it is asked of DNS,
  // which may answer with any address at all.
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost' || host === '::1') return true;
  if (/^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(host)) return true;
  return /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
