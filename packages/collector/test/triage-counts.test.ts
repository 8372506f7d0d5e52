/**
 * The figures of GET /v1/groups checked against a plain recount of the reports stored: counts and
 * daily counts and versions exact to the millisecond, distinct users and licences by whole UTC day,
 * over windows that start and end anywhere, with and without a version; and the distinct-count
 * table (group_subject_days, kept by triggers) equal to a recount of group_subjects after
 * ingest in and out of order, erasure and expiry.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import type { Report } from '@jcs/protocol';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { seededRandom as random } from '../../../test-support/random';
import { periodCount, periodOf } from '../../../test-support/daily-periods';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';
import { runExpiry } from '../src/retention/expire';
import { openDatabase, type Db } from '../src/store/db';
import type { GroupQuery } from '../src/store/groups';
import { EXACT_EDGE_REPORTS, windowSubjects } from '../src/store/window-subjects';
import {
  countSubjects,
  expireSubjects,
  keepSubjectDaysOnRemoval,
  rebuildSubjectDays,
  subjectsFrom,
} from '../src/store/subject-days';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The first day of the data set, 00:00 UTC. */
const D0 = Date.parse('2026-11-01T00:00:00Z');
const NOW = D0 + 14 * DAY + 9 * HOUR;

let t: TestCollector;
beforeEach(() => (t = makeTestCollector({ clock: testClock(NOW) })));
afterEach(() => t.close());

interface Stored {
  group: string;
  at: number;
  version: string;
  username?: string;
  license: string;
  n: number;
}

const PROCEDURES = ['LoadClient', 'SaveClient', 'PrintInvoice'];
const VERSIONS = ['5.1', '5.2', '5.3'];

/**
 * Stores `count` reports at random moments of the 12 days from D0, in batches whose times are
 * not in order (as a clock set back, or a restored backlog, would deliver them).
 */
function storeRandom(seed: number, count: number): Stored[] {
  const pick = random(seed);
  const writer = new IngestWriter(t.collector.db);
  const stored: Stored[] = [];
  for (let i = 0; i < count; i += 10) {
    const batch = [];
    for (let j = 0; j < 10; j++) {
      const report: Report = makeReport({
        app: { name: 'JCS', version: VERSIONS[pick(3)] },
        username: pick(5) === 0 ? undefined : `user${pick(8)}`,
        license: `JCS-${pick(6)}`,
        repeats: pick(3) === 0 ? pick(4) : undefined,
        error: { procedure: PROCEDURES[pick(3)] },
      });
      const at = D0 + pick(12 * DAY);
      const prepared = prepareReport(report, t.collector.keyring, at);
      batch.push(prepared);
      stored.push({
        group: prepared.groupId,
        at,
        version: report.app.version,
        username: report.username,
        license: report.license,
        n: 1 + (report.repeats ?? 0),
      });
    }
    writer.write(batch.sort((a, b) => a.receivedAt - b.receivedAt));
  }
  return stored;
}

/**
 * What the list must answer for each group, recounted from the reports. `wholeDays`: users and
 * licences as counted when the window's edge days hold too many reports to read (by whole day).
 */
