import stringWidth from 'string-width';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, type RunResult } from '../src';
import { startFakeCollector, type FakeCollector } from './support/fake-collector';
import { NOW, REPORT_IDS } from './support/fixtures';

// The whole program in-process (commander, settings, client, commands, rendering) against a real
// HTTP server answering contract-shaped JSON, at a fixed "now" so the text can be compared whole.

/** A terminal wide enough for one-line messages, where a test is about their words. */
const WIDE = { width: 200 };
let fake: FakeCollector;
let home: string;
beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-cli-cmd-'));
});
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));
beforeEach(async () => {
  fake = await startFakeCollector();
});
afterEach(() => fake.close());

interface CliOptions {
  token?: string | null;
  width?: number;
  env?: Record<string, string>;
  tty?: boolean;
  stdin?: string;
  stdinIsTTY?: boolean;
}

function cli(args: string[], options: CliOptions = {}): Promise<RunResult> {
  const env: Record<string, string> = {
    JCS_ERRORS_SERVER: fake.url,
    COLUMNS: String(options.width ?? 80),
    ...options.env,
  };
  if (options.token !== null) env.JCS_ERRORS_TOKEN = options.token ?? fake.tokens.admin;
  return run(args, {
    env,
    homeDir: home,
    stdoutIsTTY: options.tty ?? false,
    columns: options.width,
    now: () => NOW,
    // Read only when given: a usage error must come before any read (on a terminal it waits).
    readStdin: () =>
      options.stdin === undefined
        ? Promise.reject(new Error('stdin was read'))
        : Promise.resolve(options.stdin),
    stdinIsTTY: options.stdinIsTTY,
  });
}

const lines = (...l: string[]) => `${l.join('\n')}\n`;
const requests = (p: string) => fake.requests.filter((r) => r.path === p);

describe('hints', () => {
  test('repeat a --server given on the command line, so a hint copied as it stands asks the same collector', async () => {
    const url = fake.url.replace(/\/$/, '');
    const flag = await cli(['--server', fake.url, 'show', 'ffffff']);
    expect(flag).toMatchObject({
      exitCode: 4,
      stderr: `no group ffffff: run jcs-errors --server ${url} top to list groups\n`,
    });
    const top = await cli(['top', '--server', fake.url]);
    expect(top.stdout).toContain(`jcs-errors --server ${url} show ID for one group`);
    // from the environment (or the config file), it is there for the hint too: not repeated
    const env = await cli(['show', 'ffffff']);
    expect(env.stderr).toBe('no group ffffff: run jcs-errors top to list groups\n');
    expect((await cli(['top'])).stdout).toContain('jcs-errors show ID for one group');
  });
});

