import { randomUUID } from 'node:crypto';
import { warmReportCheck } from '@jcs/protocol';
import type { Reporter } from './api';
import { resolveOptions, type DisabledReporterOptions, type ReporterOptions } from './options';
import { ReporterCore, type ReporterInternals } from './reporter';
import { stackAbove } from './stack';

/**
 * Creates the reporter. Checks the options once and throws a TypeError for a misconfiguration
 * (bad URL, plain HTTP to a remote host, a public key that is not 32 bytes of base64, no licence);
 * after that, nothing the SDK does throws into the host. With `enabled: false` nothing is checked,
 * captured, stored or sent.
 *
 * @example
 * const reporter = createReporter({
 *   endpoint: 'https://errors.example/',
 *   token: process.env.JCS_INGEST_TOKEN!,
 *   publicKey: 'base64 of 32 bytes', keyId: 'k1',
 *   app: { name: 'JCS', version: '5.2.1.345' },
 *   license: 'JCS-000123',
 *   queueDir: path.join(app.getPath('userData'), 'error-queue'),
 * });
 */
export function createReporter(options: ReporterOptions | DisabledReporterOptions): Reporter {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createReporter: options must be an object');
  }
  const enabled = (options as { enabled?: unknown }).enabled;
  // null, as a configuration read from JSON writes an option left unset, is not given (options.ts)
  if (enabled !== undefined && enabled !== null && typeof enabled !== 'boolean') {
    throw new TypeError('createReporter: enabled must be true or false');
  }
  if (enabled === false) return createDisabledReporter();
  const reporter = detachable(new ReporterCore(resolveOptions(options as ReporterOptions)));
  // Only a reporter that checks reports: beforeSend's, or the queue's read back.
  const o = options as ReporterOptions;
  if (o.beforeSend !== undefined || o.queueDir !== undefined) warmCheck();
  return reporter;
}

/**
 * The schema check compiled now, at the host's start (some 35 ms once), rather than on its first
 * error, where the error dialog waits for it; and before the host has had a chance to pollute
 * Object.prototype. A failure here is met again, and handled, where reports are checked.
 */
function warmCheck(): void {
  try {
    warmReportCheck();
  } catch {
    // check-report.ts says what happens to reports then
  }
}

/**
 * The reporter as the host holds it: plain functions over the core, so that a method passed on
 * its own still works (`promise.catch(reporter.captureException)`, `const { report } = reporter`).
 */
function detachable(core: ReporterCore): Reporter {
  const captureException: Reporter['captureException'] = (thrown, extra) =>
    core.captureException(thrown, extra, () => stackAbove(captureException));
  return {
    report: (input) => core.report(input),
    captureException,
    preview: (input, options) => core.preview(input, options),
    setDumpConsent: (consent) => core.setDumpConsent(consent),
    installGlobalHandlers: () => core.installGlobalHandlers(),
    flush: (timeoutMs) => core.flush(timeoutMs),
    close: (timeoutMs) => core.close(timeoutMs),
  };
}

/** Internal: the `jcs-report` bin drives delivery itself. */
export function createReporterCore(options: ReporterOptions, internals: ReporterInternals) {
  return new ReporterCore(resolveOptions(options), internals);
}

function createDisabledReporter(): Reporter {
  return {
    report: () => randomUUID(),
    captureException: () => randomUUID(),
    preview: () => null,
    setDumpConsent: () => undefined,
    installGlobalHandlers: () => undefined,
    flush: async () => true,
    close: async () => true,
  };
}
