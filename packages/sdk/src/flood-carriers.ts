import { LIMITS, type Report } from '@jcs/protocol';
import { describeError, type DiagnosticSink } from './diagnostics';
import { FloodLimiter, type DrainMode, type HeldBack } from './flood';
import type { NormalizedError } from './normalize';
import type { ReportQueue } from './queue/types';
import type { StackFrame } from './stack';
import { clearTimeout, setTimeout } from './timers';

/** One occurrence flood control held back: enough to build a carrier report later. */
export interface HeldOccurrence {
  occurredAt: string;
  error: NormalizedError;
  frame?: StackFrame;
}

/**
 * The report that carries a group's held-back occurrences (`repeats`), made when flood control
 * first holds one back: under the id report() answers them with, with the hooks' say
 * (beforeSend, username) taken once. With `queueDir` it is on disk from that moment (`key`), held
 * by this process until it is final, its count rewritten once per PERSIST_EVERY_MS, or sooner as it
 * grows (PERSIST_GROWTH_MIN).
 */
export interface Carrier {
  /** as beforeSend left it, repeats aside; null: beforeSend dropped it */
  report: Report | null;
  /** the queue's key for it while it is held on disk */
  key?: string;
  /** the `repeats` last written to disk */
  persisted: number;
  writtenAt: number;
  /** a write that failed (a full disk) is not tried again before this */
  retryAt?: number;
}

/** How often a held carrier's count on disk is brought up to date: what a crash may lose. */
const PERSIST_EVERY_MS = 1000;
/**
 * Sooner, too, once the count has grown by half what is on disk (and by at least this many): a
 * loop of hundreds of errors a second that is killed (Task Manager's End task) lost all but the
 * first of them. Growth by half keeps the writes few, some 30 for a million occurrences, each a
 * synced rewrite of one small file, and a kill loses at most a third of the count.
 */
const PERSIST_GROWTH_MIN = 8;
/** A held carrier is rewritten this often even unchanged, so its claim never looks stale. */
const REFRESH_HELD_MS = 10 * 60 * 1000;

export interface FloodControlOptions {
  maxPerGroup: number;
  windowMs: number;
  queue: ReportQueue;
  diagnostic: DiagnosticSink;
  /** The carrier of a held-back occurrence, as the hooks leave it (null: beforeSend dropped it). */
  makeCarrier(carrierId: string, sample: HeldOccurrence): Report | null;
  /** Queues a report in its final form; `heldKey`: the queue holds an earlier form of it there. */
  store(report: Report, heldKey?: string): void;
  /** Runs a timer's work so that nothing it throws reaches the host. */
  guard(work: () => void): void;
}

/** What to do with an occurrence: nothing more (held back), or send it, carrying `repeats`. */
export type FloodDecision =
  | { held: true; carrierId: string }
  | { held: false; reportId: string; repeats: number; carrier?: Carrier };

/**
 * Flood control with its carrier reports: the first few reports of a group in a window go out,
 * the rest are counted, and the count goes out in one report (the carrier) when the window ends,
 * at flush(), close() or exit. With a durable queue the carrier is on disk from the first
 * occurrence held back, so a crash loses at most the last second of counting, and at most a third
 * of the count.
 *
 * @example
 * const decision = flood.admit(id, { occurredAt, error });
 * if (decision.held) return decision.carrierId; // counted; the carrier will say so
 */
