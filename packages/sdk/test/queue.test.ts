import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Report } from '@jcs/protocol';
import { DiskQueue } from '../src/queue/disk-queue';
import { MemoryQueue } from '../src/queue/memory-queue';
import { SEALED_MAGIC } from '../src/queue/sealed-file';
import { SHED_DUMP_MAX_TRIES, SHED_DUMP_MIN_BYTES } from '../src/queue/types';
import {
  cleanupTempDirs,
  makeReport,
  pendingFiles,
  readAllFiles,
  tempDir,
} from './helpers/fixtures';

const SEALED_OVERHEAD = SEALED_MAGIC.length + 24 + 16;

const bounds = { maxReports: 1000, maxBytes: 20 * 1024 * 1024 };

/** A report carrying a sealed dump of `bytes` bytes: large enough for a full queue to shed. */
function withDump(bytes = 24 * 1024): Report {
  const b64 = (n: number) => Buffer.alloc(n, 7).toString('base64');
  return {
    ...makeReport(),
    dump: {
      alg: 'x25519-xsalsa20-poly1305',
      keyId: 'k1',
      epk: b64(32),
      nonce: b64(24),
      ciphertext: b64(bytes),
    },
  };
}

function diskQueue(dir: string, overflow: string[] = [], corrupt: string[] = [], b = bounds) {
  return new DiskQueue(dir, b, {
    onOverflow: (id) => overflow.push(id),
    onCorrupt: (name) => corrupt.push(name),
  });
}

afterAll(cleanupTempDirs);

/** How many queue files `run` reads (opens to look into). */
function countReads(run: () => void): number {
  const read = fs.readFileSync;
  let reads = 0;
  const spy = jest.spyOn(fs, 'readFileSync').mockImplementation(((
    file: fs.PathOrFileDescriptor,
    ...rest: unknown[]
  ) => {
    if (/\.sealed(~|$)/.test(String(file))) reads++;
    return (read as (...args: unknown[]) => unknown)(file, ...rest);
  }) as typeof fs.readFileSync);
  try {
    run();
  } finally {
    spy.mockRestore();
  }
  return reads;
}

