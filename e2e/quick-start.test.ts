import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeReport } from '../test-support/reports';

// The README's quick start as a new user runs it: `npm start` on a fresh data dir (here on a free
// port), the demo's reports sent to it with `npm run demo -- --to URL`, then `jcs-errors top`.

const ROOT = path.join(__dirname, '..');
const node = (script: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [path.join(ROOT, script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });

let start: ChildProcess | undefined;
let dir: string;
/** a process group to kill after the test */
let leftovers: number | undefined;
afterEach(async () => {
  if (leftovers !== undefined) {
    try {
      process.kill(leftovers, 'SIGKILL');
    } catch {
      // all gone
    }
    leftovers = undefined;
  }
  // Not yet exited (a process killed by a signal has a signalCode and no exitCode).
  if (start && start.exitCode === null && start.signalCode === null) {
    const exited = new Promise((resolve) => start!.once('exit', resolve));
    start.kill('SIGTERM');
    await exited;
  }
  start = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

it('npm start, then the demo sent to it, then jcs-errors top shows what it sent', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-quick-start-'));
  const { url, out: printed, err: logged } = await startCollector();
  const out = printed();
  const err = logged();
  expect(fs.existsSync(path.join(dir, 'jcs-data', 'keys'))).toBe(true);
  // init's advice on the master key reaches the new user (it was thrown away).
  expect(err).toMatch(/The master key is in .*master\.key: never back up the keys folder/);
  const token = (role: string) => new RegExp(`${role} .*:\\s+(jcs_\\w+)`).exec(out)![1];

  const refused = node('scripts/demo.js', ['--to', url], { JCS_INGEST_TOKEN: 'jcs_ing_nope' });
  expect(refused.status).toBe(1);
  expect(refused.stderr).toMatch(/^demo failed: the collector refused the report \(HTTP 401/);
  // The engineer token, printed just before the ingest one: the demo says which it needs.
  const engineer = node('scripts/demo.js', ['--to', url], { JCS_INGEST_TOKEN: token('engineer') });
  expect(engineer.status).toBe(1);
  expect(engineer.stderr).toMatch(
    /^demo failed: the collector refused the report \(HTTP 403.*: is JCS_INGEST_TOKEN the ingest token npm start printed\?\n$/,
  );

  const sent = node('scripts/demo.js', ['--to', url], { JCS_INGEST_TOKEN: token('ingest') });
  expect(sent.stderr).toBe('');
  expect(sent.status).toBe(0);
  const count = Number(/reported (\d+) errors/.exec(sent.stdout)![1]);

  const top = node('packages/cli/dist/bin.js', ['top', '--json', '--limit', '500'], {
    JCS_ERRORS_SERVER: url,
    JCS_ERRORS_TOKEN: token('engineer'),
  });
  expect(top.status).toBe(0);
  const groups = JSON.parse(top.stdout).groups as { count: number }[];
  expect(groups.reduce((n, g) => n + g.count, 0)).toBe(count);
});

it('npm run demo stopped with Ctrl-C leaves no data dir (keys, reports) behind', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-demo-tmp-'));
  const demo = spawn(process.execPath, [path.join(ROOT, 'scripts/demo.js')], {
    env: { ...process.env, TMPDIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    demo.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('collector listening on')) resolve();
    });
    demo.once('exit', (code) => reject(new Error(`the demo exited with ${code}: ${out}`)));
  });
  expect(fs.readdirSync(dir)).toEqual([expect.stringMatching(/^jcs-demo-/)]);
  const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve));
  demo.kill('SIGINT');
  expect(await exited).toBe(130);
  expect(fs.readdirSync(dir)).toEqual([]);
});

it('npm run demo whose reader stops early (| head) still removes its data dir', () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-demo-tmp-'));
  // npm's own lines bring head's 30th line before the demo's last: it writes to a closed pipe.
  const r = spawnSync('sh', ['-c', 'npm run demo 2>&1 | head -30 > /dev/null'], {
    cwd: ROOT,
    env: { ...process.env, TMPDIR: dir },
    timeout: 60_000,
  });
  // The pipeline's status is head's: the data dir left behind is what tells.
  expect(r.error).toBeUndefined();
  expect(fs.readdirSync(dir)).toEqual([]);
});

it('npm run demo -- --help says what it does and does nothing; an unknown argument is exit 2', () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-demo-tmp-'));
  const help = node('scripts/demo.js', ['--help'], { TMPDIR: dir });
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(/^usage: npm run demo \[-- --to URL\]\n/);
  const bad = node('scripts/demo.js', ['--tow', 'x'], { TMPDIR: dir });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/^demo: unknown argument --tow\nusage:/);
  expect(bad.stdout).toBe('');
  // nothing started: no data dir made
  expect(fs.readdirSync(dir)).toEqual([]);
});

