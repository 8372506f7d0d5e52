/**
 * A small disk that fills up for real (a 48 MiB tmpfs; root only, skipped elsewhere). Before, the
 * WAL grew to 31 MB of the 48 (17 KB of it a report) while the 1 MiB reserve (2% of the disk) was
 * run past between two readings: after some 1,800 reports the disk was full, the checkpoint had
 * no room to copy the WAL, reports were refused for good and `serve` could not even start again.
 * Now the WAL starts over at a sixteenth of the disk, the reserve is at least 8 MiB and counts
 * what a report writes besides its body, and `serve` empties the WAL when reports are refused for
 * want of room, so it keeps taking reports as long as there is room and never fills the disk.
 */
import path from 'node:path';
import type { Report } from '@jcs/protocol';
import { collectorCli } from '../test-support/collector';
import { makeReport } from '../test-support/reports';
import { mountTmpfs, type Tmpfs } from '../test-support/tmpfs';
import {
  acknowledged,
  inspect,
  killAll,
  logLines,
  sendAll,
  serve,
  storedIds,
  type Outcome,
} from './helpers';

jest.setTimeout(240_000);

const MIB = 2 ** 20;
let disk: Tmpfs | null;
beforeAll(() => {
  disk = mountTmpfs(48);
});
afterAll(() => {
  killAll();
  disk?.unmount();
});

/** Reports of about 4 KiB (a long description), so the disk fills in seconds. */
function reports(n: number, from: number): Report[] {
  return Array.from({ length: n }, (_, i) =>
    makeReport({
      license: `JCS-${String((from + i) % 2000).padStart(6, '0')}`,
      username: `user${(from + i) % 300}`,
      error: { procedure: `Procedure${(from + i) % 50}`, description: 'd'.repeat(4000) },
    }),
  );
}

const maybe = process.platform === 'linux' && process.getuid?.() === 0 ? test : test.skip;

maybe(
  'a 48 MiB disk: reports stop at the reserve, the disk never fills, the WAL gives its space back and reports are taken again; nothing acknowledged is lost',
  async () => {
    if (!disk) {
      // root, yet no mount (a container without the right): nothing here to test with
      console.warn('tmpfs could not be mounted: the small-disk test did not run');
      return;
    }
    const dataDir = path.join(disk.dir, 'data');
    const init = collectorCli(['init', '--data-dir', dataDir]);
    expect(init.status).toBe(0);
    const token = collectorCli([
      'token',
      'create',
      '--name',
      'small',
      '--role',
      'ingest',
      '--data-dir',
      dataDir,
    ]).stdout.trim();
    const s = await serve(dataDir);

    let minFree = disk.free();
    const sampler = setInterval(() => (minFree = Math.min(minFree, disk!.free())), 20);
    const outcomes: Outcome[] = [];
    let firstRefusal = -1;
    try {
      // Until reports have been refused for want of room and then, later, taken again: the WAL
      // emptied on its own. At most some 40,000 reports (the disk holds about 10,000 of these).
      for (let round = 0; round < 20; round++) {
        const got = await sendAll(s.url, token, reports(2000, round * 2000), { concurrency: 32 });
        outcomes.push(...got);
        if (firstRefusal < 0) firstRefusal = outcomes.findIndex((o) => o.status === 503);
        const takenAgain =
          firstRefusal >= 0 && outcomes.slice(firstRefusal).some((o) => o.status === 202);
        if (takenAgain && logLines(s.stderr(), WAL_EMPTIED).length > 0) break;
      }
    } finally {
      clearInterval(sampler);
    }

    // Every answer is a 202 or the reserve's 503, with its Retry-After: no 500, no reset.
    for (const o of outcomes) {
      expect([202, 503]).toContain(o.status);
      if (o.status === 503) {
        expect(o.errorCode).toBe('unavailable');
        expect(Number(o.retryAfter)).toBeGreaterThan(0);
      }
    }
    expect(firstRefusal).toBeGreaterThan(0);
    // taken again after the first refusal, with no space freed by hand
    expect(outcomes.slice(firstRefusal).filter((o) => o.status === 202).length).toBeGreaterThan(0);
    const emptied = logLines(s.stderr(), WAL_EMPTIED);
    expect(emptied.length).toBeGreaterThan(0);
    expect(emptied[0].freedBytes).toBeGreaterThan(MIB);
    // The disk never filled: the reserve held, give or take what a reading may not have seen.
    expect(minFree).toBeGreaterThan(2 * MIB);
    expect(logLines(s.stderr(), 'storage refused a batch')).toEqual([]);

    s.signal('SIGTERM');
    expect(await s.exited).toBe(0);
    const dbFile = path.join(dataDir, 'collector.db');
    const accepted = outcomes.filter(acknowledged).map((o) => o.id);
    expect(storedIds(dbFile, accepted).size).toBe(accepted.length);
    const after = inspect(dbFile);
    expect(after.integrity).toBe('ok');
    expect(after.count).toBe(accepted.length);
    // ... and it starts again on that disk.
    const again = await serve(dataDir);
    again.signal('SIGTERM');
    expect(await again.exited).toBe(0);
  },
);

const WAL_EMPTIED = 'the WAL was emptied to give its space back to the short disk';
