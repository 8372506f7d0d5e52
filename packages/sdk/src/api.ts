import type { Report } from '@jcs/protocol';
import type { ReportInput } from './normalize';

/** Fields `captureException` takes besides the error; each overrides what the error gives. */
export interface CaptureExtra extends ReportInput {
  /** taken from the stack when not given */
  module?: string;
  procedure?: string;
  line?: number;
}

/**
 * What `preview()` answers: the report exactly as it would be sent, but with `dump` in clear:
 * the data as the SDK would seal it (redacted and cut to the limits), as the decoded JSON value
 * of the plaintext. No `dump` where the report would carry none (`dumpWithheld` says why).
 */
export type ReportPreview = Omit<Report, 'dump'> & { dump?: unknown };

/** The SDK's handle. Nothing on it throws into the host after `createReporter` returned. */
export interface Reporter {
  /**
   * Records an error and returns its id at once (for the error dialog: "quote this reference").
   * Never throws and never waits on the network: the report is stored (on disk with `queueDir`)
   * before this returns, and sent in the background. An `Error` given here is read as
   * `captureException` reads one, but for the report fields it carries itself.
   *
   * @example
   * const ref = reporter.report({
   *   number: 91, description: 'Object variable not set',
   *   module: 'modClients', procedure: 'LoadClient', line: 120,
   *   data: { clientId: 42, balance: 1250.5 },
   * });
   */
  report(input: ReportInput): string;
  /**
   * Records a thrown value. Module, procedure and line come from the first stack frame outside the
   * SDK unless given; the number from `err.number`, a numeric `err.errno` or `err.code`, else 0.
   *
   * @example
   * try { loadClient(id); } catch (err) { reporter.captureException(err, { data: { id } }); }
   */
  captureException(error: unknown, extra?: CaptureExtra): string;
  /**
   * Exactly the report `report(input)` would send now, its dump in plaintext, for a consent
   * dialog. Stores and sends nothing. `dumpConsent` overrides the current choice for this
   * preview only, to show what consenting would send. Null when nothing would be sent
   * (`beforeSend` drops it).
   *
   * @example
   * const preview = reporter.preview(input, { dumpConsent: true })!;
   * showDialog(preview.error.description, JSON.stringify(preview.dump, null, 2));
   */
  preview(input: ReportInput, options?: { dumpConsent?: boolean }): ReportPreview | null;
  /**
   * Records the end user's choice about the dump. Applies to reports made from now on, and to
   * reports already queued: one sent while consent is withheld goes without its dump, as
   * `dumpWithheld: "user-opt-out"`, whenever it was made.
   *
   * @example
   * reporter.setDumpConsent(settings.get('sendErrorData') === true);
   */
  setDumpConsent(consent: boolean): void;
  /**
   * Reports uncaught exceptions and unhandled rejections, stored to disk synchronously before the
   * process goes on to die as it would have: nothing is swallowed and no exit code changes. Where
   * the process dies of it, the report is sent first, for at most `exitGraceMs`.
   *
   * @example
   * reporter.installGlobalHandlers();
   */
  installGlobalHandlers(): void;
  /**
   * Sends everything queued, including repeats flood control held back (a group's at most
   * `floodControl.maxPerGroup` times a window: past that they wait for the window's end or
   * close(), so flushing after every report of a loop stays a few requests, and flush answers false
   * then). True when everything queued
   * was delivered (200 or 202). False when `timeoutMs` passed first (what is left is sent later, or
   * on the next start), or when a report was dropped undelivered since the last flush() answered
   * (or since the reporter was made): refused for good by the collector (401, 400, a second 413,
   * ...), pushed out of a full queue, or dropped by a beforeSend that threw; a `rejected`,
   * `queue_overflow` or `before_send_failed` diagnostic says which.
   * `Infinity` waits as long as a timer can (about 24.8 days).
   *
   * @example
   * app.on('before-quit', async () => { await reporter.flush(3000); });
   */
  flush(timeoutMs?: number): Promise<boolean>;
  /**
   * Flushes, then stops: global handlers removed, no more sending. Answers as `flush()` does.
   *
   * @example
   * await reporter.close(5000);
   */
  close(timeoutMs?: number): Promise<boolean>;
}
