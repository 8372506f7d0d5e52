/**
 * A damaged database.
 * - A WAL ending in a torn frame (what a crash in the middle of writing a transaction leaves):
 *   SQLite's recovery keeps every whole commit, so the collector starts, serves, and every
 *   acknowledged report is there.
 * - A WAL cut short into committed frames (media damage, a bad copy): the collector must come up
 *   and stay up (no crash loop); what the store then holds is recorded.
 * - A database file that is not a database: serve must stop at once with one clear line, not
 *   start and crash, nor print a stack.
 */
import fs from 'node:fs';
import {
  initDataDir,
  inspect,
  killAll,
  manyReports,
  sendAll,
  serve,
  serveExpectingFailure,
  storedIds,
} from './helpers';

jest.setTimeout(180_000);
afterAll(killAll);

/** The WAL's first frame header offset, page size and salts (big-endian header, sqlite.org/fileformat). */
function walLayout(wal: Buffer) {
  return {
    pageSize: wal.readUInt32BE(8),
    salt1: wal.readUInt32BE(16),
    salt2: wal.readUInt32BE(20),
  };
}

/** Whole frames of the current generation (salts matching the header) and the last commit. */
function walFrames(wal: Buffer) {
  const { pageSize, salt1, salt2 } = walLayout(wal);
  const frame = 24 + pageSize;
  let frames = 0;
  let lastCommitEnd = 32;
  for (let off = 32; off + frame <= wal.length; off += frame) {
    if (wal.readUInt32BE(off + 8) !== salt1 || wal.readUInt32BE(off + 12) !== salt2) break;
    frames++;
    if (wal.readUInt32BE(off + 4) !== 0) lastCommitEnd = off + frame;
  }
  return { frame, frames, lastCommitEnd };
}

async function loadThenKill(n: number) {
  const d = initDataDir();
  const s = await serve(d.dataDir);
  const sent = await sendAll(s.url, d.token, manyReports(n), { concurrency: 50 });
  expect(sent.every((o) => o.status === 202)).toBe(true);
  s.signal('SIGKILL');
  await s.exited;
  return { d, port: s.port, ids: sent.map((o) => o.id) };
}

test('a WAL ending in a torn frame (a crash mid-append): the collector starts, nothing acknowledged is lost', async () => {
  const { d, port, ids } = await loadThenKill(3000);
  const walFile = `${d.dbFile}-wal`;
  const wal = fs.readFileSync(walFile);
  const { frame, lastCommitEnd } = walFrames(wal);
  expect(lastCommitEnd).toBeGreaterThan(32);
  // What a power cut during the next transaction's write leaves: the WAL up to its last commit,
  // then the first part of a frame that never finished (a valid frame header, half a page).
  const torn = Buffer.concat([
    wal.subarray(0, lastCommitEnd),
    wal.subarray(lastCommitEnd - frame, lastCommitEnd - frame + 24),
    Buffer.alloc(Math.floor(frame / 2), 0x41),
  ]);
  torn.writeUInt32BE(0, lastCommitEnd + 4); // not a commit frame
  fs.writeFileSync(walFile, torn);

  const again = await serve(d.dataDir, { port });
  expect((await fetch(`${again.url}/v1/health`)).status).toBe(200);
  const more = await sendAll(again.url, d.token, manyReports(20), { concurrency: 5 });
  expect(more.every((o) => o.status === 202)).toBe(true);
  again.signal('SIGTERM');
  expect(await again.exited).toBe(0);

  const end = inspect(d.dbFile);
  expect(end.integrity).toBe('ok');
  expect(storedIds(d.dbFile, ids).size).toBe(ids.length);
  expect(end.count).toBe(ids.length + 20);
  expect(end.counted).toBe(end.count);
  expect(end.orphans).toBe(0);
  console.log(
    `torn WAL tail: started and served; all ${ids.length} acknowledged reports kept, integrity ok`,
  );
});

test('a WAL cut short into committed frames: the collector starts and serves, no crash loop', async () => {
  const { d, port } = await loadThenKill(3000);
  const walFile = `${d.dbFile}-wal`;
  const size = fs.statSync(walFile).size;
  const { frame, frames } = walFrames(fs.readFileSync(walFile));
  expect(frames).toBeGreaterThan(4);
  // Half the frames, and half of the next one: committed data gone (media damage, a bad copy).
  const cut = 32 + Math.floor(frames / 2) * frame + Math.floor(frame / 2);
  fs.truncateSync(walFile, cut);

  // Started twice, as a supervisor would after a stop: it comes up each time and stays up.
  for (let i = 0; i < 2; i++) {
    const s = await serve(d.dataDir, { port });
    expect((await fetch(`${s.url}/v1/health`)).status).toBe(200);
    const more = await sendAll(s.url, d.token, manyReports(10), { concurrency: 5 });
    // Each answer is an answer (never a dropped connection), whatever the damage.
    expect(more.every((o) => o.status !== undefined)).toBe(true);
    expect(s.child.exitCode).toBeNull();
    // The first start after the damage says what it found and did, in one line.
    if (i === 0)
      expect(s.stderr()).toMatch(/^jcs-collector: a write-ahead log was left by an earlier run/m);
    s.signal('SIGTERM');
    expect(await s.exited).toBe(0);
  }
  const end = inspect(d.dbFile);
  // SQLite cannot tell a WAL cut into already-checkpointed frames at open; the collector's quick
  // check at start (after any unclean stop) rebuilds damaged indexes. Recorded: README "Reliability".
  console.log(
    `WAL cut into committed frames (${size} -> ${cut} bytes): started twice, served, exit 0; ` +
      `${end.count} reports; integrity_check: ${end.integrity}; aggregates ${end.counted === end.count ? 'consistent' : `inconsistent (${end.counted} counted)`}`,
  );
});

test('a database file that is not a database: serve exits at once with one clear line', async () => {
  const d = initDataDir();
  const fd = fs.openSync(d.dbFile, 'r+');
  fs.writeSync(fd, Buffer.alloc(100, 0x5a), 0, 100, 0);
  fs.closeSync(fd);
  const r = await serveExpectingFailure(d.dataDir);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^jcs-collector: .*not a database/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  console.log(`corrupt database file: exit ${r.code} after ${r.ms} ms: ${r.stderr.trim()}`);
});
