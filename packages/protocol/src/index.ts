export type { Report, SealedDump, DumpWithheld } from './report';
export { DUMP_ALG } from './report';
export { LIMITS, UUID_PATTERN, VERSION_PATTERN, codePointLength } from './limits';
export { reportSchema } from './report-schema';
export {
  validateReport,
  jsonPointer,
  NOT_AN_OBJECT,
  hasLoneSurrogate,
  toWellFormed,
  type FieldError,
  type Validation,
  prototypeChanged,
  warmReportCheck,
} from './validate';
export {
  ERRORS,
  ApiError,
  MAX_DETAILS,
  MAX_DETAIL_PATH,
  cutDetailPath,
  isErrorCode,
  NO_ROUTE_MESSAGE,
  type ErrorCode,
  type ErrorBody,
  type ErrorDetail,
} from './errors';
export {
  sealDump,
  openDump,
  dumpSealedTo,
  generateDumpKeyPair,
  toBase64,
  fromBase64,
} from './dump-crypto';
export { groupId, GROUP_ID_PATTERN } from './group-id';
export { isDateAlone, parseDuration, parseTimeBound, TIME_BOUND_HELP } from './duration';
export { compareVersions, newestFirst, sortVersionsDescending } from './version';
export type {
  Group,
  GroupStatus,
  GroupDetail,
  ShortReport,
  FullReport,
  AuditEntry,
  ExpirySummary,
  RetentionStatus,
} from './api-types';
export { COMPLIANCE } from './api-types';
export { EXIT, type ExitCode } from './exit-codes';
export { makeDirSync } from './make-dir';
export { isProcessAlive } from './process-alive';
export { shellWord } from './shell-word';
export { isLoopbackHost } from './loopback';
export { bareHost, chooseProxy, proxyUrl, type ProxyChoice } from './proxy-choice';
export { refuseRepeatedOptions, type OptionsCommand } from './repeated-options';
export { refuseOptionsAsValues } from './option-as-value';
export { usageLine } from './usage-line';
export { helpRequest, type HelpCommand, type HelpRequest } from './help-request';
export { packageVersion } from './package-version';
export { tlsFailure, type TlsFailure } from './tls-failure';
