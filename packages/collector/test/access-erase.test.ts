import fs from 'node:fs';
import request from 'supertest';
import { createApp, openCollector } from '@jcs/collector';
import {
  makeTestCollector,
  reopenTestCollector,
  type TestCollector,
} from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { runExpiry } from '../src/retention/expire';
import { auditCount, filesHolding } from './access-support';

const DAY = 86_400_000;

// Strings only the data subject's reports hold.
const USER = 'canary.user.5f1e';
const LICENCE = 'JCS-CANARY-7731';
const DESCRIPTION = 'Cannot open C:\\Users\\canary.user.5f1e\\Documents\\canary-desc-91d2.xls';
const CODE = 'Open "canary-code-44ab" For Input As #1';

let t: TestCollector;
beforeEach(() => (t = makeTestCollector()));
afterEach(() => t.close());

const as = (token: string) => ({
  get: (route: string) => request(t.app).get(route).set('Authorization', `Bearer ${token}`),
  post: (route: string, body: object) =>
    request(t.app).post(route).set('Authorization', `Bearer ${token}`).send(body),
});
const admin = () => as(t.tokens.admin);
const engineer = () => as(t.tokens.engineer);

async function ingest(overrides: Parameters<typeof makeReport>[0]) {
  const r = makeReport(overrides);
  const res = await as(t.tokens.ingest).post('/v1/reports', r).expect(202);
  return { id: r.id, group: res.body.group as string };
}

/** Three reports of the subject over two groups and two days, among other people's. */
async function seed(subject: { username?: string; license?: string }) {
  const theirs = [
    await ingest({ ...subject, error: { description: DESCRIPTION, code: CODE } }),
    await ingest({ ...subject, error: { number: 13, description: DESCRIPTION } }),
  ];
  const others = [
    await ingest({ username: 'someone.else', license: 'JCS-000123' }),
    await ingest({ username: 'third.person', license: 'JCS-000456', error: { number: 13 } }),
  ];
  t.clock.advance(DAY);
  theirs.push(await ingest({ ...subject, error: { description: DESCRIPTION } }));
  // Counts at the window's partial edge hours come from the reports themselves: step past them.
  t.clock.advance(2 * 3_600_000);
  return { theirs, others, groups: [...new Set(theirs.map((r) => r.group))] };
}

/**
 * Everything every read route returns, as one string. The access log is read too unless told
 * not to: it must hold none of their strings, though it keeps the (random) ids of reports that
 * were read before the erasure.
 */
async function everythingReadable(
  groups: string[],
  ids: string[],
  withAuditLog = true,
): Promise<string> {
  const parts: unknown[] = [];
  parts.push((await engineer().get('/v1/groups?status=all&since=6w').expect(200)).body);
  for (const g of groups) {
    parts.push((await engineer().get(`/v1/groups/${g}`).expect(200)).body);
    parts.push((await engineer().get(`/v1/groups/${g}/reports?limit=500`).expect(200)).body);
  }
  for (const id of ids) {
    const res = await engineer().get(`/v1/reports/${id}?dump=1`);
    parts.push(res.status === 200 ? res.body : res.status);
  }
  if (withAuditLog) parts.push((await admin().get('/v1/audit?limit=1000').expect(200)).body);
  return JSON.stringify(parts);
}

