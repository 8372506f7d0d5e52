import { Command } from 'commander';
import {
  parseTimeBound,
  sortVersionsDescending,
  TIME_BOUND_HELP,
  type GroupDetail,
  type ShortReport,
} from '@jcs/protocol';
import type { ApiClient } from '../client';
import { aboutGroup, resolveGroup } from '../group-ref';
import { checkWindow } from '../options';
import { dayChart, fillDays } from '../render/day-chart';
import { statusCell, where } from '../render/group-format';
import { absoluteTime, relativeTime } from '../render/relative-time';
import { shareBar } from '../render/share-bar';
import { fitColumns, paint, renderTable, type Cell, type Column, type Row } from '../render/table';
import { footer, formatCount, oneLine, plural, wrapWords } from '../render/text';
import { atCollectorTime, jsonText, type Output, type Wiring, hint } from './context';

/** The options of `jcs-errors show`. */
export interface ShowOptions {
  since?: string;
}

const DEFAULT_SINCE = '6w';
/** Breakdown tables list this many rows; the rest are summed in one line. */
const BREAKDOWN_ROWS = 10;
/**
 * The versions table also lists this many of the busiest versions when they are older than the
 * newest ten: a version most reports come from is never folded into "other versions".
 */
const BUSIEST_VERSIONS = 3;
const BAR_WIDTH = 20;

/**
 * Why a group's reports can be gone while its counts stay: both ways a report goes, since a
 * listing cannot tell which took it (an erasure had the 42 days blamed for reports a minute old).
 */
export const GONE_WHY =
  'reports are deleted at most 42 days after they arrive, and at once when their data subject is erased';

/**
 * `jcs-errors show GROUP`: one group in depth: identity and status, counts by day as a chart,
 * tables by version and by line, and the latest reports.
 *
 * @example
 * const text = await show('3fa9', { since: '2w' }, client, output);
 */
export async function show(
  group: string,
  options: ShowOptions,
  client: ApiClient,
  output: Output,
): Promise<string> {
  const { since } = checkWindow({ since: options.since }, output.now);
  const { id } = await resolveGroup(client, group);
  const answer = await aboutGroup(group, () => client.getGroup(id, { since }), client.invocation);
  if (output.json) return jsonText(answer.body);
  return renderShow(
    answer.data,
    since ?? DEFAULT_SINCE,
    atCollectorTime(output, answer.serverDate),
  );
}

/**
 * The text of `show` for one group.
 *
 * @example
 * renderShow((await client.getGroup('3fa9c1d2e4b7')).data, '6w', output);
 */