export class FloodControl {
  private readonly limiter: FloodLimiter<HeldOccurrence>;
  /** carriers of the groups flood control is holding back, by id */
  private readonly carriers = new Map<string, Carrier>();
  private drainTimer: NodeJS.Timeout | null = null;
  private persistTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly o: FloodControlOptions) {
    this.limiter = new FloodLimiter({ maxPerGroup: o.maxPerGroup, windowMs: o.windowMs });
  }

  /** Lets the occurrence through (with the count it carries) or holds it back. */
  admit(id: string, occurrence: HeldOccurrence): FloodDecision {
    const { error } = occurrence;
    const admission = this.limiter.admit(
      groupKey(error),
      id,
      occurrence,
      (held) => this.storeCarrier(held),
      String(error.line),
    );
    if (!admission.allowed) {
      if (admission.first) {
        this.o.diagnostic({
          code: 'rate_limited',
          message: `more than ${this.o.maxPerGroup} reports of this group within ${this.o.windowMs} ms; further ones are counted and sent as repeats`,
          reportId: id,
        });
        // Later occurrences only count: the carrier's count on disk follows each second, and
        // each growth by half.
        this.startCarrier(admission.carrierId, occurrence);
      }
      // The timer keeps the count on disk up to date, but never fires while the host loops
      // without yielding (the error loop flood control is for): the count is written from
      // here too, once a second or as it grows by half, so a kill in such a loop loses at most
      // a third of its count, and never more than its last second.
      else if (this.persistDue(admission.carrierId, admission.repeats)) {
        this.persistCarriers(admission.carrierId);
      }
      this.scheduleDrain();
      return { held: true, carrierId: admission.carrierId };
    }
    // This report carries the group's held-back count, under the carrier's id: it takes the
    // carrier's place, on disk too.
    const reportId = admission.carrierId ?? id;
    const carrier = reportId === id ? undefined : this.takeCarrier(reportId);
    return { held: false, reportId, repeats: admission.repeats, carrier };
  }

  /** Sends the carriers `mode` says (flood.ts): `due` on the window's timer, `flush`, `all`. */
  drain(mode: DrainMode): void {
    for (const held of this.limiter.drain(mode)) this.storeCarrier(held);
  }

  /**
   * After flush()'s drain: the carriers of occurrences held back for their window's end (their
   * group was flushed early too often), each said in a `flood_held` diagnostic. A carrier
   * beforeSend dropped is none of them: nothing of it will ever be sent.
   */
  heldAfterFlush(): string[] {
    const held = this.heldCarriers();
    for (const { carrierId, repeats } of held) {
      this.o.diagnostic({
        code: 'flood_held',
        message: `flush() sent this group's held-back occurrences early ${this.o.maxPerGroup} times in this window already: ${repeats + 1} (and any more) go when the window ends or at close()`,
        reportId: carrierId,
      });
    }
    return held.map((h) => h.carrierId);
  }

  /** Whether any of these carriers is still held back (not yet handed to the queue). */
  stillHeld(carrierIds: string[]): boolean {
    const held = new Set(this.heldCarriers().map((h) => h.carrierId));
    return carrierIds.some((id) => held.has(id));
  }

  private heldCarriers(): { carrierId: string; repeats: number }[] {
    return this.limiter
      .holding()
      .filter(({ carrierId }) => this.carriers.get(carrierId)?.report !== null);
  }

  /** No more timers (close()); carriers still held stay on disk, as at a crash. */
  stop(): void {
    this.stopped = true;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = null;
  }

  /**
   * Makes the carrier of a group flood control has just started holding back, and with a durable
   * queue writes it at once, held by this process: from now on its id is on disk, whatever
   * becomes of the process. The hooks see it now, once; the count is the SDK's to update.
   */
  private startCarrier(carrierId: string, sample: HeldOccurrence): void {
    const carrier: Carrier = {
      report: this.o.makeCarrier(carrierId, sample),
      persisted: 0,
      writtenAt: Date.now(),
    };
    this.carriers.set(carrierId, carrier);
    const { queue } = this.o;
    if (!carrier.report || !queue.hold || this.stopped) return;
    try {
      carrier.key = queue.hold(carrier.report);
    } catch (e) {
      this.o.diagnostic({
        code: 'queue_write_failed',
        message: `the report carrying held-back repeats could not be written to the queue directory (${describeError(e)}); held in memory until it is sent`,
        reportId: carrierId,
      });
      return;
    }
    this.schedulePersist();
  }

  /**
   * Whether a held carrier's count on disk is a second old, or has fallen behind by half:
   * checked on every held report().
   */
  private persistDue(carrierId: string, repeats: number): boolean {
    const carrier = this.carriers.get(carrierId);
    if (carrier?.key === undefined) return false;
    const now = Date.now();
    if (carrier.retryAt !== undefined && now < carrier.retryAt) return false;
    const behind = repeats - carrier.persisted;
    return (
      behind >= Math.max(PERSIST_GROWTH_MIN, carrier.persisted / 2) ||
      now - carrier.writtenAt >= PERSIST_EVERY_MS
    );
  }

  private takeCarrier(carrierId: string): Carrier | undefined {
    const carrier = this.carriers.get(carrierId);
    this.carriers.delete(carrierId);
    return carrier;
  }

  /**
   * A group's held-back count goes out on its carrier (made when it was first held back): at the
   * end of its window, when the limiter evicts the group, or when a flush or close drains all.
   */
  private storeCarrier(held: HeldBack<HeldOccurrence>): void {
    const carrier = this.takeCarrier(held.carrierId);
    // null report: beforeSend dropped it when it was made
    if (carrier?.report) this.o.store(withRepeats(carrier.report, held.repeats), carrier.key);
  }

  /** Brings the counts of the carriers held on disk up to date, or only `only`'s. */
  private persistCarriers(only?: string): void {
    const now = Date.now();
    const { queue } = this.o;
    for (const { carrierId, repeats } of this.limiter.holding()) {
      if (only !== undefined && carrierId !== only) continue;
      const carrier = this.carriers.get(carrierId);
      if (!carrier?.report || carrier.key === undefined || !queue.rewriteHeld) continue;
      if (carrier.persisted === repeats && now - carrier.writtenAt < REFRESH_HELD_MS) continue;
      try {
        const report = withRepeats(carrier.report, repeats);
        if (!queue.rewriteHeld(carrier.key, report)) carrier.key = undefined;
        carrier.persisted = repeats;
        carrier.writtenAt = now;
        carrier.retryAt = undefined;
      } catch {
        // The last count written stays on disk; the full count is in memory, tried again in a
        // second, not at every report of the loop (each try a synced write that fails).
        carrier.retryAt = now + PERSIST_EVERY_MS;
      }
    }
  }

  private schedulePersist(): void {
    if (this.persistTimer || this.stopped) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = null;
      this.o.guard(() => this.persistCarriers());
      for (const carrier of this.carriers.values()) {
        if (carrier.key !== undefined) {
          this.schedulePersist();
          return;
        }
      }
    }, PERSIST_EVERY_MS);
    this.persistTimer.unref();
  }

  private scheduleDrain(): void {
    if (this.drainTimer || this.stopped) return;
    const due = this.limiter.nextDrainIn();
    if (due === null) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      this.o.guard(() => this.drain('due'));
      this.scheduleDrain();
    }, due + 1);
    this.drainTimer.unref();
  }
}

/**
 * The carrier with `repeats` as counted so far.
 *
 * @example
 * withRepeats(carrier, 996); // the same report, `repeats: 996`
 */
export function withRepeats(report: Report, repeats: number): Report {
  const { repeats: _old, ...rest } = report;
  return repeats > 0 ? { ...rest, repeats: Math.min(repeats, LIMITS.repeats.max) } : rest;
}

/** The collector groups by (app, number, module, procedure); app is fixed per reporter. */
function groupKey(error: NormalizedError): string {
  return `${error.number}\u0000${error.module}\u0000${error.procedure}`;
}
