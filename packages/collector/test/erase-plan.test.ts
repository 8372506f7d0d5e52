/**
 * An erasure's plan is made in one snapshot (on the read thread under `serve`) and carried out
 * later, on the writing connection (store/erase.ts): what happened in between must not leave a
 * report of the subject behind, drop a pseudonym a newer report carries, or count an erased
 * report twice. After each erasure the distinct counts' rows are exactly those the surviving
 * reports carry, and their per-day counts what a rebuild from scratch gives.
 */
import request from 'supertest';
import type { Report } from '@jcs/protocol';
import { createApp, openCollector } from '@jcs/collector';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';
import {
  applyErasure,
  eraseSubject,
  planErasure,
  subjectKey,
  type ErasurePlan,
} from '../src/store/erase';
import { rebuildSubjectDays } from '../src/store/subject-days';
import { mulberry32 } from '../../../test-support/random';

const NOW = Date.parse('2026-11-20T10:00:00Z');

let t: TestCollector;
let writer: IngestWriter;
beforeEach(() => {
  t = makeTestCollector({ clock: testClock(NOW) });
  writer = new IngestWriter(t.collector.db);
});
afterEach(() => t.close());

/** Stores reports of one group, one version, one day; returns their ids. */
function store(...who: { license: string; username?: string }[]): string[] {
  const reports: Report[] = who.map((w) =>
    makeReport({ license: w.license, username: w.username, app: { name: 'JCS', version: '5.2' } }),
  );
  writer.write(reports.map((r, i) => prepareReport(r, t.collector.keyring, NOW - 1000 + i)));
  return reports.map((r) => r.id);
}

const db = () => t.collector.db;
const plan = (license: string): ErasurePlan =>
  // Through structured clone, as it comes back from the read thread.
  structuredClone(planErasure(db(), subjectKey(t.collector.keyring, { license })));
const apply = (p: ErasurePlan) =>
  db()
    .transaction(() => applyErasure(db(), p))
    .immediate();

/** The subject rows must be exactly those the surviving reports carry, counted as a rebuild. */
function expectConsistent(): void {
  const rows = (sql: string) =>
    db()
      .prepare(sql)
      .raw()
      .all()
      .map((r) => JSON.stringify(r))
      .sort();
  const carried = rows(`
    SELECT DISTINCT group_id, CAST(received_at / 86400000 AS INTEGER), app_version, 1, license
      FROM reports
    UNION
    SELECT DISTINCT group_id, CAST(received_at / 86400000 AS INTEGER), app_version, 0, user_hash
      FROM reports WHERE user_hash IS NOT NULL`);
  expect(rows('SELECT group_id, day, version, kind, subject FROM group_subjects')).toEqual(carried);
  const kept = rows('SELECT * FROM group_subject_days');
  rebuildSubjectDays(db());
  expect(rows('SELECT * FROM group_subject_days')).toEqual(kept);
}

const count = (sql: string) => db().prepare(sql).pluck().get() as number;

