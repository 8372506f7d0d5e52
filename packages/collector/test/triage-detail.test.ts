/**
 * GET /v1/groups/:id checked against a plain recount of the reports stored: count, daily, byDay,
 * byVersion, byLine (each with its order) and latest, for windows that start and end anywhere
 * (mid-hour edges come from the reports, the rest from the hourly and daily aggregates), before
 * and after an erasure.
 */
import request from 'supertest';
import type { Report } from '@jcs/protocol';
import { compareVersions } from '@jcs/protocol';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { seededRandom as random } from '../../../test-support/random';
import { periodCount, periodOf } from '../../../test-support/daily-periods';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The first day of the data set, 00:00 UTC. */
const D0 = Date.parse('2026-11-01T00:00:00Z');
const NOW = D0 + 14 * DAY + 9 * HOUR;

let t: TestCollector;
beforeEach(() => (t = makeTestCollector({ clock: testClock(NOW) })));
afterEach(() => t.close());

interface Stored {
  id: string;
  group: string;
  at: number;
  version: string;
  username?: string;
  line: number;
  n: number;
  repeats: number;
}

const VERSIONS = ['5.1', '5.2', '5.10', '5.2.1'];
const LINES = [0, 12, 120, 7, 2147483647];

/** `count` reports of two groups at random moments of the 12 days from D0, batches out of order. */
function storeRandom(seed: number, count: number): Stored[] {
  const pick = random(seed);
  const writer = new IngestWriter(t.collector.db);
  const stored: Stored[] = [];
  for (let i = 0; i < count; i += 10) {
    const batch = [];
    for (let j = 0; j < 10; j++) {
      const report: Report = makeReport({
        app: { name: 'JCS', version: VERSIONS[pick(VERSIONS.length)] },
        username: pick(5) === 0 ? undefined : `user${pick(6)}`,
        license: `JCS-${pick(6)}`,
        repeats: pick(3) === 0 ? pick(4) : undefined,
        error: { procedure: pick(4) === 0 ? 'SaveClient' : 'LoadClient', line: LINES[pick(5)] },
      });
      const at = D0 + pick(12 * DAY);
      const prepared = prepareReport(report, t.collector.keyring, at);
      batch.push(prepared);
      stored.push({
        id: report.id,
        group: prepared.groupId,
        at,
        version: report.app.version,
        username: report.username,
        line: report.error.line,
        n: 1 + (report.repeats ?? 0),
        repeats: report.repeats ?? 0,
      });
    }
    writer.write(batch.sort((a, b) => a.receivedAt - b.receivedAt));
  }
  return stored;
}

/**
 * What GET /v1/groups/:id must answer for one group and window, recounted from the reports.
 * `until` is inclusive, as the API takes it (docs/api.md).
 */
function recount(stored: Stored[], reports: Stored[], group: string, since: number, last: number) {
  const until = last + 1;
  const first = Math.floor(since / DAY);
  const days = Math.floor((until - 1) / DAY) - first + 1;
  const byDay = new Array<number>(days).fill(0);
  const daily = new Array<number>(periodCount(since, until)).fill(0);
  const byVersion = new Map<string, number>();
  const byLine = new Map<number, number>();
  let count = 0;
  for (const r of stored) {
    if (r.group !== group || r.at < since || r.at >= until) continue;
    count += r.n;
    byDay[Math.floor(r.at / DAY) - first] += r.n;
    daily[periodOf(r.at, since, until)] += r.n;
    byVersion.set(r.version, (byVersion.get(r.version) ?? 0) + r.n);
    byLine.set(r.line, (byLine.get(r.line) ?? 0) + r.n);
  }
  return {
    count,
    daily,
    byDay: byDay.map((n, i) => ({
      day: new Date((first + i) * DAY).toISOString().slice(0, 10),
      count: n,
    })),
    byVersion: [...byVersion]
      .map(([version, n]) => ({ version, count: n }))
      .sort((a, b) => b.count - a.count || compareVersions(b.version, a.version)),
    byLine: [...byLine]
      .map(([line, n]) => ({ line, count: n }))
      .sort((a, b) => b.count - a.count || a.line - b.line),
    versions: [...byVersion.keys()].sort((a, b) => compareVersions(b, a)),
    // Reports stored in one batch at the same millisecond keep their order of storing, newest last.
    latest: reports
      .map((r, i) => ({ r, i }))
      .filter(({ r }) => r.group === group && r.at >= since && r.at < until)
      .sort((a, b) => b.r.at - a.r.at || b.i - a.i)
      .slice(0, 10)
      .map(({ r }) => ({ id: r.id, line: r.line, version: r.version, repeats: r.repeats })),
  };
}

async function detail(group: string, since: number, until: number) {
  const res = await request(t.app)
    .get(`/v1/groups/${group}`)
    .query({ since: new Date(since).toISOString(), until: new Date(until).toISOString() })
    .set('Authorization', `Bearer ${t.tokens.engineer}`)
    .expect(200);
  const g = res.body as {
    count: number;
    daily: number[];
    byDay: unknown[];
    byVersion: unknown[];
    byLine: unknown[];
    versions: string[];
    latest: { id: string; line: number; version: string; repeats: number }[];
  };
  return {
    count: g.count,
    daily: g.daily,
    byDay: g.byDay,
    byVersion: g.byVersion,
    byLine: g.byLine,
    versions: g.versions,
    latest: g.latest.map(({ id, line, version, repeats }) => ({ id, line, version, repeats })),
  };
}

/** Windows with edges anywhere: whole days, mid-hour, inside an hour, across midnight, random. */
function windows(seed: number): [number, number][] {
  const pick = random(seed);
  const out: [number, number][] = [
    [D0, D0 + 12 * DAY],
    [D0 + 3 * DAY + 5 * HOUR + 17 * 60_000, D0 + 9 * DAY + 22 * HOUR + 1],
    [D0 + 5 * DAY + 30 * 60_000, D0 + 5 * DAY + 40 * 60_000],
    [D0 + 2 * DAY - 1, D0 + 2 * DAY + 1],
  ];
  for (let i = 0; i < 10; i++) {
    const since = D0 - DAY + pick(13 * DAY);
    out.push([since, since + 1 + pick(6 * DAY)]);
  }
  return out;
}

describe('GET /v1/groups/:id against a recount', () => {
  it('counts, breakdowns and latest are exact for any window, in the documented order', async () => {
    const stored = storeRandom(21, 400);
    const groups = [...new Set(stored.map((r) => r.group))];
    expect(groups).toHaveLength(2);
    for (const [since, until] of windows(5))
      for (const group of groups)
        expect({ since, until, group, ...(await detail(group, since, until)) }).toEqual({
          since,
          until,
          group,
          ...recount(stored, stored, group, since, until),
        });
  });

  it('after an erasure: the counts stay, the erased reports leave latest', async () => {
    const stored = storeRandom(31, 300);
    await request(t.app)
      .post('/v1/erase')
      .set('Authorization', `Bearer ${t.tokens.admin}`)
      .send({ username: 'user2' })
      .expect(200);
    const left = stored.filter((r) => r.username !== 'user2');
    expect(left.length).toBeLessThan(stored.length);
    const groups = [...new Set(stored.map((r) => r.group))];
    for (const [since, until] of windows(9))
      for (const group of groups)
        expect({ since, until, group, ...(await detail(group, since, until)) }).toEqual({
          since,
          until,
          group,
          ...recount(stored, left, group, since, until),
        });
  });
});
