import crypto from 'node:crypto';
import type { Db } from './db';
import { iso } from '../time';

export interface AuditInput {
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
}

export interface AuditRow extends AuditInput {
  seq: number;
  at: string;
  hash: string;
}

/**
 * The access log: append-only (triggers refuse UPDATE and DELETE) and chained, each entry's hash
 * an HMAC over its content and the previous entry's hash, so any change to an entry breaks the
 * chain from there on. It never holds personal data: actors are token names, targets are ids.
 */
export class AuditLog {
  private readonly last;
  private readonly insert;

  constructor(
    private readonly db: Db,
    private readonly key: Uint8Array,
  ) {
    this.last = db.prepare<[], { seq: number; hash: string }>(
      'SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1',
    );
    this.insert = db.prepare(
      'INSERT INTO audit (seq, at, actor, action, target, outcome, hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
  }

  /** Appends one entry. Call inside the transaction of the access it records. */
  append(entry: AuditInput, now: number): AuditRow {
    const prev = this.last.get();
    const seq = (prev?.seq ?? 0) + 1;
    const at = iso(now);
    const hash = entryHash(this.key, prev?.hash ?? '', { seq, at, ...entry });
    this.insert.run(seq, at, entry.actor, entry.action, entry.target, entry.outcome, hash);
    return { seq, at, ...entry, hash };
  }

  /** Newest first. */
  list(options: { since?: number; limit: number }): AuditRow[] {
    return this.db
      .prepare<[string, number], AuditRow>(
        'SELECT * FROM audit WHERE at >= ? ORDER BY seq DESC LIMIT ?',
      )
      .all(iso(options.since ?? 0), options.limit);
  }
}

export function entryHash(
  key: Uint8Array,
  prevHash: string,
  e: {
    seq: number;
    at: string;
    actor: string;
    action: string;
    target: string | null;
    outcome: string;
  },
): string {
  const content = JSON.stringify([prevHash, e.seq, e.at, e.actor, e.action, e.target, e.outcome]);
  return crypto.createHmac('sha256', key).update(content).digest('hex');
}
