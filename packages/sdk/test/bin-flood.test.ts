import fs from 'node:fs';
import path from 'node:path';
import { cleanupTempDirs, pendingFiles, tempDir } from './helpers/fixtures';
import { jcsReport, writeReportConfig } from './helpers/jcs-report';
import { startTestServer, type TestServer } from './helpers/test-server';

/**
 * Flood control across `jcs-report` calls: a VB6 error loop shells out once per error, each call
 * a process of its own. Real processes on the built dist/, a real node:http collector stand-in;
 * a later call is moved past the window by a preload script that shifts `Date.now`.
 */
jest.setTimeout(120_000);

let server: TestServer;
let shiftScript: string;
beforeAll(async () => {
  server = await startTestServer();
  shiftScript = path.join(tempDir(), 'shift-clock.js');
  fs.writeFileSync(
    shiftScript,
    'const realNow = Date.now;\nDate.now = () => realNow() + Number(process.env.JCS_TEST_SHIFT_MS);\n',
  );
});
afterAll(async () => {
  await server.close();
  cleanupTempDirs();
});

/** jcs-report, with the clock moved `shiftMs` on (a preload script shifts `Date.now`). */
function jcsReportAt(args: string[], shiftMs = 0) {
  const env =
    shiftMs === 0
      ? {}
      : {
          NODE_OPTIONS: `--require ${JSON.stringify(shiftScript)}`,
          JCS_TEST_SHIFT_MS: String(shiftMs),
        };
  return jcsReport(args, '', env);
}

function writeConfig() {
  return writeReportConfig(server);
}

/** One error of a VB6 loop: always the same group and line. */
function loopError(config: string, number: number, extra: string[] = []) {
  return [
    '--config',
    config,
    '--number',
    String(number),
    '--description',
    'Subscript out of range',
    '--module',
    'modImport',
    '--procedure',
    'ImportClients',
    '--line',
    '88',
    ...extra,
  ];
}

/**
 * A clock shift that puts the calls a second into a minute, so that a test's calls (a few seconds)
 * fall in one window: windows are aligned to the clock.
 */
function startOfMinute(): number {
  const now = Date.now();
  return Math.ceil(now / 60_000) * 60_000 + 1_000 - now;
}

/** Reports the server stored of one error number. */
function storedOf(number: number) {
  return [...server.stored.values()].filter((r) => r.error.number === number);
}

