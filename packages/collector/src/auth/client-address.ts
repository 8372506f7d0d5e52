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
const NAMED_RANGES = new Map<string, [string, number, 'ipv4' | 'ipv6'][]>([
  [
    'loopback',
    [
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ],
  ],
  [
    'linklocal',
    [
      ['169.254.0.0', 16, 'ipv4'],
      ['fe80::', 10, 'ipv6'],
    ],
  ],
  [
    'uniquelocal',
    [
      ['10.0.0.0', 8, 'ipv4'],
      ['172.16.0.0', 12, 'ipv4'],
      ['192.168.0.0', 16, 'ipv4'],
      ['fc00::', 7, 'ipv6'],
    ],
  ],
]);

/** Loopback connections (the demo, tests) are not limited. */
const LOOPBACK = rangesOf(['loopback']);

/**
 * The key of requests through a trusted proxy that names no usable sender (no X-Forwarded-For,
 * or a hop that is not an address): one bucket for all of them, rather than none, so a proxy
 * that forgot the header does not turn the limit off.
 */
export const UNNAMED_SENDER = 'unnamed sender (through a trusted proxy)';

/** What a connection with no address to read is keyed as (reset before it was looked at). */
const UNKNOWN_PEER: Address = { type: 'ipv4', text: '0.0.0.0', groups: ['0', '0', '0', '0'] };

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
    const named = NAMED_RANGES.get(entry.toLowerCase());
    if (named) {
      for (const [address, prefix, type] of named) list.addSubnet(address, prefix, type);
      continue;
    }
    const [text, prefixText, extra] = entry.split('/');
    const version = net.isIP(text);
    const type = version === 4 ? 'ipv4' : 'ipv6';
    const max = version === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (
      version === 0 ||
      extra !== undefined ||
      (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) ||
      prefix > max
    ) {
      throw new TrustProxyError(
        `--trust-proxy takes addresses, CIDR ranges (10.0.0.0/8) and loopback, linklocal or uniquelocal, comma-separated, not ${JSON.stringify(entry.slice(0, 60))}`,
      );
    }
    list.addSubnet(text, prefix, type);
  }
  return list;
}

/**
 * The key of requests from loopback that carry X-Forwarded-For while no `--trust-proxy` names
 * loopback: a proxy on this host that serve was not told of. One shared bucket, as for a proxy
 * elsewhere, rather than none: without it a proxy on loopback would turn every per-sender limit off.
 */
export const LOOPBACK_PROXY = 'a proxy on loopback (not named by --trust-proxy)';

/**
 * A function answering the key of a request's sender for the per-address limit, or undefined for
 * a loopback connection (not limited by address). An IPv6 sender is keyed by its /48, a site's
 * prefix: one customer of a provider handing out /56s or /48s holds hundreds of /64s, and a key
 * per /64 let it send hundreds of senders' worth. `onUnnamed` is told of a request through a trusted proxy
 * that names no usable sender (keyed UNNAMED_SENDER), `onLoopbackProxy` of one from loopback that
 * carries X-Forwarded-For with loopback not trusted (keyed LOOPBACK_PROXY).
 *
 * @example
 * const senderOf = senderKey(rangesOf(['loopback']));
 * senderOf(req); // '203.0.113.7', from "X-Forwarded-For: 203.0.113.7" sent by a proxy on 127.0.0.1
 */
export function senderKey(
  trusted?: net.BlockList,
  onUnnamed: () => void = () => undefined,
  onLoopbackProxy: () => void = () => undefined,
): (req: IncomingMessage) => string | undefined {
  return (req) => {
    const found = clientAddress(req, trusted);
    if (found === null) {
      onUnnamed();
      return UNNAMED_SENDER;
    }
    const { address, fromHeader } = found;
    // Only a connection's own loopback address is exempt: one read from the header is what a
    // client in a trusted range could write to go unlimited.
    if (!fromHeader && !address.translated && LOOPBACK.check(address.text, address.type)) {
      if (req.headers['x-forwarded-for'] === undefined) return undefined;
      onLoopbackProxy();
      return LOOPBACK_PROXY;
    }
    return keyOf(address);
  };
}

/**
 * The sender's key for a connection, by its peer address alone (no request has been read yet):
 * as senderKey keys it, but undefined, so not limited, for loopback and for the proxies
 * `--trust-proxy` names, whose connections carry many senders; undefined too for a connection
 * already reset.
 *
 * @example
 * const key = connectionKey(rangesOf(['10.0.0.2']));
 * key(socket); // '203.0.113.7', or '2001:db8:1::/48'; undefined from 10.0.0.2 or 127.0.0.1
 */
export function connectionKey(trusted?: net.BlockList): (socket: net.Socket) => string | undefined {
  return (socket) => {
    const peer = socket.remoteAddress;
    const address = peer === undefined ? undefined : parseAddress(peer);
    if (address === undefined) return undefined;
    if (!address.translated && LOOPBACK.check(address.text, address.type)) return undefined;
    if (trusted && isTrusted(address, trusted)) return undefined;
    return keyOf(address);
  };
}

