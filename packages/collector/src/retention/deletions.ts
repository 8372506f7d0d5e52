import { performance } from 'node:perf_hooks';
import type { Db } from '../store/db';
import { deleteMeta, getMeta, setMeta, withoutCommitSync } from '../store/db';
import {
  keepOccurrencesFrom,
  markExpiredThrough,
  unreadOccurrencesThrough,
} from '../store/occurrences';
import { expireSubjects } from '../store/subject-days';
import { ExpiredKeys } from '../store/report-keys';
import { sealedDir } from '../store/sealed-files';
import { applyWipes, noteWipes, RETURNING_RECORDS, type RecordRow } from '../store/sealed-wipes';
import { DAY_MS, dayName, dayOf } from '../time';
import { dayLastMs, dayStart } from './policy';

/**
 * The expiry job's deletions (retention/expire.ts runs the whole job): the due reports, their
 * look-up rows and their subject rows, in chunks of one transaction each. Plain functions of a
 * connection, so that `serve` can run them on a thread of their own (retention/expiry-thread.ts)
 * while tests and the CLI run them on the caller's.
 */

/** The `meta` key counting the reports deleted since the last receipt. */
const UNRECEIPTED_KEY = 'expiry_deleted_since_receipt';

/**
 * Reports deleted since the last receipt, and the count set back to 0: call in the receipt's
 * transaction. A run stopped part way (killed, or `serve` stopped) writes no receipt, and its
 * deletions, each chunk counted in its own transaction, go into the next run's, so that every
 * report the job deleted is on some receipt.
 *
 * @example
 * db.transaction(() => { const deleted = takeDeletedSinceReceipt(db); ... })();
 */
export function takeDeletedSinceReceipt(db: Db): number {
  const n = Number(getMeta(db, UNRECEIPTED_KEY) ?? 0);
  if (n !== 0) setMeta(db, UNRECEIPTED_KEY, '0');
  return n;
}

/** The `meta` key listing the days whose keys a run set out to shred since the last receipt. */
const SHREDDING_KEY = 'expiry_keys_since_receipt';

/**
 * Notes, committed, that a run is about to shred this day's key: call before shredding it. A run
 * killed after the shredding writes no receipt; the next receipt counts the key through this
 * note, as it counts that run's deletions.
 *
 * @example
 * noteShredding(db, '2026-09-01'); await keyring.destroyDayKey('2026-09-01');
 */
export function noteShredding(db: Db, day: string): void {
  const days = dayList(db, SHREDDING_KEY);
  if (!days.includes(day)) setMeta(db, SHREDDING_KEY, JSON.stringify([...days, day]));
}

/**
 * How many of the noted keys, and of the keys counted by countShredded, are destroyed, now noted
 * no more: call in the receipt's transaction. A noted key still there (a run killed before
 * shredding it) stays noted for the receipt of the run that shreds it, and a key whose overwrite
 * is not done yet (`shredding`: the keyring's listShreddingDays, one entry a key) for the receipt
 * of the run that finishes it: until then its bytes still unwrap under the master key. Whichever
 * process shreds a key, only one receipt counts it.
 *
 * @example
 * db.transaction(() =>
 *   takeShreddedSinceReceipt(db, keyring.listDayKeys(), keyring.listShreddingDays()),
 * )();
 */
export function takeShreddedSinceReceipt(db: Db, keyed: string[], shredding: string[]): number {
  const unfinished = new Map<string, number>();
  for (const day of shredding) unfinished.set(day, (unfinished.get(day) ?? 0) + 1);
  /** Whether a key of the day still waits for its overwrite (each waiting key answers once). */
  const waits = (day: string) => {
    const n = unfinished.get(day) ?? 0;
    if (n > 0) unfinished.set(day, n - 1);
    return n > 0;
  };
  // A count an earlier version kept in place of the list.
  let counted = Number(getMeta(db, SHREDDED_KEY) ?? 0);
  if (counted !== 0) deleteMeta(db, SHREDDED_KEY);
  const inTransaction = dayList(db, SHREDDED_DAYS_KEY);
  const inTransactionLeft = inTransaction.filter(waits);
  setDayList(db, SHREDDED_DAYS_KEY, inTransactionLeft);
  counted += inTransaction.length - inTransactionLeft.length;
  const noted = dayList(db, SHREDDING_KEY);
  const notedLeft = noted.filter((day) => keyed.includes(day) || waits(day));
  setDayList(db, SHREDDING_KEY, notedLeft);
  return counted + noted.length - notedLeft.length;
}

