import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { runExpiry } from '../src/retention/expire';
import { windowSubjects } from '../src/store/window-subjects';
import { countReports, DAY, HOUR, storeAt } from './retention-support';

/** Reports received on 2026-09-01 from 10:00 UTC; the nightly job runs at 02:30 UTC. */
const T0 = Date.parse('2026-09-01T10:00:00Z');

let t: TestCollector;
beforeEach(() => (t = makeTestCollector({ clock: testClock(T0) })));
afterEach(() => t.close());

const as = (role: 'engineer' | 'admin') => `Bearer ${t.tokens[role]}`;
const get = (url: string, status = 200) =>
  request(t.app).get(url).set('Authorization', as('engineer')).expect(status);
const ingest = async (r: object) =>
  (
    await request(t.app)
      .post('/v1/reports')
      .set('Authorization', `Bearer ${t.tokens.ingest}`)
      .send(r)
      .expect(202)
  ).body as { id: string; group: string };
const expire = (query = '', body?: object) => {
  const post = request(t.app).post(`/v1/expire${query}`).set('Authorization', as('admin'));
  return (body === undefined ? post : post.send(body)).expect(200);
};

/** Two reports of one group at T0 and T0 + 1h, and one of another group five days later. */
async function seed() {
  const a = await ingest(
    makeReport({ username: 'asmith', error: { description: 'Client Smith not found', code: 'x' } }),
  );
  t.clock.set(T0 + HOUR);
  const b = await ingest(makeReport({ error: { description: 'Client Jones not found' } }));
  t.clock.set(T0 + 5 * DAY);
  const later = await ingest(makeReport({ error: { number: 13, description: 'Type mismatch' } }));
  return { a, b, later, group: a.group };
}

async function expectGone(ids: string[], group: string) {
  for (const id of ids) await get(`/v1/reports/${id}`, 404);
  expect((await get(`/v1/groups/${group}/reports`)).body.reports).toEqual([]);
  const detail = (await get(`/v1/groups/${group}?since=8w`)).body;
  expect(detail.description).toBeNull();
  expect(detail.latest).toEqual([]);
  const listed = (await get('/v1/groups?since=8w')).body.groups.find(
    (g: { id: string }) => g.id === group,
  );
  expect(listed.description).toBeNull();
}

describe('the 42-day rule', () => {
  it('a run at day 41 keeps the reports; at day 42 they are gone from every route', async () => {
    const { a, b, later, group } = await seed();

    // The night before the oldest turns 41 days old: nothing is due yet.
    t.clock.set(Date.parse('2026-10-12T02:30:00Z'));
    expect((await expire()).body).toMatchObject({ deletedReports: 0, destroyedKeys: 0 });
    expect((await get(`/v1/reports/${a.id}`)).body.username).toBe('asmith');
    expect((await get(`/v1/groups/${group}/reports`)).body.reports).toHaveLength(2);
    expect((await get(`/v1/groups/${group}?since=8w`)).body.description).toBe(
      'Client Jones not found',
    );

    // The next night both are 41 days old or more: deleted, a day ahead of their deadline.
    t.clock.set(Date.parse('2026-10-13T02:30:00Z'));
    const s = (await expire()).body;
    expect(s).toEqual({
      cutoff: '2026-09-02T02:30:00.000Z',
      deletedReports: 2,
      destroyedKeys: 1,
      durationMs: expect.any(Number),
      dryRun: false,
    });
    t.clock.set(T0 + 42 * DAY);
    await expectGone([a.id, b.id], group);
    // The other group's report is 37 days old: untouched, readable.
    expect((await get(`/v1/reports/${later.id}`)).body.error.description).toBe('Type mismatch');
    // Anonymous counts stay.
    expect((await get(`/v1/groups/${group}?since=8w`)).body.count).toBe(2);
  });

  it('reads at day 42 return nothing of them although no job has run', async () => {
    const { a, b, group } = await seed();
    t.clock.set(T0 + HOUR + 42 * DAY - 1);
    expect((await get(`/v1/reports/${b.id}`)).body.id).toBe(b.id);
    await get(`/v1/reports/${a.id}`, 404);
    t.clock.set(T0 + HOUR + 42 * DAY);
    await expectGone([a.id, b.id], group);
    expect(countReports(t.collector.db)).toBe(3);
  });

  it('the job deletes at 41 days, never a millisecond younger', async () => {
    storeAt(t.collector, [makeReport()], T0);
    await runExpiry(t.collector, { now: T0 + 41 * DAY - 1 });
    expect(countReports(t.collector.db)).toBe(1);
    await runExpiry(t.collector, { now: T0 + 41 * DAY });
    expect(countReports(t.collector.db)).toBe(0);
  });

  it('honours a shorter --retention-days', async () => {
    t.close();
    t = makeTestCollector({ clock: testClock(T0), retentionDays: 7 });
    const r = await ingest(makeReport());
    t.clock.set(T0 + 6 * DAY - 1);
    expect((await expire()).body.deletedReports).toBe(0);
    t.clock.set(T0 + 7 * DAY);
    // The 404 gives the retention this collector keeps, not the contract's most.
    expect((await get(`/v1/reports/${r.id}`, 404)).body.error.message).toBe(
      `No report ${r.id}: it may have expired (7 days) or been erased.`,
    );
    expect((await expire()).body.deletedReports).toBe(1);
  });
});

