import { COMPLIANCE } from '@jcs/protocol';
import { DAY_MS } from '../time';

/**
 * The retention rule in numbers, shared by the job, the status and the docs.
 *
 * Reads hide a report once it is `retentionDays` old (ReportReader.cutoff does the same sum). The
 * job runs once a day, so it deletes one day ahead of that deadline: everything that would pass
 * the deadline before its next run. With the default 42 days it deletes reports aged 41 days or
 * more and never a younger one, so engineers keep six weeks of history.
 */

/** The job is late, and the collector not compliant, when it has not run for this long. */
export const EXPIRY_DUE_MS = COMPLIANCE.expiryDueMs;

/**
 * Reports received at or before this moment are past their age: no read returns them.
 *
 * @example
 * readCutoff(Date.parse('2026-12-13T00:00:00Z'), 42); // 2026-11-01T00:00:00Z in ms
 */
export function readCutoff(now: number, retentionDays: number): number {
  return now - retentionDays * DAY_MS;
}

/**
 * Reports received at or before this moment are deleted by a run at `now`: one day ahead of the
 * read cutoff, the interval between two nightly runs.
 *
 * @example
 * jobCutoff(Date.parse('2026-12-12T00:00:00Z'), 42); // 2026-11-01T00:00:00Z in ms
 */
export function jobCutoff(now: number, retentionDays: number): number {
  return now - (retentionDays - 1) * DAY_MS;
}

/** Start (ms) of the UTC day a day key is named after (`YYYY-MM-DD`). */
export function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

/** Last millisecond of the UTC day a day key is named after. */
export function dayLastMs(day: string): number {
  return dayStart(day) + DAY_MS - 1;
}