/** The `meta` key an earlier version counted the keys shredded inside a transaction in. */
const SHREDDED_KEY = 'expiry_keys_shredded_since_receipt';
/** The `meta` key listing the days of keys shredded inside a transaction since the last receipt. */
const SHREDDED_DAYS_KEY = 'expiry_keys_shredded_days_since_receipt';

/**
 * Counts a key shredded inside the transaction that calls it (retention/destroy-keys.ts, a day a
 * `serve` may still be writing): committed with the shredding, it needs no note. A note would
 * not do: `serve` gives the day a new key at its next report, and a noted day that has a key is
 * taken for one not yet shredded. The day is kept so that a key whose overwrite failed is counted
 * only once it is done (takeShreddedSinceReceipt).
 *
 * @example
 * db.transaction(() => { keyring.destroyDayKeySync(day); countShredded(db, day); }).immediate();
 */
export function countShredded(db: Db, day: string): void {
  setDayList(db, SHREDDED_DAYS_KEY, [...dayList(db, SHREDDED_DAYS_KEY), day]);
}

function dayList(db: Db, key: string): string[] {
  const raw = getMeta(db, key);
  return raw === undefined ? [] : (JSON.parse(raw) as string[]);
}

function setDayList(db: Db, key: string, days: string[]): void {
  if (days.length > 0) setMeta(db, key, JSON.stringify(days));
  else if (getMeta(db, key) !== undefined) deleteMeta(db, key);
}

/** Thrown when a run is stopped by its signal; the next run finishes the work. */
export class ExpiryAbortedError extends Error {
  constructor() {
    super('the expiry run was stopped before it finished; the next run completes it');
    this.name = 'ExpiryAbortedError';
  }
}

/**
 * How long one deletion transaction should hold the database's single writer: ingest waits at
 * most about this long. What a row costs depends on the table and on the disk, so the chunk size
 * follows the measured time rather than a fixed count. Each transaction also rewrites the pages
 * its deletions and its vacuum share with every other (b-tree interior pages, the pointer map),
 * and waits its turn behind ingest, so smaller chunks cost more in all. A million expired
 * reports under ingest at 200/s, on the job's own thread, side by side: 20 ms chunks took 15.7
 * and 16.0 s with an ingest p99 of 73 and 81 ms, 25 ms chunks 14.9 and 17.8 s (88 and 91 ms); in
 * another run 10 ms chunks took 23.7 s (p99 64 ms) and 30 ms chunks 14.1 s (142 ms). (On the
 * event loop, 10 ms chunks took 13 to 15 s with a p99 of 140 to 170 ms: every request waited
 * for several chunks there.)
 */
export const CHUNK_BUDGET_MS = 20;
const FIRST_CHUNK = 200;
const MIN_CHUNK = 20;
const MAX_CHUNK = 100_000;

/** How the deletion loops run: the caller's size and signal, and a wait before each chunk. */
export interface ChunkOptions {
  /** told after each chunk, committed or not (the thread's owner then lets ingest go again) */
  done?: () => void;
  chunkSize?: number;
  signal?: AbortSignal;
  pace?: () => Promise<void>;
  /** false: no incremental vacuum after each chunk (the vacuum's own loop) */
  vacuum?: boolean;
  /**
   * The deleted reports received from this moment on leave their occurrences for the partial
   * hours of windows that start after it (default: a day before the cutoff, the retention's edge
   * as the run judges it). A run judged from the future gives the edge by the clock: windows are
   * read by the clock, and would otherwise count a partial hour whole.
   */
  keepFrom?: number;
}

/**
 * Deletes the reports received at or before the cutoff, then their look-up rows: each table in
 * its own key order (reports and their receipt index in order of receipt, report_ids a day at a
 * time, report_groups a group at a time), so that each page is rewritten, and zeroed, about once.
 * A crash between two phases leaves look-up rows without their report, which readers ignore (they
 * join to reports) and the next run deletes.
 */
