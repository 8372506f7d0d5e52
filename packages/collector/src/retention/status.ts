import { COMPLIANCE, type RetentionStatus } from '@jcs/protocol';
import type { Db } from '../store/db';
import { DAY_MS, iso } from '../time';
import { dayLastMs, EXPIRY_DUE_MS, readCutoff } from './policy';

export interface LastExpiry {
  /** when the run finished, by the collector's clock (ms) */
  at: number;
  cutoff: number;
  deletedReports: number;
  destroyedKeys: number;
  durationMs: number;
}

/** How far behind the clock a run's `--now` may be and still count as the job run now. */
export const NOW_SLACK_MS = 60_000;

/**
 * The newest completed (not dry) run that judged ages as of its own time or later, or null when
 * the job has never run so. A run with `--now` in the past deleted only what was old then: it is
 * on record (expiry_runs, the access log) but keeps nothing compliant now.
 */
export function lastExpiry(c: { db: Db; retentionDays: number }): LastExpiry | null {
  // The cutoff is taken at the start of a run and `at` at its end, `duration_ms` apart; a minute
  // more for a `--now` written to the second by cron (`date -u +%FT%TZ`), then a slow start.
  const slack = (c.retentionDays - 1) * DAY_MS + NOW_SLACK_MS;
  const row = c.db
    .prepare<
      [number],
      {
        at: number;
        cutoff: number;
        deleted_reports: number;
        destroyed_keys: number;
        duration_ms: number;
      }
    >('SELECT * FROM expiry_runs WHERE cutoff >= at - duration_ms - ? ORDER BY seq DESC LIMIT 1')
    .get(slack);
  if (!row) return null;
  return {
    at: row.at,
    cutoff: row.cutoff,
    deletedReports: row.deleted_reports,
    destroyedKeys: row.destroyed_keys,
    durationMs: row.duration_ms,
  };
}

/**
 * What the status is read from: a collector, or the read thread's own connection and keyring
 * (store/triage-worker.ts).
 */
export interface StatusSource {
  db: Db;
  keyring: { listDayKeys(): string[]; listShreddingDays(): string[] };
  retentionDays: number;
}

/**
 * Whether a run's time can be believed: not later than now. One dated ahead ran while the clock
 * was ahead (set right since): when it really ran is unknown, so it shows neither that the job
 * ran in the last 36 hours nor when the next nightly run is due (serve runs the job at start). A
 * minute of slack for clocks of two processes on one machine.
 *
 * @example
 * dated({ at: Date.parse('2027-01-01T02:30:00Z') }, Date.parse('2026-12-02T10:00:00Z')); // false
 */
export function dated(run: { at: number }, now: number): boolean {
  return run.at <= now + COMPLIANCE.aheadSlackMs;
}

/**
 * Retention at a glance (`GET /v1/status`). Not compliant when the job has never run or not for
 * 36 hours, or when anything stored is past the retention: a report, a day's pseudonymous subject
 * rows (judged by the day's first moment, the oldest report they may come from), or a day key
 * whose whole day is past it (a backup would still open under it), one whose overwrite failed
 * included. Counting a million reports takes some 40 ms, so under `serve` it runs on the read
 * thread (store/triage.ts).
 *
 * @example
 * retentionStatus(c, c.clock());
 * // { retentionDays: 42, reports: 1520, oldestReceivedAt: '2026-09-20T02:31:07.000Z',
 * //   lastExpiry: { at: '2026-11-01T02:30:00.412Z', deletedReports: 37, destroyedKeys: 1 },
 * //   compliant: true }
 */
export function retentionStatus(c: StatusSource, now: number): RetentionStatus {
  const { reports, oldest } = c.db
    .prepare<[], { reports: number; oldest: number | null }>(
      'SELECT COUNT(*) AS reports, MIN(received_at) AS oldest FROM reports',
    )
    .get()!;
  const oldestSubjectDay = c.db
    .prepare<[], { day: number | null }>('SELECT MIN(day) AS day FROM subject_row_days')
    .get()!.day;
  const last = lastExpiry(c);
  const hidden = readCutoff(now, c.retentionDays);
  const pastAge =
    (oldest !== null && oldest <= hidden) ||
    (oldestSubjectDay !== null && oldestSubjectDay * DAY_MS <= hidden) ||
    // A key whose overwrite failed is kept too: its bytes still unwrap under the master key.
    [...c.keyring.listDayKeys(), ...c.keyring.listShreddingDays()].some(
      (day) => dayLastMs(day) <= hidden,
    );
  // At exactly 36 hours the job "has not run for 36 hours" (the contract): not compliant.
  const ranRecently = last !== null && dated(last, now) && now - last.at < EXPIRY_DUE_MS;
  return {
    retentionDays: c.retentionDays,
    reports,
    oldestReceivedAt: oldest === null ? null : iso(oldest),
    lastExpiry:
      last === null
        ? null
        : {
            at: iso(last.at),
            deletedReports: last.deletedReports,
            destroyedKeys: last.destroyedKeys,
          },
    compliant: ranRecently && !pastAge,
  };
}
