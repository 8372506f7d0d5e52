import { Command } from 'commander';
import { COMPLIANCE, type RetentionStatus } from '@jcs/protocol';
import type { ApiClient } from '../client';
import { EXIT } from '../errors';
import { absoluteTime, relativeTime } from '../render/relative-time';
import { formatCount, labelled, plural } from '../render/text';
import { atCollectorTime, jsonText, type Outcome, type Output, type Wiring, hint } from './context';

const LABEL_WIDTH = 18;

/**
 * `jcs-errors status`: retention compliance at a glance (admin). Not compliant is a failure the
 * cron job or the on-call engineer must see, so it exits 1 with one line on stderr.
 *
 * @example
 * const outcome = await status(client, output);
 * if (outcome.exitCode !== 0) console.error(outcome.problem);
 */
export async function status(client: ApiClient, output: Output): Promise<Outcome> {
  const answer = await client.retentionStatus();
  const s = answer.data;
  // Ages as the collector judged them, where this machine's clock is off.
  const judged = atCollectorTime(output, answer.serverDate);
  const text = output.json ? jsonText(answer.body) : renderStatus(s, judged);
  if (s.compliant) return { text, exitCode: EXIT.ok };
  return {
    text,
    exitCode: EXIT.failed,
    problem: `not compliant: ${reasons(s, judged.now).join(' and ')}: run ${hint(judged, 'expire')} now, and check the collector's nightly job`,
  };
}

/**
 * The text of `status`.
 *
 * @example
 * renderStatus((await client.retentionStatus()).data, output); // 'Retention         compliant\n...'
 */
export function renderStatus(s: RetentionStatus, output: Output): string {
  const { palette, now } = output;
  const verdict = s.compliant
    ? palette.bold(palette.green('compliant'))
    : palette.bold(palette.red('NOT COMPLIANT'));
  const oldest =
    s.oldestReceivedAt === null
      ? palette.dim('(no reports)')
      : `${absoluteTime(s.oldestReceivedAt)} (${age(s.oldestReceivedAt, now)})`;
  const last =
    s.lastExpiry === null
      ? palette.dim('never')
      : `${absoluteTime(s.lastExpiry.at)} (${age(s.lastExpiry.at, now)}): ${plural(s.lastExpiry.deletedReports, 'report')} deleted, ${plural(s.lastExpiry.destroyedKeys, 'key')} destroyed`;
  const lines = [
    ['Retention', verdict],
    ['Retention period', plural(s.retentionDays, 'day')],
    ['Reports stored', formatCount(s.reports)],
    ['Oldest report', oldest],
    ['Last expiry run', last],
  ].map(([label, value]) => labelled(label, value, LABEL_WIDTH, output));
  if (!s.compliant) {
    for (const reason of reasons(s, now))
      lines.push(labelled('', reason, LABEL_WIDTH, output, palette.red));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * How old the oldest report or the last expiry run is, in the units the compliance rules count:
 * days and hours from two days on ("41d ago" reads the same for a report an hour short of the
 * retention and one a day short of it), whole hours from one hour on (the expiry run is due
 * every 36 hours, and "1d ago" hid a run 40 hours old beside "has not run for 36 hours").
 */
function age(at: string, now: Date): string {
  const hours = Math.floor((now.getTime() - Date.parse(at)) / 3_600_000);
  if (hours < 1) return relativeTime(at, now);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ${hours % 24} h ago`;
}

/**
 * Why the collector says it is not compliant, worked out from the same figures, so the message
 * names the cause; the collector's own verdict stays the one that counts.
 */
function reasons(s: RetentionStatus, now: Date): string[] {
  const out: string[] = [];
  const limit = s.retentionDays * 86_400_000;
  // As the collector judges it: a report received `limit` ago or earlier is past the retention.
  if (s.oldestReceivedAt !== null && now.getTime() - Date.parse(s.oldestReceivedAt) >= limit) {
    out.push(`reports older than ${s.retentionDays} days are stored`);
  }
  if (s.lastExpiry === null) {
    // Runs with a longer retention (before --retention-days was lowered), or with --now in the
    // past, are on record but do not count: "never run" alone would contradict the audit log.
    out.push(`the expiry job has never run with this ${s.retentionDays}-day retention`);
  } else if (Date.parse(s.lastExpiry.at) - now.getTime() > COMPLIANCE.aheadSlackMs) {
    // As the collector judges it: a run dated ahead ran while its clock was ahead, so when it
    // really ran is unknown, and it does not count as run within 36 hours.
    out.push('the last expiry run is dated ahead of the clock (it was wrong then or is now)');
  } else if (now.getTime() - Date.parse(s.lastExpiry.at) >= COMPLIANCE.expiryDueMs) {
    out.push('the expiry job has not run for 36 hours');
  }
  // What the collector also checks and this answer does not show: a day's pseudonymous rows or
  // data key kept past the retention.
  if (out.length === 0)
    out.push("a day's pseudonymous rows or data key are kept past the retention");
  return out;
}

/**
 * The commander wiring of `status`.
 *
 * @example
 * program.addCommand(makeStatusCommand(wiring)); // jcs-errors status
 */
export function makeStatusCommand(wiring: Wiring): Command {
  return new Command('status')
    .description('retention compliance at a glance (admin); exits 1 when not compliant')
    .action(async (_options: object, command: Command) => {
      const { client, output } = wiring.context(command);
      wiring.finish(await status(client, output));
    });
}