describe('day keys and pseudonymous rows', () => {
  const keyFile = (day: string) => path.join(t.dataDir, 'keys', 'days', `${day}.key`);
  const subjectDays = () =>
    (
      t.collector.db.prepare('SELECT DISTINCT day FROM group_subjects ORDER BY day').all() as {
        day: number;
      }[]
    ).map((r) => r.day);

  it('shreds a day key once its whole day is expired, not before', async () => {
    storeAt(t.collector, [makeReport()], Date.parse('2026-09-01T23:00:00Z'));
    storeAt(t.collector, [makeReport()], Date.parse('2026-09-02T01:00:00Z'));
    expect(fs.existsSync(keyFile('2026-09-01'))).toBe(true);

    // Cut-off 2026-09-01T23:30: the report of that day goes, but its key stays until the whole
    // day is past the cut-off (a report may have come at 23:59).
    t.clock.set('2026-10-12T23:30:00Z');
    let s = await runExpiry(t.collector);
    expect(s).toMatchObject({ deletedReports: 1, destroyedKeys: 0 });
    expect(fs.existsSync(keyFile('2026-09-01'))).toBe(true);

    t.clock.set('2026-10-13T00:30:00Z');
    s = await runExpiry(t.collector);
    expect(s).toMatchObject({ deletedReports: 0, destroyedKeys: 1 });
    expect(fs.existsSync(keyFile('2026-09-01'))).toBe(false);
    expect(fs.existsSync(keyFile('2026-09-02'))).toBe(true);
    expect(t.collector.keyring.listDayKeys()).toEqual(['2026-09-02']);
  });

  it('deletes a day of user hashes at the first run whose cut-off reaches into that day', async () => {
    storeAt(t.collector, [makeReport({ username: 'u1' })], Date.parse('2026-09-01T10:00:00Z'));
    storeAt(t.collector, [makeReport({ username: 'u2' })], Date.parse('2026-09-02T10:00:00Z'));
    const day1 = Math.floor(Date.parse('2026-09-01T00:00:00Z') / DAY);
    expect(subjectDays()).toEqual([day1, day1 + 1]);
    // A report of 2026-09-01 may have come at 00:00, so the day's hashes go at cut-off 00:00.
    // (Runs at their own moment, as the nightly job: judged from the future, one that leaves
    // reports of today writes their rows again, a test below.)
    t.clock.set(Date.parse('2026-10-11T23:59:59Z'));
    await runExpiry(t.collector);
    expect(subjectDays()).toEqual([day1, day1 + 1]);
    t.clock.set(Date.parse('2026-10-12T00:00:00Z'));
    await runExpiry(t.collector);
    expect(subjectDays()).toEqual([day1 + 1]);
  });

  it('judging from the future, shreds even today’s key; ingest goes on under a fresh one', async () => {
    // The collector's clock is still on T0's day: the day has not ended.
    const gone = makeReport();
    storeAt(t.collector, [gone], T0);
    const before = fs.readFileSync(keyFile('2026-09-01'));
    const s = await runExpiry(t.collector, { now: T0 + 42 * DAY });
    expect(s).toMatchObject({ deletedReports: 1, destroyedKeys: 1 });
    expect(fs.existsSync(keyFile('2026-09-01'))).toBe(false);
    // A report received later that day is sealed under a new key, and reads back.
    const kept = makeReport({ username: 'after-the-run' });
    await request(t.app)
      .post('/v1/reports')
      .set('Authorization', `Bearer ${t.tokens.ingest}`)
      .send(kept)
      .expect(202);
    expect(fs.readFileSync(keyFile('2026-09-01')).equals(before)).toBe(false);
    const read = await request(t.app)
      .get(`/v1/reports/${kept.id}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
    expect(read.body.username).toBe('after-the-run');
  });

  it('judging from the future, leaves the reports still arriving today counted in users and licences', async () => {
    await ingest(makeReport({ username: 'before', license: 'JCS-BEFORE' }));
    await runExpiry(t.collector, { now: T0 + 60 * DAY });
    for (const u of ['a', 'b', 'c']) {
      await ingest(makeReport({ username: `user-${u}`, license: `JCS-${u.toUpperCase()}` }));
    }
    // The expired report's occurrence stays in the counts (they are anonymous); its subject does
    // not. The same answer an hour later, when the hour is read from the hourly counts.
    const [g] = (await get('/v1/groups?since=1d')).body.groups;
    expect(g).toMatchObject({ count: 4, users: 3, licences: 3 });
    t.clock.set(T0 + 2 * HOUR);
    const [later] = (await get('/v1/groups?since=1d')).body.groups;
    expect(later).toMatchObject({ count: 4, users: 3, licences: 3 });
  });

  it('judging from the future with its cut-off within today, counts the users it leaves in the per-day counts', async () => {
    // 09:00 (due), 10:45 and 11:00 (kept: the run's cut-off is 10:30 today).
    t.clock.set(T0 - HOUR);
    await ingest(makeReport({ username: 'early', license: 'JCS-EARLY' }));
    t.clock.set(T0 + 45 * 60_000);
    const { group } = await ingest(makeReport({ username: 'u1', license: 'JCS-1' }));
    t.clock.set(T0 + HOUR);
    await ingest(makeReport({ username: 'u2', license: 'JCS-2' }));
    await ingest(
      makeReport({ username: 'u1', license: 'JCS-1', app: { name: 'JCS', version: '5.3' } }),
    );
    const s = await runExpiry(t.collector, { now: T0 + 41 * DAY + 30 * 60_000 });
    expect(s).toMatchObject({
      cutoff: new Date(T0 + 30 * 60_000).toISOString(),
      deletedReports: 1,
    });
    // Today's counts (read whole once a window's edges hold over 1,500 reports) are those of the
    // reports left, as exact as reading them: users u1 and u2, in either version or both.
    const db = t.collector.db;
    const window = { since: T0 - 10 * HOUR, until: t.clock() + 1 };
    for (const version of [undefined, '5.2.1.345', '5.3']) {
      const whole = windowSubjects(db, [group], window, { version, maxEdgeReports: 0 });
      expect(whole).toEqual(windowSubjects(db, [group], window, { version }));
    }
    expect(windowSubjects(db, [group], window, { maxEdgeReports: 0 }).get(group)).toEqual({
      users: 2,
      licences: 2,
    });
    // A user new today after the run counts as well.
    await ingest(makeReport({ username: 'u3', license: 'JCS-3' }));
    const today = { since: T0 - 10 * HOUR, until: t.clock() + 1 };
    expect(windowSubjects(db, [group], today, { maxEdgeReports: 0 }).get(group)).toEqual({
      users: 3,
      licences: 3,
    });
    // And an erasure finds the kept reports through their subject rows.
    const erased = await request(t.app)
      .post('/v1/erase')
      .set('Authorization', as('admin'))
      .send({ username: 'u1' })
      .expect(200);
    expect(erased.body).toEqual({ erasedReports: 2 });
    expect(windowSubjects(db, [group], today, { maxEdgeReports: 0 }).get(group)).toEqual({
      users: 2,
      licences: 2,
    });
  });

  it('counts the users of the reports a run leaves on the day its cut-off falls in', async () => {
    // One report early on 2026-09-01 and two late that day; the run at 02:30 on day 41 takes the
    // early one and the day's subject rows, and the late ones are still shown for 18 hours.
    t.clock.set(Date.parse('2026-09-01T01:00:00Z'));
    await ingest(makeReport({ username: 'early', license: 'JCS-EARLY' }));
    t.clock.set(Date.parse('2026-09-01T20:00:00Z'));
    const { group } = await ingest(makeReport({ username: 'u1', license: 'JCS-1' }));
    await ingest(makeReport({ username: 'u2', license: 'JCS-2' }));
    t.clock.set(Date.parse('2026-10-12T02:30:00Z'));
    expect((await expire()).body).toMatchObject({ deletedReports: 1 });
    t.clock.set(Date.parse('2026-10-12T12:00:00Z'));
    // The 6-week window holds the whole of 2026-09-01; a window from its evening, only a part.
    // The expired report's occurrence stays in the count (it is anonymous); its subjects do not.
    for (const [since, count] of [
      ['6w', 3],
      ['2026-09-01T12:00:00Z', 2],
    ] as const) {
      const detail = (await get(`/v1/groups/${group}?since=${since}`)).body;
      expect(detail).toMatchObject({ count, users: 2, licences: 2 });
      expect(detail.latest).toHaveLength(2);
      const [listed] = (await get(`/v1/groups?since=${since}`)).body.groups;
      expect(listed).toMatchObject({ id: group, users: 2, licences: 2 });
      const [v] = (await get(`/v1/groups?since=${since}&version=5.2.1.345`)).body.groups;
      expect(v).toMatchObject({ id: group, users: 2, licences: 2 });
    }
  });

  it('judging from the future, keeps the counts of the hour the window ends in: the group stays listed', async () => {
    t.clock.set(T0 + 10 * 60_000);
    const { group } = await ingest(makeReport({ error: { line: 10 } }));
    await ingest(makeReport({ repeats: 2, error: { line: 20 } }));
    const before = (await get(`/v1/groups/${group}`)).body;
    expect(before).toMatchObject({ count: 4, byLine: [{ count: 3 }, { count: 1 }] });
    await runExpiry(t.collector, { now: T0 + 41 * DAY + HOUR });
    // A later run judged from an earlier moment does not bring the reports' count back into play.
    await runExpiry(t.collector, { now: T0 + 15 * 60_000 });
    await get(`/v1/groups/${group}/reports`).expect(200, { reports: [] });
    for (const at of [T0 + 20 * 60_000, T0 + 2 * HOUR]) {
      t.clock.set(at);
      const [listed] = (await get('/v1/groups?status=all')).body.groups;
      expect(listed).toMatchObject({ id: group, count: 4, users: 0, description: null });
      const detail = (await get(`/v1/groups/${group}`)).body;
      expect(detail).toMatchObject({ count: 4, latest: [], description: null });
      expect(detail.byLine).toEqual(before.byLine);
      expect(detail.byDay).toEqual(before.byDay);
    }
    // The run kept the occurrences of what it deleted from its retention's edge on (41 days
    // before its cut-off is T0 - 23h): a window that ends before the reports arrived counts none.
    const early = new Date(T0 + 5 * 60_000).toISOString();
    expect((await get(`/v1/groups?status=all&since=1d&until=${early}`)).body.groups).toEqual([]);
    const late = new Date(T0 + 15 * 60_000).toISOString();
    const [g] = (await get(`/v1/groups?status=all&since=1d&until=${late}`)).body.groups;
    expect(g.count).toBe(4);
  });

  it('judging from the future, keeps the counts of windows that start inside an hour exact', async () => {
    // 10:05 (1 occurrence), 10:20 (3), a run judged 43 days ahead at 10:25 deletes both; 10:30 (1).
    t.clock.set(T0 + 5 * 60_000);
    const { group } = await ingest(makeReport());
    t.clock.set(T0 + 20 * 60_000);
    await ingest(makeReport({ repeats: 2 }));
    t.clock.set(T0 + 25 * 60_000);
    expect(await runExpiry(t.collector, { now: t.clock() + 43 * DAY })).toMatchObject({
      deletedReports: 2,
    });
    t.clock.set(T0 + 30 * 60_000);
    await ingest(makeReport());
    t.clock.set(T0 + 40 * 60_000);
    const count = async (since: number) =>
      (await get(`/v1/groups/${group}?since=${new Date(since).toISOString()}`)).body.count;
    // Windows are read by the clock: the occurrences of what the run deleted are kept for them.
    expect(await count(T0)).toBe(5);
    expect(await count(T0 + 10 * 60_000)).toBe(4);
    expect(await count(T0 + 21 * 60_000)).toBe(1);
    const [listed] = (await get(`/v1/groups?since=${new Date(T0 + 10 * 60_000).toISOString()}`))
      .body.groups;
    expect(listed).toMatchObject({ id: group, count: 4, daily: [4] });
  });

  it("the nightly run keeps a group's six weeks exact at their partial first hour", async () => {
    // One report at 10:10 and one at 10:50 (3 occurrences); 42 days later at 10:30 the default
    // six weeks start between them, and the night before, the run deleted both.
    t.clock.set(T0 + 10 * 60_000);
    const { group } = await ingest(makeReport({ error: { line: 10 } }));
    t.clock.set(T0 + 50 * 60_000);
    await ingest(makeReport({ repeats: 2, error: { line: 20 } }));
    t.clock.set(Date.parse('2026-10-13T02:30:00Z'));
    expect((await expire()).body).toMatchObject({ deletedReports: 2 });
    t.clock.set(T0 + 42 * DAY + 30 * 60_000);
    const detail = (await get(`/v1/groups/${group}`)).body;
    expect(detail).toMatchObject({ count: 3, byLine: [{ line: 20, count: 3 }], latest: [] });
    expect(detail.byDay[0]).toEqual({ day: '2026-09-01', count: 3 });
    const since = new Date(T0 + 30 * 60_000).toISOString();
    const [listed] = (await get(`/v1/groups?status=all&since=${since}`)).body.groups;
    expect(listed).toMatchObject({ id: group, count: 3 });
    expect(listed.daily[0]).toBe(3);
    // A window ending in that hour, likewise: the first report's occurrence only.
    const until = new Date(T0 + 30 * 60_000).toISOString();
    const [ending] = (await get(`/v1/groups?status=all&since=8w&until=${until}`)).body.groups;
    expect(ending).toMatchObject({ id: group, count: 1 });

    // The next nights' runs delete those occurrences once no window starts among them: a window
    // reaching back further than the retention counts that hour whole, as before.
    t.clock.set(Date.parse('2026-10-15T02:30:00Z'));
    await expire();
    const left = t.collector.db.prepare('SELECT COUNT(*) FROM removed_occurrences').pluck().get();
    expect(left).toBe(0);
    const [old] = (await get(`/v1/groups?status=all&since=${since}`)).body.groups;
    expect(old).toMatchObject({ id: group, count: 4 });
  });

  it('a key shredded by another process is not used from memory to seal new reports', async () => {
    storeAt(t.collector, [makeReport()], T0);
    const file = keyFile('2026-09-01');
    const shredded = fs.readFileSync(file);
    fs.rmSync(file); // as `jcs-collector expire --now ...` in another process would
    // The keyring looks for the file once per turn of the event loop, before the turn's first
    // report: reports of the next turn see it is gone.
    await new Promise(setImmediate);
    storeAt(t.collector, [makeReport()], T0 + HOUR);
    expect(fs.existsSync(file)).toBe(true);
    expect(fs.readFileSync(file).equals(shredded)).toBe(false);
  });
});

describe('a run stopped between two chunks', () => {
  it("keeps counting the reports it deleted, in a window's partial first hour too", async () => {
    // 300 reports of one group at 10:20; the window starts at 10:10, mid-hour, where counts come
    // from the reports themselves until a run marks the hour as possibly deleted.
    const at = T0 + 20 * 60_000;
    const reports = Array.from({ length: 300 }, () => makeReport());
    storeAt(t.collector, reports, at);
    t.clock.set(at + 41 * DAY + HOUR);
    const since = new Date(at - 10 * 60_000).toISOString();
    const count = async () =>
      (await get(`/v1/groups?since=${since}&status=all`)).body.groups[0]?.count ?? 0;
    expect(await count()).toBe(300);

    const stop = new AbortController();
    const run = runExpiry(t.collector, { chunkSize: 50, signal: stop.signal });
    while (countReports(t.collector.db) > 200) await new Promise((r) => setImmediate(r));
    stop.abort();
    await expect(run).rejects.toThrow();
    const left = countReports(t.collector.db);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(300);
    // Deleted reports stay counted, as every expired report does (the run had marked the hour
    // only once all its chunks were done, so the stopped run's deletions counted as nothing).
    expect(await count()).toBe(300);
    const finished = await runExpiry(t.collector);
    expect(countReports(t.collector.db)).toBe(0);
    expect(await count()).toBe(300);
    // The stopped run wrote no receipt: the next one's counts its deletions too, so that every
    // report the job deleted is on a receipt (it said only the rest).
    expect(finished.deletedReports).toBe(300);
    const receipts = t.collector.db
      .prepare('SELECT deleted_reports FROM expiry_runs')
      .pluck()
      .all();
    expect(receipts).toEqual([300]);
    const audit = await request(t.app).get('/v1/audit?limit=5').set('Authorization', as('admin'));
    const receipt = (audit.body.entries as { action: string; outcome: string }[]).find(
      (e) => e.action === 'expire',
    );
    expect(receipt?.outcome).toMatch(/^ok deleted=300 /);
    // and the count starts afresh for the run after
    expect((await runExpiry(t.collector)).deletedReports).toBe(0);
  });

  it('a run stopped after shredding keys leaves them to the next receipt, each counted once', async () => {
    storeAt(t.collector, [makeReport()], Date.parse('2026-09-01T10:00:00Z'));
    storeAt(t.collector, [makeReport()], Date.parse('2026-09-02T10:00:00Z'));
    storeAt(t.collector, [makeReport()], Date.parse('2026-09-03T10:00:00Z'));
    t.clock.set('2026-10-14T00:30:00Z');
    // Stopped (as a kill would) just after shredding its first key, before its receipt.
    const keyring = t.collector.keyring;
    const destroy = keyring.destroyDayKey.bind(keyring);
    keyring.destroyDayKey = async (day: string) => {
      await destroy(day);
      throw new Error('killed');
    };
    await expect(runExpiry(t.collector)).rejects.toThrow('killed');
    keyring.destroyDayKey = destroy;
    expect(keyring.listDayKeys()).toEqual(['2026-09-02', '2026-09-03']);
    expect(t.collector.db.prepare('SELECT COUNT(*) FROM expiry_runs').pluck().get()).toBe(0);
    // The next run shreds the second and counts the first too; the third is not due yet.
    const s = await runExpiry(t.collector);
    expect(s).toMatchObject({ deletedReports: 2, destroyedKeys: 2 });
    expect(keyring.listDayKeys()).toEqual(['2026-09-03']);
    const receipt = t.collector.audit.list({ limit: 5 }).find((e) => e.action === 'expire')!;
    expect(receipt.outcome).toMatch(/^ok deleted=2 keys=2 /);
    expect((await runExpiry(t.collector)).destroyedKeys).toBe(0);
    t.clock.set('2026-10-15T00:30:00Z');
    expect(await runExpiry(t.collector)).toMatchObject({ deletedReports: 1, destroyedKeys: 1 });
  });

  it('one stopped before it deleted anything leaves the window edges counted to the minute', async () => {
    // Reports at 10:05 and 10:50; from 10:30, one. A run judged from the future and stopped at
    // once must not make every window's edge hours count whole until that future comes.
    storeAt(t.collector, [makeReport()], T0 + 5 * 60_000);
    storeAt(t.collector, [makeReport()], T0 + 50 * 60_000);
    t.clock.set(T0 + 2 * HOUR);
    const since = new Date(T0 + 30 * 60_000).toISOString();
    const count = async () => (await get(`/v1/groups?since=${since}`)).body.groups[0].count;
    expect(await count()).toBe(1);
    const stop = new AbortController();
    stop.abort();
    await expect(
      runExpiry(t.collector, { now: T0 + 60 * DAY, signal: stop.signal }),
    ).rejects.toThrow();
    expect(countReports(t.collector.db)).toBe(2);
    expect(await count()).toBe(1);
  });
});

describe('POST /v1/expire', () => {
  it('a dry run deletes nothing and writes no expiry run, only an access-log entry', async () => {
    const { a } = await seed();
    t.clock.set(T0 + 50 * DAY);
    const runs = () => t.collector.db.prepare('SELECT COUNT(*) AS n FROM expiry_runs').get();
    const viaQuery = (await expire('?dryRun=1')).body;
    const viaBody = (await expire('', { dryRun: true })).body;
    // Where the two disagree, the safe reading: a dry run.
    const disagreeing = (await expire('?dryRun=1', { dryRun: false })).body;
    for (const s of [viaQuery, viaBody, disagreeing]) {
      expect(s).toMatchObject({ deletedReports: 3, destroyedKeys: 2, dryRun: true });
    }
    expect(countReports(t.collector.db)).toBe(3);
    expect(t.collector.keyring.listDayKeys()).toEqual(['2026-09-01', '2026-09-06']);
    expect(runs()).toEqual({ n: 0 });
    const entries = t.collector.audit.list({ limit: 10 });
    expect(entries.filter((e) => e.action === 'expire.dry-run')).toHaveLength(3);
    expect(entries.some((e) => e.action === 'expire')).toBe(false);
    // Reads still hide them: a dry run does not make expired reports readable.
    await get(`/v1/reports/${a.id}`, 404);
  });

  it("says in the receipt the moment a run was judged at, where it is not the clock's", async () => {
    const outcome = (action: string) =>
      t.collector.audit.list({ limit: 10 }).find((e) => e.action === action)!.outcome;
    const ahead = T0 + 43 * DAY;
    await runExpiry(t.collector, { now: ahead, dryRun: true });
    expect(outcome('expire.dry-run')).toMatch(/ judgedAt=2026-10-14T10:00:00\.000Z$/);
    await runExpiry(t.collector, { now: ahead });
    expect(outcome('expire')).toMatch(/ auditPruned=0 judgedAt=2026-10-14T10:00:00\.000Z$/);
    // The clock's moment, to the minute (a cron line's `--now "$(date -u +%FT%TZ)"`): not said.
    await runExpiry(t.collector, { now: T0 + 30_000 });
    expect(outcome('expire')).toMatch(/ auditPruned=0$/);
  });

  it('writes a receipt: an expiry run and an access-log entry without personal data', async () => {
    const { a } = await seed();
    t.clock.set(Date.parse('2026-10-20T02:30:00Z'));
    const s = (await expire()).body;
    const receipt = t.collector.audit.list({ limit: 10 }).find((e) => e.action === 'expire')!;
    expect(receipt).toMatchObject({ actor: 'root', target: null });
    expect(receipt.outcome).toBe(
      `ok deleted=3 keys=2 cutoff=2026-09-09T02:30:00.000Z durationMs=${s.durationMs} auditPruned=0`,
    );
    expect(JSON.stringify(t.collector.audit.list({ limit: 10 }))).not.toContain(a.id);
    expect(t.collector.db.prepare('SELECT * FROM expiry_runs').all()).toEqual([
      {
        seq: 1,
        at: Date.parse('2026-10-20T02:30:00Z'),
        cutoff: Date.parse('2026-09-09T02:30:00Z'),
        deleted_reports: 3,
        destroyed_keys: 2,
        duration_ms: s.durationMs,
      },
    ]);
  });

  it('is for admins only, and refuses a bad request', async () => {
    await request(t.app).post('/v1/expire').expect(401);
    await request(t.app).post('/v1/expire').set('Authorization', as('engineer')).expect(403);
    const bad = async (req: request.Test) =>
      (await req.set('Authorization', as('admin')).expect(400)).body.error.code;
    expect(await bad(request(t.app).post('/v1/expire?dryRun=maybe'))).toBe('invalid_request');
    expect(await bad(request(t.app).post('/v1/expire?force=1'))).toBe('invalid_request');
    expect(await bad(request(t.app).post('/v1/expire').send({ dryRun: 'yes' }))).toBe(
      'invalid_request',
    );
    expect(await bad(request(t.app).post('/v1/expire').send({ everything: true }))).toBe(
      'invalid_request',
    );
    expect(
      await bad(
        request(t.app).post('/v1/expire').set('Content-Type', 'application/json').send('{'),
      ),
    ).toBe('invalid_request');
    // A dry run and a real one at once: which was meant is not for the server to guess.
    expect(
      await bad(
        request(t.app)
          .post('/v1/expire')
          .set('Content-Type', 'application/json')
          .send('{"dryRun": true, "dryRun": false}'),
      ),
    ).toBe('invalid_request');
    expect(t.collector.db.prepare('SELECT COUNT(*) AS n FROM expiry_runs').get()).toEqual({
      n: 0,
    });
  });
});

describe('GET /v1/status', () => {
  const status = async () =>
    (await request(t.app).get('/v1/status').set('Authorization', as('admin')).expect(200)).body;

  it('is not compliant before the first run, compliant after it', async () => {
    await seed();
    expect(await status()).toEqual({
      retentionDays: 42,
      reports: 3,
      oldestReceivedAt: '2026-09-01T10:00:00.000Z',
      lastExpiry: null,
      compliant: false,
    });
    await expire();
    expect(await status()).toEqual({
      retentionDays: 42,
      reports: 3,
      oldestReceivedAt: '2026-09-01T10:00:00.000Z',
      lastExpiry: { at: '2026-09-06T10:00:00.000Z', deletedReports: 0, destroyedKeys: 0 },
      compliant: true,
    });
  });

  it('is not compliant when the job has not run for 36 hours', async () => {
    await expire();
    t.clock.advance(36 * HOUR - 1);
    expect((await status()).compliant).toBe(true);
    t.clock.advance(1); // exactly 36 hours: it has not run for 36 hours
    expect((await status()).compliant).toBe(false);
    await expire();
    expect((await status()).compliant).toBe(true);
  });

  it('is not compliant while anything stored is past the retention', async () => {
    await seed();
    t.clock.set(Date.parse('2026-10-12T10:30:00Z'));
    await expire(); // cut-off 2026-09-01T10:30: deletes the first report only
    expect(await status()).toMatchObject({
      reports: 2,
      oldestReceivedAt: '2026-09-01T11:00:00.000Z',
      compliant: true,
    });
    // Two hours later, with the job run recently: the second report is past 42 days.
    t.clock.set(Date.parse('2026-10-13T11:00:00Z'));
    expect((await status()).compliant).toBe(false);
    await expire();
    expect(await status()).toMatchObject({ reports: 1, compliant: true });
  });

  it('is not compliant while a day key past the retention is left', async () => {
    t.clock.set(Date.parse('2026-10-20T00:00:00Z'));
    await expire();
    expect((await status()).compliant).toBe(true);
    t.collector.keyring.dayKey('2026-09-01', true); // e.g. a keys folder restored from a backup
    expect((await status()).compliant).toBe(false);
    expect((await expire()).body.destroyedKeys).toBe(1);
    expect((await status()).compliant).toBe(true);
  });

  it('is for admins only, and every read is in the access log', async () => {
    await request(t.app).get('/v1/status').expect(401);
    await request(t.app).get('/v1/status').set('Authorization', as('engineer')).expect(403);
    const bad = await request(t.app)
      .get('/v1/status?x=1')
      .set('Authorization', as('admin'))
      .expect(400);
    expect(bad.body.error.details).toEqual([
      { path: 'x', message: 'is not a parameter of this route (it takes none)' },
    ]);
    await status();
    const actions = t.collector.audit.list({ limit: 10 }).map((e) => [e.action, e.outcome]);
    expect(actions).toContainEqual(['status.get', 'ok']);
    expect(actions).toContainEqual(['status.get', 'invalid_request']);
  });
});

describe('compliance', () => {
  it('a run judged at most a minute behind the clock counts; one further behind does not', async () => {
    const lastExpiry = async () =>
      (await request(t.app).get('/v1/status').set('Authorization', as('admin')).expect(200)).body
        .lastExpiry;
    // 90 s, not 61: the allowance also covers the run's own duration, which a slow machine adds.
    await runExpiry(t.collector, { now: t.clock() - 90_000 });
    expect(await lastExpiry()).toBeNull();
    await runExpiry(t.collector, { now: t.clock() - 60_000 });
    expect(await lastExpiry()).not.toBeNull();
  });

  it('a run judged from the past (--now before the clock) does not count as the job having run', async () => {
    await runExpiry(t.collector, { now: T0 - 400 * DAY });
    const past = (
      await request(t.app).get('/v1/status').set('Authorization', as('admin')).expect(200)
    ).body;
    expect(past).toMatchObject({ lastExpiry: null, compliant: false });
    // A --now written to the second by a cron line (`date -u +%FT%TZ`), the run starting later.
    await runExpiry(t.collector, { now: Math.floor(t.clock() / 1000) * 1000 - 2_000 });
    const toTheSecond = (
      await request(t.app).get('/v1/status').set('Authorization', as('admin')).expect(200)
    ).body;
    expect(toTheSecond).toMatchObject({ compliant: true });
    await runExpiry(t.collector);
    const now = (
      await request(t.app).get('/v1/status').set('Authorization', as('admin')).expect(200)
    ).body;
    expect(now).toMatchObject({ compliant: true });
    expect(now.lastExpiry).not.toBeNull();
  });
});