function recount(
  stored: Stored[],
  since: number,
  until: number,
  version?: string,
  wholeDays = false,
) {
  const first = Math.floor(since / DAY);
  const days = Math.floor((until - 1) / DAY) - first + 1;
  const groups = new Map<
    string,
    { count: number; daily: number[]; users: Set<string>; licences: Set<string> }
  >();
  const versions = new Map<string, Set<string>>();
  for (const r of stored) {
    const day = Math.floor(r.at / DAY) - first;
    if (day < 0 || day >= days) continue;
    if (version !== undefined && r.version !== version) continue;
    if (!versions.has(r.group)) versions.set(r.group, new Set());
    // versions to the millisecond, as occurrences (with a version asked for, that one only)
    if (r.at >= since && r.at < until) versions.get(r.group)!.add(r.version);
    let g = groups.get(r.group);
    if (!g) {
      g = {
        count: 0,
        daily: new Array<number>(periodCount(since, until)).fill(0),
        users: new Set(),
        licences: new Set(),
      };
      groups.set(r.group, g);
    }
    // users and licences to the millisecond (or by whole day); occurrences to the millisecond
    if (wholeDays || (r.at >= since && r.at < until)) {
      if (r.username !== undefined) g.users.add(r.username);
      g.licences.add(r.license);
    }
    if (r.at >= since && r.at < until) {
      g.count += r.n;
      g.daily[periodOf(r.at, since, until)] += r.n;
    }
  }
  return [...groups]
    .filter(([, g]) => g.count > 0)
    .map(([id, g]) => ({
      id,
      count: g.count,
      daily: g.daily,
      // never more than the occurrences in the window
      users: Math.min(g.users.size, g.count),
      licences: Math.min(g.licences.size, g.count),
      versions: [...versions.get(id)!].sort().reverse(),
    }))
    .sort((a, b) => b.count - a.count || a.id.localeCompare(b.id));
}

function list(q: Partial<GroupQuery> & { window: GroupQuery['window'] }) {
  return t.collector.groups.list({ status: 'all', sort: 'count', limit: 500, ...q }).map((g) => ({
    id: g.id,
    count: g.count,
    daily: g.daily,
    users: g.users,
    licences: g.licences,
    versions: g.versions,
  }));
}

/**
 * group_subject_days as it must be: for each subject's day in a group (and in a version, or in
 * any: ''), the previous day it was seen there, counted; only days from the horizon on (days
 * before it have expired), and a previous day before the horizon is none (0).
 */
function recountSubjectDays(db: Db): unknown[] {
  return db
    .prepare(
      `SELECT group_id, version, kind, day, prev, COUNT(*) AS subjects FROM (
         SELECT group_id, version, kind, day,
           IFNULL(LAG(day) OVER (PARTITION BY kind, subject, group_id, version ORDER BY day), 0) AS prev
         FROM group_subjects WHERE day >= @from
         UNION ALL
         SELECT group_id, '', kind, day,
           IFNULL(LAG(day) OVER (PARTITION BY kind, subject, group_id ORDER BY day), 0)
         FROM (SELECT DISTINCT kind, subject, group_id, day FROM group_subjects WHERE day >= @from)
       ) GROUP BY group_id, version, kind, day, prev ORDER BY group_id, version, kind, day, prev`,
    )
    .all({ from: subjectsFrom(db) });
}

/** group_subject_days as kept, read the same way: a `prev` before the horizon means none. */
const subjectDays = (db: Db) =>
  db
    .prepare(
      `SELECT group_id, version, kind, day, CASE WHEN prev < @from THEN 0 ELSE prev END AS p,
         SUM(subjects) AS subjects
       FROM group_subject_days WHERE day >= @from
       GROUP BY group_id, version, kind, day, p ORDER BY group_id, version, kind, day, p`,
    )
    .all({ from: subjectsFrom(db) })
    .map((r) => {
      const { p, ...rest } = r as {
        group_id: string;
        version: string;
        kind: number;
        day: number;
        p: number;
        subjects: number;
      };
      return { ...rest, prev: p };
    })
    .map(({ group_id, version, kind, day, prev, subjects }) => ({
      group_id,
      version,
      kind,
      day,
      prev,
      subjects,
    }));