describe('top', () => {
  test('an 80-column table: every column, the place and description on a second line', async () => {
    const r = await cli(['top']);
    expect(r).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'ID       COUNT  USERS  LICS  VERSIONS      LAST SEEN  TREND    STATUS',
        '3fa9c1d  1,204     37    12  5.2.1.345 +2  3h ago     ▅▄▆█▇██  regressed',
        '         91 modClients.LoadClient: Object variable or With block variable not s…',
        '3fa9c1f    310      9     4  5.2.1.345     25m ago    ▁▁▁▁▁▅█  unresolved',
        '         13 modInvoices.PrintInvoice: Type mismatch',
        '8b02e6a     42      3     3  5.2.1.345 +1  2d ago     ▁▇█▆█▁▁  unresolved',
        '         3021 modReports.RunMonthly: No current record.',
        '',
        '3 unresolved groups since 2026-11-21 10:30 UTC (7d ago), most occurrences first',
        'jcs-errors show ID for one group',
      ),
    });
    // Nothing given, nothing sent: the collector's defaults are the contract's.
    expect([...requests('/v1/groups')[0].query.keys()]).toEqual([]);
  });

  test('a narrow terminal loses the trend column, not the line width', async () => {
    const r = await cli(['top'], { width: 60 });
    // The table's lines; the sentences under it are the terminal's to wrap.
    const table = r.stdout.split('\n\n')[0].split('\n');
    for (const line of table) expect([...line].length).toBeLessThanOrEqual(60);
    expect(table.slice(0, 3)).toEqual([
      'ID       COUNT  USERS  LICS  VERSIONS  LAST SEEN  STATUS',
      '3fa9c1d  1,204     37    12  5.2.… +2  3h ago     regressed',
      '         91 modClients.LoadClient: Object variable or With …',
    ]);
    const roomy = await cli(['top'], { width: 72 });
    expect(roomy.stdout.split('\n')[0]).toContain('TREND');
  });

  test.each([56, 50, 44, 38, 30])(
    'at %i columns, more columns go, in order, and no line of the table is wider',
    async (width) => {
      fake.fixtures.groups[0].count = 987_664;
      fake.fixtures.groups[0].status = 'unresolved';
      fake.fixtures.groups[0].regressed = false;
      const r = await cli(['top'], { width });
      const table = r.stdout.split('\n\n')[0].split('\n');
      for (const line of table) expect(stringWidth(line)).toBeLessThanOrEqual(width);
      const header = table[0].split(/ {2,}/);
      expect(header.slice(0, 2)).toEqual(['ID', 'COUNT']);
      expect(header.at(-1)).toBe('STATUS');
      // what is left is a prefix of the order they go in, kept from the end
      const dropped = ['TREND', 'VERSIONS', 'LICS', 'USERS', 'LAST SEEN'].filter(
        (h) => !header.includes(h),
      );
      expect(['TREND', 'VERSIONS', 'LICS', 'USERS', 'LAST SEEN'].slice(0, dropped.length)).toEqual(
        dropped,
      );
      expect(table[1]).toMatch(/^3fa9c1d +987,664 .* unresolved$/);
    },
  );

  test.each([
    ['users', 'USERS'],
    ['last', 'LAST SEEN'],
  ])('narrow, sorted by %s, its column %s goes last', async (sort, header) => {
    const columns = async (width: number) => {
      const r = await cli(['top', '--sort', sort], { width });
      const table = r.stdout.split('\n\n')[0].split('\n');
      for (const line of table) expect(stringWidth(line)).toBeLessThanOrEqual(width);
      return table[0].split(/ {2,}/);
    };
    // at 40 columns USERS would go before LAST SEEN: the one sorted by stays instead
    expect(await columns(40)).toContain(header);
    // where nothing else is left to go, it goes too rather than the line going over
    expect(await columns(30)).not.toContain(header);
  });

  test('on a wide terminal a place is never cut: two that differ at the end stay apart', async () => {
    const long = 'modClientPortfolioValuationReconciliation';
    fake.fixtures.groups[0].module = long;
    fake.fixtures.groups[0].procedure = 'RecalculateHoldingsForAdviserA';
    fake.fixtures.groups[1].module = long;
    fake.fixtures.groups[1].procedure = 'RecalculateHoldingsForAdviserB';
    for (const width of [100, 130, 160, 250]) {
      const r = await cli(['top'], { width });
      expect(r.stdout).toContain(`${long}.RecalculateHoldingsForAdviserA`);
      expect(r.stdout).toContain(`${long}.RecalculateHoldingsForAdviserB`);
      for (const line of r.stdout.split('\n')) expect([...line].length).toBeLessThanOrEqual(width);
    }
  });

  test('a place too long for the line below loses its middle, not its end', async () => {
    // 256 characters each: every group goes to the two-line layout even at 250 columns
    fake.fixtures.groups[0].module = 'm'.repeat(256);
    fake.fixtures.groups[0].procedure = `${'p'.repeat(250)}EndsA`;
    fake.fixtures.groups[1].module = 'm'.repeat(256);
    fake.fixtures.groups[1].procedure = `${'p'.repeat(250)}EndsB`;
    for (const width of [80, 250]) {
      const r = await cli(['top'], { width });
      const below = r.stdout.split('\n').filter((line) => line.includes('mmm'));
      expect(below.some((line) => /…p+EndsA$/.test(line))).toBe(true);
      expect(below.some((line) => /…p+EndsB$/.test(line))).toBe(true);
      for (const line of r.stdout.split('\n')) expect([...line].length).toBeLessThanOrEqual(width);
    }
  });

  test('piped without COLUMNS (a script): whole ids, every version, whole descriptions', async () => {
    const r = await cli(['top', '--status', 'all'], { env: { COLUMNS: '' } });
    const [header, ...rows] = r.stdout.split('\n');
    expect(header.split(/\s{2,}/)).toEqual([
      'ID',
      'COUNT',
      'USERS',
      'LICS',
      'VERSIONS',
      'LAST SEEN',
      'TREND',
      'STATUS',
      'ERR',
      'WHERE',
      'DESCRIPTION',
    ]);
    expect(rows[0]).toMatch(
      /^3fa9c1d2e4b7 {2}1,204 .* 5\.2\.1\.345, 5\.2\.0\.12, 5\.1\.9\.2 .* unresolved \(regressed\) +91 {2}modClients\.LoadClient +Object variable or With block variable not set$/,
    );
    expect(r.stdout).not.toContain('…');
  });

  test('a wide terminal: one line per group, descriptions cut to fit', async () => {
    const r = await cli(['top', '--status', 'all'], { width: 150 });
    expect(r.stdout).toBe(
      lines(
        'ID       COUNT  USERS  LICS  VERSIONS      LAST SEEN  TREND    STATUS              ERR  WHERE                     DESCRIPTION',
        '3fa9c1d  1,204     37    12  5.2.1.345 +2  3h ago     ▅▄▆█▇██  regressed            91  modClients.LoadClient     Object variable or With block varia…',
        '3fa9c1f    310      9     4  5.2.1.345     25m ago    ▁▁▁▁▁▅█  unresolved           13  modInvoices.PrintInvoice  Type mismatch',
        '8b02e6a     42      3     3  5.2.1.345 +1  2d ago     ▁▇█▆█▁▁  unresolved         3021  modReports.RunMonthly     No current record.',
        'c47d5e0      7      1     1  5.2.0.12      5d ago     ▁▁█▁▁▁▁  resolved    -2147221503  modSync.PushChanges       Automation error: the remote server…',
        '',
        '4 groups since 2026-11-21 10:30 UTC (7d ago), most occurrences first',
        'jcs-errors show ID for one group',
      ),
    );
    expect(Math.max(...r.stdout.split('\n').map((l) => [...l].length))).toBe(150);
  });

  test('--json prints the API body unchanged, wherever --json stands', async () => {
    for (const args of [
      ['top', '--json'],
      ['--json', 'top'],
    ]) {
      const r = await cli(args);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(`${fake.lastBody}\n`);
    }
  });

  test('options go to the collector as the contract names them', async () => {
    await cli([
      'top',
      '--since',
      '24h',
      '--version',
      '5.2.1.345',
      '--status',
      'all',
      '--sort',
      'last',
      '--limit',
      '2',
    ]);
    expect(Object.fromEntries(requests('/v1/groups')[0].query)).toEqual({
      since: '24h',
      version: '5.2.1.345',
      status: 'all',
      sort: 'last',
      limit: '2',
    });
  });

  test.each([
    [['--since', 'yesterday'], '--since takes 30m, 12h, 7d, 6w or an ISO date, not "yesterday"'],
    // an empty window, said in top's own words (it has no --until)
    [
      ['--since', '0d'],
      '--since must be in the past, not "0d": give a duration back from now such as 24h, or an earlier date',
    ],
    [
      ['--since', '2999-01-01'],
      '--since must be in the past, not "2999-01-01": give a duration back from now such as 24h, or an earlier date',
    ],
    [['--limit', '0'], '--limit takes a whole number from 1 to 500, not "0"'],
    [['--limit', '501'], '--limit takes a whole number from 1 to 500, not "501"'],
    [['--status', 'open'], '--status takes unresolved, resolved, ignored or all, not "open"'],
    [['--sort', 'size'], '--sort takes count, last, first or users, not "size"'],
    [
      ['--version', 'latest'],
      '--version takes a version of dotted numbers such as 5.2.1, not "latest"',
    ],
  ])('top %j is a usage error before any request', async (args, message) => {
    const r = await cli(['top', ...args]);
    expect(r).toEqual({ exitCode: 2, stdout: '', stderr: `${message}\n` });
    expect(fake.requests).toEqual([]);
  });

  test('no groups: says so, and how to look wider', async () => {
    const r = await cli(['top', '--version', '9.9']);
    expect(r.stdout).toBe(
      'no unresolved groups in version 9.9 since 2026-11-21 10:30 UTC (7d ago): widen the window with --since 6w, or try --status all, or leave out --version\n',
    );
  });

  test('no groups: suggests only what could find some', async () => {
    fake.fixtures.groups = [];
    const wide = await cli(['top', '--since', '6w', '--status', 'all']);
    expect(wide.stdout).toBe('no groups since 2026-10-17 10:30 UTC (42d ago)\n');
    const older = await cli(['top', '--since', '2020-01-01', '--status', 'resolved']);
    expect(older.stdout).toMatch(/^no resolved groups since 2020-01-01 .*\): try --status all\n$/);
    const narrow = await cli(['top', '--since', '12h', '--status', 'all']);
    expect(narrow.stdout).toMatch(/: widen the window with --since 6w\n$/);
  });

  test.each([80, 60])(
    'a long version is cut before the count of other versions, at %i columns',
    async (width) => {
      fake.fixtures.groups[0].versions = ['5.2.1.345.12345.67890', '5.2.1.345', '5.1'];
      const r = await cli(['top'], { width });
      const row = r.stdout.split('\n').find((line) => line.startsWith('3fa9c1d '))!;
      expect(row).toMatch(/ 5\.2\.[\d.]*… \+2 /);
      expect(r.stdout.split('\n').every((line) => line.length <= width)).toBe(true);
    },
  );

  test('a full page hints at --limit, in a footer that fits the terminal', async () => {
    const r = await cli(['top', '--limit', '2']);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.every((line) => line.length <= 80)).toBe(true);
    expect(lines.slice(-3).join(' ')).toContain(
      'most occurrences first; there may be more: --limit 4',
    );
    // piped, the footer is one line, for grep
    const piped = await cli(['top', '--limit', '2'], { env: { COLUMNS: '' } });
    expect(piped.stdout).toMatch(
      /\n\d+ unresolved groups since .*; there may be more: --limit 4\n/,
    );
  });

  test('colour on a terminal, and never with NO_COLOR or --no-color', async () => {
    expect((await cli(['top'], { tty: true })).stdout).toContain('\u001b[');
    expect((await cli(['top'], { tty: true, env: { NO_COLOR: '1' } })).stdout).not.toContain(
      '\u001b',
    );
    expect((await cli(['top', '--no-color'], { tty: true })).stdout).not.toContain('\u001b');
  });
});

describe('group prefixes', () => {
  test('a unique prefix is looked up among every group the collector knows', async () => {
    const r = await cli(['show', '8b02', '--json']);
    expect(r.exitCode).toBe(0);
    expect(Object.fromEntries(requests('/v1/group-ids')[0].query)).toEqual({ prefix: '8b02' });
    expect(fake.requests.at(-1)?.path).toBe('/v1/groups/8b02e6a1c9d4');
  });

  test('a full id goes straight to the group', async () => {
    await cli(['show', '3FA9C1D2E4B7']);
    expect(fake.requests.map((q) => q.path)).toEqual(['/v1/groups/3fa9c1d2e4b7']);
  });

  test('an ambiguous prefix exits 2 and lists the candidates', async () => {
    const r = await cli(['show', '3fa9']);
    expect(r).toEqual({
      exitCode: 2,
      stdout: '',
      stderr:
        'group 3fa9 is ambiguous, it could be 3fa9c1d2e4b7 (modClients.LoadClient), 3fa9c1ff0011 (modInvoices.PrintInvoice): give more characters\n',
    });
  });

  test.each([['abc123'], ['0123456789ab']])('no group %s exits 4', async (id) => {
    const r = await cli(['resolve', id]);
    expect(r).toEqual({
      exitCode: 4,
      stdout: '',
      stderr: `no group ${id}: run jcs-errors top to list groups\n`,
    });
  });

  test('a collector without GET /v1/group-ids: the prefix is matched among the groups it lists', async () => {
    fake.fixtures.contractRoutesOnly = true;
    const found = await cli(['show', '8b02', '--json']);
    expect(found.exitCode).toBe(0);
    expect(fake.requests.map((q) => q.path)).toEqual([
      '/v1/group-ids',
      '/v1/groups',
      '/v1/groups/8b02e6a1c9d4',
    ]);
    // Every status over the whole retention span, as many as the route lists.
    expect(Object.fromEntries(requests('/v1/groups')[0].query)).toEqual({
      since: '6w',
      status: 'all',
      sort: 'last',
      limit: '500',
    });
    expect(await cli(['show', '3fa9'])).toEqual({
      exitCode: 2,
      stdout: '',
      stderr:
        'group 3fa9 is ambiguous, it could be 3fa9c1d2e4b7 (modClients.LoadClient), 3fa9c1ff0011 (modInvoices.PrintInvoice): give more characters\n',
    });
    expect(await cli(['resolve', 'abc123'])).toEqual({
      exitCode: 4,
      stdout: '',
      stderr: 'no group abc123: run jcs-errors top to list groups\n',
    });
  });

  test('a prefix route that fails otherwise is not taken for a missing route', async () => {
    fake.failNext(503, 'unavailable', { 'retry-after': '5' });
    const r = await cli(['show', '8b02']);
    expect(r).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'the collector cannot take this now: try again in 5s\n',
    });
    expect(fake.requests.map((q) => q.path)).toEqual(['/v1/group-ids']);
  });

  test('something that is not hex names no group: not found, with the form a group takes', async () => {
    for (const text of ['modClients', 'nosuchgroup', '3fa9c1d2e4b7a']) {
      const r = await cli(['reports', text]);
      expect(r).toEqual({
        exitCode: 4,
        stdout: '',
        stderr: `no group "${text}": a group is its id or a prefix of it, in hex such as 3fa9c1; run jcs-errors top to list groups\n`,
      });
    }
  });
});

