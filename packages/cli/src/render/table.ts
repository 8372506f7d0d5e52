import Table from 'cli-table3';
import stringWidth from 'string-width';
import type { Palette } from './palette';
import { trimSpaces, wrapWords } from './text';

/** A column of {@link renderTable}. Columns without `min` keep their natural width. */
export interface Column {
  header: string;
  align?: 'left' | 'right';
  /** the narrowest this column may be squeezed to; absent: it is never squeezed */
  min?: number;
  /** the widest it may grow, even when there is room */
  max?: number;
  /** squeeze order: lower goes first (descriptions before module names, say) */
  squeeze?: number;
  /**
   * How a cell too wide for the column is cut, where the end matters more than the middle
   * (`5.2.1.… +2`); by default its end gives way to `…`.
   */
  fit?: (text: string, width: number) => string;
  /** cells too wide go on over more lines in the column, broken between words, rather than cut */
  wrap?: boolean;
}

/** A cell: its text, and optionally a colour for it (applied after the width is measured). */
export type Cell = string | { text: string; color?: (text: string) => string };

/** A row; `below` is a line printed under it, indented to the column `belowFrom`. */
export interface Row {
  cells: Cell[];
  below?: Cell;
}

export interface TableOptions {
  columns: Column[];
  rows: (Cell[] | Row)[];
  /** the terminal's width: no line is longer (but for a word of a `wrapBelow` line wider than it) */
  width: number;
  palette: Palette;
  /** spaces between columns */
  gap?: number;
  /** the column where `below` lines start */
  belowFrom?: number;
  /** `below` lines too long for the width go on over more lines, broken between words, uncut */
  wrapBelow?: boolean;
}

const NO_BORDERS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: ' ',
};

/**
 * An aligned, borderless table that fits `width`: columns that may shrink are squeezed in order
 * down to their minimum, and cells too long for their column end in `…`. Drawing, alignment and
 * truncation are cli-table3's; this only decides the widths.
 *
 * @example
 * renderTable({
 *   columns: [{ header: 'ID' }, { header: 'COUNT', align: 'right' }, { header: 'WHAT', min: 10 }],
 *   rows: [['3fa9c1d', '1,204', 'Object variable or With block variable not set']],
 *   width: 40, palette: makePalette(false),
 * });
 * // ID      COUNT WHAT
 * // 3fa9c1d 1,204 Object variable or With…
 */
export function renderTable(options: TableOptions): string {
  const gap = options.gap ?? 2;
  const rows = options.rows.map((r): Row => (Array.isArray(r) ? { cells: r } : r));
  const widths = fitColumns(
    options.columns,
    rows.map((r) => r.cells),
    options.width,
    gap,
  );

  const table = new Table({
    chars: { ...NO_BORDERS, middle: ' '.repeat(gap) },
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [] },
    colWidths: widths,
    colAligns: options.columns.map((c) => c.align ?? 'left'),
    wordWrap: false,
    truncate: '…',
  });
  table.push(options.columns.map((c) => options.palette.bold(c.header)));
  // How many lines each row takes: more than one where a wrapped cell needs them.
  const heights: number[] = [];
  for (const row of rows) {
    const cells = row.cells.map((cell, i) => {
      const column = options.columns[i];
      if (!column?.wrap || stringWidth(textOf(cell)) <= widths[i]) {
        return [paint(fitCell(cell, column, widths[i]))];
      }
      // Wrapped here and each line coloured on its own, so no colour code spans a line break.
      return wrapWords(textOf(cell), widths[i])
        .split('\n')
        .map((text) => paint(typeof cell === 'string' ? text : { ...cell, text }));
    });
    heights.push(Math.max(1, ...cells.map((c) => c.length)));
    table.push(cells.map((c) => c.join('\n')));
  }
  const lines = table.toString().split('\n').map(trimSpaces);

  const belowFrom = options.belowFrom ?? 0;
  const indent = widths.slice(0, belowFrom).reduce((sum, w) => sum + w + gap, 0);
  const out = [lines[0]];
  let next = 1;
  rows.forEach((row, i) => {
    out.push(...lines.slice(next, next + heights[i]));
    next += heights[i];
    if (row.below === undefined) return;
    const room = Math.max(1, options.width - indent);
    const below = row.below;
    const parts = options.wrapBelow
      ? wrapWords(textOf(below), room)
          .split('\n')
          .map((text): Cell => (typeof below === 'string' ? text : { ...below, text }))
      : [below];
    // Wrapped lines are whole words, never cut: a word wider than the terminal (a report id on
    // a very narrow one) runs past its edge rather than lose its end.
    for (const part of parts) {
      out.push(' '.repeat(indent) + (options.wrapBelow ? paint(part) : fitLine(part, room)));
    }
  });
  return out.join('\n');
}

/**
 * The widths of the columns: each its natural width (capped at `max`), then squeezed in order
 * until the line fits or every column is at its minimum.
 *
 * @example
 * fitColumns([{ header: 'A', min: 4 }, { header: 'B' }], [['aaaaaaaaaa', 'bb']], 10); // [6, 2]
 */
export function fitColumns(columns: Column[], rows: Cell[][], width: number, gap = 2): number[] {
  const widths = columns.map((column, i) => {
    const natural = Math.max(
      stringWidth(column.header),
      ...rows.map((row) => (row[i] === undefined ? 0 : stringWidth(textOf(row[i])))),
    );
    return Math.min(natural, column.max ?? Infinity);
  });
  let over = widths.reduce((a, b) => a + b, 0) + gap * (columns.length - 1) - width;
  const order = columns
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.min !== undefined)
    .sort((a, b) => (a.c.squeeze ?? 0) - (b.c.squeeze ?? 0));
  for (const { c, i } of order) {
    if (over <= 0) break;
    const give = Math.max(0, Math.min(over, widths[i] - (c.min ?? widths[i])));
    widths[i] -= give;
    over -= give;
  }
  return widths;
}

/**
 * One cell's text cut to `width` with an ellipsis, by display width (wide characters count two).
 *
 * @example
 * fitLine('Object variable not set', 10); // 'Object va…'
 */
export function fitLine(cell: Cell, width: number): string {
  const table = new Table({
    chars: NO_BORDERS,
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [] },
    colWidths: [width],
    wordWrap: false,
    truncate: '…',
  });
  // Cut the plain text, then colour it: cutting coloured text drops the code that ends the
  // colour, and the rows after it would be drawn in it too.
  table.push([textOf(cell)]);
  return paint({
    text: trimSpaces(table.toString()),
    color: typeof cell === 'string' ? undefined : cell.color,
  });
}

/** A cell cut by its column's own `fit` when it is too wide; the table cuts the others. */
function fitCell(cell: Cell, column: Column | undefined, width: number): Cell {
  const text = textOf(cell);
  if (!column?.fit || stringWidth(text) <= width) return cell;
  const fitted = column.fit(text, width);
  return typeof cell === 'string' ? fitted : { ...cell, text: fitted };
}

function textOf(cell: Cell): string {
  return typeof cell === 'string' ? cell : cell.text;
}

/**
 * A cell as text, its colour applied.
 *
 * @example
 * paint({ text: 'regressed', color: palette.red }); // '\u001b[31mregressed\u001b[39m' with colour on
 */
export function paint(cell: Cell): string {
  if (typeof cell === 'string') return cell;
  return cell.color ? cell.color(cell.text) : cell.text;
}
