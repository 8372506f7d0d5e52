import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { makeCertificate } from '../../../test-support/certificate';
import type { ReporterOptions } from '../src';
import { openBlockingRequester } from '../src/blocking-request';
import {
  cleanupTempDirs,
  optionsFor,
  pendingFiles,
  queuedReports,
  tempDir,
} from './helpers/fixtures';
import { deadEndpoint, hostOptionsFor, requireBuiltSdk, runHost } from './helpers/host';
import { startTestServer, type TestServer } from './helpers/test-server';

/**
 * A host that dies of an uncaught exception: Node ends it as soon as the handlers return, so the
 * SDK sends the crash's report then, the thread blocked (a worker thread does the HTTP), for at
 * most exitGraceMs. Real host processes on the built SDK, a real HTTP server as the collector.
 */
jest.setTimeout(30_000);

let server: TestServer;

beforeAll(async () => {
  requireBuiltSdk();
  server = await startTestServer();
});
afterEach(() => server.always('default'));
afterAll(async () => {
  await server.close();
  cleanupTempDirs();
});

/** Reporter options for the host (JSON-able: no onDiagnostic). */
function hostOptions(overrides: Partial<ReporterOptions> = {}): Partial<ReporterOptions> {
  return hostOptionsFor(server, { dumpConsent: true, ...overrides });
}

const described = (description: string) =>
  [...server.stored.values()].filter((r) => r.error.description === description);

