import { bucket } from './sparkline';
import { formatCount, trimSpaces } from './text';
import type { Palette } from './palette';

/** Occurrences on one UTC day. */
export interface DayCount {
  day: string;
  count: number;
}

const EIGHTHS = '▁▂▃▄▅▆▇█';
const DAY_MS = 86_400_000;

/**
 * A bar chart of counts by day, one column per day (or per few days, summed, when the window is
 * wider than the terminal; two columns or more and a gap per day, when a short window leaves
 * room, so that both ends are labelled), bars in eighths of a row, the largest column's count
 * marked on the axis:
 *
 * ```
 * 12 │                  ██
 *    │               ▄▄ ██       ▂▂
 *    │      ▁▁    ▆▆ ██ ██ ▃▃    ██
 *    └─────────────────────────────
 *     11-19                   11-28
 * ```
 *
 * @example
 * dayChart(fillDays([{ day: '2026-11-27', count: 3 }], '2026-11-26', '2026-11-28'),
 *   { width: 80, palette: makePalette(false) });
 */
export function dayChart(
  days: readonly DayCount[],
  options: { width: number; height?: number; palette: Palette },
): string {
  const height = options.height ?? 5;
  const { palette } = options;
  if (days.length === 0) return '(no days in the window)';

  const values = days.map((d) => d.count);
  // A column of several days shows their sum: the scale and the axis go by the largest column,
  // not the busiest day (which would draw every column above it at full height). The axis
  // label's width sets the room, which sets the columns: settled in a round or two.
  let axisLabel = formatCount(Math.max(0, ...values));
  let columns: number[] = [];
  for (let round = 0; round < 4; round++) {
    columns = bucket(values, Math.max(1, options.width - axisLabel.length - 2));
    const label = formatCount(Math.max(0, ...columns));
    if (label.length <= axisLabel.length) {
      axisLabel = label.padStart(axisLabel.length);
      break;
    }
    axisLabel = label;
  }
  const max = Math.max(0, ...columns);
  const room = Math.max(1, options.width - axisLabel.length - 2);
  const perColumn = Math.ceil(days.length / columns.length);

  // Dates with their year where the window spans two (a year-long chart's ends are the same day).
  const withYear = days[0].day.slice(0, 4) !== days[days.length - 1].day.slice(0, 4);
  const first = shortDay(days[0].day, withYear);
  const last = shortDay(days[days.length - 1].day, withYear);
  // One column a day, with room to spare: each day two columns wide or more, with a gap after
  // it (left off the last), widened for a window of a few days until both ends can be labelled.
  let barWidth = 0;
  if (perColumn === 1 && columns.length * 3 - 1 <= room) {
    barWidth = 2;
    const labelled = first.length + last.length + 2;
    while (
      columns.length > 1 &&
      columns.length * (barWidth + 1) - 1 < labelled &&
      columns.length * (barWidth + 2) - 1 <= room
    ) {
      barWidth++;
    }
  }
  const axisWidth = barWidth > 0 ? columns.length * (barWidth + 1) - 1 : columns.length;
  const levels = height * 8;
  const units = columns.map((v) =>
    v <= 0 || max === 0 ? 0 : Math.max(1, Math.round((v / max) * levels)),
  );

  const lines: string[] = [];
  for (let row = 0; row < height; row++) {
    const floor = (height - 1 - row) * 8;
    const cells = units.map((u) =>
      u >= floor + 8 ? '█' : u > floor ? EIGHTHS[u - floor - 1] : ' ',
    );
    const bars = trimSpaces(
      barWidth > 0 ? cells.map((c) => c.repeat(barWidth)).join(' ') : cells.join(''),
    );
    const label = row === 0 ? axisLabel : ' '.repeat(axisLabel.length);
    lines.push(trimSpaces(`${label} │${palette.cyan(bars)}`));
  }
  lines.push(`${' '.repeat(axisLabel.length)} └${'─'.repeat(axisWidth)}`);

  const pad = ' '.repeat(axisLabel.length + 2);
  if (columns.length > 1 && axisWidth >= first.length + last.length + 2) {
    lines.push(`${pad}${first}${' '.repeat(axisWidth - first.length - last.length)}${last}`);
  } else if (axisWidth >= last.length) {
    // Room for one label (or one day): the last day's, ending under its column.
    lines.push(`${pad}${' '.repeat(axisWidth - last.length)}${last}`);
  } else {
    // Fewer days than a label is wide: a mark under the last day's column, the label after it.
    lines.push(`${pad}${' '.repeat(axisWidth - 1)}^ ${last}`);
  }
  if (perColumn > 1) lines.push(`${pad}${palette.dim(`(one column per ${perColumn} days)`)}`);
  return lines.join('\n');
}

/**
 * Every UTC day from `from` to `to` (both `YYYY-MM-DD`, inclusive), with the counts given and 0
 * for the rest, whether or not the collector lists the empty days. Days outside the range but in
 * `counts` widen it, so no count is ever dropped.
 *
 * @example
 * fillDays([{ day: '2026-11-27', count: 3 }], '2026-11-26', '2026-11-28');
 * // [{ day: '2026-11-26', count: 0 }, { day: '2026-11-27', count: 3 }, { day: '2026-11-28', count: 0 }]
 */
export function fillDays(counts: readonly DayCount[], from: string, to: string): DayCount[] {
  const byDay = new Map<string, number>();
  for (const c of counts) byDay.set(c.day, (byDay.get(c.day) ?? 0) + c.count);
  const known = [...byDay.keys()].filter((d) => Number.isFinite(Date.parse(`${d}T00:00:00Z`)));
  const start = [from, ...known].sort()[0];
  const end = [to, ...known].sort().at(-1) ?? to;
  const out: DayCount[] = [];
  for (let t = Date.parse(`${start}T00:00:00Z`); t <= Date.parse(`${end}T00:00:00Z`); t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    out.push({ day, count: byDay.get(day) ?? 0 });
  }
  return out;
}

function shortDay(day: string, withYear: boolean): string {
  return !withYear && /^\d{4}-\d{2}-\d{2}$/.test(day) ? day.slice(5) : day;
}
