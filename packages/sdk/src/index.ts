export { createReporter } from './create-reporter';
export type { Reporter, CaptureExtra, ReportPreview } from './api';
export type { DisabledReporterOptions, ReporterOptions } from './options';
export { TRUNCATION_MARKER, type ReportInput } from './normalize';
export type { Diagnostic, DiagnosticCode } from './diagnostics';
export { fetchRequest, httpRequest } from './http-request';
export {
  createTransport,
  type Transport,
  type TransportOptions,
  type TransportRequest,
  type TransportResponse,
  type MakeRequest,
  type SendOutcome,
} from './transport';
export { DEFAULT_REDACT_KEYS } from './dump/redact';
export { DEFAULT_DUMP_LIMITS, type DumpLimits } from './dump/serialize';
