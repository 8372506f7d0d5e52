import { randomUUID } from 'node:crypto';
import { isNativeError } from 'node:util/types';
import type { Report } from '@jcs/protocol';
import { createBackoff } from './backoff';
import { Delivery, timerDelay } from './delivery';
import { applyBeforeSend } from './before-send';
import { buildReport, type BuiltReport } from './build-report';
import {
  LOST_REPORT_CODES,
  createDiagnosticSink,
  describeError,
  type DiagnosticSink,
} from './diagnostics';
import { createRedactor, type Redactor } from './dump/redact';
import { FloodControl, withRepeats, type Carrier, type HeldOccurrence } from './flood-carriers';
import { SharedFloodControl } from './shared-flood';
import type { DrainMode } from './flood';
import { installProcessHandlers } from './global-handlers';
import {
  normalizeError,
  noteUnknownFields,
  readProperty,
  type NormalizedError,
  type ReportInput,
} from './normalize';
import type { ResolvedOptions } from './options';
import { openReportQueue } from './queue/open-queue';
import type { ReportQueue } from './queue/types';
import { readSourceLine, type StackFrame } from './stack';
import { captureFields, reportFieldsOfError } from './capture';
import { monotonicNow } from './clock';
import type { CaptureExtra, Reporter, ReportPreview } from './api';
import { sendBeforeDeath } from './crash-send';
import { createTransport, type TransportOptions } from './transport';
import { onBeforeExit, onProcessExit, type ExitGrace } from './exit-hook';
import { clearTimeout, setImmediate, setTimeout } from './timers';

const DEFAULT_TIMEOUT_MS = 5000;
/** How long close() waits for an aborted request to hand its report back. */
const STOP_WAIT_MS = 1000;
/** At least this long for an aborted request to put its report back, whatever the deadline. */
const STOP_WAIT_FLOOR_MS = 50;
const QUEUE_POLL_MS = 30_000;
/** How often a repeated flush() looks whether held-back occurrences went at their window's end. */
const HELD_POLL_MS = 50;

/** Internals the `jcs-report` bin needs; not part of the public API. */
export interface ReporterInternals {
  /** false: do not send in the background; the caller drives delivery */
  autoSend?: boolean;
  /**
   * Flood control's windows kept in the queue dir, shared by every process using it
   * (shared-flood.ts): for jcs-report, where each report is a process of its own.
   */
  floodAcrossProcesses?: boolean;
}

/** What the reporter asks of flood control, in one process or across processes. */
type FloodGate = Pick<FloodControl, 'admit' | 'drain' | 'heldAfterFlush' | 'stillHeld' | 'stop'>;

export class ReporterCore implements Reporter {
  private consent: boolean;
  private closed = false;
  private depth = 0;
  /** queued reports dropped undelivered so far, for flush() to answer honestly */
  private lost = 0;
  /** `lost` as the last flush() to end answered for it */
  private lostAnswered = 0;
  /** report() and captureException() calls so far, and their count at flush()'s last hold */
  private submitted = 0;
  private submittedAtHold = -1;
  private readonly diagnostic: DiagnosticSink;
  private readonly redactor: Redactor;
  private readonly flood: FloodGate;
  private uninstallHandlers: (() => void) | null = null;
  private readonly queue: ReportQueue;
  private removeExitHook: (() => void) | null = null;
  private removeGraceHook: (() => void) | null = null;
  /** something was stored (or held back) since the last exit grace: worth another */
  private newSinceGrace = true;
  private readonly delivery: Delivery;
  private readonly transportOptions: TransportOptions;
  private readonly autoSend: boolean;

