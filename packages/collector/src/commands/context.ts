import type { Command } from 'commander';
import { MAX_RETENTION_DAYS } from '../collector';
import { resolveDataDir } from '../paths';
import { refuseForeignDataDir, refuseUnusableFiles } from './data-dir-owner';
import { CommandError, EXIT, type Output } from './output';

/**
 * What every `makeXCommand()` is given: where to write, and the data dir its command line names.
 *
 * @example
 * program.addCommand(makeInitCommand(commandContext(stdio)));
 */
export interface CommandContext {
  out: Output;
  /** `--data-dir`, else `$JCS_COLLECTOR_DATA_DIR`, else `./jcs-data`; checked before use */
  dataDir(cmd: Command): string;
}

/**
 * The context of the real command line.
 *
 * @example
 * const context = commandContext(stdio);
 */
export function commandContext(out: Output): CommandContext {
  return {
    out,
    dataDir(cmd) {
      const flag = cmd.optsWithGlobals().dataDir as string | undefined;
      // `--data-dir "$DIR"` with DIR unset would otherwise take over the working directory.
      if (flag !== undefined && flag.trim() === '') {
        throw new CommandError(
          '--data-dir is empty: give a directory, or leave the option out for $JCS_COLLECTOR_DATA_DIR or ./jcs-data',
          EXIT.usage,
        );
      }
      const dir = resolveDataDir(flag);
      refuseForeignDataDir(dir);
      refuseUnusableFiles(dir);
      return dir;
    },
  };
}

/** Who acted, in the access log, for a change made with a jcs-collector command (token names cannot hold ':'). */
export const CLI_ACTOR = 'system:cli';

/** The help of `--data-dir`, which every command takes after its name as well as before. */
export const DATA_DIR_HELP = 'data directory (default: $JCS_COLLECTOR_DATA_DIR, else ./jcs-data)';

/**
 * `--port`: 0 (a free port) to 65535.
 *
 * @example
 * portNumber('8080'); // 8080
 */
export function portNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new CommandError(`--port takes 0 to 65535, not "${value}"`, EXIT.usage);
  return n;
}

/**
 * `--retention-days`: 1 to the contract's 42.
 *
 * @example
 * retentionDays('7'); // 7
 */
export function retentionDays(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_RETENTION_DAYS) {
    throw new CommandError(
      `--retention-days takes 1 to ${MAX_RETENTION_DAYS} (no report is kept longer than ${MAX_RETENTION_DAYS} days), not "${value}"`,
      EXIT.usage,
    );
  }
  return n;
}

/** The help of `--retention-days`. */
export const RETENTION_DAYS_HELP = `keep reports at most this many days (at most ${MAX_RETENTION_DAYS})`;
