import { Command } from 'commander';
import { sortVersionsDescending, TIME_BOUND_HELP, type Group } from '@jcs/protocol';
import type { ApiClient, GroupList, GroupQuery } from '../client';
import { checkChoice, checkLimit, checkVersion, checkWindow } from '../options';
import {
  fitVersions,
  identity,
  shortIds,
  statusCell,
  versionsSummary,
  where,
} from '../render/group-format';
import { relativeTime, absoluteTime } from '../render/relative-time';
import { sparkline } from '../render/sparkline';
import { fitColumns, renderTable, type Cell, type Column, type Row } from '../render/table';
import { footer, formatCount, oneLine, moreHint, plural } from '../render/text';
import { atCollectorTime, jsonText, type Output, type Wiring, hint } from './context';

/** The options of `jcs-errors top`, as typed on the command line. */
export interface TopOptions {
  since?: string;
  version?: string;
  status?: string;
  sort?: string;
  limit?: string;
}

const STATUSES = ['unresolved', 'resolved', 'ignored', 'all'] as const;
const SORTS = ['count', 'last', 'first', 'users'] as const;
const SORT_WORDS: Record<(typeof SORTS)[number], string> = {
  count: 'most occurrences first',
  last: 'most recently seen first',
  first: 'newest groups first',
  users: 'most users first',
};
const MAX_LIMIT = 500;
const DEFAULT_LIMIT = 20;
/** Six weeks: the collector keeps no report longer, so no wider window finds more. */
const RETENTION_WINDOW_MS = 42 * 24 * 3_600_000;
/** The widest the VERSIONS column grows: a version of four parts and the count of others. */
const VERSIONS_MAX = 14;

/**
 * `jcs-errors top`: the groups of the window as a table, the morning's first look.
 *
 * @example
 * const text = await top({ since: '24h', limit: '10' }, client, output);
 */
export async function top(options: TopOptions, client: ApiClient, output: Output): Promise<string> {
  // Only what was given is sent, so the collector's defaults (contract section 2) apply as they are.
  const query: GroupQuery = {
    since: checkWindow({ since: options.since }, output.now).since,
    version: options.version === undefined ? undefined : checkVersion(options.version, '--version'),
    status:
      options.status === undefined ? undefined : checkChoice(options.status, '--status', STATUSES),
    sort: options.sort === undefined ? undefined : checkChoice(options.sort, '--sort', SORTS),
    limit: options.limit === undefined ? undefined : checkLimit(options.limit, MAX_LIMIT),
  };
  const answer = await client.listGroups(query);
  if (output.json) return jsonText(answer.body);
  return renderTop(answer.data, query, atCollectorTime(output, answer.serverDate));
}

/**
 * The text of `top` for a list of groups.
 *
 * @example
 * renderTop((await client.listGroups()).data, {}, output); // the table and its footer
 */
export function renderTop(list: GroupList, query: GroupQuery, output: Output): string {
  const { now } = output;
  const status = query.status ?? 'unresolved';
  const kind = status === 'all' ? 'groups' : `${status} groups`;
  // Measured from the window's own end: the collector's clock fixed it, a moment after ours.
  const until = Number.isFinite(Date.parse(list.window.until)) ? new Date(list.window.until) : now;
  const since = `since ${absoluteTime(list.window.since, 'minute')} (${relativeTime(list.window.since, until)})`;
  const version = query.version ? ` in version ${query.version}` : '';
  if (list.groups.length === 0) return `no ${kind}${version} ${since}${emptyHints(list, query)}\n`;

  const table = groupTable(list.groups, output, query.sort ?? 'count');
  const limit = query.limit ?? DEFAULT_LIMIT;
  const summary = `${plural(list.groups.length, kind.replace(/s$/, ''), kind)}${version} ${since}, ${SORT_WORDS[query.sort ?? 'count']}`;
  const more = moreHint(
    list.groups.length,
    limit,
    limit * 2,
    MAX_LIMIT,
    'narrow it with --since or --version',
  );
  return `${table}\n\n${footer(`${summary}${more}`, output)}\n${footer(hint(output, 'show ID for one group'), output)}\n`;
}

/**
 * What might find groups where none were: only the changes that could (reports are kept six
 * weeks, so a window of six weeks or more is as wide as it gets).
 */
function emptyHints(list: GroupList, query: GroupQuery): string {
  const hints: string[] = [];
  const span = Date.parse(list.window.until) - Date.parse(list.window.since);
  if (!(span >= RETENTION_WINDOW_MS)) hints.push('widen the window with --since 6w');
  if ((query.status ?? 'unresolved') !== 'all') hints.push('try --status all');
  if (query.version) hints.push('leave out --version');
  return hints.length === 0 ? '' : `: ${hints.join(', or ')}`;
}

/**
 * The groups table. On a wide terminal one line per group; when the description would get less
 * than a readable width, the error number, place and description go on a second line under each
 * group, so an 80-column terminal still shows every column.
 */
