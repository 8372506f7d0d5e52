import type { Report } from '@jcs/protocol';
import type { Backoff } from './backoff';
import { certificateAdvice, tlsHandshakeAdvice } from './certificate-advice';
import { proxyAdvice } from './proxy';
import { monotonicNow } from './clock';
import type { DiagnosticSink } from './diagnostics';
import type { ClaimedReport, ReportQueue } from './queue/types';
import type { SendOutcome, Transport } from './transport';
import { clearInterval, clearTimeout, setInterval, setTimeout } from './timers';
import { withoutDump } from './without-dump';

/**
 * How long the queue is left before it is looked at again when it holds reports but none could be
 * claimed (a file a virus scanner has locked, one that could not be read, a claim that could not go
 * back to pending/ yet), unless a new report or a flush comes first. Looked at again at once, that
 * was a loop of directory listings at full CPU for as long as the file stayed so: for ever, for
 * one that never can be claimed.
 */
const NOTHING_CLAIMABLE_MS = 1000;

export interface DeliveryOptions {
  queue: ReportQueue;
  transport: Transport;
  backoff: Backoff;
  /** the longest wait, also the cap on a Retry-After */
  maxDelayMs: number;
  /** the shortest wait, also the floor under a Retry-After (`0` or a past date) */
  minDelayMs?: number;
  diagnostic: DiagnosticSink;
  /**
   * The end user's current choice about the dump, asked at every send: a report queued with a
   * dump before consent was withdrawn (or by an earlier run) goes without it. Default: allowed.
   */
  dumpConsent?: () => boolean;
  /** injectable for tests: one clock for waits and the kept Retry-After alike */
  now?: () => number;
}

/**
 * Sends queued reports one at a time, oldest first (a report that failed goes behind the
 * others), and decides each one's fate from the collector's answer. One sender per reporter: the
 * collector is either reachable or not, so a failure pauses the whole queue rather than each
 * report retrying on its own schedule.
 * Its timers are unref'd: waiting to retry never keeps the host process alive.
 */
