import request from 'supertest';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let t: TestCollector;
beforeEach(() => (t = makeTestCollector({ clock: testClock('2026-11-20T10:30:00Z') })));
afterEach(() => t.close());

const ingest = (r: object) =>
  request(t.app)
    .post('/v1/reports')
    .set('Authorization', `Bearer ${t.tokens.ingest}`)
    .send(r)
    .expect(202);
const get = (path: string, status = 200) =>
  request(t.app).get(path).set('Authorization', `Bearer ${t.tokens.engineer}`).expect(status);
const patch = (path: string, body: object, status = 200) =>
  request(t.app)
    .patch(path)
    .set('Authorization', `Bearer ${t.tokens.engineer}`)
    .send(body)
    .expect(status);

describe('GET /v1/groups', () => {
  it('groups by app, number, module and procedure; counts occurrences, users and licences in the window', async () => {
    await ingest(makeReport({ username: 'a', license: 'L1', repeats: 2 }));
    await ingest(makeReport({ username: 'b', license: 'L1', error: { line: 130 } }));
    await ingest(makeReport({ username: undefined, license: 'L2' }));
    await ingest(makeReport({ error: { number: 13, description: 'Type mismatch' } }));
    const { body } = await get('/v1/groups');
    expect(body.groups).toHaveLength(2);
    const [top, second] = body.groups;
    expect(top).toMatchObject({
      number: 91,
      module: 'modClients',
      procedure: 'LoadClient',
      count: 5,
      users: 2,
      licences: 2,
    });
    // One count per 24 hours of the 7-day window, the newest ending now.
    expect(top.daily).toEqual([0, 0, 0, 0, 0, 0, 5]);
    expect(second).toMatchObject({ number: 13, count: 1, description: 'Type mismatch' });
    expect(body.window).toEqual({
      since: '2026-11-13T10:30:00.000Z',
      until: '2026-11-20T10:30:00.000Z',
    });
  });

  it('counts only the window, by receipt time, exactly at partial hours', async () => {
    await ingest(makeReport());
    t.clock.advance(3 * DAY + 20 * 60_000);
    await ingest(makeReport());
    await ingest(makeReport({ repeats: 9 }));
    t.clock.advance(40 * 60_000);
    expect((await get('/v1/groups?since=1h')).body.groups[0].count).toBe(11);
    expect((await get('/v1/groups?since=30m')).body.groups).toEqual([]);
    expect((await get('/v1/groups?since=7d')).body.groups[0].count).toBe(12);
    expect(
      (await get('/v1/groups?since=2026-11-20T10:00:00Z&until=2026-11-20T11:00:00Z')).body.groups[0]
        .count,
    ).toBe(1);
  });

  it('counts daily by 24-hour periods on whole hours up to until, not by calendar day', async () => {
    await ingest(makeReport()); // 11-20 10:30, in the 7d window's oldest period
    t.clock.advance(2 * DAY + 29 * 60_000);
    await ingest(makeReport({ repeats: 1 })); // 11-22 10:59: the period ending 11-22 11:00
    t.clock.advance(2 * 60_000);
    await ingest(makeReport({ repeats: 2 })); // 11-22 11:01: the one after
    t.clock.advance(5 * DAY - 46 * 60_000); // now 11-27 10:15
    await ingest(makeReport({ repeats: 3 }));
    const list = (await get('/v1/groups?since=7d')).body;
    // [11-20 10:15, 11-21 11:00), [11-21 11:00, 11-22 11:00), ..., [11-26 11:00, now]: 7, summing
    // to count.
    expect(list.groups[0]).toMatchObject({ count: 10, daily: [1, 2, 3, 0, 0, 0, 4] });
    // 36 hours: 12 h 45 min, then 23 h 15 min.
    const short = (await get('/v1/groups?since=36h')).body.groups[0];
    expect(short).toMatchObject({ count: 4, daily: [0, 4] });
    // Days the window names: 11-20, 11-21, 11-22 (10:59 and 11:01 the same day).
    const days = (await get('/v1/groups?since=2026-11-20&until=2026-11-23')).body.groups[0];
    expect(days).toMatchObject({ count: 6, daily: [1, 0, 5] });
    // byDay stays by UTC calendar day: the 7d window touches 8 of them.
    const detail = (await get(`/v1/groups/${days.id}?since=7d`)).body;
    expect(detail.daily).toEqual([1, 2, 3, 0, 0, 0, 4]);
    expect(detail.byDay.map((d: { count: number }) => d.count)).toEqual([1, 0, 5, 0, 0, 0, 0, 4]);
    expect(detail.byDay[0].day).toBe('2026-11-20');
  });

  it('takes a date alone as until for the whole days before it: the window leaves that day out', async () => {
    await ingest(makeReport());
    t.clock.advance(13.5 * HOUR); // 2026-11-21T00:00:00.000Z exactly
    await ingest(makeReport({ repeats: 4 }));
    const list = (await get('/v1/groups?since=2026-11-20&until=2026-11-21')).body;
    expect(list.groups[0]).toMatchObject({ count: 1, daily: [1] });
    expect(list.window).toEqual({
      since: '2026-11-20T00:00:00.000Z',
      until: '2026-11-21T00:00:00.000Z',
    });
    // The next day's window has the report of its first millisecond, so none counts twice.
    const next = (await get('/v1/groups?since=2026-11-21&until=2026-11-22')).body.groups[0];
    expect(next).toMatchObject({ count: 5, daily: [5] });
    const detail = (await get(`/v1/groups/${next.id}?since=2026-11-20&until=2026-11-21`)).body;
    expect(detail).toMatchObject({ count: 1, byDay: [{ day: '2026-11-20', count: 1 }] });
    expect(detail.latest).toHaveLength(1);
    // A date-time until is in its window, as a duration's is.
    const timed = (await get('/v1/groups?since=2026-11-20T00:00:00Z&until=2026-11-21T00:00:00Z'))
      .body.groups[0];
    // Its one 24-hour period has both.
    expect(timed).toMatchObject({ count: 6, daily: [6] });
    expect((await get('/v1/groups?since=1d')).body.groups[0].count).toBe(6);
  });

  it('filters by version and status, sorts and limits', async () => {
    await ingest(makeReport({ app: { name: 'JCS', version: '5.1' } }));
    t.clock.advance(HOUR);
    for (let i = 0; i < 3; i++)
      await ingest(makeReport({ username: `u${i}`, error: { number: 13 } }));
    t.clock.advance(HOUR);
    await ingest(makeReport({ error: { number: 9 } }));
    const byCount = (await get('/v1/groups')).body.groups.map((g: { number: number }) => g.number);
    expect(byCount[0]).toBe(13);
    expect(byCount.slice(1).sort()).toEqual([9, 91]);
    expect((await get('/v1/groups?sort=last')).body.groups[0].number).toBe(9);
    expect(
      (await get('/v1/groups?sort=first')).body.groups.map((g: { number: number }) => g.number),
    ).toEqual([9, 13, 91]);
    expect((await get('/v1/groups?sort=users')).body.groups[0].number).toBe(13);
    expect((await get('/v1/groups?limit=1')).body.groups).toHaveLength(1);
    expect(
      (await get('/v1/groups?version=5.1')).body.groups.map((g: { number: number }) => g.number),
    ).toEqual([91]);
  });

  it('names every bad query parameter in a 400', async () => {
    const { body } = await get('/v1/groups?since=yesterday&sort=size&limit=501&colour=red', 400);
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      'colour',
      'limit',
      'since',
      'sort',
    ]);
    expect(body.error.message).toBe('Bad query parameter: colour, since, sort, limit.');
    // Many: still one short sentence, every one in details.
    const many = Array.from({ length: 300 }, (_, i) => `p${i}=1`).join('&');
    const big = (await get(`/v1/groups?${many}`, 400)).body.error;
    expect(big.message).toBe('Bad query parameter: p0, p1, p2, p3, p4 and 295 more.');
    // Bounded whatever was sent: 20 details, each name cut to 64 characters.
    expect(big.details).toHaveLength(20);
    const long = (await get(`/v1/groups?${'n'.repeat(3000)}=1`, 400)).body.error;
    expect(long.details).toEqual([
      { path: `${'n'.repeat(64)}…`, message: expect.stringMatching(/^is not a parameter/) },
    ]);
    expect(long.message).toBe(`Bad query parameter: ${'n'.repeat(64)}….`);
  });

  it('refuses a window too long, or outside the years 1970 to 9999, naming the bound', async () => {
    await ingest(makeReport());
    const group = (await get('/v1/groups')).body.groups[0].id;
    const problem = async (query: string) => {
      const { body } = await get(`${query}`, 400);
      expect(body.error.code).toBe('invalid_request');
      return body.error.details.map((d: { path: string; message: string }) => d.path).sort();
    };
    for (const route of ['/v1/groups', `/v1/groups/${group}`]) {
      expect(await problem(`${route}?since=999999w`)).toEqual(['since']);
      expect(await problem(`${route}?since=3661d`)).toEqual(['since']);
      expect(await problem(`${route}?since=1969-12-31`)).toEqual(['since']);
      expect(await problem(`${route}?since=2026-01-01&until=9999-12-31T23:00:00Z`)).toEqual([
        'since',
      ]);
      expect(await problem(`${route}?since=1970-01-01&until=0001-01-01`)).toEqual(['until']);
      // An ISO date of year 1 is a date, out of range, not "not a date" (Date.UTC made it 1901).
      const yearOne = await get(`${route}?since=0001-01-01T00:00:00Z`, 400);
      expect(yearOne.body.error.details).toEqual([
        { path: 'since', message: 'must be in the years 1970 to 9999' },
      ]);
      // `until` alone, before the default `since`: the message says where that default is.
      const early = await get(`${route}?until=2000-01-01`, 400);
      expect(early.body.error.details).toEqual([
        {
          path: 'since',
          message: `must be before until (it defaults to ${route === '/v1/groups' ? '7d' : '6w'} before now)`,
        },
      ]);
      // The longest window there is, ten years, is answered with a count per day.
      const { body } = await get(`${route}?since=3660d`);
      const daily = route === '/v1/groups' ? body.groups[0].daily : body.daily;
      expect(daily).toHaveLength(3660);
    }
  });
});

