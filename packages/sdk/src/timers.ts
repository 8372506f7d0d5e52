/**
 * The timer functions as they were when the SDK was loaded. A host that later replaces one (a
 * patched `setTimeout` that throws, a library that wraps it) must not reach into the SDK's
 * retries, backoffs and exit graces: a throw there came from a timer or a promise of the SDK's,
 * where nothing could catch it, and ended the host.
 */
const captured = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  setImmediate: globalThis.setImmediate,
};

export const setTimeout = captured.setTimeout;
export const clearTimeout = captured.clearTimeout;
export const setInterval = captured.setInterval;
export const clearInterval = captured.clearInterval;
export const setImmediate = captured.setImmediate;
