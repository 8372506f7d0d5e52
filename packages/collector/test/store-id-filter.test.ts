import crypto from 'node:crypto';
import request from 'supertest';
import { openCollector } from '@jcs/collector';
import { createApp } from '../src/app';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { openDatabase } from '../src/store/db';
import { IdFilter } from '../src/store/id-filter';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';
import { dataPaths } from '../src/paths';

let t: TestCollector;
beforeEach(() => (t = makeTestCollector()));
afterEach(() => t.close());

const post = (app: Parameters<typeof request>[0], report: object) =>
  request(app).post('/v1/reports').set('Authorization', `Bearer ${t.tokens.ingest}`).send(report);

describe('the id filter', () => {
  it('has every id added and few others', () => {
    const f = new IdFilter(t.collector.db, 1 << 20);
    const added = Array.from({ length: 20_000 }, () => crypto.randomUUID());
    added.forEach((id, i) => f.add(id, i));
    expect(added.every((id) => f.mightHave(id))).toBe(true);
    const others = Array.from({ length: 20_000 }, () => crypto.randomUUID());
    const falsePositives = others.filter((id) => f.mightHave(id)).length;
    // 20,000 ids in 1 Mbit with 7 hashes: about 0.1% expected.
    expect(falsePositives).toBeLessThan(100);
  });

  it('is built from the database: a collector opened on stored reports still answers 200', async () => {
    const report = makeReport();
    expect((await post(t.app, report)).status).toBe(202);
    t.close();
    const c = openCollector({ dataDir: t.dataDir, clock: t.clock, env: {} });
    try {
      const res = await post(createApp(c), report);
      expect(res.status).toBe(200);
      expect(c.db.prepare('SELECT COUNT(*) FROM reports').pluck().get()).toBe(1);
    } finally {
      c.close();
      t.close = () => undefined;
    }
  });

  it('notices reports stored by another connection', async () => {
    expect((await post(t.app, makeReport())).status).toBe(202); // the filter is built
    const other = openDatabase(dataPaths(t.dataDir).db);
    const report = makeReport();
    new IngestWriter(other).write([prepareReport(report, t.collector.keyring, t.clock())]);
    other.close();
    expect((await post(t.app, report)).status).toBe(200);
    expect(t.collector.db.prepare('SELECT COUNT(*) FROM reports').pluck().get()).toBe(2);
  });

  it('does not hide a resend within one batch', async () => {
    const report = makeReport();
    const answers = await Promise.all([post(t.app, report), post(t.app, report)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 202]);
    expect(t.collector.db.prepare('SELECT COUNT(*) FROM reports').pluck().get()).toBe(1);
  });
});
