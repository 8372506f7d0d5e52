import type {
  AuditEntry,
  ExpirySummary,
  FullReport,
  Group,
  GroupDetail,
  RetentionStatus,
  ShortReport,
} from '@jcs/protocol';

/** The moment the in-process tests pretend it is. */
export const NOW = new Date('2026-11-28T10:30:00Z');

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Contract-shaped data for the fake collector, with times relative to `now`. */
export interface Fixtures {
  now: Date;
  groups: Group[];
  details: Record<string, GroupDetail>;
  reports: Record<string, ShortReport[]>;
  fullReports: Record<string, FullReport>;
  dumps: Record<string, unknown>;
  audit: AuditEntry[];
  status: RetentionStatus;
  expiry: ExpirySummary;
  /** answer POST /v1/expire as a collector that does not know `dryRun` would: run for real */
  ignoresDryRun?: boolean;
  /** answer as a collector with the contract's routes only: no `GET /v1/group-ids` */
  contractRoutesOnly?: boolean;
  erasable: Record<string, number>;
}

/** Report ids, full, for `report` tests. */
export const REPORT_IDS = [
  '1b4e28ba-2fa1-41d2-883f-0016d3cca427',
  '6fa459ea-ee8a-4ca4-894e-db77e160355e',
  '9c5b94b1-35ad-49bb-b118-8e8fc24abf80',
] as const;

