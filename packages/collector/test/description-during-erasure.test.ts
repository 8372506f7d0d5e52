import fs from 'node:fs';
import request from 'supertest';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { dayFile, sealedDir } from '../src/store/sealed-files';

/**
 * A group's description is its newest surviving report's. An erasure commits, then zeroes the
 * erased reports' records in the day files; a triage read whose snapshot began before the commit
 * still sees the erased rows, but reads their records zeroed. The description it answers must
 * be the next surviving report's (as after the erasure), not null (found by an oracle audit: 108
 * of 2,947 reads beside an erasure said null). The race cannot be timed here: the test zeroes
 * the newest record with its row kept, which is the state such a read sees.
 */

let t: TestCollector;
beforeEach(() => (t = makeTestCollector({ clock: testClock(Date.parse('2026-09-01T10:00:00Z')) })));
afterEach(() => t.close());

const engineer = () => `Bearer ${t.tokens.engineer}`;
const error = (description: string) => ({
  number: 91,
  description,
  module: 'modClients',
  procedure: 'LoadClient',
  line: 120,
});

async function post(r: ReturnType<typeof makeReport>): Promise<string> {
  const res = await request(t.app)
    .post('/v1/reports')
    .set('Authorization', `Bearer ${t.tokens.ingest}`)
    .send(r)
    .expect(202);
  t.clock.advance(1000);
  return res.body.group as string;
}

/** Zeroes a report's record where the erasure would, leaving its row. */
function zeroRecord(id: string): void {
  const row = t.collector.db
    .prepare('SELECT key_day, sealed_at, sealed_len FROM reports WHERE id = ?')
    .get(id) as { key_day: string; sealed_at: number; sealed_len: number };
  const fd = fs.openSync(dayFile(sealedDir(t.collector.db.name), row.key_day), 'r+');
  fs.writeSync(fd, Buffer.alloc(row.sealed_len), 0, row.sealed_len, row.sealed_at);
  fs.closeSync(fd);
}

async function description(group: string): Promise<{ list: unknown; detail: unknown }> {
  const list = await request(t.app)
    .get('/v1/groups?status=all')
    .set('Authorization', engineer())
    .expect(200);
  const detail = await request(t.app).get(`/v1/groups/${group}`).set('Authorization', engineer());
  return { list: list.body.groups[0].description, detail: detail.body.description };
}

it('skips the newest reports whose records read as zeros, to the newest that reads', async () => {
  const older = makeReport({ username: 'ann', error: error('Older: Object variable not set') });
  const newer = makeReport({ username: 'bob', error: error('Newer: bob@example.com') });
  const newest = makeReport({ username: 'bob', error: error('Newest: bob again') });
  const group = await post(older);
  await post(newer);
  await post(newest);
  expect(await description(group)).toEqual({
    list: 'Newest: bob again',
    detail: 'Newest: bob again',
  });

  zeroRecord(newest.id);
  zeroRecord(newer.id);
  expect(await description(group)).toEqual({
    list: 'Older: Object variable not set',
    detail: 'Older: Object variable not set',
  });

  // None reads: null, as for a group whose every report is gone.
  zeroRecord(older.id);
  expect(await description(group)).toEqual({ list: null, detail: null });
});