test.each([
  ['reports', ''],
  ['resolve', ' '],
  ['show', ''],
])(
  "%s with an empty GROUP (a script's unset variable) is a usage error, exit 2",
  async (command, text) => {
    const r = await cli([command, text]);
    expect(r).toEqual({
      exitCode: 2,
      stdout: '',
      stderr:
        'GROUP is empty: give a group id or a prefix of one; run jcs-errors top to list groups\n',
    });
  },
);

describe('show', () => {
  test('header, chart by day, tables by version and line, latest reports, in 80 columns', async () => {
    const r = await cli(['show', '3fa9c1d']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(
      lines(
        '3fa9c1d2e4b7  regressed (was resolved in 5.2.0)',
        'error 91 in modClients.LoadClient',
        'Object variable or With block variable not set',
        '',
        '1,204 occurrences · 37 users · 12 licences',
        'first seen 2026-10-26 10:30:00 UTC (33d ago) · last seen 3h ago',
        '',
        'By day, 2026-10-17 to 2026-11-28 (UTC)',
        '230 │                                       ▃▁▇█',
        '    │                                      ▁████',
        '    │                                    ▅▁█████',
        '    │                                    ███████',
        '    │                                    ███████',
        `    └${'─'.repeat(43)}`,
        '     10-17                                 11-28',
        '',
        'By version',
        'VERSION    COUNT  SHARE',
        '5.2.1.345    800    66%  ████████████████████',
        '5.2.0.12     390    32%  █████████▊',
        '5.1.9.2       14     1%  ▍',
        '',
        'By line',
        'LINE         COUNT  SHARE',
        '120          1,100    91%  ████████████████████',
        '0 (unknown)    104     9%  █▉',
        '',
        'Latest reports',
        'REPORT                                OCCURRED  VERSION    LICENCE     LINE  REP',
        '1b4e28ba-2fa1-41d2-883f-0016d3cca427  3h ago    5.2.1.345  JCS-000123   120',
        '6fa459ea-ee8a-4ca4-894e-db77e160355e  5h ago    5.2.1.345  JCS-000456   120   +4',
        '9c5b94b1-35ad-49bb-b118-8e8fc24abf80  1d ago    5.2.0.12   JCS-000123     ?',
        '',
        'jcs-errors reports 3fa9c1d2e4b7 for more, jcs-errors report ID for one',
      ),
    );
    for (const line of r.stdout.split('\n')) expect([...line].length).toBeLessThanOrEqual(80);
  });

  test('--since is checked and sent; --json prints the group detail unchanged', async () => {
    const r = await cli(['show', '3fa9c1d2e4b7', '--since', '2w', '--json']);
    expect(requests('/v1/groups/3fa9c1d2e4b7')[0].query.get('since')).toBe('2w');
    expect(r.stdout).toBe(`${fake.lastBody}\n`);
    expect((await cli(['show', '3fa9c1d2e4b7', '--since', 'last week'])).exitCode).toBe(2);
  });

  test('past ten versions the rest are folded, but never one of the three busiest', async () => {
    // 5.2.0 .. 5.2.13, newest 5.2.13; the oldest, 5.2.0, has most of the reports.
    const detail = fake.fixtures.details['3fa9c1d2e4b7'];
    detail.byVersion = Array.from({ length: 14 }, (_, i) => ({
      version: `5.2.${i}`,
      count: i === 0 ? 900 : i === 2 ? 50 : 10 + i,
    }));
    const r = await cli(['show', '3fa9c1d']);
    const table = r.stdout.slice(r.stdout.indexOf('By version'), r.stdout.indexOf('By line'));
    const labels = table
      .split('\n')
      .slice(2)
      .filter((l) => l.trim() !== '')
      .map((l) => l.split(/\s{2,}/)[0]);
    // The ten newest, then 5.2.2 and 5.2.0 (busiest) in their place; 5.2.1 and 5.2.3 folded.
    expect(labels).toEqual([
      ...[13, 12, 11, 10, 9, 8, 7, 6, 5, 4].map((i) => `5.2.${i}`),
      '5.2.2',
      '5.2.0',
      '2 other versions',
    ]);
    expect(table).toMatch(/5\.2\.0 +900 +78%/);
    expect(table).toMatch(/2 other versions +24 +2%/);
    // one folded: "1 other version"
    detail.byVersion = detail.byVersion.filter((v) => v.version !== '5.2.3');
    const one = (await cli(['show', '3fa9c1d'])).stdout;
    expect(one).toMatch(/\n1 other version +11 +<1%/);
  });

  test('a long description is wrapped to the terminal, and one line when piped', async () => {
    const id = fake.fixtures.groups[0].id;
    const words = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    fake.fixtures.details[id].description = words;
    const r = await cli(['show', id], { width: 60 });
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('word0 '));
    expect(lines[at].length).toBeLessThanOrEqual(60);
    expect(lines.slice(at, at + 8).join(' ')).toContain(words);
    const piped = await cli(['show', id], { env: { COLUMNS: '' } });
    expect(piped.stdout).toContain(`\n${words}\n`);
    // The first and last seen line goes on two where one would be wider than the terminal.
    expect(r.stdout).toContain(
      '\nfirst seen 2026-10-26 10:30:00 UTC (33d ago)\nlast seen 3h ago\n',
    );
    expect(piped.stdout).toContain(
      '\nfirst seen 2026-10-26 10:30:00 UTC (33d ago) · last seen 3h ago\n',
    );
  });

  test('a group without reports or description still shows', async () => {
    fake.fixtures.groups[2].description = null;
    const r = await cli(['show', '8b02e6a1c9d4']);
    expect(r.stdout).toContain('(no description: every report has expired or been erased)');
    expect(r.stdout).toContain(
      '(none in the window: reports are deleted at most 42 days after they arrive, and at once when their data subject is erased)',
    );
    // no hint to list reports there are none of
    expect(r.stdout).not.toContain('for more');
  });

  test('a group with no occurrence in the window blames no deletion for its empty list', async () => {
    // no detail fixture: the fake answers the group with empty tables
    const group = fake.fixtures.groups.find((g) => g.id === '8b02e6a1c9d4')!;
    group.count = 0;
    const r = await cli(['show', '8b02e6a1c9d4']);
    expect(r.stdout).toMatch(/Latest reports\n\(none in the window\)\n/);
    expect(r.stdout).not.toContain('deleted');
  });
});

