import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromBase64, groupId, sealDump, type Group, type Report } from '@jcs/protocol';
import { postReport, startCollector, type RunningCollector } from '../../../test-support/collector';
import { makeReport } from '../../../test-support/reports';
import { run, type RunResult } from '../src';
import { absoluteTime } from '../src/render/relative-time';
import { spawnCli } from './support/spawn-cli';

// The real `jcs-collector serve` on a temp data dir, real reports posted to it, and the CLI
// reading them back: the bin as a child process for the exit codes and the table, the program
// in-process (the same code, without a process start per command) for every other command.

jest.setTimeout(60_000);

let c: RunningCollector;
let home: string;

const A = groupId('JCS', 91, 'modClients', 'LoadClient');
const B = groupId('JCS', 13, 'modInvoices', 'PrintInvoice');
const IDS = [
  '0b7a1c52-8d7e-4c8f-9d0a-3f6e2b1c4d51',
  '1c8b2d63-9e8f-4d90-8e1b-4a7f3c2d5e62',
  '2d9c3e74-af90-4ea1-9f2c-5b8a4d3e6f73',
  '3ead4f85-b0a1-4fb2-a03d-6c9b5e4f7a84',
];

async function post(report: Report): Promise<void> {
  const res = await postReport(c, report);
  if (res.status !== 202) throw new Error(`report refused: ${res.status} ${await res.text()}`);
}

async function api<T>(route: string): Promise<{ body: string; data: T }> {
  const res = await fetch(`${c.url}${route}`, {
    headers: { authorization: `Bearer ${c.tokens.admin}` },
  });
  const body = await res.text();
  return { body, data: JSON.parse(body) as T };
}

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-cli-real-'));
  c = await startCollector();
  await post(
    makeReport({ id: IDS[0], app: { name: 'JCS', version: '5.2.0.12' }, error: { line: 0 } }),
  );
  await post(makeReport({ id: IDS[1], license: 'JCS-000456', username: 'bjones', repeats: 2 }));
  await post(
    makeReport({
      id: IDS[2],
      error: { code: 'Set rs = db.OpenRecordset(sql)' },
      dump: sealDump(
        JSON.stringify({ client: 'Smith & Co', rows: 0 }),
        fromBase64(c.publicKey),
        c.keyId,
      ),
    }),
  );
  const b = makeReport({
    id: IDS[3],
    error: {
      number: 13,
      module: 'modInvoices',
      procedure: 'PrintInvoice',
      description: 'Type mismatch',
      line: 88,
    },
    dumpWithheld: 'user-opt-out',
  });
  delete b.username;
  await post(b);
});
afterAll(async () => {
  await c?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

function env(token = c.tokens.admin): Record<string, string> {
  return {
    HOME: home,
    NO_COLOR: '1',
    COLUMNS: '80',
    JCS_ERRORS_SERVER: c.url,
    JCS_ERRORS_TOKEN: token,
  };
}

function cli(args: string[], token = c.tokens.admin): Promise<RunResult> {
  return run(args, { env: env(token), homeDir: home, stdoutIsTTY: false });
}

const lines = (...l: string[]) => `${l.join('\n')}\n`;
const trend = (g: Group) => `${'▁'.repeat(g.daily.length - 1)}█`;

describe('the bin against the real collector', () => {
  test('top: the table with NO_COLOR, and --json equal to the API', async () => {
    const r = await spawnCli(['top'], env());
    const { data } = await api<{ groups: Group[]; window: { since: string } }>('/v1/groups');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The window's start is read a moment apart by the CLI and by the API call after it: at a
    // minute's turn they differ by one, so the minute is not compared.
    const anyMinute = (text: string) => text.replace(/since \S+ \d\d:\d\d/, 'since <minute>');
    expect(anyMinute(r.stdout)).toBe(
      anyMinute(
        lines(
          `ID       COUNT  USERS  LICS  VERSIONS      LAST SEEN  TREND${' '.repeat(data.groups[0].daily.length - 3)}STATUS`,
          `${A.slice(0, 7)}      5      2     2  5.2.1.345 +1  just now   ${trend(data.groups[0])}  unresolved`,
          '         91 modClients.LoadClient: Object variable or With block variable not s…',
          `${B.slice(0, 7)}      1      0     1  5.2.1.345     just now   ${trend(data.groups[1])}  unresolved`,
          '         13 modInvoices.PrintInvoice: Type mismatch',
          '',
          `2 unresolved groups since ${absoluteTime(data.window.since, 'minute')} (7d ago), most occurrences first`,
          'jcs-errors show ID for one group',
        ),
      ),
    );

    const json = await spawnCli(['top', '--json'], env());
    expect(json.code).toBe(0);
    const fromCli = JSON.parse(json.stdout);
    const fromApi = (await api<Record<string, unknown>>('/v1/groups')).data;
    // The window ends at "now", which moves between the two requests; everything else is equal.
    expect({ ...fromCli, window: null }).toEqual({ ...fromApi, window: null });
    expect(Object.keys(fromCli.window)).toEqual(['since', 'until']);
  });

  test('exit 2 for a bad option, 3 for a wrong token, 4 for an unknown group', async () => {
    // Independent, so started together: process start-up is most of their time.
    const [usage, token, missing] = await Promise.all([
      spawnCli(['top', '--since', 'yesterday'], env()),
      spawnCli(['top'], env('not-a-token')),
      spawnCli(['show', '000000000000'], env()),
    ]);
    expect(usage).toEqual({
      code: 2,
      stdout: '',
      stderr: '--since takes 30m, 12h, 7d, 6w or an ISO date, not "yesterday"\n',
    });
    expect(token).toEqual({
      code: 3,
      stdout: '',
      stderr: `the collector at ${c.url.replace(/\/$/, '')} refused the token: check JCS_ERRORS_TOKEN, and that the token was made on that collector\n`,
    });
    expect(missing).toEqual({
      code: 4,
      stdout: '',
      stderr: 'no group 000000000000: run jcs-errors top to list groups\n',
    });
  });

  test('exit 1, not 4, when --server has a path the collector has no route for', async () => {
    const r = await spawnCli(['top'], { ...env(), JCS_ERRORS_SERVER: `${c.url}/errors` });
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `${c.url}/errors has no such route: check the path in --server (keep one only where a proxy serves the collector under it)\n`,
    });
  });
});

