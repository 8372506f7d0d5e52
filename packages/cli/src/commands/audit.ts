import { Command } from 'commander';
import stringWidth from 'string-width';
import { UsageError } from '../errors';
import { parseDuration, shellWord, TIME_BOUND_HELP } from '@jcs/protocol';
import type { ApiClient } from '../client';
import { EXIT } from '../errors';
import { checkLimit, checkWindow } from '../options';
import { absoluteTime, relativeTime } from '../render/relative-time';
import { fitColumns, renderTable, type Cell, type Column, type Row } from '../render/table';
import { footer, formatCount, oneLine, moreHint, plural } from '../render/text';
import { atCollectorTime, jsonText, type Outcome, type Output, type Wiring } from './context';

/**
 * What to try when the window held no entries: 6 weeks back where the window was shorter, else
 * wider bounds (the collector keeps its access log for 13 months).
 */
function widen(since: string, until: string | undefined): string {
  const back = parseDuration(since);
  if (until === undefined && back !== null && back < parseDuration('6w')!) return 'try --since 6w';
  return `try an earlier --since${until === undefined ? '' : ' or a later --until'}`;
}

/** The options of `jcs-errors audit`. */
export interface AuditOptions {
  since?: string;
  until?: string;
  before?: string;
  limit?: string;
}

const DEFAULT_SINCE = '7d';
const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 100;
/** The highest sequence number `--before` takes (the collector's bound). */
const MAX_SEQ = Number.MAX_SAFE_INTEGER;
/** Room for every refusal's code (`invalid_request`) in the one-line layout. */
const OUTCOME_MIN = 15;

/**
 * `jcs-errors audit`: who read or changed what, newest first (admin).
 *
 * @example
 * const text = await audit({ since: '24h' }, client, output);
 */
export async function audit(
  options: AuditOptions,
  client: ApiClient,
  output: Output,
): Promise<string> {
  // The contract gives the CLI a 7d default, so it is always sent rather than left to the server.
  const bounds = checkWindow({ ...options, defaultSince: DEFAULT_SINCE }, output.now);
  const since = bounds.since!;
  const until = bounds.until;
  const limit = options.limit === undefined ? undefined : checkLimit(options.limit, MAX_LIMIT);
  const before =
    options.before === undefined ? undefined : checkLimit(options.before, MAX_SEQ, '--before');
  const answer = await client.listAudit({ since, until, before, limit });
  if (output.json) return jsonText(answer.body);

  const { palette, now } = atCollectorTime(output, answer.serverDate);
  // Piped (a script, a file): one line an entry, every outcome whole (a receipt's figures).
  const width = output.piped === true ? Number.MAX_SAFE_INTEGER : output.width;
  const entries = answer.data.entries;
  const window = `--since ${since}${until === undefined ? '' : ` --until ${until}`}${before === undefined ? '' : ` --before ${before}`}`;
  if (entries.length === 0)
    return `no audit entries in the window (${window}): ${widen(since, until)}\n`;
  const target = (e: (typeof entries)[number]): Cell =>
    e.target === null ? { text: '–', color: palette.dim } : oneLine(e.target);
  // Refusals carry the error code; successes start with "ok" (receipts add their figures).
  const outcome = (e: (typeof entries)[number]): Cell =>
    e.outcome.startsWith('ok')
      ? oneLine(e.outcome)
      : { text: oneLine(e.outcome), color: palette.yellow };
  const first = (e: (typeof entries)[number]): Cell[] => [
    String(e.seq),
    absoluteTime(e.at).replace(/ UTC$/, ''),
    oneLine(e.actor),
    oneLine(e.action),
  ];
  const head: Column[] = [
    { header: 'SEQ', align: 'right' },
    { header: 'AT (UTC)' },
    { header: 'ACTOR', min: 10, max: 24, squeeze: 3 },
    { header: 'ACTION', min: 12, max: 32, squeeze: 4 },
  ];
  const wideColumns: Column[] = [
    ...head,
    // Never cut: a report's id is copied from here to look it up.
    { header: 'TARGET' },
    // The first to give way: receipts are long, and go on over more lines rather than be cut;
    // never narrower than its longest word (a receipt's cutoff=...), which would be cut.
    {
      header: 'OUTCOME',
      min: Math.max(OUTCOME_MIN, ...entries.map(longestWord)),
      squeeze: 1,
      wrap: true,
    },
  ];
  const wideRows = entries.map((e) => [...first(e), target(e), outcome(e)]);
  const fits = (columns: Column[], rows: Cell[][]) => {
    const widths = fitColumns(columns, rows, width);
    return widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1) <= width;
  };
  /** The columns `keep` of each entry on its line; the rest on a line below, never cut. */
  const stacked = (keep: number) =>
    renderTable({
      columns: head.slice(0, keep),
      rows: entries.map((e): Row => {
        const rest = [
          ...first(e).slice(keep).map(textOf),
          e.target === null ? '–' : oneLine(e.target),
          oneLine(e.outcome),
        ];
        return {
          cells: first(e).slice(0, keep),
          below: {
            text: rest.join('  '),
            color: e.outcome.startsWith('ok') ? undefined : palette.yellow,
          },
        };
      }),
      width,
      palette,
      belowFrom: 1,
      // An outcome is a record: a receipt's figures go on over more lines, never cut.
      wrapBelow: true,
    });
  const table = fits(wideColumns, wideRows)
    ? renderTable({ columns: wideColumns, rows: wideRows, width, palette })
    : // Too narrow for whole ids and codes beside the rest: target and outcome on a line below;
      // narrower still (a 40-column terminal), actor and action go below too.
      fits(head, entries.map(first))
      ? stacked(head.length)
      : stacked(2);
  const oldest = entries[entries.length - 1];
  // The window given, repeated: the hint's command must page back through the same one.
  const sameWindow = [
    options.since === undefined ? '' : `--since ${shellWord(since)} `,
    until === undefined ? '' : `--until ${shellWord(until)} `,
  ].join('');
  // Past the most one request lists, the next page is the older entries: by sequence number,
  // since entries committed together share one time, and more of them than a page would leave
  // --until nowhere to go.
  const more = moreHint(
    entries.length,
    limit ?? DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_LIMIT,
    `${sameWindow}--before ${oldest.seq} for older ones`,
  );
  return `${table}\n\n${footer(`${plural(entries.length, 'entry', 'entries')}, newest first, back to ${relativeTime(oldest.at, now)}${more}`, output)}\n`;
}