  constructor(
    private readonly o: ResolvedOptions,
    internals: ReporterInternals = {},
  ) {
    this.autoSend = internals.autoSend ?? true;
    this.consent = o.dumpConsent;
    const sink = createDiagnosticSink(o.onDiagnostic);
    this.diagnostic = (d) => {
      if (LOST_REPORT_CODES.has(d.code)) this.lost++;
      sink(d);
    };
    this.redactor = createRedactor({
      keys: o.redactKeys,
      cardNumbers: o.redactCardNumbers,
      niNumbers: o.redactNiNumbers,
    });
    this.queue = openReportQueue(o, this.diagnostic);
    const makeCarrier = (carrierId: string, { occurredAt, error, frame }: HeldOccurrence) => {
      withSourceLine(error, frame, o.includeSourceLine);
      // The held-back occurrences' data is never read: a carrier has no dump.
      const built = this.build(carrierId, occurredAt, error, 0, undefined, this.consent);
      return this.finalize(built.report);
    };
    const storage = internals.floodAcrossProcesses ? this.queue.floodStorage?.() : undefined;
    this.flood = storage
      ? new SharedFloodControl({
          ...o.flood,
          app: o.app.name,
          storage,
          diagnostic: this.diagnostic,
          makeCarrier,
        })
      : new FloodControl({
          ...o.flood,
          queue: this.queue,
          diagnostic: this.diagnostic,
          makeCarrier,
          store: (report, heldKey) => this.store(report, heldKey),
          guard: (work) => this.guard(undefined, work),
        });
    this.transportOptions = {
      url: o.reportsUrl,
      token: o.token,
      timeoutMs: o.requestTimeoutMs,
      ca: o.ca,
      ...(o.proxy.url === undefined ? {} : { proxy: o.proxy.url }),
    };
    if (o.proxy.ignored !== undefined && !o.transport) {
      this.diagnostic({
        code: 'proxy_ignored',
        message: `${o.proxy.ignored} is not an http:// proxy URL, so reports go directly`,
      });
    }
    const transport = o.transport
      ? o.transport(this.transportOptions)
      : createTransport(this.transportOptions);
    this.delivery = new Delivery({
      queue: this.queue,
      transport,
      backoff: createBackoff(o.retry),
      maxDelayMs: o.retry.maxDelayMs,
      minDelayMs: o.retry.minDelayMs,
      diagnostic: this.diagnostic,
      dumpConsent: () => this.consent,
    });
    // Reports an earlier run queued go out at start.
    if (this.autoSend) {
      this.delivery.kick();
      if (this.queue.durable) this.delivery.poll(QUEUE_POLL_MS);
    }
    // A carrier of held-back occurrences is on disk from the first of them, held by this process
    // and its count kept up to date each second; a process that ends without flush() or close()
    // hands the carriers, with their final counts, to the queue on its way out (synchronously:
    // 'exit' runs no more turns of the event loop), for the next run to send. One that dies
    // without 'exit' (SIGKILL, a crash) leaves them claimed: the next run takes them back.
    if (this.queue.durable) {
      this.removeExitHook = onProcessExit(this, (r) =>
        r.guard(undefined, () => r.drainFlood('all')),
      );
    }
    // A host that simply ends (its event loop empties) gets what it reported tried before it
    // goes, for at most exitGraceMs: the first send is on an unref'd timer that would not fire.
    if (this.autoSend && o.exitGraceMs > 0) {
      this.removeGraceHook = onBeforeExit(this, (r) => r.exitGrace());
    }
  }

  /** Called on 'beforeExit': sends what is pending, the held-back repeats too; null: nothing to do. */
  private exitGrace(): ExitGrace | null {
    if (this.closed || !this.newSinceGrace) return null;
    let grace: ExitGrace | null = null;
    this.guard(undefined, () => {
      this.drainFlood('all');
      this.newSinceGrace = false;
      if (this.queue.size() === 0) return;
      grace = { graceMs: this.o.exitGraceMs, done: this.delivery.settleForExit() };
    });
    return grace;
  }

  report(input: ReportInput): string {
    const id = randomUUID();
    let answered: string = id;
    this.guard(id, () => {
      const { error, notes, dataSource, frame } = reportFields(input);
      answered = this.submit(id, error, notes, dataSource, frame);
    });
    return answered;
  }

  /** `caughtAt`: the host's stack at its call, for a thrown value that has none of its own. */
  captureException(thrown: unknown, extra?: CaptureExtra, caughtAt?: () => string): string {
    const id = randomUUID();
    let answered: string = id;
    this.guard(id, () => {
      const { error, notes, frame } = thrownFields(thrown, extra, caughtAt);
      answered = this.submit(id, error, notes, extra, frame);
    });
    return answered;
  }

