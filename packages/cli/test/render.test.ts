import { indentedJson } from '../src/render/indented-json';
import stringWidth from 'string-width';
import { absoluteTime, relativeTime } from '../src/render/relative-time';
import { bucket, sparkline } from '../src/render/sparkline';
import { dayChart, fillDays } from '../src/render/day-chart';
import { fitColumns, fitLine, renderTable } from '../src/render/table';
import { makePalette } from '../src/render/palette';
import { shareBar } from '../src/render/share-bar';
import {
  moreHint,
  oneLine,
  plural,
  safeText,
  shown,
  trimSpaces,
  wrapWords,
} from '../src/render/text';
import { fitVersions, shortIds, statusCell, versionsSummary } from '../src/render/group-format';

const plain = makePalette(false);
const now = new Date('2026-11-28T10:30:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();

describe('sparkline', () => {
  test('scales to the largest value, zero as the lowest bar and any occurrence above it', () => {
    expect(sparkline([0, 1, 4, 8, 2])).toBe('▁▂▅█▃');
    expect(sparkline([0, 0, 0])).toBe('▁▁▁');
    expect(sparkline([5])).toBe('█');
    expect(sparkline([])).toBe('');
  });

  test('sums long series into buckets aligned on the newest day', () => {
    expect(bucket([1, 1, 1, 1, 1], 2)).toEqual([2, 3]);
    expect(bucket([1, 2, 3], 5)).toEqual([1, 2, 3]);
    const six = sparkline(
      Array.from({ length: 42 }, (_, i) => (i === 41 ? 9 : 0)),
      14,
    );
    expect(six).toHaveLength(14);
    expect(six.endsWith('█')).toBe(true);
  });
});

describe('relativeTime', () => {
  test.each([
    [10_000, 'just now'],
    [5 * 60_000, '5m ago'],
    [3 * 3_600_000 + 59 * 60_000, '3h ago'],
    [2 * 86_400_000, '2d ago'],
    [15 * 86_400_000, '15d ago'],
    // in days up to nine weeks: a 41-day-old cut-off read "5w ago"
    [41.9 * 86_400_000, '41d ago'],
    [62 * 86_400_000, '62d ago'],
    [63 * 86_400_000, '2mo ago'],
    [100 * 86_400_000, '3mo ago'],
    [800 * 86_400_000, '2y ago'],
  ])('%i ms ago reads %s', (ms, text) => {
    expect(relativeTime(ago(ms), now)).toBe(text);
  });

  test('a future time (a skewed clock) reads "in"', () => {
    expect(relativeTime(new Date(now.getTime() + 2 * 3_600_000).toISOString(), now)).toBe('in 2h');
  });

  test('absolute times are UTC, to the second or the minute', () => {
    expect(absoluteTime('2026-11-28T10:15:07.123Z')).toBe('2026-11-28 10:15:07 UTC');
    expect(absoluteTime('2026-11-28T12:15:07+02:00', 'minute')).toBe('2026-11-28 10:15 UTC');
    expect(absoluteTime('garbage')).toBe('garbage');
  });

  test('absolute times of any year RFC 3339 allows, and leap seconds, as times', () => {
    // Split at the T: the years past 9999 that offsets reach have six digits and a sign.
    expect(absoluteTime('9999-12-31T23:59:59-05:00')).toBe('+010000-01-01 04:59:59 UTC');
    expect(absoluteTime('0000-01-01T00:00:00+05:45', 'minute')).toBe('-000001-12-31 18:15 UTC');
    // A leap second, which Date.parse refuses: shown in UTC like any other time.
    expect(absoluteTime('1990-12-31T15:59:60-08:00')).toBe('1990-12-31 23:59:60 UTC');
    expect(absoluteTime('2016-12-31T23:59:60.5Z', 'minute')).toBe('2016-12-31 23:59 UTC');
    expect(relativeTime('2016-12-31T23:59:60Z', new Date('2017-01-03T00:00:00Z'))).toBe('2d ago');
  });
});

describe('renderTable', () => {
  const columns = [
    { header: 'ID' },
    { header: 'COUNT', align: 'right' as const },
    { header: 'WHAT', min: 8, squeeze: 1 },
  ];
  const rows = [
    ['3fa9c1d', '1,204', 'Object variable or With block variable not set'],
    ['8b02e6a', '42', 'Type mismatch'],
  ];

  test('aligns columns, counts to the right, without trailing spaces', () => {
    expect(renderTable({ columns, rows, width: 100, palette: plain })).toBe(
      [
        'ID       COUNT  WHAT',
        '3fa9c1d  1,204  Object variable or With block variable not set',
        '8b02e6a     42  Type mismatch',
      ].join('\n'),
    );
  });

  test('cuts the squeezable column with an ellipsis to fit the width', () => {
    const text = renderTable({ columns, rows, width: 40, palette: plain });
    for (const line of text.split('\n')) expect(stringWidth(line)).toBeLessThanOrEqual(40);
    expect(text).toContain('3fa9c1d  1,204  Object variable or With…');
  });

  test('squeezes in order and never below a minimum', () => {
    const cols = [
      { header: 'A', min: 4, squeeze: 2 },
      { header: 'B', min: 4, squeeze: 1 },
    ];
    expect(fitColumns(cols, [['aaaaaaaaaa', 'bbbbbbbbbb']], 18)).toEqual([10, 6]);
    expect(fitColumns(cols, [['aaaaaaaaaa', 'bbbbbbbbbb']], 12)).toEqual([6, 4]);
    expect(fitColumns(cols, [['aaaaaaaaaa', 'bbbbbbbbbb']], 3)).toEqual([4, 4]);
  });

  test('measures wide characters as two columns', () => {
    const text = renderTable({
      columns: [{ header: 'X', min: 3 }],
      rows: [['漢字漢字漢字']],
      width: 7,
      palette: plain,
    });
    for (const line of text.split('\n')) expect(stringWidth(line)).toBeLessThanOrEqual(7);
  });

  test('puts a "below" line under a row, indented to a column', () => {
    const text = renderTable({
      columns: [{ header: 'ID' }, { header: 'N', align: 'right' }],
      rows: [{ cells: ['abc', '1'], below: 'a long line that is cut' }],
      width: 15,
      palette: plain,
      belowFrom: 1,
    });
    expect(text.split('\n')).toEqual(['ID   N', 'abc  1', '     a long li…']);
  });

  test('colours only when the palette does, and measures without the colour', () => {
    const coloured = renderTable({
      columns: [{ header: 'S' }],
      rows: [[{ text: 'red', color: makePalette(true).red }]],
      width: 20,
      palette: makePalette(true),
    });
    expect(coloured).toContain('\u001b[31mred\u001b[39m');
    const none = renderTable({
      columns: [{ header: 'S' }],
      rows: [[{ text: 'red', color: plain.red }]],
      width: 20,
      palette: plain,
    });
    expect(none).toBe('S\nred');
  });

  test('fitLine cuts by display width', () => {
    expect(fitLine('Object variable not set', 10)).toBe('Object va…');
    expect(fitLine('short', 10)).toBe('short');
    // Coloured: cut first, so the code that ends the colour survives the cut.
    const dim = makePalette(true).dim;
    expect(fitLine({ text: 'Object variable not set', color: dim }, 10)).toBe(dim('Object va…'));
  });
});

describe('dayChart', () => {
  test('draws bars in eighths with the largest count on the axis and the days under it', () => {
    const days = fillDays(
      [
        { day: '2026-11-26', count: 5 },
        { day: '2026-11-28', count: 8 },
      ],
      '2026-11-17',
      '2026-11-28',
    );
    // Narrow: one column a day.
    expect(dayChart(days, { width: 20, height: 2, palette: plain })).toBe(
      ['8 │         ▂ █', '  │         █ █', '  └────────────', '   11-17  11-28'].join('\n'),
    );
    // Room to spare: two columns and a gap a day.
    expect(dayChart(days, { width: 80, height: 2, palette: plain })).toBe(
      [
        '8 │                           ▂▂    ██',
        '  │                           ██    ██',
        '  └───────────────────────────────────',
        '   11-17                         11-28',
      ].join('\n'),
    );
  });

  test('labels a short window under its last day', () => {
    const chart = (from: string, width = 80) =>
      dayChart(fillDays([{ day: '2026-11-28', count: 2 }], from, '2026-11-29'), {
        width,
        height: 1,
        palette: plain,
      });
    // A week and a day, two columns a day: room for both ends.
    expect(chart('2026-11-22')).toBe(
      ['2 │                  ██', '  └───────────────────────', '   11-22             11-29'].join(
        '\n',
      ),
    );
    // 8 days, one column a day: room for the last label only, ending under the last column.
    expect(chart('2026-11-22', 12)).toBe(['2 │      █', '  └────────', '      11-29'].join('\n'));
    // 4 days: each day three columns wide, so both ends are labelled.
    expect(chart('2026-11-26')).toBe(
      ['2 │        ███', '  └───────────────', '   11-26     11-29'].join('\n'),
    );
    // 2 days: six columns each.
    expect(chart('2026-11-28')).toBe(
      ['2 │██████', '  └─────────────', '   11-28   11-29'].join('\n'),
    );
    // 2 days at one column each: narrower than a label, so a mark under the last column.
    expect(chart('2026-11-28', 5)).toBe(['2 │█', '  └──', '    ^ 11-29'].join('\n'));
  });

  test('fits a long window into the width, one column per few days', () => {
    const days = fillDays([{ day: '2026-11-28', count: 1 }], '2025-11-28', '2026-11-28');
    const text = dayChart(days, { width: 60, palette: plain });
    for (const line of text.split('\n')) expect(stringWidth(line)).toBeLessThanOrEqual(60);
    expect(text).toContain('(one column per 7 days)');
  });

  test('a column of several days is scaled by its sum, and the axis says the largest sum', () => {
    // 20 days at 10 a day, then one day of 15: summed two days a column, the busiest column is
    // 25, not the busiest day's 15, and columns of 20 are not drawn as full as it.
    const counts = [...Array(20).fill(10), 15].map((count, i) => ({
      day: new Date(Date.UTC(2026, 10, 1 + i)).toISOString().slice(0, 10),
      count,
    }));
    const text = dayChart(counts, { width: 15, height: 2, palette: plain });
    const [top] = text.split('\n');
    expect(text).toContain('(one column per 2 days)');
    expect(top.startsWith('25 │')).toBe(true);
    const bars = [...top.slice('25 │'.length)];
    expect(bars).toHaveLength(11);
    expect(bars.at(-1)).toBe('█');
    expect(bars.slice(1, -1).every((c) => c !== '█' && c !== ' ')).toBe(true);
    for (const line of text.split('\n').slice(0, -1)) {
      expect(stringWidth(line)).toBeLessThanOrEqual(15);
    }
  });

  test('a window over two years labels its ends with their years', () => {
    const days = fillDays([{ day: '2026-11-28', count: 1 }], '2025-11-28', '2026-11-28');
    const text = dayChart(days, { width: 60, palette: plain });
    expect(text).toMatch(/\n {3}2025-11-28 +2026-11-28\n/);
  });

  test('fillDays keeps days outside the range rather than dropping counts', () => {
    expect(fillDays([{ day: '2026-11-20', count: 2 }], '2026-11-21', '2026-11-21')).toEqual([
      { day: '2026-11-20', count: 2 },
      { day: '2026-11-21', count: 0 },
    ]);
  });
});

describe('text and groups', () => {
  test('control characters from reports never reach the terminal', () => {
    expect(safeText('bad\u001b[2Jthing\u009b')).toBe('bad\uFFFD[2Jthing\uFFFD');
    expect(safeText('two\r\nlines')).toBe('two\nlines');
    expect(oneLine(' Object variable\r\n\tnot set\u202e ')).toBe('Object variable not set\uFFFD');
    // invisible format characters: two names that differ only by them must not look the same
    for (const invisible of [
      '\u200b',
      '\u200e',
      '\u200f',
      '\u061c',
      '\u2060',
      '\ufeff',
      '\u00ad',
      '\u{e0041}',
    ]) {
      expect(safeText(`modBilling${invisible}.Post`)).toBe('modBilling\uFFFD.Post');
    }
    expect(oneLine('a\u2028b\u2029c')).toBe('a\uFFFDb\uFFFDc');
    // but joiners that belong to the text: Persian's ZWNJ inside a word, an emoji sequence's ZWJ
    expect(oneLine('می\u200cخواهم')).toBe('می\u200cخواهم');
    expect(safeText('deploy 👩\u200d💻 failed')).toBe('deploy 👩\u200d💻 failed');
    // between ASCII letters, where a name could hide one, a joiner is replaced
    expect(oneLine('asmith\u200d')).toBe('asmith\uFFFD');
    expect(oneLine('a\u200cb')).toBe('a\uFFFDb');
  });

  test('counts and plurals', () => {
    expect(plural(1, 'report')).toBe('1 report');
    expect(plural(12345, 'entry', 'entries')).toBe('12,345 entries');
  });

  test('share bars in eighths', () => {
    expect(shareBar(3, 4, 8)).toBe('██████');
    expect(shareBar(1, 1000, 8)).toBe('▏');
    expect(shareBar(0, 10, 8)).toBe('');
  });

  test('footers wrap between words by display width (wide characters count two)', () => {
    expect(wrapWords('20 groups since 2026-11-25 10:30 UTC, most occurrences first', 30)).toBe(
      '20 groups since 2026-11-25\n10:30 UTC, most occurrences\nfirst',
    );
    const wide = wrapWords('版本 版本 版本 版本', 10);
    expect(wide.split('\n').every((line) => stringWidth(line) <= 10)).toBe(true);
    expect(wide).toBe('版本 版本\n版本 版本');
    expect(wrapWords('a  b', undefined)).toBe('a  b');
  });

  test('versions: the newest, numerically, and how many others', () => {
    expect(versionsSummary(['5.2.0.12', '5.10.1', '5.9'])).toBe('5.10.1 +2');
    expect(versionsSummary(['5.2'])).toBe('5.2');
    expect(versionsSummary([])).toBe('–');
    // cut to a width: the version gives way, the count of others stays
    expect(fitVersions(versionsSummary(['5.2.1.345.12345.67890', '5.2.1.345']), 14)).toBe(
      '5.2.1.345.… +1',
    );
    expect(fitVersions(versionsSummary(['5.2.1.345', '5.1']), 14)).toBe('5.2.1.345 +1');
    // after a dot, never inside a number: 5.1… would read as version 5.1
    expect(fitVersions('5.10.0.1 +3', 7)).toBe('5.… +3');
    expect(fitVersions('5.10.0.1 +3', 9)).toBe('5.10.… +3');
    expect(fitVersions('51000000 +3', 7)).toBe('510… +3');
  });

  test('short ids are the shortest prefixes of at least 7 that tell them apart', () => {
    expect(shortIds(['3fa9c1d2e4b7', '3fa9c1ff0011', '8b02e6a1c9d4'])).toEqual([
      '3fa9c1d',
      '3fa9c1f',
      '8b02e6a',
    ]);
    expect(shortIds(['3fa9c1d2e4b7', '3fa9c1d2e4b8'])).toEqual(['3fa9c1d2e4b7', '3fa9c1d2e4b8']);
  });

  test('a regression is marked before anything else', () => {
    expect(statusCell({ status: 'unresolved', regressed: true }, plain)).toMatchObject({
      text: 'regressed',
    });
    expect(statusCell({ status: 'ignored', regressed: false }, plain)).toMatchObject({
      text: 'ignored',
    });
  });
});

test('shown: input quoted back in a message has tokens masked, controls replaced, length cut', () => {
  expect(shown('jcs_adm_tGMkKLJ54tioD70huDcfuQgsmrQhQlFhwlvHC5')).toBe('jcs_adm_\u2026');
  expect(shown('x jcs_ing_abc y')).toBe('x jcs_ing_\u2026 y');
  expect(shown('a\u001b[31mb')).toBe('a\uFFFD[31mb');
  expect(shown('z'.repeat(100))).toBe(`${'z'.repeat(59)}\u2026`);
  // cut between characters: never half an emoji (which would print as U+FFFD)
  expect(shown(`${'z'.repeat(58)}😀😀😀`)).toBe(`${'z'.repeat(58)}😀\u2026`);
  expect(shown('3fa9c1')).toBe('3fa9c1');
});

describe('moreHint', () => {
  test('nothing when the page is not full', () => {
    expect(moreHint(19, 20, 40, 500)).toBe('');
  });
  test('a full page may be all there is, so "may"; the next limit is capped at the largest', () => {
    expect(moreHint(20, 20, 40, 500)).toBe('; there may be more: --limit 40');
    expect(moreHint(400, 400, 800, 500)).toBe('; there may be more: --limit 500');
  });
  test('at the largest limit it asks for no bigger page', () => {
    expect(moreHint(1000, 1000, 1000, 1000)).toBe('; 1000 is the most one request lists');
    expect(moreHint(500, 500, 1000, 500, 'narrow it with --since')).toBe(
      '; 500 is the most one request lists: narrow it with --since',
    );
  });
});

describe('indentedJson', () => {
  it('is JSON.stringify with two spaces within 16 levels', () => {
    const value = {
      client: {
        name: 'Smith',
        accounts: [
          { id: 1, tags: [] },
          { id: 2, notes: {} },
        ],
      },
      list: [1, 'two', null, true, [[[]]]],
      empty: {},
      'odd "key"': -0.5e-7,
    };
    expect(indentedJson(value)).toBe(JSON.stringify(value, null, 2));
    expect(indentedJson('text')).toBe('"text"');
    expect(indentedJson(null)).toBe('null');
  });

  it('prints deeper levels compact, so a deep dump prints at about its own size', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 255; i++) deep = [deep];
    const text = indentedJson(deep);
    expect(JSON.parse(text)).toEqual(deep);
    // JSON.stringify(deep, null, 2) is over 65,000 characters of indentation
    expect(text.length).toBeLessThan(2_000);
    expect(JSON.stringify(deep, null, 2).length).toBeGreaterThan(60_000);
    expect(text).toContain(`${'  '.repeat(16)}${'['.repeat(239)}1${']'.repeat(239)}`);
  });

  it('says a value too deep for JSON.stringify is so, instead of failing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(indentedJson(deep)).toBe('"[nested too deep to print: see it with --json]"');
  });
});

test('trimSpaces drops trailing spaces only, and in time linear in the line', () => {
  expect(trimSpaces('id  count   ')).toBe('id  count');
  expect(trimSpaces('   ')).toBe('');
  expect(trimSpaces(' a\t ')).toBe(' a\t');
  // A piped table's column as wide as 10,000 versions: the regex it replaced tried the run of
  // spaces from each of its spaces (32 s for one group). Not timed here: the result is what is
  // checked; the cost is the bench's and the profile's business.
  const wide = `x${' '.repeat(240_000)}y${' '.repeat(10)}`;
  expect(trimSpaces(wide)).toBe(wide.slice(0, -10));
});
