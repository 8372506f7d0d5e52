import fs from 'node:fs';
import path from 'node:path';
import { createReporter, type ReporterOptions } from '../src';
import {
  cleanupTempDirs,
  optionsFor,
  pendingFiles,
  queuedReports,
  readAllFiles,
  tempDir,
} from './helpers/fixtures';
import { deadEndpoint, runHost } from './helpers/host';
import { startTestServer, type TestServer } from './helpers/test-server';

/**
 * The SDK inside real host processes (test/fixtures/host.js on the built dist/): what a crash
 * does, what the exit code is, what is on disk afterwards, and that the next start delivers it.
 */
jest.setTimeout(30_000);

let server: TestServer;
let down: string;

beforeAll(async () => {
  if (!fs.existsSync(path.join(__dirname, '../dist/index.js'))) {
    throw new Error('build the SDK first: npx tsc -b');
  }
  server = await startTestServer();
  down = await deadEndpoint();
});
afterAll(async () => {
  await server.close();
  cleanupTempDirs();
});

const CANARY = 'CANARY-5d1c-crash-path';

function childOptions(queueDir: string): Partial<ReporterOptions> {
  const { onDiagnostic: _o, ...o } = optionsFor(server, [], { queueDir, dumpConsent: true });
  return { ...o, endpoint: down };
}

/**
 * The next start of the host: a reporter on the same queue dir, collector reachable, the user's
 * consent to the dump unchanged (without it, queued dumps are not sent).
 */
async function nextStart(queueDir: string) {
  const r = createReporter(optionsFor(server, [], { queueDir, dumpConsent: true }));
  const ok = await r.close(5000);
  return ok;
}

function assertNoPlaintext(queueDir: string) {
  for (const { text } of readAllFiles(queueDir)) expect(text).not.toContain(CANARY);
}

describe('a host that dies', () => {
  it('of an uncaught exception: same exit and stderr as without the SDK, report on disk', async () => {
    const queueDir = tempDir();
    const [baseline, run] = await Promise.all([
      runHost('uncaught', {}, { sdk: false }),
      runHost('uncaught', childOptions(queueDir)),
    ]);
    expect(baseline.code).toBe(1);
    expect(run.code).toBe(baseline.code);
    expect(run.stderr).toContain('Error: uncaught in host');
    expect(run.stderr.split('\n')[0]).toBe(baseline.stderr.split('\n')[0]);
    const [report] = queuedReports(queueDir);
    expect(report.error).toMatchObject({ description: 'uncaught in host', module: 'host' });
    expect(report.error.line).toBeGreaterThan(0);
    expect(await nextStart(queueDir)).toBe(true);
    expect(server.stored.get(report.id)).toBeDefined();
  });

  it('of an unhandled rejection (throw mode): same exit code, report on disk', async () => {
    const queueDir = tempDir();
    const [baseline, run] = await Promise.all([
      runHost('rejection', {}, { sdk: false }),
      runHost('rejection', childOptions(queueDir)),
    ]);
    expect(baseline.code).toBe(1);
    expect(run.code).toBe(baseline.code);
    expect(run.stderr).toContain('rejected in host');
    const reports = queuedReports(queueDir);
    expect(reports.map((r) => r.error.description)).toEqual(['rejected in host']);
  });

  it.each([
    [[]],
    [['--unhandled-rejections=warn']],
    [['--unhandled-rejections=warn-with-error-code']],
  ])(
    'of a rejection with a string, not an Error (%j): the report says the string',
    async (execArgv) => {
      const queueDir = tempDir();
      const run = await runHost('rejection-not-error', childOptions(queueDir), { execArgv });
      // Throw mode: Node wraps the string in ERR_UNHANDLED_REJECTION, whose message is the same
      // long sentence for every such rejection; warn mode hands the string over as it is.
      expect(run.code).toBe(execArgv[0] === '--unhandled-rejections=warn' ? 0 : 1);
      expect(queuedReports(queueDir).map((r) => r.error.description)).toEqual([
        'quota of 5 exceeded',
      ]);
    },
  );

  it('in warn mode (as Electron): the process lives on as before, and the rejection is reported', async () => {
    const queueDir = tempDir();
    const execArgv = ['--unhandled-rejections=warn'];
    const [baseline, run] = await Promise.all([
      runHost('rejection', {}, { sdk: false, execArgv }),
      runHost('rejection', childOptions(queueDir), { execArgv }),
    ]);
    expect(baseline.code).toBe(0);
    expect(run.code).toBe(0);
    expect(queuedReports(queueDir).map((r) => r.error.description)).toEqual(['rejected in host']);
  });

  it('in warn-with-error-code mode: same warning and exit code 1, the rejection reported from it', async () => {
    const queueDir = tempDir();
    const execArgv = ['--unhandled-rejections=warn-with-error-code'];
    const [baseline, run] = await Promise.all([
      runHost('rejection', {}, { sdk: false, execArgv }),
      runHost('rejection', childOptions(queueDir), { execArgv }),
    ]);
    expect(baseline.code).toBe(1);
    expect(run.code).toBe(1);
    // Node's two warnings, as without the SDK (process ids aside)
    const warnings = (r: typeof run) =>
      r.stderr.split('\n').filter((l) => l.includes('UnhandledPromiseRejectionWarning'));
    expect(warnings(run).map((l) => l.replace(/\(node:\d+\)/, ''))).toEqual(
      warnings(baseline).map((l) => l.replace(/\(node:\d+\)/, '')),
    );
    const [report] = queuedReports(queueDir);
    expect(report.error).toMatchObject({ description: 'rejected in host', module: 'host' });
    expect(report.error.line).toBeGreaterThan(0);
  });

  it('with its own unhandledRejection listener: still called, process lives, reported once', async () => {
    const queueDir = tempDir();
    const [baseline, run] = await Promise.all([
      runHost('rejection-with-host-listener', {}, { sdk: false }),
      runHost('rejection-with-host-listener', childOptions(queueDir)),
    ]);
    expect(baseline.stdout).toBe('host listener ran\nstill alive\n');
    expect(run.stdout).toBe(baseline.stdout);
    expect(run.code).toBe(baseline.code);
    expect(queuedReports(queueDir)).toHaveLength(1);
  });

  it('by process.exit right after report(): exit code kept, delivered on the next start', async () => {
    const queueDir = tempDir();
    const run = await runHost('exit', childOptions(queueDir), { env: { JCS_TEST_CANARY: CANARY } });
    expect(run.code).toBe(3);
    const id = run.stdout.trim();
    expect(queuedReports(queueDir).map((r) => r.id)).toEqual([id]);
    assertNoPlaintext(queueDir);
    expect(await nextStart(queueDir)).toBe(true);
    expect(server.openDump(server.stored.get(id)!)).toEqual({ canary: CANARY });
  });

  it('by SIGKILL right after report() returns: delivered on the next start', async () => {
    const queueDir = tempDir();
    const run = await runHost('sigkill', childOptions(queueDir), {
      env: { JCS_TEST_CANARY: CANARY },
    });
    expect(run.signal).toBe('SIGKILL');
    const id = run.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    assertNoPlaintext(queueDir);
    expect(await nextStart(queueDir)).toBe(true);
    expect(server.stored.has(id)).toBe(true);
    expect(pendingFiles(queueDir)).toEqual([]);
  });
});