describe('GET /v1/group-ids (jcs-errors resolving an id prefix)', () => {
  it('finds every group an id prefix starts, whatever its activity, and refuses a bad prefix', async () => {
    for (let n = 0; n < 40; n++) await ingest(makeReport({ error: { number: 1000 + n } }));
    // Received long ago: outside any window of GET /v1/groups but the widest.
    t.clock.advance(400 * DAY);
    const all = (
      (await get('/v1/groups?status=all&since=3660d&limit=500')).body.groups as { id: string }[]
    ).map((g) => g.id);
    expect(all).toHaveLength(40);
    expect((await get('/v1/groups?status=all&since=52w')).body.groups).toEqual([]);
    const id = all[0];
    const one = (await get(`/v1/group-ids?prefix=${id.slice(0, 8)}`)).body;
    expect(one).toEqual({
      groups: [{ id, module: 'modClients', procedure: 'LoadClient' }],
      more: false,
    });
    const digit = id[0];
    const sharing = all.filter((g) => g.startsWith(digit)).sort();
    expect(
      (await get(`/v1/group-ids?prefix=${digit}`)).body.groups.map((g: { id: string }) => g.id),
    ).toEqual(sharing.slice(0, 20));
    expect((await get('/v1/group-ids?prefix=ffffffffffff')).body).toEqual({
      groups: [],
      more: false,
    });
    for (const bad of ['', '3FA9', 'xyz', '0123456789abc']) {
      const { body } = await get(`/v1/group-ids?prefix=${bad}`, 400);
      expect(body.error.details[0].path).toBe('prefix');
    }
    expect((await get('/v1/group-ids', 400)).body.error.details[0].path).toBe('prefix');
    await request(t.app)
      .get(`/v1/group-ids?prefix=${digit}`)
      .set('Authorization', `Bearer ${t.tokens.ingest}`)
      .expect(403);
  });
});

