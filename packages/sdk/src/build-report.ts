import { LIMITS, sealDump, type Report } from '@jcs/protocol';
import type { DiagnosticSink } from './diagnostics';
import type { Redactor } from './dump/redact';
import { serializeDump } from './dump/serialize';
import { readProperty, resolveUsername, truncate, type NormalizedError } from './normalize';
import type { ResolvedOptions } from './options';

/** What a reporter builds every report with. */
export interface ReportContext {
  options: ResolvedOptions;
  redactor: Redactor;
  diagnostic: DiagnosticSink;
}

/** One occurrence to build a report of. */
export interface Occurrence {
  id: string;
  occurredAt: string;
  error: NormalizedError;
  /** held-back occurrences this report also stands for (0: none) */
  repeats: number;
  /** what the host passed: its `data` property, if any, is the dump */
  dataSource: unknown;
  /** whether the user lets the dump go */
  consent: boolean;
}

export interface BuiltReport {
  report: Report;
  /** the dump as serialised (redacted, cut) before sealing: for preview() only */
  dumpJson?: string;
}

/**
 * Builds a schema 1 report of an occurrence: the app, licence and username from the options, the
 * dump serialised, redacted and sealed for the collector's key, or `dumpWithheld` saying why not.
 * Without consent the host's data is not even read.
 *
 * @example
 * const { report } = buildReport(context, { id, occurredAt, error, repeats: 0, dataSource: input, consent: true });
 */
export function buildReport(context: ReportContext, occurrence: Occurrence): BuiltReport {
  const { options: o, redactor, diagnostic } = context;
  const { id, occurredAt, error, repeats, dataSource, consent } = occurrence;
  // A card or NI number in an error message ("card 4111... declined") is no more needed to debug
  // than in the dump, and the description is shown on every engineer's screen; the marker may
  // make the text longer than its bound.
  const cleaned = (text: string, max: number) => truncate(redactor.cleanString(text), max);
  const report: Report = {
    schema: 1,
    id,
    occurredAt,
    app: { name: o.app.name, version: o.app.version },
    license: o.license,
  } as Report;
  const username = resolveUsername(
    o.username,
    (why) =>
      diagnostic({
        code: 'username_failed',
        message: `${why}; sent without a username`,
        reportId: id,
      }),
    (note) =>
      diagnostic({
        code: 'invalid_input',
        message: `the input was mended to fit report schema 1: ${note}`,
        reportId: id,
      }),
  );
  if (username !== undefined) report.username = username;
  report.error = { ...error, description: cleaned(error.description, LIMITS.description.max) };
  if (error.code !== undefined) report.error.code = cleaned(error.code, LIMITS.code.max);
  if (repeats > 0) report.repeats = Math.min(repeats, LIMITS.repeats.max);
  if (!consent) {
    // The data is not read, let alone serialised: the user said no.
    report.dumpWithheld = 'user-opt-out';
    return { report };
  }
  const withheld = (why: NonNullable<Report['dumpWithheld']>): BuiltReport => {
    report.dumpWithheld = why;
    diagnostic({ code: 'dump_withheld', message: `the dump was withheld (${why})`, reportId: id });
    return { report };
  };
  const data = readProperty(dataSource, 'data');
  if (!data.ok) return withheld('unserializable');
  // `data: null` (VB's Nothing, a host with nothing to show) is no dump, not a sealed "null":
  // the collector answers a dump it cannot open as null too, and the two would read alike.
  if (data.value === undefined || data.value === null) return { report };
  const serialized = serializeDump(data.value, o.dumpLimits, redactor);
  if (!serialized.ok) return withheld(serialized.withheld);
  if (serialized.truncated) {
    diagnostic({
      code: 'dump_truncated',
      message: `the dump was cut: over ${o.dumpLimits.maxBytes} bytes, deeper than ${o.dumpLimits.maxDepth} levels or wider than ${o.dumpLimits.maxBreadth} items; cuts are marked`,
      reportId: id,
    });
  }
  report.dump = sealDump(serialized.json, o.publicKey, o.keyId);
  return { report, dumpJson: serialized.json };
}
