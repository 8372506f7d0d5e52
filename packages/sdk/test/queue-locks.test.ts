import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createReporter, type Diagnostic, type Reporter } from '../src';
import { DiskQueue } from '../src/queue/disk-queue';
import { publishOnce } from '../src/queue/queue-files';
import { QUEUE_KEY_FILE, loadOrCreateQueueKey } from '../src/queue/queue-key';
import { SharedFloodControl } from '../src/shared-flood';
import {
  cleanupTempDirs,
  makeReport,
  optionsFor,
  queuedReports,
  tempDir,
} from './helpers/fixtures';
import { deadEndpoint } from './helpers/host';
import { startTestServer, type TestServer } from './helpers/test-server';

/**
 * On Windows a virus scanner, a search indexer or a backup agent opens a file the queue has just
 * written, and for milliseconds to seconds renaming, deleting or opening it fails with EPERM,
 * EBUSY or EACCES. That cannot happen here: the queue's calls on the fs module are made to fail as
 * they do there (the one thing mocked; the files are real).
 */

type FsOp = 'renameSync' | 'unlinkSync' | 'openSync' | 'readFileSync' | 'linkSync' | 'rmSync';

/**
 * Makes `fs[op]` throw `code` for the calls whose path (for a rename or link, either path)
 * `match` accepts, the first `times` of them; every other call goes through. Returns the count of
 * failures made so far.
 */
function lock(
  op: FsOp,
  match: (from: string, to: string) => boolean,
  code = 'EPERM',
  times = Infinity,
): { failed: number } {
  const real = fs[op] as (...args: unknown[]) => unknown;
  const made = { failed: 0 };
  jest.spyOn(fs, op).mockImplementation(((...args: unknown[]) => {
    if (made.failed < times && match(String(args[0]), String(args[1]))) {
      made.failed++;
      throw Object.assign(new Error(`${code}: operation not permitted, ${op} '${args[0]}'`), {
        code,
        syscall: op,
      });
    }
    return real.apply(fs, args);
  }) as never);
  return made;
}

const inFolder = (folder: string) => (file: string) =>
  file.includes(`${path.sep}${folder}${path.sep}`);
const into = (folder: string) => (_from: string, to: string) => inFolder(folder)(to);
/** a claim given back: renamed from claimed/ into pending/ */
const givenBack = (from: string, to: string) =>
  inFolder('claimed')(from) && into('pending')(from, to);

function diskQueue(dir: string) {
  return new DiskQueue(
    dir,
    { maxReports: 1000, maxBytes: 20 * 1024 * 1024 },
    { onOverflow: () => undefined, onCorrupt: () => undefined },
  );
}

const open: Reporter[] = [];
const servers: TestServer[] = [];

async function onlineReporter(queueDir: string): Promise<{ r: Reporter; server: TestServer }> {
  const server = await startTestServer();
  servers.push(server);
  const r = createReporter(optionsFor(server, [], { queueDir }));
  open.push(r);
  return { r, server };
}

async function offlineReporter(queueDir: string, diagnostics: Diagnostic[]): Promise<Reporter> {
  const target = {
    url: await deadEndpoint(),
    token: 't',
    publicKey: randomBytes(32).toString('base64'),
  };
  const r = createReporter(optionsFor(target, diagnostics, { queueDir }));
  open.push(r);
  return r;
}

const input = { number: 91, description: 'x', module: 'm', procedure: 'p', line: 1 };

afterEach(async () => {
  jest.restoreAllMocks();
  for (const r of open.splice(0)) await r.close(0);
  for (const s of servers.splice(0)) await s.close();
});
afterAll(cleanupTempDirs);

