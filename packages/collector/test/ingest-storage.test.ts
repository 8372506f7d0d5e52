import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Report } from '@jcs/protocol';
import { makeReport } from '../../../test-support/reports';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';
import { DayKeyGoneError } from '../src/store/day-key-gone';
import { shredFileSync } from '../src/crypto/files';
import { isStorageFailure } from '../src/ingest/unavailable';
import { serveTestCollector, type ServedCollector } from './helpers/served';
import { rawRequest, type RawAnswer } from './helpers/raw-http';
import { ingestRowCounts } from './helpers/ingest-rows';

/**
 * When the storage cannot take a report (disk full, database locked too long, the day's key
 * cannot be written): 503 `unavailable` with Retry-After, nothing of that report stored, the
 * server still serving, and ingest working again once the storage recovers.
 */

const DAY = 86_400_000;
let s: ServedCollector;
beforeEach(async () => (s = await serveTestCollector()));
afterEach(() => s.stop());

const post = (r: Report): Promise<RawAnswer> =>
  rawRequest(s.url, {
    path: '/v1/reports',
    body: JSON.stringify(r),
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${s.tokens.ingest}` },
  });
const get = (p: string) =>
  rawRequest(s.url, {
    method: 'GET',
    path: p,
    headers: { Authorization: `Bearer ${s.tokens.engineer}` },
  });
const health = async () => (await rawRequest(s.url, { method: 'GET', path: '/v1/health' })).json;
/** About 8 KiB sealed: fills pages fast. */
const big = (license = 'JCS-1') =>
  makeReport({ license, error: { description: 'd'.repeat(4096), code: 'c'.repeat(4096) } });
const storedIds = () =>
  new Set(
    (s.collector.db.prepare('SELECT id FROM reports').all() as { id: string }[]).map((r) => r.id),
  );

/** The aggregates agree with the reports exactly: nothing was half-stored. */
function expectAggregatesConsistent(): void {
  const db = s.collector.db;
  const occurrences = (
    db.prepare('SELECT COALESCE(SUM(1 + IFNULL(repeats, 0)), 0) AS n FROM reports').get() as {
      n: number;
    }
  ).n;
  const hours = (
    db.prepare('SELECT COALESCE(SUM(count), 0) AS n FROM group_hours').get() as { n: number }
  ).n;
  const lines = (
    db.prepare('SELECT COALESCE(SUM(count), 0) AS n FROM group_lines').get() as { n: number }
  ).n;
  expect({ hours, lines }).toEqual({ hours: occurrences, lines: occurrences });
  const orphans = db
    .prepare('SELECT COUNT(*) AS n FROM reports WHERE group_id NOT IN (SELECT id FROM groups)')
    .get() as { n: number };
  expect(orphans.n).toBe(0);
}

function expectUnavailable(answer: RawAnswer): void {
  expect(answer.status).toBe(503);
  expect(answer.json.error.code).toBe('unavailable');
  expect(answer.headers['retry-after']).toBe('5');
  expect(answer.text).not.toMatch(/SQLITE|ENOTDIR|EEXIST|\/tmp\//);
}

describe('a full database', () => {
  it('answers 503 with Retry-After, stores nothing of what it refused, keeps serving, recovers', async () => {
    const db = s.collector.db;
    const unlimited = db.pragma('max_page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${(db.pragma('page_count', { simple: true }) as number) + 12}`);

    const accepted: Report[] = [];
    let refused: { report: Report; answer: RawAnswer } | undefined;
    for (let i = 0; i < 300 && !refused; i++) {
      const report = big(`JCS-${i}`);
      const answer = await post(report);
      if (answer.status === 202) accepted.push(report);
      else refused = { report, answer };
    }
    expect(refused).toBeDefined();
    expectUnavailable(refused!.answer);
    expect(accepted.length).toBeGreaterThan(0);
    expect(ingestRowCounts(db).reports).toBe(accepted.length);
    expect(storedIds().has(refused!.report.id)).toBe(false);
    expectAggregatesConsistent();

    // A burst while full: each report is answered 202 or 503, and stored exactly when 202.
    const burst = Array.from({ length: 20 }, (_, i) =>
      i % 4 === 0 ? makeReport({ license: `JCS-small-${i}` }) : big(`JCS-burst-${i}`),
    );
    const answers = await Promise.all(burst.map(post));
    const ids = storedIds();
    answers.forEach((a, i) => {
      expect([202, 503]).toContain(a.status);
      expect(ids.has(burst[i].id)).toBe(a.status === 202);
      if (a.status === 503) expectUnavailable(a);
    });
    expectAggregatesConsistent();

    // Still serving: health, the public key, and reads answer (a read that cannot write its
    // access-log entry is refused with 503, never a 500).
    expect(await health()).toEqual({ status: 'ok' });
    expect((await rawRequest(s.url, { method: 'GET', path: '/v1/public-key' })).status).toBe(200);
    expect([200, 503]).toContain((await get('/v1/groups')).status);

    db.pragma(`max_page_count = ${unlimited}`);
    expect((await post(refused!.report)).status).toBe(202);
    expect((await post(big())).status).toBe(202);
    for (const r of accepted) {
      const whole = await get(`/v1/reports/${r.id}`);
      expect(whole.status).toBe(200);
      expect(whole.json.error.description).toBe(r.error.description);
    }
    expectAggregatesConsistent();
    const lines = s.log.lines();
    expect(lines.some((l) => l.msg === 'storage refused a batch' && l.code === 'SQLITE_FULL')).toBe(
      true,
    );
    expect(lines.filter((l) => l.msg === 'unexpected error')).toEqual([]);
    expect(JSON.stringify(lines)).not.toContain('d'.repeat(64));
  });
});

