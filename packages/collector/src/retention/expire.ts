import { performance } from 'node:perf_hooks';
import type { ExpirySummary } from '@jcs/protocol';
import type { Collector } from '../collector';
import type { Db } from '../store/db';
import { auditCutoff } from '../store/audit';
import { expireSubjects, SUBJECTS_FROM_KEY } from '../store/subject-days';
import { setMeta, withoutCommitSync } from '../store/db';
import { ExpiredKeys } from '../store/report-keys';
import { WalSync } from '../store/wal-sync';
import { listDayFiles, removeDayFile, sealedDir } from '../store/sealed-files';
import { applyWipes, noteWipes, wipeUnreferenced } from '../store/sealed-wipes';
import { DAY_MS, dayName, dayOf, iso } from '../time';
import { dayLastMs, dayStart, jobCutoff, readCutoff } from './policy';

export interface ExpiryOptions {
  /** Judge ages as if it were this moment (ms); default: the collector's clock. */
  now?: number;
  /** Count what would go, delete nothing. */
  dryRun?: boolean;
  /**
   * Who ran it, for the receipt: a token name, or `system:...` (default `system:job`), which no
   * token can be named (token names cannot hold ':').
   */
  actor?: string;
  /**
   * Rows per transaction, fixed. By default the size adapts so that each transaction (commit and
   * any checkpoint it triggers included) takes about CHUNK_BUDGET_MS.
   */
  chunkSize?: number;
  /** Stops the run between two chunks (serve's shutdown); what is committed stays deleted. */
  signal?: AbortSignal;
}

/** Thrown when a run is stopped by its signal; the next run finishes the work. */
export class ExpiryAbortedError extends Error {
  constructor() {
    super('the expiry run was stopped before it finished; the next run completes it');
    this.name = 'ExpiryAbortedError';
  }
}

/**
 * How long one deletion transaction should hold the database's single writer (and the event
 * loop): ingest waits at most about this long. What a row costs depends on the table and on the
 * disk, so the chunk size follows the measured time rather than a fixed count. Each transaction
 * also rewrites the pages its deletions and its vacuum share with every other (b-tree interior
 * pages, the pointer map), so smaller chunks cost more in all. A million expired reports under
 * ingest at 200/s, side by side: 15 ms chunks took 14.0 s with an ingest p99 of 180 ms, 5 ms
 * chunks 15.8 s and 117 ms, 2 ms chunks 28.7 s and 93 ms; in another run, 10 ms chunks 13.0 and
 * 14.7 s (p99 140 and 173 ms), 5 ms chunks 17.7 and 18.8 s (p99 120 and 162 ms). Below 10 ms the
 * job slows by more than ingest's p99 gains.
 */
export const CHUNK_BUDGET_MS = 10;
const FIRST_CHUNK = 200;
const MIN_CHUNK = 20;
const MAX_CHUNK = 100_000;
/**
 * The WAL the job lets grow (about 64 MiB) before it waits for the background checkpoint to
 * catch up (store/checkpointer.ts).
 */
const WAL_FRAMES_MAX = 16_384;

/** How the deletion loops run: the caller's size and signal, and a wait before each chunk. */
interface ChunkOptions {
  chunkSize?: number;
  signal?: AbortSignal;
  pace?: () => Promise<void>;
  /** false: no incremental vacuum after each chunk (the vacuum's own loop) */
  vacuum?: boolean;
}

const running = new WeakMap<Collector, Promise<unknown>>();

/**
 * The expiry job: deletes every report received at or before `now - (retentionDays - 1)` days
 * (one day ahead of the read cutoff, so a nightly run keeps the 42-day bound), the pseudonymous
 * subject rows of those days, and each day key once no report under it remains; then hands the
 * freed pages back (incremental vacuum) and truncates the WAL, so no byte of a deleted report
 * stays in the files. Writes a receipt (expiry_runs row and access-log entry).
 *
 * Crash-safe and idempotent: every chunk is its own transaction, a key is shredded only after the
 * deletion of its reports is committed, and a run killed at any point leaves a consistent database
 * whose leftovers the next run deletes. Runs in one collector are serialised.
 *
 * @example
 * const s = await runExpiry(c, { actor: 'system:nightly' });
 * // { cutoff: '2026-10-21T02:30:00.000Z', deletedReports: 1520, destroyedKeys: 1, durationMs: 84, dryRun: false }
 */
