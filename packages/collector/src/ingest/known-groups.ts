import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db';

/** Group ids kept in memory; past this the oldest learnt are forgotten (looked up again). */
const MAX_KEPT = 100_000;

/**
 * The groups the collector has stored, as the per-address limit on new groups asks
 * (auth/request-limits.ts): from memory when seen lately, else one look-up by primary key. Only
 * reports from a limited sender ask, so loopback senders and a collector without limits never pay
 * for it. A group made while the expiry job sends ingest to the inbox is not in the table until it
 * is folded in, so until then it may be charged as new once more: never refused wrongly for long.
 *
 * @example
 * const known = new KnownGroups(c.db);
 * if (!known.has(groupId)) limits.takeNewGroup(actor, licence, sender);
 * known.add(groupId); // once stored
 */
export class KnownGroups {
  private readonly kept = new Set<string>();
  private lookup: Statement<[string]> | undefined;

  constructor(
    private readonly db: Db,
    private readonly maxKept = MAX_KEPT,
  ) {}

  has(id: string): boolean {
    if (this.kept.has(id)) return true;
    this.lookup ??= this.db.prepare<[string]>('SELECT 1 FROM groups WHERE id = ?').pluck();
    if (this.lookup.get(id) === undefined) return false;
    this.add(id);
    return true;
  }

  add(id: string): void {
    if (this.kept.has(id)) return;
    if (this.kept.size >= this.maxKept) {
      // A Set keeps insertion order: the first is the one learnt longest ago.
      this.kept.delete(this.kept.values().next().value as string);
    }
    this.kept.add(id);
  }
}
