import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import request from 'supertest';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import type { Request } from 'express';
import { audited } from '../src/http/audited';
import { openDatabase } from '../src/store/db';
import { auditCount, makeEntries, tamper } from './access-support';
import { rawSocket, statuses } from './helpers/raw-http';

let t: TestCollector;
beforeEach(() => (t = makeTestCollector()));
afterEach(() => t.close());

const admin = (route: string) =>
  request(t.app).get(route).set('Authorization', `Bearer ${t.tokens.admin}`);
const postReport = (role: 'ingest' | 'engineer' | 'admin', report: object) =>
  request(t.app).post('/v1/reports').set('Authorization', `Bearer ${t.tokens[role]}`).send(report);

describe('the access log', () => {
  it('records seq, time, actor, action, target ids and outcome; GET /v1/audit lists newest first', async () => {
    const r = makeReport({
      username: 'jane.doe',
      license: 'JCS-777',
      error: { description: 'C:\\Users\\jane' },
    });
    await postReport('ingest', r).expect(202);
    await request(t.app)
      .get(`/v1/reports/${r.id}?dump=1`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
    await request(t.app)
      .get('/v1/groups?limit=nope')
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(400);
    const { body } = await admin('/v1/audit').expect(200);
    expect(body.entries).toEqual([
      {
        seq: 2,
        at: '2026-11-01T12:00:00.000Z',
        actor: 'alice',
        action: 'groups.list',
        target: null,
        outcome: 'invalid_request',
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
      {
        seq: 1,
        at: '2026-11-01T12:00:00.000Z',
        actor: 'alice',
        action: 'reports.get.dump',
        target: r.id,
        outcome: 'ok',
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    ]);
    // no personal data: not the username, not the description, not the licence
    const all = JSON.stringify((await admin('/v1/audit').expect(200)).body);
    for (const personal of ['jane', 'JCS-777']) expect(all).not.toContain(personal);
  });

  it('logs an engineer request to an unknown route, without its path', async () => {
    await request(t.app)
      .get('/v1/clients/jane.doe')
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(404);
    const { body } = await admin('/v1/audit?limit=1').expect(200);
    expect(body.entries[0]).toMatchObject({
      actor: 'alice',
      action: 'GET (no route)',
      outcome: 'not_found',
    });
    expect(JSON.stringify(body)).not.toContain('jane');
  });

  it('lets an admin token post a report (the contract: admin may do all that) and logs it; an engineer token is refused and logged', async () => {
    const r = makeReport({ username: 'jane.doe', license: 'JCS-777' });
    const posted = await postReport('admin', r).expect(202);
    expect(posted.body).toEqual({ id: r.id, group: expect.stringMatching(/^[0-9a-f]{12}$/) });
    // Stored like any report: an engineer reads it back.
    const read = await request(t.app)
      .get(`/v1/reports/${r.id}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
    expect(read.body.username).toBe('jane.doe');
    // Sent again: 200, and logged again.
    await postReport('admin', r).expect(200);
    const refused = await postReport('engineer', makeReport()).expect(403);
    expect(refused.body.error.message).toBe(
      'This route needs an ingest or admin token; this one has the engineer role.',
    );
    const { body } = await admin('/v1/audit').expect(200);
    const entries = body.entries.map((e: Record<string, unknown>) => ({
      actor: e.actor,
      action: e.action,
      target: e.target,
      outcome: e.outcome,
    }));
    expect(entries).toEqual([
      { actor: 'alice', action: 'POST /v1/reports', target: null, outcome: 'forbidden' },
      { actor: 'root', action: 'reports.post', target: r.id, outcome: 'ok' },
      { actor: 'alice', action: 'reports.get', target: r.id, outcome: 'ok' },
      { actor: 'root', action: 'reports.post', target: r.id, outcome: 'ok' },
    ]);
    // The log holds ids and names of tokens, never the report's personal data.
    expect(JSON.stringify(body)).not.toMatch(/jane|JCS-777/);
  });

  it('logs an admin report refused for its body, and stores nothing', async () => {
    const bad = { ...makeReport(), extra: 1 };
    await postReport('admin', bad).expect(400);
    const { body } = await admin('/v1/audit?limit=1').expect(200);
    expect(body.entries[0]).toMatchObject({
      actor: 'root',
      action: 'POST /v1/reports',
      outcome: 'invalid_report',
    });
    expect(t.collector.db.prepare('SELECT COUNT(*) FROM reports').pluck().get()).toBe(0);
  });

  it('answers OPTIONS 404 like any method the API does not have, and logs it', async () => {
    // Express's own OPTIONS answer (200, an Allow list) would skip the token check and this log.
    for (const path of ['/v1/groups', '/v1/audit', '/v1/reports']) {
      const res = await request(t.app).options(path).expect(404);
      expect(res.body.error.code).toBe('not_found');
    }
    await request(t.app)
      .options('/v1/groups')
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(404);
    const { body } = await admin('/v1/audit?limit=1').expect(200);
    expect(body.entries[0]).toMatchObject({
      actor: 'alice',
      action: 'OPTIONS (no route)',
      outcome: 'not_found',
    });
  });

  it('routes an absolute URL by its path, and refuses and logs a target that is neither', async () => {
    // Express gave up on a malformed one with an HTML page of its own, before any token check
    // or entry in this log.
    const server = http.createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const get = (target: string) =>
      rawSocket(
        url,
        `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.tokens.engineer}\r\nConnection: close\r\n\r\n`,
      );
    try {
      expect(statuses(await get('http://collector.example/v1/groups?limit=1'))).toEqual([200]);
      expect(statuses(await get('HTTP://X/v1/audit'))).toEqual([403]);
      // the path as sent, dot segments unresolved, as in origin form
      expect(statuses(await get('http://x/v1/reports/%2e%2e/groups'))).toEqual([404]);
      expect(statuses(await get('http://x/v1/reports/../groups'))).toEqual([404]);
      for (const target of ['http://[x/v1/groups', 'http://x:port/v1/groups', '*']) {
        const raw = await get(target);
        expect(statuses(raw)).toEqual([400]);
        expect(raw).toContain('"code":"invalid_request"');
        expect(raw).toContain('The request target is neither a path');
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const { body } = await admin('/v1/audit?limit=7').expect(200);
    expect(body.entries.map((e: { action: string; outcome: string }) => e.outcome)).toEqual([
      'invalid_request',
      'invalid_request',
      'invalid_request',
      'not_found',
      'not_found',
      'forbidden',
      'ok',
    ]);
    expect(body.entries[0]).toMatchObject({ actor: 'alice', action: 'GET (no route)' });
  });

  it('keeps no target that is not an id: a date, a phone or a card number pasted for one', async () => {
    const { group } = (await postReport('ingest', makeReport()).expect(202)).body;
    const engineer = (route: string) =>
      request(t.app).get(route).set('Authorization', `Bearer ${t.tokens.engineer}`);
    for (const route of [
      '/v1/reports/1985-03-12',
      '/v1/reports/0612345678',
      '/v1/reports/4111-1111-1111-1111',
      '/v1/groups/061234567890',
      '/v1/groups/1985-03-12/reports',
      `/v1/groups/${'a'.repeat(200)}`,
    ]) {
      await engineer(route).expect(404);
    }
    await engineer(`/v1/groups/${group}`).expect(200);
    const { body } = await admin('/v1/audit?limit=7').expect(200);
    expect(body.entries.map((e: { target: string }) => e.target).reverse()).toEqual([
      ...new Array(6).fill('(not an id)'),
      group,
    ]);
  });

  it('takes since and limit (default 100, at most 1000) and names a bad parameter', async () => {
    await makeEntries(t, 3);
    t.clock.advance(2 * 3_600_000);
    await makeEntries(t, 2);
    const seqs = (body: { entries: { seq: number }[] }) => body.entries.map((e) => e.seq);
    // each read of the log is logged after it is read
    expect(seqs((await admin('/v1/audit?limit=2').expect(200)).body)).toEqual([5, 4]);
    const recent = (await admin('/v1/audit?since=1h').expect(200)).body.entries;
    expect(seqs({ entries: recent })).toEqual([6, 5, 4]);
    expect(recent.filter((e: { action: string }) => e.action === 'groups.list')).toHaveLength(2);
    t.collector.db.transaction(() => {
      for (let i = 0; i < 100; i++) {
        t.collector.audit.append(
          { actor: 'alice', action: 'groups.list', target: null, outcome: 'ok' },
          t.clock(),
        );
      }
    })();
    expect((await admin('/v1/audit').expect(200)).body.entries).toHaveLength(100);
    for (const bad of [
      'limit=0',
      'limit=1001',
      'since=yesterday',
      'until=yesterday',
      'since=1h&until=2h',
      'since=2099-01-01T00:00:00Z',
      'before=0',
      'before=x',
      'before=-1',
      'before=9007199254740992',
      'before=12345678901234567',
      'user=alice',
    ]) {
      const res = await admin(`/v1/audit?${bad}`).expect(400);
      expect(res.body.error.code).toBe('invalid_request');
      expect(res.body.error.details[0].path).toBe(bad.split('=')[0]);
    }
  });

  it('pages back past the newest 1000 with until, which is included', async () => {
    // 1,500 entries a millisecond apart, then the pages an admin (or a script) reads back.
    const start = t.clock();
    t.collector.db.transaction(() => {
      for (let i = 0; i < 1500; i++) {
        t.collector.audit.append(
          { actor: 'alice', action: 'groups.list', target: null, outcome: 'ok' },
          start + i,
        );
      }
    })();
    t.clock.set(start + 10_000);
    const page = async (query: string) =>
      (await admin(`/v1/audit?${query}`).expect(200)).body.entries as { seq: number; at: string }[];
    const first = await page('limit=1000');
    expect(first[0].seq).toBe(1500);
    expect(first.at(-1)!.seq).toBe(501);
    const second = await page(`limit=1000&until=${first.at(-1)!.at}`);
    // The boundary entry shows on both pages; none is skipped.
    expect(second.map((e) => e.seq)).toEqual(Array.from({ length: 501 }, (_, i) => 501 - i));
    // A window both ways; a duration for until, as for since (a minute ago: before them all).
    const at = (ms: number) => new Date(start + ms).toISOString();
    expect((await page(`since=${at(10)}&until=${at(12)}`)).map((e) => e.seq)).toEqual([13, 12, 11]);
    expect(await page('until=1m')).toEqual([]);
  });

  it('pages back by sequence number with before, which is not included, through entries that share one time', async () => {
    // 1,500 entries committed at one moment: `until` cannot get past them, `before` can.
    const at = t.clock();
    t.collector.db.transaction(() => {
      for (let i = 0; i < 1500; i++) {
        t.collector.audit.append(
          { actor: 'alice', action: 'groups.list', target: null, outcome: 'ok' },
          at,
        );
      }
    })();
    const page = async (query: string) =>
      (await admin(`/v1/audit?${query}`).expect(200)).body.entries as { seq: number }[];
    const seen: number[] = [];
    let query = 'limit=1000';
    for (;;) {
      const entries = await page(query);
      if (entries.length === 0) break;
      seen.push(...entries.map((e) => e.seq));
      query = `limit=1000&before=${entries.at(-1)!.seq}`;
    }
    // every entry once, newest first (the reads of the log are logged as they go, after each)
    expect(seen.slice(0, 1500)).toEqual(Array.from({ length: 1500 }, (_, i) => 1500 - i));
    expect(new Set(seen).size).toBe(seen.length);
    expect(await page('before=1')).toEqual([]);
    // with since and until too
    expect((await page(`before=11&since=1h&limit=3`)).map((e) => e.seq)).toEqual([10, 9, 8]);
  });

  it('writes the newest (seq, hash) to the keys folder after each entry', async () => {
    await makeEntries(t, 3);
    const head = JSON.parse(
      fs.readFileSync(path.join(t.dataDir, 'keys', 'audit-head.json'), 'utf8'),
    );
    const newest = t.collector.audit.list({ limit: 1 })[0];
    expect(head).toEqual({ seq: 3, hash: newest.hash });
    expect(fs.statSync(path.join(t.dataDir, 'keys', 'audit-head.json')).mode & 0o077).toBe(0);
  });

  it('writes the head in the background, one write at a time, covering every entry committed before it', async () => {
    const headFile = path.join(t.dataDir, 'keys', 'audit-head.json');
    const renames: number[] = [];
    const rename = fs.renameSync;
    const spy = jest.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      if (String(to) === headFile) renames.push(JSON.parse(fs.readFileSync(from, 'utf8')).seq);
      return rename(from, to);
    });
    try {
      // 20 requests at once: far fewer head writes than entries, in increasing order.
      await Promise.all(
        Array.from({ length: 20 }, () =>
          request(t.app)
            .get('/v1/groups')
            .set('Authorization', `Bearer ${t.tokens.engineer}`)
            .expect(200),
        ),
      );
      await t.collector.audit.headWritten();
    } finally {
      spy.mockRestore();
    }
    const newest = t.collector.audit.list({ limit: 1 })[0];
    expect(newest.seq).toBe(20);
    expect(JSON.parse(fs.readFileSync(headFile, 'utf8'))).toEqual({ seq: 20, hash: newest.hash });
    expect(renames.length).toBeLessThan(20);
    expect(renames).toEqual([...renames].sort((a, b) => a - b));
    expect(renames[renames.length - 1]).toBe(20);
    expect(fs.readdirSync(path.join(t.dataDir, 'keys')).filter((f) => f.endsWith('.tmp'))).toEqual(
      [],
    );
  });

  it('close writes the newest head itself, and a background write still under way never moves it back', async () => {
    const headFile = path.join(t.dataDir, 'keys', 'audit-head.json');
    await makeEntries(t, 2);
    await request(t.app)
      .get('/v1/groups')
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
    const newest = t.collector.audit.list({ limit: 1 })[0];
    // The background write of entry 3 may be under way: close now.
    t.collector.close();
    expect(JSON.parse(fs.readFileSync(headFile, 'utf8'))).toEqual({ seq: 3, hash: newest.hash });
    await t.collector.audit.headWritten();
    expect(JSON.parse(fs.readFileSync(headFile, 'utf8'))).toEqual({ seq: 3, hash: newest.hash });
    expect(fs.readdirSync(path.join(t.dataDir, 'keys')).filter((f) => f.endsWith('.tmp'))).toEqual(
      [],
    );
  });

  it('refuses a read whose entry cannot be written, and returns none of its data', async () => {
    const r = makeReport({ error: { description: 'secret-description' } });
    await postReport('ingest', r).expect(202);
    tamper(t.dataDir, (db) =>
      db.exec(
        "CREATE TRIGGER audit_jammed BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'jammed'); END",
      ),
    );
    const res = await request(t.app)
      .get(`/v1/reports/${r.id}`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(503);
    expect(res.body.error.code).toBe('unavailable');
    expect(res.headers['retry-after']).toBe('5');
    expect(JSON.stringify(res.body)).not.toContain('secret-description');
    expect(auditCount(t)).toBe(0);
  });

  it('logs a read the storage refused as unavailable, the code its 503 answered with', async () => {
    const r = makeReport();
    await postReport('ingest', r).expect(202);
    const days = path.join(t.dataDir, 'keys', 'days');
    fs.renameSync(days, `${days}.away`);
    await new Promise((resolve) => setImmediate(resolve)); // a day's key file is looked for once a turn
    for (const query of ['', '?dump=1']) {
      const res = await request(t.app)
        .get(`/v1/reports/${r.id}${query}`)
        .set('Authorization', `Bearer ${t.tokens.engineer}`)
        .expect(503);
      expect(res.body.error.code).toBe('unavailable');
    }
    fs.renameSync(`${days}.away`, days);
    const entries = t.collector.audit.list({ limit: 2 });
    expect(entries.map((e) => [e.action, e.target, e.outcome])).toEqual([
      ['reports.get.dump', r.id, 'unavailable'],
      ['reports.get', r.id, 'unavailable'],
    ]);
  });

  it('waits for a lock held elsewhere off the event loop: other requests are answered meanwhile', async () => {
    await postReport('ingest', makeReport()).expect(202);
    // Another connection (an operator's sqlite3, say) holds the write lock. Released by a timer
    // of this thread: were the entry's commit to wait on the event loop (busy_timeout), the
    // timer could not fire until that wait gave up with a 503.
    const other = openDatabase(path.join(t.dataDir, 'collector.db'));
    other.exec('BEGIN IMMEDIATE');
    let held = true;
    const release = new Promise<void>((resolve) =>
      setTimeout(() => {
        other.exec('ROLLBACK');
        held = false;
        resolve();
      }, 300),
    );
    const read = request(t.app)
      .get('/v1/groups')
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .then((res) => res); // sent now, not when awaited
    await new Promise((resolve) => setTimeout(resolve, 50));
    const health = await request(t.app).get('/v1/health').expect(200);
    expect({ health: health.status, lockStillHeld: held }).toEqual({
      health: 200,
      lockStillHeld: true,
    });
    const [list] = await Promise.all([read, release]);
    expect(list.status).toBe(200);
    expect(t.collector.audit.list({ limit: 1 })[0]).toMatchObject({
      action: 'groups.list',
      outcome: 'ok',
    });
    other.close();
  });

  it('a read holds no write lock while it runs (ingest commits meanwhile); a change does', async () => {
    const other = openDatabase(path.join(t.dataDir, 'collector.db'));
    other.pragma('busy_timeout = 0');
    const canWrite = () => {
      try {
        other.exec('BEGIN IMMEDIATE; ROLLBACK');
        return true;
      } catch {
        return false;
      }
    };
    const asEngineer = (method: string) =>
      ({ method, actor: { name: 'eng', role: 'engineer' } }) as unknown as Request;
    try {
      expect(await audited(t.collector, asEngineer('GET'), 'groups.list', null, canWrite)).toBe(
        true,
      );
      expect(await audited(t.collector, asEngineer('PATCH'), 'groups.update', null, canWrite)).toBe(
        false,
      );
      expect(auditCount(t)).toBe(2); // each logged all the same
    } finally {
      other.close();
    }
  });

  it('verifies an untouched log: GET /v1/audit/verify answers ok with the number of entries', async () => {
    await makeEntries(t, 4);
    expect((await admin('/v1/audit/verify').expect(200)).body).toEqual({ ok: true, entries: 4 });
    // that request was logged as well
    expect((await admin('/v1/audit/verify').expect(200)).body).toEqual({ ok: true, entries: 5 });
    expect(t.collector.audit.list({ limit: 1 })[0]).toMatchObject({
      actor: 'root',
      action: 'audit.verify',
    });
  });

  it('refuses UPDATE and DELETE on the table (triggers)', async () => {
    await makeEntries(t, 2);
    const db = t.collector.db;
    expect(() => db.prepare("UPDATE audit SET actor = 'x' WHERE seq = 1").run()).toThrow(
      /append-only/,
    );
    expect(() => db.prepare('DELETE FROM audit WHERE seq = 1').run()).toThrow(/append-only/);
  });
});