  preview(input: ReportInput, options?: { dumpConsent?: boolean }): ReportPreview | null {
    try {
      const { error, dataSource, frame } = reportFields(input);
      withSourceLine(error, frame, this.o.includeSourceLine);
      const override = readProperty(options, 'dumpConsent').value;
      if (override !== undefined && typeof override !== 'boolean') {
        // as setDumpConsent: 'yes' from a settings file would otherwise preview the wrong dump
        this.diagnostic({
          code: 'invalid_input',
          message: `preview's dumpConsent takes true or false, not a value of type ${typeof override}: the reporter's own consent was used`,
        });
      }
      const consent = typeof override === 'boolean' ? override : this.consent;
      const built = this.build(
        randomUUID(),
        new Date().toISOString(),
        error,
        0,
        dataSource,
        consent,
      );
      const report = this.finalize(built.report);
      if (!report) return null;
      const { dump: sealed, ...rest } = report;
      if (sealed && built.dumpJson !== undefined) {
        return { ...rest, dump: JSON.parse(built.dumpJson) as unknown };
      }
      return rest;
    } catch (e) {
      this.internalError(undefined, e);
      return null;
    }
  }

  setDumpConsent(consent: boolean): void {
    // Anything but true withholds the dump (the safe reading), and the host is told: 'yes' or 1
    // from a settings file would otherwise withhold every dump unnoticed.
    if (typeof consent !== 'boolean') {
      this.diagnostic({
        code: 'invalid_input',
        message: `setDumpConsent takes true or false, not a value of type ${typeof consent}: taken as false, dumps are withheld`,
      });
    }
    this.consent = consent === true;
  }

  installGlobalHandlers(): void {
    if (this.uninstallHandlers || this.closed) return;
    try {
      this.uninstallHandlers = installProcessHandlers((error, _origin, dyingSince) => {
        this.captureException(error);
        // The process is probably about to die: put held-back repeats on disk too, now.
        this.guard(undefined, () => this.drainFlood('all'));
        if (dyingSince !== null) this.guard(undefined, () => this.sendBeforeDeath(dyingSince));
      });
      // A crash's report is tried before the process dies, but only a queue on disk keeps it
      // when that fails (the collector unreachable, or slower than exitGraceMs).
      if (!this.queue.durable) {
        this.diagnostic({
          code: 'queue_unavailable',
          message:
            "global handlers installed without a queue on disk (no queueDir, or one that could not be used): a crash's report is tried once before the process dies and lost if that fails; give queueDir so that the next start sends it",
        });
      }
    } catch (e) {
      this.internalError(undefined, e);
    }
  }

  /**
   * The process dies of an uncaught exception when this returns, with no more turns of its event
   * loop: what is queued is sent now, the thread blocked, for at most exitGraceMs since the
   * error was seen. Not through an injected transport, which is asynchronous: then, as with
   * exitGraceMs 0, the report waits in the queue for the next start.
   */
  private sendBeforeDeath(dyingSince: number): void {
    if (this.closed || !this.autoSend || this.o.transport || this.o.exitGraceMs <= 0) return;
    sendBeforeDeath(this.delivery, this.transportOptions, dyingSince + this.o.exitGraceMs);
  }