describe('reports and report', () => {
  test('reports lists full ids, newest first', async () => {
    const r = await cli(['reports', '3fa9c1d']);
    expect(r.stdout).toBe(
      lines(
        'REPORT                                OCCURRED  VERSION    LICENCE     LINE  REP',
        '1b4e28ba-2fa1-41d2-883f-0016d3cca427  3h ago    5.2.1.345  JCS-000123   120',
        '6fa459ea-ee8a-4ca4-894e-db77e160355e  5h ago    5.2.1.345  JCS-000456   120   +4',
        '9c5b94b1-35ad-49bb-b118-8e8fc24abf80  1d ago    5.2.0.12   JCS-000123     ?',
        '',
        '3 reports of group 3fa9c1d2e4b7, newest first',
        'jcs-errors report ID for one, with --dump for its data',
      ),
    );
  });

  test('reports too wide for the terminal keep their ids whole, each on a second line', async () => {
    fake.fixtures.reports['3fa9c1d2e4b7'][1].repeats = 1500;
    const r = await cli(['reports', '3fa9c1d']);
    expect(r.stdout).toBe(
      lines(
        'OCCURRED  VERSION    LICENCE     LINE     REP',
        '3h ago    5.2.1.345  JCS-000123   120',
        '  1b4e28ba-2fa1-41d2-883f-0016d3cca427',
        '5h ago    5.2.1.345  JCS-000456   120  +1,500',
        '  6fa459ea-ee8a-4ca4-894e-db77e160355e',
        '1d ago    5.2.0.12   JCS-000123     ?',
        '  9c5b94b1-35ad-49bb-b118-8e8fc24abf80',
        '',
        '3 reports of group 3fa9c1d2e4b7, newest first',
        'jcs-errors report ID for one, with --dump for its data',
      ),
    );
    // Narrower than an id: still whole, on a line of its own.
    const narrow = await cli(['reports', '3fa9c1d'], { width: 30 });
    expect(narrow.stdout).toContain('\n1b4e28ba-2fa1-41d2-883f-0016d3cca427\n');
    // With room for it, the same list is one line a report again.
    const wide = await cli(['reports', '3fa9c1d'], { width: 83 });
    expect(wide.stdout).toContain(
      '6fa459ea-ee8a-4ca4-894e-db77e160355e  5h ago    5.2.1.345  JCS-000456   120  +1,500\n',
    );
  });

  test('reports --limit is sent; no reports says why', async () => {
    await cli(['reports', '3fa9c1d2e4b7', '--limit', '50']);
    expect(requests('/v1/groups/3fa9c1d2e4b7/reports')[0].query.get('limit')).toBe('50');
    const r = await cli(['reports', '3fa9c1ff0011']);
    expect(r.stdout).toBe(
      'no reports of group 3fa9c1ff0011 are kept: reports are deleted at most 42 days after they arrive, and at once when their data subject is erased\n',
    );
  });

  test('report wraps long values between words under their column, code keeping its indent, the rest of a line further in', async () => {
    const report = fake.fixtures.fullReports[REPORT_IDS[0]];
    report.error.description = `Could not load the client: ${'word '.repeat(30)}end`;
    report.error.code = `If x Then\n    Set rs = db.OpenRecordset(${'"a", '.repeat(20)}"z")`;
    for (const width of [80, 50]) {
      const out = (await cli(['report', REPORT_IDS[0]], { width })).stdout.split('\n');
      for (const line of out) expect(stringWidth(line)).toBeLessThanOrEqual(width);
      const description = out.findIndex((l) => l.startsWith('Description Could not load'));
      // a wrapped line's rest two columns further in than the line, so it reads as one
      expect(out[description + 1]).toMatch(/^ {14}word word/);
      const code = out.findIndex((l) => l.startsWith('Code        If x Then'));
      expect(out[code + 1]).toMatch(/^ {12} {4}Set rs = db\.OpenRecordset\(/);
      expect(out[code + 2]).toMatch(/^ {18}"a", /);
      expect(out.at(-2)).toMatch(/^ {14}(\S.* )?logged\)$/); // the Dump line's end
    }
    // Piped without COLUMNS (a script): whole lines, for grep.
    const piped = await cli(['report', REPORT_IDS[0]], { env: { COLUMNS: '' } });
    expect(piped.stdout).toContain(`Description ${report.error.description}\n`);
  });

  test('report labels every field and points to --dump', async () => {
    const r = await cli(['report', REPORT_IDS[0]], WIDE);
    expect(r.stdout).toBe(
      lines(
        'Report      1b4e28ba-2fa1-41d2-883f-0016d3cca427',
        'Group       3fa9c1d2e4b7',
        'Occurred    2026-11-28 07:29:58 UTC (3h ago, client clock)',
        'Received    2026-11-28 07:30:00 UTC (3h ago)',
        'App         JCS 5.2.1.345',
        'Licence     JCS-000123',
        'Username    asmith',
        'Error       91',
        'Description Object variable or With block variable not set',
        'Where       modClients.LoadClient, line 120',
        'Code        Set rs = db.OpenRecordset(sql)',
        'Repeats     0',
        'Dump        not shown: add --dump to decrypt it, if there is one (the access is logged)',
      ),
    );
    expect(requests(`/v1/reports/${REPORT_IDS[0]}`)[0].query.has('dump')).toBe(false);
  });

  test('report --dump asks for the dump, pretty-prints it and notes the logged access', async () => {
    const r = await cli(['report', REPORT_IDS[0], '--dump'], WIDE);
    expect(requests(`/v1/reports/${REPORT_IDS[0]}`)[0].query.get('dump')).toBe('1');
    expect(r.stdout).toContain(
      lines(
        'Repeats     0',
        'Dump',
        '{',
        '  "client": {',
        '    "id": 4711,',
        '    "name": "Smith & Co"',
        '  },',
        '  "rows": 0',
        '}',
        '',
        'This access to the dump was written to the audit log.',
      ),
    );
    const json = await cli(['report', REPORT_IDS[0], '--dump', '--json']);
    expect(json.stdout).toBe(`${fake.lastBody}\n`);
    expect(JSON.parse(json.stdout).dump).toEqual({
      client: { id: 4711, name: 'Smith & Co' },
      rows: 0,
    });
  });

  test('report --dump writes controls and format characters as escapes: exact JSON, inert on a terminal', async () => {
    const value = { note: 'a\u009b31mred\u202eevil\u200bx\u2028y', emoji: '👩\u200d💻' };
    (fake.fixtures.dumps as Record<string, unknown>)[REPORT_IDS[0]] = value;
    const r = await cli(['report', REPORT_IDS[0], '--dump'], WIDE);
    const text = r.stdout.slice(
      r.stdout.indexOf('Dump\n') + 5,
      r.stdout.indexOf('\n\nThis access'),
    );
    expect(text).toContain('"a\\u009b31mred\\u202eevil\\u200bx\\u2028y"');
    expect(text).not.toMatch(/[\u0080-\u009f\u200b\u202e\u2028]/);
    // copied from the terminal, it is the dump
    expect(JSON.parse(text)).toEqual(value);
  });

  test('a withheld dump says why; missing fields say (none)', async () => {
    const r = await cli(['report', REPORT_IDS[2], '--dump']);
    expect(r.stdout).toContain('Username    (none)\n');
    expect(r.stdout).toContain('Where       modClients.LoadClient, line unknown\n');
    expect(r.stdout).toContain('Dump        withheld: the user did not consent to sending data\n');
  });

  test('a dump withheld as too large says so, and that a full offline queue leaves it out too', async () => {
    const full = fake.fixtures.fullReports[REPORT_IDS[2]];
    const before = full.dumpWithheld;
    full.dumpWithheld = 'too-large';
    try {
      const r = await cli(['report', REPORT_IDS[2]], WIDE);
      expect(r.stdout).toContain(
        'Dump        withheld: the data was too large to send, or left out while the app’s offline queue was full\n',
      );
    } finally {
      full.dumpWithheld = before;
    }
  });

  test('report --dump tells a dump it cannot open from none', async () => {
    // The API answers "dump": null for a dump it holds but cannot open, and no field for none.
    const dumps = fake.fixtures.dumps as Record<string, unknown>;
    dumps[REPORT_IDS[0]] = null;
    const unreadable = await cli(['report', REPORT_IDS[0], '--dump'], WIDE);
    expect(unreadable.stdout).toContain(
      'Dump        stored but cannot be opened: sealed to a key this collector does not hold',
    );
    delete dumps[REPORT_IDS[0]];
    const none = await cli(['report', REPORT_IDS[0], '--dump'], WIDE);
    expect(none.stdout).toContain('Dump        none: the report carries no dump\n');
  });

  test('report --dump on a report of held-back repeats says why it has none and where to look', async () => {
    const full = fake.fixtures.fullReports[REPORT_IDS[0]];
    full.repeats = 12;
    delete (fake.fixtures.dumps as Record<string, unknown>)[REPORT_IDS[0]];
    const r = await cli(['report', REPORT_IDS[0], '--dump'], WIDE);
    expect(r.stdout).toContain(
      `Dump        none: this report counts 12 held-back repeats, sent without a dump; jcs-errors reports ${full.group} lists the group's others\n`,
    );
    full.repeats = 1;
    expect((await cli(['report', REPORT_IDS[0], '--dump'], WIDE)).stdout).toContain(
      'Dump        none: this report counts 1 held-back repeat, sent',
    );
  });

  test('report text from the desktop cannot drive the terminal', async () => {
    fake.fixtures.fullReports[REPORT_IDS[0]].error.description =
      'evil\u001b[2J\u001b]0;title\u0007';
    const r = await cli(['report', REPORT_IDS[0]], WIDE);
    expect(r.stdout).toContain('Description evil\uFFFD[2J\uFFFD]0;title\uFFFD\n');
  });

  test('--json: C1 controls and bidi overrides are \\u escapes, the same JSON value', async () => {
    const evil = 'evil\u009b2J \u202eright-to-left A\u200eB\u200fC\u061cD';
    fake.fixtures.fullReports[REPORT_IDS[0]].error.description = evil;
    const r = await cli(['report', REPORT_IDS[0], '--json']);
    expect(r.stdout).not.toMatch(/[\u0080-\u009f\u202e\u200e\u200f\u061c]/);
    expect(r.stdout).toContain('evil\\u009b2J \\u202eright-to-left A\\u200eB\\u200fC\\u061cD');
    expect(JSON.parse(r.stdout).error.description).toBe(evil);
  });

  test('an unknown report exits 4, a malformed id too; an empty one is a usage error (2)', async () => {
    const missing = await cli(['report', REPORT_IDS[1]], WIDE);
    expect(missing).toEqual({
      exitCode: 4,
      stdout: '',
      stderr: `no report ${REPORT_IDS[1]}: it may have expired (reports are kept at most 42 days) or been erased; run jcs-errors reports GROUP to list them\n`,
    });
    for (const text of ['1b4e28ba', 'not-a-uuid']) {
      const bad = await cli(['report', text], WIDE);
      expect(bad.exitCode).toBe(4);
      expect(bad.stderr).toMatch(new RegExp(`^no report "${text}": a report id is a full UUID`));
    }
    expect(await cli(['report', ''], WIDE)).toEqual({
      exitCode: 2,
      stdout: '',
      stderr: 'ID is empty: give a report id; run jcs-errors reports GROUP to list them\n',
    });
  });
});