describe('DiskQueue', () => {
  it('writes whole files through tmp/ and hands them out oldest first, once', () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    const reports = [makeReport('a'), makeReport('b'), makeReport('c')];
    for (const r of reports) q.add(r);
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual([]);
    expect(pendingFiles(dir)).toHaveLength(3);
    expect(q.size()).toBe(3);
    const claimed = [q.claimNext()!, q.claimNext()!, q.claimNext()!];
    expect(q.claimNext()).toBeNull();
    expect(claimed.map((c) => c.report)).toEqual(reports);
    expect(pendingFiles(dir)).toEqual([]);
    q.remove(claimed[0].key);
    q.release(claimed[1].key);
    q.replace(claimed[2].key, { ...claimed[2].report, dumpWithheld: 'too-large' });
    expect(q.size()).toBe(2);
    expect(q.claimNext()!.report).toEqual(reports[1]);
    expect(q.claimNext()!.report).toEqual({ ...reports[2], dumpWithheld: 'too-large' });
  });

  it('leaves a file it cannot read now in pending/, untouched, not moved to corrupt/', () => {
    // A Windows virus scanner's lock (EBUSY) cannot happen on Linux, nor EACCES for root: the
    // read of that one file is made to fail as they do.
    const dir = tempDir();
    const unreadable: string[] = [];
    const corrupt: string[] = [];
    const q = new DiskQueue(dir, bounds, {
      onOverflow: () => undefined,
      onCorrupt: (name) => corrupt.push(name),
      onUnreadable: (name) => unreadable.push(name),
    });
    const [a, b] = [makeReport('a'), makeReport('b')];
    q.add(a);
    q.add(b);
    const bFile = pendingFiles(dir).find((f) => f.includes(b.id))!;
    const bBytes = fs.readFileSync(path.join(dir, 'pending', bFile));
    const read = fs.readFileSync;
    const spy = jest.spyOn(fs, 'readFileSync').mockImplementation(((
      file: fs.PathOrFileDescriptor,
      ...rest: unknown[]
    ) => {
      if (String(file).includes(b.id)) {
        throw Object.assign(new Error('EBUSY: resource busy or locked'), { code: 'EBUSY' });
      }
      return (read as (...args: unknown[]) => unknown)(file, ...rest);
    }) as typeof fs.readFileSync);
    try {
      expect(q.claimNext()!.report).toEqual(a);
      expect(q.claimNext()).toBeNull();
      expect(unreadable).toEqual([bFile]);
      expect(corrupt).toEqual([]);
      // Still queued; not tried again at once.
      expect(pendingFiles(dir)).toEqual([bFile]);
      expect(q.claimNext()).toBeNull();
      expect(q.size()).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(fs.readFileSync(path.join(dir, 'pending', bFile))).toEqual(bBytes);
    expect(fs.readdirSync(path.join(dir, 'corrupt'))).toEqual([]);
    // Readable again (the next run, or 30 s on): delivered as it was.
    expect(diskQueue(dir).claimNext()!.report).toEqual(b);
  });

  it('keeps reports across instances (a restart)', () => {
    const dir = tempDir();
    const r = makeReport();
    diskQueue(dir).add(r);
    expect(diskQueue(dir).claimNext()!.report).toEqual(r);
  });

  it('drops the oldest beyond maxReports and maxBytes, saying so', () => {
    const dir = tempDir();
    const overflow: string[] = [];
    const q = diskQueue(dir, overflow, [], { maxReports: 3, maxBytes: 1024 * 1024 });
    const reports = Array.from({ length: 5 }, () => makeReport());
    for (const r of reports) q.add(r);
    expect(overflow).toEqual([reports[0].id, reports[1].id]);
    expect(q.size()).toBe(3);

    const dir2 = tempDir();
    const overflow2: string[] = [];
    // The bound counts the sealed files: each report's JSON plus magic, nonce and MAC.
    const size = Buffer.byteLength(JSON.stringify(makeReport())) + SEALED_OVERHEAD;
    const q2 = diskQueue(dir2, overflow2, [], { maxReports: 100, maxBytes: size * 2 + 10 });
    const more = Array.from({ length: 4 }, () => makeReport());
    for (const r of more) q2.add(r);
    expect(overflow2).toEqual([more[0].id, more[1].id]);
    expect(q2.size()).toBe(2);
  });

  it('sheds the oldest dumps before it drops any report for bytes', () => {
    const dir = tempDir();
    const overflow: string[] = [];
    const shed: string[] = [];
    const size = Buffer.byteLength(JSON.stringify(withDump())) + SEALED_OVERHEAD;
    const b = { maxReports: 100, maxBytes: Math.floor(size * 3.5) };
    const q = new DiskQueue(dir, b, {
      onOverflow: (id) => overflow.push(id),
      onDumpShed: (id) => shed.push(id),
      onCorrupt: () => undefined,
    });
    const reports = Array.from({ length: 5 }, () => withDump());
    for (const r of reports) q.add(r);
    expect(overflow).toEqual([]);
    expect(shed).toEqual([reports[0].id, reports[1].id]);
    const sent = Array.from({ length: 5 }, () => q.claimNext()!.report);
    expect(q.claimNext()).toBeNull();
    const { dump: _0, ...first } = reports[0];
    const { dump: _1, ...second } = reports[1];
    expect(sent).toEqual([
      { ...first, dumpWithheld: 'too-large' },
      { ...second, dumpWithheld: 'too-large' },
      ...reports.slice(2),
    ]);
  });

  /** A report with no dump of some 24 KiB (the longest text fields allowed): a full queue opens it. */
  const bigPlain = (): Report => {
    const r = makeReport('€'.repeat(4096));
    return { ...r, error: { ...r.error, code: '€'.repeat(4096) } };
  };
  const sizeOf = (r: Report) => Buffer.byteLength(JSON.stringify(r)) + SEALED_OVERHEAD;

  function shedding(dir: string, maxBytes: number) {
    const log = { overflow: [] as string[], shed: [] as string[] };
    const q = new DiskQueue(
      dir,
      { maxReports: 100, maxBytes },
      {
        onOverflow: (id) => log.overflow.push(id),
        onDumpShed: (id) => log.shed.push(id),
        onCorrupt: () => undefined,
      },
    );
    return { q, log };
  }

  it('opens large reports without a dump to look, puts them back as they were, in order, and drops the oldest when nothing else makes room', () => {
    const dir = tempDir();
    const plain = Array.from({ length: 4 }, bigPlain);
    expect(sizeOf(plain[0])).toBeGreaterThanOrEqual(SHED_DUMP_MIN_BYTES);
    const maxBytes = sizeOf(plain[0]) * 3 + 10;
    // An earlier run queued three: this run knows nothing of them, and opens them.
    const earlier = shedding(dir, maxBytes);
    for (const r of plain.slice(0, 3)) earlier.q.add(r);
    const before = pendingFiles(dir).map((name) =>
      fs.readFileSync(path.join(dir, 'pending', name)),
    );
    const { q, log } = shedding(dir, maxBytes);
    const opened = countReads(() => q.add(plain[3]));
    expect(opened).toBe(3);
    expect(log).toEqual({ overflow: [plain[0].id], shed: [] });
    const after = pendingFiles(dir).map((name) => fs.readFileSync(path.join(dir, 'pending', name)));
    expect(after.slice(0, 2)).toEqual(before.slice(1));
    expect([q.claimNext()!.report, q.claimNext()!.report, q.claimNext()!.report]).toEqual(
      plain.slice(1),
    );
    expect(q.claimNext()).toBeNull();
  });

  it(`opens at most ${SHED_DUMP_MAX_TRIES} reports for one added, and passes by those it knows hold no dump`, () => {
    const dir = tempDir();
    const plain = Array.from({ length: SHED_DUMP_MAX_TRIES + 2 }, bigPlain);
    const dumps = [withDump(), withDump()];
    const all = [...plain, ...dumps];
    const maxBytes = all.reduce((n, r) => n + sizeOf(r), 0) + 10;
    const earlier = shedding(dir, maxBytes);
    for (const r of all) earlier.q.add(r);
    const { q, log } = shedding(dir, maxBytes);
    // An earlier run's reports: the first added opens as many as it may, finds no dump among
    // them, and drops the oldest whole.
    const first = makeReport();
    expect(countReads(() => q.add(first))).toBe(SHED_DUMP_MAX_TRIES);
    expect(log).toEqual({ overflow: [plain[0].id], shed: [] });
    // The next opens only the two it does not know yet, then the dump behind them.
    const next = withDump();
    expect(countReads(() => q.add(next))).toBe(3);
    expect(log).toEqual({ overflow: [plain[0].id], shed: [dumps[0].id] });
    const sent = Array.from({ length: all.length + 1 }, () => q.claimNext()!.report);
    expect(q.claimNext()).toBeNull();
    const { dump: _d, ...shed } = dumps[0];
    expect(sent).toEqual([
      ...plain.slice(1),
      { ...shed, dumpWithheld: 'too-large' },
      dumps[1],
      first,
      next,
    ]);
  });

  it('never spends its tries on large reports it wrote without a dump', () => {
    const dir = tempDir();
    const plain = Array.from({ length: SHED_DUMP_MAX_TRIES }, bigPlain);
    const dumps = Array.from({ length: 4 }, () => withDump());
    // One dump shed makes room for another report with one.
    const maxBytes = [...plain, ...dumps].reduce((n, r) => n + sizeOf(r), 0) + 1000;
    const { q, log } = shedding(dir, maxBytes);
    for (const r of [...plain, ...dumps]) q.add(r);
    expect(countReads(() => q.add(withDump()))).toBe(1);
    expect(log).toEqual({ overflow: [], shed: [dumps[0].id] });
  });

  it('puts a report back as it was when its rewrite without the dump fails (a full disk)', () => {
    const dir = tempDir();
    const reports = Array.from({ length: 3 }, () => withDump());
    const { q, log } = shedding(dir, Math.floor(sizeOf(reports[0]) * 2.5));
    q.add(reports[0]);
    q.add(reports[1]);
    const write = fs.writeFileSync;
    let full = true; // the rewrite is the first write; the new report's file, the second
    const spy = jest.spyOn(fs, 'writeFileSync').mockImplementation(((...args: unknown[]) => {
      if (full) {
        full = false;
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      }
      return (write as (...a: unknown[]) => unknown)(...args);
    }) as typeof fs.writeFileSync);
    try {
      q.add(reports[2]);
    } finally {
      spy.mockRestore();
    }
    expect(full).toBe(false);
    // Nothing left claimed: the rest of the room was made as when no dump can go.
    expect(fs.readdirSync(path.join(dir, 'claimed'))).toEqual([]);
    expect(log).toEqual({ overflow: [reports[0].id], shed: [] });
    expect(q.size()).toBe(2);
    expect([q.claimNext()!.report, q.claimNext()!.report]).toEqual(reports.slice(1));
  });

  it('moves corrupt files aside and carries on', () => {
    const dir = tempDir();
    const corrupt: string[] = [];
    const q = diskQueue(dir, [], corrupt);
    const good = makeReport();
    q.add(good);
    const id = randomUUID();
    fs.writeFileSync(path.join(dir, 'pending', `0000000000001-000001-${id}-10.json`), '{not json');
    fs.writeFileSync(
      path.join(dir, 'pending', `0000000000002-000001-${randomUUID()}-10.json`),
      JSON.stringify({ schema: 1, bogus: true }),
    );
    fs.writeFileSync(path.join(dir, 'pending', 'stray.json'), '{}');
    expect(q.claimNext()!.report).toEqual(good);
    expect(q.claimNext()).toBeNull();
    expect(corrupt).toHaveLength(3);
    expect(fs.readdirSync(path.join(dir, 'corrupt'))).toHaveLength(3);
  });

  it('names a file it moves to corrupt/ <time>-<its name>, ending in .sealed once', () => {
    const dir = tempDir();
    const corrupt: string[] = [];
    const q = diskQueue(dir, [], corrupt);
    const cut = `0000000000001-000001-${randomUUID()}-60.sealed`;
    fs.writeFileSync(
      path.join(dir, 'pending', cut),
      Buffer.concat([SEALED_MAGIC, Buffer.alloc(9)]),
    );
    fs.writeFileSync(path.join(dir, 'pending', 'stray.json'), '{}');
    expect(q.claimNext()).toBeNull();
    expect(corrupt.sort()).toEqual([cut, 'stray.json']);
    // each is named by the time it was moved, then by its own name
    const kept = fs.readdirSync(path.join(dir, 'corrupt')).map((n) => n.replace(/^\d+-/, ''));
    expect(kept.sort()).toEqual([cut, 'stray.json.sealed']);
  });

  it('never follows a symbolic link in the queue, and leaves folders alone', () => {
    const dir = tempDir();
    const corrupt: string[] = [];
    const q = diskQueue(dir, [], corrupt);
    const outside = path.join(tempDir(), 'secret.txt');
    fs.writeFileSync(outside, "not the queue's to read");
    const linked = `0000000000001-000001-${randomUUID()}-23.sealed`;
    fs.symlinkSync(outside, path.join(dir, 'pending', linked));
    fs.mkdirSync(path.join(dir, 'pending', 'a-folder'));
    const good = makeReport();
    q.add(good);
    expect(q.claimNext()!.report).toEqual(good);
    expect(q.claimNext()).toBeNull();
    expect(corrupt).toEqual([linked]);
    // The link is gone, its target untouched and not copied: corrupt/ keeps only what it could
    // read as a file of its own, and a link is not one.
    expect(fs.readFileSync(outside, 'utf8')).toBe("not the queue's to read");
    expect(fs.readdirSync(path.join(dir, 'corrupt'))).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'pending'))).toEqual(['a-folder']);
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('keeps a Retry-After for the next process; clearing forgets only a wait that is over', () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    expect(q.waitUntil()).toBe(0);
    const now = Date.now();
    q.setWaitUntil(now + 60_000);
    // Another process sharing the dir, just delivered: the wait it would clear is not over.
    diskQueue(dir).clearWaitUntil(now);
    expect(q.waitUntil()).toBe(now + 60_000);
    // a wait further off than any Retry-After kept (the clock was set back) is cleared too
    q.clearWaitUntil(now, 3_600_000);
    expect(q.waitUntil()).toBe(now + 60_000);
    q.setWaitUntil(now + 2 * 86_400_000);
    q.clearWaitUntil(now, 3_600_000);
    expect(q.waitUntil()).toBe(0);
    q.setWaitUntil(now + 60_000);
    q.clearWaitUntil(now + 60_000);
    expect(q.waitUntil()).toBe(0);
    expect(fs.existsSync(path.join(dir, 'retry-after'))).toBe(false);
  });

  it('takes back claims of a dead process, but not of a live one', () => {
    const dir = tempDir();
    const a = diskQueue(dir);
    a.add(makeReport('held by a live process'));
    a.add(makeReport('held by a dead process'));
    const live = a.claimNext()!;
    const dead = a.claimNext()!;
    // Rename the second claim as if a process that no longer exists held it.
    const claimed = path.join(dir, 'claimed');
    const deadName = fs.readdirSync(claimed).find((n) => n.startsWith(dead.key.split('~')[0]))!;
    const parts = deadName.split('~');
    fs.renameSync(
      path.join(claimed, deadName),
      path.join(claimed, [parts[0], '999999', 'dead', parts[3]].join('~')),
    );
    const b = diskQueue(dir);
    const recovered = b.claimNext()!;
    expect(recovered.report.error.description).toBe('held by a dead process');
    expect(b.claimNext()).toBeNull();
    expect(live.report.error.description).toBe('held by a live process');
  });

  it('takes back claims made under this pid by an earlier process (sandboxes reuse pids)', () => {
    const dir = tempDir();
    const a = diskQueue(dir);
    a.add(makeReport('held by the process that had this pid before'));
    const gone = a.claimNext()!;
    const claimed = path.join(dir, 'claimed');
    const name = fs.readdirSync(claimed).find((n) => n.startsWith(gone.key.split('~')[0]))!;
    const parts = name.split('~');
    expect(parts[1]).toBe(String(process.pid));
    // The same pid, but a process that started an hour before this one.
    const earlier = Math.round(Date.now() - process.uptime() * 1000) - 3_600_000;
    const instance = `${earlier.toString(16).padStart(12, '0')}deadbeef`;
    fs.renameSync(
      path.join(claimed, name),
      path.join(claimed, [parts[0], parts[1], instance, parts[3]].join('~')),
    );
    const b = diskQueue(dir);
    expect(b.size()).toBe(1);
    const back = b.claimNext()!;
    expect(back.report.error.description).toBe('held by the process that had this pid before');

    // The same by an SDK version before claims carried the start (8 hex digits): not this one's.
    b.release(back.key);
    const again = b.claimNext()!;
    const name2 = fs.readdirSync(claimed).find((n) => n.startsWith(again.key.split('~')[0]))!;
    const p2 = name2.split('~');
    fs.renameSync(
      path.join(claimed, name2),
      path.join(claimed, [p2[0], p2[1], 'deadbeef', p2[3]].join('~')),
    );
    expect(diskQueue(dir).claimNext()!.report.error.description).toBe(
      'held by the process that had this pid before',
    );
  });

  it('holds a report back: on disk at once, sent by no one meanwhile, rewritten, committed once', () => {
    const dir = tempDir();
    const claimed = path.join(dir, 'claimed');
    const a = diskQueue(dir);
    const carrier = makeReport('carrier');
    const key = a.hold(carrier);
    expect(fs.readdirSync(claimed)).toHaveLength(1);
    expect(fs.readdirSync(claimed)[0]).toContain(`${carrier.id}-`);
    expect(pendingFiles(dir)).toEqual([]);
    // Not waiting to be sent: neither this instance nor another (its holder lives) hands it out.
    expect(a.size()).toBe(0);
    expect(a.claimNext()).toBeNull();
    expect(diskQueue(dir).claimNext()).toBeNull();
    a.close();
    expect(fs.readdirSync(claimed)).toHaveLength(1);

    expect(a.rewriteHeld(key, { ...carrier, repeats: 5 })).toBe(true);
    expect(fs.readdirSync(claimed)).toHaveLength(1);
    a.commitHeld(key, { ...carrier, repeats: 9 });
    expect(fs.readdirSync(claimed)).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'tmp'))).toEqual([]);
    const b = diskQueue(dir);
    expect(b.claimNext()!.report).toEqual({ ...carrier, repeats: 9 });
    expect(b.claimNext()).toBeNull();
  });

  it('holds a report while it waits or any instance sharing the folder claims it', () => {
    const dir = tempDir();
    const [mine, other] = [makeReport('mine'), makeReport('other')];
    const a = diskQueue(dir);
    expect(a.holds(mine.id)).toBe(false);
    a.add(mine);
    expect(a.holds(mine.id)).toBe(true);
    expect(a.holds(other.id)).toBe(false);
    // Claimed by another sender sharing the folder (another jcs-report run): still here.
    const b = diskQueue(dir);
    const claimed = b.claimNext()!;
    expect(claimed.report.id).toBe(mine.id);
    expect(a.holds(mine.id)).toBe(true);
    // Delivered by that sender: gone for everyone.
    b.remove(claimed.key);
    expect(a.holds(mine.id)).toBe(false);
    // A report held back for flood control is here too.
    a.hold(other);
    expect(b.holds(other.id)).toBe(true);
  });

  it('gives a held report of a dead process back to the senders, as it was last written', () => {
    const dir = tempDir();
    const claimed = path.join(dir, 'claimed');
    const carrier = makeReport('carrier');
    const a = diskQueue(dir);
    a.rewriteHeld(a.hold(carrier), { ...carrier, repeats: 3 });
    const [name] = fs.readdirSync(claimed);
    const parts = name.split('~');
    fs.renameSync(
      path.join(claimed, name),
      path.join(claimed, [parts[0], '999999', 'dead', parts[3]].join('~')),
    );
    const b = diskQueue(dir);
    expect(b.claimNext()!.report).toEqual({ ...carrier, repeats: 3 });
  });

  it('never hands the same report to two processes sharing the directory', async () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    const ids = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const r = makeReport();
      ids.add(r.id);
      q.add(r);
    }
    // Two real processes race to claim everything, starting at the same moment.
    const startAt = Date.now() + 1500;
    const script = `
      const { DiskQueue } = require(${JSON.stringify(path.join(__dirname, '../dist/queue/disk-queue.js'))});
      const q = new DiskQueue(process.argv[1], { maxReports: 1000, maxBytes: 1e9 }, { onOverflow() {}, onCorrupt() {} });
      const wait = ${startAt} - Date.now();
      if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
      const got = [];
      for (let c; (c = q.claimNext()); ) { got.push(c.report.id); q.remove(c.key); }
      process.stdout.write(JSON.stringify(got));
    `;
    const run = () =>
      new Promise<string[]>((resolve, reject) => {
        const child = spawn(process.execPath, ['-e', script, dir]);
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('error', reject);
        // 'close', not 'exit': output can still be in the pipe when the process has exited.
        child.on('close', () => resolve(JSON.parse(out)));
        child.stderr.pipe(process.stderr);
      });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a.length + b.length).toBe(100);
    expect(new Set([...a, ...b])).toEqual(ids);
    expect(pendingFiles(dir)).toEqual([]);
  }, 20_000);

  it('makes its folder again when it is removed while in use, under the same key', () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    q.add(makeReport('before'));
    const key = fs.readFileSync(path.join(dir, 'queue.key'));
    fs.rmSync(dir, { recursive: true });
    const after = makeReport('after');
    q.add(after); // was: ENOENT, and the reporter kept the rest of the run's reports in memory
    expect(fs.readFileSync(path.join(dir, 'queue.key'))).toEqual(key);
    if (process.platform !== 'win32') {
      for (const d of ['', 'pending', 'claimed', 'tmp']) {
        expect(fs.statSync(path.join(dir, d)).mode & 0o077).toBe(0);
      }
    }
    // The next process opens it; what went with the folder is gone.
    const next = diskQueue(dir);
    expect(next.claimNext()!.report).toEqual(after);
    expect(next.claimNext()).toBeNull();

    // Held reports too, and with the host's key no key file is made.
    const hostKey = new Uint8Array(32).fill(7);
    const events = { onOverflow: () => undefined, onCorrupt: () => undefined };
    const dir2 = tempDir();
    const q2 = new DiskQueue(dir2, bounds, events, hostKey);
    fs.rmSync(dir2, { recursive: true });
    const held = makeReport('held');
    const key2 = q2.hold(held);
    q2.commitHeld(key2, held);
    expect(fs.existsSync(path.join(dir2, 'queue.key'))).toBe(false);
    expect(new DiskQueue(dir2, bounds, events, hostKey).claimNext()!.report).toEqual(held);
  });

  it('seals with the key another process published when it made the folder again first', () => {
    const dir = tempDir();
    const q = diskQueue(dir);
    fs.rmSync(dir, { recursive: true });
    // Another process started meanwhile, made the folder again and a key of its own.
    const other = diskQueue(dir);
    const r = makeReport('raced');
    q.add(r); // was: sealed under the old key, which the other process moves to corrupt/
    const corrupt: string[] = [];
    expect(other.claimNext()!.report).toEqual(r);
    expect(diskQueue(dir, [], corrupt).claimNext()).toBeNull();
    expect(corrupt).toEqual([]);

    // queue.key alone removed: published again under the key the queue seals with.
    const dir2 = tempDir();
    const q2 = diskQueue(dir2);
    const key = fs.readFileSync(path.join(dir2, 'queue.key'));
    fs.rmSync(path.join(dir2, 'queue.key'));
    const r2 = makeReport('keyless');
    q2.add(r2);
    expect(fs.readFileSync(path.join(dir2, 'queue.key'))).toEqual(key);
    expect(diskQueue(dir2).claimNext()!.report).toEqual(r2);
  });

  it('fails loudly at construction when the directory cannot be made', () => {
    const dir = tempDir();
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'x');
    expect(() => diskQueue(path.join(file, 'queue'))).toThrow();
  });

  it('writes files readable only by the user', () => {
    if (process.platform === 'win32') return;
    const dir = tempDir();
    diskQueue(dir).add(makeReport());
    for (const { file } of readAllFiles(dir)) {
      expect(fs.statSync(file).mode & 0o077).toBe(0);
    }
  });
});

