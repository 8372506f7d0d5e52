import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import type Database from 'better-sqlite3';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { collectorCli } from '../../../test-support/collector';
import { makeEntries, tamper } from './access-support';

// Each test runs the real bin once (about a second on a busy machine).
jest.setTimeout(30_000);

let t: TestCollector;
beforeEach(async () => {
  t = makeTestCollector();
  await makeEntries(t, 6);
});
afterEach(() => t.close());

const verifyHttp = async () =>
  (
    await request(t.app)
      .get('/v1/audit/verify')
      .set('Authorization', `Bearer ${t.tokens.admin}`)
      .expect(200)
  ).body;
const verifyCli = (...args: string[]) =>
  collectorCli(['audit', 'verify', '--data-dir', t.dataDir, ...args]);

/** Tampers, then checks the HTTP route and the command both name `brokenAt`. */
async function expectBrokenAt(brokenAt: number, change: (db: Database.Database) => void) {
  tamper(t.dataDir, change);
  expect(await verifyHttp()).toEqual({ ok: false, brokenAt });
  // after the HTTP check wrote its own entry, the break is still found where it was
  const cli = verifyCli();
  expect({ status: cli.status, stdout: cli.stdout }).toEqual({
    status: 1,
    stdout: `broken at entry ${brokenAt}\n`,
  });
  expect(cli.stderr).toMatch(new RegExp(`broken at entry ${brokenAt}: `));
}

describe('tamper evidence of the access log', () => {
  it('an untouched log verifies: exit 0 and the number of entries', async () => {
    const plain = verifyCli();
    expect({ status: plain.status, stdout: plain.stdout }).toEqual({
      status: 0,
      stdout: 'intact: 6 entries\n',
    });
    expect(await verifyHttp()).toEqual({ ok: true, entries: 6 });
  });

  it('finds one field of a middle entry edited', async () => {
    await expectBrokenAt(3, (db) =>
      db.prepare("UPDATE audit SET outcome = 'forbidden' WHERE seq = 3").run(),
    );
  });

  it('finds an entry deleted', async () => {
    await expectBrokenAt(3, (db) => db.prepare('DELETE FROM audit WHERE seq = 3').run());
  });

  it('finds two entries swapped', async () => {
    await expectBrokenAt(2, (db) =>
      db.exec(`
        UPDATE audit SET seq = -1 WHERE seq = 2;
        UPDATE audit SET seq = 2 WHERE seq = 4;
        UPDATE audit SET seq = 4 WHERE seq = -1;`),
    );
  });

  it('finds the newest entries dropped (the head in the keys folder is ahead of the table)', async () => {
    await expectBrokenAt(5, (db) => db.prepare('DELETE FROM audit WHERE seq >= 5').run());
    // and later entries do not paper over the gap
    await makeEntries(t, 2);
    expect(await verifyHttp()).toEqual({ ok: false, brokenAt: 5 });
  });

  it('finds an entry rewritten with a plain hash, without the key', async () => {
    const crypto = await import('node:crypto');
    await expectBrokenAt(4, (db) => {
      const prev = (db.prepare('SELECT hash FROM audit WHERE seq = 3').get() as { hash: string })
        .hash;
      const forged = crypto
        .createHash('sha256')
        .update(JSON.stringify([prev, 4, 'x', 'mallory', 'groups.list', null, 'ok']))
        .digest('hex');
      db.prepare("UPDATE audit SET actor = 'mallory', hash = ? WHERE seq = 4").run(forged);
    });
  });

  it('says when the head mark is missing, since a cut tail would then not show', async () => {
    await t.collector.audit.headWritten();
    expect(verifyCli().stderr).toBe('');
    fs.rmSync(path.join(t.dataDir, 'keys', 'audit-head.json'));
    tamper(t.dataDir, (db) => db.prepare('DELETE FROM audit WHERE seq >= 5').run());
    const r = verifyCli();
    expect({ status: r.status, stdout: r.stdout }).toEqual({
      status: 0,
      stdout: 'intact: 4 entries\n',
    });
    expect(r.stderr).toMatch(
      /^note: keys\/audit-head.json is missing or unreadable, so newest entries cut off/,
    );
  });

  it('prints the same answer as the route with --json', async () => {
    tamper(t.dataDir, (db) => db.prepare('DELETE FROM audit WHERE seq = 2').run());
    const r = verifyCli('--json');
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ ok: false, brokenAt: 2 });
  });
});