it('npm start whose npm is killed (SIGTERM) stops the collector too', async () => {
  // npm runs the script under `sh -c`; a SIGTERM to npm ends npm and the shell, not the script.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-quick-start-'));
  const shell = spawn(
    'sh',
    ['-c', `"${process.execPath}" "${path.join(ROOT, 'scripts/start.js')}" --port 0; true`],
    {
      cwd: dir,
      env: { ...process.env, JCS_COLLECTOR_DATA_DIR: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // its own process group: whatever is left of it is killed at the end, pass or fail
      detached: true,
    },
  );
  leftovers = -shell.pid!;
  let out = '';
  let err = '';
  shell.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    shell.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    shell.once('exit', (code) => reject(new Error(`sh exited with ${code}: ${out}`)));
  });
  expect((await fetch(`${url}/v1/health`)).status).toBe(200);
  // A report whose body is still arriving when the stop comes: serve waits for it (up to 20 s).
  const token = new RegExp('ingest .*:\\s+(jcs_\\w+)').exec(out)![1];
  const body = JSON.stringify(makeReport());
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString()));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    `POST /v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
  );
  await new Promise((r) => setTimeout(r, 200));
  shell.kill('SIGTERM');
  // The collector stops as SIGTERM stops it: the port stops answering at once...
  const deadline = Date.now() + 15_000;
  let up = true;
  while (up && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    up = await fetch(`${url}/v1/health`).then(
      () => true,
      () => false,
    );
  }
  expect(up).toBe(false);
  // ...and the request in flight is finished, though its body comes after more than the second
  // in which serve ignores a repeated signal: one SIGTERM, not one every 250 ms (which ended it
  // with 143 there, the report cut off).
  await new Promise((r) => setTimeout(r, 1_500));
  socket.write(body.slice(10));
  while (!/"msg":"stopped"/.test(err) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  socket.destroy();
  expect(answer).toMatch(/^HTTP\/1\.1 202 /);
  expect(err).toMatch(/"msg":"stopped"/);
});

/** `npm start` on a data dir of its own in `dir`, resolved with its URL once it listens. */
async function startCollector(): Promise<{ url: string; out: () => string; err: () => string }> {
  start = spawn(process.execPath, [path.join(ROOT, 'scripts/start.js'), '--port', '0'], {
    cwd: dir,
    env: { ...process.env, JCS_COLLECTOR_DATA_DIR: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    // its own process group: a collector left serving is killed at the end, pass or fail
    detached: true,
  });
  leftovers = -start.pid!;
  let out = '';
  let err = '';
  start.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    start!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    start!.once('exit', (code) => reject(new Error(`npm start exited with ${code}: ${out}`)));
  });
  return { url, out: () => out, err: () => err };
}

it('npm start whose terminal closes (SIGHUP) stops the collector, which would serve on unseen', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-quick-start-'));
  const { url, err } = await startCollector();
  const exited = new Promise<number | null>((resolve) => start!.once('exit', resolve));
  start!.kill('SIGHUP');
  expect(await exited).toBe(0);
  expect(err()).toMatch(/"msg":"stopped"/);
  const up = await fetch(`${url}/v1/health`).then(
    () => true,
    () => false,
  );
  expect(up).toBe(false);
});

it('npm start after a first run stopped before its tokens: makes the missing ones, says how to make more', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-quick-start-'));
  const data = path.join(dir, 'jcs-data');
  const collector = (args: string[]) =>
    node('packages/collector/dist/bin.js', [...args, '--data-dir', data]);
  // What a Ctrl-C after init and the first token leaves.
  expect(collector(['init']).status).toBe(0);
  expect(collector(['token', 'create', '--name', 'desktop-app', '--role', 'ingest']).status).toBe(
    0,
  );
  const { out } = await startCollector();
  expect(out()).toMatch(/engineer \(for jcs-errors\): +jcs_eng_\w+\n/);
  expect(out()).toMatch(/admin .*: +jcs_adm_\w+\n/);
  expect(out()).not.toMatch(/ingest .*jcs_ing_/);
  expect(out()).toMatch(
    /\nTry: {2}JCS_ERRORS_SERVER=<the URL below> JCS_ERRORS_TOKEN=jcs_eng_\w+ npx jcs-errors top\n/,
  );
  expect(out()).toContain(
    `The others were made before. Lost one? Make another:\n  npx jcs-collector token create --name NAME --role ROLE --data-dir ${data}\n`,
  );
  const list = JSON.parse(collector(['token', 'list', '--json']).stdout) as { name: string }[];
  expect(list.map((t) => t.name).sort()).toEqual(['admin', 'desktop-app', 'engineer']);
  // Once all three are there, a start prints none.
  const exited = new Promise((resolve) => start!.once('exit', resolve));
  start!.kill('SIGTERM');
  await exited;
  const again = await startCollector();
  expect(again.out()).not.toMatch(/Tokens|jcs_/);
});

it('npm start on a port that is taken: serve says so, and npm start how to pass another port and that the tokens stand', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-quick-start-'));
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  const startOn = (given = String(port)) =>
    spawnSync(process.execPath, [path.join(ROOT, 'scripts/start.js'), '--port', given], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, JCS_COLLECTOR_DATA_DIR: '' },
      timeout: 60_000,
    });
  try {
    // Written with a leading zero, as serve reads it: the port, not `:0` and the port.
    const r = startOn(`0${port}`);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/engineer \(for jcs-errors\): +jcs_eng_\w+\n/);
    // Not the default port: the hint names the server, or the token would go to whatever
    // listens on 8080.
    expect(r.stdout).toMatch(
      new RegExp(
        `\\nTry: {2}JCS_ERRORS_SERVER=http://127\\.0\\.0\\.1:${port} JCS_ERRORS_TOKEN=jcs_eng_\\w+ npx jcs-errors top\\n`,
      ),
    );
    expect(r.stderr).toContain(String(port));
    expect(r.stderr).toContain(
      'npm start: the collector stopped. The tokens printed above were made and stay valid. Options go to it after --, as in npm start -- --port 9090\n',
    );
    // A second try makes no tokens, so it does not claim any.
    const again = startOn();
    expect(again.status).toBe(1);
    expect(again.stderr).toContain(
      'npm start: the collector stopped. Options go to it after --, as in npm start -- --port 9090\n',
    );
  } finally {
    taken.close();
  }
});
