import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import request from 'supertest';
import { openCollector } from '@jcs/collector';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { decodeRecord, encodeRecord } from '../src/store/sealed-record';
import {
  dayFile,
  listDayFiles,
  SealedAppender,
  sealedDir,
  sealedEndKey,
  sealedSyncedKey,
} from '../src/store/sealed-files';
import { deleteMeta, getMeta, openDatabase } from '../src/store/db';
import { wipeUnreferenced } from '../src/store/sealed-wipes';
import { eraseSubject } from '../src/store/erase';
import { runExpiry } from '../src/retention/expire';
import { MIGRATIONS } from '../src/store/schema';
import { sealField } from '../src/crypto/fields';
import { dataPaths } from '../src/paths';
import { DAY, HOUR, sealedFieldsById, storeAt } from './retention-support';

const DAY0 = Date.parse('2026-09-01T00:00:00Z');

let t: TestCollector;
beforeEach(() => (t = makeTestCollector({ clock: testClock(DAY0) })));
afterEach(() => t.close());

async function post(report: ReturnType<typeof makeReport>): Promise<void> {
  await request(t.app)
    .post('/v1/reports')
    .set('Authorization', `Bearer ${t.tokens.ingest}`)
    .send(report)
    .expect(202);
}

async function get(id: string): Promise<request.Response> {
  return request(t.app)
    .get(`/v1/reports/${id}`)
    .set('Authorization', `Bearer ${t.tokens.engineer}`);
}

const dir = () => sealedDir(t.collector.db.name);
const fileBytes = (day: string) => fs.readFileSync(dayFile(dir(), day));

/** Everything of a stored report that its day file holds: its id and slices of each field. */
function canaries(id: string): Buffer[] {
  const f = sealedFieldsById(t.collector).get(id)!;
  const slices = [f.username, f.description, f.code, f.dump]
    .filter((b): b is Buffer => b !== null)
    .map((b) => b.subarray(0, 24));
  return [Buffer.from(id), ...slices];
}

describe('a record', () => {
  it('reads back as written, and only under its own id', () => {
    const fields = {
      username: Buffer.from('u'),
      description: Buffer.from('d'.repeat(300)),
      code: null,
      dump: Buffer.alloc(0),
    };
    const record = encodeRecord('id-1', { ...fields, keyTag: 0xdeadbeef });
    expect(decodeRecord(record, 'id-1')).toEqual({ ...fields, keyTag: 0xdeadbeef });
    expect(decodeRecord(record, 'id-2')).toBeNull();
    expect(decodeRecord(Buffer.alloc(record.length), 'id-1')).toBeNull();
    expect(decodeRecord(record.subarray(0, record.length - 1), 'id-1')).toBeNull();
  });

  it('keeps format 1 with its key tag as a trailer, so earlier builds read it as before', () => {
    const fields = {
      username: null,
      description: Buffer.from('sealed description'),
      code: Buffer.from('c'),
      dump: null,
    };
    const record = encodeRecord('id-1', { ...fields, keyTag: 7 });
    expect(record[2]).toBe(1);
    // Without its last 4 bytes it is exactly a record of the builds before tags, which stopped
    // reading after the fields.
    expect(decodeRecord(record.subarray(0, record.length - 4), 'id-1')).toEqual({
      ...fields,
      keyTag: 0,
    });
    expect(record.readUInt32BE(record.length - 4)).toBe(7);
  });

  // Records as earlier builds wrote them, byte by byte: magic 'JS', the format, the id, then each
  // field's length and bytes (0xffffffff: absent); format 2 had the key tag after the id.
  it.each<[string, number, number[], number]>([
    ['written before records named their key (no trailer): its key tag 0', 1, [], 0],
    ['written by the day of builds that put the tag after the id (format 2)', 2, [0, 0, 0, 9], 9],
  ])('a record %s still reads', (_name, format, tagAfterId, keyTag) => {
    const record = Buffer.concat([
      Buffer.from([0x4a, 0x53, format, 0, 4]),
      Buffer.from('id-1'),
      Buffer.from(tagAfterId),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2]),
      Buffer.from('dd'),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ]);
    expect(decodeRecord(record, 'id-1')).toEqual({
      username: null,
      description: Buffer.from('dd'),
      code: null,
      dump: null,
      keyTag,
    });
  });
});

