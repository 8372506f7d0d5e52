import type { Report } from './report';

/** Triage status of a group. */
export type GroupStatus = 'unresolved' | 'resolved' | 'ignored';

/** A group as `GET /v1/groups` answers it (contract section 2). */
export interface Group {
  id: string;
  number: number;
  module: string;
  procedure: string;
  /** the newest surviving report's description; null when none survives */
  description: string | null;
  count: number;
  users: number;
  licences: number;
  firstSeen: string;
  lastSeen: string;
  versions: string[];
  status: GroupStatus;
  resolvedInVersion: string | null;
  regressed: boolean;
  /** occurrences per day of the window, oldest first */
  daily: number[];
}

/** A report without any personal data. */
export interface ShortReport {
  id: string;
  occurredAt: string;
  receivedAt: string;
  version: string;
  license: string;
  line: number;
  repeats: number;
}

/** `GET /v1/groups/:id`. */
export interface GroupDetail extends Group {
  byVersion: { version: string; count: number }[];
  byLine: { line: number; count: number }[];
  byDay: { day: string; count: number }[];
  latest: ShortReport[];
}

/** `GET /v1/reports/:id`: the report as sent, decrypted, with the dump opened only on request. */
export type FullReport = Omit<Report, 'dump'> & {
  receivedAt: string;
  group: string;
  dump?: unknown;
};

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  hash: string;
}

export interface ExpirySummary {
  cutoff: string;
  deletedReports: number;
  destroyedKeys: number;
  durationMs: number;
  dryRun: boolean;
}

/**
 * How `compliant` is judged (contract 2), by the collector that answers it and by jcs-errors,
 * which says why: the expiry job must have run within `expiryDueMs`, and a run dated more than
 * `aheadSlackMs` ahead of the clock (run while it was ahead) does not count as run.
 */
export const COMPLIANCE = { expiryDueMs: 36 * 3_600_000, aheadSlackMs: 60_000 } as const;

export interface RetentionStatus {
  retentionDays: number;
  reports: number;
  oldestReceivedAt: string | null;
  lastExpiry: { at: string; deletedReports: number; destroyedKeys: number } | null;
  compliant: boolean;
}