function groupTable(groups: Group[], output: Output, sort: (typeof SORTS)[number]): string {
  const { palette, now } = output;
  // Piped (a script, a file): whole values, one line a group, for grep and friends.
  const whole = output.piped === true;
  const width = whole ? Number.MAX_SAFE_INTEGER : output.width;
  const ids = whole ? groups.map((g) => g.id) : shortIds(groups.map((g) => g.id));
  const trendWidth = width < 72 ? 7 : 14;
  const shrink = (column: Column, min: number, max: number | undefined, squeeze: number) =>
    whole ? column : { ...column, min, max, squeeze };
  const head: Column[] = [
    { header: 'ID' },
    { header: 'COUNT', align: 'right' },
    { header: 'USERS', align: 'right' },
    { header: 'LICS', align: 'right' },
    shrink({ header: 'VERSIONS', fit: fitVersions }, 7, VERSIONS_MAX, 3),
    { header: 'LAST SEEN' },
    { header: 'TREND' },
    { header: 'STATUS' },
  ];
  const firstCells = groups.map((g, i): Cell[] => [
    { text: ids[i], color: palette.cyan },
    formatCount(g.count),
    formatCount(g.users),
    formatCount(g.licences),
    whole ? sortVersionsDescending(g.versions).join(', ') || '–' : versionsSummary(g.versions),
    relativeTime(g.lastSeen, now),
    { text: sparkline(g.daily, trendWidth), color: palette.cyan },
    whole && g.regressed && g.status === 'unresolved'
      ? { text: 'unresolved (regressed)', color: palette.red }
      : statusCell(g, palette),
  ]);

  const wideColumns: Column[] = [
    ...head,
    { header: 'ERR', align: 'right' },
    // Never cut: two places that differ only at the end would look the same. Where the whole of
    // it does not fit beside a readable description, the two-line layout shows it whole.
    { header: 'WHERE' },
    shrink({ header: 'DESCRIPTION' }, 20, undefined, 1),
  ];
  const wideRows = groups.map((g, i): Cell[] => [
    ...firstCells[i],
    String(g.number),
    where(g),
    description(g, palette),
  ]);
  const widths = fitColumns(wideColumns, wideRows, width);
  if (widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1) <= width) {
    return renderTable({ columns: wideColumns, rows: wideRows, width, palette });
  }

  // Narrower still, columns go rather than a line going over: the trend first (under about 68
  // columns), then the versions, licences, users and last seen (under about 61, 51, 44, 37),
  // so that the id, count and status always fit.
  const dropped = new Set<number>();
  const fits = () => {
    const columns = head.filter((_, i) => !dropped.has(i));
    const cells = firstCells.map((row) => row.filter((_, i) => !dropped.has(i)));
    return fitColumns(columns, cells, width).reduce((a, b) => a + b + 2, -2) <= width;
  };
  // The column the list is sorted by last: an order by what is not shown reads as no order.
  const order = [
    ...DROPPED_FIRST.filter((h) => h !== SORTED_BY[sort]),
    ...DROPPED_FIRST.filter((h) => h === SORTED_BY[sort]),
  ];
  for (const header of order) {
    if (fits()) break;
    dropped.add(head.findIndex((c) => c.header === header));
  }
  const keep = (_: unknown, i: number) => !dropped.has(i);
  // The room the line below has: the width less the id column, where it starts.
  const room = width - Math.max(2, ...ids.map((id) => id.length)) - 2;
  const rows = groups.map((g, i): Row => ({
    cells: firstCells[i].filter(keep),
    below: { text: placeFitting(g, room), color: palette.dim },
  }));
  return renderTable({ columns: head.filter(keep), rows, width, palette, belowFrom: 1 });
}

/**
 * The line below a group: its number, place and description, the description cut first (by the
 * table, at the end). A number and place longer than the room alone lose their middle instead:
 * two places that differ only at the end (procedures A and B of one long module) stay apart.
 */
function placeFitting(group: Group, room: number): string {
  const place = `${group.number} ${where(group)}`;
  const chars = [...place];
  if (chars.length <= room) return identity(group);
  const kept = Math.max(2, room - 1);
  const front = Math.ceil(kept / 2);
  return `${chars.slice(0, front).join('')}…${chars.slice(chars.length - (kept - front)).join('')}`;
}

/** The columns a narrow terminal loses, in this order. */
const DROPPED_FIRST = ['TREND', 'VERSIONS', 'LICS', 'USERS', 'LAST SEEN'];
/** The column each sort orders by, where it is one that can go. */
const SORTED_BY: Record<(typeof SORTS)[number], string | undefined> = {
  count: undefined,
  users: 'USERS',
  last: 'LAST SEEN',
  first: undefined,
};

function description(group: Group, palette: Output['palette']): Cell {
  if (group.description === null) return { text: '–', color: palette.dim };
  return oneLine(group.description);
}

/**
 * The commander wiring of `top`.
 *
 * @example
 * program.addCommand(makeTopCommand(wiring)); // jcs-errors top --since 24h
 */
export function makeTopCommand(wiring: Wiring): Command {
  return new Command('top')
    .description('list the error groups of a window, most frequent first')
    .option('--since <when>', `window start: ${TIME_BOUND_HELP} (default: 7d)`)
    .option('--version <version>', 'only reports from this app version, e.g. 5.2.1.345')
    .option('--status <status>', `${STATUSES.join(', ')} (default: unresolved)`)
    .option('--sort <key>', `${SORTS.join(', ')} (default: count)`)
    .option('--limit <n>', `at most this many groups, 1-${MAX_LIMIT} (default: ${DEFAULT_LIMIT})`)
    .action(async (options: TopOptions, command: Command) => {
      const { client, output } = wiring.context(command);
      wiring.finish(await top(options, client, output));
    });
}