describe('a host that dies of an uncaught exception, the collector up', () => {
  it('delivers the report before the process ends, without a queue dir; exit and stderr as without the SDK', async () => {
    const before = described('uncaught in host').length;
    const [baseline, run] = await Promise.all([
      runHost('uncaught', {}, { sdk: false }),
      runHost('uncaught', hostOptions()),
    ]);
    expect(run.code).toBe(baseline.code);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')[0]).toBe(baseline.stderr.split('\n')[0]);
    expect(run.stderr).toContain('Error: uncaught in host');
    // stored when the process had ended: nothing of it was left to send later
    const reports = described('uncaught in host');
    expect(reports).toHaveLength(before + 1);
    expect(reports.at(-1)!.error).toMatchObject({
      module: 'host',
      procedure: 'Timeout._onTimeout',
    });
  });

  it('with a queue dir: delivered, and nothing left in the queue', async () => {
    const queueDir = tempDir();
    const run = await runHost('uncaught', hostOptions({ queueDir }));
    expect(run.code).toBe(1);
    expect(pendingFiles(queueDir)).toEqual([]);
    expect(queuedReports(queueDir)).toEqual([]);
    expect(described('uncaught in host').length).toBeGreaterThan(0);
  });

  it('of an unhandled rejection (throw mode): delivered before the process ends', async () => {
    const before = described('rejected in host').length;
    const run = await runHost('rejection', hostOptions());
    expect(run.code).toBe(1);
    expect(described('rejected in host')).toHaveLength(before + 1);
  });

  it('sends again what the host reported just before, its request in flight and never answered', async () => {
    // the first request hangs: the report is in flight when the host dies 50 ms later
    server.script('hang');
    const before = described('uncaught in host').length;
    const run = await runHost('report-then-uncaught', hostOptions(), {
      env: { JCS_TEST_WAIT_MS: '50' },
    });
    expect(run.code).toBe(1);
    const id = run.stdout.trim();
    expect(server.received.filter((r) => r.report?.id === id).length).toBe(2);
    expect(server.stored.get(id)?.error.description).toBe('reported before the crash');
    expect(described('uncaught in host')).toHaveLength(before + 1);
  });

  it('keeps the report on disk when the collector does not answer in time, and ends within exitGraceMs', async () => {
    server.always('hang');
    const queueDir = tempDir();
    // A request would wait 20 s on its own: the grace, 300 ms, ends it.
    const run = await runHost(
      'uncaught',
      hostOptions({ queueDir, requestTimeoutMs: 20_000, exitGraceMs: 300 }),
    );
    expect(run.code).toBe(1);
    expect(run.ms).toBeLessThan(8_000);
    expect(queuedReports(queueDir).map((r) => r.error.description)).toEqual(['uncaught in host']);
  });

  it('keeps it on disk when the collector asks to wait (503), and sends it at the next start', async () => {
    server.always({
      status: 503,
      headers: { 'retry-after': '1' },
      body: { error: { code: 'unavailable' } },
    });
    const queueDir = tempDir();
    const run = await runHost('uncaught', hostOptions({ queueDir }));
    expect(run.code).toBe(1);
    const [queued] = queuedReports(queueDir);
    expect(queued.error.description).toBe('uncaught in host');
    server.always('default');
    const { createReporter } = await import('../src');
    const next = createReporter(optionsFor(server, [], { queueDir }));
    expect(await next.close(5000)).toBe(true);
    expect(server.stored.has(queued.id)).toBe(true);
  });

  it('sends nothing then with exitGraceMs 0, or through an injected transport: the queue keeps it', async () => {
    const queueDir = tempDir();
    const received = server.received.length;
    const run = await runHost('uncaught', hostOptions({ queueDir, exitGraceMs: 0 }));
    expect(run.code).toBe(1);
    expect(queuedReports(queueDir)).toHaveLength(1);
    const injected = tempDir();
    const deaf = await runHost('uncaught', hostOptions({ queueDir: injected }), {
      env: { JCS_TEST_DEAF_TRANSPORT: '1' },
    });
    expect(deaf.code).toBe(1);
    expect(queuedReports(injected)).toHaveLength(1);
    expect(server.received.length).toBe(received);
  });

  it('honours a Retry-After another process sharing the queue was given meanwhile: nothing sent', async () => {
    const queueDir = tempDir();
    const retry = { minDelayMs: 20, maxDelayMs: 120_000 };
    const before = described('reported before the crash').length;
    // The host starts (its first report delivered), then dies 1.5 s later...
    const running = runHost('report-then-uncaught', hostOptions({ queueDir, retry }), {
      env: { JCS_TEST_WAIT_MS: '1500' },
    });
    await server.waitFor(() => described('reported before the crash').length > before);
    await server.waitFor(() => pendingFiles(queueDir).length === 0);
    // ...and meanwhile another process on the same queue is told to wait a minute.
    server.always({ status: 503, headers: { 'retry-after': '60' }, body: {} });
    const { createReporter } = await import('../src');
    const other = createReporter(optionsFor(server, [], { queueDir, retry }));
    other.report({ description: 'told to wait' });
    await server.waitFor(() =>
      server.received.some((r) => r.report?.error.description === 'told to wait'),
    );
    await other.close(100);
    server.always('default');
    const received = server.received.length;
    const run = await running;
    expect(run.code).toBe(1);
    expect(server.received.length).toBe(received);
    expect(
      queuedReports(queueDir)
        .map((r) => r.error.description)
        .sort(),
    ).toEqual(['told to wait', 'uncaught in host']);
  });

  it('shares one grace among copies of the SDK in one process: a collector that hangs is asked once', async () => {
    server.always('hang');
    const received = server.received.length;
    const run = await runHost('uncaught', hostOptions({ exitGraceMs: 500 }), {
      env: { JCS_TEST_SDK_COPIES: '2' },
    });
    expect(run.code).toBe(1);
    // the first copy's request took the whole grace; the second had none left to start one
    expect(server.received.length - received).toBe(1);
  });

  it("does not run the host's preloads again in its worker thread", async () => {
    const dir = tempDir();
    const preload = path.join(dir, 'preload.js');
    fs.writeFileSync(preload, "require('node:fs').writeSync(2, 'preload ran\\n');\n");
    for (const how of [{ execArgv: ['-r', preload] }, { env: { NODE_OPTIONS: `-r ${preload}` } }]) {
      const [baseline, run] = await Promise.all([
        runHost('uncaught', {}, { sdk: false, ...how }),
        runHost('uncaught', hostOptions(), how),
      ]);
      expect(baseline.stderr.match(/preload ran/g)).toHaveLength(1);
      expect(run.stderr.match(/preload ran/g)).toHaveLength(1);
      expect(run.code).toBe(1);
    }
  });

  it('ends at once with the collector unreachable, the report on disk', async () => {
    const queueDir = tempDir();
    const run = await runHost('uncaught', {
      ...hostOptions({ queueDir }),
      endpoint: await deadEndpoint(),
    });
    expect(run.code).toBe(1);
    expect(queuedReports(queueDir)).toHaveLength(1);
  });

  it('does not block a host that takes uncaught exceptions up itself: it lives, the report goes as usual', async () => {
    const run = await runHost('uncaught-with-host-listener', hostOptions());
    expect(run.stdout).toBe('host caught uncaught in host\nstill alive\n');
    expect(run.code).toBe(0);
    // sent in the background while the host lived on (its exit grace covers the end)
    await server.waitFor(() => described('uncaught in host').length > 0);
  });
});