describe('day files', () => {
  it('hold each report of a day, in a folder and files only the collector may read', async () => {
    const a = makeReport({ username: 'asmith' });
    await post(a);
    t.clock.advance(DAY);
    await post(makeReport());
    expect(listDayFiles(dir())).toEqual(['2026-09-01', '2026-09-02']);
    expect(fs.statSync(dir()).mode & 0o777).toBe(0o700);
    expect(fs.statSync(dayFile(dir(), '2026-09-01')).mode & 0o777).toBe(0o600);
    // Sealed: the file holds the id, never the plaintext.
    const bytes = fileBytes('2026-09-01');
    expect(bytes.includes(Buffer.from(a.id))).toBe(true);
    expect(bytes.includes(Buffer.from('asmith'))).toBe(false);
    expect((await get(a.id)).body.username).toBe('asmith');
  });

  it('a report whose file is gone reads as gone (404), not as an error', async () => {
    const a = makeReport();
    await post(a);
    fs.unlinkSync(dayFile(dir(), '2026-09-01'));
    expect((await get(a.id)).status).toBe(404);
  });

  it('two writers taking turns append after each other’s records, never over them', async () => {
    const [a, b, c] = [makeReport(), makeReport(), makeReport()];
    await post(a); // the collector's writer
    storeAt(t.collector, [b], t.clock()); // a second one, on the same file
    await post(c); // the first again: it must not write where it thinks the file ends
    for (const r of [a, b, c]) expect((await get(r.id)).status).toBe(200);
  });

  it('a batch that does not commit is not part of its file: the next batch writes over it', () => {
    const db = t.collector.db;
    const files = new SealedAppender(db);
    const day = '2026-09-01';
    const batch = (record: string, commits: boolean) =>
      db.transaction(() => {
        const at = files.add(day, Buffer.from(record));
        files.flush(true);
        if (!commits) throw new Error('rolled back');
        return at;
      })();
    try {
      const first = batch('committed', true);
      files.commit();
      const end = first + 'committed'.length;
      expect(getMeta(db, sealedEndKey(day))).toBe(String(end));
      expect(() => batch('rolled back', false)).toThrow('rolled back');
      files.rollback();
      expect(fileBytes(day).includes(Buffer.from('rolled back'))).toBe(true);
      // The end moved back with the transaction: the next batch's record goes where it was.
      expect(getMeta(db, sealedEndKey(day))).toBe(String(end));
      expect(batch('next batch!', true)).toBe(end);
      files.commit();
      const bytes = fileBytes(day);
      expect(bytes.subarray(first, end).toString()).toBe('committed');
      expect(bytes.subarray(end, end + 11).toString()).toBe('next batch!');
      expect(bytes.includes(Buffer.from('rolled back'))).toBe(false);
    } finally {
      files.close();
    }
  });

  it('unlinked with its marks by an expiry in another process: the next batch starts a new file, with no sync mark of the old one', async () => {
    const db = t.collector.db;
    const files = new SealedAppender(db);
    const day = '2026-09-01';
    const batch = (n: number) => {
      db.transaction(() => {
        for (let i = 0; i < n; i++) files.add(day, Buffer.alloc(1000, 7));
        files.flush(false);
      }).immediate();
      files.commit();
    };
    try {
      batch(50);
      await files.sync();
      batch(50);
      await files.sync();
      // what `jcs-collector expire --now` does to a live day, under the write lock
      db.transaction(() => {
        fs.unlinkSync(dayFile(dir(), day));
        deleteMeta(db, sealedEndKey(day));
        deleteMeta(db, sealedSyncedKey(day));
      }).immediate();
      batch(3);
      expect(getMeta(db, sealedEndKey(day))).toBe('3000');
      // Not the old file's 50,000: the start-up repair would take the new file's unsynced
      // records, lost in a power cut, for synced ones.
      expect(getMeta(db, sealedSyncedKey(day))).toBeUndefined();
    } finally {
      files.close();
    }
  });

  it('bytes written by a batch that never committed (a crash) are written over by the next batch', async () => {
    const a = makeReport();
    await post(a);
    // Written and synced, then the process "dies" before its commit.
    const crashed = new SealedAppender(t.collector.db);
    expect(() =>
      t.collector.db.transaction(() => {
        crashed.add('2026-09-01', Buffer.from('never committed'));
        crashed.flush(true);
        throw new Error('crash');
      })(),
    ).toThrow('crash');
    crashed.close();
    expect(fileBytes('2026-09-01').includes(Buffer.from('never committed'))).toBe(true);
    // The next writer to append (a restarted collector's) writes where they were.
    const b = makeReport();
    storeAt(t.collector, [b], t.clock());
    expect(fileBytes('2026-09-01').includes(Buffer.from('never committed'))).toBe(false);
    expect((await get(a.id)).status).toBe(200);
    expect((await get(b.id)).status).toBe(200);
  });

  it('is written ahead with zeros, and cut back to its records once two days have passed', () => {
    const files = new SealedAppender(t.collector.db);
    const store = (day: string, record: Buffer) => {
      t.collector.db.transaction(() => {
        files.add(day, record);
        files.flush(false);
      })();
      files.commit();
    };
    try {
      const record = Buffer.alloc(1000, 7);
      for (let i = 0; i < 100; i++) store('2026-09-01', record);
      const ahead = fs.statSync(dayFile(dir(), '2026-09-01')).size;
      // Room for the next records without the file growing at every batch (its size is metadata
      // that each sync would have to commit).
      expect(ahead).toBeGreaterThan(100 * record.length);
      expect(
        fileBytes('2026-09-01')
          .subarray(100 * record.length)
          .every((b) => b === 0),
      ).toBe(true);
      store('2026-09-01', record);
      expect(fs.statSync(dayFile(dir(), '2026-09-01')).size).toBe(ahead);
      store('2026-09-02', record);
      expect(fs.statSync(dayFile(dir(), '2026-09-01')).size).toBe(ahead);
      store('2026-09-03', record);
      expect(fs.statSync(dayFile(dir(), '2026-09-01')).size).toBe(101 * record.length);
    } finally {
      files.close();
    }
  });

  it('zeroing what no report takes (a key that must stay) leaves a batch being written alone', async () => {
    const day = '2026-09-01';
    const [kept, deleted] = [makeReport(), makeReport()];
    await post(kept);
    await post(deleted);
    const deletedBytes = canaries(deleted.id);
    // Deleted without a note, as expiry deletes a day it expects to remove whole.
    t.collector.db.prepare('DELETE FROM reports WHERE id = ?').run(deleted.id);
    // The writer thread, mid-batch: its record is written, its commit still to come.
    const other = openDatabase(t.collector.db.name);
    const writer = new SealedAppender(other);
    try {
      other.exec('BEGIN IMMEDIATE');
      const at = writer.add(day, Buffer.from('batch in flight'));
      writer.flush(true);
      wipeUnreferenced(t.collector.db, dir(), day);
      other.exec('COMMIT');
      writer.commit();
      const bytes = fileBytes(day);
      expect(bytes.subarray(at, at + 15).toString()).toBe('batch in flight');
      for (const b of deletedBytes) expect(bytes.includes(b)).toBe(false);
      expect((await get(kept.id)).status).toBe(200);
    } finally {
      writer.close();
      other.close();
    }
  });

  it('an erasure: the subject’s records are zeroed, the others stay readable', async () => {
    const theirs = [makeReport({ username: 'asmith' }), makeReport({ username: 'asmith' })];
    const other = makeReport({ username: 'bjones' });
    for (const r of [...theirs, other]) await post(r);
    const gone = theirs.flatMap((r) => canaries(r.id));
    const kept = canaries(other.id);
    await request(t.app)
      .post('/v1/erase')
      .set('Authorization', `Bearer ${t.tokens.admin}`)
      .send({ username: 'asmith' })
      .expect(200, { erasedReports: 2 });
    const bytes = fileBytes('2026-09-01');
    expect(gone.filter((c) => bytes.includes(c))).toEqual([]);
    expect(kept.every((c) => bytes.includes(c))).toBe(true);
    expect((await get(other.id)).body.username).toBe('bjones');
    expect(t.collector.db.prepare('SELECT COUNT(*) FROM sealed_wipes').pluck().get()).toBe(0);
  });

  it('what an erasure noted but did not zero (a crash after its commit) the next expiry run zeroes', async () => {
    const theirs = makeReport({ username: 'asmith' });
    await post(theirs);
    await post(makeReport({ username: 'bjones' }));
    const gone = canaries(theirs.id);
    const db = t.collector.db;
    // The erasure's transaction, without the zeroing that follows it.
    db.transaction(() => eraseSubject(db, t.collector.keyring, { username: 'asmith' }))();
    expect(db.prepare('SELECT COUNT(*) FROM sealed_wipes').pluck().get()).toBe(1);
    expect(gone.every((c) => fileBytes('2026-09-01').includes(c))).toBe(true);
    expect(await runExpiry(t.collector)).toMatchObject({ deletedReports: 0 });
    expect(gone.filter((c) => fileBytes('2026-09-01').includes(c))).toEqual([]);
    expect(db.prepare('SELECT COUNT(*) FROM sealed_wipes').pluck().get()).toBe(0);
  });

  it('expiry of part of a day: the part that expired is zeroed, the rest stays readable, and the next night the file goes', async () => {
    const early = [makeReport(), makeReport()];
    const late = [makeReport(), makeReport()];
    t.clock.set(DAY0 + 1 * HOUR);
    for (const r of early) await post(r);
    t.clock.set(DAY0 + 5 * HOUR);
    for (const r of late) await post(r);
    const gone = early.flatMap((r) => canaries(r.id));
    const kept = late.flatMap((r) => canaries(r.id));

    // 41 days and 2.5 hours on: the reports of 01:00 are due, those of 05:00 not yet.
    t.clock.set(DAY0 + 41 * DAY + 2.5 * HOUR);
    expect(await runExpiry(t.collector)).toMatchObject({ deletedReports: 2, destroyedKeys: 0 });
    const bytes = fileBytes('2026-09-01');
    expect(gone.filter((c) => bytes.includes(c))).toEqual([]);
    expect(kept.every((c) => bytes.includes(c))).toBe(true);
    for (const r of late) expect((await get(r.id)).status).toBe(200);

    t.clock.advance(DAY);
    await post(makeReport()); // today's, as reports keep coming in
    expect(await runExpiry(t.collector)).toMatchObject({ deletedReports: 2, destroyedKeys: 1 });
    expect(listDayFiles(dir())).toEqual(['2026-10-13']);
    // Where each file ends is kept only for files that are still there.
    const ends = t.collector.db
      .prepare("SELECT key FROM meta WHERE key LIKE 'sealed_end:%' ORDER BY key")
      .pluck()
      .all();
    expect(ends).toEqual([sealedEndKey('2026-10-13')]);
    // The reads and writes above opened the expired day's file; a removed file whose descriptor
    // stays open keeps its disk space.
    const held = fs
      .readdirSync('/proc/self/fd')
      .map((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return '';
        }
      })
      .filter((target) => target.includes(dir()) && target.endsWith('(deleted)'));
    expect(held).toEqual([]);
  });
});

