import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeReport } from '../../../test-support/reports';
import {
  collectorCli,
  makeTempDir,
  postReport,
  startCollector,
  type RunningCollector,
} from '../../../test-support/collector';

// A real full disk: a small tmpfs, mounted for this file. Mounting needs root (CI and this
// machine run as root); elsewhere the test says why it did not run, rather than pass unseen.
jest.setTimeout(60_000);

const MOUNT = makeTempDir('jcs-disk-');
const asRoot = process.getuid?.() === 0;
if (!asRoot) console.warn(`serve-disk-full: not run: mounting a tmpfs needs root`);
const test = asRoot ? it : it.skip;
let mounted = false;

// Mounted in beforeAll, not as the file loads: Jest runs neither hook in a file whose tests a
// -t filter skips, and a mount made at load then outlived the run.
beforeAll(() => {
  if (!asRoot) return;
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=32m,mode=0700', 'tmpfs', MOUNT]);
  if (r.status !== 0) throw new Error(`cannot mount a tmpfs at ${MOUNT}: ${String(r.stderr)}`);
  mounted = true;
});

const dataDir = path.join(MOUNT, 'data');
const filler = path.join(MOUNT, 'filler');
let c: RunningCollector | undefined;

afterAll(async () => {
  await c?.kill();
  if (mounted) spawnSync('umount', ['-l', MOUNT]);
});

/** Bytes still free on the tmpfs. */
function free(): number {
  const s = fs.statfsSync(MOUNT);
  return s.bavail * s.bsize;
}

/** Grows the filler file until only `leave` bytes are free. */
function fillLeaving(leave: number): void {
  const fd = fs.openSync(filler, 'a');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    while (free() > leave) {
      fs.writeSync(fd, chunk, 0, Math.min(chunk.length, free() - leave));
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    fs.closeSync(fd);
  }
}

const post = (report = makeReport()) => postReport(c!, report);

