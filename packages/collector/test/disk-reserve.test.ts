import fs from 'node:fs';
import os from 'node:os';
import { ApiError } from '@jcs/protocol';
import request from 'supertest';
import { makeReport } from '../../../test-support/reports';
import { makeTestCollector } from '../../../test-support/app';
import { collectorCli, postReport, startCollector } from '../../../test-support/collector';
import {
  DEFAULT_FREE_SPACE,
  REPORT_WRITES_BYTES,
  DiskReserve,
  reserveBytes,
  type DiskSpace,
  type FreeSpaceRule,
} from '../src/ingest/disk-reserve';
import { parseFreeSpace } from '../src/commands/disk-option';
import { CommandError } from '../src/commands/output';
import { captureLog } from './helpers/log-capture';

jest.setTimeout(30_000);

const MIB = 2 ** 20;
const GIB = 2 ** 30;

describe('--min-free-disk values', () => {
  it.each([
    ['0', { bytes: 0 }],
    ['4096', { bytes: 4096 }],
    ['500M', { bytes: 500 * MIB }],
    ['2G', { bytes: 2 * GIB }],
    ['512MiB', { bytes: 512 * MIB }],
    ['1.5g', { bytes: 1.5 * GIB }],
    ['64 MB', { bytes: 64 * MIB }],
    ['1T', { bytes: 2 ** 40 }],
    ['5%', { percent: 5 }],
    ['0.5%', { percent: 0.5 }],
    ['50%', { percent: 50 }],
  ])('takes %s', (value, rule) => {
    expect(parseFreeSpace(value)).toEqual(rule);
  });

  it.each(['', 'lots', '-1', '1.5', '51%', '5 %', '2X', '1e9', '0x10', '%', 'M'])(
    'refuses %j with a usage error naming the forms it takes',
    (value) => {
      let thrown: unknown;
      try {
        parseFreeSpace(value);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(CommandError);
      expect((thrown as CommandError).exitCode).toBe(2);
      expect((thrown as Error).message).toBe(
        `--min-free-disk takes a size such as 0, 500M or 2G, or a share of the disk from 0% to 50%, not "${value}"`,
      );
    },
  );

  it('resolves a rule against the size of the disk; the default is 64 MiB, at most 2% of it but at least 8 MiB', () => {
    expect(reserveBytes({ bytes: 5 * MIB }, 100 * GIB)).toBe(5 * MIB);
    expect(reserveBytes({ percent: 5 }, 1000 * MIB)).toBe(50 * MIB);
    expect(reserveBytes(DEFAULT_FREE_SPACE, 100 * GIB)).toBe(64 * MIB);
    expect(reserveBytes(DEFAULT_FREE_SPACE, 1 * GIB)).toBe(Math.ceil(GIB * 0.02));
    // a 32 MiB tmpfs keeps 8 MiB, not twice its size, nor 656 KiB (2%), which the WAL's growth
    // between two readings ran past to a full disk
    expect(reserveBytes(DEFAULT_FREE_SPACE, 32 * MIB)).toBe(8 * MIB);
  });
});

describe('DiskReserve', () => {
  /** A disk of 10 GiB whose free space the test sets, and a clock it moves. */
  function disk(freeBytes: number) {
    const state = {
      free: freeBytes,
      now: 0,
      reads: 0,
      fail: false,
      /** runs while a reading is under way */
      during: () => undefined as void,
    };
    const statfs = async (): Promise<DiskSpace> => {
      state.reads++;
      state.during();
      if (state.fail) throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      return { bavail: state.free / 4096, blocks: (10 * GIB) / 4096, bsize: 4096 };
    };
    return { state, statfs, now: () => state.now };
  }

  const open = (
    d: ReturnType<typeof disk>,
    rule: FreeSpaceRule,
    log = captureLog(),
    onShort?: () => void,
  ) =>
    DiskReserve.open({
      dir: '/data',
      rule,
      log: log.logger,
      statfs: d.statfs,
      now: d.now,
      recheckMs: 0,
      onShort,
    });

  /**
   * What a report of `bytes` met: the check before its body, then admitting it once read, or
   * undefined when both let it in (then it is answered at once).
   */
  const refusal = (reserve: DiskReserve, bytes = 1000) => {
    try {
      reserve.refuseWhileShort();
      reserve.admit(bytes)();
    } catch (e) {
      return e;
    }
    return undefined;
  };

  it('refuses reports with 503 unavailable and a Retry-After of a minute while the disk is short, and takes them when space is freed', async () => {
    const d = disk(100 * MIB);
    const log = captureLog();
    const reserve = await open(d, { bytes: 64 * MIB }, log);
    expect(reserve.minFreeBytes).toBe(64 * MIB);
    expect(refusal(reserve)).toBeUndefined();

    d.state.free = 64 * MIB - 4096;
    await reserve.refresh();
    const e = refusal(reserve) as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(503);
    expect(e.toBody()).toEqual({
      error: {
        code: 'unavailable',
        message:
          "The collector's disk is nearly full, so it takes no reports until space is freed; nothing was stored. Retry after the delay given.",
      },
    });
    expect(e.headers).toEqual({ 'Retry-After': '60' });
    expect(reserve.isShort).toBe(true);

    d.state.free = 65 * MIB;
    await reserve.refresh();
    expect(refusal(reserve)).toBeUndefined();

    const said = log.lines().map(({ level, msg, freeBytes, minFreeBytes, refused }) => ({
      level,
      msg,
      freeBytes,
      minFreeBytes,
      refused,
    }));
    expect(said).toEqual([
      {
        level: 50,
        msg: "the data dir's disk has less free space than --min-free-disk keeps: reports are refused (503) until space is freed, so that what is left keeps erasure, expiry and triage working",
        freeBytes: 64 * MIB - 4096,
        minFreeBytes: 64 * MIB,
        refused: undefined,
      },
      {
        level: 30,
        msg: "the data dir's disk has room again: reports are taken",
        freeBytes: 65 * MIB,
        minFreeBytes: 64 * MIB,
        refused: 1,
      },
    ]);
  });

  it('refuses a body that would take the free space under the reserve, counting those the last reading may not have seen, without refusing the others', async () => {
    const d = disk(70 * MIB);
    const log = captureLog();
    const reserve = await open(d, { bytes: 64 * MIB }, log);
    // each report counts as its body and what it writes besides (its WAL pages)
    const body = 512 * 1024 - REPORT_WRITES_BYTES;
    const cost = 512 * 1024;
    // 6 MiB above the reserve: twelve such reports at once, not thirteen
    const held: (() => void)[] = [];
    for (let i = 0; i < 12; i++) held.push(reserve.admit(body));
    expect(refusal(reserve, body)).toBeInstanceOf(ApiError);
    // that one alone: a small body still fits, and nothing is refused before its body is read
    expect(reserve.isShort).toBe(false);
    expect(() => reserve.refuseWhileShort()).not.toThrow();
    expect(reserve.unseenBytes).toBe(12 * cost);
    // answered while a reading is under way: that reading may not have seen them written...
    d.state.during = () => held.forEach((done) => done());
    await reserve.refresh();
    expect(reserve.unseenBytes).toBe(12 * cost);
    expect(refusal(reserve, body)).toBeInstanceOf(ApiError);
    // ... but the next one, begun after, does
    d.state.during = () => undefined;
    d.state.free = 70 * MIB - 12 * cost + MIB;
    await reserve.refresh();
    expect(reserve.unseenBytes).toBe(0);
    expect(refusal(reserve, MIB - REPORT_WRITES_BYTES)).toBeUndefined();
    expect(refusal(reserve, MIB - REPORT_WRITES_BYTES + 1)).toBeInstanceOf(ApiError);
    expect(log.lines()).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'reports refused: stored, they would take the free space under --min-free-disk',
        refused: 1,
      }),
    ]);
  });

  it('asks for room (onShort) when a reading finds the disk short or a report is refused for want of it, at most every 10 s', async () => {
    const d = disk(70 * MIB);
    let asked = 0;
    const reserve = await open(d, { bytes: 64 * MIB }, captureLog(), () => {
      asked++;
      throw new Error('its own failure: never the reserve’s');
    });
    expect(asked).toBe(0);
    // a report that would not fit: refused, and room asked for
    expect(refusal(reserve, 7 * MIB)).toBeInstanceOf(ApiError);
    expect(asked).toBe(1);
    expect(refusal(reserve, 7 * MIB)).toBeInstanceOf(ApiError);
    expect(asked).toBe(1);
    // short at a reading: asked again only once 10 s have passed
    d.state.free = 60 * MIB;
    d.state.now = 9_999;
    await reserve.refresh();
    expect(asked).toBe(1);
    d.state.now = 10_000;
    await reserve.refresh();
    expect(asked).toBe(2);
    d.state.now = 15_000;
    await reserve.refresh();
    expect(asked).toBe(2);
    // room again: nothing asked, and reports fit
    d.state.free = 70 * MIB;
    d.state.now = 30_000;
    await reserve.refresh();
    expect(asked).toBe(2);
    expect(refusal(reserve)).toBeUndefined();
  });

  it('refuses nothing at a reserve of 0', async () => {
    const d = disk(0);
    const reserve = await open(d, { bytes: 0 });
    expect(reserve.isShort).toBe(false);
    for (let i = 0; i < 10; i++) expect(refusal(reserve, 512 * 1024)).toBeUndefined();
  });

  it('reads the free space again at once while short (at most every 20 ms), so a report sent the moment space is freed is taken', async () => {
    const d = disk(MIB);
    let syncReads = 0;
    const reserve = await DiskReserve.open({
      dir: '/data',
      rule: { bytes: 64 * MIB },
      log: captureLog().logger,
      statfs: d.statfs,
      statfsSync: () => {
        syncReads++;
        return { bavail: d.state.free / 4096, blocks: (10 * GIB) / 4096, bsize: 4096 };
      },
      now: d.now,
      recheckMs: 0,
    });
    expect(refusal(reserve)).toBeInstanceOf(ApiError);
    expect(syncReads).toBe(1);
    d.state.free = 100 * MIB;
    // within 20 ms of the last: the reading stands
    expect(refusal(reserve)).toBeInstanceOf(ApiError);
    expect(syncReads).toBe(1);
    d.state.now += 20;
    expect(refusal(reserve)).toBeUndefined();
    expect(syncReads).toBe(2);
    // not short: no reading on the request's path
    for (let i = 0; i < 10; i++) expect(refusal(reserve)).toBeUndefined();
    expect(syncReads).toBe(2);
  });

  it('acts on no reading older than 5 s (readings that hang on a network disk)', async () => {
    const d = disk(MIB);
    const reserve = await open(d, { bytes: 64 * MIB });
    expect(refusal(reserve)).toBeInstanceOf(ApiError);
    d.state.now += 5_001;
    expect(refusal(reserve)).toBeUndefined();
    await reserve.refresh();
    expect(refusal(reserve)).toBeInstanceOf(ApiError);
  });

  it('reads one at a time, and says the refusals at most once a minute with their count', async () => {
    const d = disk(MIB);
    const log = captureLog();
    const reserve = await open(d, { percent: 1 }, log);
    expect(reserve.minFreeBytes).toBe(Math.ceil((10 * GIB) / 100));
    expect(d.state.reads).toBe(1);
    for (let i = 0; i < 1000; i++) expect(refusal(reserve)).toBeInstanceOf(ApiError);
    await Promise.all([reserve.refresh(), reserve.refresh(), reserve.refresh()]);
    expect(d.state.reads).toBe(2);
    // the first line came at the first reading; the next once the minute is over
    expect(log.lines()).toHaveLength(1);
    d.state.now = 60_000;
    await reserve.refresh();
    refusal(reserve);
    expect(log.lines()).toHaveLength(2);
    expect(log.lines()[1]).toMatchObject({ level: 50, refused: 1001 });
  });

  it('reads on its own every recheckMs until closed', async () => {
    const d = disk(100 * MIB);
    const reserve = await DiskReserve.open({
      dir: '/data',
      rule: { bytes: 64 * MIB },
      log: captureLog().logger,
      statfs: d.statfs,
      recheckMs: 10,
    });
    try {
      d.state.free = MIB;
      for (let i = 0; i < 100 && !reserve.isShort; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(reserve.isShort).toBe(true);
    } finally {
      reserve.close();
    }
    const reads = d.state.reads;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(d.state.reads).toBe(reads);
  });

  it('takes reports when the free space cannot be read, says so at most once a minute, and works out the reserve once a reading succeeds', async () => {
    const d = disk(MIB);
    d.state.fail = true;
    const log = captureLog();
    const reserve = await open(d, { bytes: 64 * MIB }, log);
    expect(reserve.minFreeBytes).toBeUndefined();
    for (let i = 0; i < 10; i++) {
      await reserve.refresh();
      expect(refusal(reserve)).toBeUndefined();
    }
    const failures = log
      .lines()
      .filter((l) => String(l.msg).startsWith("the data dir's free space cannot be read"));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ level: 50, err: 'ENOENT: no such file' });
    expect(reserve.freeBytes).toBeUndefined();
    d.state.fail = false;
    await reserve.refresh();
    expect(reserve.minFreeBytes).toBe(64 * MIB);
    expect(refusal(reserve)).toBeInstanceOf(ApiError);
  });
});

