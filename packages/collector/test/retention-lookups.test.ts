import request from 'supertest';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { eraseSubject } from '../src/store/erase';
import { runExpiry } from '../src/retention/expire';
import type { Db } from '../src/store/db';
import { DAY, HOUR, storeAt } from './retention-support';

/**
 * The look-up rows (report_ids, report_groups) live in tables of their own, which the expiry job
 * and erasure must delete with their reports: none may outlive its report, none of a kept report
 * may go.
 */
const T0 = Date.parse('2026-09-01T00:00:00Z');

let t: TestCollector;
beforeEach(() => (t = makeTestCollector({ clock: testClock(T0) })));
afterEach(() => t.close());

/** `perDay` reports every 3 hours over `days` days from T0, two users, three licences, two groups. */
function storeDays(days: number): void {
  for (let d = 0; d < days; d++) {
    for (let h = 0; h < 24; h += 3) {
      const at = T0 + d * DAY + h * HOUR + 60_000;
      storeAt(
        t.collector,
        [0, 1].map((i) =>
          makeReport({
            username: `user${(d + i) % 2}`,
            license: `JCS-00000${(h + i) % 3}`,
            error: { number: 90 + i },
          }),
        ),
        at,
      );
    }
  }
}

/** The seqs each look-up table points at, against the seqs of the stored reports. */
function lookups(db: Db) {
  const seqs = (sql: string) => (db.prepare(sql).pluck().all() as number[]).sort((a, b) => a - b);
  return {
    reports: seqs('SELECT seq FROM reports'),
    ids: seqs('SELECT seq FROM report_ids'),
    groups: seqs('SELECT seq FROM report_groups'),
  };
}

function expectInStep(db: Db): void {
  const l = lookups(db);
  expect(l.ids).toEqual(l.reports);
  expect(l.groups).toEqual(l.reports);
}

describe('look-up rows', () => {
  it('go with their reports when the cutoff falls inside a day, and the kept ones stay', async () => {
    storeDays(4);
    expectInStep(t.collector.db);
    // Cutoff = night - 41 days: 13:30 on day 1, so day 0 goes whole and day 1 in part.
    const night = T0 + 42 * DAY + 13.5 * HOUR;
    t.clock.set(night);
    const s = await runExpiry(t.collector, { chunkSize: 3 });
    expect(s.deletedReports).toBe(16 + 10);
    expect(lookups(t.collector.db).reports).toHaveLength(64 - 26);
    expectInStep(t.collector.db);
  });

  it('left behind by a run stopped after deleting reports are ignored, then deleted', async () => {
    storeDays(2);
    const [victim] = t.collector.db
      .prepare('SELECT seq, id FROM reports ORDER BY seq LIMIT 1')
      .all() as { seq: number; id: string }[];
    // As if a run had deleted the report and been killed before its look-up rows.
    t.collector.db.prepare('DELETE FROM reports WHERE seq = ?').run(victim.seq);
    await request(t.app)
      .get(`/v1/reports/${victim.id}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(404);
    t.clock.set(T0 + 42 * DAY + 2 * HOUR);
    await runExpiry(t.collector);
    expectInStep(t.collector.db);
    const left = t.collector.db
      .prepare('SELECT COUNT(*) FROM report_ids WHERE seq = ?')
      .pluck()
      .get(victim.seq);
    expect(left).toBe(0);
  });

  it('of an erased subject: its group rows go, with its subject rows, and nobody else’s; its ids stay known', () => {
    storeDays(2);
    const db = t.collector.db;
    const before = lookups(db);
    const n = db.transaction(() => eraseSubject(db, t.collector.keyring, { username: 'user0' }))();
    expect(n).toBe(before.reports.length / 2);
    const after = lookups(db);
    expect(after.groups).toEqual(after.reports);
    // Every id stays until its day expires: the same report sent again is not stored again.
    expect(after.ids).toEqual(before.ids);
    const hash = t.collector.keyring.userHash('user0');
    expect(
      db
        .prepare('SELECT COUNT(*) FROM group_subjects WHERE kind = 0 AND subject = ?')
        .pluck()
        .get(hash),
    ).toBe(0);
  });

  it('let a resent id be found, and a new report under a reused id after expiry be stored', async () => {
    const report = makeReport();
    const post = () =>
      request(t.app)
        .post('/v1/reports')
        .set('Authorization', `Bearer ${t.tokens.ingest}`)
        .send(report);
    expect((await post()).status).toBe(202);
    t.clock.set(T0 + 3 * DAY);
    expect((await post()).status).toBe(200);
    t.clock.set(T0 + 43 * DAY);
    await runExpiry(t.collector);
    expect((await post()).status).toBe(202);
    expectInStep(t.collector.db);
  });
});
