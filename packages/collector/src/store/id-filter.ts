import type { Db } from './db';
import { storedDays } from './stored-days';

const HASHES = 7;

/**
 * A Bloom filter of the report ids in the database, so that ingest asks the database whether an
 * id is already stored only when it may be. Ids are looked up under every stored day of receipt
 * (a retry may come weeks later from an SDK's offline queue), which costs about 100 us per report
 * at 49 days, most of what a report's write cost. The filter answers "certainly not" for all but
 * about one new id in a thousand at a million ids (16 Mbit, 7 hashes: 2 MiB of memory).
 *
 * It is built from the database on first use and kept by the writer as it stores reports; ids
 * stored by another connection are noticed (PRAGMA data_version, then the highest report seq)
 * and the filter rebuilt. Deleted ids stay set: that only costs a look-up.
 *
 * @example
 * const ids = idFilter(db);
 * ids.refresh(); // in the write transaction
 * if (ids.mightHave(report.id)) { ...ask the database... }
 * ids.add(report.id, seq);
 */
export class IdFilter {
  private readonly bits: Uint32Array;
  /** data_version at the last refresh, and the highest report seq known to be in the filter */
  private version = -1;
  private maxSeq = -1;
  // Prepared once: refresh() runs at the start of every ingest batch.
  private readonly dataVersion;
  private readonly highestSeq;

  constructor(
    private readonly db: Db,
    private readonly bitCount = 1 << 24,
  ) {
    this.bits = new Uint32Array(bitCount >>> 5);
    this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.highestSeq = db.prepare<[], number | null>('SELECT MAX(seq) FROM reports').pluck();
  }

  /**
   * Call at the start of each write transaction: builds the filter the first time, and rebuilds
   * it when another connection has stored reports since (data_version changes with every commit
   * of another connection; the highest seq tells a store from a deletion).
   */
  refresh(): void {
    const version = this.dataVersion.get()!;
    if (version === this.version) return;
    this.version = version;
    const maxSeq = this.highestSeq.get() ?? 0;
    if (maxSeq > this.maxSeq) this.rebuild();
    this.maxSeq = Math.max(this.maxSeq, maxSeq);
  }

  /** False when the id is certainly not stored. */
  mightHave(id: string): boolean {
    const [h1, h2] = hashes(id);
    for (let i = 0; i < HASHES; i++) {
      const bit = (h1 + i * h2) % this.bitCount;
      if ((this.bits[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  /** Records a report this connection stores. */
  add(id: string, seq: number): void {
    const [h1, h2] = hashes(id);
    for (let i = 0; i < HASHES; i++) {
      const bit = (h1 + i * h2) % this.bitCount;
      this.bits[bit >>> 5] |= 1 << (bit & 31);
    }
    if (seq > this.maxSeq) this.maxSeq = seq;
  }

  private rebuild(): void {
    this.bits.fill(0);
    const ids = this.db
      .prepare<[string], string>('SELECT id FROM report_ids WHERE key_day = ?')
      .pluck();
    for (const day of storedDays(this.db)) for (const id of ids.iterate(day)) this.add(id, -1);
  }
}

/** Two independent 32-bit FNV-1a hashes of the id, for double hashing. */
function hashes(id: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  // An odd step visits distinct bits for the 7 probes.
  return [a >>> 0, (b | 1) >>> 0];
}

const filters = new WeakMap<Db, IdFilter>();

/** The one filter of a connection, shared by every writer on it. */
export function idFilter(db: Db): IdFilter {
  let f = filters.get(db);
  if (!f) filters.set(db, (f = new IdFilter(db)));
  return f;
}