describe('every command against the real collector', () => {
  test('show: a prefix, the chart, the breakdowns and the latest reports', async () => {
    const r = await cli(['show', A.slice(0, 6)]);
    const today = new Date().toISOString().slice(0, 10);
    const first = new Date(Date.now() - 42 * 86_400_000).toISOString().slice(0, 10);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(
      /first seen \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(just now\) · last seen just now\n/,
    );
    expect(r.stdout.replace(/first seen .*\n/, 'first seen …\n')).toBe(
      lines(
        `${A}  unresolved`,
        'error 91 in modClients.LoadClient',
        'Object variable or With block variable not set',
        '',
        '5 occurrences · 2 users · 2 licences',
        'first seen …',
        '',
        `By day, ${first} to ${today} (UTC)`,
        ...Array.from({ length: 5 }, (_, i) => `${i === 0 ? '5' : ' '} │${' '.repeat(42)}█`),
        `  └${'─'.repeat(43)}`,
        `   ${first.slice(5)}${' '.repeat(33)}${today.slice(5)}`,
        '',
        'By version',
        'VERSION    COUNT  SHARE',
        '5.2.1.345      4    80%  ████████████████████',
        '5.2.0.12       1    20%  █████',
        '',
        'By line',
        'LINE         COUNT  SHARE',
        '120              4    80%  ████████████████████',
        '0 (unknown)      1    20%  █████',
        '',
        'Latest reports',
        'REPORT                                OCCURRED  VERSION    LICENCE     LINE  REP',
        `${IDS[2]}  just now  5.2.1.345  JCS-000123   120`,
        `${IDS[1]}  just now  5.2.1.345  JCS-000456   120   +2`,
        `${IDS[0]}  just now  5.2.0.12   JCS-000123     ?`,
        '',
        `jcs-errors reports ${A} for more, jcs-errors report ID for one`,
      ),
    );
  });

  test('reports, and --json equal to the API', async () => {
    const r = await cli(['reports', A.slice(0, 8)]);
    expect(r.stdout).toBe(
      lines(
        'REPORT                                OCCURRED  VERSION    LICENCE     LINE  REP',
        `${IDS[2]}  just now  5.2.1.345  JCS-000123   120`,
        `${IDS[1]}  just now  5.2.1.345  JCS-000456   120   +2`,
        `${IDS[0]}  just now  5.2.0.12   JCS-000123     ?`,
        '',
        `3 reports of group ${A}, newest first`,
        'jcs-errors report ID for one, with --dump for its data',
      ),
    );
    const json = await cli(['reports', A, '--json']);
    expect(json.stdout).toBe(`${(await api(`/v1/groups/${A}/reports`)).body}\n`);
  });

  test('report --dump: every field, the decrypted dump, and the note that it was logged', async () => {
    const r = await cli(['report', IDS[2], '--dump']);
    const { data } = await api<{ occurredAt: string; receivedAt: string }>(`/v1/reports/${IDS[2]}`);
    expect(r.stdout).toBe(
      lines(
        `Report      ${IDS[2]}`,
        `Group       ${A}`,
        `Occurred    ${absoluteTime(data.occurredAt)} (just now, client clock)`,
        `Received    ${absoluteTime(data.receivedAt)} (just now)`,
        'App         JCS 5.2.1.345',
        'Licence     JCS-000123',
        'Username    asmith',
        'Error       91',
        'Description Object variable or With block variable not set',
        'Where       modClients.LoadClient, line 120',
        'Code        Set rs = db.OpenRecordset(sql)',
        'Repeats     0',
        'Dump',
        '{',
        '  "client": "Smith & Co",',
        '  "rows": 0',
        '}',
        '',
        'This access to the dump was written to the audit log.',
      ),
    );
    const audit = await api<{ entries: { action: string; target: string }[] }>('/v1/audit');
    expect(audit.data.entries.some((e) => e.target === IDS[2] && /dump/.test(e.action))).toBe(true);
  });

  test('report: a withheld dump, and --json equal to the API', async () => {
    const r = await cli(['report', IDS[3]]);
    expect(r.stdout).toContain('Username    (none)\n');
    expect(r.stdout).toContain('Dump        withheld: the user did not consent to sending data\n');
    const json = await cli(['report', IDS[3], '--json']);
    expect(json.stdout).toBe(`${(await api(`/v1/reports/${IDS[3]}`)).body}\n`);
  });

  test('resolve, ignore and reopen change the status on the collector', async () => {
    expect((await cli(['resolve', A.slice(0, 8), '--in-version', '5.3'])).stdout).toBe(
      `resolved ${A} (91 modClients.LoadClient) in 5.3: a report from 5.3 or\nlater reopens it\n`,
    );
    expect((await cli(['ignore', B])).stdout).toBe(
      `ignored ${B} (13 modInvoices.PrintInvoice): still counted, listed by\njcs-errors top --status ignored\n`,
    );
    const listed = await api<{ groups: Group[] }>('/v1/groups?status=all');
    expect(listed.data.groups.map((g) => [g.id, g.status, g.resolvedInVersion])).toEqual([
      [A, 'resolved', '5.3'],
      [B, 'ignored', null],
    ]);
    expect((await cli(['reopen', B])).stdout).toBe(
      `reopened ${B} (13 modInvoices.PrintInvoice): unresolved, listed by\njcs-errors top\n`,
    );
    expect((await cli(['reopen', A])).exitCode).toBe(0);
  });

  test('audit, audit verify, expire, status', async () => {
    const audit = await cli(['audit']);
    // 80 columns: too narrow for a whole report id on the line, so target and outcome go below
    expect(audit.stdout).toMatch(/^SEQ {2}AT \(UTC\) +ACTOR +ACTION\n/);
    expect(audit.stdout).toMatch(/\n\d+ entries, newest first, back to .*\n$/);

    const verify = await cli(['audit', 'verify']);
    expect(verify).toMatchObject({ exitCode: 0, stderr: '' });
    expect(verify.stdout).toMatch(
      /^audit log intact: \d+ entries, every hash in the chain checks\n$/,
    );

    // A dry run counts and deletes nothing: no run is recorded.
    const before = (await api<{ lastExpiry: unknown }>('/v1/status')).data.lastExpiry;
    const dry = await cli(['expire', '--dry-run']);
    expect(dry.stdout).toMatch(
      /^dry run in [\d,]+ ms: would delete 0 reports and destroy 0 keys; /,
    );
    expect((await api<{ lastExpiry: unknown }>('/v1/status')).data.lastExpiry).toEqual(before);

    const expire = await cli(['expire']);
    expect(expire.stdout).toMatch(
      /^expiry done in [\d,]+ ms: 0 reports deleted, 0 keys destroyed; cut-off \d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d UTC \(41d ago\)\n$/,
    );

    const status = await cli(['status']);
    expect(status).toMatchObject({ exitCode: 0, stderr: '' });
    expect(status.stdout).toMatch(
      new RegExp(
        [
          '^Retention {9}compliant',
          'Retention period  42 days',
          'Reports stored    4',
          'Oldest report     \\S+ \\S+ UTC \\(just now\\)',
          // 81 characters: wrapped at 80, the rest two columns in from the value column
          'Last expiry run   \\S+ \\S+ UTC \\(just now\\): 0 reports deleted, 0\\n {20}keys destroyed\\n$',
        ].join('\\n'),
      ),
    );
    const json = await cli(['status', '--json']);
    expect(json.stdout).toBe(`${(await api('/v1/status')).body}\n`);
  });

  test('an engineer token is refused the admin commands: exit 3', async () => {
    const r = await cli(['status'], c.tokens.engineer);
    expect(r).toEqual({
      exitCode: 3,
      stdout: '',
      stderr:
        "this needs an admin token and the one given may not do it: use one made on the collector's machine by jcs-collector token create --name NAME --role admin --data-dir DIR\n",
    });
  });

  test('erase destroys one data subject’s reports', async () => {
    expect((await cli(['erase', '--license', 'JCS-000456'])).stdout).toBe(
      "erased 1 report of the licence given: no read returns it now (backups made\nbefore keep it until the day's key goes, at most 42 days and a few hours after\nreceipt)\n",
    );
    expect((await cli(['report', IDS[1]])).exitCode).toBe(4);
    expect((await cli(['erase', '--username', 'nobody'])).stdout).toBe(
      'no reports of the username given are stored: nothing to erase (a username\nmatches only as the app sent it, case and spaces included: try the spellings it\nmay have sent)\n',
    );
  });

  test('a name longer than any report carries is a usage error, not a failing collector', async () => {
    // Refused before the request (once a 413 for the body, told as "give shorter values")
    const r = await cli(['erase', '--username', 'a'.repeat(120_000)]);
    expect(r).toEqual({
      exitCode: 2,
      stdout: '',
      stderr:
        '--username takes at most 256 characters (no report can carry a longer name), not 120000\n',
    });
  });

  test('a prefix finds a group the listing does not show: ignored, its only report erased', async () => {
    const error = { number: 5, module: 'modErase', procedure: 'Gone', line: 1 };
    const gone = groupId('JCS', error.number, error.module, error.procedure);
    await post(makeReport({ username: 'erase-me', license: 'JCS-000789', error }));
    expect((await cli(['ignore', gone])).exitCode).toBe(0);
    await cli(['erase', '--license', 'JCS-000789']);
    // Not among the unresolved groups `top` shows (its count stays: counts outlive erasure).
    const listed = await api<{ groups: Group[] }>(
      '/v1/groups?status=unresolved&since=52w&limit=500',
    );
    expect(listed.data.groups.map((g) => g.id)).not.toContain(gone);
    // The shortest prefix that names it alone among the three groups.
    let n = 1;
    while ([A, B].some((id) => id.startsWith(gone.slice(0, n)))) n++;
    const r = await cli(['show', gone.slice(0, n), '--json']);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).id).toBe(gone);
    // and two groups sharing a prefix are ambiguous, whichever windows they are active in: a
    // group made to share gone's first two characters (one procedure name in 256 or so does)
    let k = 0;
    const twin = () => groupId('JCS', 6, 'modErase', `Twin${k}`);
    while (!twin().startsWith(gone.slice(0, 2))) k++;
    const other = { number: 6, module: 'modErase', procedure: `Twin${k}`, line: 1 };
    await post(makeReport({ license: 'JCS-000790', error: other }));
    const ambiguous = await cli(['show', gone.slice(0, 2)]);
    expect(ambiguous.exitCode).toBe(2);
    expect(ambiguous.stderr).toContain(`group ${gone.slice(0, 2)} is ambiguous`);
    expect(ambiguous.stderr).toContain(gone);
    expect(ambiguous.stderr).toContain(twin());
  });
});

describe('the collector stopped', () => {
  test('exit 1, with what to do', async () => {
    await c.stop();
    expect(await spawnCli(['top'], env())).toEqual({
      code: 1,
      stdout: '',
      stderr: `cannot reach the collector at ${c.url}: is it running? set --server or JCS_ERRORS_SERVER\n`,
    });
  });
});
