/**
 * Erasure against a model: reports of random users (some without one, some with an empty one),
 * licences, versions and groups over some 45 days, received out of order, then a random run of
 * erasures by username or licence, expiry runs, new reports and retries. After every step the
 * collector is checked against a plain recount of what must survive (docs/api.md, docs/security.md
 * "Erasure", docs/retention.md):
 *
 * - `erasedReports` is the number of the subject's reports still stored; `deletedReports` of a run
 *   the number received at or before its cut-off;
 * - GET /v1/groups (status=all, with and without `version`, windows inside the retention that start
 *   and end anywhere): `count`, `daily` and `versions` keep every occurrence ever stored (erased
 *   and expired reports' too: anonymous counts stay), `users` and `licences` are the distinct
 *   usernames and licences of the surviving reports in the window, exact to the millisecond (a
 *   report without a username, or with an empty one, counts no user), on the day the job's
 *   cut-off has reached too (its subject rows are gone; its surviving reports are read); never
 *   more than `count`; `description` is the newest surviving report's;
 * - GET /v1/reports/:id answers 200 exactly for the reports still stored and younger than 42 days,
 *   GET /v1/groups/:id/reports lists exactly those of the group, newest first;
 * - in the database: the reports rows are exactly the survivors, and group_subjects holds, for
 *   every day from the horizon on, exactly the pseudonyms (username hashes, licences) the day's
 *   surviving reports carry per group and version: after an erasure none of the subject's and none
 *   that only the erased reports had brought, but every one another report still carries;
 * - an SDK retry of an erased report is answered 200 and not stored again while its id is kept;
 *   GET /v1/groups/:id over a window gives the same figures and its newest survivors as `latest`.
 *
 * Replay a seed: XSEED=7 npx jest packages/collector/test/erase-model.test.ts
 */
import crypto from 'node:crypto';
import http from 'node:http';
import request from 'supertest';
import type { Report } from '@jcs/protocol';
import { createApp, openCollector } from '@jcs/collector';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { mulberry32 } from '../../../test-support/random';
import { periodStarts } from '../../../test-support/daily-periods';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';
import { runExpiry } from '../src/retention/expire';
import { subjectsFrom } from '../src/store/subject-days';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The first day of the data set, 00:00 UTC. */
const T0 = Date.parse('2026-09-01T00:00:00Z');
const RETENTION = 42 * DAY;

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): (n: number) => number {
  const next = mulberry32(seed);
  return (n) => Math.floor(next() * n);
}

const USERS = ['ann', 'bob', 'cy', 'dee', 'Ann', 'eve', 'fay'];
const LICENCES = ['JCS-1', 'JCS-2', 'JCS-3', 'JCS-4', 'JCS-5'];
const VERSIONS = ['5.1', '5.2', '5.10'];
const PROCEDURES = ['LoadClient', 'SaveClient', 'PrintInvoice'];

/** What the model knows of a report sent. */
interface Sent {
  id: string;
  report: Report;
  group: string;
  at: number;
  version: string;
  username?: string;
  license: string;
  n: number;
  description: string;
  /** gone from the database: erased, or deleted by an expiry run */
  erased: boolean;
  expired: boolean;
}

const stored = (s: Sent) => !s.erased && !s.expired;
const day = (ms: number) => Math.floor(ms / DAY);