describe('a database locked too long', () => {
  it('answers 503 with Retry-After to every report waiting, then ingests once the lock is gone', async () => {
    const other = new Database(path.join(s.dataDir, 'collector.db'));
    s.collector.db.pragma('busy_timeout = 50');
    other.exec('BEGIN IMMEDIATE');
    try {
      const reports = Array.from({ length: 5 }, () => makeReport());
      const answers = await Promise.all(reports.map(post));
      answers.forEach(expectUnavailable);
      expect(ingestRowCounts(s.collector.db).reports).toBe(0);
      expect(await health()).toEqual({ status: 'ok' });
    } finally {
      other.exec('ROLLBACK');
      other.close();
      s.collector.db.pragma('busy_timeout = 2000');
    }
    expect((await post(makeReport())).status).toBe(202);
    expect(s.log.lines().some((l) => l.code === 'SQLITE_BUSY')).toBe(true);
  });
});

describe("the day's data key cannot be created", () => {
  it('answers 503, stores nothing, leaves no stray key file, and recovers', async () => {
    const keys = path.join(s.dataDir, 'keys');
    const days = path.join(keys, 'days');
    // A new day, so its key is not already cached from an earlier report.
    s.clock.advance(DAY);
    fs.renameSync(days, `${days}.away`);
    fs.writeFileSync(days, 'not a folder');
    try {
      const answer = await post(makeReport());
      expectUnavailable(answer);
      expect(ingestRowCounts(s.collector.db)).toEqual({
        reports: 0,
        groups: 0,
        group_hours: 0,
        group_lines: 0,
        group_subjects: 0,
      });
      expect(await health()).toEqual({ status: 'ok' });
    } finally {
      fs.rmSync(days);
      fs.renameSync(`${days}.away`, days);
    }
    const strays = fs.readdirSync(keys, { recursive: true }).map(String);
    expect(strays.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect((await post(makeReport())).status).toBe(202);
    const lines = s.log.lines();
    expect(lines.some((l) => l.msg === 'storage refused a request')).toBe(true);
    expect(lines.filter((l) => l.msg === 'unexpected error')).toEqual([]);
  });
});

describe("a day key shredded by another process's expiry between sealing and commit", () => {
  it('fails the batch with 503-worthy DayKeyGoneError, stores nothing; sent again, the report is stored and reads back', async () => {
    const report = makeReport({ error: { description: 'sealed before the shredding' } });
    const sealed = prepareReport(report, s.collector.keyring, s.clock());
    expect(sealed.keyPrint).not.toBeNull();
    // What `jcs-collector expire --now` does in its own process: the key file overwritten and
    // unlinked, which this process's keyring notices only at its next look.
    const keys = path.join(s.dataDir, 'keys');
    shredFileSync(path.join(keys, 'days', `${sealed.keyDay}.key`));

    const writer = new IngestWriter(s.collector.db, keys);
    let refused: unknown;
    try {
      writer.write([sealed]);
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(DayKeyGoneError);
    expect(isStorageFailure(refused)).toBe(true);
    expect(storedIds().has(report.id)).toBe(false);
    expectAggregatesConsistent();

    // The client's retry is sealed under the day's new key, and reads back.
    await new Promise((resolve) => setImmediate(resolve));
    expect((await post(report)).status).toBe(202);
    const read = await get(`/v1/reports/${report.id}`);
    expect(read.status).toBe(200);
    expect(read.json.error.description).toBe('sealed before the shredding');
    writer.close();
  });

  it('a batch whose key is unchanged is stored; one under a key put back from elsewhere is refused, or, from the inbox, stored', () => {
    const keys = path.join(s.dataDir, 'keys');
    const writer = new IngestWriter(s.collector.db, keys);
    const kept = prepareReport(makeReport(), s.collector.keyring, s.clock());
    expect(writer.write([kept])[0].created).toBe(true);
    // A fold: answered 202 long ago, and its key not shredded by an expiry (store/batch-keys.ts).
    const folded = prepareReport(makeReport(), s.collector.keyring, s.clock());
    expect(writer.write([{ ...folded, keyPrint: 'another key' }], true, 'sort')[0].created).toBe(
      true,
    );
    expect(() =>
      writer.write([
        {
          ...prepareReport(makeReport(), s.collector.keyring, s.clock()),
          keyPrint: 'another key',
        },
      ]),
    ).toThrow(DayKeyGoneError);
    writer.close();
  });
});

describe('one report the database refuses', () => {
  it('does not sink the others that share its transaction', async () => {
    s.collector.db.exec(`CREATE TEMP TRIGGER poison BEFORE INSERT ON main.reports
      WHEN NEW.license = 'POISON' BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    const reports = Array.from({ length: 10 }, (_, i) =>
      makeReport({ license: i === 3 ? 'POISON' : `JCS-${i}` }),
    );
    // Submitted in one turn of the event loop: one batch, one transaction.
    const outcomes = await Promise.allSettled(
      reports.map((r) =>
        s.collector.batcher.submit(prepareReport(r, s.collector.keyring, s.clock())),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual(
      reports.map((_, i) => (i === 3 ? 'rejected' : 'fulfilled')),
    );
    expect((outcomes[3] as PromiseRejectedResult).reason).toMatchObject({
      code: 'unavailable',
      status: 503,
    });
    expect(storedIds()).toEqual(new Set(reports.filter((_, i) => i !== 3).map((r) => r.id)));
    expectAggregatesConsistent();
    expect(s.log.lines().filter((l) => l.msg === 'storage refused a batch')).toEqual([
      expect.objectContaining({ batch: 10 }),
    ]);
  });
});

describe('durability', () => {
  it('commits in WAL mode with synchronous=FULL, set explicitly (the bundled default there is NORMAL)', () => {
    expect(s.collector.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.collector.db.pragma('synchronous', { simple: true })).toBe(2);
  });
});
