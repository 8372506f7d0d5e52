import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startFakeCollector, type FakeCollector } from './support/fake-collector';
import { makeFixtures } from './support/fixtures';
import { BIN, spawnCli } from './support/spawn-cli';

// The real bin, as a child process: argv, environment, exit codes and the two streams. The
// exit codes produced by a real collector's answers are in real-collector.test.ts.

jest.setTimeout(30_000);

let fake: FakeCollector;
let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run npx tsc -b first`);
  fake = await startFakeCollector(makeFixtures(new Date()));
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-cli-bin-'));
  env = {
    HOME: home,
    NO_COLOR: '1',
    COLUMNS: '80',
    JCS_ERRORS_SERVER: fake.url,
    JCS_ERRORS_TOKEN: fake.tokens.admin,
  };
});
afterAll(async () => {
  await fake.close();
  fs.rmSync(home, { recursive: true, force: true });
});

test('top prints the table on stdout and exits 0', async () => {
  const r = await spawnCli(['top'], env);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout.split('\n').slice(0, 3)).toEqual([
    'ID       COUNT  USERS  LICS  VERSIONS      LAST SEEN  TREND    STATUS',
    '3fa9c1d  1,204     37    12  5.2.1.345 +2  3h ago     ▅▄▆█▇██  regressed',
    '         91 modClients.LoadClient: Object variable or With block variable not s…',
  ]);
  expect(r.stdout).not.toContain('\u001b');
});

test('--version and -V print the version alone on stdout, exit 0', async () => {
  const { version } = JSON.parse(
    fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'),
  ) as { version: string };
  for (const flag of ['--version', '-V']) {
    expect(await spawnCli([flag], env)).toMatchObject({
      code: 0,
      stdout: `${version}\n`,
      stderr: '',
    });
    // With more after it, not "unknown option": what it does, and where top's filter goes.
    expect(await spawnCli([flag, 'top'], env)).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "--version (or -V) prints the version and takes nothing else; to list one version's groups, put it after top: jcs-errors top --version V\n",
    });
  }
});

test("with JCS_DEBUG (not DEBUG, the debug package's), a failure also prints the stack", async () => {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise<void>((r) => server.close(() => r()));
  // DEBUG=express:* or the like, set for another program, leaves the one line alone.
  const other = await spawnCli(['top', '--server', url], { ...env, DEBUG: '*' });
  expect(other.stderr.split('\n')).toHaveLength(2);
  const debug = await spawnCli(['top', '--server', url], { ...env, JCS_DEBUG: '1' });
  expect(debug.code).toBe(1);
  const [first, ...rest] = debug.stderr.split('\n');
  expect(first).toBe(
    `cannot reach the collector at ${url}: is it running? set --server or JCS_ERRORS_SERVER`,
  );
  expect(rest.join('\n')).toMatch(/^UnreachableError: .*\n\s+at /);
});

test('exit 1: status not compliant, the finding on stdout and what to do on stderr', async () => {
  fake.fixtures.status = { ...fake.fixtures.status, compliant: false, lastExpiry: null };
  const r = await spawnCli(['status'], env);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/^Retention {9}NOT COMPLIANT\n/);
  expect(r.stderr).toBe(
    "not compliant: the expiry job has never run with this 42-day retention: run jcs-errors expire now, and check the collector's nightly job\n",
  );
  // On one terminal (both streams on one pipe) the table comes first, then what to do.
  const { exec } = await import('node:child_process');
  const both = await new Promise<string>((resolve) =>
    exec(
      `"${process.execPath}" "${BIN}" status 2>&1`,
      { env: { PATH: process.env.PATH ?? '', ...env } },
      (_e, out) => resolve(out),
    ),
  );
  expect(both).toMatch(
    /^Retention {9}NOT COMPLIANT\n[^]*\nnot compliant: the expiry job has never run with this 42-day retention: .*\n$/,
  );
});

test('the config file supplies server and token, with a warning when others can read it', async () => {
  const dir = path.join(home, '.config', 'jcs-errors');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ server: fake.url, token: fake.tokens.engineer }));
  try {
    fs.chmodSync(file, 0o600);
    const quiet = await spawnCli(['top', '--json'], { HOME: home });
    expect(quiet).toMatchObject({ code: 0, stderr: '' });
    fs.chmodSync(file, 0o644);
    const warned = await spawnCli(['top', '--json'], { HOME: home });
    expect(warned.code).toBe(0);
    expect(warned.stderr).toBe(
      `warning: ${file} is readable by other users and may hold a token: run chmod 600 ${file}\n`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('output that cannot be written (a full disk) fails: exit 1 and one line', () => {
  const full = fs.openSync('/dev/full', 'w');
  try {
    const r = spawnSync(process.execPath, [BIN, '--help'], {
      env: { PATH: process.env.PATH ?? '', HOME: home },
      stdio: ['ignore', full, 'pipe'],
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^cannot write the output \(ENOSPC\): .*run again\n$/);
  } finally {
    fs.closeSync(full);
  }
});

test('a reader that closes the pipe early (| head) is not a failure', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [BIN, 'top', '--limit', '500'], {
    env: { ...env, COLUMNS: '200' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.once('data', () => child.stdout.destroy());
  // 'close', not 'exit': stderr can still be in its pipe when the process has exited.
  const code = await new Promise((resolve) => child.once('close', resolve));
  expect(code).toBe(0);
  expect(stderr).toBe('');
});

test('erase --username-stdin: the real bin reads the name from its stdin', async () => {
  const r = await spawnCli(['erase', '--username-stdin'], env, 'asmith\n');
  expect([r.code, r.stderr]).toEqual([0, '']);
  expect(r.stdout).toMatch(/^erased \d+ reports? of the username given/);
  expect(fake.requests.at(-1)).toMatchObject({ path: '/v1/erase', body: { username: 'asmith' } });
});