export function runExpiry(c: Collector, options: ExpiryOptions = {}): Promise<ExpirySummary> {
  const previous = running.get(c) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => expireNow(c, options));
  running.set(c, run);
  void run
    .finally(() => {
      if (running.get(c) === run) running.delete(c);
    })
    .catch(() => undefined);
  return run;
}

async function expireNow(c: Collector, o: ExpiryOptions): Promise<ExpirySummary> {
  const started = performance.now();
  const now = o.now ?? c.clock();
  const cutoff = jobCutoff(now, c.retentionDays);
  const actor = o.actor ?? 'system:job';
  const elapsed = () => Math.round(performance.now() - started);

  if (o.dryRun) {
    const wouldDelete = c.db
      .prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM reports WHERE received_at <= ?')
      .get(cutoff)!.n;
    const keys = keysDue(c, cutoff).length;
    const summary = summarise(cutoff, wouldDelete, keys, elapsed(), true);
    // A dry run changes nothing; it leaves one access-log entry, so who looked is on record.
    c.db
      .transaction(() =>
        c.audit.append(
          {
            actor,
            action: 'expire.dry-run',
            target: null,
            outcome: `ok wouldDelete=${wouldDelete} keys=${keys} cutoff=${summary.cutoff}`,
          },
          c.clock(),
        ),
      )
      .immediate();
    return summary;
  }

  // Milliseconds each phase took, for the log line: where a slow run spent its time.
  const phases: Record<string, number> = {};
  let mark = performance.now();
  const phase = (name: string) => {
    const t = performance.now();
    phases[name] = Math.round(t - mark);
    mark = t;
  };
  const run: ChunkOptions = {
    chunkSize: o.chunkSize,
    signal: o.signal,
    // Before each chunk: the background checkpoint is not too far behind, the reports already
    // submitted are written (ingest goes first), and no batch is in flight, so the writer thread
    // never waits out a chunk for the lock (its busy handler would sleep past the gaps between).
    pace: async () => {
      await c.checkpointer?.caughtUp(WAL_FRAMES_MAX);
      await c.batcher.settled();
      await c.batcher.turn();
    },
  };
  // Records an earlier erasure or run noted but did not get to zero (it was stopped).
  applyWipes(c.db, sealedDir(c.db.name));
  const deletedReports = await deleteExpired(c.db, cutoff, run, phase);
  // A day's subject rows go at the first run whose cutoff reaches into that day: the earliest
  // report of the day may be that old, and a username hash must not outlive its report.
  // (With the distinct counts of those days: store/subject-days.ts.)
  const lastDay = dayOf(cutoff);
  await deleteInChunks(c.db, expireSubjects(c.db, lastDay), run);
  lowerHorizonToToday(c, lastDay);
  // The chunks above commit without an fsync of their own; this one syncs the WAL and with it
  // all of them, so no key is shredded while the deletion of its reports could still be undone.
  // The WAL synced first, without the lock: this commit's own fsync then has little left to do,
  // and ingest does not wait behind a sync of everything the chunks wrote.
  await syncWal(c.db);
  c.db.transaction(() => setMeta(c.db, 'expiry_deleted_through', String(cutoff))).immediate();
  phase('subjectsMs');
  const destroyedKeys = await destroyKeys(c, now, cutoff);
  phase('keysMs');
  const auditPruned = pruneAccessLog(c);
  await handBackFreePages(c.db, run);
  phase('vacuumMs');

  const summary = summarise(cutoff, deletedReports, destroyedKeys, elapsed(), false);
  const at = c.clock();
  c.db
    .transaction(() => {
      c.db
        .prepare(
          'INSERT INTO expiry_runs (at, cutoff, deleted_reports, destroyed_keys, duration_ms) VALUES (?, ?, ?, ?, ?)',
        )
        .run(at, cutoff, deletedReports, destroyedKeys, summary.durationMs);
      c.audit.append(
        {
          actor,
          action: 'expire',
          target: null,
          outcome: `ok deleted=${deletedReports} keys=${destroyedKeys} cutoff=${summary.cutoff} durationMs=${summary.durationMs} auditPruned=${auditPruned}`,
        },
        at,
      );
    })
    .immediate();
  // Last, so the WAL holding the old page images (and the receipt) is folded in and emptied.
  // The truncating checkpoint holds off every writer while it copies, so the background one
  // copies the bulk first, and ingest waits only for what is left.
  await c.checkpointer?.caughtUp(0);
  const truncated = await checkpoint(c.db);
  phase('checkpointMs');
  c.log.info({ ...summary, phases, walTruncated: truncated }, 'expiry done');
  if (!truncated) c.log.warn('WAL not truncated: readers kept it busy; the next run retries');
  return summary;
}