describe('a database from before the day files (schema 2)', () => {
  it('has its reports’ sealed fields moved to the day files when opened, and reads them as before', () => {
    const { dataDir, collector } = t;
    const key = collector.keyring.dayKey('2026-09-01', true)!;
    const file = dataPaths(dataDir).db;
    t.close();
    t = { ...t, close: () => undefined };
    for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
    const old = new Database(file);
    old.pragma('auto_vacuum = INCREMENTAL');
    old.pragma('journal_mode = WAL');
    for (const step of MIGRATIONS.slice(0, 2)) old.exec(step as string);
    old.pragma('user_version = 2');
    old
      .prepare(
        `INSERT INTO groups (id, app_name, number, module, procedure, first_seen, last_seen)
         VALUES ('g1', 'JCS', 91, 'modA', 'Proc', ?, ?)`,
      )
      .run(DAY0, DAY0);
    const insert = old.prepare(
      `INSERT INTO reports (id, group_id, received_at, key_day, occurred_at, app_version, license, line,
         repeats, dump_withheld, user_hash, username, description, code, dump)
       VALUES (?, 'g1', ?, '2026-09-01', '2026-09-01T00:00:00Z', '5.2.1', 'JCS-000001', 1, NULL, NULL, NULL, ?, ?, ?, NULL)`,
    );
    const ids = ['r-1', 'r-2', 'r-3'];
    ids.forEach((id, i) => {
      const at = DAY0 + i * HOUR;
      const seq = insert.run(
        id,
        at,
        sealField(`user${i}`, key),
        sealField(`Client ${i} not found`, key),
        i === 0 ? sealField('Set rs = Nothing', key) : null,
      ).lastInsertRowid;
      old
        .prepare('INSERT INTO report_ids (key_day, id, received_at, seq) VALUES (?, ?, ?, ?)')
        .run('2026-09-01', id, at, seq);
    });
    old.close();

    const c = openCollector({ dataDir, clock: testClock(DAY0 + DAY), env: {} });
    try {
      expect(c.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      const columns = c.db.prepare("SELECT name FROM pragma_table_info('reports')").pluck().all();
      expect(columns).not.toContain('description');
      expect(listDayFiles(path.join(dataDir, 'sealed'))).toEqual(['2026-09-01']);
      ids.forEach((id, i) => {
        const r = c.reports.full(id, false)!;
        expect(r.username).toBe(`user${i}`);
        expect(r.error.description).toBe(`Client ${i} not found`);
        expect(r.error.code).toBe(i === 0 ? 'Set rs = Nothing' : undefined);
      });
    } finally {
      c.close();
    }
  });
});
