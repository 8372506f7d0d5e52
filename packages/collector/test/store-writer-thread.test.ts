import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import Database from 'better-sqlite3';
import { createApp, openCollector, type Collector } from '@jcs/collector';
import { makeTestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { dataPaths } from '../src/paths';
import { prepareReport } from '../src/store/ingest-writer';
import { WriterThread } from '../src/store/writer-thread';

/**
 * With writerThread (as `serve` runs), reports are written by a thread with its own connection
 * (the compiled dist/store/writer-worker.js); the event loop's connection does everything else.
 */
let c: Collector;
let tokens: { ingest: string; engineer: string };
let dataDir: string;
beforeEach(() => {
  const t = makeTestCollector();
  tokens = { ingest: t.tokens.ingest, engineer: t.tokens.engineer };
  dataDir = t.dataDir;
  t.close();
  c = openCollector({ dataDir, env: {}, writerThread: true, backgroundCheckpoint: true });
});
afterEach(() => {
  if (c.db.open) c.close();
});

const post = (app: ReturnType<typeof createApp> | string, body: object) =>
  request(app).post('/v1/reports').set('Authorization', `Bearer ${tokens.ingest}`).send(body);

describe('the ingest writer thread', () => {
  it('stores what it acknowledges, once per id, readable at once from the other connection', async () => {
    const app = createApp(c);
    const reports = Array.from({ length: 60 }, (_, i) =>
      makeReport({ username: `user${i % 7}`, error: { number: 90 + (i % 3) } }),
    );
    const first = await Promise.all(reports.map((r) => post(app, r)));
    expect(first.map((r) => r.status)).toEqual(reports.map(() => 202));
    const again = await post(app, reports[5]);
    expect(again.status).toBe(200);
    expect(again.body.group).toBe(first[5].body.group);
    expect(c.db.prepare('SELECT COUNT(*) FROM reports').pluck().get()).toBe(60);
    const read = await request(app)
      .get(`/v1/reports/${reports[5].id}`)
      .set('Authorization', `Bearer ${tokens.engineer}`);
    expect(read.status).toBe(200);
    expect(read.body.error.description).toBe(reports[5].error.description);
    const groups = await request(app)
      .get('/v1/groups')
      .set('Authorization', `Bearer ${tokens.engineer}`);
    expect(groups.body.groups.reduce((n: number, g: { count: number }) => n + g.count, 0)).toBe(60);
    expect(Math.max(...groups.body.groups.map((g: { users: number }) => g.users))).toBe(7);
  });

  it('answers 503 and stores nothing while another connection holds the lock, then recovers', async () => {
    const app = createApp(c);
    const other = new Database(dataPaths(dataDir).db);
    other.exec('BEGIN IMMEDIATE');
    try {
      const refused = await post(app, makeReport());
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('unavailable');
      expect(refused.headers['retry-after']).toBeDefined();
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(c.db.prepare('SELECT COUNT(*) FROM reports').pluck().get()).toBe(0);
    expect((await post(app, makeReport())).status).toBe(202);
  });

  it('lets the event loop connection write alongside it (BEGIN IMMEDIATE, no stale snapshots)', async () => {
    const app = createApp(c);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    // Reports keep the thread committing while engineer reads, each of which writes its
    // access-log entry in a transaction that has read first, run on the event loop.
    let posting = true;
    const poster = async () => {
      let n = 0;
      while (posting) {
        expect((await post(url, makeReport())).status).toBe(202);
        n++;
      }
      return n;
    };
    const posters = Array.from({ length: 8 }, poster);
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await request(url)
        .get('/v1/groups')
        .set('Authorization', `Bearer ${tokens.engineer}`);
      statuses.push(r.status);
    }
    posting = false;
    const stored = (await Promise.all(posters)).reduce((a, b) => a + b, 0);
    server.close();
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(c.db.prepare('SELECT COUNT(*) FROM reports').pluck().get()).toBe(stored);
  });

  it('finishes what is in flight before close, and closes its connection', async () => {
    const stored = await Promise.all(
      Array.from({ length: 30 }, () =>
        c.batcher.submit(prepareReport(makeReport(), c.keyring, c.clock())),
      ),
    );
    expect(stored.every((s) => s.created)).toBe(true);
    await c.batcher.drain();
    c.close();
    // Both connections closed: the last one out removes the WAL.
    expect(fs.existsSync(`${dataPaths(dataDir).db}-wal`)).toBe(false);
    const again = openCollector({ dataDir, env: {} });
    expect(again.db.prepare('SELECT COUNT(*) FROM reports').pluck().get()).toBe(30);
    again.close();
  });

  it('tells its owner when the thread stops, and refuses every later write', async () => {
    c.close();
    const failures: Error[] = [];
    const thread = new WriterThread(dataPaths(dataDir).db, { onFailure: (e) => failures.push(e) });
    const sealer = openCollector({ dataDir, env: {} });
    try {
      const prepared = prepareReport(makeReport(), sealer.keyring, Date.now());
      const first = await thread.write([prepared]);
      await first.durable;
      expect(first.results[0].created).toBe(true);
      // As if the thread had crashed.
      await (thread as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
      await new Promise((r) => setImmediate(r));
      expect(failures.map((e) => e.message)).toEqual(['the ingest writer thread stopped']);
      await expect(
        thread.write([prepareReport(makeReport(), sealer.keyring, Date.now())]),
      ).rejects.toThrow(/stopped/);
    } finally {
      thread.close();
      sealer.close();
    }
  });

  it('says why when it cannot open the database, with the error code', () => {
    expect(() => new WriterThread(path.join(dataDir, 'no-such.db'))).toThrow(/no-such\.db|open/i);
    // With the code, a full disk at start is said as one (commands/system-failure.ts), not as
    // an unexpected failure: here a database that is a folder.
    const folder = path.join(dataDir, 'a-folder.db');
    fs.mkdirSync(folder);
    let thrown: unknown;
    try {
      new WriterThread(folder);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as { code?: string }).code).toMatch(/^SQLITE_/);
  });
});