describe('jcs-report flood control across calls', () => {
  it('sends 3 calls of an error loop, then 3 carrying one each (as flush does), and counts the rest on one report a call after the window sends', async () => {
    const { config, queueDir } = writeConfig();
    const shift = startOfMinute();
    const ids: string[] = [];
    const stderrs: string[] = [];
    for (let i = 0; i < 12; i++) {
      const run = await jcsReportAt(loopError(config, 9, ['--timeout', '0']), shift);
      expect(run.code).toBe(0);
      ids.push(run.stdout.trim());
      stderrs.push(run.stderr);
    }
    // Nothing is sent with --timeout 0: the collector has nothing yet.
    expect(storedOf(9)).toEqual([]);
    expect(new Set(ids.slice(0, 7)).size).toBe(7);
    expect(new Set(ids.slice(6))).toEqual(new Set([ids[6]]));
    // The first 6 are queued reports like any other (--timeout 0 only queues).
    expect(new Set(stderrs.slice(0, 6))).toEqual(
      new Set(['jcs-report: the report is queued and goes out on the next run\n']),
    );
    for (const stderr of stderrs.slice(6)) {
      expect(stderr).toMatch(
        new RegExp(
          `^jcs-report: the report carrying this error's repeats \\(${ids[6]}\\) was sent early 3 times in this window already: it goes out with the first call after \\S+\\n$`,
        ),
      );
    }
    expect(pendingFiles(queueDir)).toHaveLength(6);
    // Another error, a minute and a half later: it releases the window and sends it all.
    const later = await jcsReportAt(loopError(config, 5), shift + 90_000);
    expect(later.code).toBe(0);
    await server.waitFor(() => storedOf(5).length === 1);
    const stored = storedOf(9);
    // Every call is counted once, and every id printed is found on the collector.
    expect(stored.reduce((n, r) => n + 1 + (r.repeats ?? 0), 0)).toBe(12);
    for (const id of ids) expect(server.stored.has(id)).toBe(true);
    expect(stored).toHaveLength(7);
    expect(server.stored.get(ids[6])?.repeats).toBe(5);
    // The loop's windows are gone; the later call's own is left for a call after it.
    const flood = fs.readdirSync(path.join(queueDir, 'flood'));
    const windowsLeft = flood.filter((name) => !name.startsWith('.sent-'));
    // each carrier queued is marked, so that a release done again does not queue it again
    expect(flood.filter((name) => name.startsWith('.sent-')).sort()).toEqual(
      ids
        .slice(3, 7)
        .map((id) => `.sent-${id}`)
        .sort(),
    );
    expect(windowsLeft).toHaveLength(1);
    expect(fs.readdirSync(path.join(queueDir, 'flood', windowsLeft[0]))).toEqual(['sent-1']);
    expect(pendingFiles(queueDir)).toEqual([]);
  });

  it('sends a carrier at once, but does not hold a call up sending once its carrier must wait', async () => {
    const { config, queueDir } = writeConfig();
    const shift = startOfMinute();
    for (let i = 0; i < 3; i++) {
      await jcsReportAt(loopError(config, 23, ['--timeout', '0']), shift);
    }
    // The 4th is carried by a report of its own, sent at once with the queue.
    const fourth = await jcsReportAt(loopError(config, 23), shift);
    expect(fourth).toMatchObject({ code: 0, stderr: '' });
    await server.waitFor(() => storedOf(23).length === 4);
    expect(server.stored.has(fourth.stdout.trim())).toBe(true);
    for (let i = 0; i < 2; i++) {
      await jcsReportAt(loopError(config, 23, ['--timeout', '0']), shift);
    }
    // The 7th must wait for the window's end: it sends nothing, the 5th and 6th queued included.
    const requestsBefore = server.received.length;
    const held = await jcsReportAt(loopError(config, 23), shift);
    expect(held.code).toBe(0);
    expect(held.stderr).toMatch(/was sent early 3 times in this window already/);
    expect(server.received.length).toBe(requestsBefore);
    expect(pendingFiles(queueDir)).toHaveLength(2);
  });

  it("sends a loop's held carrier with the first call of the next minute", async () => {
    const { config } = writeConfig();
    const shift = startOfMinute();
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const run = await jcsReportAt(loopError(config, 29, ['--timeout', '0']), shift);
      ids.push(run.stdout.trim());
    }
    expect(storedOf(29)).toEqual([]);
    // The loop goes on into the next minute: its first call goes as itself, and sends the last
    // minute's carrier (and the queue) with it.
    const next = await jcsReportAt(loopError(config, 29), shift + 60_000);
    expect(next).toMatchObject({ code: 0, stderr: '' });
    await server.waitFor(() => storedOf(29).length === 8);
    expect(server.stored.get(ids[6])?.repeats).toBe(1);
    expect(storedOf(29).reduce((n, r) => n + 1 + (r.repeats ?? 0), 0)).toBe(9);
  });

  it('counts every one of 10 calls made at once', async () => {
    const { config } = writeConfig();
    const shift = startOfMinute();
    const runs = await Promise.all(
      Array.from({ length: 10 }, () =>
        jcsReportAt(loopError(config, 17, ['--timeout', '0']), shift),
      ),
    );
    for (const run of runs) expect(run.code).toBe(0);
    const ids = runs.map((r) => r.stdout.trim());
    // 3 go as themselves, and the others name at most 4 carriers: one for each of the 3 flushes
    // that send the group early (each carrying whatever is counted by then), one for the rest.
    expect(new Set(ids).size).toBeGreaterThanOrEqual(4);
    expect(new Set(ids).size).toBeLessThanOrEqual(7);
    await jcsReportAt(loopError(config, 6), shift + 90_000);
    await server.waitFor(() => storedOf(6).length === 1);
    const stored = storedOf(17);
    expect(stored.reduce((n, r) => n + 1 + (r.repeats ?? 0), 0)).toBe(10);
    expect(stored).toHaveLength(new Set(ids).size);
    for (const id of ids) expect(server.stored.has(id)).toBe(true);
  });
});
