/**
 * The timer functions as they were when the SDK was loaded. A host that later replaces one (a
 * patched `setTimeout` that throws, a library that wraps it) must not reach into the SDK's
 * retries, backoffs and exit graces: a throw there came from a timer or a promise of the SDK's,
 * where nothing could catch it, and ended the host.
 */
export const setTimeout = globalThis.setTimeout;
export const clearTimeout = globalThis.clearTimeout;
export const setInterval = globalThis.setInterval;
export const clearInterval = globalThis.clearInterval;
export const setImmediate = globalThis.setImmediate;
