/**
 * The shapes of the collector's answers (contract section 2), checked field by field before
 * anything renders them: a server that answers JSON of another shape (another service on the
 * port, a proxy's own page, a collector of another version) is then told apart from a collector
 * that answered, with "did not answer like a JCS collector" and exit 1, rather than a crash on a
 * missing field or a confirmation that prints "undefined".
 */

import { hasControls } from './render/text';

type Data = Record<string, unknown>;
type Check = (value: unknown) => boolean;

const str: Check = (v) => typeof v === 'string';
/**
 * A string the collector makes or checks (an id, a version, a date, a day) and the CLI prints as
 * it is: never a control or format character. Free text (a description, a name) may hold any,
 * and is cleaned where it is printed (render/text.ts); these, from another server, would reach
 * the terminal raw.
 */
const plain: Check = (v) => typeof v === 'string' && !hasControls(v);
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
/** A count, a line number, a sequence number: a whole number, never below 0. */
const whole: Check = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
const bool: Check = (v) => typeof v === 'boolean';
const time: Check = (v) => plain(v) && !Number.isNaN(Date.parse(v as string));
const orNull =
  (check: Check): Check =>
  (v) =>
    v === null || check(v);
const listOf =
  (check: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(check);

/** An object whose named fields each pass their check; other fields are let be. */
const fields =
  (spec: Record<string, Check>): Check =>
  (v) =>
    isObject(v) && Object.entries(spec).every(([key, check]) => check(v[key]));

const STATUS: Check = (v) => v === 'unresolved' || v === 'resolved' || v === 'ignored';

const GROUP_FIELDS = {
  id: plain,
  number: num,
  module: str,
  procedure: str,
  description: orNull(str),
  count: whole,
  users: whole,
  licences: whole,
  firstSeen: time,
  lastSeen: time,
  versions: listOf(plain),
  status: STATUS,
  resolvedInVersion: orNull(plain),
  regressed: bool,
  daily: listOf(whole),
};

/** A `Group`. */
export const isGroup = fields(GROUP_FIELDS);

/** A short report: `{id, occurredAt, receivedAt, version, license, line, repeats}`. */
const isShortReport = fields({
  id: plain,
  occurredAt: plain,
  receivedAt: time,
  version: plain,
  license: str,
  line: whole,
  repeats: whole,
});

/** `GET /v1/groups`. */
export const isGroupList = fields({
  groups: listOf(isGroup),
  window: fields({ since: time, until: time }),
});

/** `GET /v1/groups/:id`: a Group with its breakdowns and latest reports. */
export const isGroupDetail = fields({
  ...GROUP_FIELDS,
  byVersion: listOf(fields({ version: plain, count: whole })),
  byLine: listOf(fields({ line: whole, count: whole })),
  byDay: listOf(fields({ day: plain, count: whole })),
  latest: listOf(isShortReport),
});

/** `GET /v1/groups/:id/reports`. */
export const isReportList = fields({ reports: listOf(isShortReport) });

/** `GET /v1/reports/:id`: the report as sent, plus `receivedAt` and `group`. */
export const isFullReport = fields({
  id: plain,
  occurredAt: plain,
  receivedAt: time,
  group: plain,
  license: str,
  app: fields({ name: str, version: plain }),
  dumpWithheld: (v) => v === undefined || plain(v),
  error: fields({ number: num, description: str, module: str, procedure: str, line: whole }),
});

/** `GET /v1/audit`. */
export const isAuditLog = fields({
  entries: listOf(
    fields({
      seq: whole,
      at: time,
      actor: str,
      action: str,
      target: orNull(str),
      outcome: str,
      hash: str,
    }),
  ),
});

/** `GET /v1/audit/verify`. */
export const isAuditVerification: Check = (v) =>
  isObject(v) && (v.ok === true ? whole(v.entries) : v.ok === false && whole(v.brokenAt));

/** `POST /v1/expire`. */
export const isExpirySummary = fields({
  cutoff: time,
  deletedReports: whole,
  destroyedKeys: whole,
  durationMs: whole,
  // absent from a collector older than dry runs: expire says what that means
  dryRun: (v) => v === undefined || bool(v),
});

/** `GET /v1/status`. */
export const isRetentionStatus = fields({
  retentionDays: whole,
  reports: whole,
  oldestReceivedAt: orNull(time),
  lastExpiry: orNull(fields({ at: time, deletedReports: whole, destroyedKeys: whole })),
  compliant: bool,
});

/** `POST /v1/erase`. */
export const isErasure = fields({ erasedReports: whole });

/** `GET /v1/group-ids` (the CLI's prefix look-up). */
export const isGroupIdMatches = fields({
  groups: listOf(fields({ id: plain, module: str, procedure: str })),
});

export function isObject(value: unknown): value is Data {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
