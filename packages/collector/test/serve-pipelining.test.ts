import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeTempDir } from '../../../test-support/collector';
import { runCollector, spawnServe } from './helpers/serve-process';
import { MAX_PIPELINED, type RunningServer } from '../src/server';
import { makeReport } from '../../../test-support/reports';
import { listenTestCollector } from './helpers/served';
import { groupPatch, rawRequest, rawSocket, reportPost, statuses } from './helpers/raw-http';

/**
 * HTTP pipelining: a connection may send requests without waiting for answers, and Node answers
 * all it has read before serving anyone else. Past MAX_PIPELINED at once, `serve` (listen())
 * answers those, refuses the next with a 429 and closes the connection.
 */

let server: RunningServer;
let stop: () => Promise<void>;
let s: Awaited<ReturnType<typeof listenTestCollector>>['s'];
beforeAll(async () => ({ server, stop, s } = await listenTestCollector()));
afterAll(() => stop());

/** Writes `count` pipelined health checks at once; resolves with what came back when it closes. */
function pipeline(
  count: number,
  close: boolean,
  token?: string,
  url = server.url,
): Promise<string> {
  const { port } = new URL(url);
  const auth = token === undefined ? '' : `Authorization: Bearer ${token}\r\n`;
  const one = `GET /v1/health HTTP/1.1\r\nHost: localhost\r\n${auth}\r\n`;
  const last = `GET /v1/health HTTP/1.1\r\nHost: localhost\r\n${auth}Connection: close\r\n\r\n`;
  return new Promise<string>((resolve) => {
    let received = '';
    const socket = net.connect(Number(port), '127.0.0.1', () => {
      socket.write(one.repeat(count - 1) + (close ? last : one));
    });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(received));
  });
}

// Answers follow each other's bodies directly: no line start to anchor on.
const answered = (raw: string) => (raw.match(/HTTP\/1\.1 200 /g) ?? []).length;

it('a few requests pipelined at once are all answered', async () => {
  expect(answered(await pipeline(10, true))).toBe(10);
});

it('thousands at once: the first MAX_PIPELINED answered, then a 429 and the close; others served', async () => {
  const flood = pipeline(20_000, false);
  const raw = await flood;
  expect(answered(raw)).toBe(MAX_PIPELINED);
  // The one answer after them says why the rest went unanswered, and the connection ends there.
  const after = raw.slice(raw.lastIndexOf('HTTP/1.1 200 '));
  const refusal = after.slice(after.indexOf('HTTP/1.1 429 '));
  expect(refusal).toMatch(/^HTTP\/1\.1 429 /);
  expect(refusal).toMatch(/\r\nRetry-After: 1\r\n/i);
  expect(refusal).toMatch(/\r\nConnection: close\r\n/i);
  expect(JSON.parse(refusal.slice(refusal.indexOf('\r\n\r\n') + 4)).error.code).toBe(
    'rate_limited',
  );
  const health = await fetch(`${server.url}/v1/health`);
  expect(await health.json()).toEqual({ status: 'ok' });
});

it('a report pipelined among too many is answered, not stored in silence', async () => {
  // Closing at once left it stored (and counted) but unanswered.
  const { port } = new URL(server.url);
  const report = makeReport();
  const one = 'GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n';
  const raw = await new Promise<string>((resolve) => {
    let received = '';
    const socket = net.connect(Number(port), '127.0.0.1', () =>
      socket.write(reportPost(s.tokens.ingest, report) + one.repeat(MAX_PIPELINED)),
    );
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(received));
  });
  expect(raw).toMatch(/^HTTP\/1\.1 202 /);
  expect(raw).toContain(`"id":"${report.id}"`);
  expect(answered(raw)).toBe(MAX_PIPELINED - 1);
  expect(raw).toContain('HTTP/1.1 429 ');
});