function summarise(
  cutoff: number,
  deletedReports: number,
  destroyedKeys: number,
  durationMs: number,
  dryRun: boolean,
): ExpirySummary {
  return { cutoff: iso(cutoff), deletedReports, destroyedKeys, durationMs, dryRun };
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
  const upTo = db.prepare<[number, number, number]>(
    'DELETE FROM reports WHERE received_at <= ? AND (received_at < ? OR seq <= ?)',
  );
  const rest = db.prepare<[number]>('DELETE FROM reports WHERE received_at <= ?');
  const deleteUpTo = (bound: number) =>
    deleteInChunks(
      db,
      (limit) => {
        const last = end.get(bound, limit - 1);
        if (!last) return rest.run(bound).changes;
        const [at, seq] = last;
        return upTo.run(at, at, seq).changes;
      },
      o,
    );
  // The days that are due whole first: their records go with their day files, unlinked once the
  // day keys are shredded (destroyKeys), so nothing needs zeroing. The rest of the cutoff's own
  // day stays, and in its file the records of the reports deleted now are zeroed.
  const lastDay = dayName(cutoff);
  const partFrom = dayLastMs(lastDay) <= cutoff ? cutoff + 1 : dayStart(lastDay);
  let deleted = await deleteUpTo(partFrom - 1);
  const noting = db
    .prepare<[number, number, number], [string, number, number]>(
      `DELETE FROM reports WHERE received_at <= ? AND (received_at < ? OR seq <= ?)
       RETURNING key_day, sealed_at, sealed_len`,
    )
    .raw();
  const notingRest = db
    .prepare<[number], [string, number, number]>(
      'DELETE FROM reports WHERE received_at <= ? RETURNING key_day, sealed_at, sealed_len',
    )
    .raw();
  const note = (rows: [string, number, number][]) => {
    noteWipes(
      db,
      rows.map(([day, at, length]) => ({ day, at, length })),
    );
    return rows.length;
  };
  deleted += await deleteInChunks(
    db,
    (limit) => {
      const last = end.get(cutoff, limit - 1);
      if (!last) return note(notingRest.all(cutoff));
      const [at, seq] = last;
      return note(noting.all(at, at, seq));
    },
    o,
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
  const erased = db.prepare<[number, number]>(
    `DELETE FROM erased_occurrences WHERE rowid IN
       (SELECT rowid FROM erased_occurrences WHERE received_at <= ? LIMIT ?)`,
  );
  await deleteInChunks(db, (limit) => erased.run(cutoff, limit).changes, o);
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
async function deleteInChunks(
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
 * A run judged from the future (`--now`) deleted today's subject rows and raised the horizon
 * past today; left there, no report still arriving today would count for a user or licence
 * until that future day. Once nothing of today is stored (the run deleted it all), today's rows
 * can count again from scratch: the horizon comes back to today. If a report of today is left
 * (one that came in during the run), the horizon stays, so an erasure still finds that report by
 * its time of receipt (its subject rows may have gone with the day's).
 */
function lowerHorizonToToday(c: Collector, lastDay: number): void {
  const today = dayOf(c.clock());
  if (lastDay < today) return;
  c.db
    .transaction(() => {
      const left = c.db
        .prepare<[number], number>('SELECT 1 FROM reports WHERE received_at >= ? LIMIT 1')
        .pluck()
        .get(today * DAY_MS);
      if (left === undefined) setMeta(c.db, SUBJECTS_FROM_KEY, String(today));
    })
    .immediate();
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

/**
 * Day keys whose whole day is at or before the cutoff: every report sealed under them is due.
 * With `--now` ahead of the clock that includes days that have not ended yet, today's too, and
 * their keys go like any other: ingest still receiving reports today then seals them under a fresh
 * key (the keyring notices the shredded file), and the reports a run judged from the future
 * deleted stay unreadable in every copy of the database.
 */
function keysDue(c: Collector, cutoff: number): string[] {
  return c.keyring.listDayKeys().filter((day) => dayLastMs(day) <= cutoff);
}

/**
 * Shreds each due day key once no report under it remains (the deletions above are committed,
 * so a crash here leaves keys the next run shreds). A key older than the read cutoff goes
 * regardless: nothing may read under it any more.
 */
async function destroyKeys(c: Collector, now: number, cutoff: number): Promise<number> {
  const remains = c.db.prepare<[number, number, string], { one: number }>(
    // received_at bounds the look-up to the index; a report's key_day is its day of receipt.
    'SELECT 1 AS one FROM reports WHERE received_at >= ? AND received_at <= ? AND key_day = ? LIMIT 1',
  );
  const hidden = readCutoff(now, c.retentionDays);
  const dir = sealedDir(c.db.name);
  let destroyed = 0;
  for (const day of keysDue(c, cutoff)) {
    const inUse = remains.get(dayStart(day), dayLastMs(day), day) !== undefined;
    if (inUse && dayLastMs(day) > hidden) {
      // Reports came in under it during the run (a run judged from the future): the key and file
      // stay for them, and the records of the day's deleted reports, not noted for zeroing
      // because the file was to go whole, are zeroed now.
      wipeUnreferenced(c.db, dir, day);
      continue;
    }
    try {
      c.keyring.destroyDayKey(day);
      destroyed++;
    } catch (e) {
      // Another process (cron beside serve) shredded it first: it is gone either way.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    // Its records can no longer be opened, here or in any copy: the file goes without zeroing.
    await removeDayFile(dir, day);
    // Two fsyncs per key: after a long outage there may be many days to shred.
    await nextTurn();
  }
  // A due day's file whose key is gone (a run stopped between the two steps above) goes too.
  // Files listed before keys: a day's key is made before its file, so every file listed here
  // whose key exists is in the list of keys.
  const files = listDayFiles(dir);
  const keyed = new Set(c.keyring.listDayKeys());
  for (const day of files) {
    if (!keyed.has(day) && dayLastMs(day) <= cutoff) await removeDayFile(dir, day);
  }
  return destroyed;
}

/**
 * The access log is kept 13 months (by the collector's clock, never `--now`: it is evidence).
 * A failure here is logged, not fatal: the reports are what the retention promise is about.
 */
function pruneAccessLog(c: Collector): number {
  try {
    const r = c.audit.prune(auditCutoff(c.clock()));
    if (r.brokenAt !== undefined) {
      c.log.error({ brokenAt: r.brokenAt }, 'access log chain broken: pruning stopped before it');
    }
    return r.pruned;
  } catch (e) {
    c.log.error({ err: (e as Error).message }, 'access log pruning failed');
    return 0;
  }
}

/**
 * Whatever the chunks left on the free list (a run stopped midway, pages freed by the access-log
 * pruning), handed back in chunks: pages move from the end of the file into freed ones, so the
 * file stays the size of what is kept. secure_delete zeroes the pages moved out of.
 */
async function handBackFreePages(db: Db, o: ChunkOptions): Promise<void> {
  // 2 = INCREMENTAL; a database made without it would never shrink this way.
  if ((db.pragma('auto_vacuum', { simple: true }) as number) !== 2) return;
  const freePages = () => db.pragma('freelist_count', { simple: true }) as number;
  await deleteInChunks(
    db,
    (limit) => {
      const before = freePages();
      db.pragma(`incremental_vacuum(${limit})`);
      return before - freePages();
    },
    { ...o, vacuum: false },
  );
}

/** `wal_checkpoint(TRUNCATE)`, retried briefly while another process's reader holds the WAL. */
async function checkpoint(db: Db): Promise<boolean> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (r.busy === 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** An fsync of the database's WAL in the thread pool (nothing to do when there is no WAL). */
async function syncWal(db: Db): Promise<void> {
  const wal = new WalSync(`${db.name}-wal`);
  try {
    await wal.sync();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  } finally {
    wal.close();
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
