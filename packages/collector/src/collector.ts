import { ApiError } from '@jcs/protocol';
import fs from 'node:fs';
import { openDatabase, type Db } from './store/db';
import { loadKeyring, KeyringError, MASTER_KEY_ENV, type Keyring } from './crypto/keyring';
import { TokenStore } from './store/tokens';
import { AuditLog } from './store/audit';
import { AuditBatcher } from './store/audit-batch';
import { IngestWriter } from './store/ingest-writer';
import { ReportReader, sealedFolderSeen } from './store/report-reader';
import { GroupStore } from './store/groups';
import { IngestBatcher, inProcess } from './ingest/batcher';
import { WriterThread } from './store/writer-thread';
import { dataPaths, notInitialised } from './paths';
import { storageUnavailable } from './ingest/unavailable';
import { checkpointInBackground, walRestartFrames, type Checkpointer } from './store/checkpointer';
import { WalSync } from './store/wal-sync';
import { TriageThread, TriageThreadError } from './store/triage-thread';
import { runTriage, type TriageRead } from './store/triage';
import { removeUnsyncedReports } from './store/sealed-repair';
import { keylessDays } from './store/keyless-days';
import { DAY_MS, systemClock, type Clock } from './time';
import { rareError, silentLogger, type Logger } from './log';

/** How long a small batch waits for more reports under `serve` (ingest/batcher.ts). */
const INGEST_GATHER_MS = 2;

/** The contract's ceiling: no report is kept more than 42 days after receipt. */
export const MAX_RETENTION_DAYS = 42;

/**
 * What a collector is opened with; only the data dir is needed.
 *
 * @example
 * const c = openCollector({ dataDir: '/var/lib/jcs-collector', retentionDays: 42 });
 */
export interface CollectorOptions {
  dataDir: string;
  clock?: Clock;
  /** at most 42; shorter is allowed */
  retentionDays?: number;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /**
   * Checkpoint the WAL in a worker thread instead of inside commits (store/checkpointer.ts).
   * `serve` turns it on; short-lived commands and tests do without the thread.
   */
  backgroundCheckpoint?: boolean;
  /**
   * Write reports on a thread of their own (store/writer-thread.ts), with its own connection.
   * `serve` turns it on; tests do without, so they run the writer from the TypeScript sources.
   */
  writerThread?: boolean;
  /**
   * Answer engineers' and admins' reads (`GET /v1/groups`, a group, its reports, a report,
   * `GET /v1/status`, `GET /v1/audit`) on a thread of their own (store/triage-thread.ts), so that they never hold
   * up ingest on the event loop. `serve` turns it on; tests do without, except those that spawn
   * `serve`.
   */
  triageThread?: boolean;
  /** Told when the writer thread stops: `serve` then exits, so its supervisor restarts it. */
  onWriterFailure?: (err: Error) => void;
}

/** Everything a running collector holds: the stores over one database and one keyring. */
export interface Collector {
  dataDir: string;
  db: Db;
  keyring: Keyring;
  clock: Clock;
  retentionDays: number;
  log: Logger;
  tokens: TokenStore;
  audit: AuditLog;
  /** group commit for the access-log entries of reads and refusals (store/audit-batch.ts) */
  auditBatcher: AuditBatcher;
  reports: ReportReader;
  groups: GroupStore;
  /**
   * Runs a read (store/triage.ts) in one snapshot: on the triage thread with `triageThread`, else
   * on this connection. Rejects with a 404 ApiError for an unknown group or report.
   */
  triage(read: TriageRead): Promise<unknown>;
  batcher: IngestBatcher;
  /**
   * The writer thread's inbox (store/inbox-writer.ts), with `writerThread`: the expiry job then
   * deletes on a thread of its own (retention/expiry-thread.ts), as ingest writes on one, and
   * sends ingest to the inbox while it does.
   */
  inbox?: Pick<WriterThread, 'useInbox' | 'fold' | 'holdFolds'>;
  /**
   * Resolves once every report answered so far is in the database (folded in from the inbox):
   * every read and change of reports or groups waits here first. Rejects with a 503 ApiError.
   */
  settled(): Promise<void>;
  /** the background checkpoint, when opened with `backgroundCheckpoint` */
  checkpointer?: Checkpointer;
  close(): void;
}