describe('triage and regression', () => {
  it('resolves, ignores, reopens; a newer version regresses a resolved group, an older one does not', async () => {
    const { body: stored } = await ingest(makeReport({ app: { name: 'JCS', version: '5.2' } }));
    const id = stored.group;
    const resolved = await patch(`/v1/groups/${id}`, {
      status: 'resolved',
      resolvedInVersion: '5.10',
    });
    expect(resolved.body).toMatchObject({
      id,
      status: 'resolved',
      resolvedInVersion: '5.10',
      regressed: false,
    });

    await ingest(makeReport({ app: { name: 'JCS', version: '5.9.3' } }));
    expect((await get(`/v1/groups/${id}`)).body.status).toBe('resolved');
    await ingest(makeReport({ app: { name: 'JCS', version: '5.10.0' } }));
    expect((await get(`/v1/groups/${id}`)).body).toMatchObject({
      status: 'unresolved',
      regressed: true,
    });

    await patch(`/v1/groups/${id}`, { status: 'ignored' });
    await ingest(makeReport({ app: { name: 'JCS', version: '9.0' } }));
    expect((await get(`/v1/groups/${id}`)).body.status).toBe('ignored');

    await patch(`/v1/groups/${id}`, { status: 'resolved' });
    await ingest(makeReport({ app: { name: 'JCS', version: '1.0' } }));
    expect((await get(`/v1/groups/${id}`)).body).toMatchObject({
      status: 'unresolved',
      regressed: true,
    });

    const reopened = await patch(`/v1/groups/${id}`, { status: 'unresolved' });
    expect(reopened.body).toMatchObject({
      status: 'unresolved',
      regressed: false,
      resolvedInVersion: null,
    });
  });

  it('refuses a bad triage body and an unknown group', async () => {
    const { body: stored } = await ingest(makeReport());
    // 1,500 unknown keys: a sentence and 20 details, not a 100 KB answer.
    const keys = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`k${i}`, 1]));
    const flood = await patch(`/v1/groups/${stored.group}`, { status: 'resolved', ...keys }, 400);
    expect(flood.body.error.message).toBe(
      'Bad triage request: check /k0, /k1, /k2, /k3, /k4 and 1495 more.',
    );
    expect(flood.body.error.details).toHaveLength(20);
    const bad = await patch(`/v1/groups/${stored.group}`, { status: 'done', extra: 1 }, 400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      '/extra',
      '/status',
    ]);
    // An unknown field is named by its JSON pointer, `/` and `~` escaped, on every route with a
    // body, as a report's are.
    const odd = { 'a/b~c': 1 };
    const pointers = (res: request.Response) =>
      res.body.error.details.map((d: { path: string }) => d.path);
    expect(
      pointers(await patch(`/v1/groups/${stored.group}`, { status: 'ignored', ...odd }, 400)),
    ).toEqual(['/a~1b~0c']);
    const admin = (path: string, body: object) =>
      request(t.app)
        .post(path)
        .set('Authorization', `Bearer ${t.tokens.admin}`)
        .send(body)
        .expect(400);
    expect(pointers(await admin('/v1/erase', { license: 'L1', ...odd }))).toEqual(['/a~1b~0c']);
    expect(pointers(await admin('/v1/expire', odd))).toEqual(['/a~1b~0c']);
    // A version too long is said to be too long, not to be other than dotted numbers.
    for (const [version, message] of [
      ['5.' + '1'.repeat(63), 'must be 1 to 64 characters'],
      ['', 'must be 1 to 64 characters'],
      ['5.3-beta', 'must be dotted numbers such as 5.3'],
    ]) {
      const { body } = await patch(
        `/v1/groups/${stored.group}`,
        { status: 'resolved', resolvedInVersion: version },
        400,
      );
      expect(body.error.details).toEqual([{ path: '/resolvedInVersion', message }]);
    }
    await patch('/v1/groups/000000000000', { status: 'resolved' }, 404);
    await get('/v1/groups/nope', 404);
    // No body at all: a request without its object (400), not one of another type (415).
    const none = await request(t.app)
      .patch(`/v1/groups/${stored.group}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(400);
    expect(none.body.error).toMatchObject({
      code: 'invalid_request',
      details: [{ path: '', message: 'is required: a JSON object' }],
    });
    await request(t.app)
      .patch(`/v1/groups/${stored.group}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .set('Content-Type', 'text/plain')
      .send('status=resolved')
      .expect(415);
  });
});

