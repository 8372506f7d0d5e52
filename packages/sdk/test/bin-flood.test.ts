import fs from 'node:fs';
import path from 'node:path';
import { cleanupTempDirs, tempDir } from './helpers/fixtures';
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
  it('sends the first 3 calls of an error loop and counts the rest on one report, sent by a call after the window', async () => {
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
    expect(new Set(ids.slice(0, 3)).size).toBe(3);
    expect(new Set(ids.slice(3))).toEqual(new Set([ids[3]]));
    expect(ids.slice(0, 3)).not.toContain(ids[3]);
    for (const stderr of stderrs.slice(3)) {
      expect(stderr).toMatch(
        new RegExp(`more than 3 reports of this error within 60000 ms .*on report ${ids[3]}`),
      );
    }
    // Another error, a minute and a half later: it releases the window and sends it all.
    const later = await jcsReportAt(loopError(config, 5), shift + 90_000);
    expect(later.code).toBe(0);
    await server.waitFor(() => storedOf(5).length === 1);
    const stored = storedOf(9);
    // Every call is counted once, and every id printed is found on the collector.
    expect(stored.reduce((n, r) => n + 1 + (r.repeats ?? 0), 0)).toBe(12);
    for (const id of ids) expect(server.stored.has(id)).toBe(true);
    expect(stored).toHaveLength(4);
    expect(server.stored.get(ids[3])?.repeats).toBe(8);
    // The loop's windows are gone; the later call's own is left for a call after it.
    const windowsLeft = fs.readdirSync(path.join(queueDir, 'flood'));
    expect(windowsLeft).toHaveLength(1);
    expect(fs.readdirSync(path.join(queueDir, 'flood', windowsLeft[0]))).toEqual(['sent-1']);
    expect(fs.readdirSync(path.join(queueDir, 'pending'))).toEqual([]);
  });

  it('does not hold a held-back call up sending: it has nothing to send before the window ends', async () => {
    const { config, queueDir } = writeConfig();
    const shift = startOfMinute();
    const queued: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await jcsReportAt(loopError(config, 23, ['--timeout', '0']), shift);
      queued.push(run.stdout.trim());
    }
    const requestsBefore = server.received.length;
    const held = await jcsReportAt(loopError(config, 23), shift);
    expect(held.code).toBe(0);
    expect(held.stderr).toMatch(/counted in repeats/);
    expect(queued).not.toContain(held.stdout.trim());
    expect(server.received.length).toBe(requestsBefore);
    expect(fs.readdirSync(path.join(queueDir, 'pending'))).toHaveLength(3);
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
    // 3 go as themselves; the other 7 name one carrier, whichever call made it.
    expect(new Set(ids).size).toBe(4);
    await jcsReportAt(loopError(config, 6), shift + 90_000);
    await server.waitFor(() => storedOf(6).length === 1);
    const stored = storedOf(17);
    expect(stored.reduce((n, r) => n + 1 + (r.repeats ?? 0), 0)).toBe(10);
    expect(stored).toHaveLength(4);
    for (const id of ids) expect(server.stored.has(id)).toBe(true);
  });
});
