/**
 * Shared pieces of the fault-injection suite: a `jcs-collector serve` process that can be
 * killed and started again with other settings, a load generator with many sockets, and
 * read-only checks of the database the collector left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Report } from '@jcs/protocol';
import { COLLECTOR_BIN, collectorCli, listeningUrl, makeTempDir } from '../test-support/collector';
import { makeReport } from '../test-support/reports';
import { decodeRecord } from '../packages/collector/src/store/sealed-record';

/** serve without rate limits: the faults are about storage and processes, not the limiter. */
export const NO_RATE_LIMITS = ['--rate-licence-per-min', '0', '--rate-token-per-min', '0'];

export interface DataDir {
  dataDir: string;
  dbFile: string;
  token: string;
  publicKey: string;
  keyId: string;
}

/** `jcs-collector init` and an ingest token, through the real bin. */
export function initDataDir(): DataDir {
  const dataDir = path.join(makeTempDir('jcs-faults-'), 'data');
  const init = collectorCli(['init', '--data-dir', dataDir]);
  if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
  const token = collectorCli([
    'token',
    'create',
    '--name',
    'faults',
    '--role',
    'ingest',
    '--data-dir',
    dataDir,
  ]);
  if (token.status !== 0) throw new Error(`token create failed: ${token.stderr}`);
  return {
    dataDir,
    dbFile: path.join(dataDir, 'collector.db'),
    token: token.stdout.trim(),
    keyId: /key id: (\S+)/.exec(init.stdout)![1],
    publicKey: /public key: (\S+)/.exec(init.stdout)![1],
  };
}

const live = new Set<ChildProcess>();

/** Kills every serve process a test left running (for afterAll: a failed test must not hang Jest). */
export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

export interface Serve {
  url: string;
  port: number;
  child: ChildProcess;
  /** stderr so far: JSON log lines, or the one-line failure message */
  stderr(): string;
  /** resolves with the exit code (null when killed by a signal) */
  exited: Promise<number | null>;
  signal(sig: NodeJS.Signals): void;
}

/**
 * Spawns `jcs-collector serve` on a data dir; resolves once it listens. `port` 0 takes a free one;
 * pass the previous port to restart where the clients expect it.
 */
export async function serve(
  dataDir: string,
  options: { port?: number; env?: NodeJS.ProcessEnv; args?: string[] } = {},
): Promise<Serve> {
  const child = spawn(
    process.execPath,
    [
      COLLECTOR_BIN,
      'serve',
      '--port',
      String(options.port ?? 0),
      '--data-dir',
      dataDir,
      '--no-expiry',
      ...NO_RATE_LIMITS,
      ...(options.args ?? []),
    ],
    { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // 'close', not 'exit': output can still be in the pipes when the process has exited.
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  const url = await listeningUrl(child, exited, () => stderr, 20_000, 'serve');
  return {
    url,
    port: Number(new URL(url).port),
    child,
    stderr: () => stderr,
    exited,
    signal: (sig) => child.kill(sig),
  };
}

/** Runs serve expecting it to fail at start: its exit code, stderr and how long it ran. */
export function serveExpectingFailure(
  dataDir: string,
  timeoutMs = 20_000,
): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [COLLECTOR_BIN, 'serve', '--port', '0', '--data-dir', dataDir, '--no-expiry'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve kept running (stdout: ${stdout})`));
    }, timeoutMs);
    // 'close', not 'exit': output can still be in the pipes when the process has exited.
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: Date.now() - started });
    });
  });
}

/** What became of one report sent by `sendAll`. */
export interface Outcome {
  id: string;
  sentAt: number;
  answeredAt: number;
  /** the HTTP status, or undefined when the exchange failed (reset, refused, timeout) */
  status?: number;
  retryAfter?: string;
  errorCode?: string;
  /** the socket error, when there was no answer */
  failure?: string;
}

/**
 * Posts every report, `concurrency` at a time on kept-alive sockets (one per request in flight),
 * and never throws: each report's outcome is recorded. `onOutcome` sees them as they come.
 * `retries`: times a report with no answer (reset, refused, timeout) is sent again, as an SDK
 * would; default 0, so a cut-off request shows as cut off.
 */
export async function sendAll(
  url: string,
  token: string,
  reports: Report[],
  options: {
    concurrency?: number;
    retries?: number;
    onOutcome?: (o: Outcome, all: Outcome[]) => void;
  } = {},
): Promise<Outcome[]> {
  const concurrency = options.concurrency ?? 200;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL('/v1/reports', url);
  const outcomes: Outcome[] = [];
  let next = 0;
  const one = (report: Report) =>
    new Promise<Outcome>((resolve) => {
      const body = JSON.stringify(report);
      const outcome: Outcome = { id: report.id, sentAt: Date.now(), answeredAt: 0 };
      const req = http.request(
        target,
        {
          method: 'POST',
          agent,
          timeout: 15_000,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `Bearer ${token}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => done(e.message));
          res.on('end', () => {
            outcome.status = res.statusCode;
            const ra = res.headers['retry-after'];
            if (ra !== undefined) outcome.retryAfter = String(ra);
            try {
              outcome.errorCode = JSON.parse(Buffer.concat(chunks).toString()).error?.code;
            } catch {
              // not JSON: the status says enough
            }
            done();
          });
        },
      );
      const done = (failure?: string) => {
        if (outcome.answeredAt) return;
        outcome.answeredAt = Date.now();
        if (failure && outcome.status === undefined) outcome.failure = failure;
        resolve(outcome);
      };
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
      req.end(body);
    });
  const worker = async () => {
    while (next < reports.length) {
      const report = reports[next++];
      let o = await one(report);
      for (let r = 0; r < (options.retries ?? 0) && o.status === undefined; r++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        o = await one(report);
      }
      outcomes.push(o);
      options.onOutcome?.(o, outcomes);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, reports.length) }, worker));
  agent.destroy();
  return outcomes;
}

