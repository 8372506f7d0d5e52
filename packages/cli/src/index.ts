// The public surface of @jcs/cli, for a script that would rather call than spawn jcs-errors: the
// runner, the API client and its errors, and each command as a plain function. The renderers
// and settings are internal (their tests import them from their own files).

export { run, makeProgram, type Environment, type RunResult } from './program';
export {
  ApiClient,
  type ClientOptions,
  type Answer,
  type GroupList,
  type GroupQuery,
  type ReportList,
  type AuditLog,
  type AuditVerification,
  type Erasure,
  type TriageChange,
  type DataSubject,
  type Role,
} from './client';
export {
  EXIT,
  CliError,
  UsageError,
  UnreachableError,
  UnauthorisedError,
  ForbiddenError,
  NotFoundError,
  BadRequestError,
  ServerError,
  type ExitCode,
} from './errors';
export type { Output, Outcome, CommandResult, Wiring } from './commands/context';
export { top, renderTop, makeTopCommand, type TopOptions } from './commands/top';
export { show, renderShow, reportTable, makeShowCommand, type ShowOptions } from './commands/show';
export { reports, makeReportsCommand, type ReportsOptions } from './commands/reports';
export { report, renderReport, makeReportCommand, type ReportOptions } from './commands/report';
export {
  resolve,
  ignore,
  reopen,
  makeResolveCommand,
  makeIgnoreCommand,
  makeReopenCommand,
  type ResolveOptions,
} from './commands/triage';
export { audit, auditVerify, makeAuditCommand, type AuditOptions } from './commands/audit';
export { expire, makeExpireCommand, type ExpireOptions } from './commands/expire';
export { status, renderStatus, makeStatusCommand } from './commands/status';
export { erase, makeEraseCommand, type EraseOptions } from './commands/erase';