it("an engineer's requests past the limit are in the access log too, refused", async () => {
  const count = () =>
    s.collector.db
      .prepare("SELECT outcome, COUNT(*) AS n FROM audit WHERE actor = 'alice' GROUP BY outcome")
      .all();
  const before = count();
  expect(before).toEqual([]);
  const raw = await pipeline(MAX_PIPELINED + 6, false, s.tokens.engineer);
  expect(answered(raw)).toBe(MAX_PIPELINED);
  expect(raw).toContain('HTTP/1.1 429 ');
  // The entries are written in batches, the last ones maybe after the connection closed.
  const total = () => (count() as { n: number }[]).reduce((sum, r) => sum + r.n, 0);
  for (let i = 0; i < 100 && total() < MAX_PIPELINED + 6; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 50));
  const rows = count();
  expect(rows).toEqual([
    { outcome: 'ok', n: MAX_PIPELINED },
    { outcome: 'rate_limited', n: 6 },
  ]);
});

it('jcs-collector serve writes those refusals to the access log too', async () => {
  const dataDir = path.join(makeTempDir(), 'data');
  expect(runCollector(['init', '--data-dir', dataDir]).status).toBe(0);
  const made = runCollector([
    'token',
    'create',
    '--name',
    'bob',
    '--role',
    'engineer',
    '--data-dir',
    dataDir,
  ]);
  const p = await spawnServe(dataDir);
  try {
    const raw = await pipeline(MAX_PIPELINED + 3, false, made.stdout.trim(), p.url);
    expect(answered(raw)).toBe(MAX_PIPELINED);
  } finally {
    p.child.kill('SIGTERM');
  }
  expect(await p.exited).toBe(0);
  const db = new Database(path.join(dataDir, 'collector.db'), { readonly: true });
  const rows = db
    .prepare("SELECT outcome, COUNT(*) AS n FROM audit WHERE actor = 'bob' GROUP BY outcome")
    .all();
  db.close();
  expect(rows).toEqual([
    { outcome: 'ok', n: MAX_PIPELINED },
    { outcome: 'rate_limited', n: 3 },
  ]);
}, 60_000);

/** Writes `text` and closes the sending side at once; resolves with what came back. */
function halfClosed(text: string): Promise<string> {
  const { port } = new URL(server.url);
  return new Promise<string>((resolve) => {
    let received = '';
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(text));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(received));
  });
}

