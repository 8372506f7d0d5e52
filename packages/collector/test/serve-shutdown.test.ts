import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { COLLECTOR_BIN, makeTempDir } from '../../../test-support/collector';
import { makeReport } from '../../../test-support/reports';
import { runCollector, spawnServe, type ServeProcess } from './helpers/serve-process';
import { rawConnection, rawSocket, reportPost, statuses } from './helpers/raw-http';

/**
 * SIGTERM and SIGINT: `serve` stops taking connections, finishes the requests in flight (their
 * reports committed before they are answered), closes the database and exits 0. Every report it
 * answered 202 is in the database afterwards.
 */

jest.setTimeout(60_000);

function initialised(): { dataDir: string; token: string } {
  const dataDir = path.join(makeTempDir(), 'data');
  expect(runCollector(['init', '--data-dir', dataDir]).status).toBe(0);
  const t = runCollector([
    'token',
    'create',
    '--name',
    'app',
    '--role',
    'ingest',
    '--data-dir',
    dataDir,
  ]);
  expect(t.status).toBe(0);
  return { dataDir, token: t.stdout.trim() };
}

function storedIds(dataDir: string): Set<string> {
  const db = new Database(path.join(dataDir, 'collector.db'), { readonly: true });
  try {
    return new Set(
      (db.prepare('SELECT id FROM reports').all() as { id: string }[]).map((r) => r.id),
    );
  } finally {
    db.close();
  }
}

/** The head of a report post that waits for `100 Continue` before its body. */
function reportHead(token: string, length: number): string {
  return (
    [
      'POST /v1/reports HTTP/1.1',
      'Host: localhost',
      `Authorization: Bearer ${token}`,
      'Content-Type: application/json',
      `Content-Length: ${length}`,
      'Expect: 100-continue',
    ].join('\r\n') + '\r\n\r\n'
  );
}

describe('serve on SIGTERM', () => {
  it('finishes a request whose body is still arriving, commits it, and exits 0', async () => {
    const { dataDir, token } = initialised();
    const p = await spawnServe(dataDir);
    const report = makeReport();
    const body = JSON.stringify(report);
    const c = rawConnection(p.url);
    c.socket.write(reportHead(token, Buffer.byteLength(body)));
    // "100 Continue": the server has the request's head, so the request is in flight.
    await c.until('100 Continue');
    c.socket.write(body.slice(0, 50));
    p.child.kill('SIGTERM');
    await p.waitForLog(/stopping: finishing requests in flight/);
    c.socket.write(body.slice(50));
    await c.closed;
    expect(statuses(c.received())).toEqual([100, 202]);
    // the connection is closed after the answer rather than kept alive
    expect(c.received()).toMatch(/\r\nConnection: close\r\n/i);
    expect(await p.exited).toBe(0);
    expect(storedIds(dataDir).has(report.id)).toBe(true);
    expect(p.stderr()).toMatch(/"msg":"stopped"/);
  });
});