export function makeFixtures(now: Date = NOW): Fixtures {
  const ago = (ms: number): string => new Date(now.getTime() - ms).toISOString();
  const day = (daysAgo: number): string =>
    new Date(now.getTime() - daysAgo * DAY).toISOString().slice(0, 10);

  const groups: Group[] = [
    {
      id: '3fa9c1d2e4b7',
      number: 91,
      module: 'modClients',
      procedure: 'LoadClient',
      description: 'Object variable or With block variable not set',
      count: 1204,
      users: 37,
      licences: 12,
      firstSeen: ago(33 * DAY),
      lastSeen: ago(3 * HOUR),
      versions: ['5.2.0.12', '5.2.1.345', '5.1.9.2'],
      status: 'unresolved',
      resolvedInVersion: '5.2.0',
      regressed: true,
      daily: [120, 98, 143, 201, 188, 224, 230],
    },
    {
      id: '3fa9c1ff0011',
      number: 13,
      module: 'modInvoices',
      procedure: 'PrintInvoice',
      description: 'Type mismatch',
      count: 310,
      users: 9,
      licences: 4,
      firstSeen: ago(2 * DAY),
      lastSeen: ago(25 * 60_000),
      versions: ['5.2.1.345'],
      status: 'unresolved',
      resolvedInVersion: null,
      regressed: false,
      daily: [0, 0, 0, 0, 0, 110, 200],
    },
    {
      id: '8b02e6a1c9d4',
      number: 3021,
      module: 'modReports',
      procedure: 'RunMonthly',
      description: 'No current record.',
      count: 42,
      users: 3,
      licences: 3,
      firstSeen: ago(6 * DAY),
      lastSeen: ago(2 * DAY),
      versions: ['5.2.1.345', '5.2.0.12'],
      status: 'unresolved',
      resolvedInVersion: null,
      regressed: false,
      daily: [0, 10, 12, 8, 12, 0, 0],
    },
    {
      id: 'c47d5e0f1a23',
      number: -2147221503,
      module: 'modSync',
      procedure: 'PushChanges',
      description: 'Automation error: the remote server machine does not exist or is unavailable',
      count: 7,
      users: 1,
      licences: 1,
      firstSeen: ago(20 * DAY),
      lastSeen: ago(5 * DAY),
      versions: ['5.2.0.12'],
      status: 'resolved',
      resolvedInVersion: '5.2.1',
      regressed: false,
      daily: [0, 0, 7, 0, 0, 0, 0],
    },
  ];

  const latest: ShortReport[] = [
    {
      id: REPORT_IDS[0],
      occurredAt: ago(3 * HOUR + 2000),
      receivedAt: ago(3 * HOUR),
      version: '5.2.1.345',
      license: 'JCS-000123',
      line: 120,
      repeats: 0,
    },
    {
      id: REPORT_IDS[1],
      occurredAt: ago(5 * HOUR),
      receivedAt: ago(5 * HOUR),
      version: '5.2.1.345',
      license: 'JCS-000456',
      line: 120,
      repeats: 4,
    },
    {
      id: REPORT_IDS[2],
      occurredAt: ago(26 * HOUR),
      receivedAt: ago(26 * HOUR),
      version: '5.2.0.12',
      license: 'JCS-000123',
      line: 0,
      repeats: 0,
    },
  ];

  const detail: GroupDetail = {
    ...groups[0],
    daily: [],
    byVersion: [
      { version: '5.2.0.12', count: 390 },
      { version: '5.2.1.345', count: 800 },
      { version: '5.1.9.2', count: 14 },
    ],
    byLine: [
      { line: 0, count: 104 },
      { line: 120, count: 1100 },
    ],
    byDay: [
      { day: day(6), count: 120 },
      { day: day(5), count: 98 },
      { day: day(4), count: 143 },
      { day: day(3), count: 201 },
      { day: day(2), count: 188 },
      { day: day(1), count: 224 },
      { day: day(0), count: 230 },
    ],
    latest,
  };

  const fullReport: FullReport = {
    schema: 1,
    id: REPORT_IDS[0],
    occurredAt: latest[0].occurredAt,
    receivedAt: latest[0].receivedAt,
    group: groups[0].id,
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    username: 'asmith',
    error: {
      number: 91,
      description: 'Object variable or With block variable not set',
      module: 'modClients',
      procedure: 'LoadClient',
      line: 120,
      code: 'Set rs = db.OpenRecordset(sql)',
    },
    repeats: 0,
  };
  const withheldReport: FullReport = {
    ...fullReport,
    id: REPORT_IDS[2],
    occurredAt: latest[2].occurredAt,
    receivedAt: latest[2].receivedAt,
    app: { name: 'JCS', version: '5.2.0.12' },
    username: undefined,
    error: { ...fullReport.error, line: 0, code: undefined },
    dumpWithheld: 'user-opt-out',
  };
  delete withheldReport.username;
  delete withheldReport.error.code;

  return {
    now,
    groups,
    details: { [groups[0].id]: detail },
    reports: { [groups[0].id]: latest, [groups[1].id]: [] },
    fullReports: { [REPORT_IDS[0]]: fullReport, [REPORT_IDS[2]]: withheldReport },
    dumps: { [REPORT_IDS[0]]: { client: { id: 4711, name: 'Smith & Co' }, rows: 0 } },
    audit: [
      {
        seq: 3,
        at: ago(HOUR),
        actor: 'alice',
        action: 'reports.get.dump',
        target: REPORT_IDS[0],
        outcome: 'ok',
        hash: 'c3'.repeat(32),
      },
      {
        seq: 2,
        at: ago(2 * HOUR),
        actor: 'alice',
        action: 'groups.list',
        target: null,
        outcome: 'ok',
        hash: 'b2'.repeat(32),
      },
      {
        seq: 1,
        at: ago(32 * HOUR), // the nightly run's 02:30 UTC
        actor: 'system:nightly',
        action: 'expire',
        target: null,
        outcome:
          'ok deleted=12 keys=1 cutoff=2026-10-17T02:30:00.000Z durationMs=212 auditPruned=0',
        hash: 'a1'.repeat(32),
      },
    ],
    status: {
      retentionDays: 42,
      reports: 1563,
      oldestReceivedAt: ago(41 * DAY),
      lastExpiry: { at: ago(8 * HOUR), deletedReports: 12, destroyedKeys: 1 },
      compliant: true,
    },
    expiry: {
      cutoff: ago(41 * DAY),
      deletedReports: 12,
      destroyedKeys: 1,
      durationMs: 38,
      dryRun: false,
    },
    erasable: { 'username:asmith': 12, 'license:JCS-000123': 30 },
  };
}