describe('POST /v1/erase', () => {
  it('destroys every report of a username, adjusts the user counts, logs the count, and leaves no trace in any file', async () => {
    const { theirs, others, groups } = await seed({ username: USER, license: 'JCS-SHARED' });
    const hash = t.collector.keyring.userHash(USER);
    const before = (await engineer().get('/v1/groups?status=all').expect(200)).body.groups;
    expect(
      await everythingReadable(
        groups,
        theirs.map((r) => r.id),
      ),
    ).toContain('canary-desc');

    // the scan finds what is there
    expect(filesHolding(t.dataDir, 'JCS-SHARED')).not.toEqual([]);
    expect(filesHolding(t.dataDir, hash)).not.toEqual([]);

    const res = await admin().post('/v1/erase', { username: USER }).expect(200);
    expect(res.body).toEqual({ erasedReports: 3 });

    // no route returns anything of theirs
    for (const r of theirs) await engineer().get(`/v1/reports/${r.id}`).expect(404);
    const ids = [...theirs, ...others].map((r) => r.id);
    const withLog = await everythingReadable(groups, ids);
    for (const canary of [USER, 'canary-desc', 'canary-code', 'JCS-SHARED']) {
      expect(withLog).not.toContain(canary);
    }
    const readable = await everythingReadable(groups, ids, false);
    for (const canary of [
      USER,
      'canary-desc',
      'canary-code',
      'JCS-SHARED',
      ...theirs.map((r) => r.id),
    ]) {
      expect(readable).not.toContain(canary);
    }
    for (const r of others) await engineer().get(`/v1/reports/${r.id}`).expect(200);
    const after = (await engineer().get('/v1/groups?status=all').expect(200)).body.groups;
    const users = (gs: { id: string; users: number }[]) =>
      Object.fromEntries(gs.map((g) => [g.id, g.users]));
    for (const g of groups) expect(users(after)[g]).toBe(users(before)[g] - 1);
    // occurrence counts hold nothing personal and stay
    expect(after.map((g: { count: number }) => g.count)).toEqual(
      before.map((g: { count: number }) => g.count),
    );

    // the pseudonymous rows are gone
    const db = t.collector.db;
    expect(db.prepare('SELECT COUNT(*) AS n FROM reports WHERE user_hash = ?').get(hash)).toEqual({
      n: 0,
    });
    expect(
      db.prepare('SELECT COUNT(*) AS n FROM group_subjects WHERE subject = ?').get(hash),
    ).toEqual({ n: 0 });
    expect(
      db.prepare("SELECT COUNT(*) AS n FROM group_subjects WHERE subject = 'JCS-SHARED'").get(),
    ).toEqual({ n: 0 });

    // the canary scan: no byte of theirs in any file of the data dir (db, -wal, -shm, keys)
    for (const canary of [USER, 'canary-desc-91d2', 'canary-code-44ab', 'JCS-SHARED', hash]) {
      expect({ canary: String(canary), files: filesHolding(t.dataDir, canary) }).toEqual({
        canary: String(canary),
        files: [],
      });
    }
    // while other people's licences are still there (the scan can find what is there)
    expect(filesHolding(t.dataDir, 'JCS-000456')).not.toEqual([]);
  });

  it("under serve's threads, leaves none of the subject's bytes in any file, the WAL included", async () => {
    // The writer thread stores, the read thread plans, the background checkpoint's thread
    // empties the WAL (store/truncate-wal.ts): as `serve` runs it.
    t.close();
    const threaded = openCollector({
      dataDir: t.dataDir,
      clock: t.clock,
      env: {},
      writerThread: true,
      triageThread: true,
      backgroundCheckpoint: true,
    });
    try {
      const app = createApp(threaded);
      const post = (token: string, route: string, body: object) =>
        request(app).post(route).set('Authorization', `Bearer ${token}`).send(body);
      for (const r of [
        makeReport({ username: USER, error: { description: DESCRIPTION, code: CODE } }),
        makeReport({ username: USER, license: LICENCE, error: { number: 13 } }),
        makeReport({ username: 'someone.else', license: 'JCS-000456' }),
      ]) {
        await post(t.tokens.ingest, '/v1/reports', r).expect(202);
      }
      const res = await post(t.tokens.admin, '/v1/erase', { username: USER }).expect(200);
      expect(res.body).toEqual({ erasedReports: 2 });
      expect(fs.statSync(`${threaded.db.name}-wal`).size).toBe(0);
      for (const canary of [USER, 'canary-desc-91d2', 'canary-code-44ab', LICENCE]) {
        expect({ canary, files: filesHolding(t.dataDir, canary) }).toEqual({ canary, files: [] });
      }
      expect(filesHolding(t.dataDir, 'JCS-000456')).not.toEqual([]);
    } finally {
      threaded.close();
    }
  });

  it('writes one access-log entry with the count and the subject only as a keyed hash', async () => {
    await seed({ username: USER });
    await admin().post('/v1/erase', { username: USER }).expect(200);
    const [entry] = t.collector.audit.list({ limit: 1 });
    expect(entry).toMatchObject({
      actor: 'root',
      action: 'erase',
      target: expect.stringMatching(/^username:[0-9a-f]{16} reports:3$/),
      outcome: 'ok',
    });
    expect(JSON.stringify(entry)).not.toContain(USER);
    // the same subject always gets the same hash, so an admin can confirm it was erased
    await admin().post('/v1/erase', { username: USER }).expect(200);
    const [again] = t.collector.audit.list({ limit: 1 });
    expect(again.target).toBe(entry.target!.replace('reports:3', 'reports:0'));
    expect(t.collector.audit.verify()).toMatchObject({ ok: true });
  });

  it('destroys every report of a licence, with the pseudonyms only those reports had brought', async () => {
    const { theirs, groups } = await seed({ license: LICENCE, username: 'only.in.canary.licence' });
    const userHash = t.collector.keyring.userHash('only.in.canary.licence');
    const res = await admin().post('/v1/erase', { license: LICENCE }).expect(200);
    expect(res.body).toEqual({ erasedReports: 3 });
    const readable = await everythingReadable(
      groups,
      theirs.map((r) => r.id),
    );
    expect(readable).not.toContain(LICENCE);
    expect(readable).not.toContain('canary-desc');
    for (const canary of [LICENCE, 'canary-desc-91d2', userHash]) {
      expect(filesHolding(t.dataDir, canary)).toEqual([]);
    }
    const entry = t.collector.audit.list({ limit: 100 }).find((e) => e.action === 'erase')!;
    expect(entry.target).toMatch(/^license:[0-9a-f]{16} reports:3$/);
  });

  it('takes a user’s hash off a group, day and version with a licence only where no kept report there carries it', async () => {
    const [V1, V2] = ['5.2.1.345', '5.3.0.12'];
    const [shared, lone] = ['shared.user.41d7', 'lone.user.9c2a'];
    const { group } = await ingest({ license: LICENCE, username: shared });
    await ingest({ license: LICENCE, username: lone });
    // Someone else's licence, same user, group, day and version: that row of the user stays.
    await ingest({ license: 'JCS-000777', username: shared });
    // Only the erased licence brings the user to this version and to the next day.
    await ingest({ license: LICENCE, username: shared, app: { name: 'JCS', version: V2 } });
    t.clock.advance(DAY);
    await ingest({ license: LICENCE, username: shared });
    t.clock.advance(2 * 3_600_000);
    const today = Math.floor(t.clock() / DAY);

    const rowsOf = (username: string) =>
      t.collector.db
        .prepare('SELECT group_id, day, version FROM group_subjects WHERE kind = 0 AND subject = ?')
        .all(t.collector.keyring.userHash(username));
    const users = async (query = '') => {
      const res = await engineer().get(`/v1/groups?status=all${query}`).expect(200);
      return res.body.groups.find((g: { id: string }) => g.id === group).users as number;
    };
    expect(rowsOf(shared)).toHaveLength(3);
    expect([await users(), await users(`&version=${V2}`), await users('&since=6h')]).toEqual([
      2, 1, 1,
    ]);

    const res = await admin().post('/v1/erase', { license: LICENCE }).expect(200);
    expect(res.body).toEqual({ erasedReports: 4 });
    expect(rowsOf(shared)).toEqual([{ group_id: group, day: today - 1, version: V1 }]);
    expect(rowsOf(lone)).toEqual([]);
    expect([await users(), await users(`&version=${V2}`), await users('&since=6h')]).toEqual([
      1, 0, 0,
    ]);
  });

  it('finds the rest of a day whose subject rows an expiry run already took', async () => {
    const day = Date.parse('2026-11-01T00:00:00Z');
    t.clock.set(day + 3_600_000);
    const early = await ingest({ username: USER });
    t.clock.set(day + 20 * 3_600_000);
    const late = await ingest({ username: USER });
    await ingest({ username: 'someone.else' });
    // Its cutoff is 10:00 that day: the early report goes, and with it the day's subject rows.
    // (The nightly job's run, at its own moment: a run judged from the future that leaves
    // reports of today writes their subject rows again, retention-rule.test.ts.)
    t.clock.set(day + 10 * 3_600_000 + 41 * DAY);
    const s = await runExpiry(t.collector);
    expect(s.deletedReports).toBe(1);
    const hash = t.collector.keyring.userHash(USER);
    const db = t.collector.db;
    expect(db.prepare('SELECT COUNT(*) AS n FROM group_subjects').get()).toEqual({ n: 0 });
    await engineer().get(`/v1/reports/${early.id}`).expect(404);
    await engineer().get(`/v1/reports/${late.id}`).expect(200);

    const res = await admin().post('/v1/erase', { username: USER }).expect(200);
    expect(res.body).toEqual({ erasedReports: 1 });
    await engineer().get(`/v1/reports/${late.id}`).expect(404);
    expect(db.prepare('SELECT COUNT(*) AS n FROM reports WHERE user_hash = ?').get(hash)).toEqual({
      n: 0,
    });
    expect(db.prepare('SELECT COUNT(*) AS n FROM reports').get()).toEqual({ n: 1 });
  });

  it('answers 0 for a subject with no reports', async () => {
    await seed({ username: 'someone' });
    expect((await admin().post('/v1/erase', { license: 'JCS-NOBODY' }).expect(200)).body).toEqual({
      erasedReports: 0,
    });
    expect(t.collector.db.prepare('SELECT COUNT(*) AS n FROM reports').get()).toEqual({ n: 5 });
  });

  it('erases any subject ingest took: the bounds count characters, as the report schema does, not UTF-16 units', async () => {
    // 64 and 256 characters outside the BMP: twice as many UTF-16 units as the bounds.
    const license = '😀'.repeat(64);
    const username = '𝒜'.repeat(256);
    const a = await ingest({ license });
    const b = await ingest({ username });
    for (const [body, id] of [
      [{ license }, a.id],
      [{ username }, b.id],
    ] as const) {
      expect((await admin().post('/v1/erase', body).expect(200)).body).toEqual({
        erasedReports: 1,
      });
      await engineer().get(`/v1/reports/${id}`).expect(404);
    }
    // One character over is still refused, naming the field.
    const over = await admin()
      .post('/v1/erase', { license: '😀'.repeat(65) })
      .expect(400);
    expect(over.body.error.details).toEqual([
      { path: '/license', message: 'must be a string of 1 to 64 characters' },
    ]);
  });

  it("refuses a subject with a lone surrogate: it is hashed as U+FFFD, and erased another subject's reports", async () => {
    const a = await ingest({ username: '\ufffdbob' });
    const b = await ingest({ license: '\ufffdLIC' });
    for (const [body, field] of [
      [{ username: '\udfffbob' }, '/username'],
      [{ license: '\ud800LIC' }, '/license'],
      [{ username: '\ud800' }, '/username'],
    ] as const) {
      const res = await admin().post('/v1/erase', body).expect(400);
      expect(res.body.error).toMatchObject({
        code: 'invalid_request',
        details: [
          { path: field, message: 'must be valid Unicode text (it holds a lone surrogate)' },
        ],
      });
    }
    await engineer().get(`/v1/reports/${a.id}`).expect(200);
    await engineer().get(`/v1/reports/${b.id}`).expect(200);
    // A surrogate pair is a character like any other.
    expect(
      (await admin().post('/v1/erase', { username: '\ud83d\ude00' }).expect(200)).body,
    ).toEqual({
      erasedReports: 0,
    });
  });

  it('refuses a body that names a field twice, rather than erase whichever JSON.parse kept', async () => {
    const { theirs } = await seed({ username: USER });
    const raw = (method: 'post' | 'patch', url: string, token: string, text: string) => {
      const req = method === 'post' ? request(t.app).post(url) : request(t.app).patch(url);
      return req
        .set('Authorization', `Bearer ${token}`)
        .set('Content-Type', 'application/json')
        .send(text)
        .expect(400);
    };
    const erase = await raw(
      'post',
      '/v1/erase',
      t.tokens.admin,
      `{"username": "someone.else", "username": ${JSON.stringify(USER)}}`,
    );
    expect(erase.body.error).toEqual({
      code: 'invalid_request',
      message: 'The body gives /username twice: give it once.',
      details: [{ path: '/username', message: 'is given more than once' }],
    });
    await engineer().get(`/v1/reports/${theirs[0].id}`).expect(200);
    // A change of status too: which of the two was meant is not for the server to guess.
    const patch = await raw(
      'patch',
      `/v1/groups/${theirs[0].group}`,
      t.tokens.engineer,
      '{"status": "resolved", "status": "ignored"}',
    );
    expect(patch.body.error.details).toEqual([
      { path: '/status', message: 'is given more than once' },
    ]);
    expect((await engineer().get(`/v1/groups/${theirs[0].group}`).expect(200)).body.status).toBe(
      'unresolved',
    );
  });

  it('takes exactly one of username and license: anything else is 400 invalid_request naming the field, and logged', async () => {
    const cases: [unknown, string][] = [
      [{}, '/username'],
      [{ username: 'a', license: 'b' }, '/license'],
      [{ username: 'a', email: 'a@b' }, '/email'],
      [{ username: 42 }, '/username'],
      [{ username: '' }, '/username'],
      [{ license: 'x'.repeat(65) }, '/license'],
      [['asmith'], ''],
    ];
    for (const [body, field] of cases) {
      const before = auditCount(t);
      const res = await request(t.app)
        .post('/v1/erase')
        .set('Authorization', `Bearer ${t.tokens.admin}`)
        .send(body as object)
        .expect(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
      // the message names the field as details do, JSON pointer and all (as PATCH's does)
      if (field) expect(res.body.error.message).toContain(`check ${field}`);
      expect(auditCount(t)).toBe(before + 1);
    }
    const notJson = await request(t.app)
      .post('/v1/erase')
      .set('Authorization', `Bearer ${t.tokens.admin}`)
      .set('Content-Type', 'application/json')
      .send('{"username":')
      .expect(400);
    expect(notJson.body.error.code).toBe('invalid_request');
  });
  it("keeps every window's counts, partial edge hours too, and answers the erased id 200 if it is sent again", async () => {
    t.clock.set('2026-11-20T10:20:00Z');
    const erased = makeReport({ username: USER, repeats: 2 });
    const kept = makeReport({ username: 'someone.else' });
    const group = (await as(t.tokens.ingest).post('/v1/reports', erased).expect(202)).body.group;
    await as(t.tokens.ingest).post('/v1/reports', kept).expect(202);
    t.clock.set('2026-11-20T10:40:00Z');
    // Windows whose edges fall inside the reports' hour, on it, and around it.
    const windows = [
      '',
      '?since=1d',
      '?since=2026-11-20T10:00:00Z&until=2026-11-20T11:00:00Z',
      '?since=2026-11-20T10:10:00Z',
      '?since=2026-11-20T00:00:00Z&until=2026-11-21T00:00:00Z',
    ];
    const counts = async () => {
      const out: number[] = [];
      for (const w of windows)
        out.push((await engineer().get(`/v1/groups/${group}${w}`).expect(200)).body.count);
      return out;
    };
    expect(await counts()).toEqual([4, 4, 4, 4, 4]);
    await admin().post('/v1/erase', { username: USER }).expect(200, { erasedReports: 1 });
    expect(await counts()).toEqual([4, 4, 4, 4, 4]);

    // An SDK retry of the erased report (its first answer lost): known, not stored again.
    const again = await as(t.tokens.ingest).post('/v1/reports', erased).expect(200);
    expect(again.body).toEqual({ id: erased.id, group });
    await engineer().get(`/v1/reports/${erased.id}`).expect(404);
    expect(await counts()).toEqual([4, 4, 4, 4, 4]);
    expect(await everythingReadable([group], [erased.id], false)).not.toContain(USER);

    // Expiry takes the kept occurrences with the reports of their time (the nightly job, at its
    // own moment: one judged from the future keeps them while windows by the clock read them).
    t.clock.set(Date.parse('2026-11-20T10:40:00Z') + 42 * DAY);
    await runExpiry(t.collector);
    const left = t.collector.db.prepare('SELECT COUNT(*) AS n FROM removed_occurrences').get() as {
      n: number;
    };
    expect(left.n).toBe(0);
  });

  it('never answers for an erased newest report with the report stored after it (its number is reused)', async () => {
    const other = await ingest({ username: 'someone.else' });
    const erased = makeReport({ username: USER, error: { description: DESCRIPTION } });
    const group = (await as(t.tokens.ingest).post('/v1/reports', erased).expect(202)).body.group;
    await admin().post('/v1/erase', { username: USER }).expect(200, { erasedReports: 1 });
    // The next report takes the erased one's place at the end of the table.
    const next = await ingest({ username: 'third.person', error: { number: 13 } });
    expect(next.group).not.toBe(group);

    await engineer().get(`/v1/reports/${erased.id}`).expect(404);
    expect((await engineer().get(`/v1/reports/${next.id}`).expect(200)).body.id).toBe(next.id);
    expect((await engineer().get(`/v1/reports/${other.id}`).expect(200)).body.id).toBe(other.id);
    // A retry of the erased report is answered with its own group, and nothing is stored.
    const again = await as(t.tokens.ingest).post('/v1/reports', erased).expect(200);
    expect(again.body).toEqual({ id: erased.id, group });
    await engineer().get(`/v1/reports/${erased.id}`).expect(404);
    expect(await everythingReadable([group, next.group], [erased.id], false)).not.toContain(USER);
  });

  it('keeps an erased id known on later days and after a restart: a retry is never stored again', async () => {
    t.clock.set('2026-11-20T10:00:00Z');
    const erased = makeReport({ username: USER, error: { description: DESCRIPTION } });
    const group = (await as(t.tokens.ingest).post('/v1/reports', erased).expect(202)).body.group;
    await admin().post('/v1/erase', { username: USER }).expect(200, { erasedReports: 1 });
    // The next day's reports: the erased one's day now holds no report, only its id.
    t.clock.set('2026-11-21T09:00:00Z');
    await ingest({ username: 'someone.else', error: { number: 13 } });
    const retry = async () => {
      const again = await as(t.tokens.ingest).post('/v1/reports', erased).expect(200);
      expect(again.body).toEqual({ id: erased.id, group });
      await engineer().get(`/v1/reports/${erased.id}`).expect(404);
    };
    await retry();
    // A new process builds its filter of stored ids from the database.
    t = reopenTestCollector(t);
    await retry();
    const counts = (await engineer().get(`/v1/groups/${group}?since=2w`).expect(200)).body.count;
    expect(counts).toBe(1);
  });

  it("refuses a subject typed into the query string instead of erasing the body's: 400 naming it, nothing erased", async () => {
    const { theirs } = await seed({ username: USER });
    const res = await request(t.app)
      .post('/v1/erase?username=someone.else')
      .set('Authorization', `Bearer ${t.tokens.admin}`)
      .send({ username: USER })
      .expect(400);
    expect(res.body.error).toMatchObject({
      code: 'invalid_request',
      details: [{ path: 'username' }],
    });
    await engineer().get(`/v1/reports/${theirs[0].id}`).expect(200);
    const patch = await request(t.app)
      .patch(`/v1/groups/${theirs[0].group}?status=ignored`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .send({ status: 'resolved' })
      .expect(400);
    expect(patch.body.error.details).toEqual([
      {
        path: 'status',
        message: 'is not a parameter of this route (it takes none: what it needs goes in the body)',
      },
    ]);
    expect((await engineer().get(`/v1/groups/${theirs[0].group}`).expect(200)).body.status).toBe(
      'unresolved',
    );
  });
});