/**
 * `n` valid reports with fresh ids, spread over 2,000 licences, 50 groups and several users so
 * rate limits (were they on) and group aggregates see realistic keys.
 */
export function manyReports(n: number): Report[] {
  return Array.from({ length: n }, (_, i) =>
    makeReport({
      license: `JCS-${String(i % 2000).padStart(6, '0')}`,
      username: `user${i % 300}`,
      error: { procedure: `Procedure${i % 50}`, line: 100 + (i % 7) },
    }),
  );
}

export const acknowledged = (o: Outcome) => o.status === 202 || o.status === 200;

/** Read-only look at the database (a separate connection; the collector may be running). */
export function inspect(dbFile: string) {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const count = (db.prepare('SELECT COUNT(*) AS n FROM reports').get() as { n: number }).n;
    const counted =
      (db.prepare('SELECT SUM(count) AS n FROM group_hours').get() as { n: number | null }).n ?? 0;
    const distinctIds = (
      db.prepare('SELECT COUNT(DISTINCT id) AS n FROM reports').get() as { n: number }
    ).n;
    const orphans = (
      db
        .prepare('SELECT COUNT(*) AS n FROM reports WHERE group_id NOT IN (SELECT id FROM groups)')
        .get() as { n: number }
    ).n;
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    // Every stored report's sealed fields are whole in its day's file (store/sealed-files.ts):
    // a row is committed only after its record is synced.
    const files = new Map<string, Buffer>();
    const fileOf = (day: string) => {
      let bytes = files.get(day);
      if (!bytes) {
        const file = path.join(path.dirname(dbFile), 'sealed', `${day}.sealed`);
        bytes = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
        files.set(day, bytes);
      }
      return bytes;
    };
    const rows = db.prepare('SELECT id, key_day, sealed_at, sealed_len FROM reports').all() as {
      id: string;
      key_day: string;
      sealed_at: number;
      sealed_len: number;
    }[];
    const brokenRecords = rows.filter(
      (r) =>
        decodeRecord(fileOf(r.key_day).subarray(r.sealed_at, r.sealed_at + r.sealed_len), r.id) ===
        null,
    ).length;
    return {
      /** reports whose sealed fields are not whole on disk: 0 */
      brokenRecords,
      count,
      /** occurrences the aggregates hold: equal to count when nothing was counted twice or half */
      counted,
      distinctIds,
      orphans,
      integrity,
    };
  } finally {
    db.close();
  }
}

/** Ids (of those given) present in the database. */
export function storedIds(dbFile: string, ids: string[]): Set<string> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    // One pass over the table: ids are indexed under their day of receipt, not alone.
    const stored = new Set(db.prepare('SELECT id FROM reports').pluck().all() as string[]);
    return new Set(ids.filter((id) => stored.has(id)));
  } finally {
    db.close();
  }
}

/** Waits until `check` is true, polling; throws after `timeoutMs`. */
export async function waitFor(
  check: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Lines of the collector's JSON log with this message. */
export function logLines(stderr: string, msg: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((l) => l.msg === msg);
}

/** Reports stored now (a quick count on a read-only connection). */
export function countReports(dbFile: string): number {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM reports').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Files in a queue directory's subfolder (pending/, claimed/, corrupt/). */
export function queueFiles(queueDir: string, sub: string): string[] {
  const dir = path.join(queueDir, sub);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.')) : [];
}