  flush(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<boolean> {
    return this.sendQueued(timeoutMs, 'flush');
  }

  /** flush(), and close() with every held-back occurrence (`all`), not only the ones flush sends. */
  private async sendQueued(timeoutMs: number, flood: DrainMode): Promise<boolean> {
    timeoutMs = waitMs(timeoutMs);
    const deadline = monotonicNow() + timeoutMs;
    // Reports dropped since the last flush() answered count, those dropped before it too: an
    // empty queue is not "everything delivered" when a report was thrown away on the way.
    const lostBefore = this.lostAnswered;
    try {
      if (!this.closed) this.drainFlood(flood);
      // Occurrences flood control keeps for their window's end (a group flushed early too
      // often): not "everything delivered" unless their window ends, and they go, meanwhile.
      const held = flood === 'flush' && !this.closed ? this.flood.heldAfterFlush() : [];
      if (held.length > 0) await this.waitForHeld(held, deadline);
      const left = timerDelay(deadline - monotonicNow());
      const empty = this.autoSend
        ? await this.delivery.flush(left)
        : await this.delivery.sendEachOnce(left);
      const lost = this.lost;
      this.lostAnswered = Math.max(this.lostAnswered, lost);
      return empty && lost === lostBefore && !this.flood.stillHeld(held);
    } catch (e) {
      this.internalError(undefined, e);
      return false;
    }
  }

  /**
   * A flush() that leaves occurrences held back for their window's end. When the host reported
   * since the last such flush, it answers at once: a loop that reports and flushes each error
   * is not held up. Called again with nothing reported in between, it waits for the window's end
   * (within its deadline), when the timer sends them: answering false again at once would tell
   * a host that calls flush() until it says true nothing new, and have it spin. Either way it
   * gives the event loop a turn, so such a loop never starves the host's timers and I/O.
   */
  private async waitForHeld(held: string[], deadline: number): Promise<void> {
    const repeated = this.submitted === this.submittedAtHold;
    this.submittedAtHold = this.submitted;
    await new Promise((resolve) => setImmediate(resolve));
    // Across processes (jcs-report) nothing is released by a timer, only by a later call.
    if (!repeated || this.flood instanceof SharedFloodControl) return;
    while (!this.closed && this.flood.stillHeld(held)) {
      const left = deadline - monotonicNow();
      if (left <= 0) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, HELD_POLL_MS)));
    }
  }

  /**
   * How many carriers flood control across processes (jcs-report) queued in this process: a
   * held-back call that released an ended window's carrier sends it too.
   */
  floodReleased(): number {
    return this.flood instanceof SharedFloodControl ? this.flood.released : 0;
  }

  /** When the collector's last Retry-After ends (ms since the epoch; 0: none), for jcs-report. */
  collectorWaitUntil(): number {
    return this.queue.waitUntil?.() ?? 0;
  }

  /**
   * Whether the report still waits in the queue, or is claimed by a process sharing it, for
   * jcs-report: gone, and not dropped, means another process sharing the queue delivered it.
   */
  queueHolds(reportId: string): boolean {
    return this.queue.holds(reportId);
  }

  async close(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<boolean> {
    if (this.closed) return this.queue.size() === 0;
    const deadline = monotonicNow() + waitMs(timeoutMs);
    let ok = await this.sendQueued(timeoutMs, 'all');
    // Reports made while close() runs (an error during the host's shutdown) are queued, or held
    // back for a carrier, like any other: they go too while time is left, and close() answers for
    // them. The last check and `closed` run in one turn, so no report falls between them.
    for (;;) {
      this.drainFlood('all');
      if (!ok || this.queue.size() === 0 || monotonicNow() >= deadline) break;
      ok = await this.sendQueued(deadline - monotonicNow(), 'all');
    }
    if (this.queue.size() > 0) ok = false;
    this.closed = true;
    this.uninstallHandlers?.();
    this.uninstallHandlers = null;
    this.removeExitHook?.();
    this.removeExitHook = null;
    this.removeGraceHook?.();
    this.removeGraceHook = null;
    this.flood.stop();
    // The aborted request's report back in the queue before close() resolves, but never a wait
    // on a transport that does not heed the abort past what the caller gave (and a little more
    // for a request aborted at its deadline). Not unref'd: close() must resolve before the
    // process may end, as the docs promise.
    const left = Math.min(STOP_WAIT_MS, Math.max(STOP_WAIT_FLOOR_MS, deadline - monotonicNow()));
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, left)));
    try {
      await Promise.race([this.delivery.stop(), giveUp]);
    } finally {
      // Cleared as soon as the race is over: a timer left running would hold the host open.
      clearTimeout(timer);
    }
    return ok;
  }

  /**
   * Runs `f`, turning anything it throws into a diagnostic. Refuses a second level of re-entry
   * from the host's callbacks: a `username` or `beforeSend` that reports again would otherwise
   * recurse without end, and the report cannot skip its callbacks instead (beforeSend may be
   * what scrubs it). `id`: the report the caller was answered with, dropped aloud.
   */
  private guard(id: string | undefined, f: () => void): void {
    if (this.depth > 1) {
      if (id !== undefined) {
        // A lost report: flush() and close() answer false for it.
        this.diagnostic({
          code: 'nested_report_dropped',
          message:
            "a report made while the SDK was building a report itself made from inside the SDK's work (from the username function, beforeSend or onDiagnostic, or from a getter or toJSON in a report's input or data) was dropped: reports do not nest deeper, so that such code cannot call itself without end",
          reportId: id,
        });
      }
      return;
    }
    this.depth++;
    try {
      f();
    } catch (e) {
      this.internalError(id, e);
    } finally {
      this.depth--;
    }
  }

  private internalError(reportId: string | undefined, e: unknown): void {
    this.diagnostic({
      code: 'internal_error',
      message: `the SDK failed (${describeError(e)}); the host was not affected`,
      reportId,
    });
  }

  /**
   * Stores the occurrence, or counts it for a later carrier; returns the id of the report that
   * represents it on the collector (its own, or the carrier's: what the error dialog quotes).
   */
  private submit(
    id: string,
    error: NormalizedError,
    notes: string[],
    dataSource: unknown,
    frame?: StackFrame,
  ): string {
    if (notes.length > 0) {
      this.diagnostic({
        code: 'invalid_input',
        message: `the input was mended to fit report schema 1: ${notes.join('; ')}`,
        reportId: id,
      });
    }
    this.submitted++;
    const occurredAt = new Date().toISOString();
    let repeats = 0;
    let reportId = id;
    let carrier: Carrier | undefined;
    if (!this.closed) {
      const decision = this.flood.admit(id, { occurredAt, error, frame });
      if (decision.held) {
        this.newSinceGrace = true;
        return decision.carrierId;
      }
      ({ repeats, reportId, carrier } = decision);
    }
    withSourceLine(error, frame, this.o.includeSourceLine);
    const built = this.build(reportId, occurredAt, error, repeats, dataSource, this.consent);
    const report = this.finalize(built.report);
    if (report) this.store(report, carrier?.key);
    // beforeSend dropped this one: the carrier still goes, with the count it holds.
    else if (carrier?.report) this.store(withRepeats(carrier.report, repeats - 1), carrier.key);
    return reportId;
  }

  private build(
    id: string,
    occurredAt: string,
    error: NormalizedError,
    repeats: number,
    dataSource: unknown,
    consent: boolean,
  ): BuiltReport {
    return buildReport(
      { options: this.o, redactor: this.redactor, diagnostic: this.diagnostic },
      { id, occurredAt, error, repeats, dataSource, consent },
    );
  }

  /** beforeSend's say on a report (before-send.ts): the report to queue, or null. */
  private finalize(report: Report): Report | null {
    return applyBeforeSend(this.o.beforeSend, report, this.diagnostic);
  }

  /** Queues the report; `heldKey`: it is the final form of that carrier the queue holds. */
  private store(report: Report, heldKey?: string): void {
    if (this.closed && !this.queue.durable) {
      this.lost++; // flush() after this must not say everything was delivered
      this.diagnostic({
        code: 'closed',
        message: 'report() after close() without a queue directory: the report was dropped',
        reportId: report.id,
      });
      return;
    }
    if (heldKey !== undefined && this.queue.commitHeld) this.queue.commitHeld(heldKey, report);
    else this.queue.add(report);
    this.newSinceGrace = true;
    if (this.closed) {
      this.diagnostic({
        code: 'closed',
        message: 'report() after close(): stored in the queue directory for the next run',
        reportId: report.id,
      });
      return;
    }
    if (this.autoSend) this.delivery.kick();
  }

  private drainFlood(mode: DrainMode): void {
    this.flood.drain(mode);
  }
}