describe('an erasure planned in one snapshot and carried out later', () => {
  it('with nothing in between, erases what eraseSubject erases at once', () => {
    store(
      { license: 'L1', username: 'u1' },
      { license: 'L2', username: 'u2' },
      { license: 'L1', username: 'u2' },
    );
    expect(apply(plan('L1'))).toBe(2);
    expect(count('SELECT count(*) FROM reports')).toBe(1);
    expectConsistent();
    expect(
      db().transaction(() => eraseSubject(db(), t.collector.keyring, { username: 'u2' }))(),
    ).toBe(1);
    expectConsistent();
  });

  it('keeps a pseudonym that a report stored since the plan carries', () => {
    store({ license: 'L1', username: 'u1' }, { license: 'L2', username: 'u2' });
    const p = plan('L1');
    expect(p.drops).toHaveLength(1); // u1: only L1's report carried it
    store({ license: 'L3', username: 'u1' });
    expect(apply(p)).toBe(1);
    expectConsistent();
    expect(count('SELECT count(*) FROM group_subjects WHERE kind = 0')).toBe(2); // u1 and u2
  });

  it("erases the subject's report stored since the plan too", () => {
    store({ license: 'L1', username: 'u1' }, { license: 'L2', username: 'u2' });
    const p = plan('L1');
    const [late] = store({ license: 'L1', username: 'u3' });
    expect(apply(p)).toBe(2);
    expect(count(`SELECT count(*) FROM reports WHERE license = 'L1'`)).toBe(0);
    expect(t.collector.reports.full(late, false)).toBeNull();
    expectConsistent();
  });

  it('passes over a planned report erased since, and counts its occurrences once', () => {
    store(
      { license: 'L1', username: 'u1' },
      { license: 'L1', username: 'u2' },
      { license: 'L2', username: 'u2' },
    );
    const p = plan('L1');
    expect(p.gone).toHaveLength(2);
    expect(
      db().transaction(() => eraseSubject(db(), t.collector.keyring, { username: 'u1' }))(),
    ).toBe(1);
    expect(apply(p)).toBe(1);
    expect(count('SELECT count(*) FROM reports')).toBe(1);
    expect(count('SELECT sum(n) FROM removed_occurrences')).toBe(2);
    expectConsistent();
  });

  it("erases the subject's reports stored since the plan in a planned group's day and a new group", () => {
    // Planned over two groups on two days; then the subject reports in one of those group days
    // and in a new group, and another licence carries one of the pseudonyms the plan would drop.
    const at = (module: string, daysAgo: number, license: string, username: string) => {
      const r = makeReport({ license, username, error: { module } });
      writer.write([prepareReport(r, t.collector.keyring, NOW - daysAgo * 86_400_000)]);
      return r.id;
    };
    at('modA', 1, 'L1', 'u1');
    at('modA', 0, 'L1', 'u2');
    at('modB', 0, 'L1', 'u3');
    at('modB', 0, 'L2', 'u4');
    const p = plan('L1');
    expect(p.gone).toHaveLength(3);
    const late = [at('modA', 0, 'L1', 'u5'), at('modC', 0, 'L1', 'u6')];
    at('modB', 0, 'L3', 'u3'); // u3 stays counted in modB today: L3's report carries it
    expect(apply(p)).toBe(5);
    expect(count(`SELECT count(*) FROM reports WHERE license = 'L1'`)).toBe(0);
    expect(late.map((id) => t.collector.reports.full(id, false))).toEqual([null, null]);
    expectConsistent();
  });

  it('leaves the store as an erasure in one snapshot would, whatever is stored between (random)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rand = mulberry32(seed);
      const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
      const storeSome = (n: number, maxDaysAgo: number) => {
        const reports: [Report, number][] = [];
        for (let i = 0; i < n; i++) {
          const r = makeReport({
            license: pick(['L1', 'L2', 'L3']),
            username: pick(['u1', 'u2', 'u3', undefined]),
            app: { name: 'JCS', version: pick(['5.1', '5.2']) },
            error: { module: pick(['modA', 'modB', 'modC']) },
          });
          reports.push([r, NOW - Math.floor(rand() * maxDaysAgo) * 86_400_000 - i]);
        }
        writer.write(
          reports.map(([r, receivedAt]) => prepareReport(r, t.collector.keyring, receivedAt)),
        );
      };
      storeSome(12, 4);
      const license = pick(['L1', 'L2']);
      const p = plan(license);
      storeSome(Math.floor(rand() * 6), 1); // stored since the plan: today's
      const before = count(`SELECT count(*) FROM reports WHERE license = '${license}'`);
      expect(apply(p)).toBe(before);
      expect(count(`SELECT count(*) FROM reports WHERE license = '${license}'`)).toBe(0);
      expectConsistent();
      t.close();
      t = makeTestCollector({ clock: testClock(NOW) });
      writer = new IngestWriter(t.collector.db);
    }
  });

  it('POST /v1/erase plans on the read thread and erases', async () => {
    const ids = store(
      { license: 'L1', username: 'u1' },
      { license: 'L2', username: 'u2' },
      { license: 'L1', username: 'u2' },
    );
    const threaded = openCollector({
      dataDir: t.dataDir,
      clock: t.clock,
      env: {},
      triageThread: true,
    });
    try {
      const post = (body: object) =>
        request(createApp(threaded))
          .post('/v1/erase')
          .set('Authorization', `Bearer ${t.tokens.admin}`)
          .send(body);
      expect((await post({ username: 'u2' })).body).toEqual({ erasedReports: 2 });
      expectConsistent();
      expect((await post({ license: 'L1' })).body).toEqual({ erasedReports: 1 });
      expectConsistent();
      expect(count('SELECT count(*) FROM reports')).toBe(0);
      expect(ids.map((id) => threaded.reports.full(id, false))).toEqual([null, null, null]);
    } finally {
      threaded.close();
    }
  });
});
