import type { BlockList } from 'node:net';
import { Option } from 'commander';
import {
  DEFAULT_RATE_LIMITS,
  type RateLimitSettings,
  type RequestLimitsOptions,
} from '../auth/request-limits';
import { CommandError, EXIT } from './output';
import { rangesOf, senderKey, TrustProxyError } from '../auth/client-address';

/** `serve`'s rate-limit flags, as commander names them. */
export interface RateLimitFlags {
  rateLicencePerMin?: number;
  rateLicenceBurst?: number;
  rateTokenPerMin?: number;
  rateTokenBurst?: number;
  rateAddressPerMin?: number;
  rateAddressBurst?: number;
  rateNewGroupsPerMin?: number;
  rateNewGroupsBurst?: number;
  /** `--trust-proxy`, parsed */
  trustProxy?: BlockList;
  rateReadPerMin?: number;
  rateReadBurst?: number;
}

const FLAGS: Record<keyof RateLimitSettings, { flag: string; help: string; min: number }> = {
  licencePerMin: {
    flag: '--rate-licence-per-min <n>',
    help: 'reports a minute per licence and sending address (0: no limit)',
    min: 0,
  },
  licenceBurst: { flag: '--rate-licence-burst <n>', help: 'burst of reports per licence', min: 1 },
  tokenPerMin: {
    flag: '--rate-token-per-min <n>',
    help: 'reports a minute per ingest token, all licences together (0: no limit)',
    min: 0,
  },
  tokenBurst: { flag: '--rate-token-burst <n>', help: 'burst of reports per token', min: 1 },
  addressPerMin: {
    flag: '--rate-address-per-min <n>',
    help: 'reports a minute per sending address, IPv6 per /48, loopback not limited (0: no limit)',
    min: 0,
  },
  addressBurst: {
    flag: '--rate-address-burst <n>',
    help: 'burst of reports per address',
    min: 1,
  },
  newGroupsPerMin: {
    flag: '--rate-new-groups-per-min <n>',
    help: 'reports a minute from one address that start a new group, loopback not limited (0: no limit)',
    min: 0,
  },
  newGroupsBurst: {
    flag: '--rate-new-groups-burst <n>',
    help: 'burst of new groups per address',
    min: 1,
  },
  readPerMin: {
    flag: '--rate-read-per-min <n>',
    help: 'engineer and admin requests a minute per token (0: no limit)',
    min: 0,
  },
  readBurst: { flag: '--rate-read-burst <n>', help: 'burst of requests per token', min: 1 },
};

/**
 * One of `serve`'s rate-limit options, with its default shown in `--help`.
 *
 * @example
 * program.command('serve').addOption(rateOption('licencePerMin')); // --rate-licence-per-min <n>
 */
export function rateOption(key: keyof RateLimitSettings): Option {
  const { flag, help, min } = FLAGS[key];
  return new Option(flag, help)
    .default(DEFAULT_RATE_LIMITS[key])
    .argParser(wholeNumber(flag.split(' ')[0], min));
}

/**
 * The parser of a `serve` option that takes a whole number from `min`: a usage error otherwise.
 *
 * @example
 * new Option('--max-connections <n>').argParser(wholeNumber('--max-connections', 0));
 */
export function wholeNumber(flag: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d{1,9}$/.test(value) || n < min) {
      throw new CommandError(
        `${flag} takes a whole number from ${min}, not "${value}"`,
        EXIT.usage,
      );
    }
    return n;
  };
}

/**
 * `--trust-proxy LIST`: the proxies whose X-Forwarded-For names the sender; a bad entry is a
 * usage error before anything is opened.
 *
 * @example
 * program.command('serve').addOption(trustProxyOption()); // --trust-proxy loopback,10.0.0.0/8
 */
export function trustProxyOption(): Option {
  return new Option(
    '--trust-proxy <list>',
    'proxies whose X-Forwarded-For names the sender, for the per-address limit: addresses, CIDR ranges, loopback, linklocal, uniquelocal, comma-separated',
  ).argParser((value: string) => {
    try {
      return rangesOf(value.split(','));
    } catch (e) {
      if (e instanceof TrustProxyError) throw new CommandError(e.message, EXIT.usage);
      throw e;
    }
  });
}

/**
 * The limits `serve` applies, from its flags (each absent one at its default); the per-address
 * limit goes by the peer's address, or through the proxies `--trust-proxy` names, by theirs.
 *
 * @example
 * rateLimitsFromFlags({ rateLicencePerMin: 60 }); // { licencePerMin: 60, ... }
 */
export function rateLimitsFromFlags(
  o: RateLimitFlags,
  onUnnamed?: () => void,
  onLoopbackProxy?: () => void,
): RequestLimitsOptions {
  return {
    licencePerMin: o.rateLicencePerMin,
    licenceBurst: o.rateLicenceBurst,
    tokenPerMin: o.rateTokenPerMin,
    tokenBurst: o.rateTokenBurst,
    addressPerMin: o.rateAddressPerMin,
    addressBurst: o.rateAddressBurst,
    newGroupsPerMin: o.rateNewGroupsPerMin,
    newGroupsBurst: o.rateNewGroupsBurst,
    senderOf: senderKey(o.trustProxy, onUnnamed, onLoopbackProxy),
    readPerMin: o.rateReadPerMin,
    readBurst: o.rateReadBurst,
  };
}
