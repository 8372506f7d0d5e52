/**
 * One `process.on('exit')` listener for every reporter, however many a host creates: a listener
 * each would trip Node's MaxListenersExceededWarning past ten and keep every reporter that was
 * never closed alive. Reporters are held weakly; the callbacks run synchronously, as 'exit'
 * allows no more turns of the event loop.
 *
 * @example
 * const off = onProcessExit(reporter, (r) => r.persistHeldBack());
 * off(); // at close()
 */
const hooks = new Set<{ target: WeakRef<object>; run: (target: object) => void }>();
let installed = false;

export function onProcessExit<T extends object>(target: T, run: (target: T) => void): () => void {
  const hook = { target: new WeakRef<object>(target), run: run as (target: object) => void };
  hooks.add(hook);
  if (!installed) {
    installed = true;
    process.on('exit', runAll);
  }
  return () => hooks.delete(hook);
}

function runAll(): void {
  for (const hook of hooks) {
    const target = hook.target.deref();
    if (target === undefined) continue;
    try {
      hook.run(target);
    } catch {
      // never let one reporter's failure change how the host exits
    }
  }
}

/** What a reporter asks for when the host's event loop has emptied: time to send, bounded. */
export interface ExitGrace {
  /** the most this reporter may hold the process up */
  graceMs: number;
  /** settles when the reporter has tried what it holds (or has nothing to try) */
  done: Promise<unknown>;
}

/**
 * One `process.on('beforeExit')` listener for every reporter, held weakly as for 'exit'. Node
 * emits 'beforeExit' when the event loop has emptied: the host's work is done, and the SDK's own
 * timers and sockets (all unref'd) are about to be dropped. A reporter with something to send
 * answers an `ExitGrace`; the process is then held up by one timer, for the longest grace asked,
 * or until every reporter is done trying, whichever comes first. Node emits 'beforeExit' again
 * when the loop empties once more; a reporter asks for a grace again only when it has stored
 * something new since, so the process always ends.
 *
 * @example
 * const off = onBeforeExit(reporter, (r) => r.exitGrace());
 * off(); // at close()
 */
const graceHooks = new Set<{
  target: WeakRef<object>;
  run: (target: object) => ExitGrace | null;
}>();
let graceInstalled = false;

export function onBeforeExit<T extends object>(
  target: T,
  run: (target: T) => ExitGrace | null,
): () => void {
  const hook = {
    target: new WeakRef<object>(target),
    run: run as (target: object) => ExitGrace | null,
  };
  graceHooks.add(hook);
  if (!graceInstalled) {
    graceInstalled = true;
    process.on('beforeExit', runGraces);
  }
  return () => graceHooks.delete(hook);
}

function runGraces(): void {
  let graceMs = 0;
  const pending: Promise<unknown>[] = [];
  for (const hook of graceHooks) {
    const target = hook.target.deref();
    if (target === undefined) {
      graceHooks.delete(hook);
      continue;
    }
    try {
      const grace = hook.run(target);
      if (grace && grace.graceMs > 0) {
        graceMs = Math.max(graceMs, grace.graceMs);
        pending.push(grace.done);
      }
    } catch {
      // never let one reporter's failure change how the host exits
    }
  }
  if (pending.length === 0) return;
  // The only thing of the SDK's that keeps the process alive, ever: bounded, and cleared early.
  const timer = setTimeout(() => undefined, graceMs);
  void Promise.allSettled(pending).then(() => clearTimeout(timer));
}
