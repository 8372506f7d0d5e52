import fs from 'node:fs';
import path from 'node:path';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { dayKeyFingerprint, KeyringError, loadKeyring } from '../src/crypto/keyring';
import { runExpiry } from '../src/retention/expire';
import { DAY_MS } from '../src/time';
import { shredFileSync } from '../src/crypto/files';
import { noteShreddedKey } from '../src/store/batch-keys';
import { DayKeyGoneError } from '../src/store/day-key-gone';
import { Inbox } from '../src/store/inbox';
import { InboxWriter } from '../src/store/inbox-writer';
import { IngestWriter, prepareReport, type PreparedReport } from '../src/store/ingest-writer';
import { packBatch } from '../src/store/batch-wire';
import { WalSync } from '../src/store/wal-sync';

/**
 * A report's day key, checked inside the batch's write transaction (store/batch-keys.ts): fresh
 * reports sealed under a key shredded since are refused (503); reports from the inbox, answered
 * 202 before, are left out only where that shredding made them due.
 */

const NOW = Date.parse('2026-12-07T10:00:00Z');
const DAY = '2026-12-07';

let t: TestCollector;
let keysDir: string;
let writer: IngestWriter;
beforeEach(() => {
  t = makeTestCollector({ clock: testClock(NOW) });
  keysDir = path.join(t.dataDir, 'keys');
  writer = new IngestWriter(t.collector.db, keysDir);
});
afterEach(() => {
  writer.close();
  t.close();
});

const sealed = (): PreparedReport => prepareReport(makeReport(), t.collector.keyring, NOW);
const stored = () =>
  new Set(t.collector.db.prepare('SELECT id FROM reports').pluck().all() as string[]);
/** Occurrences in the groups' counts, by day, by hour and by line. */
const counted = () =>
  ['group_days', 'group_hours', 'group_lines'].map((table) =>
    t.collector.db.prepare(`SELECT IFNULL(SUM(count), 0) FROM ${table}`).pluck().get(),
  );
const keyFile = path.join.bind(null);

/** What `jcs-collector expire --now` does to a live day in another process: noted, then shredded. */
function shredLiveKey(): void {
  const file = keyFile(keysDir, 'days', `${DAY}.key`);
  t.collector.db.transaction(() => {
    noteShreddedKey(t.collector.db, DAY, dayKeyFingerprint(keysDir, DAY)!, DAY);
    shredFileSync(file);
  })();
}

/** A serve's next report: the day's new key, made by another keyring over the folder. */
const newKey = () => loadKeyring(keysDir, {}).dayKey(DAY, true);

describe('fresh reports (refuse)', () => {
  it('sealed under a key shredded since: the batch fails, nothing stored', () => {
    const [before, alsoBefore] = [sealed(), sealed()];
    shredLiveKey();
    expect(() => writer.write([before])).toThrow(DayKeyGoneError);
    newKey();
    expect(() => writer.write([alsoBefore])).toThrow(DayKeyGoneError);
    expect(stored().size).toBe(0);
  });

  it('a key file rewritten with the same key, but for white space, is the same key', () => {
    const report = sealed();
    const file = keyFile(keysDir, 'days', `${DAY}.key`);
    fs.appendFileSync(file, '\n');
    expect(writer.write([report])[0].created).toBe(true);
  });
});

describe("the inbox's reports (sort)", () => {
  it('leaves out those under a shredded live key, or of a day with no key; folds the rest', async () => {
    const due = sealed();
    const legacy = { ...sealed(), keyPrint: undefined } as unknown as PreparedReport;
    shredLiveKey();
    const noKey = sealed(); // sealed under the old key, as the in-memory keyring still had it
    expect(writer.write([noKey], true, 'sort')).toEqual([]);
    newKey();
    await new Promise((resolve) => setImmediate(resolve)); // the keyring's next look
    const fresh = sealed();
    // A key put back from elsewhere: not a shredding, so its report is folded as it is.
    const other = { ...sealed(), keyPrint: 'another key' };
    const results = writer.write([due, legacy, fresh, other], true, 'sort');
    expect(results.map((r) => r.id)).toEqual([legacy.id, fresh.id, other.id]);
    expect(stored()).toEqual(new Set([legacy.id, fresh.id, other.id]));
  });

  it('counts the occurrences of those it leaves out, as those the run deleted stay counted', () => {
    const due = { ...sealed(), repeats: 4 };
    shredLiveKey();
    expect(writer.write([due], true, 'sort')).toEqual([]);
    expect(stored().size).toBe(0);
    expect(counted()).toEqual([5, 5, 5]);
    // Where a window's partial edge hours count removed reports (store/occurrences.ts).
    const kept = t.collector.db.prepare('SELECT group_id, received_at, n FROM removed_occurrences');
    expect(kept.all()).toEqual([{ group_id: due.groupId, received_at: NOW, n: 5 }]);
    // No subject rows, so no day listed as having them.
    expect(t.collector.db.prepare('SELECT day FROM subject_row_days').all()).toEqual([]);
    const group = t.collector.db
      .prepare('SELECT first_seen, last_seen FROM groups WHERE id = ?')
      .get(due.groupId);
    expect(group).toEqual({ first_seen: NOW, last_seen: NOW });
  });

  it('a key shredded by a run whose transaction then rolled back is still noted: its reports are left out', async () => {
    const due = sealed();
    const destroy = t.collector.keyring.destroyDayKeySync.bind(t.collector.keyring);
    jest.spyOn(t.collector.keyring, 'destroyDayKeySync').mockImplementation((day) => {
      destroy(day); // renamed away: cannot be undone
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    });
    try {
      await expect(runExpiry(t.collector, { now: NOW + 43 * DAY_MS })).rejects.toThrow('full');
    } finally {
      jest.restoreAllMocks();
    }
    newKey();
    expect(writer.write([due], true, 'sort')).toEqual([]);
    expect(stored().size).toBe(0);
  });

  it('with days/ gone from under it (after its wait for the lock), drops nothing: the storage failing', () => {
    const report = sealed();
    const days = path.join(keysDir, 'days');
    fs.renameSync(days, `${days}.away`);
    try {
      expect(() => writer.write([report], true, 'sort')).toThrow(KeyringError);
    } finally {
      fs.renameSync(`${days}.away`, days);
    }
    expect(writer.write([report], true, 'sort')).toHaveLength(1);
  });

  it('an inbox folded, or left to the next start, after such a shredding folds only what is not due', async () => {
    const inbox = new Inbox(path.join(t.dataDir, 'inbox.db'));
    const wal = new WalSync(`${t.collector.db.name}-wal`);
    const w = new InboxWriter(writer, inbox, wal, keysDir);
    try {
      w.start();
      const [due, due2] = [sealed(), sealed()];
      w.write(packBatch([due]));
      shredLiveKey();
      newKey();
      await new Promise((resolve) => setImmediate(resolve)); // the keyring's next look
      const kept = sealed();
      w.write(packBatch([kept]));
      w.fold();
      expect(stored()).toEqual(new Set([kept.id]));
      // Left in the inbox by a process that stopped: the same at the next start.
      w.write(packBatch([due2]));
      const next = new InboxWriter(writer, inbox, wal, keysDir);
      // in the database: the one folded before, not the one due
      expect(next.recover()).toBe(1);
      expect(stored()).toEqual(new Set([kept.id]));
      expect(inbox.batches()).toHaveLength(0);
      next.close();
      await w.stop();
    } finally {
      w.close();
      wal.close();
      inbox.close();
    }
  });
});
