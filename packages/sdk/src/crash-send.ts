import type { Report } from '@jcs/protocol';
import { openBlockingRequester, type BlockingRequester } from './blocking-request';
import { monotonicNow } from './clock';
import type { Delivery } from './delivery';
import {
  classify,
  failedOutcome,
  reportRequest,
  type SendOutcome,
  type TransportOptions,
} from './transport';

/**
 * Sends what the queue holds while the process dies of an uncaught exception: Node ends it as
 * soon as the handlers return, so the requests run on a worker thread while this one waits, until
 * one cannot be delivered or `untilMs` (on `monotonicNow`) comes. Without it a crash's report
 * would go only at the next start, and without a queue on disk never.
 *
 * @example
 * // in the uncaughtExceptionMonitor, the process about to die:
 * sendBeforeDeath(delivery, transportOptions, monotonicNow() + 1500);
 */
export function sendBeforeDeath(
  delivery: Delivery,
  options: TransportOptions,
  untilMs: number,
): void {
  untilMs = sharedDeadline(untilMs);
  if (monotonicNow() >= untilMs) return;
  // Started only once there is something to send: nothing queued, or a Retry-After in force,
  // costs no thread.
  let requester: BlockingRequester | undefined;
  try {
    delivery.sendBeforeDeath((report, until) => {
      requester ??= openBlockingRequester();
      return sendBlocking(requester, options, report, until);
    }, untilMs);
  } finally {
    requester?.close();
  }
}

/**
 * One crash, one grace: every reporter of the process shares the first one's deadline, even
 * those of another copy of the SDK (a duplicated dependency, a bundled plug-in), which have
 * listeners of their own. On the process object, as `monotonicNow` is the process's clock.
 */
const DEADLINE = Symbol.for('@jcs/sdk: crash-send deadline');
function sharedDeadline(untilMs: number): number {
  const holder = process as unknown as Record<symbol, number | undefined>;
  const first = holder[DEADLINE];
  if (first !== undefined && first < untilMs) return first;
  holder[DEADLINE] = untilMs;
  return untilMs;
}

/** One report, on the worker, with no more time than is left; never throws. */
function sendBlocking(
  requester: BlockingRequester,
  options: TransportOptions,
  report: Report,
  untilMs: number,
): SendOutcome {
  const timeoutMs = Math.min(options.timeoutMs, Math.max(0, untilMs - monotonicNow()));
  try {
    return classify(requester.request({ ...reportRequest(options, report), timeoutMs }), report.id);
  } catch (error) {
    return failedOutcome(error);
  }
}
