import crypto from 'node:crypto';
import type { AuditEntry } from '@jcs/protocol';
import { ORIGIN, type ChainMark } from './audit-marks';

/** One stored access-log entry, as the chain covers it: the API's entry, field for field. */
export type ChainEntry = AuditEntry;

/** The answer of `GET /v1/audit/verify` and `jcs-collector audit verify`. */
export type Verification = { ok: true; entries: number } | { ok: false; brokenAt: number };

/**
 * An entry's MAC: HMAC-SHA-256 under the audit key over the previous entry's MAC and every field
 * of this one, so changing, removing or reordering any entry breaks every MAC from there on.
 *
 * @example
 * entryHash(key, '', { seq: 1, at, actor: 'alice', action: 'groups.list', target: null, outcome: 'ok' });
 */
export function entryHash(key: Uint8Array, prevHash: string, e: Omit<ChainEntry, 'hash'>): string {
  const content = JSON.stringify([prevHash, e.seq, e.at, e.actor, e.action, e.target, e.outcome]);
  return crypto.createHmac('sha256', key).update(content).digest('hex');
}

export interface ChainMarks {
  /** the last pruned entry, as the database records it */
  dbAnchor: ChainMark | null;
  /** the last pruned entry, as the keys folder records it */
  fileAnchor: ChainMark | null;
  /** the newest entry written, as the keys folder records it */
  head: ChainMark | null;
}

/**
 * Walks the entries (in sequence order) from the pruning anchor and names the first bad one: an
 * entry whose MAC does not match (changed or moved), the first missing sequence number (removed),
 * or the first one after the last entry when the keys folder knows of newer ones (tail cut off).
 *
 * @example
 * verifyChain(key, rows, { dbAnchor: null, fileAnchor: null, head: { seq: 3, hash } });
 * // { ok: false, brokenAt: 3 } when entry 3 was removed
 */
export function verifyChain(
  key: Uint8Array,
  entries: Iterable<ChainEntry>,
  marks: ChainMarks,
): Verification {
  const dbAnchor = marks.dbAnchor ?? ORIGIN;
  const fileAnchor = marks.fileAnchor ?? ORIGIN;
  // A pruning the keys folder does not know of is a deletion made through the database alone.
  // (The keys folder ahead of the database is a pruning interrupted before its commit.)
  if (
    dbAnchor.seq > fileAnchor.seq ||
    (dbAnchor.seq === fileAnchor.seq && dbAnchor.hash !== fileAnchor.hash)
  ) {
    return { ok: false, brokenAt: fileAnchor.seq + 1 };
  }
  const head = marks.head;
  let prev = dbAnchor.hash;
  let expected = dbAnchor.seq + 1;
  let count = 0;
  for (const e of entries) {
    if (e.seq !== expected) return { ok: false, brokenAt: Math.min(e.seq, expected) };
    if (entryHash(key, prev, e) !== e.hash) return { ok: false, brokenAt: e.seq };
    if (e.seq === fileAnchor.seq && e.hash !== fileAnchor.hash)
      return { ok: false, brokenAt: e.seq };
    if (head && e.seq === head.seq && e.hash !== head.hash) return { ok: false, brokenAt: e.seq };
    prev = e.hash;
    expected++;
    count++;
  }
  const last = expected - 1;
  if (fileAnchor.seq > last || (head !== null && head.seq > last)) {
    return { ok: false, brokenAt: last + 1 };
  }
  return { ok: true, entries: count };
}
