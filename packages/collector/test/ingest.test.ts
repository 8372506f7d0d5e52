import request from 'supertest';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';

let t: TestCollector;
beforeEach(() => (t = makeTestCollector()));
afterEach(() => t.close());

const post = (body: unknown, token = t.tokens.ingest) =>
  request(t.app)
    .post('/v1/reports')
    .set('Authorization', `Bearer ${token}`)
    .send(body as object);

const countReports = () =>
  (t.collector.db.prepare('SELECT COUNT(*) AS n FROM reports').get() as { n: number }).n;

describe('POST /v1/reports', () => {
  it('stores a report durably and answers 202 with its group', async () => {
    const r = makeReport();
    const res = await post(r).expect(202);
    expect(res.body).toEqual({ id: r.id, group: expect.stringMatching(/^[0-9a-f]{12}$/) });
    expect(countReports()).toBe(1);
  });

  it('is idempotent: the same id again answers 200 with the same group and counts nothing twice', async () => {
    const r = makeReport({ repeats: 4 });
    const first = await post(r).expect(202);
    const again = await post({ ...r, error: { ...r.error, description: 'changed' } }).expect(200);
    expect(again.body).toEqual(first.body);
    expect(countReports()).toBe(1);
    const groups = await request(t.app)
      .get('/v1/groups')
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
    expect(groups.body.groups[0].count).toBe(5);
    expect(groups.body.groups[0].description).toBe(r.error.description);
  });

  it('shares one transaction among reports arriving together (group commit) and answers each', async () => {
    const reports = Array.from({ length: 50 }, () => makeReport());
    const answers = await Promise.all(reports.map((r) => post(r)));
    expect(answers.map((a) => a.status)).toEqual(reports.map(() => 202));
    expect(countReports()).toBe(50);
  });

  it('answers 400 invalid_report with the JSON pointer of every bad field, and stores nothing', async () => {
    const r = makeReport({ license: '', error: { line: -1 } });
    const res = await post(r).expect(400);
    expect(res.body.error.code).toBe('invalid_report');
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      '/error/line',
      '/license',
    ]);
    expect(res.body.error.message).toMatch(/\/license/);
    expect(countReports()).toBe(0);
  });

  it('names the first five bad fields in its message and says how many more', async () => {
    const r = makeReport({ license: '', error: { line: -1 } });
    const bad = { ...r, username: 5, extra: true, error: { ...r.error, number: 'x', module: 3 } };
    const res = await post(bad).expect(400);
    const paths = res.body.error.details.map((d: { path: string }) => d.path);
    expect(paths.length).toBeGreaterThan(5);
    expect(res.body.error.message).toMatch(
      new RegExp(`check ${paths.slice(0, 5).join(', ')} and ${paths.length - 5} more\\.$`),
    );
  });

  it('a long field name is cut the same way, marked, in the message and in details', async () => {
    const res = await post({ ...makeReport(), ['k'.repeat(100)]: 1 }).expect(400);
    const path = `/${'k'.repeat(63)}…`;
    expect(res.body.error.details[0].path).toBe(path);
    expect(res.body.error.message).toBe(
      `The report does not match report schema 1: check ${path}.`,
    );
  });

  it('past the 20 problems it lists, says "and more" rather than a count it does not know', async () => {
    const extra = Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`x${i}`, i]));
    const res = await post({ ...makeReport(), ...extra }).expect(400);
    expect(res.body.error.details).toHaveLength(20);
    expect(res.body.error.message).toMatch(/check (\/x\d+, ){4}\/x\d+ and more\.$/);
    expect(countReports()).toBe(0);
  });

  it('answers 400 invalid_json for a body that is not JSON', async () => {
    const res = await request(t.app)
      .post('/v1/reports')
      .set('Authorization', `Bearer ${t.tokens.ingest}`)
      .set('Content-Type', 'application/json')
      .send('{"schema": 1,')
      .expect(400);
    expect(res.body.error.code).toBe('invalid_json');
  });

  it('answers 415 for another content type and 413 over 512 KiB', async () => {
    const r415 = await request(t.app)
      .post('/v1/reports')
      .set('Authorization', `Bearer ${t.tokens.ingest}`)
      .set('Content-Type', 'text/plain')
      .send('hello')
      .expect(415);
    expect(r415.body.error.code).toBe('unsupported_media_type');
    const big = makeReport({ error: { description: 'x'.repeat(600 * 1024) } });
    const r413 = await post(big).expect(413);
    expect(r413.body.error.code).toBe('payload_too_large');
    expect(countReports()).toBe(0);
  });

  it('answers 401 without a valid token and 403 for a reading role', async () => {
    const r = makeReport();
    expect((await request(t.app).post('/v1/reports').send(r).expect(401)).body.error.code).toBe(
      'unauthorized',
    );
    expect((await post(r, 'jcs_ing_' + 'a'.repeat(38)).expect(401)).body.error.code).toBe(
      'unauthorized',
    );
    expect((await post(r, t.tokens.engineer).expect(403)).body.error.code).toBe('forbidden');
    expect(countReports()).toBe(0);
  });

  it('never answers with a stack trace or an internal path', async () => {
    const res = await post({ schema: 1, id: 5 }).expect(400);
    expect(JSON.stringify(res.body)).not.toMatch(/\/work|node_modules|at .*\.ts/);
  });
});
