import { parseDuration, parseTimeBound, type ExpirySummary } from '@jcs/protocol';
import { runExpiry } from '../retention/expire';
import { NOW_SLACK_MS } from '../retention/status';
import { openForCommand } from './open';
import { CommandError, EXIT, type Output } from './output';
import { Command } from 'commander';
import {
  CLI_ACTOR,
  DATA_DIR_HELP,
  retentionDays,
  RETENTION_DAYS_HELP,
  type CommandContext,
} from './context';

export interface ExpireOptions {
  dataDir: string;
  /** judge ages as if it were this moment (ms), from `--now` */
  now?: number;
  dryRun?: boolean;
  json?: boolean;
  retentionDays?: number;
}

/**
 * Parses `--now`: an ISO date (`2026-12-01`, midnight UTC) or date-time (`2026-12-01T02:30:00Z`;
 * UTC when no zone is given). Anything else is a usage error (exit 2).
 *
 * @example
 * parseNow('2026-12-01T02:30:00Z'); // 1795998600000
 */
export function parseNow(text: string): number {
  const at = parseDuration(text) === null ? parseTimeBound(text, new Date()) : null;
  if (!at) {
    throw new CommandError(
      `--now takes an ISO date or date-time such as 2026-12-01T02:30:00Z, not "${text}"`,
      EXIT.usage,
    );
  }
  // As the API's times: a cut-off before 1970 would be a negative time in the database.
  if (at.getUTCFullYear() < 1970 || at.getUTCFullYear() > 9999) {
    throw new CommandError(`--now must be in the years 1970 to 9999, not "${text}"`, EXIT.usage);
  }
  return at.getTime();
}

/**
 * `jcs-collector expire`: the nightly job, for cron. Prints a readable summary on stdout, or with
 * `--json` exactly the summary `POST /v1/expire` answers.
 *
 * @example
 * await expireCommand({ dataDir: './jcs-data', dryRun: true }, stdio);
 * // dry run: would delete 1520 reports and destroy 1 day key (cut-off 2026-10-21T02:30:00.000Z)
 */
export async function expireCommand(o: ExpireOptions, out: Output): Promise<ExpirySummary> {
  const c = openForCommand({ dataDir: o.dataDir, retentionDays: o.retentionDays });
  try {
    // Beside a running `serve` too, even judged far enough ahead to take today's reports and key:
    // retention/expire.ts shreds a day `serve` may still be writing under the write lock.
    const summary = await runExpiry(c, { now: o.now, dryRun: o.dryRun, actor: CLI_ACTOR });
    // A run judged in the past looks like any other, yet leaves the collector out of compliance.
    const past = o.now !== undefined && !o.dryRun && o.now < c.clock() - NOW_SLACK_MS;
    out.out(o.json ? JSON.stringify(summary) : `${describe(summary)}${past ? NOT_THE_JOB : ''}`);
    return summary;
  } finally {
    c.close();
  }
}

const NOT_THE_JOB =
  "; --now is over a minute in the past, so this run is on record but does not count as the expiry job having run (the status's lastExpiry and compliance)";

function describe(s: ExpirySummary): string {
  const keys = `${s.destroyedKeys} day ${s.destroyedKeys === 1 ? 'key' : 'keys'}`;
  const reports = `${s.deletedReports} ${s.deletedReports === 1 ? 'report' : 'reports'}`;
  const cutoff = `received at or before ${s.cutoff}`;
  return s.dryRun
    ? `dry run: would delete ${reports} ${cutoff} and destroy ${keys}; nothing was changed`
    : `expired ${reports} ${cutoff} and destroyed ${keys} in ${s.durationMs} ms`;
}

/**
 * `expire`, wired: the nightly job, for cron.
 *
 * @example
 * program.addCommand(makeExpireCommand(context));
 */
export function makeExpireCommand(c: CommandContext): Command {
  return new Command('expire')
    .description('run the expiry job now (for cron); prints a summary')
    .option(
      '--now <iso>',
      'judge ages as if it were this moment (ISO date-time, or a date: its midnight UTC)',
      parseNow,
    )
    .option('--dry-run', 'report what would be deleted; delete nothing')
    .option('--json', 'print the summary as JSON (as POST /v1/expire answers)')
    .option('--retention-days <days>', RETENTION_DAYS_HELP, retentionDays)
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (o: Omit<ExpireOptions, 'dataDir'>, cmd: Command) => {
      await expireCommand({ ...o, dataDir: c.dataDir(cmd) }, c.out);
    });
}