/** Dotted numbers, compared part by part, newest first. */
function newestFirst(versions: Iterable<string>): string[] {
  const cmp = (a: string, b: string) => {
    const pa = a.split('.').map(Number);
    const pb = b.split('.').map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
      const d = (pa[i] ?? 0) - (pb[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  };
  return [...versions].sort((a, b) => cmp(b, a));
}

class Model {
  readonly sent: Sent[] = [];
  /** the newest cut-off any run deleted up to (0: none yet) */
  expiredThrough = 0;
  /** from when on every expired report left its occurrences (undefined: no run yet) */
  keptFrom: number | undefined;

  constructor(
    private readonly t: TestCollector,
    readonly pick: (n: number) => number,
  ) {}

  /** The first UTC day whose subject rows count: the day after the newest run's cut-off. */
  get horizon(): number {
    return this.expiredThrough === 0 ? 0 : day(this.expiredThrough) + 1;
  }

  /** A random report; its username: a name, none, or empty. */
  makeOne(): Report {
    const pick = this.pick;
    const u = pick(10);
    const username = u === 0 ? undefined : u === 1 ? '' : USERS[pick(USERS.length)];
    return makeReport({
      app: { name: 'JCS', version: VERSIONS[pick(VERSIONS.length)] },
      ...(username === undefined ? { username: undefined } : { username }),
      license: LICENCES[pick(LICENCES.length)],
      repeats: pick(4) === 0 ? pick(5) : undefined,
      error: {
        number: pick(2) === 0 ? 91 : 13,
        procedure: PROCEDURES[pick(PROCEDURES.length)],
        description: `d-${crypto.randomUUID()}`,
        line: 1 + pick(3),
      },
    });
  }

  /** Stores reports at the given moments, in one batch (in order of receipt, as a batch is). */
  store(items: { report: Report; at: number }[]): Sent[] {
    const c = this.t.collector;
    const writer = new IngestWriter(c.db);
    try {
      const sorted = [...items].sort((a, b) => a.at - b.at);
      const prepared = sorted.map(({ report, at }) => prepareReport(report, c.keyring, at));
      // Committed without an fsync of its own: durability is not what this test is about.
      const results = writer.write(prepared, false);
      return sorted.map(({ report, at }, i) => {
        expect(results[i]).toEqual({ id: report.id, group: prepared[i].groupId, created: true });
        return this.add(report, prepared[i].groupId, at);
      });
    } finally {
      writer.close();
    }
  }

  add(report: Report, group: string, at: number): Sent {
    const s: Sent = {
      id: report.id,
      report,
      group,
      at,
      version: report.app.version,
      username: report.username,
      license: report.license,
      n: 1 + (report.repeats ?? 0),
      description: report.error.description,
      erased: false,
      expired: false,
    };
    this.sent.push(s);
    return s;
  }

  /** A moment in [from, to], now and then one some report was already received at. */
  moment(from: number, to: number): number {
    const same = this.sent.filter((s) => s.at >= from && s.at <= to);
    if (same.length > 0 && this.pick(5) === 0) return same[this.pick(same.length)].at;
    return from + this.pick(to - from + 1);
  }
}

/** One server for all the requests of a run (supertest would start one per request). */
let server: http.Server;

/** What a run went through, so that a change of the generator cannot quietly narrow it. */
interface Reach {
  erased: number;
  /** erasures of a username seen on several licences, of a licence seen with several users */
  userOnLicences: number;
  licenceOfUsers: number;
  /** erasures that found reports of a day the job's cut-off had reached */
  pastHorizon: number;
  expiries: number;
  retries: number;
}

async function simulate(seed: number): Promise<Reach> {
  const t = makeTestCollector({ clock: testClock(T0 + 45 * DAY + 7 * HOUR + 13 * 60_000) });
  server = http.createServer(t.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const m = new Model(t, random(seed));
    const pick = m.pick;
    const as = (token: string) => ({
      get: (url: string) => request(server).get(url).set('Authorization', `Bearer ${token}`),
      post: (url: string, body: object) =>
        request(server).post(url).set('Authorization', `Bearer ${token}`).send(body),
    });
    const admin = as(t.tokens.admin);
    const ingest = as(t.tokens.ingest);

    // 45 days of reports, in batches whose times are not in order between them.
    for (let i = 0; i < 16; i++) {
      const items = Array.from({ length: 1 + pick(36) }, () => ({
        report: m.makeOne(),
        at: m.moment(T0, t.clock()),
      }));
      m.store(items);
    }
    await check(t, m, 'initial', [], true);

    const reach: Reach = {
      erased: 0,
      userOnLicences: 0,
      licenceOfUsers: 0,
      pastHorizon: 0,
      expiries: 0,
      retries: 0,
    };
    for (let step = 0; step < 30; step++) {
      if (pick(3) > 0) t.clock.advance(pick(30) * HOUR + pick(HOUR));
      const now = t.clock();
      const roll = pick(12);
      let what: string;
      let touched: Sent[] = [];
      if (roll < 5) {
        // An erasure: a username (often on several licences), a licence (often of several
        // users), or a subject with no report at all, over HTTP as an admin.
        const byUser = pick(2) === 0;
        const value = byUser
          ? [...USERS, 'nobody'][pick(USERS.length + 1)]
          : [...LICENCES, 'JCS-404'][pick(LICENCES.length + 1)];
        const theirs = (s: Sent) => (byUser ? s.username === value : s.license === value);
        touched = m.sent.filter((s) => stored(s) && theirs(s));
        const res = await admin.post(
          '/v1/erase',
          byUser ? { username: value } : { license: value },
        );
        what = `erase ${byUser ? 'username' : 'license'} ${value}`;
        expect({ what, status: res.status, body: res.body }).toEqual({
          what,
          status: 200,
          body: { erasedReports: touched.length },
        });
        for (const s of touched) s.erased = true;
        reach.erased += touched.length;
        const others = new Set(touched.map((s) => (byUser ? s.license : s.username || '')));
        if (byUser && others.size > 1) reach.userOnLicences++;
        if (!byUser && others.size > 2) reach.licenceOfUsers++;
        if (touched.some((s) => day(s.at) < m.horizon)) reach.pastHorizon++;
        // None of the subject's pseudonyms or reports is left, whatever the day.
        const db = t.collector.db;
        const subject = byUser ? t.collector.keyring.userHash(value) : value;
        expect({
          what,
          subjectRows: db
            .prepare('SELECT COUNT(*) FROM group_subjects WHERE kind = ? AND subject = ?')
            .pluck()
            .get(byUser ? 0 : 1, subject),
          reportRows: db
            .prepare(`SELECT COUNT(*) FROM reports WHERE ${byUser ? 'user_hash' : 'license'} = ?`)
            .pluck()
            .get(subject),
        }).toEqual({ what, subjectRows: 0, reportRows: 0 });
      } else if (roll < 7) {
        // The job, judged at the clock: everything received at or before now - 41 days goes.
        const cutoff = now - 41 * DAY;
        touched = m.sent.filter((s) => stored(s) && s.at <= cutoff);
        const summary =
          pick(2) === 0
            ? await runExpiry(t.collector)
            : (await admin.post('/v1/expire', {}).expect(200)).body;
        what = `expire at ${new Date(now).toISOString()}`;
        expect({ what, cutoff: summary.cutoff, deleted: summary.deletedReports }).toEqual({
          what,
          cutoff: new Date(cutoff).toISOString(),
          deleted: touched.length,
        });
        for (const s of touched) s.expired = true;
        reach.expiries++;
        // Each run keeps the occurrences of what it deletes from the retention's edge on.
        m.keptFrom = Math.max(m.keptFrom ?? m.expiredThrough + 1, cutoff - DAY);
        m.expiredThrough = Math.max(m.expiredThrough, cutoff);
      } else if (roll < 10) {
        // New reports: a few over HTTP, received now; a batch in the last days, some (a restored
        // backlog) in the days the job's cut-off is about to reach, some at the same millisecond.
        for (let i = pick(3); i > 0; i--) {
          const report = m.makeOne();
          const res = await ingest.post('/v1/reports', report).expect(202);
          touched.push(m.add(report, res.body.group, now));
        }
        const oldest = Math.max(m.expiredThrough + 1, now - 41 * DAY + HOUR);
        const items = Array.from({ length: pick(10) }, () => {
          const at =
            pick(6) === 0
              ? m.moment(oldest, Math.min(now, oldest + 2 * DAY))
              : m.moment(now - 3 * DAY, now);
          return { report: m.makeOne(), at };
        });
        if (items.length > 0) touched.push(...m.store(items));
        what = `store ${touched.length}`;
      } else {
        // An SDK retry of an erased report whose first answer was lost: answered 200 as stored
        // before, and not stored again, until its day expires (docs/security.md): while the job
        // has not deleted up to it. Over HTTP, received now, often days after the report.
        const retry = m.sent.filter((s) => s.erased && s.at > m.expiredThrough);
        what = 'retry';
        if (retry.length > 0) {
          const s = retry[pick(retry.length)];
          const res = await ingest.post('/v1/reports', s.report);
          what = `retry ${s.id}`;
          reach.retries++;
          expect({ what, status: res.status, body: res.body }).toEqual({
            what,
            status: 200,
            body: { id: s.id, group: s.group },
          });
        }
      }
      await check(t, m, `step ${step}: ${what}`, touched, step % 10 === 9);
    }
    return reach;
  } finally {
    await new Promise((resolve) => server.close(resolve));
    t.close();
  }
}

interface GroupJson {
  id: string;
  description: string | null;
  count: number;
  users: number;
  licences: number;
  versions: string[];
  daily: number[];
}

/**
 * What GET /v1/groups must answer for a window [since, until] (until included), recounted.
 *
 * count, daily, versions: every occurrence received in the window, erased or expired (anonymous
 * counts stay), exact to the millisecond; except that an edge whose partial hour the job's cut-off
 * has reached, before the moment from which it kept the occurrences of what it deleted, counts
 * that hour whole (docs/api.md, docs/retention.md).
 *
 * users, licences: distinct over the reports still stored that were received in the window, the
 * day before the horizon too (its subject rows went with the job's cut-off, its later reports are
 * read instead); never more than count.
 */
function recount(m: Model, since: number, until: number, version?: string) {
  const end = until + 1;
  const [lo, hi] = countedSpan(m, since, end);
  // daily: a period's count is the difference of the counts of the windows from `since` to its
  // end and to its start, each window's edges read as above.
  const starts = periodStarts(since, end);
  const spans = starts.map((start) => countedSpan(m, since, start));
  const groups = new Map<
    string,
    {
      count: number;
      daily: number[];
      byDay: number[];
      versions: Set<string>;
      users: Set<string>;
      licences: Set<string>;
    }
  >();
  for (const s of m.sent) {
    if (version !== undefined && s.version !== version) continue;
    let g = groups.get(s.group);
    if (!g) {
      g = {
        count: 0,
        daily: new Array<number>(starts.length + 1).fill(0),
        byDay: new Array<number>(day(end - 1) - day(since) + 1).fill(0),
        versions: new Set(),
        users: new Set(),
        licences: new Set(),
      };
      groups.set(s.group, g);
    }
    if (s.at >= lo && s.at < hi) {
      g.count += s.n;
      g.byDay[day(s.at) - day(since)] += s.n;
      g.versions.add(s.version);
      // the running total at each period's start, then the differences below
      g.daily[starts.length] += s.n;
      spans.forEach(([a, b], k) => {
        if (s.at >= a && s.at < b) g.daily[k] += s.n;
      });
    }
    if (stored(s) && s.at >= since && s.at < end) {
      if (s.username) g.users.add(s.username);
      g.licences.add(s.license);
    }
  }
  const out = new Map<string, Omit<GroupJson, 'id' | 'description'> & { byDay: number[] }>();
  for (const [id, g] of groups) {
    out.set(id, {
      count: g.count,
      users: Math.min(g.users.size, g.count),
      licences: Math.min(g.licences.size, g.count),
      versions: newestFirst(g.versions),
      daily: g.daily.map((total, k) => total - (k === 0 ? 0 : g.daily[k - 1])),
      byDay: g.byDay,
    });
  }
  return out;
}

/**
 * The span of receipt times whose occurrences a window [since, end) counts: itself, but for an
 * edge whose partial hour the job's cut-off has reached, before the moment from which it kept the
 * occurrences of what it deleted, which counts that hour whole.
 */
function countedSpan(m: Model, since: number, end: number): [number, number] {
  const et = m.expiredThrough;
  let lo = since;
  let hi = end;
  const firstHour = Math.ceil(since / HOUR);
  const endHour = Math.floor(end / HOUR);
  const kept = m.keptFrom ?? et + 1;
  const whole = (from: number) => from <= et && from < kept;
  if (firstHour > endHour) {
    if (whole(since)) [lo, hi] = [endHour * HOUR, (endHour + 1) * HOUR];
  } else {
    if (since % HOUR !== 0 && whole(since)) lo = Math.floor(since / HOUR) * HOUR;
    if (end % HOUR !== 0 && whole(Math.max(since, endHour * HOUR))) hi = (endHour + 1) * HOUR;
  }
  return [lo, hi];
}

/** The descriptions a group may show: its newest surviving reports' (ties: any), or null. */
function descriptions(m: Model, group: string, now: number): (string | null)[] {
  const alive = m.sent.filter((s) => s.group === group && stored(s) && s.at > now - RETENTION);
  if (alive.length === 0) return [null];
  const newest = Math.max(...alive.map((s) => s.at));
  return alive.filter((s) => s.at === newest).map((s) => s.description);
}

/**
 * Checks the collector against the model; `touched`: the reports this step erased, expired or
 * stored, whose groups' report lists and reports are read over HTTP.
 */
async function check(
  t: TestCollector,
  m: Model,
  context: string,
  touched: Sent[],
  thorough: boolean,
): Promise<void> {
  const now = t.clock();
  const db = t.collector.db;
  const pick = m.pick;
  const get = (url: string) =>
    request(server).get(url).set('Authorization', `Bearer ${t.tokens.engineer}`).expect(200);
  const visible = (s: Sent) => stored(s) && s.at > now - RETENTION;

  // The database holds exactly the survivors.
  const rows = (db.prepare('SELECT id FROM reports').pluck().all() as string[]).sort();
  const survivors = m.sent.filter(stored);
  expect({ context, rows }).toEqual({ context, rows: survivors.map((s) => s.id).sort() });

  // The pseudonyms, from the horizon on: exactly those the surviving reports carry, per group,
  // day and version (none that only erased reports had brought, every one a survivor carries).
  expect({ context, horizon: subjectsFrom(db) }).toEqual({ context, horizon: m.horizon });
  const hash = new Map(USERS.map((u) => [u, t.collector.keyring.userHash(u).toString('hex')]));
  const want: string[] = [];
  for (const s of survivors) {
    if (day(s.at) < m.horizon) continue;
    const at = `${s.group} ${day(s.at)} ${s.version}`;
    if (s.username) want.push(`${at} user ${s.username}`);
    want.push(`${at} licence ${s.license}`);
  }
  const name = new Map([...hash].map(([u, h]) => [h, u]));
  const have = (
    db
      .prepare('SELECT group_id, day, version, kind, subject FROM group_subjects WHERE day >= ?')
      .raw()
      .all(m.horizon) as [string, number, string, number, Buffer | string][]
  ).map(([group, d, version, kind, subject]) => {
    const who = Buffer.isBuffer(subject) ? subject.toString('hex') : subject;
    return `${group} ${d} ${version} ${kind === 0 ? 'user' : 'licence'} ${name.get(who) ?? who}`;
  });
  expect({ context, subjects: have.sort() }).toEqual({
    context,
    subjects: [...new Set(want)].sort(),
  });

  // Each report: readable, as sent, exactly while stored and younger than 42 days (all of them
  // now and then; else those the step touched and a sample).
  const wrong: unknown[] = [];
  const sample = thorough
    ? m.sent
    : [...touched, ...Array.from({ length: 25 }, () => m.sent[pick(m.sent.length)])];
  for (const s of sample) {
    const found = t.collector.reports.full(s.id, false);
    const got = found && [found.error.description, found.username, found.license];
    const expected = visible(s) ? [s.description, s.username, s.license] : null;
    if (JSON.stringify(got) !== JSON.stringify(expected)) wrong.push({ id: s.id, got, expected });
  }
  expect({ context, wrong }).toEqual({ context, wrong: [] });
  const s = touched.length > 0 ? touched[pick(touched.length)] : m.sent[pick(m.sent.length)];
  const res = await request(server)
    .get(`/v1/reports/${s.id}`)
    .set('Authorization', `Bearer ${t.tokens.engineer}`);
  expect({ context, id: s.id, status: res.status }).toEqual({
    context,
    id: s.id,
    status: visible(s) ? 200 : 404,
  });

  // The touched groups' report lists (all now and then): their visible survivors, newest first.
  const groups = [...new Set(m.sent.map((s) => s.group))];
  const touchedGroups = [...new Set(touched.map((s) => s.group))];
  for (const group of thorough ? groups : touchedGroups.slice(0, 2)) {
    const list = (await get(`/v1/groups/${group}/reports?limit=500`)).body.reports as {
      id: string;
      receivedAt: string;
    }[];
    const expected = m.sent.filter((s) => s.group === group && visible(s)).map((s) => s.id);
    expect({ context, group, ids: list.map((r) => r.id).sort() }).toEqual({
      context,
      group,
      ids: expected.sort(),
    });
    const times = list.map((r) => Date.parse(r.receivedAt));
    expect(times).toEqual([...times].sort((x, y) => y - x));
  }

  // GET /v1/groups over windows inside the retention: the whole of it, and a few others that
  // start and end anywhere, on midnight, within an hour, across days.
  const oldest = now - RETENTION + 1;
  const since = oldest + pick(RETENTION - DAY);
  const midnight = (day(since) + 1) * DAY;
  const windows: [number, number][] = [
    [oldest, now],
    [
      [oldest + pick(2 * DAY), now - pick(3 * DAY)],
      [midnight - 1 - pick(3) * DAY, midnight + pick(3) * DAY],
      [midnight - DAY, midnight + 3 * DAY - 1],
      [since, since + pick(2 * HOUR)],
      [since, since + 1 + pick(8 * DAY)],
    ][pick(5)] as [number, number],
  ];
  for (const [s0, u0] of windows) {
    const from = Math.max(s0, oldest);
    const until = Math.min(Math.max(u0, from + 1), now);
    const window = { since: new Date(from).toISOString(), until: new Date(until).toISOString() };
    for (const version of pick(3) === 0 ? [undefined, VERSIONS[pick(3)]] : [undefined]) {
      const sort = pick(2) === 0 ? 'count' : 'users';
      const q = new URLSearchParams({
        status: 'all',
        limit: '500',
        sort,
        ...window,
        ...(version ? { version } : {}),
      });
      const listed = (await get(`/v1/groups?${q}`)).body.groups as GroupJson[];
      const key = { context, ...window, version };
      const got = Object.fromEntries(
        listed.map(({ id, count, users, licences, versions, daily }) => [
          id,
          { count, users, licences, versions, daily },
        ]),
      );
      // Only groups with an occurrence in the window are listed.
      const expected = [...recount(m, from, until, version)]
        .filter(([, g]) => g.count > 0)
        .map(([id, { byDay: _byDay, ...g }]) => [id, g] as const);
      expect({ ...key, groups: got }).toEqual({ ...key, groups: Object.fromEntries(expected) });
      // Sorted as docs/api.md says: users, then count, largest first; ties by id.
      const order = expected
        .sort(
          ([a, x], [b, y]) =>
            (sort === 'users' ? y.users - x.users : 0) || y.count - x.count || a.localeCompare(b),
        )
        .map(([id]) => id);
      expect({ ...key, sort, order: listed.map((g) => g.id) }).toEqual({ ...key, sort, order });
      for (const g of listed) {
        const allowed = descriptions(m, g.id, now);
        expect({ ...key, group: g.id, description: g.description }).toEqual({
          ...key,
          group: g.id,
          description: allowed.includes(g.description) ? g.description : allowed[0],
        });
      }
    }
  }

  // One group in detail over the last window: the same figures, and its latest reports: the
  // newest visible survivors in the window (ties at the same millisecond in either order).
  const [s0, u0] = windows[windows.length - 1];
  const from = Math.max(s0, oldest);
  const until = Math.min(Math.max(u0, from + 1), now);
  const known = [...new Set(m.sent.map((s) => s.group))];
  const group = touched.length > 0 ? touched[0].group : known[pick(known.length)];
  const window = { since: new Date(from).toISOString(), until: new Date(until).toISOString() };
  const detail = (await get(`/v1/groups/${group}?${new URLSearchParams(window)}`))
    .body as GroupJson & {
    latest: { id: string; receivedAt: string }[];
    byDay: { count: number }[];
  };
  // A known group with nothing in the window is answered with zero counts.
  const figures = recount(m, from, until).get(group)!;
  const { count, users, licences, versions, daily } = detail;
  const key = { context, group, ...window };
  expect({ ...key, figures: { count, users, licences, versions } }).toEqual({
    ...key,
    figures: {
      count: figures.count,
      users: figures.users,
      licences: figures.licences,
      versions: figures.versions,
    },
  });
  expect({ ...key, daily }).toEqual({ ...key, daily: figures.daily });
  expect({ ...key, byDay: detail.byDay.map((d) => d.count) }).toEqual({
    ...key,
    byDay: figures.byDay,
  });
  const newest = m.sent
    .filter((s) => s.group === group && visible(s) && s.at >= from && s.at <= until)
    .sort((a, b) => b.at - a.at);
  const latest = detail.latest.map((r) => ({ at: Date.parse(r.receivedAt), id: r.id }));
  expect({ ...key, latest: latest.map((r) => r.at) }).toEqual({
    ...key,
    latest: newest.slice(0, 10).map((s) => s.at),
  });
  for (const r of latest) {
    expect({ ...key, id: r.id, at: newest.find((s) => s.id === r.id)?.at }).toEqual({
      ...key,
      id: r.id,
      at: r.at,
    });
  }
}

/** XSEED=7 replays one seed, XSEED=10-40 a range of them. */
function seedsToRun(spec = process.env.XSEED): number[] {
  if (!spec) return [1, 2, 3];
  const [from, to = from] = spec.split('-').map(Number);
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
const seeds = seedsToRun();

describe('erasure against a model of what must survive', () => {
  it.each(seeds)(
    'erases exactly the subject and the pseudonyms only its reports brought (seed %i)',
    async (seed) => {
      const reach = await simulate(seed);
      if (process.env.XSEED) console.log(seed, reach);
      expect({
        erased: reach.erased >= 20,
        userOnLicences: reach.userOnLicences > 0,
        licenceOfUsers: reach.licenceOfUsers > 0,
        expiries: reach.expiries > 0,
      }).toEqual({ erased: true, userOnLicences: true, licenceOfUsers: true, expiries: true });
    },
    60_000,
  );
});

/**
 * Found by an earlier version of the model above (2 of seeds 4-40 failed): docs/security.md,
 * Erasure: "The ids of the erased reports stay known until their day expires, so the same report
 * sent again (an SDK retry whose first answer was lost) is answered 200 as stored before, and not
 * stored again." Ingest looked an id up only under the days storedDays() (store/stored-days.ts)
 * named, taken from MIN/MAX(received_at) of `reports`; an erased report keeps its report_ids row
 * but no reports row, so when its day lay outside that range the retry was answered 202 and the
 * erased report stored again; the id filter (store/id-filter.ts), rebuilt from storedDays() on a
 * new connection, missed it the same way after a restart. Both fail before commit 1cdc86f, which
 * takes the range of days from report_ids instead.
 */
describe('a retry of an erased report', () => {
  const at = Date.parse('2026-11-10T12:00:00Z');
  let t: TestCollector;
  let closed = false;
  beforeEach(() => {
    t = makeTestCollector({ clock: testClock(at) });
    closed = false;
  });
  afterEach(() => {
    if (!closed) t.close();
  });

  const post = (app: Parameters<typeof request>[0], report: Report) =>
    request(app).post('/v1/reports').set('Authorization', `Bearer ${t.tokens.ingest}`).send(report);
  const erase = (username: string) =>
    request(t.app)
      .post('/v1/erase')
      .set('Authorization', `Bearer ${t.tokens.admin}`)
      .send({ username })
      .expect(200);
  const stored = (c: TestCollector['collector']) =>
    c.db.prepare('SELECT COUNT(*) FROM reports').pluck().get();

  it('is not stored again the next day when no older report is stored', async () => {
    const report = makeReport({ username: 'ann' });
    await post(t.app, report).expect(202);
    expect((await erase('ann')).body).toEqual({ erasedReports: 1 });
    t.clock.advance(DAY);
    const res = await post(t.app, report);
    // The bug: 202, and the erased report was back.
    expect({ status: res.status, stored: stored(t.collector) }).toEqual({ status: 200, stored: 0 });
  });

  it('is not stored again after a restart when it was of the newest day', async () => {
    await post(t.app, makeReport({ username: 'bob' })).expect(202);
    t.clock.advance(DAY);
    const report = makeReport({ username: 'ann' });
    await post(t.app, report).expect(202);
    expect((await erase('ann')).body).toEqual({ erasedReports: 1 });
    t.close();
    closed = true;
    const collector = openCollector({ dataDir: t.dataDir, clock: t.clock, env: {} });
    try {
      const res = await post(createApp(collector), report);
      // The bug: 202 (on the same day, even), and the erased report was back.
      expect({ status: res.status, stored: stored(collector) }).toEqual({
        status: 200,
        stored: 1,
      });
    } finally {
      collector.close();
    }
  });
});