describe('MemoryQueue', () => {
  it('is bounded by count and bytes, dropping the oldest unclaimed', () => {
    const overflow: string[] = [];
    const q = new MemoryQueue({ maxReports: 2, maxBytes: 1e9 }, (id) => overflow.push(id));
    const [a, b, c] = [makeReport(), makeReport(), makeReport()];
    q.add(a);
    const claimed = q.claimNext()!;
    q.add(b);
    q.add(c);
    // a is in flight, so b (the oldest waiting) went
    expect(overflow).toEqual([b.id]);
    q.remove(claimed.key);
    expect(q.size()).toBe(1);
    expect(q.claimNext()!.report).toBe(c);
  });

  it('sheds the oldest waiting dumps before it drops any report for bytes', () => {
    const overflow: string[] = [];
    const shed: string[] = [];
    const size = Buffer.byteLength(JSON.stringify(withDump()));
    const q = new MemoryQueue(
      { maxReports: 100, maxBytes: Math.floor(size * 3.5) },
      (id) => overflow.push(id),
      (id) => shed.push(id),
    );
    const reports = Array.from({ length: 5 }, () => withDump());
    q.add(reports[0]);
    const inFlight = q.claimNext()!;
    for (const r of reports.slice(1)) q.add(r);
    // reports[0] is being sent as it is: the oldest waiting ones lose their dumps instead
    expect(shed).toEqual([reports[1].id, reports[2].id]);
    expect(overflow).toEqual([]);
    q.remove(inFlight.key);
    const sent = Array.from({ length: 4 }, () => q.claimNext()!.report);
    expect(sent.map((r) => r.dumpWithheld ?? 'dump')).toEqual([
      'too-large',
      'too-large',
      'dump',
      'dump',
    ]);
    expect(sent[0].dump).toBeUndefined();
  });

  it('sheds no dump from a report under 16 KiB, as the disk queue does: drops the oldest whole', () => {
    const overflow: string[] = [];
    const shed: string[] = [];
    const small = () => withDump(6 * 1024); // some 8 KiB with its dump
    const size = Buffer.byteLength(JSON.stringify(small()));
    expect(size).toBeLessThan(SHED_DUMP_MIN_BYTES);
    const q = new MemoryQueue(
      { maxReports: 100, maxBytes: Math.floor(size * 2.5) },
      (id) => overflow.push(id),
      (id) => shed.push(id),
    );
    const reports = Array.from({ length: 3 }, small);
    for (const r of reports) q.add(r);
    expect(shed).toEqual([]);
    expect(overflow).toEqual([reports[0].id]);
  });

  it('holds a report until it is removed, claimed or not', () => {
    const q = new MemoryQueue(bounds, () => undefined);
    const r = makeReport();
    expect(q.holds(r.id)).toBe(false);
    q.add(r);
    expect(q.holds(r.id)).toBe(true);
    const claimed = q.claimNext()!;
    expect(q.holds(r.id)).toBe(true);
    q.remove(claimed.key);
    expect(q.holds(r.id)).toBe(false);
  });
});
