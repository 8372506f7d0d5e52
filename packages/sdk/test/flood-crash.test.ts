import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Report } from '@jcs/protocol';
import { createReporter, type ReporterOptions } from '../src';
import { readQueueKeyFile } from '../src/queue/queue-key';
import { openQueueFile } from '../src/queue/sealed-file';
import { cleanupTempDirs, optionsFor, queuedReports, tempDir } from './helpers/fixtures';
import { deadEndpoint, HOST_SCRIPT, runHost } from './helpers/host';
import { startTestServer, type TestServer } from './helpers/test-server';

/**
 * Occurrences flood control holds back, in a host that dies without 'exit' (SIGKILL stands for
 * an OOM kill, a native crash, a power cut). Their carrier (the report whose `repeats` counts
 * them, under the id report() answered them with) is on disk from the first of them, held by the
 * host; its count there is brought up to date once a second, and as it grows by half. The next run
 * delivers it.
 * Real processes (test/fixtures/host.js on the built dist/) and a real node:http server.
 */
jest.setTimeout(60_000);

let server: TestServer;
let down: string;

beforeAll(async () => {
  if (!fs.existsSync(path.join(__dirname, '../dist/index.js'))) {
    throw new Error('build the SDK first: npx tsc -b');
  }
  down = await deadEndpoint();
});
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(() => server.close());
afterAll(cleanupTempDirs);

/** The host's options: JSON-able, and a collector that cannot be reached. */
function childOptions(queueDir: string, overrides: Record<string, unknown> = {}) {
  const { onDiagnostic: _o, ...o } = optionsFor(server, [], { queueDir, ...overrides });
  return { ...o, endpoint: down } as Partial<ReporterOptions>;
}

/** The reports in `claimed/`, with the pid each claim names. */
function claimedReports(queueDir: string): { pid: number; report: Report }[] {
  const key = readQueueKeyFile(queueDir)!;
  const dir = path.join(queueDir, 'claimed');
  return fs.readdirSync(dir).map((name) => {
    const opened = openQueueFile(fs.readFileSync(path.join(dir, name)), [key]);
    if (!opened) throw new Error(`${name} does not open`);
    return { pid: Number(name.split('~')[1]), report: JSON.parse(opened.text) as Report };
  });
}

/** The next start of the host: a reporter on the same queue dir, the collector reachable. */
async function nextStart(queueDir: string): Promise<boolean> {
  return createReporter(optionsFor(server, [], { queueDir })).close(5000);
}

function occurrences(reports: Iterable<Report>): number {
  let n = 0;
  for (const r of reports) n += 1 + (r.repeats ?? 0);
  return n;
}

/** The ids a host printed, one per report() call ('reported' aside). */
function idsOf(stdout: string): string[] {
  return stdout.split('\n').filter((l) => /^[0-9a-f-]{36}$/.test(l));
}

it('a host killed in an error loop that never yields: the count on disk was kept up to date from report() itself', async () => {
  // No timer runs in such a loop; the carrier's count is written from report() once a second.
  // Before, it stayed as written when the carrier was made, and the loop's count was lost.
  const queueDir = tempDir();
  const run = await runHost('busy-flood-then-sigkill', childOptions(queueDir), {
    env: { JCS_TEST_LOOP_MS: '2500' },
  });
  expect(run.signal).toBe('SIGKILL');
  const n = Number(/occurrences (\d+)/.exec(run.stdout)?.[1]);
  expect(n).toBeGreaterThan(100);
  expect(await nextStart(queueDir)).toBe(true);
  const counted = occurrences(server.stored.values());
  // At most the last second or so of a 2.5 s loop is missing: well over a third is counted.
  expect(counted).toBeLessThanOrEqual(n);
  expect(counted).toBeGreaterThan(n / 3);
});

