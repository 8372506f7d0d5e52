import { Command } from 'commander';
import { EXIT } from '@jcs/protocol';
import type { ApiClient } from '../client';
import { CliError } from '../errors';
import { absoluteTime, relativeTime } from '../render/relative-time';
import { formatCount, plural, wrapWords } from '../render/text';
import { atCollectorTime, jsonText, type Output, type Wiring } from './context';

/** The options of `jcs-errors expire`. */
export interface ExpireOptions {
  /** count what the job would delete, deleting nothing (an addition to the contract) */
  dryRun?: boolean;
}

/**
 * `jcs-errors expire`: runs the collector's expiry job now (admin) and says what it removed, or
 * with `dryRun` what it would remove.
 *
 * @example
 * await expire({}, client, output);
 * // 'expiry done in 42 ms: 12 reports deleted, 12 keys destroyed (cut-off 2026-10-17 ...)'
 */
export async function expire(
  options: ExpireOptions,
  client: ApiClient,
  output: Output,
): Promise<string> {
  const answer = await client.expire({ dryRun: options.dryRun === true });
  const s = answer.data;
  if (options.dryRun && s.dryRun !== true) {
    // A collector that does not know dryRun ran the job for real: say so, and fail a script.
    throw new CliError(
      `the collector ran expiry for real, not a dry run (${plural(s.deletedReports, 'report')} deleted, ${plural(s.destroyedKeys, 'key')} destroyed): it does not take dryRun, so upgrade it before using --dry-run again`,
      EXIT.failed,
    );
  }
  if (output.json) return jsonText(answer.body);
  const { now } = atCollectorTime(output, answer.serverDate);
  const cutoff = `cut-off ${absoluteTime(s.cutoff)} (${relativeTime(s.cutoff, now)})`;
  const took = `${formatCount(Math.round(s.durationMs))} ms`;
  const said = s.dryRun
    ? `dry run in ${took}: would delete ${plural(s.deletedReports, 'report')} and destroy ${plural(s.destroyedKeys, 'key')}; ${cutoff}`
    : `expiry done in ${took}: ${plural(s.deletedReports, 'report')} deleted, ${plural(s.destroyedKeys, 'key')} destroyed; ${cutoff}`;
  return `${wrapWords(said, output.piped ? undefined : output.width)}\n`;
}

/**
 * The commander wiring of `expire`.
 *
 * @example
 * program.addCommand(makeExpireCommand(wiring)); // jcs-errors expire
 */
export function makeExpireCommand(wiring: Wiring): Command {
  return new Command('expire')
    .description('run the expiry job on the collector now (admin)')
    .option('--dry-run', 'count what it would delete, deleting nothing')
    .action(async (options: ExpireOptions, command: Command) => {
      const { client, output } = wiring.context(command);
      wiring.finish(await expire(options, client, output));
    });
}