describe('serve on SIGTERM with a request pipelined behind one in flight', () => {
  it('answers the one in flight, and neither serves nor stores the one behind it', async () => {
    const { dataDir, token } = initialised();
    const p = await spawnServe(dataDir);
    const [first, second] = [makeReport(), makeReport()];
    const c = rawConnection(p.url);
    const a = reportPost(token, first, 'Expect: 100-continue');
    // The first request's head and most of its body: once the server says "100 Continue" it has
    // the head, so the request is in flight when the signal comes.
    c.socket.write(a.slice(0, -10));
    await c.until('100 Continue');
    p.child.kill('SIGTERM');
    await p.waitForLog(/stopping: finishing requests in flight/);
    // The rest of it, and a second request right behind it on the same connection.
    c.socket.write(a.slice(-10) + reportPost(token, second));
    await c.closed;
    expect(statuses(c.received())).toEqual([100, 202]);
    expect(await p.exited).toBe(0);
    const stored = storedIds(dataDir);
    expect(stored.has(first.id)).toBe(true);
    // Not taken: its client saw the connection close without an answer, and sends it again.
    expect(stored.has(second.id)).toBe(false);
    expect(p.stderr()).toMatch(/request pipelined after the stop began: not served/);
  });

  it("an engineer's request pipelined behind it is in the access log, though not served", async () => {
    const { dataDir, token } = initialised();
    const engineer = runCollector([
      ...['token', 'create', '--name', 'eve', '--role', 'engineer', '--data-dir', dataDir],
    ]).stdout.trim();
    const p = await spawnServe(dataDir);
    const c = rawConnection(p.url);
    const a = reportPost(token, makeReport(), 'Expect: 100-continue');
    c.socket.write(a.slice(0, -10));
    await c.until('100 Continue');
    p.child.kill('SIGTERM');
    await p.waitForLog(/stopping: finishing requests in flight/);
    c.socket.write(
      a.slice(-10) +
        `GET /v1/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${engineer}\r\n\r\n`,
    );
    await c.closed;
    expect(statuses(c.received())).toEqual([100, 202]);
    expect(await p.exited).toBe(0);
    const db = new Database(path.join(dataDir, 'collector.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT actor, action, outcome FROM audit').all()).toContainEqual({
        actor: 'eve',
        action: 'GET (no route)',
        outcome: 'unavailable',
      });
    } finally {
      db.close();
    }
    expect(runCollector(['audit', 'verify', '--data-dir', dataDir]).status).toBe(0);
  });
});

/** Whether the process catches SIGHUP (signal 1: the lowest bit of SigCgt in /proc). */
function catchesHangup(pid: number): boolean {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return (BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)/m.exec(status)![1]}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

/**
 * Starts serve and sends SIGHUP the moment it catches it; answers whether the SQLite addon was
 * loaded by then, and how serve ended after serving and a SIGTERM.
 */