describe('a host killed during an error loop (20 occurrences, 10 per group let through)', () => {
  it('right after the 20th: the carrier is on disk and delivered next run, with the count as of its last growth', async () => {
    const queueDir = tempDir();
    const run = await runHost('flood-then-sigkill', childOptions(queueDir));
    expect(run.signal).toBe('SIGKILL');
    const ids = idsOf(run.stdout);
    expect(ids).toHaveLength(20);
    // Occurrences 11 to 20 were held back and answered with the 11th's id: the carrier's.
    const carrierId = ids[10];
    expect(new Set(ids.slice(10))).toEqual(new Set([carrierId]));
    expect(queuedReports(queueDir)).toHaveLength(10);
    // Held under the dead host's claim, written when the 11th was held back. No second passed
    // before the kill, but the count grew by 8 (the 19th): it was written again then.
    const claimed = claimedReports(queueDir);
    expect(claimed.map((c) => [c.pid, c.report.id, c.report.repeats])).toEqual([
      [claimed[0].pid, carrierId, 8],
    ]);

    expect(await nextStart(queueDir)).toBe(true);
    const delivered = server.received.map((r) => r.report!.id);
    expect(delivered).toContain(ids[19]);
    expect(new Set(delivered)).toEqual(new Set(ids));
    expect(delivered).toHaveLength(11); // each once
    // all but the 20th, which came after the last write
    expect(occurrences(server.stored.values())).toBe(19);
    expect(fs.readdirSync(path.join(queueDir, 'claimed'))).toEqual([]);
  });

  it('a loop of 500 killed at once, well within its second: at most a third of the count is lost', async () => {
    // Before the count was also written as it grew, only the occurrences let through and the
    // carrier itself arrived: 11 of the 500.
    const queueDir = tempDir();
    const run = await runHost('flood-then-sigkill', childOptions(queueDir), {
      env: { JCS_TEST_COUNT: '500' },
    });
    expect(run.signal).toBe('SIGKILL');
    expect(idsOf(run.stdout)).toHaveLength(500);
    expect(await nextStart(queueDir)).toBe(true);
    const counted = occurrences(server.stored.values());
    expect(counted).toBeLessThanOrEqual(500);
    expect(counted).toBeGreaterThan((500 * 2) / 3);
  });

  it('a second and more after the 20th: the count on disk had been brought up to date, all 20 arrive', async () => {
    const queueDir = tempDir();
    const run = await runHost('flood-then-sigkill', childOptions(queueDir), {
      env: { JCS_TEST_WAIT_MS: '1500' },
    });
    expect(run.signal).toBe('SIGKILL');
    const ids = idsOf(run.stdout);
    expect(ids).toHaveLength(20);
    expect(claimedReports(queueDir).map((c) => [c.report.id, c.report.repeats])).toEqual([
      [ids[10], 9],
    ]);

    expect(await nextStart(queueDir)).toBe(true);
    const delivered = server.received.map((r) => r.report!.id);
    expect(delivered).toContain(ids[19]);
    expect(new Set(delivered)).toEqual(new Set(ids));
    expect(delivered).toHaveLength(11);
    expect(occurrences(server.stored.values())).toBe(20);
    expect(server.stored.get(ids[10])!.repeats).toBe(9);
  });

  it('ending normally instead: the carrier is finalised once, with the full count, nothing left claimed', async () => {
    const queueDir = tempDir();
    const run = await runHost('report-and-end', childOptions(queueDir), {
      env: { JCS_TEST_COUNT: '20' },
    });
    expect(run.code).toBe(0);
    const ids = idsOf(run.stdout);
    expect(fs.readdirSync(path.join(queueDir, 'claimed'))).toEqual([]);
    const queued = queuedReports(queueDir);
    expect(queued).toHaveLength(11);
    expect(occurrences(queued)).toBe(20);

    expect(await nextStart(queueDir)).toBe(true);
    expect(server.received).toHaveLength(11);
    expect(server.stored.get(ids[19])!.repeats).toBe(9);
    expect(occurrences(server.stored.values())).toBe(20);
  });
});

describe('two processes sharing a queueDir', () => {
  it("the live host's carrier is not sent by the other; once the host is dead it is", async () => {
    const queueDir = tempDir();
    // The host reports, then lives 2 s more (its count on disk is updated meanwhile), then dies.
    const child = spawn(process.execPath, [HOST_SCRIPT, 'flood-then-sigkill'], {
      env: {
        ...process.env,
        JCS_TEST_OPTIONS: JSON.stringify(childOptions(queueDir)),
        JCS_TEST_NO_SDK: '0',
        JCS_TEST_WAIT_MS: '2000',
      },
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    await server.waitFor(() => stdout.includes('reported\n'), 10_000);
    const ids = idsOf(stdout);
    const carrierId = ids[10];

    // Another process starts on the same queue while the host lives: it takes back the claims of
    // dead processes (none) and sends what is pending: the host's own 10, never its carrier.
    const other = createReporter(optionsFor(server, [], { queueDir }));
    expect(await other.flush(5000)).toBe(true);
    expect(server.received.map((r) => r.report!.id)).not.toContain(carrierId);
    expect(claimedReports(queueDir).map((c) => [c.pid, c.report.id])).toContainEqual([
      child.pid,
      carrierId,
    ]);
    await other.close(0);

    expect(await exited).toBe('SIGKILL');
    expect(await nextStart(queueDir)).toBe(true);
    const delivered = server.received.map((r) => r.report!.id);
    expect(delivered.filter((id) => id === carrierId)).toHaveLength(1);
    expect(new Set(delivered)).toEqual(new Set(ids));
    expect(occurrences(server.stored.values())).toBe(20);
  });
});