describe('a client that closes its sending side after the request still gets the answer', () => {
  it('a report: 202 once committed, and a retry the same way 200', async () => {
    const report = makeReport();
    expect(await halfClosed(reportPost(s.tokens.ingest, report))).toMatch(/^HTTP\/1\.1 202 /);
    expect(await halfClosed(reportPost(s.tokens.ingest, report))).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('a triage change: the group it answers, then the connection closes', async () => {
    const report = makeReport({ error: { number: 77, module: 'modHalf', procedure: 'Closed' } });
    expect(await halfClosed(reportPost(s.tokens.ingest, report))).toMatch(/^HTTP\/1\.1 202 /);
    const { group } = JSON.parse(
      (await halfClosed(reportPost(s.tokens.ingest, report))).split('\r\n\r\n')[1],
    ) as { group: string };
    const answer = await halfClosed(groupPatch(s.tokens.engineer, group, { status: 'ignored' }));
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('"status":"ignored"');
  });

  it('pipelined requests before the close are all answered', async () => {
    const report = makeReport();
    const two = reportPost(s.tokens.ingest, makeReport()) + reportPost(s.tokens.ingest, report);
    const raw = await halfClosed(two);
    expect(raw.match(/HTTP\/1\.1 202 /g)).toHaveLength(2);
  });
});

describe('whole requests ahead of bytes that are not a request', () => {
  // A client whose Content-Length is one byte short sends a whole request, then a stray byte.
  // Those requests take effect, so they are answered, in order, and the refusal follows them.
  const engineer = () => ({ Authorization: `Bearer ${s.tokens.engineer}` });
  const send = (bytes: string) => rawSocket(server.url, bytes);
  const readBack = async (id: string) =>
    (
      await rawRequest(server.url, {
        method: 'GET',
        path: `/v1/reports/${id}`,
        headers: engineer(),
      })
    ).status;
  const lastBody = (raw: string) => JSON.parse(raw.slice(raw.lastIndexOf('\r\n\r\n') + 4));

  it('a report then a stray byte: its 202, then the 400, and the report is stored', async () => {
    const report = makeReport();
    const raw = await send(reportPost(s.tokens.ingest, report) + ' ');
    expect(statuses(raw)).toEqual([202, 400]);
    expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toMatch(
      new RegExp(`^\\{"id":"${report.id}","group":"[0-9a-z]+"\\}`),
    );
    expect(lastBody(raw).error.code).toBe('invalid_request');
    expect(raw).toMatch(/HTTP\/1\.1 400 [^]*\r\nConnection: close\r\n/);
    expect(await readBack(report.id)).toBe(200);
  });

  it('two reports pipelined then garbage: both answered and stored, then the 400', async () => {
    const [a, b] = [makeReport(), makeReport()];
    const raw = await send(
      reportPost(s.tokens.ingest, a) + reportPost(s.tokens.ingest, b) + 'NOT HTTP\r\n\r\n',
    );
    expect(statuses(raw)).toEqual([202, 202, 400]);
    expect(await readBack(a.id)).toBe(200);
    expect(await readBack(b.id)).toBe(200);
  });

  it('a triage change then a stray byte: the group it answers, then the 400', async () => {
    const report = makeReport({ error: { number: 78, module: 'modStray', procedure: 'Byte' } });
    const posted = await send(reportPost(s.tokens.ingest, report, 'Connection: close'));
    const { group } = lastBody(posted) as { group: string };
    const raw = await send(groupPatch(s.tokens.engineer, group, { status: 'ignored' }) + ' ');
    expect(statuses(raw)).toEqual([200, 400]);
    expect(raw).toContain('"status":"ignored"');
    const now = await rawRequest(server.url, {
      method: 'GET',
      path: `/v1/groups/${group}`,
      headers: engineer(),
    });
    expect(now.json.status).toBe('ignored');
  });
});

it('a request asking to upgrade is answered, then the connection closes: Node reads no more of it', async () => {
  // Before, the answer kept the connection open and the request pipelined behind it was never
  // read, answered nor stored: the client waited for the idle timeout.
  const [a, b] = [makeReport(), makeReport()];
  const upgrade = reportPost(s.tokens.ingest, a, 'Connection: Upgrade', 'Upgrade: websocket');
  const raw = await rawSocket(server.url, upgrade + reportPost(s.tokens.ingest, b), {
    waitMs: 20_000,
  });
  expect(statuses(raw)).toEqual([202]);
  expect(raw).toMatch(/\r\nConnection: close\r\n/i);
  // An Upgrade header without `Connection: upgrade` does not stop Node's parser: both answered,
  // the connection kept (closing it lost the second's answer, its report stored).
  const [c, d] = [makeReport(), makeReport()];
  const bare = await rawSocket(
    server.url,
    reportPost(s.tokens.ingest, c, 'Upgrade: h2c') +
      reportPost(s.tokens.ingest, d, 'Connection: close'),
    { waitMs: 20_000 },
  );
  expect(statuses(bare)).toEqual([202, 202]);
  // The second, unanswered, goes again on a new connection, as a client does.
  expect(
    statuses(await rawSocket(server.url, reportPost(s.tokens.ingest, b, 'Connection: close'))),
  ).toEqual([202]);
});

it('a whole request, then one whose body fails to parse: the first answered, the second refused, the connection closed', async () => {
  // The refusal waited for every queued answer, the second's too, whose handler waited for a
  // body that could never come: the connection stayed open, the second never answered.
  const raw = await rawSocket(
    server.url,
    `GET /v1/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.tokens.engineer}\r\n\r\n` +
      [
        'PATCH /v1/groups/000000000000 HTTP/1.1',
        'Host: x',
        `Authorization: Bearer ${s.tokens.engineer}`,
        'Content-Type: application/json',
        'Transfer-Encoding: chunked',
        '',
        'zz',
        '',
      ].join('\r\n'),
    { waitMs: 20_000 },
  );
  expect(statuses(raw)).toEqual([200, 400]);
  expect(raw.slice(raw.lastIndexOf('\r\n\r\n') + 4)).toContain('HPE_INVALID_CHUNK_SIZE');
});
