import fs from 'node:fs';
import { openDump, type FullReport, type ShortReport } from '@jcs/protocol';
import type { Db } from './db';
import type { Keyring } from '../crypto/keyring';
import { openBytes, openField } from '../crypto/fields';
import { unpackDump } from './dump-envelope';
import { DayQuery, storedDays } from './stored-days';
import type { Window } from './occurrences';
import { iso, type Clock } from '../time';
import { sealedDir } from './sealed-files';
import { SealedReader } from './sealed-reader';

interface ReportRow {
  id: string;
  group_id: string;
  app_name: string;
  number: number;
  module: string;
  procedure: string;
  received_at: number;
  key_day: string;
  occurred_at: string;
  app_version: string;
  license: string;
  line: number;
  repeats: number | null;
  dump_withheld: string | null;
  sealed_at: number;
  sealed_len: number;
}

/**
 * Every read of reports goes through here, and here the retention rule is enforced on its own:
 * a report received more than `retentionMs` ago is never returned, whether or not the expiry job
 * has run yet.
 */
/**
 * How many of a group's newest reports its description is looked for in: more than an erasure
 * running beside the read could leave unreadable in any real group, and a bound on the reads.
 */
const LATEST_TRIED = 1000;

/**
 * Whether `sealed/` is to be taken as there from the start, so that it missing later is the
 * storage failing (503): it is there now, or no report is stored yet (the first makes it).
 * Missing with reports stored, it is a restore without it, whose reports read as gone.
 */
export function sealedFolderSeen(db: Db): boolean {
  return (
    fs.existsSync(sealedDir(db.name)) ||
    db.prepare('SELECT 1 FROM reports LIMIT 1').get() === undefined
  );
}

export class ReportReader {
  private readonly byId: DayQuery<ReportRow>;
  private readonly latest;
  private readonly sealed: SealedReader;

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly clock: Clock,
    private readonly retentionMs: number,
    /** `sealed/` was there when the collector opened (sealedFolderSeen then) */
    sealedSeen = false,
  ) {
    this.sealed = new SealedReader(sealedDir(db.name), sealedSeen || sealedFolderSeen(db));
    // r.id = k.id: an erased report's id row stays, and its seq may be a newer report's now
    // (store/ingest-writer.ts), which must never be answered for it.
    this.byId = new DayQuery(
      db,
      `SELECT r.*, g.app_name, g.number, g.module, g.procedure
       FROM report_ids k JOIN reports r ON r.seq = k.seq AND r.id = k.id JOIN groups g ON g.id = r.group_id
       WHERE k.key_day IN (:days) AND k.id = ? AND r.received_at > ?`,
    );
    // Once per group listed: prepared here, not on each call.
    this.latest = db.prepare<
      [string, number],
      { id: string; key_day: string; sealed_at: number; sealed_len: number }
    >(
      `SELECT r.id, r.key_day, r.sealed_at, r.sealed_len FROM report_groups k JOIN reports r ON r.seq = k.seq
       WHERE k.group_id = ? AND k.received_at > ?
       ORDER BY k.received_at DESC, k.seq DESC LIMIT ${LATEST_TRIED}`,
    );
  }

  /** Reports received at or before this moment are past their age. */
  cutoff(): number {
    return this.clock() - this.retentionMs;
  }

  /** The newest surviving report's description, or null when none survives (or its key is gone). */
  latestDescription(groupId: string): string | null {
    // Newest first, past any report whose record no longer reads: a read whose snapshot began
    // before an erasure committed still has the erased rows, but their records in the day files
    // (outside the snapshot) are zeroed right after the commit. The description is then the
    // next surviving report's, as it is once the erasure is done, not null.
    for (const row of this.latest.iterate(groupId, this.cutoff())) {
      const fields = this.sealed.read(row.key_day, row.sealed_at, row.sealed_len, row.id);
      const description = fields ? this.open(fields.description, row.key_day) : null;
      if (description !== null) return description;
    }
    return null;
  }

  /**
   * Lets go of the day files it holds open (the collector is closing, or expiry removed some:
   * a removed file keeps its disk space while a descriptor of it is open). Reads reopen them.
   */
  close(): void {
    this.sealed.close();
  }

  /** Newest first; no personal data. */
  shortList(groupId: string, limit: number, window?: Window): ShortReport[] {
    const from = Math.max(this.cutoff(), window ? window.since - 1 : -Infinity);
    const until = window ? window.until : Number.MAX_SAFE_INTEGER;
    const rows = this.db
      .prepare<[string, number, number, number], ReportRow>(
        `SELECT r.id, r.occurred_at, r.received_at, r.app_version, r.license, r.line, r.repeats
         FROM report_groups k JOIN reports r ON r.seq = k.seq
         WHERE k.group_id = ? AND k.received_at > ? AND k.received_at < ?
         ORDER BY k.received_at DESC, k.seq DESC LIMIT ?`,
      )
      .all(groupId, from, until, limit);
    return rows.map((r) => ({
      id: r.id,
      occurredAt: r.occurred_at,
      receivedAt: iso(r.received_at),
      version: r.app_version,
      license: r.license,
      line: r.line,
      repeats: r.repeats ?? 0,
    }));
  }

  /** The whole report as sent, decrypted; the dump opened only when asked. Null when gone. */
  full(id: string, withDump: boolean): FullReport | null {
    const r = this.byId.get(storedDays(this.db), id, this.cutoff());
    if (!r) return null;
    const f = this.sealed.read(r.key_day, r.sealed_at, r.sealed_len, r.id);
    // No key or no record, no report: the report is gone for every purpose.
    const description = f && this.open(f.description, r.key_day);
    if (!f || description === null) return null;
    const report: FullReport = {
      schema: 1,
      id: r.id,
      occurredAt: r.occurred_at,
      app: { name: r.app_name, version: r.app_version },
      license: r.license,
      error: {
        number: r.number,
        description,
        module: r.module,
        procedure: r.procedure,
        line: r.line,
      },
      receivedAt: iso(r.received_at),
      group: r.group_id,
    };
    if (f.username !== null) report.username = this.open(f.username, r.key_day) ?? undefined;
    if (f.code !== null) report.error.code = this.open(f.code, r.key_day) ?? undefined;
    if (r.repeats !== null) report.repeats = r.repeats;
    if (r.dump_withheld !== null)
      report.dumpWithheld = r.dump_withheld as FullReport['dumpWithheld'];
    if (withDump && f.dump !== null) report.dump = this.openDump(f.dump, r.key_day);
    return order(report);
  }

  private openDump(sealed: Buffer, keyDay: string): unknown {
    const key = this.keyring.dayKey(keyDay);
    const envelope = key ? openBytes(sealed, key) : null;
    const dump = envelope ? unpackDump(envelope) : null;
    if (dump === null) return null;
    const secret = this.keyring.transportSecret(dump.keyId);
    const text = secret ? openDump(dump, secret) : null;
    if (text === null) return null;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return text;
    }
    return cutBelow(value, MAX_DUMP_DEPTH);
  }

  private open(sealed: Buffer, keyDay: string): string | null {
    const key = this.keyring.dayKey(keyDay);
    return key ? openField(sealed, key) : null;
  }
}

