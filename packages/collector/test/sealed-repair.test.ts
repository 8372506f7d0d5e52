import fs from 'node:fs';
import Database from 'better-sqlite3';
import request from 'supertest';
import { createApp, openCollector, type Collector } from '@jcs/collector';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { dayFile, sealedDir, sealedSyncedKey } from '../src/store/sealed-files';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';
import { MOST_LOST_TO_A_POWER_CUT, removeUnsyncedReports } from '../src/store/sealed-repair';
import { SealedReader } from '../src/store/sealed-reader';
import { createLogger } from '../src/log';

/**
 * Ingest syncs a batch's records and its commit at the same time; a power cut between the two can
 * leave committed rows whose records never reached the disk (reports never answered). At start,
 * `serve` (a collector opened with its writer thread) takes those reports out as if they had
 * never arrived, so their senders' retries store them anew. A power cut cannot be staged here: the
 * tests cut and zero the day file as one would leave it.
 */

const DAY0 = Date.parse('2026-09-01T10:00:00Z');

let t: TestCollector;
let reopened: Collector | undefined;
beforeEach(() => (t = makeTestCollector({ clock: testClock(DAY0) })));
afterEach(() => {
  reopened?.close();
  reopened = undefined;
  if (t.collector.db.open) t.close();
});

type Sent = ReturnType<typeof makeReport>;

async function post(app: Parameters<typeof request>[0], r: Sent, status = 202): Promise<void> {
  await request(app)
    .post('/v1/reports')
    .set('Authorization', `Bearer ${t.tokens.ingest}`)
    .send(r)
    .expect(status);
}

function row(c: Collector, id: string): { key_day: string; sealed_at: number; sealed_len: number } {
  return c.db
    .prepare('SELECT key_day, sealed_at, sealed_len FROM reports WHERE id = ?')
    .get(id) as { key_day: string; sealed_at: number; sealed_len: number };
}

/**
 * What a power cut leaves in `meta`: records from `at` on were not known to be synced (their
 * batches were in flight). Here they were synced, and the file is cut by hand afterwards; with
 * the collector closed, as a closing collector keeps the mark of its last syncs.
 */
function unsyncedFrom(day: string, at: number): void {
  const db = new Database(`${t.dataDir}/collector.db`);
  try {
    db.prepare('UPDATE meta SET value = ? WHERE key = ?').run(String(at), sealedSyncedKey(day));
  } finally {
    db.close();
  }
}

/** What the collectors opened by reopenLogged() logged, in this test. */
let logged: string[] = [];
beforeEach(() => (logged = []));

/**
 * The data dir opened again as `serve` opens it (with its writer thread), its log lines kept in
 * `logged`. `clock: false`: the real clock, not the test's.
 */
function reopenLogged(options: { clock?: false } = {}): Collector {
  const logger = createLogger({ destination: { write: (line: string) => logged.push(line) } });
  const clock = options.clock === false ? {} : { clock: t.clock };
  return openCollector({ dataDir: t.dataDir, ...clock, env: {}, writerThread: true, logger });
}

async function group(app: Parameters<typeof request>[0]) {
  const res = await request(app)
    .get('/v1/groups')
    .set('Authorization', `Bearer ${t.tokens.engineer}`)
    .expect(200);
  return res.body.groups[0] as { count: number; users: number; licences: number } | undefined;
}

