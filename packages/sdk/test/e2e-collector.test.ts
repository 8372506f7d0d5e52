import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { groupId } from '@jcs/protocol';
import {
  createReporter,
  createTransport,
  httpRequest,
  type Diagnostic,
  type ReporterOptions,
} from '../src';
import { startCollector, type RunningCollector } from '../../../test-support/collector';
import { cleanupTempDirs, pendingFiles, readAllFiles, tempDir } from './helpers/fixtures';
import { runHost } from './helpers/host';

/**
 * The SDK against the real collector: `jcs-collector serve` on a temp data dir (built dist/;
 * run `npx tsc -b` first), real queue dirs, and host processes where a crash is needed. The
 * collector's own counts prove what arrived.
 */
jest.setTimeout(60_000);

let c: RunningCollector;

beforeAll(async () => {
  for (const f of ['../dist/index.js', '../../collector/dist/bin.js']) {
    if (!fs.existsSync(path.join(__dirname, f))) throw new Error('build first: npx tsc -b');
  }
  c = await startCollector();
});
afterAll(async () => {
  await c?.stop();
  cleanupTempDirs();
});

/**
 * The collector limits reports per licence (a burst of 30, then 2 a second): each test reports
 * under a licence of its own so one test's burst never delays another's.
 */
function options(
  queueDir: string | undefined,
  diagnostics: Diagnostic[] = [],
  license = 'JCS-000123',
): ReporterOptions {
  return {
    endpoint: c.url,
    token: c.tokens.ingest,
    publicKey: c.publicKey,
    keyId: c.keyId,
    app: { name: 'JCS', version: '5.2.1.345' },
    license,
    username: 'asmith',
    dumpConsent: true,
    queueDir,
    // every report of the runs below goes out as itself (the default lets 3 a minute through)
    floodControl: { maxPerGroup: 10 },
    retry: { minDelayMs: 50, maxDelayMs: 1000 },
    onDiagnostic: (d) => diagnostics.push(d),
  };
}

/** JSON-able options for a host process. */
function hostOptions(queueDir: string, license: string) {
  const { onDiagnostic: _d, ...o } = options(queueDir, [], license);
  return o;
}

