import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { startCollector } from '../../../test-support/collector';
import { sealedDir } from '../src/store/sealed-files';

/**
 * The collector's files moved away under a running collector are the storage failing, as the
 * keys folder moved away is: 503 until they are back. `sealed/` (the day files of the sealed
 * fields): not every report answered 404 "expired or erased", nor a new `sealed/` made beside
 * the moved one. `collector.db`: not reports answered 202 into a file no one can open again.
 */

const DAY0 = Date.parse('2026-09-01T10:00:00Z');

let t: TestCollector;
beforeEach(() => (t = makeTestCollector({ clock: testClock(DAY0) })));
afterEach(() => t.close());

const read = (id: string) =>
  request(t.app).get(`/v1/reports/${id}`).set('Authorization', `Bearer ${t.tokens.engineer}`);
const post = (r: ReturnType<typeof makeReport>) =>
  request(t.app).post('/v1/reports').set('Authorization', `Bearer ${t.tokens.ingest}`).send(r);

it('moved away: reads and a new day file answer 503; put back, all serves again', async () => {
  const first = makeReport({ username: 'ann' });
  expect((await post(first)).status).toBe(202);
  const dir = sealedDir(t.collector.db.name);
  fs.renameSync(dir, `${dir}.away`);

  const gone = await read(first.id);
  expect(gone.status).toBe(503);
  expect(gone.body.error.code).toBe('unavailable');
  expect(gone.headers['retry-after']).toBeDefined();
  // A report of the same day, whose file is still open: not written through that descriptor
  // into the moved folder, where it would be lost if the folder did not come back.
  const sameDay = makeReport({ username: 'cat' });
  const held = await post(sameDay);
  expect(held.status).toBe(503);
  expect(held.body.error.code).toBe('unavailable');
  // A new day's first report would need a new day file: not made in a new sealed/.
  t.clock.set(DAY0 + 86_400_000);
  const next = makeReport({ username: 'bob' });
  const refused = await post(next);
  expect(refused.status).toBe(503);
  expect(fs.existsSync(dir)).toBe(false);

  fs.renameSync(`${dir}.away`, dir);
  expect((await read(first.id)).body.username).toBe('ann');
  expect((await post(next)).status).toBe(202);
  expect((await read(next.id)).body.username).toBe('bob');
  t.clock.set(DAY0);
  expect((await post(sameDay)).status).toBe(202);
  expect((await read(sameDay.id)).body.username).toBe('cat');
});

it.each([
  [
    'sealed/ swapped for an empty folder',
    (dir: string) => {
      fs.renameSync(dir, `${dir}.away`);
      fs.mkdirSync(dir, { mode: 0o700 });
      return () => {
        fs.rmdirSync(dir);
        fs.renameSync(`${dir}.away`, dir);
      };
    },
  ],
  [
    'the day file alone moved away',
    (dir: string) => {
      const [name] = fs.readdirSync(dir).filter((n) => n.endsWith('.sealed'));
      fs.renameSync(path.join(dir, name), `${dir}-${name}`);
      return () => fs.renameSync(`${dir}-${name}`, path.join(dir, name));
    },
  ],
])(
  '%s: a report of that day answers 503, not 202 into the file that moved; put back, it is taken',
  async (_, move) => {
    const first = makeReport({ username: 'ann' });
    expect((await post(first)).status).toBe(202);
    const dir = sealedDir(t.collector.db.name);
    const putBack = move(dir);
    const sameDay = makeReport({ username: 'cat' });
    const held = await post(sameDay);
    expect(held.status).toBe(503);
    expect(held.body.error.code).toBe('unavailable');
    putBack();
    expect((await post(sameDay)).status).toBe(202);
    expect((await read(sameDay.id)).body.username).toBe('cat');
    expect((await read(first.id)).body.username).toBe('ann');
  },
);

it('collector.db moved away (or deleted): reports and audited requests answer 503, not 2xx into the lost file', async () => {
  expect((await post(makeReport())).status).toBe(202);
  const file = t.collector.db.name;
  fs.renameSync(file, `${file}.away`);
  const refused = await post(makeReport());
  expect(refused.status).toBe(503);
  expect(refused.body.error.code).toBe('unavailable');
  // Nor an engineer's read or change, each written to the access log first.
  const list = await request(t.app)
    .get('/v1/groups?status=all')
    .set('Authorization', `Bearer ${t.tokens.engineer}`);
  expect(list.status).toBe(503);
  // put back (the same file), it takes reports again
  fs.renameSync(`${file}.away`, file);
  expect((await post(makeReport())).status).toBe(202);
  const again = await request(t.app)
    .get('/v1/groups?status=all')
    .set('Authorization', `Bearer ${t.tokens.engineer}`);
  expect(again.status).toBe(200);
});

it('under serve, sealed/ moved away before the first read still answers 503 (the read thread)', async () => {
  // serve's reads run on a thread started at the first one: it must not take the folder
  // missing then for a restore without it.
  const c = await startCollector({ serveArgs: ['--no-expiry'] });
  try {
    const r = makeReport();
    const sent = await fetch(`${c.url}/v1/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.tokens.ingest}`, 'content-type': 'application/json' },
      body: JSON.stringify(r),
    });
    expect(sent.status).toBe(202);
    const dir = `${c.dataDir}/sealed`;
    fs.renameSync(dir, `${dir}.away`);
    const read = () =>
      fetch(`${c.url}/v1/reports/${r.id}`, {
        headers: { authorization: `Bearer ${c.tokens.engineer}` },
      });
    expect((await read()).status).toBe(503);
    fs.renameSync(`${dir}.away`, dir);
    expect((await read()).status).toBe(200);
  } finally {
    expect(await c.stop()).toBe(0);
  }
});
