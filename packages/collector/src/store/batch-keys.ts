import fs from 'node:fs';
import path from 'node:path';
import { dayKeyFingerprint, KeyringError } from '../crypto/keyring';
import type { Db } from './db';
import { getMeta, setMeta } from './db';
import { DayKeyGoneError } from './day-key-gone';
import type { PreparedReport } from './ingest-writer';

/**
 * What a batch does with a report whose day key is no longer the one it was sealed under:
 * - `refuse`: fresh reports (ingest). The batch fails with a DayKeyGoneError, a 503: nothing is
 *   stored, and sent again the report is sealed under the day's key as it is now.
 * - `sort`: reports from the inbox (store/inbox-writer.ts), answered 202 already. One whose day
 *   has no key, or whose key a live day's shredding took (`noteShreddedKey`), is left out: it was
 *   received before the day's end, within the cut-off of the run that shredded it, so it is due.
 *   Any other (a key file put back from elsewhere) is stored, as reports under another key are.
 */
export type KeyCheck = 'refuse' | 'sort';

/**
 * The day keys a batch's reports were sealed under, compared with the keys folder inside the
 * batch's write transaction: `jcs-collector expire --now` in another process shreds a live
 * day's key in a write transaction of its own (retention/expire.ts), so a batch sees the key
 * either before that transaction or after it, never in between.
 *
 * @example
 * const keys = new BatchKeys(db, keysDir, 'refuse'); // inside the transaction
 * if (keys.admits(report)) store(report);
 */
export class BatchKeys {
  /** each day's key as it is now (null: none), read once a batch */
  private readonly now = new Map<string, string | null>();
  private shredded: Record<string, string[]> | undefined;

  constructor(
    private readonly db: Db,
    private readonly keysDir: string,
    private readonly mode: KeyCheck,
  ) {}

  /** Whether to store the report; throws DayKeyGoneError instead of false under `refuse`. */
  admits(r: PreparedReport): boolean {
    const now = this.current(r.keyDay);
    // A report an earlier build put in the inbox has no fingerprint: its day's key must exist.
    const same = now !== null && (r.keyPrint == null || r.keyPrint === now);
    if (same) return true;
    if (this.mode === 'refuse') throw new DayKeyGoneError(r.keyDay);
    if (now === null) {
      // Looked for under the write lock, after a wait for it: the folder gone meanwhile is the
      // storage failing, and the inbox's reports, answered 202, wait for it to be back.
      const days = path.join(this.keysDir, 'days');
      if (!fs.existsSync(days)) {
        throw new KeyringError(
          `the keys folder's ${days} is gone while the collector runs: put it back`,
        );
      }
      return false;
    }
    return !this.shreddedKeys(r.keyDay).includes(r.keyPrint!);
  }

  private current(day: string): string | null {
    if (!this.now.has(day)) this.now.set(day, dayKeyFingerprint(this.keysDir, day));
    return this.now.get(day)!;
  }

  private shreddedKeys(day: string): string[] {
    this.shredded ??= readShredded(this.db);
    return this.shredded[day] ?? [];
  }
}

/** The `meta` key of the live days' keys shredded: day -> fingerprints. */
const SHREDDED_KEYS = 'live_keys_shredded';

/**
 * Notes, in the transaction that shreds it, the fingerprint of a live day's key (one a `serve`
 * may have sealed reports under that wait in its inbox): `sort` leaves those reports out. Days
 * before `fromDay` are forgotten: an inbox holds a run's reports, minutes, not days.
 *
 * @example
 * noteShreddedKey(db, '2026-12-07', '9f86d081884c7d65', '2026-12-05');
 */
export function noteShreddedKey(db: Db, day: string, print: string, fromDay: string): void {
  const kept: Record<string, string[]> = {};
  for (const [d, prints] of Object.entries(readShredded(db))) if (d >= fromDay) kept[d] = prints;
  kept[day] = [...(kept[day] ?? []), print];
  setMeta(db, SHREDDED_KEYS, JSON.stringify(kept));
}

function readShredded(db: Db): Record<string, string[]> {
  const raw = getMeta(db, SHREDDED_KEYS);
  return raw === undefined ? {} : (JSON.parse(raw) as Record<string, string[]>);
}