describe('GET /v1/groups figures against a recount', () => {
  it('counts, daily counts, users, licences and versions are exact for any window, with or without a version', () => {
    const stored = storeRandom(7, 400);
    const pick = random(99);
    const windows: [number, number][] = [
      [D0, D0 + 12 * DAY], // whole days
      [D0 + 3 * DAY + 5 * HOUR + 17 * 60_000, D0 + 9 * DAY + 22 * HOUR + 1], // both edges mid-hour
      [D0 + 5 * DAY + 30 * 60_000, D0 + 5 * DAY + 40 * 60_000], // inside one hour
      [D0 + 2 * DAY - 1, D0 + 2 * DAY + 1], // across midnight
    ];
    for (let i = 0; i < 12; i++) {
      const since = D0 - DAY + pick(13 * DAY);
      windows.push([since, since + 1 + pick(6 * DAY)]);
    }
    for (const [since, until] of windows) {
      for (const version of [undefined, ...VERSIONS]) {
        expect({
          since,
          until,
          version,
          groups: list({ window: { since, until }, version }),
        }).toEqual({ since, until, version, groups: recount(stored, since, until, version) });
      }
    }
  });

  it('past the edge-day report limit, counts users and licences of the edge days by whole day', () => {
    const stored = storeRandom(5, 300);
    const since = D0 + 3 * DAY + 5 * HOUR + 17 * 60_000;
    const until = D0 + 6 * DAY + 2 * HOUR;
    for (const limit of [0, 10_000]) {
      const expected = recount(stored, since, until, undefined, limit === 0);
      const ids = expected.map((g) => g.id);
      const subjects = windowSubjects(
        t.collector.db,
        ids,
        { since, until },
        { maxEdgeReports: limit },
      );
      expect(
        expected.map((g) => ({
          id: g.id,
          users: Math.min(subjects.get(g.id)!.users, g.count),
          licences: Math.min(subjects.get(g.id)!.licences, g.count),
        })),
      ).toEqual(expected.map(({ id, users, licences }) => ({ id, users, licences })));
    }
    // The two differ somewhere: the edge days hold users from outside the window.
    const exact = recount(stored, since, until);
    expect(recount(stored, since, until, undefined, true)).not.toEqual(exact);
  });

  it('docs/api.md gives the edge-day report limit the collector uses', () => {
    const api = fs.readFileSync(path.join(__dirname, '../../../docs/api.md'), 'utf8');
    const limit = EXACT_EDGE_REPORTS.toLocaleString('en-US');
    expect(api).toContain(`hold more than ${limit} reports between them`);
  });

  it('with nothing stored after until on its day, that day counts whole and stays exact', () => {
    const stored = storeRandom(5, 300);
    const since = D0 + 3 * DAY + 5 * HOUR + 17 * 60_000;
    // A user and licence seen on the first edge's day only before since: counted by whole day,
    // they would be in the window's counts.
    const early = prepareReport(
      makeReport({
        app: { name: 'JCS', version: VERSIONS[0] },
        username: 'early-only',
        license: 'JCS-EARLY',
        error: { procedure: PROCEDURES[0] },
      }),
      t.collector.keyring,
      since - HOUR,
    );
    new IngestWriter(t.collector.db).write([early]);
    stored.push({
      group: early.groupId,
      at: early.receivedAt,
      version: early.version,
      username: 'early-only',
      license: 'JCS-EARLY',
      n: 1,
    });
    // until after the last report: its day's reports are all in the window, so only the first
    // edge is read, and a limit that its reports keep to leaves the counts exact.
    const until = Math.max(...stored.map((r) => r.at)) + 1;
    const firstEdge = stored.filter((r) => r.at >= since && r.at < D0 + 4 * DAY).length;
    const lastEdge = stored.filter((r) => r.at >= Math.floor(until / DAY) * DAY).length;
    expect(lastEdge).toBeGreaterThan(0);
    const exact = recount(stored, since, until);
    const subjects = windowSubjects(
      t.collector.db,
      exact.map((g) => g.id),
      { since, until },
      { maxEdgeReports: firstEdge },
    );
    expect(exact.map((g) => ({ id: g.id, ...subjects.get(g.id) }))).toEqual(
      exact.map(({ id, users, licences }) => ({ id, users, licences })),
    );
    // With a report after until on its day, that day is an edge again: over the same limit, the
    // edges count by whole day (and differ from the recount somewhere).
    expect(lastEdge).toBeGreaterThan(1);
    const earlier = until - 2;
    const expected = recount(stored, since, earlier, undefined, true);
    const byDay = windowSubjects(
      t.collector.db,
      expected.map((g) => g.id),
      { since, until: earlier },
      { maxEdgeReports: firstEdge },
    );
    expect(expected.map((g) => ({ id: g.id, ...byDay.get(g.id) }))).toEqual(
      expected.map(({ id, users, licences }) => ({ id, users, licences })),
    );
  });

  it('reports past their age count no user or licence, exactly or by whole day', () => {
    // One group, one day: a user and licence received before the age cut-off, others after it.
    const day = D0 + 2 * DAY;
    const cutoff = day + 12 * HOUR;
    const writer = new IngestWriter(t.collector.db);
    const [old, recent] = [
      { username: 'old-user', license: 'JCS-OLD', at: day + 6 * HOUR },
      { username: 'new-user', license: 'JCS-NEW', at: day + 18 * HOUR },
    ].map(({ username, license, at }) =>
      prepareReport(makeReport({ username, license }), t.collector.keyring, at),
    );
    writer.write([old, recent]);
    const window = { since: D0, until: D0 + 5 * DAY };
    // 10,000: the edge days read from their reports; 0: counted by whole day, but for the day
    // the cut-off falls in, which then counts nothing.
    for (const [limit, users] of [
      [10_000, 1],
      [0, 0],
    ]) {
      const counts = windowSubjects(t.collector.db, [old.groupId], window, {
        maxEdgeReports: limit,
        pastAge: cutoff,
      });
      expect({ limit, ...counts.get(old.groupId) }).toEqual({ limit, users, licences: users });
    }
    // Without an age cut-off, both.
    expect(windowSubjects(t.collector.db, [old.groupId], window).get(old.groupId)).toEqual({
      users: 2,
      licences: 2,
    });
  });

  it('sorts by distinct users over the window, then by count', () => {
    const stored = storeRandom(11, 300);
    const window = { since: D0 + 4 * DAY + 7 * HOUR, until: D0 + 8 * DAY + 3 * HOUR };
    const expected = recount(stored, window.since, window.until).sort(
      (a, b) => b.users - a.users || b.count - a.count || a.id.localeCompare(b.id),
    );
    expect(list({ window, sort: 'users' })).toEqual(expected);
    expect(list({ window, sort: 'users', limit: 1 })).toEqual(expected.slice(0, 1));
  });

  it('keeps the distinct-count table equal to a recount after ingest out of order, erasure and expiry', async () => {
    const db = t.collector.db;
    storeRandom(3, 300);
    const kept = subjectDays(db);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toEqual(recountSubjectDays(db));
    // the bulk recount (bench/lib/fill.js) comes to the same rows
    rebuildSubjectDays(db);
    expect(subjectDays(db)).toEqual(kept);

    const admin = (body: object) =>
      request(t.app)
        .post('/v1/erase')
        .set('Authorization', `Bearer ${t.tokens.admin}`)
        .send(body)
        .expect(200);
    await admin({ username: 'user3' });
    expect(subjectDays(db)).toEqual(recountSubjectDays(db));
    await admin({ license: 'JCS-2' });
    expect(subjectDays(db)).toEqual(recountSubjectDays(db));

    // Expiry as of day 46: the reports of the first four days are due.
    await runExpiry(t.collector, { now: D0 + 45 * DAY + 12 * HOUR });
    const days = db.prepare('SELECT MIN(day) AS day FROM group_subjects').get() as { day: number };
    expect(days.day).toBeGreaterThan(Math.floor(D0 / DAY) + 4);
    expect(subjectDays(db)).toEqual(recountSubjectDays(db));
    expect(
      db.prepare('SELECT COUNT(*) AS n FROM group_subject_days WHERE subjects <= 0').get(),
    ).toEqual({ n: 0 });

    // Everything gone: nothing left counted.
    keepSubjectDaysOnRemoval(db);
    db.prepare('DELETE FROM group_subjects').run();
    expect(subjectDays(db)).toEqual([]);
  });

  it('runs the removal triggers only where they are asked for: expiry on a connection without them keeps the counts right', () => {
    const db = t.collector.db;
    const triggers = (conn: Db, schema: string) =>
      conn
        .prepare(`SELECT name FROM ${schema}.sqlite_master WHERE type = 'trigger' ORDER BY name`)
        .pluck()
        .all();
    // In the schema only the triggers that follow an insert (ingest's): not the removal ones.
    expect(triggers(db, 'main')).toEqual(
      expect.arrayContaining(['group_subjects_added', 'group_subjects_added_before']),
    );
    expect(triggers(db, 'main')).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^group_subjects_removed/)]),
    );
    storeRandom(13, 300);
    const lastDay = Math.floor(D0 / DAY) + 4;
    const other = openDatabase(db.name);
    try {
      expect(triggers(other, 'temp')).toEqual([]);
      const step = expireSubjects(other, lastDay);
      while (other.transaction(() => step(50))() === 50);
    } finally {
      other.close();
    }
    expect(subjectsFrom(db)).toBe(lastDay + 1);
    expect(db.prepare('SELECT MIN(day) FROM group_subjects').pluck().get()).toBeGreaterThan(
      lastDay,
    );
    expect(subjectDays(db)).toEqual(recountSubjectDays(db));
    // A deletion after the horizon on a connection that asked for them is counted.
    keepSubjectDaysOnRemoval(db);
    expect(triggers(db, 'temp')).toEqual([
      'group_subjects_removed',
      'group_subjects_removed_before',
    ]);
    db.prepare('DELETE FROM group_subjects WHERE day = ?').run(lastDay + 3);
    expect(subjectDays(db)).toEqual(recountSubjectDays(db));
  });

  it('erasure lowers the distinct counts of exactly the windows the subject was in', async () => {
    const stored = storeRandom(5, 200);
    const window = { since: D0 + 2 * DAY + 13 * HOUR, until: D0 + 10 * DAY + 2 * HOUR };
    await request(t.app)
      .post('/v1/erase')
      .set('Authorization', `Bearer ${t.tokens.admin}`)
      .send({ username: 'user1' })
      .expect(200);
    const left = stored.filter((r) => r.username !== 'user1');
    // By id: the list's order goes by count, and an erased report's occurrences still count
    // (anonymous counts stay) while the recount of what is left has them no more.
    const figures = (rows: { id: string; users: number; licences: number }[]) =>
      rows
        .map(({ id, users, licences }) => ({ id, users, licences }))
        .sort((a, b) => a.id.localeCompare(b.id));
    for (const version of [undefined, '5.2']) {
      expect(figures(list({ window, version }))).toEqual(
        figures(recount(left, window.since, window.until, version)),
      );
      // The occurrences stay: counts are anonymous and outlive an erasure.
      const counts = (rows: { id: string; count: number; daily: number[] }[]) =>
        rows
          .map(({ id, count, daily }) => ({ id, count, daily }))
          .sort((a, b) => a.id.localeCompare(b.id));
      expect(counts(list({ window, version }))).toEqual(
        counts(recount(stored, window.since, window.until, version)),
      );
    }
  });
});