/** IPv4 by the address, IPv6 by its /48 (a site's prefix: a customer may hold hundreds of /64s). */
function keyOf(address: Address): string {
  return address.type === 'ipv6' ? `${address.groups.slice(0, 3).join(':')}::/48` : address.text;
}

interface Address {
  type: 'ipv4' | 'ipv6';
  /** IPv4 dotted; IPv6 as eight groups of hex, without leading zeros */
  text: string;
  groups: string[];
  /** a NAT64 address (64:ff9b::/96), keyed by the IPv4 address it carries: its own IPv6 text */
  translated?: string;
}

/**
 * The client's address: the peer's, or through trusted proxies the first hop they did not add
 * (`fromHeader`); null where a trusted proxy named no usable one.
 */
function clientAddress(
  req: IncomingMessage,
  trusted?: net.BlockList,
): { address: Address; fromHeader: boolean } | null {
  const peer = req.socket?.remoteAddress;
  let address = peer === undefined ? undefined : parseAddress(peer);
  // A connection already reset has no address left to read: limited, as one shared sender.
  if (address === undefined) return { address: UNKNOWN_PEER, fromHeader: false };
  if (!trusted || !isTrusted(address, trusted)) return { address, fromHeader: false };
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  if (hops.length === 0) return null;
  while (isTrusted(address, trusted) && hops.length > 0) {
    const hop = parseAddress(hops.pop()!);
    if (hop === undefined) return null;
    address = hop;
  }
  return { address, fromHeader: true };
}

function isTrusted(address: Address, trusted: net.BlockList): boolean {
  // A NAT64 address is trusted as the IPv6 address it is, never as the IPv4 one it carries.
  if (address.translated) return trusted.check(address.translated, 'ipv6');
  return trusted.check(address.text, address.type);
}

/**
 * An address as the limit sees it, from what a socket or a proxy gives: brackets, a `:port` and
 * an IPv6 zone dropped, an IPv4 address mapped into IPv6 (`::ffff:10.0.0.5`, `::ffff:a00:5`)
 * taken as IPv4. Undefined when it is no address.
 */
function parseAddress(raw: string): Address | undefined {
  const text = plainOf(raw);
  const version = net.isIP(text);
  if (version === 4) return { type: 'ipv4', text, groups: text.split('.') };
  if (version !== 6) return undefined;
  const groups = ipv6Groups(text);
  // ::ffff:a.b.c.d in either form, and NAT64's 64:ff9b::a.b.c.d: the IPv4 address it is (else
  // every IPv4 client behind a NAT64 gateway would share one key).
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  const nat64 =
    groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  if (mapped || nat64) {
    const v4 = [groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255].join('.');
    const hex = groups.map((g) => g.toString(16)).join(':');
    return { type: 'ipv4', text: v4, groups: v4.split('.'), ...(nat64 ? { translated: hex } : {}) };
  }
  const hex = groups.map((g) => g.toString(16));
  return { type: 'ipv6', text: hex.join(':'), groups: hex };
}

/** Brackets and a port (`[2001:db8::1]:443`, `203.0.113.7:5555`) and an IPv6 zone dropped. */
function plainOf(raw: string): string {
  const trimmed = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(trimmed);
  if (bracketed) return bracketed[1].split('%')[0];
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(trimmed);
  if (withPort) return withPort[1];
  return trimmed.split('%')[0];
}

/** The eight 16-bit groups of a valid IPv6 address, a dotted IPv4 tail counting as two. */
function ipv6Groups(text: string): number[] {
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  let hexText = text;
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    hexText = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  if (!hexText.includes('::')) return parse(hexText);
  const [head, rest] = hexText.split('::');
  const left = parse(head);
  const right = parse(rest);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

const PRIVATE_V6 = rangesOf(['uniquelocal', 'linklocal']);

/**
 * Whether a --trust-proxy list takes in a large part of the internet, as no list of one's own
 * proxies does: an IPv4 range wider than /8, an IPv6 one wider than /16, or one holding the
 * IPv4-mapped addresses (::ffff:0:0/96, which BlockList matches every IPv4 address against).
 *
 * @example
 * trustsTheInternet(rangesOf(['0.0.0.0/2'])); // true
 * trustsTheInternet(rangesOf(['uniquelocal', 'loopback'])); // false
 */
export function trustsTheInternet(list: net.BlockList): boolean {
  for (const rule of list.rules) {
    const m = /IPv([46]) (\S+)\/(\d+)$/.exec(rule);
    if (!m || Number(m[3]) >= (m[1] === '4' ? 8 : 16)) continue;
    // Unique-local and link-local ranges are wide and private (`uniquelocal` names fc00::/7).
    if (m[1] === '6' && PRIVATE_V6.check(m[2], 'ipv6')) continue;
    return true;
  }
  // ::ffff:0:0/96 and the like: every IPv4 address, whatever the prefix length says.
  return ['8.8.8.8', '150.150.150.150'].every((a) => list.check(a, 'ipv4'));
}