async function deleteExpired(
  db: Db,
  cutoff: number,
  o: ChunkOptions,
  phase: (name: string) => void,
): Promise<number> {
  // Each chunk the oldest `limit` reports: up to the receipt-index key of the limit-th, in one
  // pass over the index rather than a search per report.
  const end = db
    .prepare<[number, number], [number, number]>(
      `SELECT received_at, seq FROM reports WHERE received_at <= ?
       ORDER BY received_at, seq LIMIT 1 OFFSET ?`,
    )
    .raw();
  // The chunk up to that key (`upTo`), or everything left up to the bound (`rest`).
  const UP_TO_ROWS = 'received_at <= ? AND (received_at < ? OR seq <= ?)';
  const REST_ROWS = 'received_at <= ?';
  const UP_TO = `DELETE FROM reports WHERE ${UP_TO_ROWS}`;
  const REST = `DELETE FROM reports WHERE ${REST_ROWS}`;
  // The occurrences of the reports deleted from the retention's edge (as this run judges it) on
  // are kept, anonymous, as an erasure keeps them: a group's default six weeks start there, and
  // count their partial first hour from them (store/occurrences.ts). Said before any deletion.
  const keepFrom = o.keepFrom ?? cutoff - DAY_MS;
  const keptFrom = db.transaction(() => keepOccurrencesFrom(db, keepFrom)).immediate();
  const KEEP = `INSERT INTO removed_occurrences (group_id, received_at, app_version, line, n)
    SELECT group_id, received_at, app_version, line, 1 + IFNULL(repeats, 0) FROM reports
    WHERE received_at >= ?`;
  // The rows UP_TO and REST delete, from keptFrom on.
  const keep = {
    upTo: db.prepare(`${KEEP} AND ${UP_TO_ROWS}`),
    rest: db.prepare(`${KEEP} AND ${REST_ROWS}`),
  };
  const oldestFirst = (
    bound: number,
    upTo: (at: number, seq: number) => number,
    rest: () => number,
  ) =>
    deleteInChunks(
      db,
      (limit) => {
        const last = end.get(bound, limit - 1);
        if (!last) {
          keep.rest.run(keptFrom, bound);
          return rest();
        }
        keep.upTo.run(keptFrom, last[0], last[0], last[1]);
        return upTo(last[0], last[1]);
      },
      o,
    );
  // The days that are due whole first: their records go with their day files, unlinked once the
  // day keys are shredded (destroyKeys), so nothing needs zeroing. The rest of the cutoff's own
  // day stays, and in its file the records of the reports deleted now are zeroed: those
  // deletions return their records' ranges, noted in the same transaction.
  const lastDay = dayName(cutoff);
  const partFrom = dayLastMs(lastDay) <= cutoff ? cutoff + 1 : dayStart(lastDay);
  const whole = { upTo: db.prepare(UP_TO), rest: db.prepare(REST) };
  // Each chunk marks how far it deleted, in its own transaction (store/occurrences.ts): a run
  // stopped between two chunks left its deletions unmarked, and a window's partial edge hour,
  // counted from the reports still there, missed them until a later run finished.
  const marked = (through: number, n: number) => {
    if (n > 0) {
      markExpiredThrough(db, through);
      setMeta(db, UNRECEIPTED_KEY, String(Number(getMeta(db, UNRECEIPTED_KEY) ?? 0) + n));
    }
    return n;
  };
  let deleted = await oldestFirst(
    partFrom - 1,
    (at, seq) => marked(at, whole.upTo.run(at, at, seq).changes),
    () => marked(partFrom - 1, whole.rest.run(partFrom - 1).changes),
  );
  const part = {
    upTo: db.prepare<unknown[], RecordRow>(`${UP_TO} ${RETURNING_RECORDS}`).raw(),
    rest: db.prepare<unknown[], RecordRow>(`${REST} ${RETURNING_RECORDS}`).raw(),
  };
  const note = (records: RecordRow[]) => {
    noteWipes(db, records);
    return records.length;
  };
  deleted += await oldestFirst(
    cutoff,
    (at, seq) => marked(at, note(part.upTo.all(at, at, seq))),
    () => marked(cutoff, note(part.rest.all(cutoff))),
  );
  applyWipes(db, sealedDir(db.name));
  phase('reportsMs');
  const keys = new ExpiredKeys(db);
  // One size for all the days (and one for all the groups): the rows cost the same in each.
  let size = new ChunkSize(o.chunkSize);
  for (let day = keys.nextDay('', lastDay); day; day = keys.nextDay(day, lastDay)) {
    const d = day;
    await deleteInChunks(db, (limit) => keys.deleteDay(d, cutoff, limit), o, size);
  }
  phase('reportKeysMs');
  size = new ChunkSize(o.chunkSize);
  for (let group = keys.nextGroup(''); group; group = keys.nextGroup(group)) {
    const g = group;
    await deleteInChunks(db, (limit) => keys.deleteGroup(g, cutoff, limit), o, size);
  }
  phase('reportGroupsMs');
  // The occurrences of removed reports that no window reads any more.
  const removed = db.prepare<[number, number]>(
    `DELETE FROM removed_occurrences WHERE rowid IN
       (SELECT rowid FROM removed_occurrences WHERE received_at <= ? LIMIT ?)`,
  );
  const unread = unreadOccurrencesThrough(db);
  await deleteInChunks(db, (limit) => removed.run(unread, limit).changes, o);
  return deleted;
}

