import { Option } from 'commander';
import {
  DEFAULT_RATE_LIMITS,
  type RateLimitSettings,
  type RequestLimitsOptions,
} from '../auth/request-limits';
import { CommandError, EXIT } from './output';

/** `serve`'s rate-limit flags, as commander names them. */
export interface RateLimitFlags {
  rateLicencePerMin?: number;
  rateLicenceBurst?: number;
  rateTokenPerMin?: number;
  rateTokenBurst?: number;
  rateReadPerMin?: number;
  rateReadBurst?: number;
}

const FLAGS: Record<keyof RateLimitSettings, { flag: string; help: string; min: number }> = {
  licencePerMin: {
    flag: '--rate-licence-per-min <n>',
    help: 'reports a minute per licence (0: no limit)',
    min: 0,
  },
  licenceBurst: { flag: '--rate-licence-burst <n>', help: 'burst of reports per licence', min: 1 },
  tokenPerMin: {
    flag: '--rate-token-per-min <n>',
    help: 'reports a minute per ingest token, all licences together (0: no limit)',
    min: 0,
  },
  tokenBurst: { flag: '--rate-token-burst <n>', help: 'burst of reports per token', min: 1 },
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
  const name = flag.split(' ')[0];
  return new Option(flag, help).default(DEFAULT_RATE_LIMITS[key]).argParser((value: string) => {
    const n = Number(value);
    if (!/^\d{1,9}$/.test(value) || n < min) {
      throw new CommandError(
        `${name} takes a whole number from ${min}, not "${value}"`,
        EXIT.usage,
      );
    }
    return n;
  });
}

/**
 * The limits `serve` applies, from its flags (each absent one at its default).
 *
 * @example
 * rateLimitsFromFlags({ rateLicencePerMin: 60 }); // { licencePerMin: 60, ... }
 */
export function rateLimitsFromFlags(o: RateLimitFlags): RequestLimitsOptions {
  return {
    licencePerMin: o.rateLicencePerMin,
    licenceBurst: o.rateLicenceBurst,
    tokenPerMin: o.rateTokenPerMin,
    tokenBurst: o.rateTokenBurst,
    readPerMin: o.rateReadPerMin,
    readBurst: o.rateReadBurst,
  };
}
