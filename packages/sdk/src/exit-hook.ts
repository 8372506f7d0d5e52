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
