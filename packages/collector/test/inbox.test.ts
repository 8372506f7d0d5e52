import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import request from 'supertest';
import { createApp, openCollector, type Collector } from '@jcs/collector';
import type { Express } from 'express';
import { makeTestCollector, testClock } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { countReports } from './retention-support';
import { inboxFile } from '../src/store/inbox';

/**
 * The inbox (store/inbox-writer.ts): while the expiry job deletes, the writer thread commits
 * reports to a database of its own and folds them into the main one between the job's chunks.
 * These drive it directly (useInbox, fold, holdFolds) on a collector with its writer thread, as
 * `serve` runs it (the compiled dist/store/writer-worker.js).
 */
const NOW = Date.parse('2026-11-01T12:00:00Z');
let c: Collector;
let app: Express;
let dataDir: string;
let tokens: { ingest: string; engineer: string; admin: string };

function open(): void {
  c = openCollector({ dataDir, env: {}, writerThread: true, clock: testClock(NOW) });
  app = createApp(c);
}

beforeEach(() => {
  const t = makeTestCollector();
  tokens = t.tokens;
  dataDir = t.dataDir;
  t.close();
  open();
});
afterEach(() => {
  if (c.db.open) c.close();
});

const post = (body: object) =>
  request(app).post('/v1/reports').set('Authorization', `Bearer ${tokens.ingest}`).send(body);
const get = (url: string) =>
  request(app).get(url).set('Authorization', `Bearer ${tokens.engineer}`);

/** Every batch row the inbox file holds. */
function inboxRows(): number {
  const db = new Database(inboxFile(c.db.name), { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM batches').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('the inbox', () => {
  it('answers reports from the inbox and folds them in before any read', async () => {
    await post(makeReport()).expect(202);
    await c.inbox!.useInbox(true);
    const r = makeReport({ username: 'inbox-user' });
    const res = await post(r).expect(202);
    expect(res.body).toMatchObject({ id: r.id });
    // Committed to the inbox, not the database, until something reads.
    expect(countReports(c.db)).toBe(1);
    expect(inboxRows()).toBe(1);
    const read = await get(`/v1/reports/${r.id}`).expect(200);
    expect(read.body).toMatchObject({ id: r.id, username: 'inbox-user' });
    expect(countReports(c.db)).toBe(2);
    await c.inbox!.useInbox(false);
    // The group's counts take it once.
    const groups = await get('/v1/groups').expect(200);
    expect(groups.body.groups[0].count).toBe(2);
    // Emptied a few seconds later, or when the collector closes.
    expect(inboxRows()).toBe(1);
    c.close();
    expect(inboxRows()).toBe(0);
  });

  it('folds again, storing nothing twice, when restarted before the inbox was emptied', async () => {
    await c.inbox!.useInbox(true);
    const reports = [makeReport(), makeReport()];
    for (const r of reports) await post(r).expect(202);
    await c.inbox!.useInbox(false);
    expect(countReports(c.db)).toBe(2);
    // Killed before the clean-up (closing cleans up, so the files are put back as they were):
    // the next start finds the folded batches still there.
    const file = inboxFile(c.db.name);
    const copy = fs.readFileSync(file);
    const wal = fs.existsSync(`${file}-wal`) ? fs.readFileSync(`${file}-wal`) : undefined;
    c.close();
    fs.writeFileSync(file, copy);
    if (wal) fs.writeFileSync(`${file}-wal`, wal);
    expect(inboxRows()).toBe(2);
    open();
    expect(inboxRows()).toBe(0);
    expect(countReports(c.db)).toBe(2);
    const groups = await get('/v1/groups').expect(200);
    expect(groups.body.groups[0].count).toBe(2);
  });

  it('answers a retry 200 with its group, whether the first copy is in the inbox or the database', async () => {
    const stored = makeReport();
    const first = await post(stored).expect(202);
    await c.inbox!.useInbox(true);
    const waiting = makeReport({ error: { number: 5, module: 'modOther' } });
    const answered = await post(waiting).expect(202);
    await post(waiting).expect(200, answered.body);
    await post(stored).expect(200, first.body);
    // Both copies in flight at once: one is stored, the other recognised.
    const twin = makeReport();
    const both = await Promise.all([post(twin), post(twin)]);
    expect(both.map((b) => b.status).sort()).toEqual([200, 202]);
    await c.inbox!.useInbox(false);
    expect(countReports(c.db)).toBe(3);
    await post(waiting).expect(200, answered.body);
    const groups = await get('/v1/groups').expect(200);
    const total = groups.body.groups.reduce((n: number, g: { count: number }) => n + g.count, 0);
    expect(total).toBe(3);
  });

  it('holds a fold back while the expiry chunk holds the lock', async () => {
    await c.inbox!.useInbox(true);
    const r = makeReport();
    await post(r).expect(202);
    const release = await c.inbox!.holdFolds();
    let settled = false;
    const waiting = c.settled().then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    expect(countReports(c.db)).toBe(0);
    release();
    await waiting;
    expect(countReports(c.db)).toBe(1);
    await c.inbox!.useInbox(false);
  });

  it('folds in at the next start what it held when the process stopped, once', async () => {
    await c.inbox!.useInbox(true);
    const reports = [makeReport(), makeReport(), makeReport({ username: undefined })];
    for (const r of reports) await post(r).expect(202);
    // Stopped mid-run: nothing folded, the inbox file holds the reports.
    c.close();
    expect(inboxRows()).toBe(3);
    open();
    expect(inboxRows()).toBe(0);
    expect(countReports(c.db)).toBe(3);
    for (const r of reports) await get(`/v1/reports/${r.id}`).expect(200);
    // Their senders' retries are recognised.
    for (const r of reports) await post(r).expect(200);
    c.close();
    open();
    expect(countReports(c.db)).toBe(3);
  });

  it('leaves no byte of the reports it held in its files once emptied', async () => {
    await c.inbox!.useInbox(true);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = makeReport();
      ids.push(r.id);
      await post(r).expect(202);
    }
    await c.inbox!.useInbox(false);
    c.close();
    const file = inboxFile(dataDir + '/collector.db');
    const bytes = Buffer.concat(
      [file, `${file}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)),
    );
    expect(bytes.length).toBeGreaterThan(0);
    for (const id of ids) expect(bytes.includes(id)).toBe(false);
    expect(path.dirname(file)).toBe(dataDir);
  });
});
