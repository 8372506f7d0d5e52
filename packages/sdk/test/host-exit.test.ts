import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createReporter, type Diagnostic, type ReporterOptions } from '../src';
import { cleanupTempDirs, optionsFor, queuedReports, tempDir } from './helpers/fixtures';
import { deadEndpoint, runHost } from './helpers/host';
import { startTestServer, waitFor, type TestServer } from './helpers/test-server';

/**
 * How the SDK leaves a host process: never crashed by the host's own async callbacks, never kept
 * alive by its HTTP (even after close()), and a report made just before a natural exit is tried.
 * Real processes (test/fixtures/host.js on the built dist/) against real node:http servers.
 */
jest.setTimeout(60_000);

let server: TestServer;

beforeAll(() => {
  if (!fs.existsSync(path.join(__dirname, '../dist/index.js'))) {
    throw new Error('build the SDK first: npx tsc -b');
  }
});
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(() => server.close());
afterAll(cleanupTempDirs);

/** Options a child can take (JSON): no functions. */
function childOptions(overrides: Record<string, unknown> = {}): Partial<ReporterOptions> {
  const { onDiagnostic: _o, ...o } = optionsFor(server, [], overrides);
  return o;
}

/** Far longer than the host's own work: a process held up by a request would outlive the test. */
const LONG_REQUEST_MS = 120_000;

describe('a host callback that is async and rejects', () => {
  it.each(['beforeSend', 'username', 'onDiagnostic'])(
    '%s: the host lives on, exit code 0, no unhandled rejection',
    async (hook) => {
      const run = await runHost('async-hook', childOptions({ endpoint: await deadEndpoint() }), {
        env: { JCS_TEST_ASYNC_HOOK: hook },
      });
      expect(run.stderr).not.toContain('rejected');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^[0-9a-f-]{36}\nstill alive\n$/);
    },
  );
});

describe('a request in flight to a collector that never answers', () => {
  it('does not keep the host alive once its work is done', async () => {
    server.always('hang');
    const run = await runHost(
      'report-then-work',
      childOptions({ requestTimeoutMs: LONG_REQUEST_MS }),
      { timeoutMs: 30_000 },
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/host done\n$/);
    // the send was in flight when the host finished
    expect(server.received).toHaveLength(1);
  });

  it('does not keep the host alive after close() resolved', async () => {
    server.always('hang');
    const run = await runHost(
      'close-in-flight',
      childOptions({ requestTimeoutMs: LONG_REQUEST_MS, exitGraceMs: 0 }),
      { timeoutMs: 30_000 },
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/closed false\n$/);
    expect(server.received).toHaveLength(1);
  });

  it('close() resolves before the process ends, even when the transport ignores the abort', async () => {
    const run = await runHost('close-in-flight', childOptions(), {
      env: { JCS_TEST_DEAF_TRANSPORT: '1', JCS_TEST_CLOSE_MS: '300', JCS_TEST_WORK_MS: '100' },
      timeoutMs: 30_000,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/closed false\n$/);
  });

  it('is aborted by close() at its deadline; the report stays queued for the next run', async () => {
    const closed: string[] = [];
    let requests = 0;
    const hang = http.createServer((req) => {
      requests++;
      req.resume();
      req.socket.on('close', () => closed.push('closed'));
    });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    try {
      const queueDir = tempDir();
      const endpoint = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/`;
      const diagnostics: Diagnostic[] = [];
      const r = createReporter(
        optionsFor(server, diagnostics, { endpoint, queueDir, requestTimeoutMs: LONG_REQUEST_MS }),
      );
      const id = r.report({ number: 1, description: 'in flight', module: 'm', procedure: 'p' });
      await waitFor(() => requests === 1);
      expect(await r.close(200)).toBe(false);
      // The SDK hung up: without the abort the socket stays open for LONG_REQUEST_MS.
      await waitFor(() => closed.length === 1, 5000);
      expect(queuedReports(queueDir).map((q) => q.id)).toEqual([id]);
      expect(diagnostics.filter((d) => d.code === 'send_failed')).toEqual([]);

      const next = createReporter(optionsFor(server, [], { queueDir }));
      expect(await next.close(5000)).toBe(true);
      expect(server.stored.has(id)).toBe(true);
    } finally {
      hang.closeAllConnections();
      await new Promise<void>((r) => hang.close(() => r()));
    }
  });
});

describe('a host that calls report() and simply ends', () => {
  it('has the report sent before it exits (in memory, no queueDir)', async () => {
    const run = await runHost('report-and-end', childOptions(), { timeoutMs: 30_000 });
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    expect(server.stored.has(id)).toBe(true);
  });

  it('still exits when the collector never answers: the grace is bounded', async () => {
    server.always('hang');
    const run = await runHost(
      'report-and-end',
      childOptions({ requestTimeoutMs: LONG_REQUEST_MS }),
      { timeoutMs: 30_000 },
    );
    expect(run.code).toBe(0);
    // it was tried
    expect(server.received).toHaveLength(1);
  });

  it('with exitGraceMs: 0, is not held up at all, and the report waits in the queue', async () => {
    const queueDir = tempDir();
    const run = await runHost('report-and-end', childOptions({ queueDir, exitGraceMs: 0 }));
    expect(run.code).toBe(0);
    expect(server.received).toHaveLength(0);
    expect(queuedReports(queueDir).map((q) => q.id)).toEqual([run.stdout.trim()]);
  });
});

describe('many reporters with global handlers in one host', () => {
  it('print no MaxListenersExceededWarning, and the crash is exactly as without the SDK', async () => {
    const queueDir = tempDir();
    const [baseline, run] = await Promise.all([
      runHost('uncaught', {}, { sdk: false }),
      runHost('uncaught', childOptions({ queueDir, endpoint: await deadEndpoint() }), {
        env: { JCS_TEST_REPORTERS: '12' },
      }),
    ]);
    expect(run.stderr).not.toContain('MaxListenersExceededWarning');
    expect(run.code).toBe(baseline.code);
    expect(run.stderr).toBe(baseline.stderr);
    // every reporter reported it
    expect(queuedReports(queueDir)).toHaveLength(12);
  });
});
