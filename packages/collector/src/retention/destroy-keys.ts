import fs from 'node:fs';
import type { Collector } from '../collector';
import { deleteMeta } from '../store/db';
import {
  dayFile,
  listDayFiles,
  removeDayFile,
  sealedDir,
  sealedEndKey,
  sealedSyncedKey,
} from '../store/sealed-files';
import { wipeUnreferenced } from '../store/sealed-wipes';
import { noteShreddedKey } from '../store/batch-keys';
import { dayKeyFingerprint } from '../crypto/keyring';
import { DAY_MS, dayName, dayOf } from '../time';
import { dayLastMs, dayStart, readCutoff } from './policy';
import { nextTurn, noteShredding, countShredded } from './deletions';

/*
 * The expiry job's last step: the day keys whose reports are all deleted are shredded, and their
 * day files removed, so what was deleted stays unreadable in every copy of the database
 * (docs/retention.md). expire.ts runs it once the deletions are committed and synced.
 */

/**
 * Day keys whose whole day is at or before the cutoff: every report sealed under them is due.
 * With `--now` ahead of the clock that includes days that have not ended yet, today's too, and
 * their keys go like any other: ingest still receiving reports today then seals them under a fresh
 * key (the keyring notices the shredded file), and the reports a run judged from the future
 * deleted stay unreadable in every copy of the database.
 */
export function keysDue(c: Collector, cutoff: number): string[] {
  return c.keyring.listDayKeys().filter((day) => dayLastMs(day) <= cutoff);
}

/**
 * Shreds each due day key once no report under it remains (the deletions above are committed,
 * so a crash here leaves keys the next run shreds). A key older than the read cutoff goes
 * regardless: nothing may read under it any more.
 */
export async function destroyKeys(c: Collector, now: number, cutoff: number): Promise<number> {
  const remains = c.db.prepare<[number, number, string], { one: number }>(
    // received_at bounds the look-up to the index; a report's key_day is its day of receipt.
    'SELECT 1 AS one FROM reports WHERE received_at >= ? AND received_at <= ? AND key_day = ? LIMIT 1',
  );
  const hidden = readCutoff(now, c.retentionDays);
  const dir = sealedDir(c.db.name);
  finishShreddings(c);
  let destroyed = 0;
  const removed: string[] = [];
  // Days a collector may still be sealing reports under: today and yesterday by the clock.
  const live = dayOf(c.clock()) - 1;
  for (const day of keysDue(c, cutoff)) {
    if (dayOf(dayStart(day)) >= live) {
      if (shredLiveDay(c, dir, day, () => remains.get(dayStart(day), dayLastMs(day), day))) {
        destroyed++;
      }
      continue;
    }
    const inUse = remains.get(dayStart(day), dayLastMs(day), day) !== undefined;
    if (inUse && dayLastMs(day) > hidden) {
      // Reports came in under it during the run (a run judged from the future): the key and file
      // stay for them, and the records of the day's deleted reports, not noted for zeroing
      // because the file was to go whole, are zeroed now.
      wipeUnreferenced(c.db, dir, day);
      continue;
    }
    try {
      noteShredding(c.db, day);
      await c.keyring.destroyDayKey(day);
      destroyed++;
    } catch (e) {
      // Another process (cron beside serve) shredded it first: it is gone either way.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    // Its records can no longer be opened, here or in any copy: the file goes without zeroing.
    if (await removeDayFile(dir, day)) removed.push(day);
    // Two fsyncs per key: after a long outage there may be many days to shred.
    await nextTurn();
  }
  // A due day's file whose key is gone (a run stopped between the two steps above) goes too.
  // Files listed before keys: a day's key is made before its file, so every file listed here
  // whose key exists is in the list of keys.
  const files = listDayFiles(dir);
  const keyed = new Set(c.keyring.listDayKeys());
  for (const day of files) {
    if (!keyed.has(day) && dayLastMs(day) <= cutoff && (await removeDayFile(dir, day))) {
      removed.push(day);
    }
  }
  // Where each removed file ended (store/sealed-files.ts) goes with it.
  if (removed.length > 0) {
    c.db.transaction(() =>
      removed.forEach((day) => {
        deleteMeta(c.db, sealedEndKey(day));
        deleteMeta(c.db, sealedSyncedKey(day));
      }),
    )();
  }
  // Files this process's reads held open let go of, so removed ones free their space.
  c.reports.close();
  // A shredding of this run that failed past its rename: on its receipt, so done now if it can be.
  finishShreddings(c);
  return destroyed;
}

/** Shreddings left half done, finished; those that fail again are logged, for the next run. */
function finishShreddings(c: Collector): void {
  const { failed } = c.keyring.finishShredding();
  if (failed.length > 0) {
    c.log.warn(
      { failed },
      'day keys out of use not yet overwritten: the next expiry run tries again',
    );
  }
}

/**
 * Shreds the key and removes the file of a day that a `serve`, here or in another process, may
 * still be storing reports under (a run judged from the future): in one write transaction, with
 * the look for the day's reports. A batch then either committed before it, and its reports keep
 * the key, or commits after it and finds its reports' key gone (store/ingest-writer.ts: a 503,
 * and the report is sent again under the day's new key); its day file, unlinked, is started anew
 * by the next batch (store/sealed-files.ts). Outside the transaction, a report stored between the
 * look and the shredding would be counted but unreadable. Returns whether the key was shredded.
 */
function shredLiveDay(c: Collector, dir: string, day: string, left: () => unknown): boolean {
  // Noted in a transaction of its own, before: the shredding's rename cannot be undone should its
  // transaction then roll back. A note of a key that stays is harmless (batch-keys.ts reads the
  // notes only for a report whose key is not the day's).
  const print = dayKeyFingerprint(c.keyring.dir, day);
  const notedFrom = dayName(c.clock() - 2 * DAY_MS);
  if (print !== null) {
    c.db.transaction(() => noteShreddedKey(c.db, day, print, notedFrom)).immediate();
  }
  let unfinished = false;
  const shredded = c.db
    .transaction(() => {
      // Kept whatever the run's read cut-off: these reports came after the deletions, and by the
      // clock they are hours old.
      if (left() !== undefined) return false;
      // The file first: should its removal fail, the key and the notes stay as they were.
      try {
        fs.unlinkSync(dayFile(dir, day));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      // Another run's shredding and a serve's new key in between: this one noted too.
      const now = dayKeyFingerprint(c.keyring.dir, day);
      if (now !== null && now !== print) {
        noteShreddedKey(c.db, day, now, notedFrom);
      }
      if (!c.keyring.destroyDayKeySync(day)) unfinished = true;
      countShredded(c.db, day);
      deleteMeta(c.db, sealedEndKey(day));
      deleteMeta(c.db, sealedSyncedKey(day));
      return true;
    })
    .immediate();
  if (unfinished) {
    c.log.warn(
      { day },
      'day key out of use, its overwrite failed: the next expiry run finishes it',
    );
  }
  if (!shredded) wipeUnreferenced(c.db, dir, day);
  return shredded;
}
