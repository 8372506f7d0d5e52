import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createReporter, type Diagnostic, type Reporter } from '../src';
import {
  cleanupTempDirs,
  optionsFor,
  pendingFiles,
  queuedReports,
  readAllFiles,
  tempDir,
} from './helpers/fixtures';
import { startTestServer, waitFor, type TestServer } from './helpers/test-server';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: TestServer;
const open: Reporter[] = [];

function reporterFor(
  diagnostics: Diagnostic[],
  overrides = {},
  target: Pick<TestServer, 'url' | 'token' | 'publicKey'> = server,
) {
  const r = createReporter(optionsFor(target, diagnostics, overrides));
  open.push(r);
  return r;
}

async function deadEndpoint(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/`;
}

beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  for (const r of open.splice(0)) await r.close(0);
  await server.close();
});
afterAll(cleanupTempDirs);

const input = (description = 'Object variable not set') => ({
  number: 91,
  description,
  module: 'modClients',
  procedure: 'LoadClient',
  line: 120,
});

describe('store first, then deliver', () => {
  it('returns the id at once, with the sealed report already on disk', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir, dumpConsent: true });
    const id = r.report({ ...input(), data: { client: 'CANARY-7f3a' } });
    // Synchronously after report(): no await has happened yet.
    expect(id).toMatch(UUID);
    const files = pendingFiles(queueDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toContain(id);
    const [stored] = queuedReports(queueDir);
    expect(stored.dump!.alg).toBe('x25519-xsalsa20-poly1305');
    expect(JSON.stringify(stored)).not.toContain('CANARY-7f3a');

    expect(await r.flush(2000)).toBe(true);
    expect(server.stored.get(id)!.username).toBe('asmith');
    expect(server.openDump(server.stored.get(id)!)).toEqual({ client: 'CANARY-7f3a' });
    expect(pendingFiles(queueDir)).toEqual([]);
    expect(diagnostics).toEqual([]);
  });

  it('sends reports an earlier run queued, at start, exactly once', async () => {
    const queueDir = tempDir();
    const down = { ...server, url: await deadEndpoint() };
    const first = reporterFor([], { queueDir }, down);
    const ids = [first.report(input('a')), first.report(input('b')), first.report(input('c'))];
    expect(await first.flush(200)).toBe(false);
    await first.close(0);
    // a request may still be in flight when close(0) returns; it goes back to pending/ when it fails
    await waitFor(() => pendingFiles(queueDir).length === 3);

    reporterFor([], { queueDir }); // no report() call: start-up alone sends the queue
    await waitFor(() => server.stored.size === 3);
    expect([...server.stored.keys()].sort()).toEqual([...ids].sort());
    await waitFor(() => pendingFiles(queueDir).length === 0);
    expect(server.received).toHaveLength(3);
  });

  it('deletes a report the collector refuses for good (400), with a diagnostic', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir });
    const details = [
      { path: '/error/line', message: 'must be an integer' },
      { path: '/license', message: 'is required' },
      { path: 'not a pointer <b>', message: 'a proxy inventing things' },
      // a pointer's form, but no field of the report: a server's own text
      { path: '/Jane_Smith_4711', message: 'a server inventing things' },
    ];
    server.script({
      status: 400,
      body: { error: { code: 'invalid_report', message: 'm', details } },
    });
    const id = r.report(input());
    // deleted, not delivered: flush says so
    expect(await r.flush(2000)).toBe(false);
    expect(server.received).toHaveLength(1);
    expect(pendingFiles(queueDir)).toEqual([]);
    expect(diagnostics).toEqual([
      expect.objectContaining({ code: 'rejected', status: 400, reportId: id }),
    ]);
    // the report's field pointers say why; anything else is left out
    expect(diagnostics[0].message).toContain('(HTTP 400 invalid_report: /error/line, /license)');
  });

  it.each([404, 405])(
    'keeps the report on %i (no report route: a wrong endpoint) and sends it again',
    async (status) => {
      const diagnostics: Diagnostic[] = [];
      const r = reporterFor(diagnostics, { retry: { minDelayMs: 10, maxDelayMs: 50 } });
      server.script({ status, body: '<html>Not Found</html>' });
      const id = r.report(input());
      expect(await r.flush(3000)).toBe(true);
      expect(server.received).toHaveLength(2);
      expect(server.stored.has(id)).toBe(true);
      expect(diagnostics).toEqual([expect.objectContaining({ code: 'send_failed', status })]);
      expect(diagnostics[0].message).toContain('check endpoint');
    },
  );

  it.each([401, 403, 415, 422])('deletes on %i too', async (status) => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics);
    server.script({ status });
    r.report(input());
    expect(await r.flush(2000)).toBe(false);
    expect(server.received).toHaveLength(1);
    expect(diagnostics.map((d) => d.code)).toEqual(['rejected']);
  });

  it('sends again without the dump after a 413, never losing the report', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir, dumpConsent: true });
    server.script({ status: 413 });
    const id = r.report({ ...input(), data: { big: 'x'.repeat(1000) } });
    expect(await r.flush(2000)).toBe(true);
    expect(server.received).toHaveLength(2);
    expect(server.received[0].report!.dump).toBeDefined();
    const resent = server.stored.get(id)!;
    expect(resent.dump).toBeUndefined();
    expect(resent.dumpWithheld).toBe('too-large');
    expect(diagnostics.map((d) => d.code)).toEqual(['too_large']);
  });

  it.each([429, 503])('waits for Retry-After on %i', async (status) => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { retry: { minDelayMs: 10, maxDelayMs: 60_000 } });
    server.script({ status, headers: { 'retry-after': '1' } });
    const id = r.report(input());
    expect(await r.flush(4000)).toBe(true);
    expect(server.received).toHaveLength(2);
    const waited = server.received[1].at - server.received[0].at;
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(server.stored.has(id)).toBe(true);
    expect(diagnostics).toEqual([
      expect.objectContaining({ code: 'collector_busy', status, retryInMs: 1000 }),
    ]);
  });

  it('waits out a Retry-After on its own clock when the wall clock is set back meanwhile', async () => {
    const realNow = Date.now;
    let offset = 0;
    const spy = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + offset);
    try {
      const diagnostics: Diagnostic[] = [];
      const r = reporterFor(diagnostics, { retry: { minDelayMs: 10, maxDelayMs: 60_000 } });
      server.script({ status: 503, headers: { 'retry-after': '1' } });
      const id = r.report(input());
      await waitFor(() => diagnostics.some((d) => d.code === 'collector_busy'), 5000);
      // The host's clock set back a day (a dead CMOS battery corrected, a VM restored): on the
      // wall clock the pause would end a day late.
      offset = -86_400_000;
      expect(await r.flush(4000)).toBe(true);
      expect(server.stored.has(id)).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('keeps a Retry-After for the next process on the same queue dir, cleared once delivered', async () => {
    const queueDir = tempDir();
    const first = reporterFor([], { queueDir, retry: { minDelayMs: 10, maxDelayMs: 3_600_000 } });
    server.script({ status: 503, headers: { 'retry-after': '30' } });
    const id = first.report(input());
    await waitFor(() => server.received.length === 1, 5000);
    await first.close(0);
    // A new process (an app restarted, a jcs-report per error) waits too, rather than asking at once.
    const second = reporterFor([], { queueDir, retry: { minDelayMs: 10, maxDelayMs: 3_600_000 } });
    expect(await second.flush(300)).toBe(false);
    expect(server.received).toHaveLength(1);
    await second.close(0);
    // Once the wait is over (here: its file says so), the report goes, and the wait is cleared.
    fs.writeFileSync(path.join(queueDir, 'retry-after'), String(Date.now() - 1));
    const third = reporterFor([], { queueDir });
    expect(await third.flush(3000)).toBe(true);
    expect(server.stored.has(id)).toBe(true);
    expect(fs.existsSync(path.join(queueDir, 'retry-after'))).toBe(false);
  });

  it('honours a Retry-After another running reporter on the same queue dir was given', async () => {
    // The app opened twice: both share the queue dir, and one is told to wait 30 s.
    const queueDir = tempDir();
    const retry = { minDelayMs: 10, maxDelayMs: 3_600_000 };
    const a = reporterFor([], { queueDir, retry });
    const b = reporterFor([], { queueDir, retry });
    expect(await b.flush(1000)).toBe(true);
    server.script({ status: 503, headers: { 'retry-after': '30' } });
    a.report(input('told to wait'));
    await waitFor(() => server.received.length === 1, 5000);
    await waitFor(() => fs.existsSync(path.join(queueDir, 'retry-after')), 5000);
    // The other instance, already running, neither sends its own new report nor the waiting one.
    b.report(input('sent by the other'));
    expect(await b.flush(500)).toBe(false);
    expect(server.received).toHaveLength(1);
    // Once the wait is over (here: its file says so), both go.
    fs.writeFileSync(path.join(queueDir, 'retry-after'), String(Date.now() - 1));
    await a.close(0);
    const c = reporterFor([], { queueDir });
    expect(await c.flush(3000)).toBe(true);
    expect(server.stored.size).toBe(2);
  });

  it('ignores, and clears, a kept wait further off than any Retry-After (the clock was set back)', async () => {
    const queueDir = tempDir();
    // written when the clock was two days ahead
    fs.writeFileSync(path.join(queueDir, 'retry-after'), String(Date.now() + 2 * 86_400_000));
    const r = reporterFor([], { queueDir, retry: { minDelayMs: 10, maxDelayMs: 3_600_000 } });
    const id = r.report(input());
    expect(await r.flush(3000)).toBe(true);
    expect(server.stored.has(id)).toBe(true);
    expect(fs.existsSync(path.join(queueDir, 'retry-after'))).toBe(false);
    await r.close(0);
  });

  it.each(['0', 'Thu, 01 Jan 1970 00:00:00 GMT'])(
    'waits at least retry.minDelayMs when Retry-After is %s: no tight loop',
    async (retryAfter) => {
      const diagnostics: Diagnostic[] = [];
      const r = reporterFor(diagnostics, { retry: { minDelayMs: 1000, maxDelayMs: 60_000 } });
      server.always({ status: 429, headers: { 'retry-after': retryAfter } });
      r.report(input());
      expect(await r.flush(1500)).toBe(false);
      // the first try, and at most one more after the 1 s floor (without it: hundreds)
      expect(server.received.length).toBeGreaterThanOrEqual(1);
      expect(server.received.length).toBeLessThanOrEqual(2);
      for (const d of diagnostics)
        expect(d).toMatchObject({ code: 'collector_busy', retryInMs: 1000 });
    },
  );

  it('flush() cuts a back-off short, but asks a failing collector no more than once per minDelayMs', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { retry: { minDelayMs: 400, maxDelayMs: 60_000 } });
    server.always({ status: 500 });
    r.report(input());
    const started = Date.now();
    // A host that flushes after every error dialog: 20 short flushes back to back.
    for (let i = 0; i < 20; i++) expect(await r.flush(60)).toBe(false);
    const elapsed = Date.now() - started;
    // Without the floor, each flush asked again: 20 requests. With it, one per 400 ms at most
    // (the back-off itself, 400 ms then 800 then 1600..., is cut short to 400 ms by each flush).
    expect(server.received.length).toBeGreaterThanOrEqual(2);
    expect(server.received.length).toBeLessThanOrEqual(1 + Math.ceil(elapsed / 400));
    // And one flush long enough to outlast minDelayMs does try again, not wait out the back-off.
    const before = server.received.length;
    expect(await r.flush(700)).toBe(false);
    // (A try the last short flush scheduled may land here too: one or two, not the back-off's
    // zero, which has grown past 6 s by now.)
    expect(server.received.length).toBeGreaterThan(before);
    expect(server.received.length).toBeLessThanOrEqual(before + 2);
  });

  it('a long flush() keeps its tries before its deadline, the back-off still growing', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { retry: { minDelayMs: 100, maxDelayMs: 60_000 } });
    // Five failures: the back-off alone would wait about 100, 200, 400, 800 and 1,600 ms (3.1 s),
    // the last try past a 2.5 s flush's deadline.
    server.script('destroy', { status: 500 }, 'destroy', { status: 502 }, 'destroy');
    const id = r.report(input());
    const started = Date.now();
    expect(await r.flush(2500)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(server.stored.has(id)).toBe(true);
    const waits = diagnostics.filter((d) => d.code === 'send_failed').map((d) => d.retryInMs!);
    expect(waits).toHaveLength(5);
    // growing while the deadline is far (jitter takes at most a quarter off)...
    expect(waits[1]).toBeGreaterThan(waits[0]);
    expect(waits[2]).toBeGreaterThan(waits[1]);
    // ...then cut to half the time left (the fifth would be 1,200 ms or more), never under minDelayMs
    expect(waits[4]).toBeLessThan(1200);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(100);
  });

  it('backs off after 5xx and network errors, then delivers', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { retry: { minDelayMs: 50, maxDelayMs: 1000 } });
    server.script({ status: 500 }, 'destroy', { status: 502 });
    const id = r.report(input());
    // No flush: one waiting would cut every pause to minDelayMs (the test above).
    await waitFor(() => server.stored.has(id), 5000);
    expect(server.received).toHaveLength(4);
    expect(server.stored.has(id)).toBe(true);
    expect(diagnostics.map((d) => d.code)).toEqual(['send_failed', 'send_failed', 'send_failed']);
    const gaps = [1, 2, 3].map((i) => server.received[i].at - server.received[i - 1].at);
    expect(gaps[0]).toBeGreaterThanOrEqual(30); // ~50 ms less jitter
    expect(gaps[2]).toBeGreaterThanOrEqual(140); // ~200 ms less jitter
  });

  it.each([
    ['memory', false],
    ['disk', true],
  ])(
    'one report the collector keeps failing does not hold up the others (%s queue)',
    async (_name, onDisk) => {
      const attempts: string[] = [];
      const r = reporterFor([], {
        ...(onDisk ? { queueDir: tempDir() } : {}),
        retry: { minDelayMs: 10, maxDelayMs: 20 },
        transport: () => ({
          send: (report: { error: { description: string } }) => {
            attempts.push(report.error.description);
            return Promise.resolve(
              report.error.description === 'poison'
                ? { kind: 'failed' as const, status: 500, reason: 'HTTP 500' }
                : { kind: 'delivered' as const, status: 202 },
            );
          },
        }),
      });
      r.report(input('poison'));
      for (let i = 0; i < 5; i++) r.report(input(`b${i}`));
      // The poison report stays queued (a 500 is not a refusal), so flush says false.
      expect(await r.flush(1000)).toBe(false);
      const delivered = attempts.filter((d) => d !== 'poison');
      expect(new Set(delivered)).toEqual(new Set(['b0', 'b1', 'b2', 'b3', 'b4']));
      expect(attempts.filter((d) => d === 'poison').length).toBeGreaterThan(1);
    },
  );

  it('flush resolves false at its deadline while the collector hangs, true when it answers', async () => {
    const r = reporterFor([], { requestTimeoutMs: 5000 });
    server.script('hang');
    r.report(input());
    const start = Date.now();
    expect(await r.flush(200)).toBe(false);
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it('keeps the queue bounded while the collector is down, dropping the oldest', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const down = { ...server, url: await deadEndpoint() };
    const r = reporterFor(diagnostics, { queueDir, maxQueueReports: 3 }, down);
    const ids = Array.from({ length: 5 }, (_, i) => r.report(input(`n${i}`)));
    expect(pendingFiles(queueDir).length).toBeLessThanOrEqual(3);
    const dropped = diagnostics.filter((d) => d.code === 'queue_overflow').map((d) => d.reportId);
    expect(dropped).toEqual(ids.slice(0, 2));
  });

  it('keeps every report when the queue is full of dumps, sending the oldest without theirs', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const down = { ...server, url: await deadEndpoint() };
    // Some 40 KB of sealed dump a report: three fit, the fourth and fifth need room.
    const options = { queueDir, dumpConsent: true, maxQueueBytes: 130_000 };
    const r = reporterFor(diagnostics, options, down);
    const ids = Array.from({ length: 5 }, (_, i) =>
      r.report({
        ...input(),
        number: 1000 + i,
        data: { notes: randomBytes(15_000).toString('hex') },
      }),
    );
    const codes = diagnostics.map((d) => d.code);
    expect(codes).not.toContain('queue_overflow');
    const shed = diagnostics.filter((d) => d.code === 'dump_withheld').map((d) => d.reportId);
    expect(shed).toEqual(ids.slice(0, 2));
    await r.close(0);

    const next = reporterFor([], { queueDir, dumpConsent: true });
    expect(await next.flush(5000)).toBe(true);
    const stored = ids.map((id) => server.stored.get(id));
    expect(stored.map((s) => s?.dumpWithheld ?? (s?.dump ? 'dump' : 'none'))).toEqual([
      'too-large',
      'too-large',
      'dump',
      'dump',
      'dump',
    ]);
  });

  it('keeps queuing on disk when the queue dir is removed while it runs', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const down = { ...server, url: await deadEndpoint() };
    const r = reporterFor(diagnostics, { queueDir }, down);
    fs.rmSync(queueDir, { recursive: true });
    const id = r.report(input());
    expect(diagnostics.map((d) => d.code)).not.toContain('queue_write_failed');
    expect(pendingFiles(queueDir).map((f) => f.includes(id))).toEqual([true]);
    await r.close(0);
    // The next run sends it.
    const next = reporterFor([], { queueDir });
    expect(await next.flush(2000)).toBe(true);
    expect(server.stored.has(id)).toBe(true);
    await next.close(0);
  });

  it('falls back to memory when the queue dir breaks, and when it cannot be made', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir });
    // Pull the directory from under it: a file where pending/ was.
    fs.rmSync(path.join(queueDir, 'pending'), { recursive: true });
    fs.writeFileSync(path.join(queueDir, 'pending'), 'not a dir');
    const id = r.report(input());
    expect(diagnostics.map((d) => d.code)).toContain('queue_write_failed');
    expect(await r.flush(2000)).toBe(true);
    expect(server.stored.has(id)).toBe(true);

    const file = path.join(tempDir(), 'file');
    fs.writeFileSync(file, 'x');
    const d2: Diagnostic[] = [];
    const r2 = reporterFor(d2, { queueDir: path.join(file, 'q') });
    expect(d2.map((d) => d.code)).toEqual(['queue_unavailable']);
    const id2 = r2.report(input());
    expect(await r2.flush(2000)).toBe(true);
    expect(server.stored.has(id2)).toBe(true);

    // A parent that exists but refuses new entries: Node's own recursive mkdir spins there for
    // ever (it would hang createReporter, and the host with it).
    if (fs.existsSync('/proc/self')) {
      const d3: Diagnostic[] = [];
      const r3 = reporterFor(d3, { queueDir: '/proc/nonexistent/queue' });
      expect(d3.map((d) => d.code)).toEqual(['queue_unavailable']);
      const id3 = r3.report(input());
      expect(await r3.flush(2000)).toBe(true);
      expect(server.stored.has(id3)).toBe(true);
    }
  });

  it('after close, stores to disk for the next run but sends nothing', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir });
    expect(await r.close(1000)).toBe(true);
    const id = r.report(input());
    expect(pendingFiles(queueDir)).toHaveLength(1);
    await new Promise((res) => setTimeout(res, 50));
    expect(server.received).toHaveLength(0);
    expect(diagnostics).toEqual([expect.objectContaining({ code: 'closed', reportId: id })]);
    // flush() after close answers without waiting out its timeout, as close() does: nothing
    // more will go this run. (Twenty seconds against two: no measure of speed.)
    const waited = new Promise((res) => setTimeout(() => res('still waiting'), 2000).unref());
    expect(await Promise.race([r.flush(20_000), waited])).toBe(false);
    expect(await Promise.race([r.close(20_000), waited])).toBe(false);
    expect(server.received).toHaveLength(0);
  });
});

describe('flood control', () => {
  it('10,000 identical errors: the collector counts 10,000, from a dozen requests', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { queueDir });
    for (let i = 0; i < 10_000; i++) r.report(input());
    expect(pendingFiles(queueDir).length).toBeLessThanOrEqual(10);
    expect(await r.flush(5000)).toBe(true);
    const counts = [...server.counts().values()];
    expect(counts).toEqual([10_000]);
    expect(server.received.length).toBeLessThanOrEqual(12);
    expect(diagnostics.filter((d) => d.code === 'rate_limited')).toHaveLength(1);
  });

  it('answers every held-back occurrence with the id of the report that carries it', async () => {
    // The error dialog quotes the id report() returns: support must find it on the collector.
    const r = reporterFor([], { floodControl: { maxPerGroup: 2, windowMs: 60_000 } });
    const ids = Array.from({ length: 50 }, () => r.report(input()));
    expect(await r.flush(5000)).toBe(true);
    expect(ids.filter((id) => !server.stored.has(id))).toEqual([]);
    // Two sent as themselves, one carrier for the other 48 (1 + 47 repeats).
    expect(new Set(ids).size).toBe(3);
    expect([...server.stored.values()].map((rep) => rep.repeats ?? 0).sort()).toEqual([0, 0, 47]);
  });

  it('a host that flushes after every report in a loop still sends only a few reports', async () => {
    const r = reporterFor([], { floodControl: { maxPerGroup: 3, windowMs: 60_000 } });
    const answers: boolean[] = [];
    for (let i = 0; i < 200; i++) {
      r.report(input());
      answers.push(await r.flush(2000));
    }
    // 3 as themselves, 3 flushed carriers; the other 194 wait for the window's end, or close(),
    // and the flushes that leave them held back say so.
    expect(server.received.length).toBe(6);
    expect(answers.slice(0, 6)).toEqual(Array(6).fill(true));
    expect(new Set(answers.slice(6))).toEqual(new Set([false]));
    expect(await r.close(2000)).toBe(true);
    expect(server.received.length).toBe(7);
    expect([...server.counts().values()]).toEqual([200]);
  });

  it('a host that calls flush() until it says true waits for the window to end, not spins', async () => {
    const windowMs = 3000;
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { floodControl: { maxPerGroup: 3, windowMs } });
    const start = Date.now();
    for (let i = 0; i < 20; i++) {
      r.report(input());
      await r.flush(1000);
    }
    // The loop below starts with the group held back for its window's end, as the last flush said.
    const last = diagnostics[diagnostics.length - 1];
    expect(last?.code).toBe('flood_held');
    // The host's own timer must keep running while it waits on flush().
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    let calls = 0;
    let delivered = false;
    try {
      while (!delivered && Date.now() - start < 10_000) {
        calls++;
        delivered = await r.flush(windowMs);
      }
    } finally {
      clearInterval(timer);
    }
    expect(delivered).toBe(true);
    // Each repeated flush waits for the window's end or its deadline: one or two calls, not
    // the millions of a flush that answers false at once.
    expect(calls).toBeLessThanOrEqual(3);
    expect(ticks).toBeGreaterThan(5);
    expect([...server.counts().values()]).toEqual([20]);
  });

  it('a repeated flush() still answers false at its deadline when the window ends later', async () => {
    const r = reporterFor([], { floodControl: { maxPerGroup: 1, windowMs: 60_000 } });
    for (let i = 0; i < 5; i++) {
      r.report(input());
      await r.flush(1000);
    }
    const start = Date.now();
    expect(await r.flush(300)).toBe(false);
    expect(Date.now() - start).toBeGreaterThanOrEqual(250);
    // A report in between: the next flush answers at once again.
    r.report(input());
    const again = Date.now();
    expect(await r.flush(5000)).toBe(false);
    expect(Date.now() - again).toBeLessThan(2000);
    expect(await r.close(2000)).toBe(true);
    expect([...server.counts().values()]).toEqual([6]);
  });

  it('a group beforeSend drops holds nothing back for later: flush answers for what is queued', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, {
      floodControl: { maxPerGroup: 3, windowMs: 60_000 },
      beforeSend: () => null,
    });
    const answers: boolean[] = [];
    for (let i = 0; i < 20; i++) {
      r.report(input());
      answers.push(await r.flush(500));
    }
    expect(server.received).toHaveLength(0);
    expect(diagnostics.filter((d) => d.code === 'flood_held')).toEqual([]);
    // dropped on purpose is not "undelivered": every flush after the first drops says true
    expect(answers.every((a) => a)).toBe(true);
  });

  it('sends held-back repeats when the window ends, without a flush', async () => {
    // a window long enough that the 16 reports below surely fall in one, even on a busy machine
    const r = reporterFor([], { floodControl: { maxPerGroup: 2, windowMs: 500 } });
    for (let i = 0; i < 15; i++) r.report(input());
    r.report({ ...input(), procedure: 'Other' });
    await waitFor(() => [...server.counts().values()].reduce((a, b) => a + b, 0) === 16, 3000);
    expect(server.received.length).toBe(4);
  });
});

describe('beforeSend and username', () => {
  it('may edit the report, drop it, or fail, each dropped one with a diagnostic', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, {
      beforeSend: (report: any) => {
        if (report.error.description === 'drop') return null;
        if (report.error.description === 'throw') {
          // a host's error whose code is its own data: not repeated in the diagnostic
          throw Object.assign(new Error('hook failed'), { code: 'CLIENT-QQ123456C' });
        }
        if (report.error.description === 'invalid') {
          // A name that may be a value put where a name goes is never shown (anna@...).
          return { ...report, extra: 1, error: { ...report.error, 'anna@example.com': 1 } };
        }
        if (report.error.description === 'string') return 'not a report';
        if (report.error.description === 'proxy') {
          return new Proxy(report, {
            get() {
              throw new Error('px');
            },
          });
        }
        if (report.error.description === 'getter') {
          return Object.defineProperty({ ...report }, 'error', {
            enumerable: true,
            get() {
              throw new Error('no error here');
            },
          });
        }
        const { username: _u, ...rest } = report;
        return { ...rest, error: { ...report.error, description: 'scrubbed' } };
      },
    });
    const kept = r.report(input('keep'));
    const ids = ['drop', 'throw', 'invalid', 'getter', 'string', 'proxy'].map((d) =>
      r.report(input(d)),
    );
    // Not everything was delivered: the hook failed on five (its null on 'drop' is its choice).
    expect(await r.flush(2000)).toBe(false);
    expect(server.stored.size).toBe(1);
    expect(server.stored.get(kept)).toMatchObject({ error: { description: 'scrubbed' } });
    expect(server.stored.get(kept)!.username).toBeUndefined();
    expect(diagnostics.map((d) => [d.code, d.reportId])).toEqual([
      ['before_send_dropped', ids[0]],
      ['before_send_failed', ids[1]],
      ['before_send_failed', ids[2]],
      // What it returned threw when read: the hook's failure, not an internal error of the SDK.
      ['before_send_failed', ids[3]],
      ['before_send_failed', ids[4]],
      // A Proxy whose every read throws is not a promise: a report that could not be read.
      ['before_send_failed', ids[5]],
    ]);
    expect(diagnostics[1].message).toBe('beforeSend threw (Error); the report was dropped');
    expect(diagnostics[2].message).toContain('/extra');
    expect(diagnostics[2].message).not.toContain('anna@example.com');
    expect(diagnostics[2].message).toContain('/error/… is not a field');
    expect(diagnostics[3].message).toContain('could not be read (Error)');
    expect(diagnostics[4].message).toContain('(the report must be');
    expect(diagnostics[5].message).toBe(
      'beforeSend returned a report that could not be read (Error); it was dropped',
    );
  });

  it('checks and sends the report as JSON writes it when the hook returns, whatever the object does later', async () => {
    const diagnostics: Diagnostic[] = [];
    let returned: any;
    const r = reporterFor(diagnostics, {
      beforeSend: (report: any) => {
        if (report.error.description === 'toJSON') {
          // a class whose toJSON adds a field the privacy policy does not have
          return Object.assign(
            {
              toJSON() {
                const { toJSON: _t, ...plain } = this as any;
                return { ...plain, ssn: 'AB123456C' };
              },
            },
            report,
          );
        }
        returned = { ...report };
        return returned;
      },
    });
    const tricked = r.report(input('toJSON'));
    const kept = r.report(input('later'));
    // the host changes the object it returned, after the hook
    returned.error = { ...returned.error, description: 'changed afterwards' };
    returned.extra = 'added afterwards';
    expect(await r.flush(2000)).toBe(false);
    expect(diagnostics.map((d) => [d.code, d.reportId])).toEqual([['before_send_failed', tricked]]);
    expect(diagnostics[0].message).toContain('/ssn');
    expect(server.stored.get(kept)).toMatchObject({ error: { description: 'later' } });
    expect(server.received.map((x) => x.body).join('')).not.toMatch(/AB123456C|afterwards/);
  });

  it('asks a username function each time; one that throws gives no username', async () => {
    let user: string | null = 'ann';
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, {
      username: () => {
        if (user === null) throw new Error('no session');
        return user;
      },
    });
    const a = r.report(input('a'));
    user = null;
    const b = r.report(input('b'));
    expect(await r.flush(2000)).toBe(true);
    expect(server.stored.get(a)!.username).toBe('ann');
    expect(server.stored.get(b)!.username).toBeUndefined();
    expect(diagnostics.map((d) => d.code)).toEqual(['username_failed']);
  });

  it('drops a report whose beforeSend is async, saying it must answer synchronously', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, {
      beforeSend: async (report: any) => {
        if (report.error.description === 'reject') throw new Error('async hook failed');
        return report;
      },
    });
    const ids = ['resolve', 'reject'].map((d) => r.report(input(d)));
    expect(await r.flush(2000)).toBe(false);
    expect(server.received).toHaveLength(0);
    expect(diagnostics.map((d) => [d.code, d.reportId])).toEqual([
      ['before_send_failed', ids[0]],
      ['before_send_failed', ids[1]],
    ]);
    expect(diagnostics[0].message).toContain('synchronously');
  });

  it('sends without a username when the username function is async', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, {
      username: async () => {
        throw new Error('no session yet');
      },
    });
    const id = r.report(input());
    expect(await r.flush(2000)).toBe(true);
    expect(server.stored.get(id)!.username).toBeUndefined();
    expect(diagnostics.map((d) => d.code)).toEqual(['username_failed']);
    expect(diagnostics[0].message).toContain('promise');
  });

  it('says so when the username is cut to its bound', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { username: 'u'.repeat(300) });
    const id = r.report(input());
    expect(await r.flush(2000)).toBe(true);
    expect([...server.stored.get(id)!.username!]).toHaveLength(256);
    expect(diagnostics.map((d) => [d.code, d.reportId])).toEqual([['invalid_input', id]]);
    expect(diagnostics[0].message).toContain('username: cut to 256');
  });

  it('says so when a lone surrogate in the username is replaced, as in any other field', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, { username: () => 'bob\uD800' });
    const id = r.report(input());
    expect(await r.flush(2000)).toBe(true);
    expect(server.stored.get(id)!.username).toBe('bob\uFFFD');
    expect(diagnostics.map((d) => [d.code, d.reportId])).toEqual([['invalid_input', id]]);
    expect(diagnostics[0].message).toContain('username: a lone surrogate was replaced');
  });

  it('reads beforeSend returning undefined as "unchanged": the in-place edit is sent', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, {
      beforeSend: (report: any) => {
        delete report.username;
        report.error.description = 'scrubbed in place';
      },
    });
    const id = r.report(input('secret'));
    expect(await r.flush(2000)).toBe(true);
    expect(server.stored.get(id)).toMatchObject({ error: { description: 'scrubbed in place' } });
    expect(server.stored.get(id)!.username).toBeUndefined();
    expect(diagnostics).toEqual([]);
  });

  it('keeps the id report() answered when beforeSend changes it', async () => {
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, {
      beforeSend: (report: any) => ({ ...report, id: '00000000-0000-4000-8000-000000000000' }),
    });
    const id = r.report(input());
    expect(await r.flush(2000)).toBe(true);
    expect([...server.stored.keys()]).toEqual([id]);
    expect(diagnostics.map((d) => [d.code, d.reportId])).toEqual([['invalid_input', id]]);
    expect(diagnostics[0].message).toContain('id');
  });

  it('survives a throwing onDiagnostic and report() from inside beforeSend', async () => {
    let inner: string | undefined;
    const r = createReporter(
      optionsFor(server, [], {
        onDiagnostic: () => {
          throw new Error('logger broke');
        },
        beforeSend: (report) => {
          if (report.error.description === 'outer') inner = r.report(input('inner'));
          return report;
        },
      }),
    );
    open.push(r);
    expect(r.report({ number: 'x' as never, description: 'outer' })).toMatch(UUID);
    expect(inner).toMatch(UUID);
    expect(await r.flush(2000)).toBe(true);
    expect(server.stored.size).toBe(2);
  });
});

describe('what is on disk', () => {
  it('never holds the dump in clear, through every path', async () => {
    const queueDir = tempDir();
    const canary = 'CANARY-e4b1-never-on-disk';
    const diagnostics: Diagnostic[] = [];
    const r = reporterFor(diagnostics, {
      queueDir,
      dumpConsent: true,
      dumpLimits: { maxBytes: 2048 },
    });
    server.script(
      { status: 413 },
      { status: 503, headers: { 'retry-after': '0' } },
      { status: 500 },
    );
    r.report({ ...input(), data: { note: canary } });
    r.report({ ...input('big'), data: { note: canary, pad: 'y'.repeat(10_000) } });
    r.report({ ...input('deep'), data: [[[[[[[[[[[[canary]]]]]]]]]]]] });
    const snapshot = readAllFiles(queueDir);
    expect(snapshot.length).toBeGreaterThan(0);
    expect(await r.flush(5000)).toBe(true);
    for (const { text } of [...snapshot, ...readAllFiles(queueDir)])
      expect(text).not.toContain(canary);
    expect(JSON.stringify(diagnostics)).not.toContain(canary);
    const dumps = [...server.stored.values()]
      .filter((x) => x.dump)
      .map((x) => JSON.stringify(server.openDump(x)));
    expect(dumps.some((d) => d.includes(canary))).toBe(true);
  });
});