describe('triage', () => {
  test('resolve --in-version sends the version and confirms what reopens it', async () => {
    const r = await cli(['resolve', '8b02', '--in-version', '5.3'], WIDE);
    expect(r.stdout).toBe(
      'resolved 8b02e6a1c9d4 (3021 modReports.RunMonthly) in 5.3: a report from 5.3 or later reopens it\n',
    );
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'PATCH',
      path: '/v1/groups/8b02e6a1c9d4',
      body: { status: 'resolved', resolvedInVersion: '5.3' },
    });
  });

  test('resolve without a version, ignore and reopen', async () => {
    expect((await cli(['resolve', '8b02e6a1c9d4'], WIDE)).stdout).toBe(
      'resolved 8b02e6a1c9d4 (3021 modReports.RunMonthly): any new report reopens it\n',
    );
    expect(fake.requests.at(-1)?.body).toEqual({ status: 'resolved' });
    expect((await cli(['ignore', '8b02e6a1c9d4'], WIDE)).stdout).toBe(
      'ignored 8b02e6a1c9d4 (3021 modReports.RunMonthly): still counted, listed by jcs-errors top --status ignored\n',
    );
    expect(fake.requests.at(-1)?.body).toEqual({ status: 'ignored' });
    const reopened = await cli(['reopen', '8b02e6a1c9d4', '--json']);
    expect(fake.requests.at(-1)?.body).toEqual({ status: 'unresolved' });
    expect(reopened.stdout).toBe(`${fake.lastBody}\n`);
  });

  test('a bad --in-version is a usage error', async () => {
    const r = await cli(['resolve', '8b02', '--in-version', 'v5.3'], WIDE);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe(
      '--in-version takes a version of dotted numbers such as 5.2.1, not "v5.3"\n',
    );
    const long = await cli(['resolve', '8b02', '--in-version', `5.${'1'.repeat(63)}`], WIDE);
    expect(long.exitCode).toBe(2);
    expect(long.stderr).toMatch(
      /^--in-version takes a version of at most 64 characters, not "5\.1+/,
    );
  });
});

