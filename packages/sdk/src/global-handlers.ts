import { monotonicNow } from './clock';

/**
 * Told of an uncaught exception or unhandled rejection, just before Node acts on it.
 * `dyingSince`: when the error was seen (on `monotonicNow`), if the process dies of it as soon as
 * the handlers return (no more turns of its event loop); null when it lives on.
 */
export type FatalHandler = (
  error: unknown,
  origin: 'uncaughtException' | 'unhandledRejection',
  dyingSince: number | null,
) => void;

type RejectionMode = 'throw' | 'strict' | 'warn' | 'none' | 'warn-with-error-code';

/** The process's `--unhandled-rejections` mode. */
export function unhandledRejectionsMode(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
  electron: string | undefined = process.versions.electron,
  runAsNode: string | undefined = process.env.ELECTRON_RUN_AS_NODE,
): RejectionMode {
  // Node reads NODE_OPTIONS first and the command line after it: the command line wins.
  const args = [...nodeOptions.split(/\s+/).filter(Boolean), ...execArgv];
  let mode: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const m = /^--unhandled-rejections(?:=(.*))?$/.exec(args[i]);
    if (m) mode = m[1] ?? args[i + 1];
  }
  const known = ['throw', 'strict', 'warn', 'none', 'warn-with-error-code'];
  if (mode && known.includes(mode)) return mode as RejectionMode;
  // Electron's main process warns; run as plain Node (ELECTRON_RUN_AS_NODE), it throws as Node.
  return electron && !runAsNode ? 'warn' : 'throw';
}

/**
 * The handlers of every reporter that called `installGlobalHandlers()`, behind one set of process
 * listeners however many reporters a host makes (a set each would trip Node's
 * MaxListenersExceededWarning on the host's console past ten). Held strongly: a host may create a
 * reporter, install the handlers and keep no reference, and still expects crashes reported until
 * `close()`.
 */
const handlers = new Set<{ onFatal: FatalHandler }>();
let removeListeners: (() => void) | null = null;

function dispatch(
  error: unknown,
  origin: 'uncaughtException' | 'unhandledRejection',
  dyingSince: number | null,
): void {
  for (const h of [...handlers]) {
    try {
      h.onFatal(error, origin, dyingSince);
    } catch {
      // one reporter's failure must not stop the others, nor change how the host dies
    }
  }
}

/**
 * Hooks uncaught exceptions and unhandled rejections without changing what the process does
 * with them: it still prints the error and dies (or not) with the same exit code as without the
 * SDK. That rules out an `uncaughtException` listener (its mere presence stops the crash) and, in
 * Node's default `throw` mode, an `unhandledRejection` listener (it stops the rejection becoming
 * an uncaught exception).
 *
 * - `uncaughtExceptionMonitor` sees every uncaught exception, and in `throw` and `strict` modes
 *   every unhandled rejection too, just before Node acts on it, and cannot alter it.
 * - An `unhandledRejection` listener is added only where it changes nothing: in `warn` and
 *   `none` modes (Electron's main process runs in `warn`), or while the host has a listener of
 *   its own.
 *
 * Installs the hooks (the process listeners only for the first caller); returns the function
 * that removes this caller's, and the listeners with the last one.
 */
export function installProcessHandlers(onFatal: FatalHandler): () => void {
  const entry = { onFatal };
  handlers.add(entry);
  if (!removeListeners) removeListeners = addProcessListeners(dispatch);
  return () => {
    if (!handlers.delete(entry)) return;
    if (handlers.size === 0 && removeListeners) {
      removeListeners();
      removeListeners = null;
    }
  };
}

