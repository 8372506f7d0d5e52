import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { openCollector } from '@jcs/collector';
import { fromBase64, sealDump, type Report } from '@jcs/protocol';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeTempDir } from '../../../test-support/collector';
import { makeReport } from '../../../test-support/reports';
import { ExpiryAbortedError, runExpiry } from '../src/retention/expire';
import { retentionStatus } from '../src/retention/status';
import { dataPaths } from '../src/paths';
import { loadKeyring } from '../src/crypto/keyring';
import {
  bulkInsert,
  countReports,
  databaseBytes,
  DAY,
  HOUR,
  sealedBytes,
  sealedFieldsById,
  storeAt,
} from './retention-support';
import { listDayFiles, sealedDir } from '../src/store/sealed-files';

/** A copy of the data dir without its keys: the database, and the day files beside it. */
async function copyData(from: TestCollector, to: string): Promise<void> {
  fs.mkdirSync(to);
  await from.collector.db.backup(dataPaths(to).db);
  fs.cpSync(sealedDir(from.collector.db.name), path.join(to, 'sealed'), { recursive: true });
}

/** Day 0: the reports that will expire arrive; day 5: the ones that stay. */
const DAY0 = Date.parse('2026-09-01T09:00:00Z');
/** A nightly run by which every report of day 0, and its day key, is due. */
const NIGHT = Date.parse('2026-10-13T02:30:00Z');

let t: TestCollector;
beforeEach(() => (t = makeTestCollector({ clock: testClock(DAY0) })));
afterEach(() => t.close());

/** A report carrying every personal field, the dump big enough to spill to overflow pages. */
function fullReport(publicKey: Uint8Array, keyId: string): Report {
  const data = { client: 'Smith', notes: crypto.randomBytes(6000).toString('hex') };
  return makeReport({
    username: `user-${crypto.randomBytes(4).toString('hex')}`,
    error: { description: 'Client Smith not found', code: 'Set rs = db.OpenRecordset(sql)' },
    dump: sealDump(JSON.stringify(data), publicKey, keyId),
  });
}

/** A dump envelope of random bytes: the collector stores it sealed, unopened (quicker than box). */
function opaqueDump(bytes: number): Report['dump'] {
  const b64 = (n: number) => crypto.randomBytes(n).toString('base64');
  return {
    alg: 'x25519-xsalsa20-poly1305',
    keyId: 'k1',
    epk: b64(32),
    nonce: b64(24),
    ciphertext: b64(bytes),
  };
}

async function ingestMany(n: number): Promise<Report[]> {
  const key = t.collector.keyring.transport;
  const sent: Report[] = [];
  for (let i = 0; i < n; i++) {
    const r = fullReport(key.publicKey, key.keyId);
    await request(t.app)
      .post('/v1/reports')
      .set('Authorization', `Bearer ${t.tokens.ingest}`)
      .send(r)
      .expect(202);
    sent.push(r);
    t.clock.advance(10 * 60_000);
  }
  return sent;
}

