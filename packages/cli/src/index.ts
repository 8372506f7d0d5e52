// The public surface of @jcs/cli: the runner, the API client and its errors, each command as a
// plain function, and the renderers, for scripts and the demo.

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
export {
  resolveSettings,
  describeSource,
  DEFAULT_SERVER,
  type Settings,
  type GlobalFlags,
  type SettingsEnvironment,
  type SettingSource,
} from './settings';
export { resolveGroup, groupNotFound, type GroupRef } from './group-ref';
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
export { expire, makeExpireCommand } from './commands/expire';
export { status, renderStatus, makeStatusCommand } from './commands/status';
export { erase, makeEraseCommand, type EraseOptions } from './commands/erase';
export { makePalette, type Palette } from './render/palette';
export {
  renderTable,
  fitColumns,
  fitLine,
  paint,
  type Column,
  type Cell,
  type Row,
} from './render/table';
export { sparkline, bucket } from './render/sparkline';
export { dayChart, fillDays, type DayCount } from './render/day-chart';
export { shareBar } from './render/share-bar';
export { relativeTime, absoluteTime } from './render/relative-time';
export { safeText, oneLine, shown, formatCount, plural } from './render/text';