export class Delivery {
  private readonly queue: ReportQueue;
  /** waits and pauses (monotonicNow) */
  private readonly now: () => number;
  /** the Retry-After kept for the next process */
  private readonly wallNow: () => number;
  private timer: NodeJS.Timeout | null = null;
  private timerDue = 0;
  private pumping = false;
  private inFlight: ClaimedReport | null = null;
  private inFlightAbort: AbortController | null = null;
  private pausedUntil = 0;
  /** when the current pause began: a flush may cut a back-off short, but only to minDelayMs */
  private pausedAt = 0;
  /** a flush came while a request was in flight: cut the back-off its failure begins too */
  private cutNextBackoff = false;
  /** the deadlines of the flush() calls waiting: a back-off must leave each time for a try */
  private readonly flushDeadlines = new Set<{ at: number }>();
  private pausedBy: 'backoff' | 'collector' | null = null;
  /** a Retry-After is kept in the queue dir for the next process, to clear once delivered */
  private waitKept = false;
  private stopped = false;
  private poller: NodeJS.Timeout | null = null;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly options: DeliveryOptions) {
    this.queue = options.queue;
    this.now = options.now ?? monotonicNow;
    this.wallNow = options.now ?? Date.now;
    // A Retry-After an earlier process was given still holds (a `jcs-report` per error, or an
    // app restarted): asking again at once is what the collector asked us not to do.
    this.waitKept = (this.queue.waitUntil?.() ?? 0) > 0; // cleared by the first delivery
    const left = this.keptWaitMs();
    if (left > 0) this.pause(left, 'collector');
  }

  /** Sends soon, or when the current pause ends. */
  kick(): void {
    if (this.stopped) return;
    this.schedule(Math.max(0, this.pausedUntil - this.now()));
  }

  /**
   * Looks at the queue every `intervalMs` even without a kick: with a shared queue dir, another
   * process may release a report, or die holding one, after our last pass found nothing.
   */
  poll(intervalMs: number): void {
    if (this.poller || this.stopped) return;
    this.poller = setInterval(() => this.kick(), intervalMs);
    this.poller.unref();
  }

  /**
   * Resolves true once the queue is empty, false at the deadline. Cuts a back-off pause short
   * (the host is about to wait for us: worth one more try) but honours the collector's
   * Retry-After.
   */
  flush(timeoutMs: number): Promise<boolean> {
    // Stopped (the reporter closed): nothing more will go, so waiting out the timeout is no use.
    if (this.stopped) return Promise.resolve(this.isIdle());
    this.cutBackoffShort();
    // A report another process sharing the queue died holding counts as queued: without this it
    // would wait for the next periodic look, and flush() could answer true without it.
    this.queue.recoverClaims?.();
    this.kick();
    if (this.isIdle()) return Promise.resolve(true);
    const waiting = { at: this.now() + timeoutMs };
    this.flushDeadlines.add(waiting);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(deadline);
        this.waiters.delete(check);
        this.flushDeadlines.delete(waiting);
        resolve(ok);
      };
      // A stop (close()) ends the wait too: nothing more will go, so a flush begun before it
      // must not hold a quitting host until its own deadline.
      const check = () => {
        if (this.isIdle()) done(true);
        else if (this.stopped) done(false);
      };
      // Not unref'd: the host asked to wait this long, and its process must not end meanwhile.
      const deadline = setTimeout(() => done(this.isIdle()), timerDelay(timeoutMs));
      this.waiters.add(check);
    });
  }

  /**
   * Tries each queued report once, stopping at the first that cannot be delivered now: what
   * `jcs-report` does, so a shell call from a desktop app returns promptly when offline.
   */
  async sendEachOnce(timeoutMs: number): Promise<boolean> {
    const deadline = this.now() + timeoutMs;
    // Holds the process while the caller waits: requests are unref'd and would not. Bounded by
    // the deadline plus one request's timeout.
    const keepAlive = setInterval(() => undefined, 60_000);
    try {
      while (!this.stopped && this.now() < deadline) {
        if (this.pausedBy === 'collector' && this.pausedUntil > this.now()) break;
        if (this.waitsForAnother()) break;
        const item = this.queue.claimNext();
        if (!item) break;
        const outcome = await this.attempt(item);
        if (outcome.kind === 'failed' || outcome.kind === 'retry_after') break;
      }
    } finally {
      clearInterval(keepAlive);
    }
    return this.queue.size() === 0;
  }

  /**
   * For a process about to die (an uncaught exception): tries what the queue holds, the report
   * whose request is in flight first, then the oldest, on the calling thread with `sendOne`,
   * until one cannot be delivered now or `untilMs` (on `now`) comes. The in-flight request would
   * die with the process: sent again here, and a collector that already has it answers 200. A
   * back-off pause is skipped (the crash may be the reason to try), a Retry-After honoured.
   */
  sendBeforeDeath(
    sendOne: (report: Report, untilMs: number) => SendOutcome,
    untilMs: number,
  ): void {
    if (this.stopped || (this.pausedBy === 'collector' && this.pausedUntil > this.now())) return;
    // or one another process sharing the queue was given since
    if (this.keptWaitMs() > 0) return;
    let item = this.inFlight;
    this.inFlight = null;
    this.inFlightAbort = null;
    while (this.now() < untilMs) {
      item ??= this.queue.claimNext();
      if (!item) break;
      const sent = this.asSent(item.report);
      const outcome = sendOne(sent, untilMs);
      this.settle(item, sent, outcome);
      item = null;
      if (outcome.kind === 'failed' || outcome.kind === 'retry_after') break;
    }
    if (item) this.queue.release(item.key);
  }

  /**
   * For a host whose work is done: one more try at what is queued (a back-off pause is skipped,
   * a Retry-After honoured). Resolves once nothing is in flight and the queue is empty or paused:
   * every report has been tried or must wait. The caller bounds how long it waits.
   */
  settleForExit(): Promise<void> {
    this.cutBackoffShort();
    this.kick();
    const settled = () =>
      this.stopped ||
      (this.inFlight === null && (this.queue.size() === 0 || this.pausedUntil > this.now()));
    return this.until(settled);
  }

  /**
   * Stops sending. A request in flight is aborted: its report is put back in the queue, unsent
   * (on disk with a queue dir, for the next run). Resolves once it is back: a reporter opened
   * on the same queue right after then finds it.
   */
  stop(): Promise<void> {
    this.stopped = true;
    this.inFlightAbort?.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
    if (!this.inFlight) this.queue.close();
    this.notify();
    return this.until(() => this.inFlight === null);
  }

  /**
   * What is left of the Retry-After kept in the queue dir (ms; 0 when none is in force). None is
   * kept for longer than maxDelayMs (attempt() caps it): a wait further off than that was kept
   * before the clock was set back, and would block sending for days.
   */
  private keptWaitMs(): number {
    const left = (this.queue.waitUntil?.() ?? 0) - this.wallNow();
    return left > 0 && left <= this.options.maxDelayMs ? left : 0;
  }

  /**
   * Whether a Retry-After that another process sharing the queue dir was given is in force (the
   * app opened twice): it pauses this one too, as it would a process started now. Looked at
   * before each report, so a wait given mid-pass stops the rest of this pass as well.
   */
  private waitsForAnother(): boolean {
    const left = this.keptWaitMs();
    if (left <= 0) return false;
    this.pause(left, 'collector');
    return true;
  }

  /** Resolves once `done()` holds, looked at again each time the delivery's state changes. */
  private until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!done()) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  private isIdle(): boolean {
    return this.inFlight === null && this.queue.size() === 0;
  }

  private schedule(delayMs: number): void {
    if (this.pumping || this.stopped) return;
    const due = this.now() + delayMs;
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.pump();
    }, timerDelay(delayMs));
    this.timer.unref();
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    let nothingClaimable = false;
    try {
      while (!this.stopped && this.pausedUntil <= this.now() && !this.waitsForAnother()) {
        const item = this.queue.claimNext();
        nothingClaimable = item === null;
        if (!item) break;
        await this.attempt(item);
      }
    } catch {
      // claimNext swallows I/O errors; nothing here may reach the host
    } finally {
      this.pumping = false;
    }
    if (this.stopped) this.queue.close();
    else if (this.queue.size() > 0) {
      const paused = Math.max(0, this.pausedUntil - this.now());
      this.schedule(nothingClaimable ? Math.max(paused, NOTHING_CLAIMABLE_MS) : paused);
    }
    this.notify();
  }

  private async attempt(item: ClaimedReport): Promise<SendOutcome> {
    this.inFlight = item;
    const abort = new AbortController();
    this.inFlightAbort = abort;
    let outcome: SendOutcome;
    let sent = item.report;
    try {
      sent = this.asSent(item.report);
      outcome = await this.options.transport.send(sent, { signal: abort.signal });
    } catch {
      outcome = { kind: 'failed', reason: 'transport threw' };
    }
    this.inFlight = null;
    this.inFlightAbort = null;
    try {
      if (this.stopped && outcome.kind === 'failed') {
        // Aborted by stop(): not a failure of the collector, nothing to retry this run.
        this.options.queue.release(item.key);
        this.options.queue.close();
      } else this.settle(item, sent, outcome);
    } catch {
      // A queue file vanished under us: it is recovered or gone; never throw into the host.
    }
    // A flush's cut is for this attempt's back-off only: one delivered leaves none to cut.
    this.cutNextBackoff = false;
    this.notify();
    return outcome;
  }

  /**
   * The report as it goes on the wire now. Without consent it is what `report()` makes without
   * consent: no dump, `dumpWithheld: "user-opt-out"`, also for one made with consent but without
   * a dump (no data, a flood's carrier, a dump too large): the engineer reading it must not take
   * the user to consent. The queued copy is left as it is, so the choice is asked again at each
   * attempt.
   */
  private asSent(report: Report): Report {
    const consent = this.options.dumpConsent?.() ?? true;
    if (consent || (report.dumpWithheld === 'user-opt-out' && !report.dump)) return report;
    return withoutDump(report, 'user-opt-out');
  }

  private settle(item: ClaimedReport, sent: Report, outcome: SendOutcome): void {
    const { queue, backoff, diagnostic } = this.options;
    const reportId = item.report.id;
    switch (outcome.kind) {
      case 'delivered':
        queue.remove(item.key);
        this.resume();
        return;
      case 'rejected':
        queue.remove(item.key);
        this.resume();
        diagnostic({
          code: 'rejected',
          message: `the collector refused the report (${refusal(outcome)}); it was deleted, as sending it again cannot succeed`,
          reportId,
          status: outcome.status,
        });
        return;
      case 'too_large': {
        if (!sent.dump) {
          queue.remove(item.key);
          diagnostic({
            code: 'rejected',
            message:
              'the collector refused the report as too large even without a dump; it was deleted',
            reportId,
            status: 413,
          });
          return;
        }
        queue.replace(item.key, withoutDump(item.report));
        diagnostic({
          code: 'too_large',
          message:
            'the collector refused the report as too large; sending it again without the dump',
          reportId,
          status: 413,
        });
        return;
      }
      case 'retry_after': {
        // Behind the others, as after any failure: the pause is for all, the next try for the next.
        queue.release(item.key, true);
        // A collector's (or a proxy's) "0" or a past date must not make a tight loop.
        const delay = Math.min(
          this.options.maxDelayMs,
          Math.max(this.options.minDelayMs ?? 0, outcome.delayMs ?? backoff.next()),
        );
        this.pause(delay, 'collector');
        queue.setWaitUntil?.(this.wallNow() + (this.pausedUntil - this.now()));
        diagnostic({
          code: 'collector_busy',
          message: `the collector asked us to wait (HTTP ${outcome.status}); retrying in ${delay} ms`,
          reportId,
          status: outcome.status,
          retryInMs: delay,
        });
        return;
      }
      case 'failed': {
        // Behind the others: a report the collector (or a proxy) keeps failing, a 500 say, must
        // not hold up every report after it for ever. Offline, every report fails in turn.
        queue.release(item.key, true);
        this.pause(backoff.next(), 'backoff');
        // Shorter when a flush cut it; whole milliseconds (the clock's readings are fractions).
        const delay = Math.round(this.pausedUntil - this.pausedAt);
        // A refused certificate, or a proxy that refuses, fails every try until someone acts:
        // say what to do.
        const certificate = certificateAdvice(outcome.reason, 'options');
        const proxy = proxyAdvice(outcome.reason);
        const handshake = tlsHandshakeAdvice(outcome.reason, 'options');
        const advice = certificate
          ? `; the collector's TLS certificate was refused: ${certificate}`
          : proxy
            ? `; the proxy refused it: ${proxy}`
            : handshake
              ? `; no TLS handshake with the collector: ${handshake}`
              : '';
        diagnostic({
          code: 'send_failed',
          message: `could not deliver the report (${outcome.reason}); retrying in ${delay} ms${advice}`,
          reportId,
          status: outcome.status,
          retryInMs: delay,
          reason: outcome.reason,
        });
        return;
      }
    }
  }

  /**
   * Ends a back-off pause early, but no sooner than retry.minDelayMs after the failure that
   * began it: a host that calls flush() after every error must not ask a collector that is down
   * again and again (flush(100) 50 times in 5 s asked 50 times; now at most once a second).
   */
  private cutBackoffShort(): void {
    if (this.inFlight) this.cutNextBackoff = true;
    if (this.pausedBy !== 'backoff') return;
    this.pausedUntil = Math.min(this.pausedUntil, this.pausedAt + (this.options.minDelayMs ?? 0));
  }

  private pause(delayMs: number, by: 'backoff' | 'collector'): void {
    if (by === 'backoff' && this.cutNextBackoff) delayMs = this.options.minDelayMs ?? 0;
    // A host waiting on flush() gets its tries before the deadline: a back-off grown past it is
    // cut to half the time left (so a last failure still leaves room for one more), never below
    // minDelayMs. It still grows, with its jitter, while the deadline is far off.
    else if (by === 'backoff' && this.flushDeadlines.size > 0) {
      const left = Math.min(...[...this.flushDeadlines].map((f) => f.at)) - this.now();
      delayMs = Math.min(delayMs, Math.max(this.options.minDelayMs ?? 0, left / 2));
    }
    this.pausedAt = this.now();
    this.pausedUntil = this.pausedAt + delayMs;
    this.pausedBy = by;
    if (by === 'collector') this.waitKept = true;
  }

  private resume(): void {
    this.options.backoff.reset();
    // Set by every collector pause, and at start when an earlier process left a wait.
    if (this.waitKept) this.queue.clearWaitUntil?.(this.wallNow(), this.options.maxDelayMs);
    this.waitKept = false;
    this.pausedUntil = 0;
    this.pausedBy = null;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/**
 * A wait in ms as setTimeout can take it: from 0 to its largest delay (about 24.8 days). Beyond
 * that Node fires it after 1 ms, so `flush(Infinity)` would give up at once.
 */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(0, ms), 2 ** 31 - 1);
}

/** `HTTP 400 invalid_report: /error/line, /license`: the status, code and fields the collector named. */
function refusal(outcome: { status: number; code?: string; fields?: string[] }): string {
  const code = outcome.code ? ` ${outcome.code}` : '';
  const fields = outcome.fields ? `: ${outcome.fields.map((f) => f || '(body)').join(', ')}` : '';
  return `HTTP ${outcome.status}${code}${fields}`;
}