describe('admin commands', () => {
  test('audit: a table, newest first, with --since 7d by default', async () => {
    // Too narrow for a whole report id beside the rest: target and outcome go on a line below,
    // never cut (an id is copied from here).
    const r = await cli(['audit'], { width: 100 });
    expect(r.stdout).toBe(
      lines(
        'SEQ  AT (UTC)             ACTOR           ACTION',
        '  3  2026-11-28 09:30:00  alice           reports.get.dump',
        '     1b4e28ba-2fa1-41d2-883f-0016d3cca427  ok',
        '  2  2026-11-28 08:30:00  alice           groups.list',
        '     –  ok',
        '  1  2026-11-27 02:30:00  system:nightly  expire',
        '     –  ok deleted=12 keys=1 cutoff=2026-10-17T02:30:00.000Z durationMs=212 auditPruned=0',
        '',
        '3 entries, newest first, back to 1d ago',
      ),
    );
    // Wide enough: one line an entry, the id whole; a long receipt gives way first, going on
    // over more lines in its column, never cut (it is a record).
    const wide = await cli(['audit'], { width: 130 });
    expect(wide.stdout.split('\n').slice(0, 7)).toEqual([
      'SEQ  AT (UTC)             ACTOR           ACTION            TARGET                                OUTCOME',
      '  3  2026-11-28 09:30:00  alice           reports.get.dump  1b4e28ba-2fa1-41d2-883f-0016d3cca427  ok',
      '  2  2026-11-28 08:30:00  alice           groups.list       –                                     ok',
      '  1  2026-11-27 02:30:00  system:nightly  expire            –                                     ok deleted=12 keys=1',
      '                                                                                                  cutoff=2026-10-17T02:30:00.000Z',
      '                                                                                                  durationMs=212 auditPruned=0',
      '',
    ]);
    // At 120 the one-line layout would leave the outcome narrower than the receipt's cutoff=...
    // word: the entries go on two lines instead, and nothing is cut.
    const mid = await cli(['audit'], { width: 120 });
    expect(mid.stdout).not.toContain('…');
    expect(mid.stdout).toContain('cutoff=2026-10-17T02:30:00.000Z');
    // At 80 columns the receipt goes on below its entry, broken between words.
    const narrow = await cli(['audit'], { width: 80 });
    expect(narrow.stdout.split('\n').slice(5, 8)).toEqual([
      '  1  2026-11-27 02:30:00  system:nightly  expire',
      '     –  ok deleted=12 keys=1 cutoff=2026-10-17T02:30:00.000Z durationMs=212',
      '     auditPruned=0',
    ]);
    // At 40 columns even actor and action go below; no line is wider than the terminal but a
    // report id, which runs past its edge rather than be cut.
    const tiny = await cli(['audit'], { width: 40 });
    expect(tiny.stdout.split('\n').slice(0, 5)).toEqual([
      'SEQ  AT (UTC)',
      '  3  2026-11-28 09:30:00',
      '     alice  reports.get.dump',
      '     1b4e28ba-2fa1-41d2-883f-0016d3cca427',
      '     ok',
    ]);
    const tooWide = tiny.stdout.split('\n').filter((l) => l.length > 40);
    expect(tooWide).toEqual(['     1b4e28ba-2fa1-41d2-883f-0016d3cca427']);
    // Piped without COLUMNS (a script, a file): one line an entry, whole.
    const piped = await cli(['audit'], { env: { COLUMNS: '' } });
    expect(piped.stdout.split('\n')[3]).toBe(
      '  1  2026-11-27 02:30:00  system:nightly  expire            –                                     ok deleted=12 keys=1 cutoff=2026-10-17T02:30:00.000Z durationMs=212 auditPruned=0',
    );
    expect(Object.fromEntries(requests('/v1/audit')[0].query)).toEqual({ since: '7d' });
    await cli(['audit', '--since', '24h', '--limit', '1000']);
    expect(Object.fromEntries(requests('/v1/audit').at(-1)!.query)).toEqual({
      since: '24h',
      limit: '1000',
    });
    expect((await cli(['audit', '--limit', '1001'])).exitCode).toBe(2);
    // Older pages: --until, passed on as typed, and checked first.
    await cli(['audit', '--until', '2026-11-28T08:30:00.000Z', '--limit', '2']);
    expect(Object.fromEntries(requests('/v1/audit').at(-1)!.query)).toEqual({
      since: '7d',
      until: '2026-11-28T08:30:00.000Z',
      limit: '2',
    });
    // and by sequence number, which entries committed at one moment cannot run out of
    await cli(['audit', '--before', '9507', '--limit', '1000']);
    expect(Object.fromEntries(requests('/v1/audit').at(-1)!.query)).toEqual({
      since: '7d',
      before: '9507',
      limit: '1000',
    });
    for (const bad of ['0', 'x', '-3', '9007199254740992']) {
      expect(await cli(['audit', '--before', bad])).toMatchObject({
        exitCode: 2,
        stderr: expect.stringContaining('--before takes a whole number from 1 to 9007199254740991'),
      });
    }
    expect(await cli(['audit', '--until', 'soon'])).toMatchObject({
      exitCode: 2,
      stderr: expect.stringContaining('--until takes 30m, 12h, 7d, 6w or an ISO date, not "soon"'),
    });
  });

  test('audit: a full page of the most one request lists says how to page back', async () => {
    const r = await cli(['audit', '--limit', '3']);
    expect(r.stdout).toContain(
      '3 entries, newest first, back to 1d ago; there may be more: --limit',
    );
    fake.fixtures.audit = Array.from({ length: 1000 }, (_, i) => ({
      ...fake.fixtures.audit[0],
      seq: 1000 - i,
    }));
    const full = await cli(['audit', '--limit', '1000'], { width: 200 });
    expect(full.stdout).toContain('1000 is the most one request lists: --before 1 for older ones');
    // the window given is repeated, so the next page is of the same window
    const since = await cli(['audit', '--limit', '1000', '--since', '24h'], { width: 200 });
    expect(since.stdout).toContain(
      '1000 is the most one request lists: --since 24h --before 1 for older ones',
    );
  });

  test('audit: an empty window says how to widen it, never to ask the same again', async () => {
    fake.fixtures.audit = [];
    const hint = async (args: string[]) => (await cli(['audit', ...args])).stdout;
    expect(await hint([])).toBe('no audit entries in the window (--since 7d): try --since 6w\n');
    expect(await hint(['--since', '24h'])).toMatch(/: try --since 6w\n$/);
    expect(await hint(['--since', '6w'])).toBe(
      'no audit entries in the window (--since 6w): try an earlier --since\n',
    );
    expect(await hint(['--since', '2026-01-01'])).toMatch(/: try an earlier --since\n$/);
    expect(await hint(['--since', '6w', '--until', '2026-11-01'])).toBe(
      'no audit entries in the window (--since 6w --until 2026-11-01): try an earlier --since or a later --until\n',
    );
  });

  test('audit verify: intact exits 0; broken exits 1 with a line on stderr', async () => {
    expect(await cli(['audit', 'verify'])).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: 'audit log intact: 3 entries, every hash in the chain checks\n',
    });
    fake.fixtures.audit[1].hash = 'broken';
    expect(await cli(['audit', 'verify'])).toEqual({
      exitCode: 1,
      stdout: 'audit log BROKEN at entry 2: it was altered or lost from there on\n',
      stderr:
        "the audit log's hash chain is broken at entry 2: on the collector's machine, keep a copy of collector.db (and any -wal) and keys/audit-* as evidence, never the day keys (keys/days/, which expiry must still destroy), and investigate from that entry\n",
    });
  });

  test('expire confirms what was removed', async () => {
    expect((await cli(['expire'], WIDE)).stdout).toBe(
      'expiry done in 38 ms: 12 reports deleted, 1 key destroyed; cut-off 2026-10-18 10:30:00 UTC (41d ago)\n',
    );
    expect(fake.requests.at(-1)).toMatchObject({ method: 'POST', path: '/v1/expire', body: {} });
    expect((await cli(['expire', '--json'])).stdout).toBe(`${fake.lastBody}\n`);
    // --dry-run asks the collector to count only, and the answer says so.
    expect((await cli(['expire', '--dry-run'], WIDE)).stdout).toBe(
      'dry run in 38 ms: would delete 12 reports and destroy 1 key; cut-off 2026-10-18 10:30:00 UTC (41d ago)\n',
    );
    expect(fake.requests.at(-1)).toMatchObject({ path: '/v1/expire', body: { dryRun: true } });
  });

  test('expire --dry-run against a collector that ran the job for real: exit 1, says what it did', async () => {
    fake.fixtures.ignoresDryRun = true;
    for (const args of [
      ['expire', '--dry-run'],
      ['expire', '--dry-run', '--json'],
    ]) {
      expect(await cli(args)).toEqual({
        exitCode: 1,
        stdout: '',
        stderr:
          'the collector ran expiry for real, not a dry run (12 reports deleted, 1 key destroyed): it does not take dryRun, so upgrade it before using --dry-run again\n',
      });
    }
  });

  test('status: compliant exits 0', async () => {
    expect(await cli(['status'], WIDE)).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'Retention         compliant',
        'Retention period  42 days',
        'Reports stored    1,563',
        'Oldest report     2026-10-18 10:30:00 UTC (41 days 0 h ago)',
        'Last expiry run   2026-11-28 02:30:00 UTC (8 h ago): 12 reports deleted, 1 key destroyed',
      ),
    });
  });

  test('status: not compliant exits 1 and says why and what to do, in JSON too', async () => {
    fake.fixtures.status = {
      ...fake.fixtures.status,
      compliant: false,
      oldestReceivedAt: '2026-10-01T00:00:00Z',
      lastExpiry: { at: '2026-11-25T02:00:00Z', deletedReports: 0, destroyedKeys: 0 },
    };
    const r = await cli(['status'], WIDE);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe(
      lines(
        'Retention         NOT COMPLIANT',
        'Retention period  42 days',
        'Reports stored    1,563',
        'Oldest report     2026-10-01 00:00:00 UTC (58 days 10 h ago)',
        'Last expiry run   2026-11-25 02:00:00 UTC (3 days 8 h ago): 0 reports deleted, 0 keys destroyed',
        '                  reports older than 42 days are stored',
        '                  the expiry job has not run for 36 hours',
      ),
    );
    expect(r.stderr).toBe(
      "not compliant: reports older than 42 days are stored and the expiry job has not run for 36 hours: run jcs-errors expire now, and check the collector's nightly job\n",
    );
    const json = await cli(['status', '--json']);
    expect(json.exitCode).toBe(1);
    expect(json.stdout).toBe(`${fake.lastBody}\n`);
  });

  test('status: a last run dated ahead of the clock is the reason given, not a guess', async () => {
    // Run while the collector's clock was five weeks ahead, and set right since: nothing else is
    // wrong, and "pseudonymous rows or data key kept" would send the operator hunting for data.
    fake.fixtures.status = {
      ...fake.fixtures.status,
      compliant: false,
      oldestReceivedAt: null,
      lastExpiry: { at: '2027-01-02T10:30:00Z', deletedReports: 0, destroyedKeys: 0 },
    };
    const r = await cli(['status'], WIDE);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(
      '                  the last expiry run is dated ahead of the clock (it was wrong then or is now)',
    );
    expect(r.stdout).not.toContain('pseudonymous');
    expect(r.stderr).toMatch(/^not compliant: the last expiry run is dated ahead of the clock/);
  });

  test("status: the reasons go by the collector's clock where this machine's is off", async () => {
    // Compliant on its own clock but for a report past 42 days; this machine is two days ahead,
    // and by its clock the last run (25 h before the collector's now) was over 36 hours ago.
    fake.fixtures.status = {
      ...fake.fixtures.status,
      compliant: false,
      oldestReceivedAt: '2026-10-01T00:00:00Z',
      lastExpiry: { at: '2026-11-27T09:30:00Z', deletedReports: 0, destroyedKeys: 0 },
    };
    const ahead = await run(['status'], {
      env: { JCS_ERRORS_SERVER: fake.url, JCS_ERRORS_TOKEN: fake.tokens.admin },
      homeDir: home,
      stdoutIsTTY: false,
      now: () => new Date(NOW.getTime() + 2 * 86_400_000),
    });
    expect(ahead.exitCode).toBe(1);
    expect(ahead.stderr).toBe(
      "not compliant: reports older than 42 days are stored: run jcs-errors expire now, and check the collector's nightly job\n",
    );
    expect(ahead.stdout).toContain('Last expiry run   2026-11-27 09:30:00 UTC (25 h ago)');
  });

  test("top, show, reports and report measure ages by the collector's clock where ours is off", async () => {
    // This machine's clock is 10 minutes behind the collector's: a report seen 3h ago by the
    // collector's clock must not read "in 9m" or shift by ten minutes.
    const behind = (args: string[]) =>
      run(args, {
        env: { JCS_ERRORS_SERVER: fake.url, JCS_ERRORS_TOKEN: fake.tokens.admin, COLUMNS: '200' },
        homeDir: home,
        stdoutIsTTY: false,
        columns: 200,
        now: () => new Date(NOW.getTime() - 10 * 60_000),
      });
    const atNow = (args: string[]) => cli(args, { width: 200 });
    for (const args of [
      ['top'],
      ['show', '3fa9c1d'],
      ['reports', '3fa9c1d'],
      ['report', REPORT_IDS[0]],
    ]) {
      const shifted = await behind(args);
      expect(shifted.exitCode).toBe(0);
      expect(shifted.stdout).not.toMatch(/\bin \d+m\b/);
      expect(shifted.stdout).toBe((await atNow(args)).stdout);
    }
  });

  test('an option given twice with different values is a usage error that sends nothing and names no value', async () => {
    const r = await cli(['erase', '--username', 'asmith', '--username', 'bjones']);
    expect(r).toEqual({
      exitCode: 2,
      stdout: '',
      stderr:
        "option '--username' was given twice, with different values: give it once: see jcs-errors erase --help\n",
    });
    expect((await cli(['top', '--since', '7d', '--since', '1d'])).exitCode).toBe(2);
    expect(fake.requests).toEqual([]);
    // the same value twice is no conflict
    expect((await cli(['top', '--limit', '2', '--limit', '2'])).exitCode).toBe(0);
  });

  test('an option whose value was left out, so that another option follows it, is a usage error naming it', async () => {
    for (const [args, option, next, help] of [
      [['--token', '--json', 'top'], '--token', '--json', ''],
      [['top', '--token', '--limit', '1'], '--token', '--limit', ''],
      [['erase', '--username', '--license', 'L'], '--username', '--license', ' erase'],
      [['--token=--json', 'top'], '--token', '--json', ''],
    ]) {
      expect(await cli(args as string[])).toEqual({
        exitCode: 2,
        stdout: '',
        stderr: `option '${option as string}' is missing its value (the next word, '${next as string}', is an option): see jcs-errors${help as string} --help\n`,
      });
    }
    expect(fake.requests).toEqual([]);
    // a value that merely starts with a dash is still a value
    expect((await cli(['erase', '--username', '-asmith'])).exitCode).toBe(0);
    expect(fake.requests.at(-1)?.body).toEqual({ username: '-asmith' });
  });

  test('erase --username-stdin reads the name from stdin, off the command line others can read', async () => {
    for (const stdin of ['asmith\n', 'asmith\r\n', 'asmith']) {
      const r = await cli(['erase', '--username-stdin'], { ...WIDE, stdin });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/^erased 12 reports of the username given/);
      expect(fake.requests.at(-1)?.body).toEqual({ username: 'asmith' });
    }
    // Nothing trimmed but the line end: a name is matched exactly as the app sent it.
    await cli(['erase', '--username-stdin'], { stdin: ' a smith \n' });
    expect(fake.requests.at(-1)?.body).toEqual({ username: ' a smith ' });
    const sent = fake.requests.length;
    for (const [args, stdin, line] of [
      [['--username-stdin'], '', '--username-stdin read no name: give one on stdin'],
      [['--username-stdin'], '\n', '--username-stdin read no name: give one on stdin'],
      [
        ['--username-stdin'],
        'asmith\nbjones\n',
        '--username-stdin takes one name on one line, and stdin held more lines: give one name',
      ],
      [
        ['--username-stdin'],
        'x'.repeat(70_000),
        '--username-stdin read more than a name: give one name on stdin',
      ],
      [
        ['--username', 'a', '--username-stdin'],
        'b',
        'give --username or --username-stdin, not both',
      ],
    ] as const) {
      expect(await cli(['erase', ...args], { stdin })).toEqual({
        exitCode: 2,
        stdout: '',
        stderr: `${line}\n`,
      });
    }
    // Refused before stdin is read (this cli() fails a run that reads stdin it was not given).
    for (const [args, options, line] of [
      [
        ['--license', 'JCS-1', '--username-stdin'],
        {},
        'erase takes --username U, --username-stdin or --license L, exactly one of them',
      ],
      [
        ['--username', 'a', '--username-stdin'],
        {},
        'give --username or --username-stdin, not both',
      ],
      [
        ['--username-stdin'],
        { stdin: 'asmith\n', stdinIsTTY: true },
        '--username-stdin reads the name from a pipe or a file, not the terminal: jcs-errors erase --username-stdin < name.txt',
      ],
    ] as const) {
      expect(await cli(['erase', ...args], options)).toEqual({
        exitCode: 2,
        stdout: '',
        stderr: `${line}\n`,
      });
    }
    // and without the option, stdin is never read
    expect((await cli(['erase', '--username', 'asmith'])).exitCode).toBe(0);
    expect(fake.requests).toHaveLength(sent + 1);
  });

  test('erase by username or licence', async () => {
    expect((await cli(['erase', '--username', 'asmith'], WIDE)).stdout).toBe(
      "erased 12 reports of the username given: no read returns them now (backups made before keep them until the day's key goes, at most 42 days and a few hours after receipt)\n",
    );
    expect(fake.requests.at(-1)?.body).toEqual({ username: 'asmith' });
    // The licence is not said back either: the line may be kept in a job's log.
    expect((await cli(['erase', '--license', 'JCS-999'], WIDE)).stdout).toBe(
      'no reports of the licence given are stored: nothing to erase\n',
    );
    expect((await cli(['erase', '--license', 'JCS-000123', '--json'])).stdout).toBe(
      '{"erasedReports":30}\n',
    );
    // Matched exactly as typed: a name of spaces is a name the app may have sent, and a
    // licence's spaces at either end are pointed out, since " JCS-999" is not JCS-999.
    expect((await cli(['erase', '--username', '   '], WIDE)).exitCode).toBe(0);
    expect(fake.requests.at(-1)?.body).toEqual({ username: '   ' });
    expect((await cli(['erase', '--license', ' JCS-999'], WIDE)).stdout).toBe(
      'no reports of the licence given are stored: nothing to erase (it has spaces at either end, and a licence matches only as the app sent it)\n',
    );
    expect(fake.requests.at(-1)?.body).toEqual({ license: ' JCS-999' });
    for (const option of ['--username', '--license']) {
      const r = await cli(['erase', option, ''], WIDE);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^${option} takes a non-empty`));
    }
    // Longer than any report carries: told in the option's terms, the value not said back.
    const sent = fake.requests.length;
    for (const [option, max] of [
      ['--username', 256],
      ['--license', 64],
    ] as const) {
      expect((await cli(['erase', option, '😀'.repeat(max)], WIDE)).exitCode).toBe(0);
      const r = await cli(['erase', option, 'q'.repeat(max + 1)], WIDE);
      expect(r).toEqual({
        exitCode: 2,
        stdout: '',
        stderr: expect.stringMatching(
          new RegExp(`^${option} takes at most ${max} characters \\(.*\\), not ${max + 1}\n$`),
        ),
      });
      expect(r.stderr).not.toMatch(/qqq/);
    }
    expect(fake.requests.length).toBe(sent + 2);
    // A character a terminal sent not in UTF-8 (Latin-1's ü) reaches Node as U+FFFD: erased, it
    // destroyed the reports of another name, which no one can undo. Refused before any request.
    for (const option of ['--username', '--license']) {
      const r = await cli(['erase', option, 'M\uFFFDller'], WIDE);
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^${option} holds U\\+FFFD .*set the terminal to UTF-8`));
    }
    expect(fake.requests.length).toBe(sent + 2);
  });

  test("a collector's 413 for what was typed is a usage error, not a failing collector", async () => {
    // The CLI's own bounds keep typed values under any body limit; a collector set up with a
    // smaller one (or a proxy's) still answers 413.
    fake.failNext(413, 'payload_too_large');
    const r = await cli(['erase', '--username', 'asmith']);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^the collector refused the request as too large \(.+\): give shorter values\n$/,
    );
  });

  test('a window that is empty is a usage error in the options the command has', async () => {
    expect(await cli(['audit', '--since', '1d', '--until', '2d'])).toEqual({
      exitCode: 2,
      stdout: '',
      stderr: '--since must be before --until, not "1d" and "2d"\n',
    });
    expect((await cli(['show', 'abc123', '--since', '0m'])).stderr).toMatch(
      /^--since must be in the past, not "0m"/,
    );
    expect(fake.requests).toEqual([]);
    // a date today is in the past
    expect((await cli(['audit', '--since', '2d', '--until', '1d'])).exitCode).toBe(0);
  });

  test.each([[[]], [['--username', 'a', '--license', 'b']]])(
    'erase %j is a usage error',
    async (args) => {
      const r = await cli(['erase', ...args], WIDE);
      expect(r).toEqual({
        exitCode: 2,
        stdout: '',
        stderr: 'erase takes --username U, --username-stdin or --license L, exactly one of them\n',
      });
      expect(fake.requests).toEqual([]);
    },
  );

  test('an engineer token on an admin command exits 3', async () => {
    const r = await cli(['status'], { token: fake.tokens.engineer });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe(
      "this needs an admin token and the one given may not do it: use one made on the collector's machine by jcs-collector token create --name NAME --role admin --data-dir DIR\n",
    );
  });
});

