import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../../src/store/db';

/** Every table a report's ingest writes to: a refused report must leave each count unchanged. */
export const INGEST_TABLES = [
  'reports',
  'groups',
  'group_hours',
  'group_lines',
  'group_subjects',
] as const;

export type RowCounts = Record<(typeof INGEST_TABLES)[number], number>;

/**
 * Row counts of every ingest table.
 *
 * @example
 * expect(ingestRowCounts(db)).toEqual(before);
 */
export function ingestRowCounts(db: Db): RowCounts {
  const counts = {} as RowCounts;
  for (const table of INGEST_TABLES) {
    counts[table] = (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  }
  return counts;
}

/** Day data keys on disk: a refused report must not even create its day's key. */
export function dayKeyFiles(dataDir: string): string[] {
  const dir = path.join(dataDir, 'keys', 'days');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}
