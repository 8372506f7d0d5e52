import type { Collector } from '../collector';
import { DAY_MS, HOUR_MS } from '../time';
import { ExpiryAbortedError, runExpiry } from './expire';
import { dated, lastExpiry } from './status';

/** serve's nightly run: 02:30 UTC, a quiet hour for a desktop app used in European offices. */
const NIGHTLY_UTC = { hour: 2, minute: 30 };
/** After a failed run, try again this soon rather than wait a whole day. */
const RETRY_MS = HOUR_MS;
/** The actor on the receipts of serve's own runs (token names cannot hold ':'). */
const NIGHTLY_ACTOR = 'system:nightly';

/**
 * The first nightly slot (02:30 UTC) strictly after `now`.
 *
 * @example
 * iso(nextNightlyRun(Date.parse('2026-11-01T02:30:00Z'))); // '2026-11-02T02:30:00.000Z'
 */
export function nextNightlyRun(now: number): number {
  const slot =
    Math.floor(now / DAY_MS) * DAY_MS + NIGHTLY_UTC.hour * HOUR_MS + NIGHTLY_UTC.minute * 60_000;
  return slot > now ? slot : slot + DAY_MS;
}

export interface ExpirySchedule {
  /** Stops the timers, stops a run in progress between two chunks, and waits for it. */
  stop(): Promise<void>;
  /** The current run, if one is in progress (tests wait on it). */
  current(): Promise<void> | null;
}

/**
 * Runs the expiry job every night at 02:30 UTC, and once at start when a nightly slot has come
 * since the last run (serve was down at 02:30) or there never was one. Timers are unref'd, so they never keep the process alive;
 * a failed run is logged and retried an hour later.
 *
 * @example
 * const schedule = scheduleExpiry(c);
 * // ... on SIGTERM:
 * await schedule.stop();
 */
export function scheduleExpiry(c: Collector): ExpirySchedule {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | null = null;
  let inProgress: Promise<void> | null = null;

  const arm = (at: number) => {
    if (abort.signal.aborted) return;
    timer = setTimeout(run, Math.max(0, at - c.clock()));
    timer.unref();
  };

  function run(): void {
    timer = null;
    inProgress = runExpiry(c, { actor: NIGHTLY_ACTOR, signal: abort.signal }).then(
      () => arm(nextNightlyRun(c.clock())),
      (e: unknown) => {
        if (e instanceof ExpiryAbortedError) return;
        c.log.error({ err: (e as Error).message }, 'expiry run failed: retrying in an hour');
        arm(c.clock() + RETRY_MS);
      },
    );
    void inProgress.finally(() => (inProgress = null));
  }

  // A nightly slot that came while serve was down is run at once: waiting for the next one
  // could leave nearly two days between runs (a start-up run at 10:00, serve down over 02:30,
  // back at 02:40), and status is not compliant after 36 hours.
  const last = lastExpiry(c);
  if (last === null || !dated(last, c.clock()) || nextNightlyRun(last.at) <= c.clock()) {
    arm(c.clock());
  } else {
    arm(nextNightlyRun(c.clock()));
  }

  return {
    current: () => inProgress,
    stop: async () => {
      abort.abort();
      if (timer) clearTimeout(timer);
      timer = null;
      await inProgress;
    },
  };
}
