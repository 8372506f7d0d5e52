import Database from 'better-sqlite3';
import request from 'supertest';
import { createApp, openCollector, type Collector } from '@jcs/collector';
import { makeTestCollector, testClock } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { ExpiryAbortedError, runExpiry } from '../src/retention/expire';
import { toApiError } from '../src/http/errors';
import { bulkInsert, countReports, DAY } from './retention-support';

/**
 * Under `serve` (writerThread), the job's deletions run on a thread of their own
 * (the compiled dist/retention/expiry-worker.js), taking turns with the ingest writer thread.
 */
const NOW = Date.parse('2026-11-01T02:30:00Z');
let c: Collector;
let ingest: string;
beforeEach(() => {
  const t = makeTestCollector();
  ingest = t.tokens.ingest;
  bulkInsert(t.collector, 6000, NOW - 60 * DAY, 3);
  bulkInsert(t.collector, 500, NOW - 5 * DAY, 1);
  const dataDir = t.dataDir;
  t.close();
  c = openCollector({ dataDir, env: {}, writerThread: true, clock: testClock(NOW) });
});
afterEach(() => {
  if (c.db.open) c.close();
});

describe('the expiry job on its own thread', () => {
  it('deletes what is due while reports keep arriving, and nothing else', async () => {
    expect(c.inbox).toBeDefined();
    const app = createApp(c);
    const run = runExpiry(c, { chunkSize: 200 });
    const posted = [];
    for (let i = 0; i < 20; i++) {
      const r = makeReport();
      const res = await request(app)
        .post('/v1/reports')
        .set('Authorization', `Bearer ${ingest}`)
        .send(r);
      expect(res.status).toBe(202);
      posted.push(r.id);
    }
    const summary = await run;
    // three days' worth from 02:30: four UTC days of receipt, four keys
    expect(summary).toMatchObject({ deletedReports: 6000, destroyedKeys: 4 });
    expect(countReports(c.db)).toBe(500 + 20);
    for (const id of posted) expect(c.reports.full(id, false)?.id).toBe(id);
    expect(c.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('a database locked too long fails the run as storage, so it answers 503, not 500', async () => {
    const other = new Database(c.db.name);
    other.exec('BEGIN IMMEDIATE');
    let failure: unknown;
    try {
      await runExpiry(c, { chunkSize: 200 });
    } catch (e) {
      failure = e;
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    expect(failure).toMatchObject({ code: 'SQLITE_BUSY' });
    const answer = toApiError(failure);
    expect({ code: answer.code, status: answer.status }).toEqual({
      code: 'unavailable',
      status: 503,
    });
    expect(answer.headers).toMatchObject({ 'Retry-After': expect.any(String) });
    expect((await runExpiry(c)).deletedReports).toBe(6000);
  });

  it('stops between two chunks when asked; the next run finishes', async () => {
    const stop = new AbortController();
    const run = runExpiry(c, { chunkSize: 100, signal: stop.signal });
    while (countReports(c.db) > 4000) await new Promise((r) => setTimeout(r, 1));
    stop.abort();
    await expect(run).rejects.toBeInstanceOf(ExpiryAbortedError);
    const left = countReports(c.db);
    expect(left).toBeGreaterThan(500);
    expect(left).toBeLessThan(6500);
    // Ingest is not held back by the stopped run.
    const res = await request(createApp(c))
      .post('/v1/reports')
      .set('Authorization', `Bearer ${ingest}`)
      .send(makeReport());
    expect(res.status).toBe(202);
    // the rest; and the stopped run's deletions, which it wrote no receipt for
    expect((await runExpiry(c)).deletedReports).toBe(6000);
    expect(countReports(c.db)).toBe(501);
  });
});