describe('many reporters in one host', () => {
  it('share one exit listener (no MaxListenersExceededWarning), removed from it at close', async () => {
    const before = process.listenerCount('exit');
    const reporters = Array.from({ length: 15 }, () =>
      createReporter(optionsFor(server, [], { queueDir: tempDir() })),
    );
    expect(process.listenerCount('exit')).toBeLessThanOrEqual(before + 1);
    for (const r of reporters) await r.close(1000);
  });
});

describe('a host that ends normally', () => {
  it('is not kept alive by the SDK, even with the collector down and reports queued', async () => {
    const queueDir = tempDir();
    const run = await runHost('report-and-end', childOptions(queueDir), {
      env: { JCS_TEST_COUNT: '3' },
    });
    expect(run.code).toBe(0);
    expect(run.ms).toBeLessThan(5000);
    expect(run.stdout.trim().split('\n')).toHaveLength(3);
    expect(queuedReports(queueDir)).toHaveLength(3);
  });

  it('after an error loop, without flush: the held-back count is on disk, under the ids it gave', async () => {
    const queueDir = tempDir();
    // flood control as the SDK sets it by default
    const options = { ...childOptions(queueDir), floodControl: undefined };
    const run = await runHost('report-and-end', options, {
      env: { JCS_TEST_COUNT: '50' },
    });
    expect(run.code).toBe(0);
    const ids = run.stdout.trim().split('\n');
    expect(ids).toHaveLength(50);
    const queued = queuedReports(queueDir);
    // 3 sent as themselves (flood control's default), one carrier for the other 47.
    expect(queued).toHaveLength(4);
    expect(queued.reduce((n, r) => n + 1 + (r.repeats ?? 0), 0)).toBe(50);
    const queuedIds = new Set(queued.map((r) => r.id));
    expect(ids.filter((id) => !queuedIds.has(id))).toEqual([]);
  });
});
