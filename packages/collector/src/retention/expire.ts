import { performance } from 'node:perf_hooks';
import type { ExpirySummary } from '@jcs/protocol';
import type { Collector } from '../collector';
import type { Db } from '../store/db';
import { auditCutoff } from '../store/audit';
import { recountSubjectsFrom, SUBJECTS_FROM_KEY } from '../store/subject-days';
import { setMeta, withoutCommitSync } from '../store/db';
import { markExpiredThrough } from '../store/occurrences';
import { truncateWal } from '../store/truncate-wal';
import { WalSync } from '../store/wal-sync';
import { DAY_MS, dayName, dayOf, iso } from '../time';
import { jobCutoff } from './policy';
import { NOW_SLACK_MS } from './status';
import {
  deleteDue,
  deleteInChunks,
  takeDeletedSinceReceipt,
  takeShreddedSinceReceipt,
  type ChunkOptions,
} from './deletions';
import { deleteDueOnThread } from './expiry-thread';
import { destroyKeys, keysDue } from './destroy-keys';

export { ExpiryAbortedError, CHUNK_BUDGET_MS } from './deletions';

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

/**
 * The WAL the job lets grow (about 64 MiB) before it waits for the background checkpoint to
 * catch up (store/checkpointer.ts).
 */
const WAL_FRAMES_MAX = 16_384;

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
            outcome: `ok wouldDelete=${wouldDelete} keys=${keys} cutoff=${summary.cutoff}${judgedAt(c, now)}`,
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
  // Chunks on the event loop's connection (no writer thread: tests, the CLI; and the vacuum
  // below). Before each: the background checkpoint is not too far behind, the reports already
  // submitted are written (ingest goes first), and no batch is in flight, so a batch never
  // waits out a chunk for the lock (its busy handler would sleep past the gaps between).
  const run: ChunkOptions = {
    chunkSize: o.chunkSize,
    signal: o.signal,
    // The retention's edge by the clock where it is earlier (a run judged from the future).
    keepFrom: Math.min(cutoff, jobCutoff(c.clock(), c.retentionDays)) - DAY_MS,
    pace: async () => {
      await c.checkpointer?.caughtUp(WAL_FRAMES_MAX);
      await c.batcher.settled();
      await c.batcher.turn();
    },
  };
  // Under `serve`, ingest goes to the inbox until the run is over (store/inbox-writer.ts).
  await c.inbox?.useInbox(true);
  let summary: ExpirySummary;
  let truncated: boolean;
  let ranDeleted = 0;
  try {
    const deletedReports = c.inbox
      ? await deleteOnThread(c, c.inbox, cutoff, run, phase)
      : await deleteDue(c.db, cutoff, run, phase);
    ranDeleted = deletedReports;
    // What has arrived so far in the database, where the steps below look for it.
    await c.inbox?.fold();
    const lastDay = dayOf(cutoff);
    lowerHorizonToToday(c, lastDay);
    // The whole cut-off, once done (each chunk marked only the reports it deleted): counts take
    // an hour's reports as possibly gone up to it (store/occurrences.ts).
    withoutCommitSync(c.db, () =>
      c.db.transaction(() => markExpiredThrough(c.db, cutoff)).immediate(),
    );
    // The chunks and that commit skipped their fsync: one sync of the WAL makes all of them
    // durable, so no key is shredded while the deletion of its reports could still be undone.
    // In the thread pool: on the event loop, a commit's fsync behind everything the chunks
    // wrote held up every request.
    await syncWal(c.db);
    phase('subjectsMs');
    // A run judged from the future may shred today's key, which reports arriving now are sealed
    // under: those must then be in the database, where the look-up before each shredding
    // finds them, rather than in the inbox.
    if (keysDue(c, cutoff).includes(dayName(c.clock()))) await c.inbox?.useInbox(false);
    const destroyedKeys = await destroyKeys(c, now, cutoff);
    phase('keysMs');
    const auditPruned = pruneAccessLog(c);
    await handBackFreePages(c.db, run);
    phase('vacuumMs');
    summary = writeReceipt(
      c,
      summarise(cutoff, deletedReports, destroyedKeys, elapsed(), false),
      actor,
      `auditPruned=${auditPruned}${judgedAt(c, now)}`,
    );
    // Last, so the WAL holding the old page images (and the receipt) is folded in and emptied,
    // what is left after the background checkpoint copied with ingest still in the inbox.
    truncated = await truncateWal(c);
  } finally {
    // Back to the database: the inbox folded in, on disk, and emptied.
    await c.inbox?.useInbox(false);
  }
  phase('checkpointMs');
  // `deletedReports` counts a stopped run's deletions too (writeReceipt): this run's own beside.
  c.log.info({ ...summary, ranDeleted, phases, walTruncated: truncated }, 'expiry done');
  if (!truncated) c.log.warn('WAL not truncated: readers kept it busy; the next run retries');
  return summary;
}