describe('a report written while a lock refuses its rename into pending/', () => {
  it.each(['EPERM', 'EBUSY', 'EACCES'])('is on disk all the same (%s, three times)', (code) => {
    const dir = tempDir();
    const q = diskQueue(dir);
    const report = makeReport();
    const refused = lock('renameSync', into('pending'), code, 3);
    q.add(report);
    expect(refused.failed).toBe(3);
    jest.restoreAllMocks();
    expect(queuedReports(dir)).toEqual([report]);
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('is on disk when report() returns, and after an offline close, not in memory only', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = await offlineReporter(queueDir, diagnostics);
    lock('renameSync', into('pending'), 'EPERM', 1);
    const id = r.report(input);
    expect(queuedReports(queueDir).map((q) => q.id)).toEqual([id]);
    await r.close(0);
    expect(queuedReports(queueDir).map((q) => q.id)).toEqual([id]);
    expect(diagnostics.map((d) => d.code)).not.toContain('queue_write_failed');
  });

  it('held in memory while the lock outlasts the tries, goes to disk with the next report', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = await offlineReporter(queueDir, diagnostics);
    lock('renameSync', into('pending'), 'EBUSY', 5);
    const first = r.report(input);
    expect(diagnostics.map((d) => d.code)).toContain('queue_write_failed');
    expect(queuedReports(queueDir)).toEqual([]);
    const second = r.report({ ...input, number: 92 });
    // Both on disk now: a crash from here loses neither.
    expect(queuedReports(queueDir).map((q) => q.id)).toEqual([second, first]);
  });

  it('held in memory while the lock outlasts the tries, goes to disk at close()', async () => {
    const queueDir = tempDir();
    const diagnostics: Diagnostic[] = [];
    const r = await offlineReporter(queueDir, diagnostics);
    lock('renameSync', into('pending'), 'EBUSY', 5);
    const id = r.report(input);
    expect(queuedReports(queueDir)).toEqual([]);
    expect(await r.close(0)).toBe(false);
    expect(queuedReports(queueDir).map((q) => q.id)).toEqual([id]);
  });

  it('held in memory while the lock outlasts the tries, goes to disk at a look 10 s on', async () => {
    const queueDir = tempDir();
    const r = await offlineReporter(queueDir, []);
    lock('renameSync', into('pending'), 'EBUSY', 5);
    const id = r.report(input);
    await r.flush(50); // a look too soon: the disk is not tried again yet
    expect(queuedReports(queueDir)).toEqual([]);
    const realNow = Date.now.bind(Date);
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 10_000);
    // Looks come as the sender backs off from the dead endpoint; on a loaded machine the first
    // may take longer than one flush's second (a report being sent at a look stays in memory).
    const deadline = realNow() + 15_000;
    while (queuedReports(queueDir).length === 0 && realNow() < deadline) await r.flush(500);
    expect(queuedReports(queueDir).map((q) => q.id)).toEqual([id]);
  });
});

describe('queue.key locked for a moment at start', () => {
  it('is read all the same: the run keeps its reports on disk, not in memory', async () => {
    const queueDir = tempDir();
    await (await offlineReporter(queueDir, [])).close(0); // an earlier run made the key
    const diagnostics: Diagnostic[] = [];
    const refused = lock('readFileSync', (file) => file.endsWith('queue.key'), 'EBUSY', 1);
    const r = await offlineReporter(queueDir, diagnostics);
    expect(refused.failed).toBe(1);
    const id = r.report(input);
    expect(diagnostics.map((d) => d.code)).not.toContain('queue_unavailable');
    expect(queuedReports(queueDir).map((q) => q.id)).toEqual([id]);
  });
});

describe('a claim whose rename back into pending/ a lock refuses past the tries', () => {
  it('stays counted and goes back at the next look, rather than sit in claimed/ for the run', () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    const report = makeReport();
    q.add(report);
    const claimed = q.claimNext()!;
    const refused = lock('renameSync', givenBack, 'EPERM', 5);
    q.release(claimed.key, true);
    expect(refused.failed).toBe(5);
    expect(fs.readdirSync(path.join(dir, 'claimed'))).toHaveLength(1);
    expect(q.size()).toBe(1);
    expect(q.claimNext()!.report).toEqual(report);
    expect(fs.readdirSync(path.join(dir, 'claimed'))).toHaveLength(1);
  });

  it('keeps flush() from answering true until it has gone back and been delivered', async () => {
    const queueDir = tempDir();
    const { r, server } = await onlineReporter(queueDir);
    server.script({ status: 500 });
    lock('renameSync', givenBack, 'EPERM');
    const id = r.report(input);
    await server.waitFor(() => server.received.length === 1);
    expect(await r.flush(300)).toBe(false);
    expect(server.stored.has(id)).toBe(false);
    jest.restoreAllMocks(); // the lock goes
    expect(await r.flush(5000)).toBe(true);
    expect(server.stored.has(id)).toBe(true);
    expect(fs.readdirSync(path.join(queueDir, 'claimed'))).toEqual([]);
  });

  it('a report unreadable for a moment, claimed and refused its way back, is not lost for the run', () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    const report = makeReport();
    q.add(report);
    // past the tries: each read of the claim is refused
    lock('readFileSync', inFolder('claimed'), 'EBUSY', 5);
    const refused = lock('renameSync', givenBack, 'EBUSY', 5);
    expect(q.claimNext()).toBeNull();
    expect(refused.failed).toBe(5);
    expect(q.size()).toBe(1);
    q.close();
    expect(fs.readdirSync(path.join(dir, 'claimed'))).toEqual([]);
    expect(queuedReports(dir)).toEqual([report]);
  });
});