describe('serve on a full disk (tmpfs)', () => {
  test('starts with a few MiB free, answers 503 when the disk fills, resumes when freed, and a start on a full disk fails in one clear line', async () => {
    // init, then leave 6 MiB: less than the 16 MiB the inbox's WAL is written ahead with
    expect(collectorCli(['init', '--data-dir', dataDir]).status).toBe(0);
    fs.rmSync(dataDir, { recursive: true });
    // No reserve: this is SQLite's own full disk (the reserve is the next test's).
    c = await startCollector({ dataDir, serveArgs: ['--no-expiry', '--min-free-disk', '0'] });
    await c.stop();
    fillLeaving(6 << 20);
    await c.restart();
    const first = makeReport();
    expect((await post(first)).status).toBe(202);

    // full: refused with 503 and Retry-After, nothing half-stored, the server still serving
    fillLeaving(0);
    // The first few may still fit in pages the WAL has left: `refused` is the one that did not.
    let refused = makeReport();
    let res = await post(refused);
    for (let i = 0; i < 20 && res.status === 202; i++) res = await post((refused = makeReport()));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unavailable');
    expect((await fetch(`${c.url}/v1/health`)).status).toBe(200);

    // freed: the same report is taken, and the first one is still there
    fs.rmSync(filler);
    expect((await post(refused)).status).toBe(202);
    expect((await post(first)).status).toBe(200);
    expect(await c.stop()).toBe(0);

    // a start on a disk with no room at all: exit 1, one line saying what to do
    fillLeaving(0);
    const r = collectorCli(['serve', '--port', '0', '--no-expiry', '--data-dir', dataDir]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    // SQLite calls it "database or disk is full" or, when its -shm file cannot grow, an I/O error
    expect(r.stderr).toMatch(
      /^jcs-collector: the disk (is full: free some space and|reported an I\/O error: check that it has free space and works, then) run again \(.*\)\n$/,
    );
    fs.rmSync(filler);
  });

  test('init on a full disk fails in one line and leaves nothing, so that init works once there is room', () => {
    const fresh = path.join(MOUNT, 'fresh');
    fillLeaving(0);
    const r = collectorCli(['init', '--data-dir', fresh]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^jcs-collector: the disk (is full|reported an I\/O error)/);
    // Before: an empty collector.db was left, and the next init said to restore the keys folder.
    expect(fs.existsSync(fresh)).toBe(false);
    fs.rmSync(filler);
    expect(collectorCli(['init', '--data-dir', fresh]).status).toBe(0);
  });

  test('keeps --min-free-disk free: refuses reports 503 with Retry-After 60 while the disk is short, lets erasure through, and takes them again once space is freed', async () => {
    for (const dir of ['data', 'fresh'])
      fs.rmSync(path.join(MOUNT, dir), { recursive: true, force: true });
    if (fs.existsSync(filler)) fs.rmSync(filler);
    const reserveDir = path.join(MOUNT, 'reserve');
    c = await startCollector({
      dataDir: reserveDir,
      serveArgs: ['--no-expiry', '--min-free-disk', '8M'],
    });
    const first = makeReport();
    expect((await post(first)).status).toBe(202);

    fillLeaving(5 << 20);
    let refused = makeReport();
    let res = await post(refused);
    // the free space is read every 250 ms
    for (let i = 0; i < 40 && res.status === 202; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      res = await post((refused = makeReport()));
    }
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('60');
    expect(await res.json()).toEqual({
      error: {
        code: 'unavailable',
        message:
          "The collector's disk is nearly full, so it takes no reports until space is freed; nothing was stored. Retry after the delay given.",
      },
    });
    await logged(/"msg":"the data dir's disk has less free space than --min-free-disk keeps/);

    // what the reserve is for: an erasure, and its access-log entry
    const admin = { authorization: `Bearer ${c.tokens.admin}` };
    const erase = await fetch(`${c.url}/v1/erase`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ license: first.license }),
    });
    expect(erase.status).toBe(200);
    expect(
      ((await erase.json()) as { erasedReports: number }).erasedReports,
    ).toBeGreaterThanOrEqual(1);
    const audit = (await (await fetch(`${c.url}/v1/audit?limit=5`, { headers: admin })).json()) as {
      entries: { action: string; outcome: string }[];
    };
    expect(audit.entries.map((e) => e.action)).toContain('erase');

    // taken the moment space is freed: the free space is read again before a refusal
    fs.rmSync(filler);
    res = await post(refused);
    expect(res.status).toBe(202);
    await logged(/"refused":\d+,"msg":"the data dir's disk has room again: reports are taken"/);
    expect(await c.stop()).toBe(0);
  });

  test('holds the reserve against a rush of large reports sent at once', async () => {
    c = await startCollector({
      dataDir: path.join(MOUNT, 'rush'),
      serveArgs: ['--no-expiry', '--min-free-disk', '8M'],
    });
    fillLeaving(12 << 20);
    // the free space is read every 250 ms: this rush is the reports' own, not a filler's
    await new Promise((resolve) => setTimeout(resolve, 400));
    // 24 reports of some 340 KB at once: 8 MiB of them, where 4 MiB are above the reserve
    const big = () =>
      makeReport({
        dump: {
          alg: 'x25519-xsalsa20-poly1305',
          keyId: c!.keyId,
          epk: Buffer.alloc(32).toString('base64'),
          nonce: Buffer.alloc(24).toString('base64'),
          ciphertext: Buffer.alloc(250 * 1024, 7).toString('base64'),
        },
      });
    let lowest = free();
    const watch = setInterval(() => (lowest = Math.min(lowest, free())), 2);
    const statuses = await Promise.all(
      Array.from({ length: 24 }, () => post(big()).then((r) => r.status)),
    );
    clearInterval(watch);
    lowest = Math.min(lowest, free());
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 503 && s !== 202)).toEqual([]);
    // Within the reserve, give or take the WAL's pages for what was taken
    expect(lowest).toBeGreaterThan(7 << 20);
    expect(c.logs()).not.toMatch(/storage refused/);
    expect(await c.stop()).toBe(0);
    fs.rmSync(filler);
  });
});

/** The log is written asynchronously: waits (up to 5 s) for a line matching `pattern`. */
async function logged(pattern: RegExp): Promise<void> {
  for (let i = 0; i < 100 && !pattern.test(c!.logs()); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(c!.logs()).toMatch(pattern);
}