async function hangupAtFirstCatch(
  dataDir: string,
): Promise<{ addonLoaded: boolean; served: boolean; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [COLLECTOR_BIN, 'serve', '--port', '0'], {
    env: { ...process.env, JCS_COLLECTOR_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const started = Date.now();
  while (!catchesHangup(child.pid!) && Date.now() - started < 20_000) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  const addonLoaded = /better_sqlite3\.node/.test(
    fs.readFileSync(`/proc/${child.pid}/maps`, 'utf8'),
  );
  child.kill('SIGHUP');
  while (!/listening on /.test(out) && child.exitCode === null) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const served = /listening on /.test(out);
  child.kill('SIGTERM');
  return { addonLoaded, served, code: await exited, stderr };
}

describe('serve on SIGHUP as it starts', () => {
  it('holds it from before its modules load (not exit 129), and serves', async () => {
    const { dataDir } = initialised();
    // The hold comes before the SQLite addon loads. A starved test process may see it late, so
    // up to three tries; serve built without the hold catches SIGHUP only after, every time.
    const runs = [];
    for (let i = 0; i < 3; i++) {
      const run = await hangupAtFirstCatch(dataDir);
      runs.push(run);
      expect(run).toMatchObject({ served: true, code: 0 });
      expect(run.stderr).toMatch(/SIGHUP: (not serving yet, )?nothing to reload/);
      if (!run.addonLoaded) break;
    }
    expect(runs.some((r) => !r.addonLoaded)).toBe(true);
  });
});

/**
 * The bin with `signal` sent right after its first module, as one arriving then would, before
 * the rest loads. Node catches SIGTERM and SIGINT itself from its own start (to reset the
 * terminal, then die of the signal), so /proc cannot show when the bin's hold begins.
 */
function binSignalledEarly(args: string[], signal: NodeJS.Signals, dataDir: string) {
  const wrapper = path.join(makeTempDir(), 'signal-early.js');
  const dist = path.dirname(fs.realpathSync(COLLECTOR_BIN));
  fs.writeFileSync(
    wrapper,
    `require(${JSON.stringify(path.join(dist, 'early-signals.js'))});
     process.kill(process.pid, ${JSON.stringify(signal)});
     setTimeout(() => require(${JSON.stringify(COLLECTOR_BIN)}), 50);`,
  );
  const child = spawn(process.execPath, [wrapper, ...args], {
    env: { ...process.env, JCS_COLLECTOR_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<{
    code: number | null;
    killedBy: string | null;
    stdout: string;
    stderr: string;
  }>((resolve) =>
    child.once('close', (code, killedBy) => resolve({ code, killedBy, stdout, stderr })),
  );
}

describe.each(['SIGTERM', 'SIGINT'] as const)('serve on %s as it starts', (signal) => {
  it('holds it while its modules load (not exit 143 or 130): starts, stops, exits 0', async () => {
    const { dataDir } = initialised();
    const r = await binSignalledEarly(['serve', '--port', '0'], signal, dataDir);
    expect({ code: r.code, killedBy: r.killedBy }).toEqual({ code: 0, killedBy: null });
    expect(r.stdout).toMatch(/listening on /);
    expect(r.stderr).toMatch(new RegExp(`"signal":"${signal}".*"msg":"stopping`));
  });

  it('another command whose arguments name serve is ended by it, as without the hold', async () => {
    const { dataDir } = initialised();
    const args = ['token', 'create', '--name', 'serve', '--role', 'ingest'];
    const r = await binSignalledEarly(args, signal, dataDir);
    expect({ code: r.code, killedBy: r.killedBy }).toEqual({ code: null, killedBy: signal });
    // killed before its action: no token was made
    const list = runCollector(['token', 'list', '--data-dir', dataDir]);
    expect(list.status).toBe(0);
    expect(list.stdout).not.toMatch(/^serve /m);
  });
});

describe('serve on SIGHUP', () => {
  it('over plain HTTP: logs that there is nothing to reload, and goes on serving', async () => {
    const { dataDir } = initialised();
    const p = await spawnServe(dataDir);
    p.child.kill('SIGHUP');
    await p.waitForLog(/SIGHUP: nothing to reload \(plain HTTP\)/);
    expect((await fetch(`${p.url}/v1/health`)).status).toBe(200);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });
});

describe('serve on SIGTERM with connections that sent nothing', () => {
  it('closes them and exits at once, not after the 20 s cut-off', async () => {
    const { dataDir } = initialised();
    const p = await spawnServe(dataDir);
    const { hostname, port } = new URL(p.url);
    const sockets = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) =>
          new Promise<net.Socket>((resolve) => {
            const socket = net.connect(Number(port), hostname, () => {
              // half of them mid-way through a request's head
              if (i % 2 === 1) socket.write('GET /v1/health HTTP/1.1\r\nHost: local');
              resolve(socket);
            });
            socket.on('error', () => {});
          }),
      ),
    );
    const closed = sockets.map((s) => new Promise<void>((r) => s.on('close', () => r())));
    // a kept-alive connection that has had a request still gets a clean close
    const health = await fetch(`${p.url}/v1/health`);
    expect(health.status).toBe(200);
    const started = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    await Promise.all(closed);
    expect(p.stderr()).toMatch(/"msg":"stopped"/);
  });
});

describe.each(['SIGTERM', 'SIGINT'] as const)('serve on %s under load', (signal) => {
  it('answers every request it took, exits 0, and has stored every report it answered 202', async () => {
    const { dataDir, token } = initialised();
    const p: ServeProcess = await spawnServe(dataDir);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const acked: string[] = [];
    const statusesSeen = new Set<number>();
    let signalled = false;

    const postOne = (n: number) =>
      new Promise<number>((resolve, reject) => {
        // a licence of its own each time: the licence rate limit is not under test here
        const report = makeReport({ license: `JCS-${signal}-${n}` });
        const req = http.request(
          `${p.url}/v1/reports`,
          {
            method: 'POST',
            agent,
            headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 202) acked.push(report.id);
              resolve(res.statusCode ?? 0);
            });
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(report));
      });

    let sent = 0;
    const worker = async () => {
      for (;;) {
        let status: number;
        try {
          status = await postOne(sent++);
        } catch {
          // refused or reset: the server has stopped taking requests
          return;
        }
        statusesSeen.add(status);
        if (!signalled && acked.length >= 40) {
          signalled = true;
          p.child.kill(signal);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    agent.destroy();

    expect(signalled).toBe(true);
    expect([...statusesSeen]).toEqual([202]);
    expect(await p.exited).toBe(0);
    const stored = storedIds(dataDir);
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
    expect(p.stderr()).toMatch(/"msg":"stopped"/);
    // and a new connection after exit is refused
    expect(await rawSocket(p.url, 'GET /v1/health HTTP/1.1\r\n\r\n')).toBe('');
  });
});

describe('serve given the same signal twice at once', () => {
  it('(Ctrl-C to npm start: the terminal and the supervisor both send it) still stops cleanly', async () => {
    const { dataDir } = initialised();
    for (const gapMs of [0, 3, 20]) {
      const p = await spawnServe(dataDir, ['--no-expiry']);
      p.child.kill('SIGINT');
      await new Promise((resolve) => setTimeout(resolve, gapMs));
      p.child.kill('SIGINT');
      // The second one killed it before: no "stopped", and the WAL left behind.
      expect(await p.exited).toBe(0);
      expect(p.stderr()).toMatch(/"msg":"stopped"/);
    }
  });
});

describe('serve given a second signal after the first second', () => {
  it('stops at once, killed by that signal, and its last log line says why', async () => {
    const { dataDir, token } = initialised();
    const p = await spawnServe(dataDir, ['--no-expiry']);
    // A body that never comes whole holds the stop for its 20 s cut-off.
    const c = rawConnection(p.url);
    c.socket.write(reportHead(token, 1000));
    await c.until('100 Continue');
    c.socket.write('{"schema":1');
    const signalled = new Promise<NodeJS.Signals | null>((resolve) =>
      p.child.once('exit', (_code, signal) => resolve(signal)),
    );
    p.child.kill('SIGTERM');
    await p.waitForLog(/stopping: finishing requests in flight/);
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    p.child.kill('SIGTERM');
    expect(await signalled).toBe('SIGTERM');
    const last = p.stderr().trimEnd().split('\n').pop()!;
    expect(JSON.parse(last)).toMatchObject({
      level: 40,
      signal: 'SIGTERM',
      msg: expect.stringMatching(
        /^stopping at once on a second signal: requests still in flight are cut off/,
      ),
    });
    c.socket.destroy();
  });
});

describe('serve whose log reader has gone (`serve 2>&1 | head`)', () => {
  it('keeps serving, then stops on SIGTERM and exits 0, every time', async () => {
    const { dataDir } = initialised();
    // The hang this guards against (an exit-time log flush retrying EPIPE forever) came in a
    // quarter to a half of the runs without requests: eight such runs miss it about once in ten.
    for (let run = 0; run < 10; run++) {
      const p = await spawnServe(dataDir, ['--no-expiry']);
      p.child.stderr!.destroy();
      // In two runs, requests write log lines into the closed pipe first; otherwise the
      // first write to meet the closed pipe is the stop's own (the case that hung).
      if (run % 5 === 4) {
        for (let i = 0; i < 3; i++) expect(await statusOf(`${p.url}/v1/health`)).toBe(200);
      } else {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      p.child.kill('SIGTERM');
      const code = await Promise.race([
        p.exited,
        new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 10_000)),
      ]);
      if (code !== 0) p.child.kill('SIGKILL');
      expect(code).toBe(0);
    }
  });
});

function statusOf(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}