/** The size of the data dir's file system; where it cannot be read, as large as any. */
function diskBytes(dataDir: string): number {
  try {
    const s = fs.statfsSync(dataDir);
    return s.blocks * s.bsize;
  } catch {
    return Infinity;
  }
}

function pageSize(db: Db): number {
  return db.pragma('page_size', { simple: true }) as number;
}

/** The answer to a read the triage thread ran out of memory on. */
function readTooLarge(): ApiError {
  return new ApiError(
    'unavailable',
    'The read needed more memory than the collector has for reads: try a shorter window or a lower limit, or retry shortly.',
    { headers: { 'Retry-After': '5' } },
  );
}

/**
 * Opens an initialised data dir. Throws a KeyringError with a readable message when the data dir
 * or its keys folder is missing or unreadable.
 *
 * @example
 * const c = openCollector({ dataDir: './jcs-data' });
 */
export function openCollector(options: CollectorOptions): Collector {
  const paths = dataPaths(options.dataDir);
  if (!fs.existsSync(paths.db)) {
    throw new KeyringError(
      fs.existsSync(paths.keys)
        ? `no collector database in ${options.dataDir}, though its keys folder is there: restore collector.db from its backup`
        : notInitialised(options.dataDir),
    );
  }
  const retentionDays = options.retentionDays ?? MAX_RETENTION_DAYS;
  if (!(retentionDays > 0 && retentionDays <= MAX_RETENTION_DAYS)) {
    throw new RangeError(`the retention is at most ${MAX_RETENTION_DAYS} days and more than 0`);
  }
  const keyring = loadKeyring(paths.keys, options.env);
  const db = openDatabase(paths.db);
  const log = options.logger ?? silentLogger;
  if (options.writerThread) {
    // Before anything writes: the newest reports whose records a power cut kept off the disk.
    try {
      const { removed, otherKeyDays, unreadable } = removeUnsyncedReports(db, keyring);
      if (removed > 0) {
        log.warn(
          { removed },
          'reports whose fields did not reach the disk before the last stop were removed; they were never acknowledged, and their senders send them again',
        );
      }
      if (unreadable > 0) {
        log.warn(
          { reports: unreadable },
          'the sealed fields of these newest reports are not in sealed/ (collector.db restored without sealed/, or with an older copy of it): they stay, counted, but read as gone (404) until sealed/ is put back from the same backup as collector.db',
        );
      }
      if (otherKeyDays.length > 0) {
        log.warn(
          { days: otherKeyDays },
          "reports of these days were sealed under a key the keys folder no longer holds (the day's key file was lost and made anew, or replaced): they stay counted, but their fields cannot be read unless that key file is put back",
        );
      }
      const keyless = keylessDays(db, keyring);
      if (keyless.length > 0) {
        log.warn(
          { days: keyless },
          'reports of these days have no key file in the keys folder (lost, a restore without keys/days/, or shredded by expire --now ahead of time): they stay counted, but read as gone (404) unless the key files are put back',
        );
      }
    } catch (e) {
      // A damaged database: serve's recovery (store/recovery.ts) says so and mends what it can.
      log.error({ err: (e as Error).message }, 'the check of the newest records failed');
    }
  }
  const thread = options.writerThread
    ? new WriterThread(paths.db, {
        backgroundCheckpoint: options.backgroundCheckpoint,
        onFailure: options.onWriterFailure,
      })
    : undefined;
  if (thread && thread.recovered > 0) {
    log.warn(
      { reports: thread.recovered },
      'reports the inbox held when the last run stopped are in the database (folded now, or by that run; none twice)',
    );
  }
  // Every 2 s while a disk stays full: said once a minute.
  const checkpointFailed = rareError(log, 'background checkpoint failed: tried again every 2 s');
  const checkpointer = options.backgroundCheckpoint
    ? checkpointInBackground(db, paths.db, {
        onError: (message) => {
          log.warn(message);
          thread?.autoCheckpoint(1000);
        },
        onRunFailed: (message) => checkpointFailed(new Error(message)),
        restartFrames: walRestartFrames(diskBytes(options.dataDir), pageSize(db)),
      })
    : undefined;
  const clock = options.clock ?? systemClock;
  const sealedSeen = sealedFolderSeen(db);
  const reports = new ReportReader(db, keyring, clock, retentionDays * DAY_MS, sealedSeen);
  // Syncs the WAL for the event loop's connection: ingest's commits without the writer thread,
  // and the access log's entries.
  const wal = new WalSync(`${paths.db}-wal`);
  const writer = thread ? undefined : new IngestWriter(db, keyring.dir);
  const batcher = new IngestBatcher(
    thread ?? inProcess(writer!, wal),
    (err, size) =>
      log.error(
        { err: (err as Error).message, code: (err as { code?: string }).code, batch: size },
        'storage refused a batch',
      ),
    // With the writer thread (serve): a batch of fewer than 16 reports waits up to 2 ms for more,
    // which lowered ingest's p99 at 1,000 reports/s (ingest/batcher.ts says why).
    { gatherMs: thread ? INGEST_GATHER_MS : 0 },
  );
  const headMarkFailed = rareError(log, 'access log head mark not written');
  const audit = new AuditLog(db, keyring.auditKey, {
    keysDir: keyring.dir,
    clock,
    // Fails with every entry while the keys folder refuses writes: said once a minute.
    onError: headMarkFailed,
  });
  const auditBatcher = new AuditBatcher(db, audit, wal, clock);
  const groups = new GroupStore(db, reports);
  const env = options.env ?? process.env;
  const triageThread =
    options.triageThread && TriageThread.available()
      ? new TriageThread({
          file: paths.db,
          keysDir: keyring.dir,
          env: env[MASTER_KEY_ENV] ? { [MASTER_KEY_ENV]: env[MASTER_KEY_ENV] } : {},
          retentionDays,
          sealedSeen,
        })
      : undefined;
  return {
    dataDir: options.dataDir,
    db,
    keyring,
    clock,
    retentionDays,
    log,
    tokens: new TokenStore(db),
    audit,
    auditBatcher,
    reports,
    groups,
    triage: (read) => {
      const here = () =>
        new Promise((resolve) =>
          resolve(
            db
              .transaction(() =>
                runTriage({ db, keyring, retentionDays, groups, reports }, read, clock()),
              )
              .deferred(),
          ),
        );
      if (!triageThread) return here();
      // Should the thread fail, the read still gets an answer, from this connection.
      return triageThread.read(read, clock()).catch((e: unknown) => {
        if (!(e instanceof TriageThreadError) || !db.open) throw e;
        if (e.outOfMemory) {
          // Read again here it would take the whole collector down with it (ingest too).
          log.error({ err: e.message }, 'the triage thread ran out of memory: read refused');
          throw readTooLarge();
        }
        log.error({ err: e.message }, 'the triage thread failed: read on the event loop');
        return here();
      });
    },
    batcher,
    inbox: thread,
    settled: thread
      ? () => thread.fold().catch((e: unknown) => Promise.reject(storageUnavailable(e)))
      : () => Promise.resolve(),
    checkpointer,
    close: () => {
      // Entries asked for in this turn of the event loop, and their head mark, go out first.
      auditBatcher.close();
      audit.flushHead();
      // A count of failures still left out is said before the log closes with the process.
      headMarkFailed.flush();
      triageThread?.close();
      thread?.close();
      checkpointer?.stop();
      wal.close();
      writer?.close();
      reports.close();
      db.close();
    },
  };
}
