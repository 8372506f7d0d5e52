import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import request from 'supertest';
import { dataPaths } from '@jcs/collector';
import type { TestCollector } from '../../../test-support/app';

/**
 * Changes the database as an attacker with access to its file would: a separate connection,
 * which first drops the triggers that make the access log append-only.
 */
export function tamper(dataDir: string, change: (db: Database.Database) => void): void {
  const db = new Database(dataPaths(dataDir).db);
  try {
    db.exec('DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;');
    change(db);
  } finally {
    db.close();
  }
}

/**
 * Makes `n` engineer requests, each leaving one access-log entry, and waits for the head mark in
 * the keys folder (written in the background) to cover them.
 */
export async function makeEntries(t: TestCollector, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await request(t.app)
      .get('/v1/groups')
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
  }
  await t.collector.audit.headWritten();
}

export const auditCount = (t: TestCollector): number =>
  (t.collector.db.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n;

/** Every file under a folder, recursively. */
export function allFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? allFiles(p) : [p];
  });
}

/** The files (and byte offsets) under `dir` that hold `needle`. */
export function filesHolding(dir: string, needle: string | Buffer): string[] {
  const bytes = typeof needle === 'string' ? Buffer.from(needle, 'utf8') : needle;
  return allFiles(dir).filter((f) => fs.readFileSync(f).includes(bytes));
}
