import type { Db } from './db';
import { subjectDayTriggers } from './subject-days';
import { moveSealedFields } from './sealed-migration';

/**
 * The database schema, as an ordered list of migrations. Times are integer milliseconds since the
 * epoch (receivedAt, the collector's clock); hours and days are whole UTC hours and days since
 * the epoch. Personal data (username, description, code, dump) is stored only sealed under the
 * data key of the day of receipt (crypto/fields.ts), in that day's file beside the database
 * (store/sealed-files.ts); nothing in this file holds it in plaintext.
 */
export const MIGRATIONS: (string | ((db: Db) => void))[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

  CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('ingest', 'engineer', 'admin')),
    digest BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
  );

  CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    app_name TEXT NOT NULL,
    number INTEGER NOT NULL,
    module TEXT NOT NULL,
    procedure TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'unresolved' CHECK (status IN ('unresolved', 'resolved', 'ignored')),
    resolved_in_version TEXT,
    regressed INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;

  CREATE TABLE reports (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    key_day TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    app_version TEXT NOT NULL,
    license TEXT NOT NULL,
    line INTEGER NOT NULL,
    repeats INTEGER,
    dump_withheld TEXT,
    user_hash BLOB,
    username BLOB,
    description BLOB NOT NULL,
    code BLOB,
    dump BLOB
  );
  -- Only the receipt-time index sits on the table itself: the expiry job deletes in order of
  -- receipt, which walks this index and the table's rowid order (receipt order) page by page.
  CREATE INDEX reports_received ON reports (received_at);

  -- How a report is found: by its id under its day of receipt (report_ids), and by group in order
  -- of receipt (report_groups). Tables, not indexes on reports: an index entry goes with its row,
  -- so deleting in order of receipt would rewrite pages all over every other index (each one a
  -- page zeroed by secure_delete). The expiry job deletes these rows itself, each table in its own
  -- key order (store/report-keys.ts). A data subject's reports are found through group_subjects
  -- (store/erase.ts), so ingest writes no look-up row per username or licence: each would be an
  -- insert at a random place in a large tree, a page written per report.
  CREATE TABLE report_ids (
    key_day TEXT NOT NULL,
    id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (key_day, id, seq)
  ) WITHOUT ROWID;

  CREATE TABLE report_groups (
    group_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (group_id, received_at, seq)
  ) WITHOUT ROWID;

  -- Anonymous aggregates, kept as reports arrive so triage never scans reports.
  CREATE TABLE group_hours (
    group_id TEXT NOT NULL,
    hour INTEGER NOT NULL,
    version TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (group_id, hour, version)
  ) WITHOUT ROWID;
  CREATE INDEX group_hours_hour ON group_hours (hour, group_id, version, count);

  -- The same counts by UTC day: a six-week window sums days, not a thousand hours per group.
  CREATE TABLE group_days (
    group_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    version TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (group_id, day, version)
  ) WITHOUT ROWID;
  CREATE INDEX group_days_day ON group_days (day, group_id, version, count);

  CREATE TABLE group_lines (
    group_id TEXT NOT NULL,
    hour INTEGER NOT NULL,
    line INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (group_id, hour, line)
  ) WITHOUT ROWID;

  -- Pseudonymous (keyed username hashes, licence numbers): one row per subject, group, UTC day
  -- and version it was seen in; deleted with the reports they came from (retention) and on
  -- erasure. Keyed by subject first, so a subject's days in a group are one seek away (the
  -- triggers below) and an erasure reads one range. No index by day: each new row would cost an
  -- insert at a random place in it; the expiry job walks the table instead (subject-days.ts).
  CREATE TABLE group_subjects (
    kind INTEGER NOT NULL CHECK (kind IN (0, 1)), -- 0 username hash, 1 licence
    subject BLOB NOT NULL,
    group_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (kind, subject, group_id, day, version)
  ) WITHOUT ROWID;
  -- The UTC days that have group_subjects rows (a day may stay listed after an erasure took its
  -- last row): what the expiry job and the retention status read instead of walking that table.
  CREATE TABLE subject_row_days (day INTEGER PRIMARY KEY);

  -- Anonymous counts over group_subjects, kept by its triggers, for exact distinct counts over any
  -- span of days at a cost bounded by days, not reports (store/subject-days.ts): a row counts the
  -- subjects seen in the group on day whose previous day there was prev (0: none). The subjects
  -- seen in days [a, b) are those whose first day in the span is in it: the sum over day in
  -- [a, b) and prev < a. version '' counts a subject once across versions (so its prev is its
  -- previous day in any version); a version's own rows count it within that version.
  CREATE TABLE group_subject_days (
    group_id TEXT NOT NULL,
    version TEXT NOT NULL,
    kind INTEGER NOT NULL,
    day INTEGER NOT NULL,
    prev INTEGER NOT NULL,
    subjects INTEGER NOT NULL,
    PRIMARY KEY (group_id, version, kind, day, prev)
  ) WITHOUT ROWID;
  CREATE INDEX group_subject_days_day ON group_subject_days (day);
  ${subjectDayTriggers()}

  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    WHEN (SELECT value FROM meta WHERE key = 'audit_pruning') IS NOT '1'
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

  CREATE TABLE expiry_runs (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    cutoff INTEGER NOT NULL,
    deleted_reports INTEGER NOT NULL,
    destroyed_keys INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL
  );
  `,
  `
  -- The occurrences of erased reports, without anything that names a report or a subject:
  -- counts are anonymous and stay after an erasure, and the partial hours at a window's edges
  -- are counted from the reports themselves (store/occurrences.ts), so they look here too.
  -- Deleted by the expiry job with the reports of their time.
  CREATE TABLE erased_occurrences (
    group_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    app_version TEXT NOT NULL,
    line INTEGER NOT NULL,
    n INTEGER NOT NULL
  );
  CREATE INDEX erased_occurrences_received ON erased_occurrences (received_at);
  `,
  // The sealed fields leave the table for a file per day of receipt (store/sealed-files.ts);
  // a row names where its record is. Reports stored before are moved there.
  (db) => {
    db.exec(`
      ALTER TABLE reports ADD COLUMN sealed_at INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE reports ADD COLUMN sealed_len INTEGER NOT NULL DEFAULT 0;
      -- Ranges of day files whose reports are deleted, to be zeroed (store/sealed-wipes.ts).
      CREATE TABLE sealed_wipes (day TEXT NOT NULL, at INTEGER NOT NULL, length INTEGER NOT NULL);
    `);
    moveSealedFields(db);
    db.exec(`
      ALTER TABLE reports DROP COLUMN username;
      ALTER TABLE reports DROP COLUMN description;
      ALTER TABLE reports DROP COLUMN code;
      ALTER TABLE reports DROP COLUMN dump;
    `);
  },
  // Deleting subject rows keeps the distinct counts right through TEMP triggers of the
  // connections that need it (keepSubjectDaysOnRemoval, store/subject-days.ts), so the expiry
  // job's millions of deletions before the horizon no longer run them for nothing.
  `
  DROP TRIGGER IF EXISTS group_subjects_removed;
  DROP TRIGGER IF EXISTS group_subjects_removed_before;
  `,
  // An erased report's id row keeps its group (set by erasure only; NULL for every other row,
  // whose report has it), so a retry is answered with the group it was stored under.
  `
  ALTER TABLE report_ids ADD COLUMN group_id TEXT;
  `,
  // The occurrences of expired reports too, for the last day before the retention's edge: a
  // window starting there (a group's default six weeks) counts its partial first hour exactly
  // rather than whole (store/occurrences.ts). Deleted by the expiry job once no window that
  // still looks here can start before them.
  `
  ALTER TABLE erased_occurrences RENAME TO removed_occurrences;
  DROP INDEX erased_occurrences_received;
  CREATE INDEX removed_occurrences_received ON removed_occurrences (received_at);
  `,
];
