/**
 * Triage reads on their own thread (store/triage-thread.ts, as `serve` runs them) answer exactly
 * what the same reads answer on the event loop's connection, judge ages by the caller's clock,
 * and refuse as they do; the routes answer through it.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import type { Report } from '@jcs/protocol';
import { ApiError, sealDump } from '@jcs/protocol';
import { createApp, openCollector, type Collector } from '@jcs/collector';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { seededRandom as random } from '../../../test-support/random';
import { IngestWriter, prepareReport } from '../src/store/ingest-writer';
import { TriageThread, TriageThreadError } from '../src/store/triage-thread';
import { captureLog } from './helpers/log-capture';
import type { TriageRead } from '../src/store/triage';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const D0 = Date.parse('2026-11-01T00:00:00Z');
const NOW = D0 + 14 * DAY + 9 * HOUR + 17 * 60_000;

let t: TestCollector;
let threaded: Collector;
beforeEach(() => {
  t = makeTestCollector({ clock: testClock(NOW) });
  threaded = openCollector({ dataDir: t.dataDir, clock: t.clock, env: {}, triageThread: true });
});
afterEach(() => {
  threaded.close();
  t.close();
});

/** 400 reports of six groups over the 14 days before NOW, some in NOW's own hour. */
function store(seed: number): string[] {
  const pick = random(seed);
  const writer = new IngestWriter(t.collector.db);
  const groups = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const batch = Array.from({ length: 10 }, () => {
      const report: Report = makeReport({
        dump:
          pick(3) === 0
            ? sealDump(
                JSON.stringify({ client: `Client ${pick(99)}`, balance: pick(10_000) }),
                t.collector.keyring.transport.publicKey,
                t.collector.keyring.transport.keyId,
              )
            : undefined,
        app: { name: 'JCS', version: ['5.1', '5.2', '5.10'][pick(3)] },
        username: pick(4) === 0 ? undefined : `user${pick(9)}`,
        license: `JCS-${pick(7)}`,
        repeats: pick(3) === 0 ? pick(5) : undefined,
        error: { number: 91 + pick(3), procedure: pick(2) ? 'SaveClient' : 'LoadClient' },
      });
      const at = i < 4 ? NOW - pick(HOUR / 2) : NOW - 14 * DAY + pick(14 * DAY);
      const prepared = prepareReport(report, t.collector.keyring, at);
      groups.add(prepared.groupId);
      return prepared;
    });
    writer.write(batch.sort((a, b) => a.receivedAt - b.receivedAt));
  }
  return [...groups].sort();
}

const window = (since: number, until = NOW) => ({ since, until: until + 1 });