function addProcessListeners(onFatal: FatalHandler): () => void {
  const mode = unhandledRejectionsMode();
  const listenerChangesNothing = mode === 'warn' || mode === 'none';

  const monitor = (error: unknown, origin: string) => {
    // Node ends the process after the monitors unless something takes the exception up.
    const dies =
      process.listenerCount('uncaughtException') === 0 &&
      !process.hasUncaughtExceptionCaptureCallback();
    const dyingSince = dies ? monotonicNow() : null;
    if (origin === 'unhandledRejection') {
      onFatal(rejectionReason(error), 'unhandledRejection', dyingSince);
    } else onFatal(error, 'uncaughtException', dyingSince);
  };
  const rejection = (reason: unknown) => onFatal(reason, 'unhandledRejection', null);

  let attached = false;
  const attach = () => {
    if (attached) return;
    attached = true;
    process.on('unhandledRejection', rejection);
  };
  const detach = () => {
    if (!attached) return;
    attached = false;
    process.removeListener('unhandledRejection', rejection);
  };
  const hostListeners = () =>
    process.listeners('unhandledRejection').filter((l) => l !== rejection).length;

  // In throw mode, a host listener already stops the rejection from becoming an exception (so the
  // monitor will not see it): ours can join it then, and must leave when the host's last one goes.
  const onNewListener = (event: string | symbol, listener: unknown) => {
    if (event === 'unhandledRejection' && listener !== rejection && mode !== 'strict') attach();
  };
  const onRemoveListener = (event: string | symbol, listener: unknown) => {
    if (event !== 'unhandledRejection' || listener === rejection) return;
    if (!listenerChangesNothing && hostListeners() === 0) detach();
  };

  // In warn-with-error-code mode a listener of ours would stop Node's warning and exit code, and
  // the monitor never sees the rejection: Node's warning about it is all there is to go on.
  const warning = (w: Error) => {
    if (attached || w?.name !== 'UnhandledPromiseRejectionWarning') return;
    if (typeof w.message !== 'string' || NODE_REJECTION_NOTE.test(w.message)) return;
    onFatal(reasonFromWarning(w.message), 'unhandledRejection', null);
  };
  const viaWarning = mode === 'warn-with-error-code';

  process.on('uncaughtExceptionMonitor', monitor);
  if (viaWarning) process.on('warning', warning);
  if (listenerChangesNothing || (mode !== 'strict' && hostListeners() > 0)) attach();
  process.on('newListener', onNewListener);
  process.on('removeListener', onRemoveListener);

  return () => {
    process.removeListener('uncaughtExceptionMonitor', monitor);
    process.removeListener('warning', warning);
    process.removeListener('newListener', onNewListener);
    process.removeListener('removeListener', onRemoveListener);
    detach();
  };
}

/**
 * What a promise was rejected with, where Node's throw mode wrapped a reason that is not an Error
 * (`Promise.reject('quota exceeded')`) in its own ERR_UNHANDLED_REJECTION: that error's message
 * is the same long sentence for every such rejection, and the reason is only in its tail. The
 * report gets the reason, as it does in warn mode, where the listener is given it as it is.
 */
function rejectionReason(error: unknown): unknown {
  if ((error as { code?: unknown } | null)?.code !== 'ERR_UNHANDLED_REJECTION') return error;
  const message = (error as { message?: unknown }).message;
  const reason =
    typeof message === 'string'
      ? /The promise rejected with the reason "([\s\S]*)"\.$/.exec(message)
      : null;
  return reason ? reason[1] : error;
}

/** The second of Node's two warnings about an unhandled rejection: its advice, not the reason. */
const NODE_REJECTION_NOTE = /^Unhandled promise rejection\. This error originated/;

/**
 * The reason of an unhandled rejection, from the first of Node's warnings about it: the reason's
 * stack where it was an Error (so the report has its message and where it was thrown), else the
 * reason as text. The Error itself, and anything on it but its stack, is not to be had.
 */
function reasonFromWarning(text: string): unknown {
  const at = text.indexOf('\n    at ');
  if (at < 0) return text;
  const head = text.slice(0, at);
  const colon = head.indexOf(': ');
  const error = new Error(colon < 0 ? '' : head.slice(colon + 2));
  error.name = colon < 0 ? head : head.slice(0, colon);
  error.stack = text;
  return error;
}