describe('GET /v1/groups over HTTP', () => {
  const get = (path: string) =>
    request(t.app)
      .get(path)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200)
      .then((r) => r.body.groups as { procedure: string; users: number; count: number }[]);
  const ingestAt = async (at: number, r: Report) => {
    t.clock.set(at);
    await request(t.app)
      .post('/v1/reports')
      .set('Authorization', `Bearer ${t.tokens.ingest}`)
      .send(r)
      .expect(202);
  };

  it('counts no user, licence or version for a window of a day that holds none of its reports', async () => {
    const day = D0 + 10 * DAY;
    await ingestAt(
      day + 17 * HOUR,
      makeReport({ username: 'ann', app: { name: 'JCS', version: '5.2' } }),
    );
    await ingestAt(
      day + 18 * HOUR,
      makeReport({ username: 'bob', app: { name: 'JCS', version: '5.3' } }),
    );
    const [{ id }] = (await get('/v1/groups?status=all&since=2026-11-01T00:00:00Z')) as unknown as {
      id: string;
    }[];
    const detail = (since: number, until: number) =>
      request(t.app)
        .get(
          `/v1/groups/${id}?since=${new Date(since).toISOString()}&until=${new Date(until).toISOString()}`,
        )
        .set('Authorization', `Bearer ${t.tokens.engineer}`)
        .expect(200)
        .then((r) => {
          const { count, users, licences, versions } = r.body;
          return { count, users, licences, versions };
        });
    // the same UTC day, before both reports
    expect(await detail(day, day + HOUR)).toEqual({
      count: 0,
      users: 0,
      licences: 0,
      versions: [],
    });
    // the hour of the second report only: its version, not the first one's
    expect(await detail(day + 18 * HOUR, day + 18 * HOUR + 60_000)).toEqual({
      count: 1,
      users: 1,
      licences: 1,
      versions: ['5.3'],
    });
    expect(await detail(day, day + DAY - 1)).toEqual({
      count: 2,
      users: 2,
      licences: 1,
      versions: ['5.3', '5.2'],
    });
  });

  it('counts a user seen on two days of the window once, and per version when filtered', async () => {
    const report = (procedure: string, username: string, version: string) =>
      makeReport({ username, app: { name: 'JCS', version }, error: { procedure } });
    // Day 1, 23:50 and day 2, 00:10: the same user either side of midnight.
    await ingestAt(D0 + DAY - 10 * 60_000, report('A', 'u1', '5.1'));
    await ingestAt(D0 + DAY + 10 * 60_000, report('A', 'u1', '5.2'));
    await ingestAt(D0 + DAY + 20 * 60_000, report('A', 'u2', '5.2'));
    await ingestAt(D0 + DAY + 30 * 60_000, report('A', 'u2', '5.2'));
    // B has the fewest reports but the most users; C the most reports, by one user.
    for (const u of ['u3', 'u4', 'u5']) await ingestAt(D0 + 2 * DAY, report('B', u, '5.1'));
    for (let i = 0; i < 5; i++) await ingestAt(D0 + 2 * DAY + HOUR, report('C', 'u6', '5.1'));

    t.clock.set(D0 + 3 * DAY);
    const all = await get('/v1/groups?since=7d');
    expect(all.map((g) => [g.procedure, g.count, g.users])).toEqual([
      ['C', 5, 1],
      ['A', 4, 2],
      ['B', 3, 3],
    ]);
    const byUsers = await get('/v1/groups?since=7d&sort=users');
    expect(byUsers.map((g) => g.procedure)).toEqual(['B', 'A', 'C']);
    // The window from day 2 00:00 on touches only day 2 (and 3) for A: u1 and u2.
    const fromDay2 = await get(`/v1/groups?since=${new Date(D0 + DAY).toISOString()}`);
    expect(fromDay2.find((g) => g.procedure === 'A')).toMatchObject({ count: 3, users: 2 });
    // Until day 1 23:59:59.999 inclusive: only u1's first report.
    const day1 = await get(
      `/v1/groups?since=${new Date(D0).toISOString()}&until=${new Date(D0 + DAY - 1).toISOString()}`,
    );
    expect(day1.map((g) => [g.procedure, g.count, g.users])).toEqual([['A', 1, 1]]);
    const v52 = await get('/v1/groups?since=7d&version=5.2');
    expect(v52.map((g) => [g.procedure, g.count, g.users])).toEqual([['A', 3, 2]]);
    const v51 = await get('/v1/groups?since=7d&version=5.1&sort=users');
    expect(v51.map((g) => [g.procedure, g.count, g.users])).toEqual([
      ['B', 3, 3],
      ['C', 5, 1],
      ['A', 1, 1],
    ]);
  });

  it('filters by status, counting only the groups of that status', async () => {
    const a = makeReport({ error: { procedure: 'A' } });
    await ingestAt(NOW - HOUR, a);
    await ingestAt(NOW - HOUR, makeReport({ error: { procedure: 'B' } }));
    await ingestAt(NOW - HOUR, makeReport({ error: { procedure: 'B' }, username: 'other' }));
    const group = (await get('/v1/groups')).find((g) => g.procedure === 'A') as unknown as {
      id: string;
    };
    await request(t.app)
      .patch(`/v1/groups/${group.id}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .send({ status: 'resolved' })
      .expect(200);
    expect((await get('/v1/groups')).map((g) => [g.procedure, g.users])).toEqual([['B', 2]]);
    expect((await get('/v1/groups?status=resolved')).map((g) => [g.procedure, g.users])).toEqual([
      ['A', 1],
    ]);
    expect((await get('/v1/groups?status=ignored')).map((g) => g.procedure)).toEqual([]);
    expect((await get('/v1/groups?status=all&sort=users')).map((g) => g.procedure)).toEqual([
      'B',
      'A',
    ]);
  });
});

describe('group_subject_days, the distinct counts', () => {
  it('answers like COUNT(DISTINCT) over group_subjects for every span of days, through inserts in any order, deletions and expiry', () => {
    const db = t.collector.db;
    keepSubjectDaysOnRemoval(db);
    const insert = db.prepare(
      'INSERT OR IGNORE INTO group_subjects (group_id, day, version, kind, subject) VALUES (?, ?, ?, ?, ?)',
    );
    const remove = db.prepare(
      'DELETE FROM group_subjects WHERE group_id = ? AND day = ? AND version = ? AND kind = ? AND subject = ?',
    );
    const distinct = (g: string, kind: number, from: number, to: number, version?: string) =>
      (
        db
          .prepare(
            `SELECT COUNT(DISTINCT subject) AS n FROM group_subjects
             WHERE group_id = ? AND kind = ? AND day >= ? AND day < ? ${version ? 'AND version = ?' : ''}`,
          )
          .get(g, kind, from, to, ...(version ? [version] : [])) as { n: number }
      ).n;
    const D = 20_000;
    let base = 0;
    const check = () => {
      const horizon = subjectsFrom(db);
      const got: unknown[] = [];
      const want: unknown[] = [];
      for (const g of ['g1', 'g2']) {
        for (const version of [undefined, ...VERSIONS]) {
          for (let a = D + base - 2; a < D + base + 13; a += 2) {
            for (let b = a + 1; b <= D + base + 14; b += 3) {
              const key = { g, version, a, b };
              got.push({
                ...key,
                ...countSubjects(db, [g], { first: a, length: b - a }, version).get(g),
              });
              const from = Math.max(a, horizon);
              want.push({
                ...key,
                users: distinct(g, 0, from, b, version),
                licences: distinct(g, 1, from, b, version),
              });
            }
          }
        }
      }
      expect(got).toEqual(want);
      expect(subjectDays(db)).toEqual(recountSubjectDays(db));
    };
    for (const seed of [1, 2]) {
      const pick = random(seed);
      for (let round = 0; round < 20; round++) {
        db.transaction(() => {
          for (let i = 0; i < 40; i++) {
            const subject = pick(2) ? Buffer.from([pick(12)]) : `L${pick(12)}`;
            insert.run(
              `g${1 + pick(2)}`,
              D + base - 1 + pick(13),
              VERSIONS[pick(3)],
              pick(2),
              subject,
            );
          }
        })();
        const op = pick(4);
        if (op === 0) {
          // expiry, in chunks of 7
          const step = expireSubjects(db, D + base + pick(3));
          while (db.transaction(() => step(7))() === 7);
          base += 1 + pick(2);
        } else if (op === 1) {
          db.prepare('DELETE FROM group_subjects WHERE kind = 1 AND subject = ?').run(
            `L${pick(12)}`,
          );
        } else if (op === 2) {
          const rows = db.prepare('SELECT * FROM group_subjects').all() as {
            group_id: string;
            day: number;
            version: string;
            kind: number;
            subject: Buffer | string;
          }[];
          for (let j = 0; j < 15 && rows.length > 0; j++) {
            const r = rows[pick(rows.length)];
            remove.run(r.group_id, r.day, r.version, r.kind, r.subject);
          }
        }
        check();
      }
      db.exec('DELETE FROM group_subjects; DELETE FROM group_subject_days');
    }
  });
});