describe('openBlockingRequester', () => {
  /**
   * A server in a process of its own: this thread is blocked while it waits for the answer, so a
   * server on it could never answer. `/status/N` answers N (with Retry-After 7 and the request's
   * path and authorization echoed), `/slow/MS` answers 202 that much later, `/hang` never.
   */
  const SERVER = `
    const http = require('node:http');
    const s = http.createServer((req, res) => {
      req.resume();
      const [, kind, arg] = req.url.split('/');
      const answer = (status) =>
        res.writeHead(status, { 'retry-after': '7', 'content-type': 'application/json' })
          .end(JSON.stringify({ path: req.url, authorization: req.headers.authorization }));
      if (kind === 'status') answer(Number(arg));
      else if (kind === 'slow') setTimeout(() => answer(202), Number(arg));
      else if (kind === 'long') res.writeHead(202).end('{"pad":"' + 'x'.repeat(Number(arg)) + '"}');
    });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));
  `;
  let child: ChildProcess;
  let base: string;

  beforeAll(async () => {
    child = spawn(process.execPath, ['-e', SERVER]);
    const port = await new Promise<string>((resolve) =>
      child.stdout!.once('data', (d) => resolve(String(d).trim())),
    );
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(() => {
    child.kill();
  });

  const request = (url: string, timeoutMs = 5000) => ({
    url,
    method: 'POST' as const,
    headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
    body: '{"a":1}',
    timeoutMs,
  });

  it('answers with the status, Retry-After and body', () => {
    const requester = openBlockingRequester();
    try {
      const answer = requester.request(request(`${base}/status/429`));
      expect(answer.statusCode).toBe(429);
      expect(answer.headers?.['retry-after']).toBe('7');
      expect(JSON.parse(answer.body!)).toEqual({ path: '/status/429', authorization: 'Bearer t' });
      expect(answer.truncated).toBeUndefined();
      // Past the 4 KiB read, the body is cut, and says so: only such a body may be the
      // collector's without being whole JSON (transport.ts classify).
      const long = requester.request(request(`${base}/long/10000`));
      expect(long.body).toHaveLength(4096);
      expect(long.truncated).toBe(true);
    } finally {
      requester.close();
    }
  });

  it('throws a network error with its code, and a time-out by name; a late answer is not taken for the next', async () => {
    const requester = openBlockingRequester();
    try {
      const down = await deadEndpoint();
      expect(() => requester.request(request(down))).toThrow(
        expect.objectContaining({ code: 'ECONNREFUSED' }),
      );
      expect(() => requester.request(request(`${base}/slow/300`, 100))).toThrow(
        expect.objectContaining({ name: 'TimeoutError' }),
      );
      // A name DNS does not know: DNS's answer, whatever the time left (here not a whole number
      // of milliseconds, as the crash path gives it).
      expect(() =>
        requester.request({ ...request('http://nonexistent-host.invalid/'), timeoutMs: 2000.5 }),
      ).toThrow(
        expect.objectContaining({
          code: expect.stringMatching(/^(ENOTFOUND|EAI_AGAIN|ETIMEOUT|ECONNREFUSED|ESERVFAIL)$/),
        }),
      );
      // the slow answer comes meanwhile (the worker's own time-out gave up on it, or not)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
      const next = requester.request(request(`${base}/status/202`));
      expect(JSON.parse(next.body!).path).toBe('/status/202');
    } finally {
      requester.close();
    }
  });
});

describe('a crash with a collector whose certificate a private CA issued', () => {
  it('is delivered over https with the ca option, and kept on disk without it', async () => {
    const dir = tempDir();
    const [certFile, keyFile] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    makeCertificate(certFile, keyFile);
    const ca = fs.readFileSync(certFile, 'utf8');
    const bodies: string[] = [];
    const tlsServer = https.createServer(
      { cert: ca, key: fs.readFileSync(keyFile) },
      (req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          bodies.push(body);
          res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
        });
      },
    );
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    const endpoint = `https://localhost:${(tlsServer.address() as AddressInfo).port}/`;
    try {
      const trusting = tempDir();
      const run = await runHost('uncaught', {
        ...hostOptions({ queueDir: trusting, ca }),
        endpoint,
      });
      expect(run.code).toBe(1);
      expect(bodies.map((b) => JSON.parse(b).error.description)).toEqual(['uncaught in host']);
      expect(queuedReports(trusting)).toEqual([]);
      const distrusting = tempDir();
      await runHost('uncaught', { ...hostOptions({ queueDir: distrusting }), endpoint });
      expect(bodies).toHaveLength(1);
      expect(queuedReports(distrusting)).toHaveLength(1);
    } finally {
      tlsServer.closeAllConnections();
      await new Promise<void>((r) => tlsServer.close(() => r()));
    }
  });
});