/**
 * How deep a dump is answered. The SDK sends at most 64 levels; a client can seal anything, and
 * a dump thousands of levels deep parses but cannot be written back out (JSON.stringify runs
 * out of stack: a 500 for an engineer, after the read was logged).
 */
const MAX_DUMP_DEPTH = 256;
const TOO_DEEP = `[… deeper than ${MAX_DUMP_DEPTH} levels: not shown]`;

/** The value with whatever lies deeper than `levels` replaced by a marker; itself when none does. */
function cutBelow(value: unknown, levels: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (!deeperThan(value, levels)) return value;
  const cut = (v: unknown, left: number): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    if (left === 0) return TOO_DEEP;
    if (Array.isArray(v)) return v.map((x) => cut(x, left - 1));
    // defineProperty: a "__proto__" key stays a plain key, as JSON.parse made it.
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      Object.defineProperty(out, k, {
        value: cut(x, left - 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  };
  return cut(value, levels);
}

function deeperThan(value: object, levels: number): boolean {
  if (levels === 0) return true;
  for (const x of Object.values(value)) {
    if (typeof x === 'object' && x !== null && deeperThan(x, levels - 1)) return true;
  }
  return false;
}

/** The contract's field order, so a report reads the same as it was sent. */
function order(r: FullReport): FullReport {
  const {
    schema,
    id,
    occurredAt,
    app,
    license,
    username,
    error,
    repeats,
    dump,
    dumpWithheld,
    receivedAt,
    group,
  } = r;
  const out: Record<string, unknown> = { schema, id, occurredAt, app, license };
  if (username !== undefined) out.username = username;
  out.error = error;
  if (repeats !== undefined) out.repeats = repeats;
  if (dump !== undefined) out.dump = dump;
  if (dumpWithheld !== undefined) out.dumpWithheld = dumpWithheld;
  out.receivedAt = receivedAt;
  out.group = group;
  return out as FullReport;
}
