import { type Report } from '@jcs/protocol';
import { checkReport } from './check-report';
import { describeError, ignoreRejection, type DiagnosticSink } from './diagnostics';
import type { ResolvedOptions } from './options';
import { isPlainName } from './normalize';

/**
 * beforeSend, then a check of what it returned: the report to queue, or null when it is dropped
 * (each drop is a diagnostic). Without a hook there is nothing to check: the normaliser builds
 * every field within its bounds (the property tests hold it to that), and validating each report
 * would cost a third of `report()`.
 *
 * The hook must answer synchronously: the report is stored before `report()` returns, and the
 * hook may be redacting it, so a promise cannot be waited for and the report is dropped
 * (`before_send_failed`; a rejection is caught). `undefined` means "unchanged" (a hook that
 * edited the report in place and forgot to return it). The id is the SDK's: `report()` has
 * already answered with it, so a changed id is put back.
 *
 * @example
 * const report = applyBeforeSend(options.beforeSend, built, diagnostic);
 * if (report) queue.add(report);
 */
export function applyBeforeSend(
  hook: ResolvedOptions['beforeSend'],
  report: Report,
  diagnostic: DiagnosticSink,
): Report | null {
  if (!hook) return report;
  const id = report.id;
  let out: unknown;
  try {
    out = hook(report);
  } catch (e) {
    diagnostic({
      code: 'before_send_failed',
      message: `beforeSend threw (${describeError(e)}); the report was dropped`,
      reportId: id,
    });
    return null;
  }
  // What the hook returned may not be readable at all (a Proxy whose getters throw): that is a
  // report that could not be read, as below, not a promise, whatever ignoreRejection assumes.
  try {
    readThen(out);
  } catch (e) {
    unreadable(id, e, diagnostic);
    return null;
  }
  if (ignoreRejection(out)) {
    diagnostic({
      code: 'before_send_failed',
      message:
        'beforeSend returned a promise; it must return the report (or null) synchronously, so the report was dropped',
      reportId: id,
    });
    return null;
  }
  if (out === null) {
    diagnostic({
      code: 'before_send_dropped',
      message: 'beforeSend returned null; the report was dropped',
      reportId: id,
    });
    return null;
  }
  if (out === undefined) out = report;
  try {
    return checked(out, id, diagnostic);
  } catch (e) {
    unreadable(id, e, diagnostic);
    return null;
  }
}

/** Reads `then` as a promise check does; throws what a getter or a Proxy trap throws. */
function readThen(value: unknown): unknown {
  return (value as { then?: unknown } | null | undefined)?.then;
}

/** What the hook returned threw when read (a getter, a Proxy): the hook's fault, not the SDK's. */
function unreadable(id: string, e: unknown, diagnostic: DiagnosticSink): void {
  diagnostic({
    code: 'before_send_failed',
    message: `beforeSend returned a report that could not be read (${describeError(e)}); it was dropped`,
    reportId: id,
  });
}

/**
 * The hook's report, its id put back, if it is schema 1; else null, with a diagnostic. What is
 * checked, and sent, is a copy of the report as JSON.stringify writes it now: the hook's own
 * object could send other than was checked (a `toJSON` or a getter adding a field when the
 * transport serialises it, or a change the host makes later).
 */
function checked(hooked: unknown, id: string, diagnostic: DiagnosticSink): Report | null {
  // A getter or toJSON that throws: the caller says the report could not be read.
  const text = JSON.stringify(hooked);
  let out: unknown = text === undefined ? undefined : JSON.parse(text);
  if (typeof out === 'object' && out !== null && (out as { id?: unknown }).id !== id) {
    out = { ...(out as Report), id };
    diagnostic({
      code: 'invalid_input',
      message:
        'beforeSend changed the report id; the original id was kept, as report() already answered with it',
      reportId: id,
    });
  }
  const v = checkReport(out, 'refuse');
  if (!v.ok) {
    const why = v.errors
      .slice(0, 5)
      .map((e) => `${shownPath(e.path) || 'the report'} ${e.message}`)
      .join('; ');
    diagnostic({
      code: 'before_send_failed',
      message: `beforeSend returned a report that is not schema 1 (${why}); it was dropped`,
      reportId: id,
    });
    return null;
  }
  return v.report;
}

/** A field's JSON pointer with each name that is not a plain one (isPlainName) shown as `…`. */
function shownPath(path: string): string {
  return path
    .split('/')
    .map((name, i) => (i === 0 || isPlainName(name) ? name : '…'))
    .join('/');
}