describe('reports whose records did not reach the disk', () => {
  it('are taken out at start with their counts, and their resends are stored anew', async () => {
    const [r1, r2, r3, r4, r5] = [
      makeReport({ username: 'ann', license: 'JCS-1' }),
      makeReport({ username: 'bob', license: 'JCS-2' }),
      makeReport({ username: 'cat', license: 'JCS-3' }),
      makeReport({ username: 'dan', license: 'JCS-4' }),
      // the same user and licence as r1: their subject rows stay for r1
      makeReport({ username: 'ann', license: 'JCS-1', repeats: 2 }),
    ];
    for (const r of [r1, r2, r3, r4, r5]) await post(t.app, r);
    expect(await group(t.app)).toMatchObject({ count: 7, users: 4, licences: 4 });
    const file = dayFile(sealedDir(t.collector.db.name), row(t.collector, r1.id).key_day);
    const cut = row(t.collector, r4.id).sealed_at;
    const torn = row(t.collector, r2.id);
    t.close();
    unsyncedFrom(torn.key_day, torn.sealed_at);

    // r4 and r5 never reached the disk; r2 only partly (its second half is zeros).
    fs.truncateSync(file, cut);
    const fd = fs.openSync(file, 'r+');
    const half = Math.floor(torn.sealed_len / 2);
    fs.writeSync(
      fd,
      Buffer.alloc(torn.sealed_len - half),
      0,
      torn.sealed_len - half,
      torn.sealed_at + half,
    );
    fs.closeSync(fd);

    reopened = openCollector({ dataDir: t.dataDir, clock: t.clock, env: {}, writerThread: true });
    const app = createApp(reopened);
    for (const gone of [r2, r4, r5]) {
      await request(app)
        .get(`/v1/reports/${gone.id}`)
        .set('Authorization', `Bearer ${t.tokens.engineer}`)
        .expect(404);
    }
    const kept = await request(app)
      .get(`/v1/reports/${r3.id}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
    expect(kept.body.username).toBe('cat');
    // ann (r1) and cat (r3) are left: bob and dan went with their only reports
    expect(await group(app)).toMatchObject({ count: 2, users: 2, licences: 2 });

    // The senders had no answer, so they send again: stored, not "stored before".
    for (const r of [r2, r4, r5]) await post(app, r, 202);
    expect(await group(app)).toMatchObject({ count: 7, users: 4, licences: 4 });
    const back = await request(app)
      .get(`/v1/reports/${r4.id}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
    expect(back.body.username).toBe('dan');
  });

  it('a group that only such reports made goes with them', async () => {
    await post(t.app, makeReport());
    const lone = makeReport({ error: { number: 5, module: 'modOther', procedure: 'Lone' } });
    await post(t.app, lone);
    const file = dayFile(sealedDir(t.collector.db.name), row(t.collector, lone.id).key_day);
    const { key_day: day, sealed_at: cut } = row(t.collector, lone.id);
    t.close();
    unsyncedFrom(day, cut);
    fs.truncateSync(file, cut);

    reopened = openCollector({ dataDir: t.dataDir, clock: t.clock, env: {}, writerThread: true });
    const groups = reopened.db.prepare('SELECT count(*) FROM groups').pluck().get();
    expect(groups).toBe(1);
  });

  it('a check that cannot read the records is logged, and the collector still opens', async () => {
    const r = makeReport();
    await post(t.app, r);
    const dir = sealedDir(t.collector.db.name);
    t.close();
    // a file where the folder of day files should be: every read of a record fails (ENOTDIR)
    fs.rmSync(dir, { recursive: true });
    fs.writeFileSync(dir, 'not a folder');
    reopened = reopenLogged({ clock: false });
    expect(logged.join('')).toMatch(/"msg":"the check of the newest records failed"/);
    expect(reopened.db.prepare('SELECT count(*) FROM reports').pluck().get()).toBe(1);
  });

  it.each(['stopped', 'running'] as const)(
    'keeps, counted, reports whose records were on disk and are gone since (a day file removed with the collector %s)',
    async (when) => {
      // The day file deleted: the next start took the first reports, acknowledged long before,
      // for a power cut's and took them out, counts too, and the log said their senders would
      // send them again. One report after the deletion: the mark of its sync is kept at close.
      const early = [makeReport({ username: 'ann' }), makeReport({ username: 'bob' })];
      for (const r of early) await post(t.app, r);
      const day = row(t.collector, early[0].id).key_day;
      const file = dayFile(sealedDir(t.collector.db.name), day);
      const late = makeReport({ username: 'cat' });
      if (when === 'running') {
        // under the collector's feet: the next batch finds its file unlinked
        fs.rmSync(file);
        await post(t.app, late);
        t.close();
      } else {
        t.close();
        fs.rmSync(file);
        // without the writer thread, as the tests' collectors: its batches sync after the commit
        reopened = openCollector({ dataDir: t.dataDir, clock: t.clock, env: {} });
        await post(createApp(reopened), late);
        reopened.close();
      }

      reopened = reopenLogged();
      expect(logged.join('')).not.toMatch(/did not reach the disk/);
      const app = createApp(reopened);
      expect(await group(app)).toMatchObject({ count: 3, users: 3 });
      const back = await request(app)
        .get(`/v1/reports/${late.id}`)
        .set('Authorization', `Bearer ${t.tokens.engineer}`)
        .expect(200);
      expect(back.body.username).toBe('cat');
      // acknowledged: a retry is "stored before", not stored twice
      for (const r of early) await post(app, r, 200);
    },
  );

  it('one an expiry in another process deleted during the check is not taken out twice: its counts stay', async () => {
    const [r1, r2] = [makeReport(), makeReport({ repeats: 4 })];
    for (const r of [r1, r2]) await post(t.app, r);
    const db = t.collector.db;
    const torn = row(t.collector, r2.id);
    fs.truncateSync(dayFile(sealedDir(db.name), torn.key_day), torn.sealed_at);
    db.prepare('UPDATE meta SET value = ? WHERE key = ?').run(
      String(torn.sealed_at),
      sealedSyncedKey(torn.key_day),
    );
    // An expiry deletes r2 while the check reads the records (the counts stay, as expiry keeps them).
    const read = SealedReader.prototype.read;
    jest.spyOn(SealedReader.prototype, 'read').mockImplementation(function (
      this: SealedReader,
      ...args
    ) {
      db.prepare('DELETE FROM reports WHERE id = ?').run(r2.id);
      return read.apply(this, args);
    });
    try {
      removeUnsyncedReports(db, t.collector.keyring);
    } finally {
      jest.restoreAllMocks();
    }
    const hours = db.prepare('SELECT SUM(count) FROM group_hours').pluck().get();
    expect(hours).toBe(6);
  });

  it('none is taken out while every record is whole', async () => {
    for (let i = 0; i < 3; i++) await post(t.app, makeReport());
    expect(removeUnsyncedReports(t.collector.db, t.collector.keyring).removed).toBe(0);
    expect(t.collector.db.prepare('SELECT count(*) FROM reports').pluck().get()).toBe(3);
  });

  it('keeps, counted, the reports of a day whose key file was replaced: they were acknowledged', async () => {
    // The docs' restore: database and day files back, the day keys (never backed up) lost. The
    // day's first new report then gets a new key, and the next start found the restored reports'
    // records "not opening" and took them out, counts and groups too.
    const restored = [
      makeReport({ username: 'ann', license: 'JCS-1' }),
      makeReport({
        username: 'bob',
        license: 'JCS-2',
        error: { number: 7, module: 'modB', procedure: 'B' },
      }),
    ];
    for (const r of restored) await post(t.app, r);
    const keyFile = `${t.dataDir}/keys/days/${row(t.collector, restored[0].id).key_day}.key`;
    t.close();
    fs.rmSync(keyFile);

    reopened = reopenLogged();
    const after = makeReport({ username: 'cat', license: 'JCS-3' });
    await post(createApp(reopened), after);
    reopened.close();

    reopened = reopenLogged();
    const app = createApp(reopened);
    expect(reopened.db.prepare('SELECT count(*) FROM reports').pluck().get()).toBe(3);
    expect(reopened.db.prepare('SELECT count(*) FROM groups').pluck().get()).toBe(2);
    expect(logged.join('')).not.toMatch(/did not reach the disk/);
    expect(logged.join('')).toMatch(
      /sealed under a key the keys folder no longer holds.*"days":\["2026-09-01"\]|"days":\["2026-09-01"\].*sealed under a key the keys folder no longer holds/,
    );
    // the new report reads; the restored ones are counted but their fields are gone
    const back = await request(app)
      .get(`/v1/reports/${after.id}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
    expect(back.body.username).toBe('cat');
    // their senders got 202 long ago: a retry is "stored before", not stored twice
    await post(app, restored[0], 200);
  });

  it('keeps every report, counted, when collector.db is put back without sealed/', async () => {
    // The acknowledged reports of a restore, not a power cut's: a day file's name is synced
    // before any record goes in it. They were taken out, counts and groups too.
    const sent = [
      makeReport({ username: 'ann', license: 'JCS-1' }),
      makeReport({ username: 'bob', license: 'JCS-2' }),
    ];
    for (const r of sent) await post(t.app, r);
    const dir = sealedDir(t.collector.db.name);
    t.close();
    fs.renameSync(dir, `${dir}.away`);

    reopened = reopenLogged();
    let app = createApp(reopened);
    const warning = logged.map((l) => JSON.parse(l)).find((l) => /not in sealed\//.test(l.msg));
    expect(warning).toMatchObject({ level: 40, reports: 2 });
    expect(logged.join('')).not.toMatch(/did not reach the disk/);
    expect(await group(app)).toMatchObject({ count: 2, users: 2, licences: 2 });
    await request(app)
      .get(`/v1/reports/${sent[0].id}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(404);
    await post(app, sent[1], 200);

    // sealed/ put back: the fields read again.
    reopened.close();
    fs.renameSync(`${dir}.away`, dir);
    reopened = reopenLogged();
    app = createApp(reopened);
    const back = await request(app)
      .get(`/v1/reports/${sent[0].id}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
    expect(back.body.username).toBe('ann');
  });

  it.each([
    ['takes out as many as a power cut can take', MOST_LOST_TO_A_POWER_CUT, 'removed'],
    [
      'keeps them all when one more is missing (an older copy of sealed/)',
      MOST_LOST_TO_A_POWER_CUT + 1,
      'kept',
    ],
  ] as const)('%s', async (_, missing, outcome) => {
    // The day file cut after its first record, as a power cut or an older copy would leave it.
    const writer = new IngestWriter(t.collector.db);
    const batch = [];
    for (let i = 0; i <= missing; i++) {
      batch.push(prepareReport(makeReport(), t.collector.keyring, DAY0 + i));
    }
    writer.write(batch);
    writer.close();
    const first = row(t.collector, batch[0].id);
    const file = dayFile(sealedDir(t.collector.db.name), first.key_day);
    t.close();
    unsyncedFrom(first.key_day, first.sealed_at + first.sealed_len);
    fs.truncateSync(file, first.sealed_at + first.sealed_len);

    reopened = reopenLogged({ clock: false });
    const entries = logged.map((l) => JSON.parse(l) as { msg: string });
    const stored = reopened.db.prepare('SELECT count(*) FROM reports').pluck().get();
    if (outcome === 'removed') {
      expect(entries.find((l) => /did not reach the disk/.test(l.msg))).toMatchObject({
        removed: missing,
      });
      expect(stored).toBe(1);
    } else {
      expect(entries.find((l) => /not in sealed\//.test(l.msg))).toMatchObject({
        reports: missing,
      });
      expect(stored).toBe(missing + 1);
    }
  });

  it('says at start which days hold reports whose key file is gone, before any report comes', async () => {
    const kept = makeReport();
    await post(t.app, kept);
    t.clock.set(DAY0 + 86_400_000);
    const lost = makeReport();
    await post(t.app, lost);
    const lostDay = row(t.collector, lost.id).key_day;
    t.close();
    fs.rmSync(`${t.dataDir}/keys/days/${lostDay}.key`);

    reopened = reopenLogged();
    const warning = logged.map((l) => JSON.parse(l)).find((l) => /no key file/.test(l.msg));
    expect(warning).toMatchObject({ level: 40, days: [lostDay] });
    expect(lostDay).toBe('2026-09-02');
    // the day with its key is not named, and the reports stay
    expect(reopened.db.prepare('SELECT count(*) FROM reports').pluck().get()).toBe(2);
  });
});