async function engineer(route: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${c.url.replace(/\/$/, '')}${route}`, {
    headers: { authorization: `Bearer ${c.tokens.engineer}` },
  });
  return { status: res.status, body: await res.json() };
}

async function groupCount(number: number, module: string, procedure: string): Promise<number> {
  const id = groupId('JCS', number, module, procedure);
  const { body } = await engineer('/v1/groups?since=1d&status=all&limit=500');
  return body.groups.find((g: { id: string }) => g.id === id)?.count ?? 0;
}

describe('against the real collector', () => {
  it('collector down for whole runs of the host, then up: every report delivered exactly once', async () => {
    const queueDir = tempDir();
    expect(await c.stop()).toBe(0);
    try {
      // Two runs of the host while the collector is down: everything waits in the queue.
      for (const count of ['4', '6']) {
        const run = await runHost('report-and-end', hostOptions(queueDir, 'JCS-E2E-1'), {
          env: { JCS_TEST_COUNT: count },
        });
        expect(run.code).toBe(0);
      }
      expect(pendingFiles(queueDir)).toHaveLength(10);
    } finally {
      await c.restart();
    }
    // The host starts again, twice at once (two processes sharing the queue dir).
    const [a, b] = await Promise.all([
      runHost('flush', hostOptions(queueDir, 'JCS-E2E-1')),
      runHost('flush', hostOptions(queueDir, 'JCS-E2E-1')),
    ]);
    expect([a.stdout.trim(), b.stdout.trim()]).toEqual(['true', 'true']);
    expect(pendingFiles(queueDir)).toEqual([]);
    expect(await groupCount(5, 'host', 'report-and-end')).toBe(10);
    // A later start finds nothing left to send: the count stays.
    expect(await createReporter(options(queueDir, [], 'JCS-E2E-1')).close(5000)).toBe(true);
    expect(await groupCount(5, 'host', 'report-and-end')).toBe(10);
  });

  it('a host that dies right after report() (exit, SIGKILL, uncaught): delivered on the next start', async () => {
    const queueDir = tempDir();
    const [exit, kill] = [
      await runHost('exit', hostOptions(queueDir, 'JCS-E2E-2')),
      await runHost('sigkill', hostOptions(queueDir, 'JCS-E2E-2')),
    ];
    const uncaught = await runHost('uncaught', hostOptions(queueDir, 'JCS-E2E-2'));
    expect(exit.code).toBe(3);
    expect(kill.signal).toBe('SIGKILL');
    expect(uncaught.code).toBe(1);
    expect(await createReporter(options(queueDir, [], 'JCS-E2E-2')).close(5000)).toBe(true);
    for (const id of [exit.stdout.trim(), kill.stdout.trim()]) {
      expect((await engineer(`/v1/reports/${id}`)).status).toBe(200);
    }
    const { body } = await engineer('/v1/groups?since=1d&status=all&limit=500');
    expect(body.groups.find((g: any) => g.description === 'uncaught in host')).toMatchObject({
      module: 'host',
      count: 1,
    });
  });

  it('10,000 identical errors in a tight loop: count 10,000, in a few dozen requests at most', async () => {
    let requests = 0;
    const reporter = createReporter({
      ...options(tempDir(), [], 'JCS-E2E-3'),
      transport: (o) =>
        createTransport(o, (req) => {
          requests++;
          return httpRequest(req);
        }),
    });
    for (let i = 0; i < 10_000; i++) {
      reporter.report({
        number: 91,
        description: 'loop',
        module: 'modLoop',
        procedure: 'Spin',
        line: i % 7,
      });
    }
    expect(await reporter.close(10_000)).toBe(true);
    expect(await groupCount(91, 'modLoop', 'Spin')).toBe(10_000);
    expect(requests).toBeLessThanOrEqual(36);
  });

  it("a loop over two lines: the group by line is exact, each line's repeats on a report of that line", async () => {
    const reporter = createReporter(options(tempDir(), [], 'JCS-E2E-4'));
    for (let i = 0; i < 30; i++) {
      reporter.report({
        number: 13,
        description: `Type mismatch ${i}`,
        module: 'modInvoices',
        procedure: 'PrintInvoice',
        line: i % 2 ? 50 : 0,
      });
    }
    expect(await reporter.close(10_000)).toBe(true);
    const id = groupId('JCS', 13, 'modInvoices', 'PrintInvoice');
    const { body } = await engineer(`/v1/groups/${id}?since=1d`);
    expect(body.count).toBe(30);
    expect(body.byLine).toEqual(
      expect.arrayContaining([
        { line: 50, count: 15 },
        { line: 0, count: 15 },
      ]),
    );
    expect(body.byLine).toHaveLength(2);
  });

  it('a canary in the dump is in no queue file and no diagnostic, yet the engineer reads it', async () => {
    const queueDir = tempDir();
    const canary = 'CANARY-2b7d-e2e';
    const diagnostics: Diagnostic[] = [];
    const reporter = createReporter({
      ...options(queueDir, diagnostics, 'JCS-E2E-4'),
      dumpLimits: { maxBytes: 4096 },
    });
    const ids = [
      reporter.report({
        number: 7,
        description: 'x',
        module: 'm',
        procedure: 'p',
        data: { canary },
      }),
      reporter.report({
        number: 7,
        description: 'cut',
        module: 'm',
        procedure: 'p',
        data: { canary, pad: 'z'.repeat(20_000), password: canary },
      }),
      reporter.captureException(new Error('thrown'), { data: [canary, { nested: canary }] }),
    ];
    const onDisk = readAllFiles(queueDir);
    expect(onDisk.length).toBeGreaterThan(0);
    expect(await reporter.close(5000)).toBe(true);
    for (const { text } of [...onDisk, ...readAllFiles(queueDir)])
      expect(text).not.toContain(canary);
    expect(JSON.stringify(diagnostics)).not.toContain(canary);
    const { status, body } = await engineer(`/v1/reports/${ids[0]}?dump=1`);
    expect(status).toBe(200);
    expect(body.dump).toEqual({ canary });
  });

  it('arbitrary input to report() never throws, and the collector accepts every report sent', async () => {
    const diagnostics: Diagnostic[] = [];
    const reporter = createReporter({
      ...options(undefined, diagnostics, 'JCS-E2E-5'),
      dumpConsent: false, // sealing is slow under Jest's VM; the dump has its own property test
      floodControl: { maxPerGroup: 100_000 },
    });
    const anyValue = fc.anything({
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withBoxedValues: true,
    });
    const text = fc
      .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 300 })
      .map((u) => String.fromCharCode(...u));
    const input = fc.record(
      {
        number: fc.oneof(anyValue, fc.double(), fc.bigInt()),
        description: fc.oneof(anyValue, text),
        module: fc.oneof(anyValue, text),
        procedure: fc.oneof(anyValue, text),
        line: fc.oneof(anyValue, fc.double()),
        code: fc.oneof(anyValue, text),
      },
      { requiredKeys: [] },
    );
    const ids: string[] = [];
    fc.assert(
      fc.property(fc.oneof(anyValue, input), (x) => {
        ids.push(reporter.report(x as never));
      }),
      // within the collector's per-licence burst, so the run is not paced by Retry-After
      { numRuns: 25 },
    );
    expect(await reporter.close(20_000)).toBe(true);
    expect(diagnostics.filter((d) => d.code === 'rejected' || d.code === 'internal_error')).toEqual(
      [],
    );
    const sample = await engineer(`/v1/reports/${ids[ids.length - 1]}`);
    expect(sample.status).toBe(200);
  });
});