describe('group detail, reports', () => {
  it('breaks a group down by version, line and day, with the latest reports in short form', async () => {
    const first = makeReport({ app: { name: 'JCS', version: '5.2' }, error: { line: 10 } });
    const { body: stored } = await ingest(first);
    t.clock.advance(DAY);
    await ingest(
      makeReport({ app: { name: 'JCS', version: '5.3' }, error: { line: 12 }, repeats: 1 }),
    );
    const { body } = await get(`/v1/groups/${stored.group}`);
    expect(body.byVersion).toEqual([
      { version: '5.3', count: 2 },
      { version: '5.2', count: 1 },
    ]);
    expect(body.byLine).toEqual([
      { line: 12, count: 2 },
      { line: 10, count: 1 },
    ]);
    expect(body.byDay.slice(-2)).toEqual([
      { day: '2026-11-20', count: 1 },
      { day: '2026-11-21', count: 2 },
    ]);
    expect(body.latest).toHaveLength(2);
    expect(Object.keys(body.latest[0]).sort()).toEqual([
      'id',
      'license',
      'line',
      'occurredAt',
      'receivedAt',
      'repeats',
      'version',
    ]);
    const reports = (await get(`/v1/groups/${stored.group}/reports?limit=1`)).body.reports;
    expect(reports).toHaveLength(1);
    expect(reports[0].version).toBe('5.3');

    const full = (await get(`/v1/reports/${first.id}`)).body;
    expect(full).toEqual({ ...first, receivedAt: '2026-11-20T10:30:00.000Z', group: stored.group });
    await get(`/v1/reports/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`, 404);
  });
});