export function renderShow(detail: GroupDetail, since: string, output: Output): string {
  const { palette, now, width } = output;
  const statusText = paint(statusCell(detail, palette));
  const resolvedIn =
    detail.status === 'resolved'
      ? detail.resolvedInVersion
        ? ` in ${detail.resolvedInVersion}: a report from ${detail.resolvedInVersion} or later reopens it`
        : ': any new report reopens it'
      : detail.regressed && detail.resolvedInVersion
        ? ` (was resolved in ${detail.resolvedInVersion})`
        : '';

  const lines: string[] = [];
  lines.push(`${palette.bold(palette.cyan(detail.id))}  ${statusText}${resolvedIn}`);
  lines.push(palette.bold(`error ${detail.number} in ${where(detail)}`));
  lines.push(
    detail.description === null
      ? palette.dim('(no description: every report has expired or been erased)')
      : // wrapped to the terminal (a description may be 4,096 characters); piped, one line
        wrapWords(oneLine(detail.description), output.piped ? undefined : width),
  );
  lines.push('');
  lines.push(
    `${plural(detail.count, 'occurrence')} · ${plural(detail.users, 'user')} · ${plural(detail.licences, 'licence')}`,
  );
  const firstSeen = `first seen ${absoluteTime(detail.firstSeen)} (${relativeTime(detail.firstSeen, now)})`;
  const lastSeen = `last seen ${relativeTime(detail.lastSeen, now)}`;
  // One line where it fits (62 columns or so), else two rather than one the terminal wraps.
  const seen = `${firstSeen} · ${lastSeen}`;
  lines.push(output.piped || seen.length <= width ? seen : `${firstSeen}\n${lastSeen}`);

  const from = parseTimeBound(since, now) ?? now;
  const fromDay = from.toISOString().slice(0, 10);
  const toDay = now.toISOString().slice(0, 10);
  const days = fillDays(detail.byDay, fromDay, toDay);
  lines.push('');
  lines.push(palette.bold(`By day, ${days[0].day} to ${days[days.length - 1].day} (UTC)`));
  lines.push(dayChart(days, { width, palette }));

  lines.push('');
  lines.push(palette.bold('By version'));
  lines.push(byVersion(detail, output));
  lines.push('');
  lines.push(palette.bold('By line'));
  lines.push(byLine(detail, output));
  lines.push('');
  lines.push(palette.bold('Latest reports'));
  // No occurrence in the window: nothing was deleted, so no word about deletions.
  lines.push(
    detail.count === 0
      ? palette.dim('(none in the window)')
      : reportTable(detail.latest, output, 'none in the window'),
  );
  if (detail.latest.length > 0) {
    lines.push('');
    lines.push(
      footer(
        `${hint(output, `reports ${detail.id}`)} for more, ${hint(output, 'report ID')} for one`,
        output,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

function byVersion(detail: GroupDetail, output: Output): string {
  if (detail.byVersion.length === 0) return output.palette.dim('(none in the window)');
  const counts = new Map(detail.byVersion.map((v) => [v.version, v.count]));
  const newestFirst = sortVersionsDescending(counts.keys());
  const busiest = [...newestFirst]
    .sort((a, b) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0))
    .slice(0, BUSIEST_VERSIONS);
  const kept = new Set([...newestFirst.slice(0, BREAKDOWN_ROWS), ...busiest]);
  const entry = (version: string) => ({ label: version, count: counts.get(version) ?? 0 });
  return breakdown(
    'VERSION',
    newestFirst.filter((v) => kept.has(v)).map(entry),
    newestFirst.filter((v) => !kept.has(v)).map(entry),
    ['other version', 'other versions'],
    output,
  );
}

function byLine(detail: GroupDetail, output: Output): string {
  if (detail.byLine.length === 0) return output.palette.dim('(none in the window)');
  const ordered = [...detail.byLine]
    .sort((a, b) => b.count - a.count || a.line - b.line)
    .map((l) => ({ label: l.line === 0 ? '0 (unknown)' : String(l.line), count: l.count }));
  return breakdown(
    'LINE',
    ordered.slice(0, BREAKDOWN_ROWS),
    ordered.slice(BREAKDOWN_ROWS),
    ['other line', 'other lines'],
    output,
  );
}

/** A table of `shown` rows, each with its share of all, and `rest` summed in one row. */
function breakdown(
  header: string,
  shown: { label: string; count: number }[],
  rest: { label: string; count: number }[],
  restName: [one: string, many: string],
  output: Output,
): string {
  const { palette, width } = output;
  const total = [...shown, ...rest].reduce((sum, e) => sum + e.count, 0);
  const max = Math.max(...shown.map((e) => e.count), ...rest.map((e) => e.count));
  const rows: Cell[][] = shown.map((e) => [
    e.label,
    formatCount(e.count),
    percent(e.count, total),
    { text: shareBar(e.count, max, BAR_WIDTH), color: palette.cyan },
  ]);
  if (rest.length > 0) {
    const restCount = rest.reduce((sum, e) => sum + e.count, 0);
    rows.push([
      { text: `${rest.length} ${restName[rest.length === 1 ? 0 : 1]}`, color: palette.dim },
      formatCount(restCount),
      percent(restCount, total),
      '',
    ]);
  }
  return renderTable({
    columns: [
      { header, min: 8, squeeze: 1 },
      { header: 'COUNT', align: 'right' },
      { header: 'SHARE', align: 'right' },
      { header: '', min: 1, squeeze: 0 },
    ],
    rows,
    width,
    palette,
  });
}

function percent(count: number, total: number): string {
  if (total === 0) return '–';
  const p = (count / total) * 100;
  return p > 0 && p < 1 ? '<1%' : `${Math.round(p)}%`;
}

/**
 * The table of short reports shared by `show` and `reports`: full ids, for `jcs-errors report`.
 * Repeats (identical occurrences the SDK held back) get a column, REP, only when some report has
 * any. `none` is what an empty table says (`show`'s list is of its window's reports). Where one
 * line per report does not fit the terminal without cutting a version or a licence, each report's
 * id goes on a second line under its other columns: an id is never cut.
 *
 * @example
 * reportTable(detail.latest, output); // REPORT  OCCURRED  VERSION  LICENCE  LINE
 */
export function reportTable(
  reports: readonly ShortReport[],
  output: Output,
  none = 'none',
): string {
  const { palette, now, width } = output;
  if (reports.length === 0) {
    return palette.dim(`(${none}: ${GONE_WHY})`);
  }
  const withRepeats = reports.some((r) => r.repeats > 0);
  const details = reports.map((r): Cell[] => {
    const cells: Cell[] = [
      relativeTime(r.occurredAt, now),
      oneLine(r.version),
      oneLine(r.license),
      r.line === 0 ? '?' : String(r.line),
    ];
    if (withRepeats) cells.push(r.repeats > 0 ? `+${formatCount(r.repeats)}` : '');
    return cells;
  });
  const detailColumns: Column[] = [
    { header: 'OCCURRED' },
    { header: 'VERSION', min: 7, squeeze: 2 },
    { header: 'LICENCE', min: 10, squeeze: 1 },
    { header: 'LINE', align: 'right' },
    ...(withRepeats ? [{ header: 'REP', align: 'right' as const }] : []),
  ];
  const columns = [{ header: 'REPORT' }, ...detailColumns];
  const rows = reports.map((r, i) => [r.id, ...details[i]]);
  // One line a report only when every cell fits whole: a cut version or licence misleads.
  if (naturalWidth(columns, rows) <= width) {
    return renderTable({ columns, rows, width, palette });
  }
  return renderTable({
    columns: detailColumns,
    rows: reports.map((r, i): Row => ({ cells: details[i], below: `  ${r.id}` })),
    width,
    palette,
    // the id whole, even where the terminal is narrower than it
    wrapBelow: true,
  });
}

/** The width of a table whose every cell is whole, with the default gap of two spaces. */
function naturalWidth(columns: Column[], rows: Cell[][]): number {
  const widths = fitColumns(
    columns.map(({ header, align }) => ({ header, align })),
    rows,
    Number.MAX_SAFE_INTEGER,
  );
  return widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
}

/**
 * The commander wiring of `show`.
 *
 * @example
 * program.addCommand(makeShowCommand(wiring)); // jcs-errors show 3fa9c1
 */
export function makeShowCommand(wiring: Wiring): Command {
  return new Command('show')
    .description('one group: counts by day, by version and by line, and its latest reports')
    .argument('<group>', 'the group id, or any unique prefix of it')
    .option('--since <when>', `window start: ${TIME_BOUND_HELP} (default: ${DEFAULT_SINCE})`)
    .action(async (group: string, options: ShowOptions, command: Command) => {
      const { client, output } = wiring.context(command);
      wiring.finish(await show(group, options, client, output));
    });
}
