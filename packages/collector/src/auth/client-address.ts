import net from 'node:net';
import type { IncomingMessage } from 'node:http';

/**
 * Who sent a report, for the per-address rate limit. The ingest token ships in every desktop, so
 * the token names no one; the address is the one thing a sender cannot share with the fleet.
 *
 * Behind a reverse proxy every request comes from the proxy. `--trust-proxy` names the proxies
 * whose `X-Forwarded-For` is believed: the client is the rightmost address in that header that
 * is not itself a trusted proxy (each proxy appends the address it was called from, so entries
 * to the left of the first untrusted one are whatever the client wrote, and are not read).
 */

/** The names `--trust-proxy` takes besides addresses and CIDR ranges, as Express's `trust proxy` has them. */
const NAMED_RANGES: Record<string, [string, number, 'ipv4' | 'ipv6'][]> = {
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  linklocal: [
    ['169.254.0.0', 16, 'ipv4'],
    ['fe80::', 10, 'ipv6'],
  ],
  uniquelocal: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
  ],
};

/** Loopback senders (the demo, tests, a proxy on the same machine not named) are not limited. */
const LOOPBACK = rangesOf(['loopback']);

/** A `--trust-proxy` entry that is not an address, a CIDR range or one of the names. */
export class TrustProxyError extends Error {}

/**
 * The address ranges of a `--trust-proxy` list: addresses (`10.0.0.5`), CIDR ranges
 * (`10.0.0.0/8`, `fd00::/8`) and the names `loopback`, `linklocal`, `uniquelocal`.
 *
 * @example
 * rangesOf(['loopback', '10.1.0.0/16']).check('10.1.2.3', 'ipv4'); // true
 */
export function rangesOf(entries: string[]): net.BlockList {
  const list = new net.BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    const named = NAMED_RANGES[entry.toLowerCase()];
    if (named) {
      for (const [address, prefix, type] of named) list.addSubnet(address, prefix, type);
      continue;
    }
    const [address, prefixText, extra] = entry.split('/');
    const type = familyOf(address);
    const max = type === 'ipv4' ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (
      type === undefined ||
      extra !== undefined ||
      (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) ||
      prefix > max
    ) {
      throw new TrustProxyError(
        `--trust-proxy takes addresses, CIDR ranges (10.0.0.0/8) and loopback, linklocal or uniquelocal, comma-separated, not ${JSON.stringify(entry.slice(0, 60))}`,
      );
    }
    list.addSubnet(plain(address), prefix, type);
  }
  return list;
}

/**
 * A function answering the key of a request's sender for the per-address limit, or undefined for
 * a loopback sender (not limited). IPv6 senders are keyed by their /64, which one host can fill.
 *
 * @example
 * const senderOf = senderKey(rangesOf(['loopback']));
 * senderOf(req); // '203.0.113.7', from "X-Forwarded-For: 203.0.113.7" sent by a proxy on 127.0.0.1
 */
export function senderKey(trusted?: net.BlockList): (req: IncomingMessage) => string | undefined {
  return (req) => {
    const address = clientAddress(req, trusted);
    if (address === undefined) return undefined;
    const type = familyOf(address);
    if (type === undefined || LOOPBACK.check(address, type)) return undefined;
    return type === 'ipv6' ? prefix64(address) : address;
  };
}

/** The client's address: the peer's, or through trusted proxies the first hop they did not add. */
function clientAddress(req: IncomingMessage, trusted?: net.BlockList): string | undefined {
  const peer = req.socket?.remoteAddress;
  if (peer === undefined) return undefined;
  let address = plain(peer);
  if (!trusted) return address;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((hop) => plain(hop.trim()))
    .filter((hop) => hop !== '');
  while (isTrusted(address, trusted) && hops.length > 0) {
    const hop = hops.pop()!;
    // Not an address: what a trusted proxy passed on is unusable, so the proxy is the sender.
    if (familyOf(hop) === undefined) break;
    address = hop;
  }
  return address;
}

function isTrusted(address: string, trusted: net.BlockList): boolean {
  const type = familyOf(address);
  return type !== undefined && trusted.check(address, type);
}

function familyOf(address: string): 'ipv4' | 'ipv6' | undefined {
  const version = net.isIP(plain(address));
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : undefined;
}

/** An IPv4 address as IPv4 even when a dual-stack socket shows it mapped (`::ffff:10.0.0.5`). */
function plain(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}

/** The first four groups of an IPv6 address, written out: its /64. */
function prefix64(address: string): string {
  const [head, tail = ''] = address.toLowerCase().split('%')[0].split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const left = groups(head);
  const right = address.includes('::') ? groups(tail) : [];
  const missing = 8 - left.length - right.length;
  const all = [...left, ...Array<string>(Math.max(0, missing)).fill('0'), ...right];
  return `${all
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