describe('after expiry', () => {
  it('a copy of the database taken before it cannot be read for the expired reports', async () => {
    const expired = await ingestMany(4);
    t.clock.set(DAY0 + 5 * DAY);
    const kept = await ingestMany(2);
    const copyDir = path.join(makeTempDir(), 'copy');
    await copyData(t, copyDir);
    const dir = sealedDir(t.collector.db.name);
    expect(listDayFiles(dir)).toEqual(['2026-09-01', '2026-09-06']);

    t.clock.set(NIGHT);
    expect(await runExpiry(t.collector)).toMatchObject({ deletedReports: 4, destroyedKeys: 1 });
    // The expired day's file went with its key; the copy still has it, unreadable.
    expect(listDayFiles(dir)).toEqual(['2026-09-06']);

    // The copy, with the live keys folder, read at a moment when none of its reports is past
    // its age: the kept ones open, the expired ones do not.
    fs.symlinkSync(path.join(t.dataDir, 'keys'), dataPaths(copyDir).keys);
    const copy = openCollector({ dataDir: copyDir, clock: testClock(DAY0 + 6 * DAY), env: {} });
    try {
      expect(countReports(copy.db)).toBe(6);
      for (const r of kept) {
        expect(copy.reports.full(r.id, true)?.username).toBe(r.username);
      }
      for (const r of expired) {
        expect(copy.reports.full(r.id, true)).toBeNull();
        const row = copy.db.prepare('SELECT key_day FROM reports WHERE id = ?').get(r.id) as {
          key_day: string;
        };
        expect(copy.keyring.dayKey(row.key_day)).toBeNull();
      }
    } finally {
      copy.close();
    }
  });

  it('a copy taken before a run judged from the future (--now) cannot be read either', async () => {
    // Received today by the collector's clock, expired only by the run's `now`: today's key goes.
    const expired = await ingestMany(3);
    const copyDir = path.join(makeTempDir(), 'copy');
    await copyData(t, copyDir);
    const now = t.clock() + 42 * 24 * HOUR;
    expect(await runExpiry(t.collector, { now })).toMatchObject({
      deletedReports: 3,
      destroyedKeys: 1,
    });
    fs.symlinkSync(path.join(t.dataDir, 'keys'), dataPaths(copyDir).keys);
    const copy = openCollector({ dataDir: copyDir, clock: testClock(t.clock()), env: {} });
    try {
      expect(countReports(copy.db)).toBe(3);
      for (const r of expired) expect(copy.reports.full(r.id, true)).toBeNull();
    } finally {
      copy.close();
    }
  });

  it("counts today's key shredded when a serve gives the day a new key before the receipt", async () => {
    await ingestMany(2);
    // A serve beside this run makes today's next key as soon as its next report comes.
    const serving = loadKeyring(dataPaths(t.dataDir).keys, {});
    const shred = t.collector.keyring.destroyDayKeySync.bind(t.collector.keyring);
    jest.spyOn(t.collector.keyring, 'destroyDayKeySync').mockImplementation((day) => {
      const done = shred(day);
      serving.dayKey(day, true);
      return done;
    });
    const now = t.clock() + 43 * 24 * HOUR;
    expect(await runExpiry(t.collector, { now })).toMatchObject({
      deletedReports: 2,
      destroyedKeys: 1,
    });
    const receipt = t.collector.db
      .prepare('SELECT destroyed_keys FROM expiry_runs ORDER BY rowid DESC LIMIT 1')
      .pluck()
      .get();
    expect(receipt).toBe(1);
  });

  it('a shredding left half done (a failed sync) is finished by the next run', async () => {
    const left = path.join(dataPaths(t.dataDir).keys, 'days', '.2026-08-30.key.0a1b2c3d4e5f.shred');
    fs.mkdirSync(path.dirname(left), { recursive: true });
    fs.writeFileSync(left, 'the wrapped key, out of use');
    await runExpiry(t.collector, { now: NIGHT });
    expect(fs.existsSync(left)).toBe(false);
  });

  describe('a key whose overwrite fails', () => {
    afterEach(() => jest.restoreAllMocks());
    const EIO = () => Object.assign(new Error('EIO: i/o error, open'), { code: 'EIO' });
    /** Every overwrite of a key out of use fails, as on a disk that refuses writes there. */
    const failOverwrites = () => {
      const openSync = fs.openSync;
      jest.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
        if (String(file).endsWith('.shred')) throw EIO();
        return (openSync as (...args: unknown[]) => number)(file, ...rest);
      }) as typeof fs.openSync);
      const open = fs.promises.open;
      jest
        .spyOn(fs.promises, 'open')
        .mockImplementation(((file: fs.PathLike, ...rest: unknown[]) =>
          String(file).endsWith('.shred')
            ? Promise.reject(EIO())
            : (open as (...args: unknown[]) => Promise<fs.promises.FileHandle>)(
                file,
                ...rest,
              )) as typeof fs.promises.open);
    };
    const shreds = () =>
      fs
        .readdirSync(path.join(dataPaths(t.dataDir).keys, 'days'))
        .filter((n) => n.endsWith('.shred'));

    it("is not on the receipt of a run judged from the future until a run finishes it (today's key)", async () => {
      await ingestMany(2);
      const now = t.clock() + 43 * DAY;
      failOverwrites();
      // Out of use at once (no report can be sealed under it or read), its bytes still there.
      expect(await runExpiry(t.collector, { now })).toMatchObject({
        deletedReports: 2,
        destroyedKeys: 0,
      });
      expect(shreds()).toHaveLength(1);
      expect(t.collector.keyring.listShreddingDays()).toEqual(['2026-09-01']);
      jest.restoreAllMocks();
      expect(await runExpiry(t.collector, { now })).toMatchObject({
        deletedReports: 0,
        destroyedKeys: 1,
      });
      expect(shreds()).toEqual([]);
      const receipts = t.collector.db
        .prepare('SELECT destroyed_keys FROM expiry_runs ORDER BY rowid')
        .pluck()
        .all();
      expect(receipts).toEqual([0, 1]);
    });

    it('keeps the status not compliant, and off the receipt, until a run finishes it (a nightly run)', async () => {
      await ingestMany(2);
      t.clock.set(NIGHT);
      failOverwrites();
      // The nightly run renames the day's key out of use, then cannot overwrite it: the run
      // fails, and the next one, failing again, writes a receipt without it.
      await expect(runExpiry(t.collector)).rejects.toThrow('EIO');
      expect(await runExpiry(t.collector)).toMatchObject({ deletedReports: 2, destroyedKeys: 0 });
      expect(t.collector.keyring.listDayKeys()).toEqual([]);
      expect(shreds()).toHaveLength(1);
      // The key's bytes still unwrap under the master key: once its whole day is past the
      // retention (the next night), that is a key kept past it.
      expect(retentionStatus(t.collector, NIGHT + DAY)).toMatchObject({ compliant: false });
      jest.restoreAllMocks();
      expect(await runExpiry(t.collector)).toMatchObject({ deletedReports: 0, destroyedKeys: 1 });
      expect(shreds()).toEqual([]);
      expect(retentionStatus(t.collector, NIGHT + DAY)).toMatchObject({ compliant: true });
    });
  });

  it('no byte of the expired reports remains in the database or WAL files', async () => {
    const expired = await ingestMany(6);
    t.clock.set(DAY0 + 5 * DAY);
    await ingestMany(2);
    const ids = expired.map((r) => r.id);
    const fields = sealedFieldsById(t.collector);
    const rows = ids.map((id) => fields.get(id)!);
    expect(rows.every(Boolean)).toBe(true);
    // Canaries: each id, and 16-byte slices of each sealed field every 256 bytes (a blob that
    // overflows is split across pages, so only short slices are sure to be contiguous on disk).
    const idCanaries = ids.map((id) => Buffer.from(id, 'utf8'));
    const blobCanaries: Buffer[] = [];
    for (const row of rows) {
      for (const blob of Object.values(row).filter((b): b is Buffer => b !== null)) {
        for (let at = 0; at + 16 <= blob.length; at += 256) {
          blobCanaries.push(blob.subarray(at, at + 16));
        }
      }
    }
    const canaries = [...idCanaries, ...blobCanaries];
    const sentCiphertexts = expired.map((r) => Buffer.from(fromBase64(r.dump!.ciphertext)));
    const file = dataPaths(t.dataDir).db;
    // The database, its WAL and the day files.
    const everything = () => Buffer.concat([databaseBytes(file), sealedBytes(t.collector)]);
    const found = () => {
      const bytes = everything();
      return canaries.filter((c) => bytes.includes(c)).length;
    };

    // The scan sees them while they are stored (all but the odd slice straddling two pages).
    t.collector.db.pragma('wal_checkpoint(TRUNCATE)');
    const before = databaseBytes(file);
    expect(idCanaries.every((c) => before.includes(c))).toBe(true);
    expect(found()).toBeGreaterThan(0.95 * canaries.length);

    t.clock.set(NIGHT);
    expect(await runExpiry(t.collector)).toMatchObject({ deletedReports: 6 });
    expect(found()).toBe(0);
    const bytes = everything();
    for (const ct of sentCiphertexts) expect(bytes.includes(ct.subarray(0, 32))).toBe(false);
    expect(fs.statSync(`${file}-wal`).size).toBe(0);
  });

  it('a run stopped between two chunks leaves no byte of what it deleted in free pages', async () => {
    // Old reports first, then kept ones after them in the file: each chunk's vacuum must move
    // live pages into the pages it freed, not just cut the end of the file off.
    bulkInsert(t.collector, 3000, DAY0 - 60 * DAY, 2);
    bulkInsert(t.collector, 500, DAY0 - DAY, 1);
    const db = t.collector.db;
    const sealed = new Map(
      [...sealedFieldsById(t.collector)].map(([id, f]) => [id, f.description] as const),
    );
    expect(sealed.size).toBe(3500);
    const stop = new AbortController();
    const run = runExpiry(t.collector, { chunkSize: 50, signal: stop.signal });
    while (countReports(db) > 2000) await new Promise((r) => setImmediate(r));
    stop.abort();
    await expect(run).rejects.toThrow(ExpiryAbortedError);

    const left = new Set(
      (db.prepare('SELECT id FROM reports').pluck().all() as string[]).map(String),
    );
    const deleted = [...sealed].filter(([id]) => !left.has(id));
    expect(deleted.length).toBeGreaterThan(500);
    expect(left.size).toBeGreaterThan(500);
    expect(db.pragma('freelist_count', { simple: true })).toBe(0);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const bytes = databaseBytes(dataPaths(t.dataDir).db);
    expect(deleted.filter(([, blob]) => bytes.includes(blob.subarray(0, 32)))).toEqual([]);
    // And the scan does find what is kept (its row; its record is in its day's file).
    expect([...left].slice(0, 50).filter((id) => bytes.includes(Buffer.from(id)))).toHaveLength(50);

    // The deleted reports' records are in the files of the two expired days, whose keys the
    // stopped run did not get to: the next run shreds the keys and removes the files.
    const expiredDays = () => listDayFiles(sealedDir(db.name)).filter((d) => d < '2026-08-01');
    expect(expiredDays()).toEqual(['2026-07-03', '2026-07-04', '2026-07-05']);
    // A dry run counts what is left to delete; the receipt counts the stopped run's deletions too.
    const dry = await runExpiry(t.collector, { dryRun: true });
    const real = await runExpiry(t.collector);
    expect([dry.deletedReports, real.deletedReports]).toEqual([3000 - deleted.length, 3000]);
    expect(expiredDays()).toEqual([]);
    const survivors = new Set(db.prepare('SELECT id FROM reports').pluck().all() as string[]);
    expect(survivors.size).toBe(500);
    const files = sealedBytes(t.collector);
    const gone = [...sealed].filter(([id]) => !survivors.has(id));
    expect(gone.filter(([, blob]) => files.includes(blob.subarray(0, 32)))).toEqual([]);
    const kept = [...sealed].filter(([id]) => survivors.has(id)).slice(0, 50);
    expect(kept.filter(([, blob]) => files.includes(blob.subarray(0, 32)))).toHaveLength(50);
  });

  it('in steady state the files do not grow: week 12 is at most 1.3 times week 6', async () => {
    // 12 weeks of constant ingest, 60 reports a day in batches every 8 hours, the job nightly.
    const start = Date.parse('2026-01-05T00:00:00Z');
    const sizes: number[] = [];
    const file = dataPaths(t.dataDir).db;
    for (let day = 0; day < 84; day++) {
      for (let batch = 0; batch < 3; batch++) {
        const at = start + day * DAY + batch * 8 * HOUR + 45 * 60_000;
        const reports = Array.from({ length: 20 }, (_, i) =>
          makeReport({
            username: `user${(day * 7 + i) % 50}`,
            license: `JCS-${String(i % 9).padStart(6, '0')}`,
            error: {
              number: 1000 + ((batch + i) % 20),
              description: `Client ${crypto.randomBytes(8).toString('hex')} not found`,
            },
            dump: i % 3 === 0 ? opaqueDump(200 + 150 * (i % 12)) : undefined,
          }),
        );
        storeAt(t.collector, reports, at);
      }
      t.clock.set(start + (day + 1) * DAY + 2.5 * HOUR);
      await runExpiry(t.collector);
      // The database and the day files: everything the reports take on disk.
      sizes.push(fs.statSync(file).size + sealedBytes(t.collector).length);
    }
    const week6 = sizes[41];
    const week12 = sizes[83];
    expect(countReports(t.collector.db)).toBeLessThanOrEqual(41 * 60);
    expect(week12).toBeLessThanOrEqual(1.3 * week6);
    // Every freed page was handed back to the file system, not left in the file.
    expect(t.collector.db.pragma('freelist_count', { simple: true })).toBe(0);
  }, 60_000);
});
