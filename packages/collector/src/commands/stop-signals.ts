import type { Logger } from '../log';
import { releaseEarlyStop } from '../early-signals';

/**
 * The same signal often comes twice at once: Ctrl-C reaches the terminal's whole process group,
 * and a supervisor (`npm start`) passes it on too. A repeat within this long is ignored; one
 * after it stops the process at once, so a shutdown that hangs can still be cut short.
 */
const REPEAT_GRACE_MS = 1_000;

/** How long a forced stop waits for its log line to be written before it goes anyway. */
const FORCED_LOG_WAIT_MS = 200;

/**
 * Resolves on the first SIGTERM or SIGINT; repeats in the next second are ignored, and one after
 * that ends the process at once (forceOnNextSignal). Install it before anything can take long:
 * until then a signal kills the process outright.
 *
 * @example
 * const stopRequested = stopSignal(log);
 * // ... start serving ...
 * await stopRequested; // then stop taking requests and finish those in flight
 */
export function stopSignal(log: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      const ignore = () => undefined;
      process.on('SIGTERM', ignore);
      process.on('SIGINT', ignore);
      setTimeout(() => {
        process.off('SIGTERM', ignore);
        process.off('SIGINT', ignore);
        forceOnNextSignal(log);
      }, REPEAT_GRACE_MS).unref();
      // Before logging: nothing a log line does may keep the collector from stopping.
      resolve();
      log.info({ signal }, 'stopping: finishing requests in flight');
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    // One that came while the bin was loading (early-signals.ts): serve stops once started.
    const early = releaseEarlyStop();
    if (early) stop(early);
  });
}

/**
 * A signal during a stop that has taken over a second ends the process at once, killed by that
 * signal as a supervisor expects, but says so first: a log that ends without "stopped" or a word
 * of why leaves an operator guessing whether the collector crashed.
 */
function forceOnNextSignal(log: Logger): void {
  const force = (signal: NodeJS.Signals) => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    log.warn(
      { signal },
      'stopping at once on a second signal: requests still in flight are cut off unanswered (clients send them again); nothing answered 202 is lost',
    );
    const die = () => process.kill(process.pid, signal);
    setTimeout(die, FORCED_LOG_WAIT_MS);
    log.flush(die);
  };
  const onTerm = () => force('SIGTERM');
  const onInt = () => force('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
}
