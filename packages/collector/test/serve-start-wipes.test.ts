import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { openCollector } from '@jcs/collector';
import { postReport, startCollector, type RunningCollector } from '../../../test-support/collector';
import { makeReport } from '../../../test-support/reports';
import { eraseSubject } from '../src/store/erase';

/**
 * An erasure killed between its commit and the zeroing of its records leaves a note
 * (sealed_wipes); serve zeroes them as it starts, rather than at the next expiry run.
 */
jest.setTimeout(60_000);

let c: RunningCollector;
afterEach(() => c?.stop());

function recordOf(dataDir: string, id: string): Buffer {
  const db = new Database(path.join(dataDir, 'collector.db'), { readonly: true });
  try {
    const row = db
      .prepare('SELECT key_day, sealed_at, sealed_len FROM reports WHERE id = ?')
      .get(id) as { key_day: string; sealed_at: number; sealed_len: number } | undefined;
    return row
      ? fs
          .readFileSync(path.join(dataDir, 'sealed', `${row.key_day}.sealed`))
          .subarray(row.sealed_at, row.sealed_at + row.sealed_len)
      : Buffer.alloc(0);
  } finally {
    db.close();
  }
}

it('serve zeroes at start the records an erasure noted but did not live to zero', async () => {
  c = await startCollector({ serveArgs: ['--no-expiry'] });
  const theirs = makeReport({ username: 'asmith' });
  const other = makeReport({ username: 'bjones' });
  for (const r of [theirs, other]) expect((await postReport(c, r)).status).toBe(202);
  expect(await c.stop()).toBe(0);

  // Where the erased record lies, read before the erasure deletes its row.
  const db = new Database(path.join(c.dataDir, 'collector.db'), { readonly: true });
  const at = db
    .prepare('SELECT key_day, sealed_at, sealed_len FROM reports WHERE id = ?')
    .get(theirs.id) as { key_day: string; sealed_at: number; sealed_len: number };
  db.close();
  const file = path.join(c.dataDir, 'sealed', `${at.key_day}.sealed`);
  const bytes = () => fs.readFileSync(file).subarray(at.sealed_at, at.sealed_at + at.sealed_len);

  // The erasure's transaction, then a "kill" before its zeroing.
  const direct = openCollector({ dataDir: c.dataDir });
  direct.db.transaction(() => eraseSubject(direct.db, direct.keyring, { username: 'asmith' }))();
  expect(direct.db.prepare('SELECT COUNT(*) FROM sealed_wipes').pluck().get()).toBe(1);
  direct.close();
  expect(bytes().some((b) => b !== 0)).toBe(true);
  const otherBefore = recordOf(c.dataDir, other.id);

  await c.restart();
  expect(c.logs()).toMatch(/records of erased reports an earlier run left unzeroed are zeroed now/);
  expect(bytes().every((b) => b === 0)).toBe(true);
  expect(recordOf(c.dataDir, other.id)).toEqual(otherBefore);
  expect(await c.stop()).toBe(0);
  const after = new Database(path.join(c.dataDir, 'collector.db'), { readonly: true });
  expect(after.prepare('SELECT COUNT(*) FROM sealed_wipes').pluck().get()).toBe(0);
  after.close();
});