/**
 * What report() and preview() make of their input. An Error handed to them is a caught exception
 * and is read as captureException reads one: its place from its stack, not `(unknown)`, and its
 * `code` not taken for the line of code (on a Node error it is `ENOENT`).
 */
function reportFields(input: unknown): ReportFields {
  if (isNativeError(input)) return thrownFields(input, reportFieldsOfError(input));
  const notes: string[] = [];
  return { error: normalizeError(input, notes), notes, dataSource: input };
}

/** What captureException makes of a thrown value and its `extra` (which holds the dump's data). */
function thrownFields(thrown: unknown, extra: unknown, caughtAt?: () => string): ReportFields {
  const { fields, sourceFrame, notes } = captureFields(thrown, extra, caughtAt);
  const error = normalizeError(fields, notes);
  noteUnknownFields(extra, 'extra', notes);
  return { error, notes, dataSource: extra, frame: sourceFrame };
}

interface ReportFields {
  error: NormalizedError;
  notes: string[];
  /** what the dump's `data` is read from */
  dataSource: unknown;
  /** the frame the line of code may be read from */
  frame?: StackFrame;
}

function withSourceLine(error: NormalizedError, frame: StackFrame | undefined, on: boolean): void {
  if (!on || !frame || error.code !== undefined) return;
  const code = readSourceLine(frame.file, frame.line);
  if (code !== undefined) error.code = code;
}

/** A caller's timeout as a wait: `Infinity` is as long as a timer can wait, anything else not a number the default. */
function waitMs(timeoutMs: unknown): number {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) return DEFAULT_TIMEOUT_MS;
  return timerDelay(timeoutMs);
}