describe('the disk reserve in the ingest route', () => {
  it('refuses reports while short, lets in those that fit, and lets each go once answered', async () => {
    const state = { free: 100 * MIB };
    const reserve = await DiskReserve.open({
      dir: '/data',
      rule: { bytes: 64 * MIB },
      log: captureLog().logger,
      statfs: async () => ({ bavail: state.free / 4096, blocks: (10 * GIB) / 4096, bsize: 4096 }),
      recheckMs: 0,
    });
    const t = makeTestCollector({ app: { diskReserve: reserve } });
    try {
      const post = (report = makeReport()) =>
        request(t.app)
          .post('/v1/reports')
          .set('Authorization', `Bearer ${t.tokens.ingest}`)
          .send(report);
      for (let i = 0; i < 20; i++) await post().expect(202);
      // answered: counted until a reading begun after them, then let go
      expect(reserve.unseenBytes).toBeGreaterThan(20 * 300);
      await reserve.refresh();
      expect(reserve.unseenBytes).toBe(0);
      // a body that would not fit: refused alone, nothing stored
      state.free = 64 * MIB + REPORT_WRITES_BYTES + 1000;
      await reserve.refresh();
      const big = makeReport({ error: { description: 'x'.repeat(2000) } });
      const res = await post(big).expect(503);
      expect(res.headers['retry-after']).toBe('60');
      await post().expect(202);
      // short: refused before the body is read
      state.free = 64 * MIB - 1;
      await reserve.refresh();
      await post().expect(503);
      const n = t.collector.db.prepare('SELECT COUNT(*) AS n FROM reports').get() as { n: number };
      expect(n.n).toBe(21);
    } finally {
      reserve.close();
      t.close();
    }
  });
});