/**
 * ` judgedAt=<ISO>` for a receipt of a run judged at another moment than the clock's (`--now`,
 * more than a minute off: a cron line's `--now "$(date -u +%FT%TZ)"` is the clock), else ''. An
 * auditor then tells a run judged from the future, or the past, from the nightly job.
 */
function judgedAt(c: Collector, now: number): string {
  return Math.abs(now - c.clock()) > NOW_SLACK_MS ? ` judgedAt=${iso(now)}` : '';
}

/**
 * The run's receipt: a row in expiry_runs and an access-log entry, in one transaction. Its
 * `deletedReports` and `destroyedKeys` are all the reports deleted and keys shredded since the
 * last receipt: this run's, and those of runs stopped part way since, which wrote none. `more`:
 * the entry's last fields (`auditPruned=N`, and `judgedAt`). Returns the summary as receipted.
 */
function writeReceipt(
  c: Collector,
  ran: ExpirySummary,
  actor: string,
  more: string,
): ExpirySummary {
  const at = c.clock();
  const cutoff = Date.parse(ran.cutoff);
  let summary = ran;
  c.db
    .transaction(() => {
      summary = {
        ...ran,
        deletedReports: takeDeletedSinceReceipt(c.db),
        destroyedKeys: takeShreddedSinceReceipt(
          c.db,
          c.keyring.listDayKeys(),
          c.keyring.listShreddingDays(),
        ),
      };
      const { deletedReports, destroyedKeys, durationMs } = summary;
      c.db
        .prepare(
          'INSERT INTO expiry_runs (at, cutoff, deleted_reports, destroyed_keys, duration_ms) VALUES (?, ?, ?, ?, ?)',
        )
        .run(at, cutoff, deletedReports, destroyedKeys, durationMs);
      c.audit.append(
        {
          actor,
          action: 'expire',
          target: null,
          outcome: `ok deleted=${deletedReports} keys=${destroyedKeys} cutoff=${summary.cutoff} durationMs=${durationMs} ${more}`,
        },
        at,
      );
    })
    .immediate();
  return summary;
}

/**
 * The deletions on their own thread (retention/expiry-thread.ts), with ingest committing to the
 * inbox meanwhile (store/inbox-writer.ts): a report then waits for no chunk. Before each chunk,
 * what the inbox took since the last is folded into the database, so reads waiting for it
 * (Collector.settled) wait for one chunk at most; the chunk holds folds off while it runs.
 */
function deleteOnThread(
  c: Collector,
  inbox: NonNullable<Collector['inbox']>,
  cutoff: number,
  o: ChunkOptions,
  phase: (name: string) => void,
): Promise<number> {
  const pace = async () => {
    await c.checkpointer?.caughtUp(WAL_FRAMES_MAX);
    await inbox.fold();
  };
  return deleteDueOnThread(c, cutoff, { ...o, pace }, () => inbox.holdFolds(), phase);
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
 * A run judged from the future (`--now`) deleted today's subject rows and raised the horizon
 * past today; left there, no report still arriving today would count for a user or licence
 * until that future day (but where a window's edge is read from the reports themselves). The
 * horizon comes back to today: where nothing of today is stored (the run deleted it all), today's
 * rows count again from scratch; where reports of today are left (ones that came in during the
 * run, or after its cut-off within today), their subject rows are written again from them and
 * counted (store/subject-days.ts recountSubjectsFrom), so an erasure finds them by their rows.
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
      else recountSubjectsFrom(c.db, today);
    })
    .immediate();
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