describe('a claimed report whose read a lock refuses for a moment', () => {
  it.each(['EPERM', 'EBUSY', 'EACCES'])(
    'is read at the next try, not given back to wait 30 s (%s)',
    (code) => {
      const dir = tempDir();
      const q = diskQueue(dir);
      const report = makeReport();
      q.add(report);
      const refused = lock('readFileSync', inFolder('claimed'), code, 2);
      const claimed = q.claimNext();
      expect(refused.failed).toBe(2);
      expect(claimed?.report).toEqual(report);
      q.close();
    },
  );
});

describe('a pending file no claim can take (a lock that stays, an ACL)', () => {
  it('is looked at again after a while, not in a loop of directory listings', async () => {
    const queueDir = tempDir();
    // A run finds one report it can never claim; another it sends.
    const locked = makeReport();
    diskQueue(queueDir).add(locked);
    lock('renameSync', (from) => inFolder('pending')(from) && from.includes(locked.id), 'EACCES');
    const listings = { pending: 0 };
    const readdir = fs.readdirSync;
    jest.spyOn(fs, 'readdirSync').mockImplementation(((dir: fs.PathLike, ...rest: unknown[]) => {
      if (String(dir).endsWith(`${path.sep}pending`)) listings.pending++;
      return (readdir as (...args: unknown[]) => unknown)(dir, ...rest);
    }) as typeof fs.readdirSync);
    const { r, server } = await onlineReporter(queueDir);
    const sent = r.report(input);
    expect(await r.flush(500)).toBe(false);
    expect(server.stored.has(sent)).toBe(true);
    expect(server.stored.has(locked.id)).toBe(false);
    // A few looks (the report, the flush, its checks), where it made thousands.
    expect(listings.pending).toBeLessThan(50);
  });
});

describe("a report held back (a flood's carrier) whose rename a lock refuses past the tries", () => {
  /** The queue's files holding `id`, by folder. */
  const filesOf = (dir: string, id: string) =>
    ['pending', 'claimed'].flatMap((folder) =>
      fs
        .readdirSync(path.join(dir, folder))
        .filter((name) => name.includes(id))
        .map(() => folder),
    );
  const renamedInClaimed = (from: string, to: string) =>
    inFolder('claimed')(from) && into('claimed')(from, to);

  it('stays held as last written: its count is written at the next try, never as a second copy', () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    const carrier = makeReport('carrier');
    const key = q.hold(carrier);
    lock('renameSync', renamedInClaimed, 'EPERM', 5);
    expect(() => q.rewriteHeld(key, { ...carrier, repeats: 5 })).toThrow(/EPERM/);
    expect(q.rewriteHeld(key, { ...carrier, repeats: 7 })).toBe(true);
    q.commitHeld(key, { ...carrier, repeats: 9 });
    expect(filesOf(dir, carrier.id)).toEqual(['pending']);
    expect(queuedReports(dir)).toEqual([{ ...carrier, repeats: 9 }]);
  });

  it('committed while the lock lasts, waits counted and goes at a later look, one copy', () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    const carrier = makeReport('carrier');
    const key = q.hold(carrier);
    lock('renameSync', renamedInClaimed, 'EBUSY', 5);
    q.commitHeld(key, { ...carrier, repeats: 9 });
    expect(filesOf(dir, carrier.id)).toEqual(['claimed']);
    expect(q.size()).toBe(1);
    expect(q.claimNext()!.report).toEqual({ ...carrier, repeats: 9 });
    expect(filesOf(dir, carrier.id)).toEqual(['claimed']);
  });

  it('committed while its rename into pending/ is refused, waits counted, one copy, never in memory', () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    const carrier = makeReport('carrier');
    const key = q.hold(carrier);
    lock('renameSync', givenBack, 'EBUSY', 5);
    expect(() => q.commitHeld(key, { ...carrier, repeats: 9 })).not.toThrow();
    expect(filesOf(dir, carrier.id)).toEqual(['claimed']);
    expect(q.size()).toBe(1);
    q.close();
    expect(queuedReports(dir)).toEqual([{ ...carrier, repeats: 9 }]);
  });

  it("reaches the next run as one report with the loop's whole count", async () => {
    const queueDir = tempDir();
    const target = {
      url: await deadEndpoint(),
      token: 't',
      publicKey: randomBytes(32).toString('base64'),
    };
    const r = createReporter(
      optionsFor(target, [], { queueDir, floodControl: { maxPerGroup: 1, windowMs: 60_000 } }),
    );
    open.push(r);
    r.report(input); // goes as itself
    let carrierId = '';
    for (let i = 0; i < 20; i++) carrierId = r.report(input); // held back, counted on the carrier
    // Every rewrite of its count refused for a while: the loop goes on meanwhile.
    const refused = lock('renameSync', renamedInClaimed, 'EPERM', 5);
    for (let i = 0; i < 30; i++) r.report(input);
    expect(refused.failed).toBe(5);
    await r.close(0);
    expect(filesOf(queueDir, carrierId)).toEqual(['pending']);
    const carrier = queuedReports(queueDir).find((q) => q.id === carrierId)!;
    expect(carrier.repeats).toBe(49);
  });
});

