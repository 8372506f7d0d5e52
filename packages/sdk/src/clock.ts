import { performance } from 'node:perf_hooks';

/**
 * Milliseconds since this process started, on a clock the wall clock's changes never move: what
 * the SDK's waits and windows are measured on. On the wall clock, a host clock set back by a day
 * kept the SDK from sending for a day (its pause ended a day late), and held a group's reports
 * back from the flood control's window for as long. Only what another process reads (the
 * collector's Retry-After kept in the queue folder) is on the wall clock.
 *
 * @example
 * const due = monotonicNow() + 5_000; // five seconds from now, whatever the clock is set to
 */
export function monotonicNow(): number {
  return performance.now();
}