/**
 * Runs `step(limit)`, which deletes at most `limit` rows, until it deletes fewer: each run its own
 * transaction, the event loop free between two. Without a fixed size, the next limit is scaled
 * towards CHUNK_BUDGET_MS from how long the last transaction took.
 *
 * The chunks commit with synchronous=NORMAL: a deletion lost to a power cut is redone by the next
 * run, so it need not wait for its own fsync, and an fsync per chunk would be most of its time.
 * (The WAL is still synced at the next commit of ingest, and before any key is shredded.)
 */
export async function deleteInChunks(
  db: Db,
  step: (limit: number) => number,
  o: ChunkOptions,
  size = new ChunkSize(o.chunkSize),
): Promise<number> {
  // Each chunk also hands its freed pages back (incremental vacuum) while the free list is short:
  // SQLite finds each page it removes from the list by walking the list, so a vacuum left to the
  // end of a large run (a free list of hundreds of thousands of pages) costs quadratic time.
  const vacuum = (db.pragma('auto_vacuum', { simple: true }) as number) === 2 && o.vacuum !== false;
  const chunk = db.transaction((limit: number) => {
    const n = step(limit);
    if (vacuum) db.pragma('incremental_vacuum');
    return n;
  });
  // A chunk that vacuums every page it frees needs no zeroing of whole freed pages: in the same
  // transaction each one is either cut off the end of the file or overwritten by a page moved
  // into it, so none is left holding deleted bytes when the chunk commits. FAST still zeroes the
  // deleted cells of pages that stay. Zeroing a freed page is a 4 KiB write to the WAL and
  // another at the checkpoint, for a page about to go: the reports phase of a million took about
  // 15% longer with it.
  const secureDelete = db.prepare<[], unknown>(`PRAGMA secure_delete = ${vacuum ? 'FAST' : 'ON'}`);
  const restore = db.prepare<[], unknown>('PRAGMA secure_delete = ON');
  let total = 0;
  for (;;) {
    await o.pace?.();
    if (o.signal?.aborted) throw new ExpiryAbortedError();
    const started = performance.now();
    const limit = size.limit;
    secureDelete.get();
    let n: number;
    try {
      n = withoutCommitSync(db, () => chunk.immediate(limit));
    } finally {
      restore.get();
      o.done?.();
    }
    total += n;
    if (n === limit) size.took(performance.now() - started);
    // Let ingest (and anything else waiting on the event loop) have the writer between chunks,
    // the last one too: a phase that runs this loop per day or per group would otherwise chain
    // their short last chunks into one long hold of the event loop.
    await nextTurn();
    if (n < limit) return total;
  }
}

/**
 * Rows per chunk: fixed when asked, otherwise scaled towards CHUNK_BUDGET_MS from how long the
 * last chunk took, at most doubling or halving at a time so one slow write does not swing it.
 */
class ChunkSize {
  limit: number;

  constructor(private readonly fixed: number | undefined) {
    this.limit = fixed ?? FIRST_CHUNK;
  }

  took(ms: number): void {
    if (this.fixed !== undefined) return;
    const factor = Math.min(2, Math.max(0.5, CHUNK_BUDGET_MS / Math.max(ms, 0.5)));
    this.limit = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, Math.round(this.limit * factor)));
  }
}

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Every deletion of a run: the reports received at or before `cutoff` and their look-up rows,
 * then the subject rows of the days the cutoff reaches into. `phase` is told as each part ends.
 *
 * @example
 * const deleted = await deleteDue(db, cutoff, { pace }, (name) => marks.push(name));
 */
export async function deleteDue(
  db: Db,
  cutoff: number,
  o: ChunkOptions,
  phase: (name: string) => void,
): Promise<number> {
  // Records an earlier erasure or run noted but did not get to zero (it was stopped).
  applyWipes(db, sealedDir(db.name));
  const deleted = await deleteExpired(db, cutoff, o, phase);
  // A day's subject rows go at the first run whose cutoff reaches into that day: the earliest
  // report of the day may be that old, and a username hash must not outlive its report.
  // (With the distinct counts of those days: store/subject-days.ts.)
  await deleteInChunks(db, expireSubjects(db, dayOf(cutoff)), o);
  return deleted;
}
