import { Option } from 'commander';
import type { FreeSpaceRule } from '../ingest/disk-reserve';
import { CommandError, EXIT } from './output';

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** The largest percentage taken: a reserve of more than half the disk is a typo. */
const MAX_PERCENT = 50;

/**
 * `--min-free-disk`'s value: a size (`0`, `500M`, `2G`, `512MiB`; K, M, G and T are powers of
 * 1024) or a percentage of the data dir's file system (`5%`). Throws a usage error naming the
 * forms it takes.
 *
 * @example
 * parseFreeSpace('2G'); // { bytes: 2147483648 }
 * parseFreeSpace('5%'); // { percent: 5 }
 */
export function parseFreeSpace(value: string): FreeSpaceRule {
  const text = value.trim();
  const percent = /^(\d{1,2}(?:\.\d{1,3})?)%$/.exec(text);
  if (percent && Number(percent[1]) <= MAX_PERCENT) return { percent: Number(percent[1]) };
  const size = /^(\d{1,12}(?:\.\d{1,3})?)\s*([KMGT]?)(?:i?B)?$/i.exec(text);
  if (size && !(size[2] === '' && size[1].includes('.'))) {
    const bytes = Math.ceil(Number(size[1]) * UNITS[size[2].toUpperCase()]);
    if (Number.isSafeInteger(bytes)) return { bytes };
  }
  throw new CommandError(
    `--min-free-disk takes a size such as 0, 500M or 2G, or a share of the disk from 0% to ${MAX_PERCENT}%, not "${value}"`,
    EXIT.usage,
  );
}

/**
 * `serve --min-free-disk <size>`, with its default said in `--help`.
 *
 * @example
 * program.command('serve').addOption(minFreeDiskOption()); // --min-free-disk 1G
 */
export function minFreeDiskOption(): Option {
  return new Option(
    '--min-free-disk <size>',
    "free space to keep on the data dir's disk for erasure and expiry: reports are refused (503) below it; a size (500M, 2G) or a share (5%), 0 for none (default: 64M, at most 2% of the disk but at least 8M)",
  ).argParser(parseFreeSpace);
}
