import { clearTimeout, setTimeout } from './timers';

/**
 * Callbacks of every reporter behind one listener on a process event, however many reporters a
 * host creates: a listener each would trip Node's MaxListenersExceededWarning past ten and keep
 * every reporter that was never closed alive. Reporters are held weakly; one whose callback
 * throws changes nothing for the others, nor how the host exits.
 */
class WeakHooks<R> {
  private readonly hooks = new Set<{ target: WeakRef<object>; run: (target: object) => R }>();
  private installed = false;

  constructor(
    private readonly event: 'exit' | 'beforeExit',
    private readonly onEvent: (results: R[]) => void,
  ) {}

  add<T extends object>(target: T, run: (target: T) => R): () => void {
    const hook = { target: new WeakRef<object>(target), run: run as (target: object) => R };
    this.hooks.add(hook);
    if (!this.installed) {
      this.installed = true;
      process.on(this.event, () => this.onEvent(this.runAll()));
    }
    return () => this.hooks.delete(hook);
  }

  private runAll(): R[] {
    const results: R[] = [];
    for (const hook of this.hooks) {
      const target = hook.target.deref();
      if (target === undefined) {
        this.hooks.delete(hook);
        continue;
      }
      try {
        results.push(hook.run(target));
      } catch {
        // never let one reporter's failure change how the host exits
      }
    }
    return results;
  }
}

const exitHooks = new WeakHooks<void>('exit', () => undefined);

/**
 * Runs `run(target)` at process 'exit', synchronously ('exit' allows no more turns of the event
 * loop), while `target` lives and until the returned function is called.
 *
 * @example
 * const off = onProcessExit(reporter, (r) => r.drainFlood('all'));
 * off(); // at close()
 */
export function onProcessExit<T extends object>(target: T, run: (target: T) => void): () => void {
  return exitHooks.add(target, run);
}

/** What a reporter asks for when the host's event loop has emptied: time to send, bounded. */
export interface ExitGrace {
  /** the most this reporter may hold the process up */
  graceMs: number;
  /** settles when the reporter has tried what it holds (or has nothing to try) */
  done: Promise<unknown>;
}

/**
 * The process is held up by one timer, for the longest grace asked, or until every reporter is
 * done trying, whichever comes first: the only thing of the SDK's that keeps it alive, ever.
 */
function holdForGraces(graces: (ExitGrace | null)[]): void {
  let graceMs = 0;
  const pending: Promise<unknown>[] = [];
  for (const grace of graces) {
    if (!grace || grace.graceMs <= 0) continue;
    graceMs = Math.max(graceMs, grace.graceMs);
    pending.push(grace.done);
  }
  if (pending.length === 0) return;
  const timer = setTimeout(() => undefined, graceMs);
  void Promise.allSettled(pending).then(() => clearTimeout(timer));
}

const graceHooks = new WeakHooks<ExitGrace | null>('beforeExit', holdForGraces);

/**
 * Asks `run(target)` for an `ExitGrace` at process 'beforeExit'. Node emits it when the event loop
 * has emptied: the host's work is done, and the SDK's own timers and sockets (all unref'd) are
 * about to be dropped. Node emits it again when the loop empties once more; a reporter asks for a
 * grace again only when it has stored something new since, so the process always ends.
 *
 * @example
 * const off = onBeforeExit(reporter, (r) => r.exitGrace());
 * off(); // at close()
 */
export function onBeforeExit<T extends object>(
  target: T,
  run: (target: T) => ExitGrace | null,
): () => void {
  return graceHooks.add(target, run);
}