function textOf(cell: Cell): string {
  return typeof cell === 'string' ? cell : cell.text;
}

function longestWord(e: { outcome: string }): number {
  return Math.max(
    0,
    ...oneLine(e.outcome)
      .split(' ')
      .map((w) => stringWidth(w)),
  );
}

/**
 * `jcs-errors audit verify`: checks the audit log's hash chain on the collector. A broken chain
 * is a finding, not a crash: the text says where, and the exit code is 1.
 *
 * @example
 * const outcome = await auditVerify(client, output); // { text: 'audit log intact: ...', exitCode: 0 }
 */
export async function auditVerify(client: ApiClient, output: Output): Promise<Outcome> {
  const answer = await client.verifyAudit();
  const result = answer.data;
  if (result.ok) {
    const text = output.json
      ? jsonText(answer.body)
      : `${output.palette.green('audit log intact')}: ${plural(result.entries, 'entry', 'entries')}, every hash in the chain checks\n`;
    return { text, exitCode: EXIT.ok };
  }
  const text = output.json
    ? jsonText(answer.body)
    : `${output.palette.bold(output.palette.red('audit log BROKEN'))} at entry ${formatCount(result.brokenAt)}: it was altered or lost from there on\n`;
  return {
    text,
    exitCode: EXIT.failed,
    problem: `the audit log's hash chain is broken at entry ${result.brokenAt}: on the collector's machine, keep a copy of collector.db (and any -wal) and keys/audit-* as evidence, never the day keys (keys/days/, which expiry must still destroy), and investigate from that entry`,
  };
}

/**
 * The commander wiring of `audit` and `audit verify`.
 *
 * @example
 * program.addCommand(makeAuditCommand(wiring)); // jcs-errors audit, jcs-errors audit verify
 */
export function makeAuditCommand(wiring: Wiring): Command {
  const verify = new Command('verify')
    .description("check the audit log's hash chain; exits 1 when it is broken")
    .action(async (_options: object, command: Command) => {
      // `audit`'s options land on the parent, wherever they are typed: refuse rather than ignore.
      const given = Object.keys(command.parent?.opts() ?? {}).filter(
        (o) => command.parent?.getOptionValueSource(o) === 'cli',
      );
      if (given.length > 0) {
        throw new UsageError(
          `audit verify takes no ${given.map((o) => `--${o}`).join(' or ')}: it checks the whole log; use them with jcs-errors audit`,
        );
      }
      const { client, output } = wiring.context(command);
      wiring.finish(await auditVerify(client, output));
    });
  return new Command('audit')
    .description('the access log, newest first (admin); audit verify checks it')
    .option('--since <when>', `window start: ${TIME_BOUND_HELP} (default: ${DEFAULT_SINCE})`)
    .option('--until <when>', `window end, included: as --since (default: now)`)
    .option('--before <seq>', 'only entries before this sequence number (to page back)')
    .option('--limit <n>', `at most this many entries, 1-${MAX_LIMIT} (default: ${DEFAULT_LIMIT})`)
    .addCommand(verify)
    .action(async (options: AuditOptions, command: Command) => {
      const { client, output } = wiring.context(command);
      wiring.finish(await audit(options, client, output));
    });
}
