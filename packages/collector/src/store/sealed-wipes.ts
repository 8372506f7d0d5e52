import fs from 'node:fs';
import type { Logger } from '../log';
import { sealedDir } from './sealed-files';
import type { Db } from './db';
import { dayFile, keptEnd } from './sealed-files';
import { writeZeros } from '../crypto/files';
import { dayStart } from '../retention/policy';
import { DAY_MS } from '../time';

/** A byte range of a day's file whose records belong to deleted reports. */
export interface SealedRange {
  day: string;
  at: number;
  length: number;
}

/**
 * What a DELETE of reports returns for `noteWipes`: each deleted report's record, as a
 * [day, offset, length] row (`.raw()`).
 */
export const RETURNING_RECORDS = 'RETURNING key_day, sealed_at, sealed_len';
export type RecordRow = [day: string, at: number, length: number];

/**
 * Notes, in the transaction that deletes reports (an erasure, or expiry of part of a day whose
 * file stays), the ranges their records take, adjacent ones merged. `applyWipes` zeroes them after
 * the commit. The note is what makes the zeroing crash-safe: zeroing before the commit would
 * destroy reports a rollback keeps; zeroing after it without a note would lose track of the
 * bytes if the process died in between. A note is removed only once its zeros are on disk.
 *
 * @example
 * const gone = db.prepare(`DELETE FROM reports WHERE seq = ? ${RETURNING_RECORDS}`).raw().all(seq);
 * noteWipes(db, gone);
 */
export function noteWipes(db: Db, records: RecordRow[]): void {
  if (records.length === 0) return;
  const insert = db.prepare<[string, number, number]>(
    'INSERT INTO sealed_wipes (day, at, length) VALUES (?, ?, ?)',
  );
  const ranges = records.map(([day, at, length]) => ({ day, at, length }));
  for (const r of merge(ranges)) insert.run(r.day, r.at, r.length);
}

/**
 * Zeroes every noted range (clamped to its file: a range is never written past the end), syncs,
 * then removes the notes. Ranges of a file that is gone (its day expired whole) need nothing.
 * Returns the bytes zeroed.
 */
export function applyWipes(db: Db, dir: string): number {
  const notes = db
    .prepare<[], { rowid: number; day: string; at: number; length: number }>(
      'SELECT rowid, day, at, length FROM sealed_wipes ORDER BY day, at',
    )
    .all();
  if (notes.length === 0) return 0;
  let zeroed = 0;
  const byDay = new Map<string, SealedRange[]>();
  for (const n of notes) {
    const list = byDay.get(n.day) ?? [];
    list.push(n);
    byDay.set(n.day, list);
  }
  for (const [day, ranges] of byDay) zeroed += zeroRanges(dir, day, ranges);
  const last = Math.max(...notes.map((n) => n.rowid));
  db.transaction(() =>
    db.prepare('DELETE FROM sealed_wipes WHERE rowid <= ?').run(last),
  ).immediate();
  return zeroed;
}

/**
 * applyWipes, for after an erasure (or at serve's start, for one a crash cut short): a failure
 * is logged, not thrown, since the notes stay and the next expiry run zeroes them.
 *
 * @example
 * zeroNotedWipes(c.db, c.log); // 4820 (bytes), or 0 after a logged failure
 */
export function zeroNotedWipes(db: Db, log: Logger): number {
  try {
    return applyWipes(db, sealedDir(db.name));
  } catch (e) {
    log.error(
      { err: (e as Error).message },
      'erased records not yet zeroed: the next expiry run does it',
    );
    return 0;
  }
}

/**
 * Zeroes whatever part of a day's file no surviving report's record takes: for a day whose
 * reports were deleted without notes (expiry deletes a day that has passed whole without them,
 * expecting its file to go with its key) when the key has to stay after all.
 *
 * Only up to the day's committed end, read in the same snapshot as the records: past it lies
 * what the writer thread may be writing at this moment for a batch it has not committed yet
 * (reports arriving during the run, the very reason the key stays), and zeroing those bytes
 * would leave the batch's rows pointing at zeros once it commits.
 */
export function wipeUnreferenced(db: Db, dir: string, day: string): number {
  const start = dayStart(day);
  const { kept, end } = db
    .transaction(() => ({
      kept: db
        .prepare<[number, number], { at: number; length: number }>(
          `SELECT sealed_at AS at, sealed_len AS length FROM reports
           WHERE received_at >= ? AND received_at < ? ORDER BY sealed_at`,
        )
        .all(start, start + DAY_MS),
      end: keptEnd(db, day),
    }))
    .deferred();
  const gaps: SealedRange[] = [];
  let from = 0;
  for (const k of kept) {
    if (k.at > from) gaps.push({ day, at: from, length: k.at - from });
    from = Math.max(from, k.at + k.length);
  }
  // A file written before the end was kept in meta ends at its last record.
  const committedEnd = end ?? from;
  if (committedEnd > from) gaps.push({ day, at: from, length: committedEnd - from });
  return zeroRanges(dir, day, gaps);
}

function zeroRanges(dir: string, day: string, ranges: SealedRange[]): number {
  let fd: number;
  try {
    fd = fs.openSync(dayFile(dir, day), 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  let zeroed = 0;
  try {
    const size = fs.fstatSync(fd).size;
    for (const r of ranges) {
      const end = Math.min(r.at + r.length, size);
      writeZeros(fd, r.at, end);
      zeroed += Math.max(0, end - r.at);
    }
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return zeroed;
}

/** Sorted by day and offset, touching ranges joined: a chunk of expiry notes a few rows. */
function merge(ranges: SealedRange[]): SealedRange[] {
  const sorted = [...ranges].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : a.at - b.at));
  const out: SealedRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && last.day === r.day && last.at + last.length === r.at) last.length += r.length;
    else out.push({ ...r });
  }
  return out;
}
