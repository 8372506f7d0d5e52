import dns from 'node:dns';
import type { LookupFunction } from 'node:net';

/**
 * A name look-up that joins one already under way for the same name, instead of starting another.
 *
 * Node cannot cancel a look-up: `getaddrinfo` runs on one of libuv's four pool threads until the
 * system's resolver gives up, whatever the request's timeout did. With a DNS server that never
 * answers, every retry the back-off allowed started one more, so that four of them filled the pool:
 * the host's own file reads and writes then waited behind the SDK's look-ups, and the process
 * could not exit until the last one ended (an audit saw 37 s with a 3 s request timeout). Joined,
 * there is at most one look-up per collector name, holding one pool thread for at most one
 * resolver time-out.
 *
 * @example
 * http.request(url, { lookup: createSharedLookup() });
 */
export function createSharedLookup(lookup: LookupFunction = dns.lookup): LookupFunction {
  const pending = new Map<string, Parameters<LookupFunction>[2][]>();
  return (hostname, options, callback) => {
    const key = [hostname, options.family, options.hints, options.all, options.verbatim].join('\0');
    const waiting = pending.get(key);
    if (waiting) {
      waiting.push(callback);
      return;
    }
    pending.set(key, [callback]);
    try {
      lookup(hostname, options, (...answer) => {
        const callbacks = pending.get(key) ?? [];
        pending.delete(key);
        for (const cb of callbacks) (cb as (...a: typeof answer) => void)(...answer);
      });
    } catch (e) {
      // Thrown before a look-up began (a bad argument): nothing to join later.
      pending.delete(key);
      throw e;
    }
  };
}
