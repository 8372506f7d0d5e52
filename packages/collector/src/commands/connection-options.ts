import { Option } from 'commander';
import { wholeNumber } from './rate-options';

/** Open connections one sending address may hold by default. */
export const DEFAULT_CONNECTIONS_PER_ADDRESS = 256;

/**
 * `serve --connections-per-address <n>`: open connections one sender may hold.
 *
 * @example
 * program.command('serve').addOption(connectionsPerAddressOption()); // --connections-per-address 64
 */
export function connectionsPerAddressOption(): Option {
  return new Option(
    '--connections-per-address <n>',
    'open connections one sending address may hold, IPv6 per /48, loopback and --trust-proxy proxies not limited (0: no limit)',
  )
    .default(DEFAULT_CONNECTIONS_PER_ADDRESS)
    .argParser(wholeNumber('--connections-per-address', 0));
}

/**
 * `serve --max-connections <n>`: open connections in all; by default the open-file limit less
 * what the collector's own files need (http/connection-limits.ts).
 *
 * @example
 * program.command('serve').addOption(maxConnectionsOption()); // --max-connections 4096
 */
export function maxConnectionsOption(): Option {
  return new Option(
    '--max-connections <n>',
    "open connections in all (0: no limit; default: the open-file limit less 512 for the collector's files)",
  ).argParser(wholeNumber('--max-connections', 0));
}