describe('a temp file a lock keeps from being removed once its bytes are in place', () => {
  const tempFile = (file: string) => inFolder('tmp')(file) && file.endsWith('.tmp');

  it('leaves publishing a file done: answered true, not a failure', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'tmp'));
    const target = path.join(dir, 'target');
    lock('rmSync', tempFile, 'EBUSY');
    expect(publishOnce(path.join(dir, 'tmp'), target, Buffer.from('bytes'))).toBe(true);
    expect(fs.readFileSync(target, 'utf8')).toBe('bytes');
  });

  it('leaves queue.key made at first start, rather than the queue dir off for the run', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'tmp'));
    lock('rmSync', tempFile, 'EBUSY', 1);
    const key = loadOrCreateQueueKey(dir, path.join(dir, 'tmp'));
    expect(new Uint8Array(fs.readFileSync(path.join(dir, QUEUE_KEY_FILE)))).toEqual(key);
  });

  it('does not hide why a write failed: a folder removed under the queue is made again', () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    fs.rmSync(path.join(dir, 'pending'), { recursive: true });
    lock('rmSync', tempFile, 'EBUSY', 1);
    const report = makeReport();
    q.add(report);
    expect(queuedReports(dir)).toEqual([report]);
  });

  it("keeps a jcs-report call that made its line's carrier from going out under the carrier's id", () => {
    const queueDir = path.join(tempDir(), 'queue');
    const storage = diskQueue(queueDir).floodStorage();
    const call = () =>
      new SharedFloodControl({
        maxPerGroup: 1,
        windowMs: 60_000,
        app: 'JCS',
        storage,
        diagnostic: () => undefined,
        makeCarrier: (id) => ({ ...makeReport('loop'), id }),
        now: () => 1_800_000_030_000, // mid-window
      });
    const error = { number: 8, description: 'loop', module: 'm', procedure: 'p', line: 3 };
    const occurrence = () => ({ occurredAt: new Date().toISOString(), error });
    const first = call().admit('00000000-0000-4000-8000-000000000001', occurrence());
    expect(first.held).toBe(false);
    lock('rmSync', tempFile, 'EBUSY', 1);
    const made = '00000000-0000-4000-8000-000000000002';
    // Held back on the carrier it made, not sent as itself under the id the carrier goes by:
    // that would have the collector answer the carrier 200, and drop its count.
    expect(call().admit(made, occurrence())).toEqual({ held: true, carrierId: made });
    jest.restoreAllMocks();
    expect(call().admit('00000000-0000-4000-8000-000000000003', occurrence())).toEqual({
      held: true,
      carrierId: made,
    });
  });
});

describe('a delivered report whose delete a lock refuses for a moment', () => {
  it('is deleted all the same, not left for the next run to send again', async () => {
    const queueDir = tempDir();
    const { r, server } = await onlineReporter(queueDir);
    const refused = lock('unlinkSync', inFolder('claimed'), 'EBUSY', 1);
    const id = r.report(input);
    expect(await r.flush(5000)).toBe(true);
    expect(refused.failed).toBe(1);
    expect(server.stored.has(id)).toBe(true);
    expect(fs.readdirSync(path.join(queueDir, 'claimed'))).toEqual([]);
  });
});