describe('the program', () => {
  test('global options after the command, and --token over the environment', async () => {
    const r = await cli(['top', '--token', fake.tokens.engineer, '--server', fake.url, '--json'], {
      token: 'wrong',
    });
    expect(r.exitCode).toBe(0);
    expect(fake.requests[0].auth).toBe(`Bearer ${fake.tokens.engineer}`);
  });

  test('a wrong token exits 3 and names where it came from', async () => {
    const at = `the collector at ${fake.url.replace(/\/$/, '')} refused the token`;
    expect((await cli(['top'], { token: 'wrong' })).stderr).toBe(
      `${at}: check JCS_ERRORS_TOKEN, and that the token was made on that collector\n`,
    );
    const flag = await cli(['top', '--token', 'wrong']);
    expect(flag).toEqual({
      exitCode: 3,
      stdout: '',
      stderr: `${at}: check --token, and that the token was made on that collector\n`,
    });
  });

  test('a server failure exits 1 with one line', async () => {
    fake.failNext(500, 'internal');
    const r = await cli(['top']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('a failure is one line on stderr, without the warnings given on the way', async () => {
    // A token over plain http to a host that is not this machine draws a warning; the host
    // does not resolve, so the command fails.
    const r = await cli(['top'], { env: { JCS_ERRORS_SERVER: 'http://nonexistent.invalid' } });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/^warning/);
  });

  test('unknown commands and options exit 2 with one line', async () => {
    expect(await cli(['tpo'])).toEqual({
      exitCode: 2,
      stdout: '',
      stderr: "unknown command 'tpo' (did you mean top?): see jcs-errors --help\n",
    });
    const option = await cli(['top', '--bogus']);
    expect(option.exitCode).toBe(2);
    expect(option.stderr).toBe("unknown option '--bogus': see jcs-errors top --help\n");
    // Another command's option: which command takes it, not commander's nearest name (was
    // "did you mean --version?", top's filter).
    expect(await cli(['ignore', 'abc123', '--in-version', '5.3'])).toEqual({
      exitCode: 2,
      stdout: '',
      stderr:
        'ignore takes no --in-version option (resolve takes it): see jcs-errors ignore --help\n',
    });
    expect((await cli(['--json', 'top', '--dump'])).stderr).toBe(
      'top takes no --dump option (report takes it): see jcs-errors top --help\n',
    );
    expect((await cli(['audit', 'verify', '--dump'])).stderr).toBe(
      'audit verify takes no --dump option (report takes it): see jcs-errors audit verify --help\n',
    );
    // A command's own option before the command, where only global options go.
    expect(await cli(['--limit', '5', 'top'])).toEqual({
      exitCode: 2,
      stdout: '',
      stderr:
        '--limit is an option of top: put it after the command, as in jcs-errors top --limit ...\n',
    });
    expect((await cli(['--since=7d', '--json', 'audit'])).stderr).toBe(
      '--since is an option of audit: put it after the command, as in jcs-errors audit --since ...\n',
    );
    const missing = await cli(['show']);
    expect(missing.stderr).toBe("missing required argument 'group': see jcs-errors show --help\n");
    // Stray arguments: the command's own help, its subcommands named, the words not echoed (they
    // may be a username that lost its --username).
    for (const [args, line] of [
      [['top', 'extra'], 'top takes no arguments, but was given 1: see jcs-errors top --help'],
      [
        ['audit', 'bogus'],
        'audit takes no arguments, but was given 1; its command is audit verify: see jcs-errors audit --help',
      ],
      [
        ['show', 'abc123', 'asmith'],
        'show takes 1 argument (group), but was given 2: see jcs-errors show --help',
      ],
      [
        ['erase', 'asmith'],
        'erase takes no arguments, but was given 1: see jcs-errors erase --help',
      ],
    ] as const) {
      expect(await cli([...args])).toEqual({ exitCode: 2, stdout: '', stderr: `${line}\n` });
    }
    // A help flag or `help` does not make a mistyped command a success (commander showed the main
    // help, exit 0, for `bogus --help`, and audit's for `help audit bogus`).
    for (const [args, line] of [
      [['help', 'bogus'], "unknown command 'bogus': see jcs-errors --help"],
      [['bogus', '--help'], "unknown command 'bogus': see jcs-errors --help"],
      [
        ['--server', 'http://x', '--json', 'bogus', '-h'],
        "unknown command 'bogus': see jcs-errors --help",
      ],
      [['audit', 'bogus', '--help'], "unknown command 'audit bogus': see jcs-errors audit --help"],
      [['help', 'audit', 'bogus'], "unknown command 'audit bogus': see jcs-errors audit --help"],
    ] as const) {
      expect(await cli([...args])).toEqual({ exitCode: 2, stdout: '', stderr: `${line}\n` });
    }
  });

  test("a command's help names the global options too", async () => {
    for (const args of [
      ['top', '--help'],
      ['audit', 'verify', '--help'],
      ['help', 'erase'],
    ]) {
      const r = await cli(args);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toContain(
        'Global options, before or after the command: --server URL, --token T, --json,\n--no-color',
      );
      // an 80-column terminal holds every line
      expect(r.stdout.split('\n').filter((line) => line.length > 80)).toEqual([]);
    }
    expect((await cli(['--help'])).stdout.split('\n').filter((l) => l.length > 80)).toEqual([]);
  });

  test("audit verify refuses audit's options rather than ignoring them", async () => {
    for (const args of [
      ['audit', 'verify', '--since', 'yesterday'],
      ['audit', '--limit', '3', 'verify'],
    ]) {
      const r = await cli(args);
      expect(r).toMatchObject({ exitCode: 2, stdout: '' });
      expect(r.stderr).toMatch(/^audit verify takes no --(since|limit): .*jcs-errors audit\n$/);
    }
    expect(requests('/v1/audit/verify')).toHaveLength(0);
    expect((await cli(['audit', 'verify'])).exitCode).toBe(0);
  });

  test('a call without a command is a usage error: one line, exit 2', async () => {
    for (const args of [[], ['--token', 'top'], ['--json']]) {
      const r = await cli(args);
      expect(r).toMatchObject({ exitCode: 2, stdout: '' });
      expect(r.stderr).toMatch(
        /^no command given \(one of top, show, .*\): see jcs-errors --help\n$/,
      );
    }
  });

  test('--help prints the help on stdout and exits 0', async () => {
    for (const args of [['--help'], ['top', '--help'], ['help', 'show']]) {
      const r = await cli(args);
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Usage: jcs-errors/);
    }
    // `help` names the whole command, or is its own topic; a command's argument is not a command
    for (const [args, usage] of [
      [['help', 'audit', 'verify'], 'jcs-errors audit verify [options]'],
      [['audit', 'help', 'verify'], 'jcs-errors audit verify [options]'],
      [['help', 'help'], 'jcs-errors [options] [command]'],
      [['show', 'abc123', '--help'], 'jcs-errors show [options] <group>'],
      [['audit', '--since', '7d', 'verify', '--help'], 'jcs-errors audit verify [options]'],
      [['help', '--', 'audit', 'verify'], 'jcs-errors audit verify [options]'],
      // a command's option before it, with its value: no command named '7d'
      [['--since', '7d', 'top', '-h'], 'jcs-errors [options] [command]'],
    ] as const) {
      const r = await cli([...args]);
      expect([r.exitCode, r.stderr]).toEqual([0, '']);
      expect(r.stdout.split('\n')[0]).toBe(`Usage: ${usage}`);
    }
    // a help flag before the command: the command's help, as after it
    for (const args of [
      ['-h', 'top'],
      ['--help', '--json', 'show'],
      ['--json', '-h', 'audit', 'verify'],
    ]) {
      const r = await cli(args);
      const command = args.filter((a) => !a.startsWith('-'))[0];
      expect(r).toMatchObject({ exitCode: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^Usage: jcs-errors ${command} `));
    }
    expect((await cli(['--help'])).stdout).toContain('Exit codes: 0 done, 1 failed');
    // Listed among the options, as jcs-collector's help lists its own; not top's version filter.
    expect((await cli(['--help'])).stdout).toMatch(/\n {2}-V, --version +print the version/);
    expect((await cli(['top', '--help'])).stdout).not.toContain('-V, --version');
  });

  test('a stack trace only with JCS_DEBUG', async () => {
    fake.failNext(500, 'internal');
    expect((await cli(['top'])).stderr).not.toMatch(/\n\s+at /);
    fake.failNext(500, 'internal');
    expect((await cli(['top'], { env: { DEBUG: '1' } })).stderr).not.toMatch(/\n\s+at /);
    fake.failNext(500, 'internal');
    expect((await cli(['top'], { env: { JCS_DEBUG: '1' } })).stderr).toMatch(/\n\s+at /);
  });
});