describe('the triage thread', () => {
  it('is built (dist/), so that this suite runs the thread and not the fallback', () => {
    expect(TriageThread.available()).toBe(true);
  });

  it('answers list, detail and reports exactly as the event loop does, in one snapshot each', async () => {
    const groups = store(7);
    expect(groups.length).toBeGreaterThan(3);
    const reads: TriageRead[] = [];
    for (const since of [
      NOW - 7 * DAY,
      NOW - 42 * DAY,
      NOW - 3 * HOUR,
      NOW - 10 * DAY - 5 * HOUR,
    ]) {
      for (const sort of ['count', 'last', 'first', 'users'] as const) {
        reads.push({
          op: 'list',
          query: { window: window(since), status: 'all', sort, limit: 4 },
        });
      }
      reads.push({
        op: 'list',
        query: {
          window: window(since),
          version: '5.2',
          status: 'unresolved',
          sort: 'users',
          limit: 20,
        },
      });
      for (const id of groups) reads.push({ op: 'detail', id, window: window(since, NOW - HOUR) });
    }
    for (const id of groups) reads.push({ op: 'reports', id, limit: 7 });
    for (const read of reads) {
      const here = await t.collector.triage(read);
      expect(await threaded.triage(read)).toEqual(here);
    }
    // Not a trivial comparison: the lists hold groups, the details their descriptions.
    const list = (await threaded.triage(reads[0])) as { count: number; description: string }[];
    expect(list.length).toBeGreaterThan(0);
    expect(list[0].count).toBeGreaterThan(0);
    expect(list[0].description).toEqual(expect.any(String));
  });

  it('answers whole reports, dumps opened or not, and the retention status as the event loop does', async () => {
    const groups = store(17);
    const ids: string[] = [];
    for (const id of groups) {
      const list = (await threaded.triage({ op: 'reports', id, limit: 500 })) as {
        reports: { id: string }[];
      };
      ids.push(...list.reports.map((r) => r.id));
    }
    expect(ids.length).toBe(400);
    let dumps = 0;
    for (const id of ids.slice(0, 60)) {
      for (const dump of [false, true]) {
        const read: TriageRead = { op: 'report', id, dump };
        const there = (await threaded.triage(read)) as { id: string; dump?: unknown };
        expect(there).toEqual(await t.collector.triage(read));
        expect(there.id).toBe(id);
        if (dump && there.dump !== undefined) dumps++;
      }
    }
    // Not a comparison of nothing: a third of the reports carry a dump, opened on the thread.
    expect(dumps).toBeGreaterThan(5);
    const status = await threaded.triage({ op: 'status' });
    expect(status).toEqual(await t.collector.triage({ op: 'status' }));
    expect(status).toMatchObject({ retentionDays: 42, reports: 400, compliant: false });
    // The access log, read as GET /v1/audit reads it.
    for (let i = 0; i < 30; i++) {
      t.collector.audit.append(
        { actor: `eng${i % 3}`, action: 'groups.list', target: null, outcome: 'ok' },
        NOW - (30 - i) * HOUR,
      );
    }
    for (const read of [
      { op: 'audit', limit: 100 },
      { op: 'audit', limit: 7 },
      { op: 'audit', since: NOW - 5 * HOUR, limit: 100 },
      { op: 'audit', since: NOW + HOUR, limit: 100 },
    ] as TriageRead[]) {
      expect(await threaded.triage(read)).toEqual(await t.collector.triage(read));
    }
    expect(await threaded.triage({ op: 'audit', since: NOW - 5 * HOUR, limit: 100 })).toEqual({
      entries: t.collector.audit.list({ since: NOW - 5 * HOUR, limit: 100 }),
    });
    const recent = (await threaded.triage({ op: 'audit', since: NOW - 5 * HOUR, limit: 100 })) as {
      entries: { seq: number }[];
    };
    expect(recent.entries.map((e) => e.seq)).toEqual([30, 29, 28, 27, 26]);
    // An unknown report: the same 404 from both.
    const unknown: TriageRead = {
      op: 'report',
      id: '00000000-0000-4000-8000-000000000000',
      dump: true,
    };
    const refused = await Promise.all(
      [t.collector, threaded].map((c) => c.triage(unknown).catch((e: ApiError) => e)),
    );
    expect(refused[0]).toMatchObject({ code: 'not_found' });
    expect((refused[1] as ApiError).message).toBe((refused[0] as ApiError).message);
  });

  it("judges ages by the caller's clock: 42 days on, the reports are gone from its answers", async () => {
    const [id] = store(3);
    const reports = (await threaded.triage({ op: 'reports', id, limit: 500 })) as {
      reports: unknown[];
    };
    expect(reports.reports.length).toBeGreaterThan(0);
    const first = (reports.reports as { id: string }[])[0].id;
    expect(await threaded.triage({ op: 'report', id: first, dump: false })).toMatchObject({
      id: first,
    });
    t.clock.advance(43 * DAY);
    expect(await threaded.triage({ op: 'reports', id, limit: 500 })).toEqual({ reports: [] });
    await expect(threaded.triage({ op: 'report', id: first, dump: false })).rejects.toMatchObject({
      code: 'not_found',
    });
    const detail = (await threaded.triage({
      op: 'detail',
      id,
      window: window(t.clock() - 6 * 7 * DAY, t.clock()),
    })) as { description: unknown; latest: unknown[] };
    expect(detail.description).toBeNull();
    expect(detail.latest).toEqual([]);
  });

  it('refuses an unknown group with the same 404, and keeps answering after it', async () => {
    const [id] = store(5);
    const unknown: TriageRead = { op: 'detail', id: '0123456789ab', window: window(0) };
    const refusals = [];
    for (const c of [t.collector, threaded]) {
      const e = await c.triage(unknown).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(ApiError);
      refusals.push({ code: (e as ApiError).code, message: (e as ApiError).message });
    }
    expect(refusals[0]).toMatchObject({ code: 'not_found' });
    expect(refusals[1]).toEqual(refusals[0]);
    const reports = { op: 'reports', id, limit: 2 } as const;
    expect(await threaded.triage(reports)).toEqual(await t.collector.triage(reports));
  });

  it('answers on the event loop when the thread cannot start, and says why in the log', async () => {
    store(13);
    const logged = captureLog();
    const withLog = openCollector({
      dataDir: t.dataDir,
      clock: t.clock,
      env: {},
      triageThread: true,
      logger: logged.logger,
    });
    const list: TriageRead = {
      op: 'list',
      query: { window: window(NOW - 7 * DAY), status: 'all', sort: 'count', limit: 5 },
    };
    // The thread loads the keys folder itself, at its first read; the collector holds its keys.
    const master = path.join(t.dataDir, 'keys', 'master.key');
    fs.renameSync(master, `${master}.away`);
    try {
      const alone = new TriageThread({
        file: path.join(t.dataDir, 'collector.db'),
        keysDir: path.join(t.dataDir, 'keys'),
        env: {},
        retentionDays: 42,
        sealedSeen: true,
      });
      await expect(alone.read(list, NOW)).rejects.toBeInstanceOf(TriageThreadError);
      alone.close();
      const answer = await withLog.triage(list);
      expect(answer).toEqual(await t.collector.triage(list));
      expect((answer as unknown[]).length).toBeGreaterThan(0);
      expect(logged.lines()).toContainEqual(
        expect.objectContaining({ msg: 'the triage thread failed: read on the event loop' }),
      );
    } finally {
      fs.renameSync(`${master}.away`, master);
      withLog.close();
    }
  });

  it('says so when its read runs out of memory, rather than a failure the event loop should retry', async () => {
    const tiny = new TriageThread(
      {
        file: path.join(t.dataDir, 'collector.db'),
        keysDir: path.join(t.dataDir, 'keys'),
        env: {},
        retentionDays: 42,
        sealedSeen: true,
      },
      // far too little for the thread to even load: it runs out at once
      { maxOldGenerationSizeMb: 1, maxYoungGenerationSizeMb: 1 },
    );
    const list: TriageRead = {
      op: 'list',
      query: { window: window(NOW - 7 * DAY), status: 'all', sort: 'count', limit: 5 },
    };
    try {
      const failure = await tiny.read(list, NOW).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(TriageThreadError);
      expect(failure).toMatchObject({ outOfMemory: true });
    } finally {
      tiny.close();
    }
  });

  it('serves the routes: groups, a group, its reports, a report and the status answer as without it', async () => {
    const groups = store(11);
    const app = createApp(threaded);
    const get = (a: typeof app, path: string, token = t.tokens.engineer) =>
      request(a).get(path).set('Authorization', `Bearer ${token}`);
    const listed = await get(app, `/v1/groups/${groups[1]}/reports?limit=3`);
    const reportId = (listed.body as { reports: { id: string }[] }).reports[0].id;
    for (const path of [
      '/v1/groups?since=14d&status=all&sort=users',
      `/v1/groups/${groups[0]}?since=3d`,
      `/v1/groups/${groups[1]}/reports?limit=3`,
      '/v1/groups/0123456789ab',
      '/v1/groups?since=nonsense',
      `/v1/reports/${reportId}?dump=1`,
      '/v1/reports/00000000-0000-4000-8000-000000000000',
      `/v1/reports/${reportId}?dump=maybe`,
    ]) {
      const [here, there] = [await get(t.app, path), await get(app, path)];
      expect(there.status).toBe(here.status);
      expect(there.body).toEqual(here.body);
    }
    const statuses = [
      await get(t.app, '/v1/status', t.tokens.admin),
      await get(app, '/v1/status', t.tokens.admin),
    ];
    expect(statuses[1].status).toBe(200);
    expect(statuses[1].body).toEqual(statuses[0].body);
    // The access log through the thread: newest first, this test's requests in it.
    const log = await get(app, '/v1/audit?limit=3', t.tokens.admin);
    expect(log.status).toBe(200);
    expect(log.body.entries.map((e: { action: string }) => e.action)).toEqual([
      'status.get',
      'status.get',
      'reports.get',
    ]);
    // Each request logged once, with its outcome, through whichever collector answered it.
    const outcomes = threaded.audit.list({ limit: 100 }).map((e) => `${e.action} ${e.outcome}`);
    expect(outcomes.filter((o) => o === 'groups.get not_found')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'groups.list invalid_request')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'reports.get.dump ok')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'reports.get not_found')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'reports.get invalid_request')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'status.get ok')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'audit.list ok')).toHaveLength(1);
    expect(outcomes).toHaveLength(20);
  });
});
