import { spawn } from 'node:child_process';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openCollector } from '@jcs/collector';
import {
  COLLECTOR_BIN,
  collectorCli,
  makeTempDir,
  postReport,
  startCollector,
} from '../../../test-support/collector';
import { dataPaths } from '../src/paths';
import { parseNow } from '../src/commands/expire';
import { bulkInsert, countReports, DAY } from './retention-support';
import { makeReport } from '../../../test-support/reports';

/** A fresh, initialised data dir (the real bin's `init`). */
function initDataDir(): string {
  const dataDir = path.join(makeTempDir(), 'data');
  const r = collectorCli(['init', '--data-dir', dataDir]);
  if (r.status !== 0) throw new Error(r.stderr);
  return dataDir;
}

/** Reports spread over `days` whole UTC days, the first starting `ageDays` days ago. */
function withReports(dataDir: string, count: number, ageDays: number, days: number): void {
  const c = openCollector({ dataDir, env: {} });
  try {
    bulkInsert(c, count, Math.floor(Date.now() / DAY - ageDays) * DAY, days);
  } finally {
    c.close();
  }
}

const expire = (dataDir: string, ...args: string[]) =>
  collectorCli(['expire', '--data-dir', dataDir, ...args]);

/** `expire`, without holding up this process's event loop (a test's load goes on meanwhile). */
function expireAsync(
  dataDir: string,
  ...args: string[]
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [
      COLLECTOR_BIN,
      'expire',
      '--data-dir',
      dataDir,
      ...args,
    ]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('jcs-collector expire', () => {
  it('--json prints exactly the summary; without it, one readable line', () => {
    const dataDir = initDataDir();
    withReports(dataDir, 30, 60, 2);
    const dry = expire(dataDir, '--dry-run', '--json');
    expect(dry.status).toBe(0);
    const summary = JSON.parse(dry.stdout);
    expect(dry.stdout).toBe(`${JSON.stringify(summary)}\n`);
    expect(Object.keys(summary)).toEqual([
      'cutoff',
      'deletedReports',
      'destroyedKeys',
      'durationMs',
      'dryRun',
    ]);
    expect(summary).toMatchObject({ deletedReports: 30, destroyedKeys: 2, dryRun: true });

    const run = expire(dataDir);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /^expired 30 reports received at or before \S+Z and destroyed 2 day keys in \d+ ms\n$/,
    );
    expect(JSON.parse(expire(dataDir, '--json').stdout)).toMatchObject({
      deletedReports: 0,
      destroyedKeys: 0,
      dryRun: false,
    });
  });

  it('--now judges ages as if it were that moment', () => {
    const dataDir = initDataDir();
    withReports(dataDir, 10, 1, 1);
    const inFuture = new Date(Date.now() + 60 * DAY).toISOString();
    const dry = JSON.parse(expire(dataDir, '--now', inFuture, '--dry-run', '--json').stdout);
    expect(dry).toMatchObject({
      cutoff: new Date(Date.parse(inFuture) - 41 * DAY).toISOString(),
      deletedReports: 10,
      dryRun: true,
    });
    expect(JSON.parse(expire(dataDir, '--json').stdout).deletedReports).toBe(0);
    expect(JSON.parse(expire(dataDir, '--now', inFuture, '--json').stdout).deletedReports).toBe(10);
  });

  it('says that a run with --now in the past does not count as the job having run', () => {
    const dataDir = initDataDir();
    const past = expire(dataDir, '--now', new Date(Date.now() - 5 * 60_000).toISOString());
    expect(past.status).toBe(0);
    expect(past.stdout).toMatch(
      /^expired 0 reports .* in \d+ ms; --now is over a minute in the past, so this run is on record but does not count as the expiry job having run \(the status's lastExpiry and compliance\)\n$/,
    );
    // to the second, as cron writes it, or ahead: a run like any other
    for (const now of [new Date(Date.now() - 1000), new Date(Date.now() + 60 * DAY)]) {
      expect(expire(dataDir, '--now', now.toISOString()).stdout).toMatch(/ in \d+ ms\n$/);
    }
  });

  it('refuses a bad --now or --retention-days with exit 2 and one clear line', () => {
    const dataDir = initDataDir();
    const r = expire(dataDir, '--now', 'yesterday');
    expect(r).toMatchObject({ status: 2, stdout: '' });
    expect(r.stderr).toBe(
      'jcs-collector: --now takes an ISO date or date-time such as 2026-12-01T02:30:00Z, not "yesterday"\n',
    );
    const days = expire(dataDir, '--retention-days', '43');
    expect(days.status).toBe(2);
    expect(days.stderr).toContain('--retention-days takes 1 to 42');
  });

  it('--now takes ISO dates and date-times only', () => {
    expect(parseNow('2026-12-01')).toBe(Date.parse('2026-12-01T00:00:00Z'));
    expect(parseNow('2026-12-01T02:30:00Z')).toBe(Date.parse('2026-12-01T02:30:00Z'));
    expect(parseNow('2026-12-01T03:30:00+01:00')).toBe(Date.parse('2026-12-01T02:30:00Z'));
    for (const bad of ['7d', '2026-02-31', '2026-13-01T00:00:00Z', 'now', '']) {
      expect(() => parseNow(bad)).toThrow(/--now takes an ISO date/);
    }
    // The years the API's since and until take.
    expect(() => parseNow('1960-01-01')).toThrow('--now must be in the years 1970 to 9999');
    expect(parseNow('1970-01-01')).toBe(0);
  });

  it('killed mid-run, the next run completes and the database is intact', async () => {
    const dataDir = initDataDir();
    const total = 40_000;
    withReports(dataDir, total, 80, 10);
    const file = dataPaths(dataDir).db;
    const now = new Date().toISOString();

    const child = spawn(
      process.execPath,
      [COLLECTOR_BIN, 'expire', '--data-dir', dataDir, '--now', now],
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const watcher = new Database(file, { readonly: true });
    let left = total;
    try {
      // Kill it as soon as the first chunks are committed.
      while (left === total && child.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        left = countReports(watcher);
      }
      child.kill('SIGKILL');
      await exited;
      left = countReports(watcher);
    } finally {
      watcher.close();
    }
    expect(child.signalCode).toBe('SIGKILL');
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(total);

    const next = expire(dataDir, '--now', now, '--json');
    expect(next.status).toBe(0);
    // Every report deleted since the last receipt: the killed run's too, which wrote none.
    expect(JSON.parse(next.stdout)).toMatchObject({ deletedReports: total, destroyedKeys: 10 });
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(countReports(db)).toBe(0);
      // Only the completed run has a receipt, and it counts them all.
      expect(db.prepare('SELECT deleted_reports FROM expiry_runs').all()).toEqual([
        { deleted_reports: total },
      ]);
    } finally {
      db.close();
    }
  }, 60_000);
});

describe('jcs-collector serve and the routes', () => {
  const admin = (c: { url: string; tokens: { admin: string } }, route: string, init = {}) =>
    fetch(`${c.url}${route}`, { headers: { Authorization: `Bearer ${c.tokens.admin}` }, ...init });

  it('runs the job at start when it has not run for a day, and on POST /v1/expire', async () => {
    const c = await startCollector();
    try {
      let status: any = await (await admin(c, '/v1/status')).json();
      for (let i = 0; i < 100 && status.lastExpiry === null; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        status = await (await admin(c, '/v1/status')).json();
      }
      expect(status).toMatchObject({ retentionDays: 42, reports: 0, compliant: true });
      expect(status.lastExpiry).toMatchObject({ deletedReports: 0, destroyedKeys: 0 });

      // As jcs-errors sends it: an empty JSON object.
      const res = await admin(c, '/v1/expire', {
        method: 'POST',
        headers: { Authorization: `Bearer ${c.tokens.admin}`, 'Content-Type': 'application/json' },
        body: '{}',
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ deletedReports: 0, dryRun: false });
      const audit = ((await (await admin(c, '/v1/audit?limit=20')).json()) as any).entries as {
        actor: string;
        action: string;
      }[];
      expect(audit).toContainEqual(
        expect.objectContaining({ actor: 'system:nightly', action: 'expire' }),
      );
      expect(audit).toContainEqual(
        expect.objectContaining({ actor: 'test-admin', action: 'expire' }),
      );
    } finally {
      expect(await c.stop()).toBe(0);
    }
  }, 30_000);

  it('`expire --now` beside a running serve takes today whole; the reports after it read at once and after a restart', async () => {
    const c = await startCollector({ serveArgs: ['--no-expiry'] });
    const post = async () => {
      const report = makeReport();
      expect((await postReport(c, report)).status).toBe(202);
      return report.id;
    };
    try {
      const before = await post();
      // A moment 43 days on: today's reports, its day file and its key all go.
      const later = new Date(Date.now() + 43 * DAY).toISOString();
      expect(expire(c.dataDir, '--now', later, '--dry-run').status).toBe(0);
      const run = expire(c.dataDir, '--now', later, '--json');
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ deletedReports: 1, destroyedKeys: 1 });
      expect((await admin(c, `/v1/reports/${before}`)).status).toBe(404);
      // today goes on: a new report starts the day's file and key again, and reads back at once
      const after = await post();
      const res = await admin(c, `/v1/reports/${after}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { id: string }).id).toBe(after);
      // and it is on disk under the day's new key: it reads after a restart too
      expect(await c.stop()).toBe(0);
      await c.restart();
      expect((await admin(c, `/v1/reports/${after}`)).status).toBe(200);
      expect((await admin(c, `/v1/reports/${before}`)).status).toBe(404);
    } finally {
      expect(await c.stop()).toBe(0);
    }
  }, 30_000);

  it('`expire --now` that shreds today beside serve under load: every report left in the database reads back', async () => {
    const c = await startCollector({ serveArgs: ['--no-expiry'] });
    const later = new Date(Date.now() + 43 * DAY).toISOString();
    const answers = new Map<number, number>();
    let posting = true;
    // Paused, the posters wait between two reports: a run then finds the day empty and shreds.
    let paused: Promise<void> | undefined;
    const poster = async () => {
      while (posting) {
        await paused;
        const status = (await postReport(c, makeReport())).status;
        answers.set(status, (answers.get(status) ?? 0) + 1);
      }
    };
    const runs: { status: number | null; stdout: string; stderr: string }[] = [];
    const destroyed: number[] = [];
    try {
      const load = Array.from({ length: 12 }, poster);
      for (let i = 0; i < 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        let resume = () => undefined as void;
        if (i % 2 === 1) paused = new Promise((resolve) => (resume = resolve));
        // Under load, the reports stored during the run keep today's key.
        const run = await expireAsync(c.dataDir, '--now', later, '--json');
        runs.push(run);
        destroyed.push(run.status === 0 ? JSON.parse(run.stdout).destroyedKeys : -1);
        paused = undefined;
        resume();
      }
      posting = false;
      await Promise.all(load);
      expect(await c.stop()).toBe(0);

      for (const run of runs) expect(run).toMatchObject({ status: 0, stderr: '' });
      // Each run with the load paused found the day empty, and shredded its key.
      expect(destroyed.filter((_, i) => i % 2 === 1)).toEqual([1, 1, 1]);
      // 202 for most; a report sealed under a key shredded before it committed gets 503
      expect(answers.get(202)).toBeGreaterThan(100);
      expect([...answers.keys()].filter((s) => s !== 202 && s !== 503)).toEqual([]);

      const db = new Database(dataPaths(c.dataDir).db, { readonly: true });
      const left = db.prepare('SELECT id FROM reports').pluck().all() as string[];
      db.close();
      expect(left.length).toBeGreaterThan(0);
      await c.restart();
      const unreadable: string[] = [];
      for (const id of left) {
        const res = await admin(c, `/v1/reports/${id}`);
        if (res.status !== 200) unreadable.push(`${id} ${res.status}`);
      }
      expect(unreadable).toEqual([]);
    } finally {
      posting = false;
      expect(await c.stop()).toBe(0);
    }
  }, 60_000);

  it('--no-expiry leaves the job to cron', async () => {
    const c = await startCollector({ serveArgs: ['--no-expiry'] });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const status = await (await admin(c, '/v1/status')).json();
      expect(status).toMatchObject({ lastExpiry: null, compliant: false });
    } finally {
      expect(await c.stop()).toBe(0);
    }
  }, 30_000);
});