describe('serve --min-free-disk', () => {
  it('refuses a bad value with exit 2 before opening anything', () => {
    const r = collectorCli(['serve', '--min-free-disk', '20 percent', '--data-dir', '/none']);
    expect(r).toMatchObject({
      status: 2,
      stdout: '',
      stderr:
        'jcs-collector: --min-free-disk takes a size such as 0, 500M or 2G, or a share of the disk from 0% to 50%, not "20 percent"\n',
    });
  });

  it('over a reserve larger than the free space: says so at start, refuses reports 503 without storing them, and still serves triage and erasure', async () => {
    const tmp = fs.statfsSync(process.env.JCS_TEST_TMP ?? os.tmpdir());
    const overFree = Math.ceil((tmp.bavail * tmp.bsize) / GIB) + 1;
    const c = await startCollector({
      serveArgs: ['--no-expiry', '--min-free-disk', `${overFree}G`],
    });
    try {
      const startLine =
        /jcs-collector: the data dir's disk has [\d.]+ [MG]iB free, under the [\d.]+ [MG]iB --min-free-disk keeps: reports are refused \(503\) until space is freed\n/;
      for (let i = 0; i < 100 && !startLine.test(c.logs()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(c.logs()).toMatch(startLine);
      const report = makeReport();
      const res = await postReport(c, report);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('60');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unavailable');
      expect((await fetch(`${c.url}/v1/health`)).status).toBe(200);

      const as = (token: string) => ({ authorization: `Bearer ${token}` });
      const groups = await fetch(`${c.url}/v1/groups?since=1d`, { headers: as(c.tokens.engineer) });
      expect(groups.status).toBe(200);
      expect(((await groups.json()) as { groups: unknown[] }).groups).toEqual([]);
      const got = await fetch(`${c.url}/v1/reports/${report.id}`, {
        headers: as(c.tokens.engineer),
      });
      expect(got.status).toBe(404);
      const erase = await fetch(`${c.url}/v1/erase`, {
        method: 'POST',
        headers: { ...as(c.tokens.admin), 'content-type': 'application/json' },
        body: JSON.stringify({ license: report.license }),
      });
      expect(erase.status).toBe(200);
      expect(await erase.json()).toEqual({ erasedReports: 0 });
    } finally {
      expect(await c.stop()).toBe(0);
    }
    expect(c.logs()).toMatch(/"minFreeBytes":\d+,"msg":"serving"/);
  });
});
