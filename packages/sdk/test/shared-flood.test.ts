import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Report } from '@jcs/protocol';
import type { Diagnostic } from '../src';
import type { HeldOccurrence } from '../src/flood-carriers';
import { DiskQueue } from '../src/queue/disk-queue';
import { SharedFloodControl } from '../src/shared-flood';
import { cleanupTempDirs, makeReport, queuedReports, tempDir } from './helpers/fixtures';

/**
 * Flood control across processes (jcs-report): the windows are folders in a real queue dir.
 * Each SharedFloodControl stands for one process; they share the dir and a clock the test moves.
 */
afterAll(cleanupTempDirs);

const WINDOW = 60_000;
/** A window's start, well inside it. */
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % WINDOW) + 1_000;

interface Setup {
  queueDir: string;
  clock: { now: number };
  diagnostics: Diagnostic[];
  /** a new "process" on the shared dir */
  process(options?: { maxPerGroup?: number; windowMs?: number }): SharedFloodControl;
  /** the reports released to the queue, as the queue holds them */
  queued(): Report[];
}

function setup(): Setup {
  const queueDir = path.join(tempDir(), 'queue');
  const clock = { now: T0 };
  const diagnostics: Diagnostic[] = [];
  const queue = new DiskQueue(
    queueDir,
    { maxReports: 1000, maxBytes: 10_000_000 },
    { onOverflow: () => undefined, onCorrupt: () => undefined },
  );
  return {
    queueDir,
    clock,
    diagnostics,
    process: (options = {}) =>
      new SharedFloodControl({
        maxPerGroup: options.maxPerGroup ?? 3,
        windowMs: options.windowMs ?? WINDOW,
        app: 'JCS',
        storage: queue.floodStorage(),
        diagnostic: (d) => diagnostics.push(d),
        makeCarrier: (id, { error }) => ({ ...makeReport(error.description), id, error }),
        now: () => clock.now,
      }),
    queued: () => queuedReports(queueDir),
  };
}

/**
 * Moves a line's folder out of its window as a release (an early send) does, under a releaser
 * that has since died (no process has pid 2^22 + 1); `n` tells apart moves of one line. Returns
 * where it went.
 */
function moveLine(s: Setup, lineDir: string, n = 0): string {
  const window = path.basename(path.dirname(lineDir));
  const away = `.line-${window}-${path.basename(lineDir)}~4194305~0123456789abcdef~${T0 + n}`;
  const moved = path.join(s.queueDir, 'flood', away);
  fs.renameSync(lineDir, moved);
  return moved;
}

function occurrence(
  line = 120,
  number = 91,
  description = 'Object variable not set',
): HeldOccurrence {
  return {
    occurredAt: new Date().toISOString(),
    error: { number, description, module: 'modClients', procedure: 'LoadClient', line },
  };
}

/** Occurrences in turn, each by a new process, as jcs-report calls are: the ids answered. */
function calls(s: Setup, n: number, make = () => occurrence()): string[] {
  const answered: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    const d = s.process().admit(id, make());
    answered.push(d.held ? d.carrierId : d.reportId);
  }
  return answered;
}

/** Occurrences on the collector: 1 + repeats per report, by id (the first stored wins). */
function occurrences(reports: Report[]): number {
  const byId = new Map(reports.map((r) => [r.id, r]));
  return [...byId.values()].reduce((n, r) => n + 1 + (r.repeats ?? 0), 0);
}

describe('flood control across processes', () => {
  it('lets the first 3 of a window through and counts the rest on one carrier, released after the window', () => {
    const s = setup();
    const ids = calls(s, 10);
    expect(new Set(ids.slice(0, 3)).size).toBe(3);
    // The 4th to 10th are answered with the 4th's id: the carrier the collector will have.
    expect(new Set(ids.slice(3))).toEqual(new Set([ids[3]]));
    expect(ids.slice(0, 3)).not.toContain(ids[3]);
    const limited = s.diagnostics.filter((d) => d.code === 'rate_limited');
    expect(limited).toHaveLength(7);
    expect(limited[0].reportId).toBe(ids[3]);
    expect(limited[0].message).toMatch(/more than 3 reports of this error within 60000 ms/);

    // Within the window, nothing is released.
    s.clock.now = T0 + WINDOW - 1_001;
    s.process().drain('due');
    expect(s.queued()).toEqual([]);

    s.clock.now = T0 + WINDOW;
    const releaser = s.process();
    releaser.drain('due');
    // what jcs-report asks, to send what a held-back call released
    expect(releaser.released).toBe(1);
    const [carrier] = s.queued();
    expect(s.queued()).toHaveLength(1);
    expect(carrier.id).toBe(ids[3]);
    expect(carrier.repeats).toBe(6);
    expect(carrier.error.line).toBe(120);
    // The window is gone (its carrier marked as queued): nothing is sent twice.
    expect(fs.readdirSync(path.join(s.queueDir, 'flood'))).toEqual([`.sent-${ids[3]}`]);
    s.process().drain('due');
    expect(s.queued()).toHaveLength(1);
  });

  it('starts a new window once the old one ended, and releases the old one on the way', () => {
    const s = setup();
    const first = calls(s, 5);
    s.clock.now = T0 + WINDOW;
    const second = calls(s, 4);
    // The new window's first 3 go out as themselves again.
    expect(new Set(second.slice(0, 3)).size).toBe(3);
    expect(second[3]).not.toBe(first[3]);
    const queued = s.queued();
    expect(queued.find((r) => r.id === first[3])?.repeats).toBe(1);
  });

  it('holds each line apart, up to 3 lines; a 4th line is counted with the first', () => {
    const s = setup();
    calls(s, 3);
    const byLine = [10, 20, 30, 40, 10, 20].map((line) => calls(s, 1, () => occurrence(line))[0]);
    expect(new Set(byLine.slice(0, 3)).size).toBe(3);
    // line 40 is counted on the first line by name (line-10), as every process picks
    expect(byLine[3]).toBe(byLine[0]);
    expect(byLine[4]).toBe(byLine[0]);
    expect(byLine[5]).toBe(byLine[1]);
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    const queued = s.queued();
    expect(queued.map((r) => [r.error.line, r.repeats ?? 0]).sort()).toEqual([
      [10, 2],
      [20, 1],
      [30, 0],
    ]);
    expect(occurrences(queued)).toBe(6);
  });

  it('keeps groups apart', () => {
    const s = setup();
    const a = calls(s, 4, () => occurrence(120, 91));
    const b = calls(s, 4, () => occurrence(120, 13));
    expect(a[3]).not.toBe(b[3]);
    expect(new Set(b.slice(0, 3)).size).toBe(3);
    s.clock.now = T0 + 10 * WINDOW;
    s.process().drain('due');
    expect(
      s
        .queued()
        .map((r) => r.error.number)
        .sort(),
    ).toEqual([13, 91]);
  });

  it('never seals the held-back report in clear, and names no report field on disk', () => {
    const s = setup();
    calls(s, 6, () => occurrence(120, 91, 'Client Jane Canary-4711 has no adviser'));
    for (const file of listFiles(path.join(s.queueDir, 'flood'))) {
      expect(file).not.toMatch(/Canary|modClients|LoadClient/);
      expect(fs.readFileSync(file, 'latin1')).not.toMatch(/Canary-4711|modClients/);
    }
  });

  /**
   * A release that moves the line's folder between this occurrence making its file and looking
   * for it: `counts` says whether the release counted the file first. The move is what a
   * releaser does; the file-system call in between is where it can happen.
   */
  function movedWhileCounting(s: Setup, counts: boolean) {
    const real = fs.existsSync;
    const spy = jest.spyOn(fs, 'existsSync').mockImplementation((file) => {
      const name = String(file);
      if (!name.endsWith('.n')) return real(file);
      const moved = moveLine(s, path.dirname(name));
      const mine = path.join(moved, path.basename(name));
      if (counts) fs.renameSync(mine, mine.replace(/\.n$/, '.counted'));
      spy.mockRestore();
      return false;
    });
    return spy;
  }

  it('counts an occurrence on the next carrier when a release moved its line before counting it', () => {
    const s = setup();
    const ids = calls(s, 5);
    movedWhileCounting(s, false);
    const id = randomUUID();
    // Taken back from the moved line, it starts the line's next carrier.
    expect(s.process().admit(id, occurrence())).toEqual({ held: true, carrierId: id });
    // The moved line's releaser is gone: the next look releases it, without the late one.
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats ?? 0])).toEqual([[ids[3], 1]]);
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats ?? 0])).toEqual([
      [ids[3], 1],
      [id, 0],
    ]);
  });

  /**
   * Between an occurrence reading its line's carrier (`read`) and making its file, the line is
   * sent early and another call makes the line's next folder and carrier (`next()`): the file
   * lands beside a carrier it did not read.
   */
  function replacedWhileCounting(s: Setup, read: string) {
    const real = fs.openSync;
    let next = '';
    const spy = jest.spyOn(fs, 'openSync').mockImplementation((file, ...rest) => {
      const name = String(file);
      if (name.endsWith('.n') && name.includes(`${read}~`) && next === '') {
        moveLine(s, path.dirname(name));
        next = randomUUID();
        expect(s.process().admit(next, occurrence())).toEqual({ held: true, carrierId: next });
      }
      return real(file, ...(rest as [fs.OpenMode, fs.Mode]));
    });
    return { next: () => next, restore: () => spy.mockRestore() };
  }

  it("counts an occurrence on its folder's carrier when another folder took its line's place", () => {
    const s = setup();
    const ids = calls(s, 4);
    const replaced = replacedWhileCounting(s, ids[3]);
    const id = randomUUID();
    const d = s.process().admit(id, occurrence());
    replaced.restore();
    // Not on the carrier it read (ids[3]), whose folder left: on the one beside its file.
    expect(d).toEqual({ held: true, carrierId: replaced.next() });
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(counts(s)).toEqual(
      [
        [ids[3], 0],
        [replaced.next(), 1],
      ].sort(),
    );
  });

  it('keeps an occurrence counted when the release that moved its line counted it first', () => {
    const s = setup();
    const ids = calls(s, 4);
    movedWhileCounting(s, true);
    const d = s.process().admit(randomUUID(), occurrence());
    expect(d).toEqual({ held: true, carrierId: ids[3] });
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats ?? 0])).toEqual([[ids[3], 1]]);
  });

  it('makes the next carrier under a new id when it took itself back from its own carrier', () => {
    const s = setup();
    calls(s, 3);
    movedWhileCounting(s, false);
    const id = randomUUID();
    const d = s.process().admit(id, occurrence());
    // Its id is the moved carrier's, which others may have counted on: the next goes under another.
    expect(d.held).toBe(true);
    if (d.held) expect(d.carrierId).not.toBe(id);
    s.process().drain('due');
    // The moved carrier counts nobody: it is not sent.
    expect(s.queued()).toEqual([]);
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats ?? 0])).toEqual([[d.held && d.carrierId, 0]]);
    expect(
      fs.readdirSync(path.join(s.queueDir, 'flood')).filter((n) => !n.startsWith('.sent-')),
    ).toEqual([]);
  });

  it('counts an occurrence on the next carrier when its line moved away just after it was listed', () => {
    const s = setup();
    const ids = calls(s, 4);
    const real = fs.lstatSync;
    const spy = jest.spyOn(fs, 'lstatSync').mockImplementation((file, ...rest) => {
      if (path.basename(String(file)).startsWith('line-')) {
        spy.mockRestore();
        moveLine(s, String(file));
      }
      return real(file, ...(rest as [])) as fs.Stats;
    });
    const id = randomUUID();
    const d = s.process().admit(id, occurrence());
    spy.mockRestore();
    // Not sent as itself for a move: the line's next carrier is made from it.
    expect(d).toEqual({ held: true, carrierId: id });
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(counts(s)).toEqual(
      [
        [ids[3], 0],
        [id, 0],
      ].sort(),
    );
  });

  it("counts an occurrence on the line's next carrier when the carrier made before its own moved away unread", () => {
    const s = setup();
    calls(s, 3);
    const real = fs.linkSync;
    let other = '';
    const spy = jest.spyOn(fs, 'linkSync').mockImplementation((from, to) => {
      spy.mockRestore();
      // Another call makes the line's carrier first, and a flush sends it early at once.
      other = randomUUID();
      expect(s.process().admit(other, occurrence())).toEqual({ held: true, carrierId: other });
      try {
        real(from, to);
      } finally {
        moveLine(s, path.dirname(String(to)));
      }
    });
    const id = randomUUID();
    const d = s.process().admit(id, occurrence());
    spy.mockRestore();
    expect(other).not.toBe('');
    expect(d).toEqual({ held: true, carrierId: id });
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(counts(s)).toEqual(
      [
        [other, 0],
        [id, 0],
      ].sort(),
    );
  });

  it('tries again for each of the 3 early sends that may move its line away, and is counted still', () => {
    const s = setup();
    const ids = calls(s, 4);
    const real = fs.existsSync;
    let moves = 0;
    const spy = jest.spyOn(fs, 'existsSync').mockImplementation((file) => {
      const name = String(file);
      // Each time it looks for its file in its window's line: a flush sends the line early.
      const inWindow = /^[0-9a-f]{16}-/.test(path.basename(path.dirname(path.dirname(name))));
      if (name.endsWith('.n') && inWindow && moves < 3) moveLine(s, path.dirname(name), ++moves);
      return real(file);
    });
    const d = s.process().admit(randomUUID(), occurrence());
    spy.mockRestore();
    expect(moves).toBe(3);
    expect(d.held).toBe(true);
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    // The carriers it took itself back from count nobody and are not sent.
    expect(counts(s)).toEqual(
      [
        [ids[3], 0],
        [d.held ? d.carrierId : '', 0],
      ].sort(),
    );
  });

  it('sends a group early on flush, 3 times a window, as flush() does in one process; then holds it', () => {
    const s = setup();
    const answered: string[] = [];
    const held: string[][] = [];
    for (let i = 0; i < 10; i++) {
      const p = s.process();
      const d = p.admit(randomUUID(), occurrence());
      answered.push(d.held ? d.carrierId : d.reportId);
      p.drain('flush');
      held.push(p.heldAfterFlush());
    }
    // 3 as themselves, 3 carriers of one occurrence each sent at once, then one carrier held
    expect(new Set(answered).size).toBe(7);
    expect(new Set(answered.slice(6))).toEqual(new Set([answered[6]]));
    expect(held.slice(0, 6)).toEqual([[], [], [], [], [], []]);
    expect(held.slice(6)).toEqual([[answered[6]], [answered[6]], [answered[6]], [answered[6]]]);
    const flooded = s.diagnostics.filter((d) => d.code === 'flood_held');
    expect(flooded).toHaveLength(4);
    expect(flooded[0].message).toContain(
      `(${answered[6]}) was sent early 3 times in this window already: it goes out with the first call after ${new Date(T0 - 1_000 + WINDOW).toISOString()}`,
    );
    expect(s.queued().map((r) => [r.id, r.repeats ?? 0])).toEqual([
      [answered[3], 0],
      [answered[4], 0],
      [answered[5], 0],
    ]);
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(s.queued().find((r) => r.id === answered[6])?.repeats).toBe(3);
    expect(occurrences(s.queued())).toBe(7);
  });

  it('sends early every line of the group at once, taking one of its 3 early sends', () => {
    const s = setup();
    calls(s, 3);
    const lines = [10, 20].map((line) => calls(s, 1, () => occurrence(line))[0]);
    const p = s.process();
    const d = p.admit(randomUUID(), occurrence(30));
    p.drain('flush');
    expect(p.heldAfterFlush()).toEqual([]);
    expect(
      d.held &&
        s
          .queued()
          .map((r) => r.id)
          .sort(),
    ).toEqual([...lines, d.held && d.carrierId].sort());
    const [window] = windows(s);
    expect(fs.readdirSync(path.join(s.queueDir, 'flood', window)).sort()).toEqual([
      'early-1',
      'sent-1',
      'sent-2',
      'sent-3',
    ]);
  });

  it('does not send early a carrier another process released already', () => {
    const s = setup();
    calls(s, 3);
    const mine = s.process();
    const d = mine.admit(randomUUID(), occurrence());
    const other = s.process();
    other.admit(randomUUID(), occurrence());
    other.drain('flush');
    mine.drain('flush');
    expect(mine.heldAfterFlush()).toEqual([]);
    const [window] = windows(s);
    // one early send taken, by the other process, which sent both occurrences
    expect(fs.readdirSync(path.join(s.queueDir, 'flood', window))).toContain('early-1');
    expect(fs.readdirSync(path.join(s.queueDir, 'flood', window))).not.toContain('early-2');
    expect(s.queued().map((r) => [r.id, r.repeats ?? 0])).toEqual([[d.held && d.carrierId, 1]]);
  });

  it('releases a line sent early by a process that died doing it, at once', () => {
    const s = setup();
    const ids = calls(s, 5);
    const flood = path.join(s.queueDir, 'flood');
    const [window] = windows(s);
    moveLine(s, path.join(flood, window, 'line-120'));
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats ?? 0])).toEqual([[ids[3], 1]]);
    expect(fs.readdirSync(flood).sort()).toEqual([`.sent-${ids[3]}`, window]);
  });

  it('does not queue a carrier again when a release that queued it is done again', () => {
    const s = setup();
    const ids = calls(s, 5);
    const flood = path.join(s.queueDir, 'flood');
    // The release queues the carrier, then cannot remove the folder (a lock on Windows).
    const real = fs.rmSync;
    const spy = jest.spyOn(fs, 'rmSync').mockImplementation((file, options) => {
      if (String(file).endsWith('carrier.sealed'))
        throw Object.assign(new Error('EBUSY'), { code: 'EBUSY' });
      real(file, options);
    });
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    spy.mockRestore();
    expect(s.queued().map((r) => [r.id, r.repeats])).toEqual([[ids[3], 1]]);
    // Its releaser dies: the next look takes the window over and releases it again.
    const [left] = fs.readdirSync(flood).filter((n) => n.startsWith('.releasing-'));
    const dead = left.replace(/~\d+~/, '~4194305~');
    fs.renameSync(path.join(flood, left), path.join(flood, dead));
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats])).toEqual([[ids[3], 1]]);
    expect(fs.readdirSync(flood)).toEqual([`.sent-${ids[3]}`]);
  });

  it('leaves a line it cannot count now (a lock) for a later look, losing nothing', () => {
    const s = setup();
    const ids = calls(s, 7);
    const real = fs.renameSync;
    let failures = 2;
    const spy = jest.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      if (String(from).endsWith('.n') && failures-- > 0) {
        throw Object.assign(new Error('EPERM'), { code: 'EPERM' });
      }
      real(from, to);
    });
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(s.queued()).toEqual([]);
    s.process().drain('due'); // this process's own release: not taken over while it lives
    expect(s.queued()).toEqual([]);
    spy.mockRestore();
    const flood = path.join(s.queueDir, 'flood');
    const [left] = fs.readdirSync(flood);
    fs.renameSync(path.join(flood, left), path.join(flood, left.replace(/~\d+~/, '~4194305~')));
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats])).toEqual([[ids[3], 3]]);
  });

  it('says so when a carrier cannot be queued (a full disk), and keeps it counted for a later call', () => {
    const s = setup();
    calls(s, 3);
    const p = s.process();
    const d = p.admit(randomUUID(), occurrence());
    const carrierId = d.held ? d.carrierId : 'not held';
    const full = jest.spyOn(fs, 'writeFileSync').mockImplementation(() => {
      throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
    });
    try {
      p.drain('flush');
    } finally {
      full.mockRestore();
    }
    expect(s.queued()).toEqual([]);
    expect(s.diagnostics.filter((x) => x.code === 'flood_held')).toEqual([
      {
        code: 'flood_held',
        reportId: carrierId,
        message: `the report carrying this error's repeats (${carrierId}) could not be queued (ENOSPC): it stays counted in the queue dir's flood/ folder and goes out with a later call`,
      },
    ]);
    // The call ends; the next one takes over the line it was sending early, and sends it.
    const flood = path.join(s.queueDir, 'flood');
    const [line] = fs.readdirSync(flood).filter((n) => n.startsWith('.line-'));
    fs.renameSync(path.join(flood, line), path.join(flood, line.replace(/~\d+~/, '~4194305~')));
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats ?? 0])).toEqual([[carrierId, 0]]);
  });

  it('says once a call that ended windows cannot be released (a permission), and releases them once they can', () => {
    const s = setup();
    const first = calls(s, 5);
    const second = calls(s, 5, () => occurrence(120, 92));
    s.clock.now = T0 + WINDOW;
    const real = fs.renameSync;
    const denied = jest.spyOn(fs, 'renameSync').mockImplementation((from, to) => {
      if (String(to).includes('.releasing-')) {
        throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      }
      real(from, to);
    });
    try {
      s.process().drain('due');
    } finally {
      denied.mockRestore();
    }
    expect(s.queued()).toEqual([]);
    expect(s.diagnostics.filter((x) => x.code === 'flood_held')).toEqual([
      {
        code: 'flood_held',
        message: `the reports carrying an error loop's repeats could not be released from the queue dir's flood/ folder (EACCES): they stay counted there and go out with the first call that can`,
      },
    ]);
    s.process().drain('due');
    expect(
      s
        .queued()
        .map((r) => [r.id, r.repeats])
        .sort(),
    ).toEqual(
      [
        [first[3], 1],
        [second[3], 1],
      ].sort(),
    );
  });

  it('walks no symbolic link: one named like a window is left, and what it points to', () => {
    const s = setup();
    const target = tempDir();
    fs.mkdirSync(path.join(target, 'line-keep'));
    fs.writeFileSync(path.join(target, 'line-keep', 'important.txt'), 'keep');
    const flood = path.join(s.queueDir, 'flood');
    fs.mkdirSync(flood, { recursive: true });
    fs.symlinkSync(target, path.join(flood, `0123456789abcdef-${T0 - 10 * WINDOW}-${WINDOW}`));
    s.process().drain('due');
    expect(fs.readFileSync(path.join(target, 'line-keep', 'important.txt'), 'utf8')).toBe('keep');
  });

  it("goes on to the line's next carrier when its file, beside another carrier, cannot be taken back (a lock)", () => {
    const s = setup();
    const ids = calls(s, 4);
    const replaced = replacedWhileCounting(s, ids[3]);
    const realUnlink = fs.unlinkSync;
    const unlinks = jest.spyOn(fs, 'unlinkSync').mockImplementation((file) => {
      if (String(file).endsWith(`${ids[3]}~${id}.n`)) {
        throw Object.assign(new Error('EBUSY'), { code: 'EBUSY' });
      }
      realUnlink(file);
    });
    const id = randomUUID();
    const d = s.process().admit(id, occurrence());
    replaced.restore();
    unlinks.mockRestore();
    // Its file is stuck beside the other carrier, which never counts it: it counts itself there.
    expect(d).toEqual({ held: true, carrierId: replaced.next() });
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(counts(s)).toEqual(
      [
        [ids[3], 0],
        [replaced.next(), 1],
      ].sort(),
    );
  });

  it('says once that a carrier which does not open lost its counts, and lets its folder go', () => {
    const s = setup();
    calls(s, 6);
    const [window] = windows(s);
    fs.writeFileSync(path.join(s.queueDir, 'flood', window, 'line-120', 'carrier.sealed'), 'x');
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    s.process().drain('due');
    const corrupt = s.diagnostics.filter((d) => d.code === 'queue_corrupt');
    expect(corrupt.map((d) => d.message)).toEqual([
      'the report carrying 3 held-back occurrences could not be read; they are not sent',
    ]);
    expect(windows(s)).toEqual([]);
  });

  it('says nothing of a file left beside a carrier released already: it is no lost count', () => {
    const s = setup();
    const ids = calls(s, 5);
    const [window] = windows(s);
    // A call killed between making its file beside another carrier and taking it back.
    const stray = path.join(
      s.queueDir,
      'flood',
      window,
      'line-120',
      `${randomUUID()}~${randomUUID()}.n`,
    );
    fs.writeFileSync(stray, '');
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats ?? 0])).toEqual([[ids[3], 1]]);
    // The stray keeps the folder; its releaser is gone, and the next looks take it over.
    const flood = path.join(s.queueDir, 'flood');
    const [left] = fs.readdirSync(flood).filter((n) => n.startsWith('.releasing-'));
    fs.renameSync(path.join(flood, left), path.join(flood, left.replace(/~\d+~/, '~4194305~')));
    s.process().drain('due');
    s.process().drain('due');
    expect(s.diagnostics.filter((d) => d.code === 'queue_corrupt')).toEqual([]);
    expect(s.queued()).toHaveLength(1);
  });

  it('never costs a call its own report when a release cannot remove a file (a lock)', () => {
    const s = setup();
    calls(s, 2);
    const real = fs.rmSync;
    const spy = jest.spyOn(fs, 'rmSync').mockImplementation((file, options) => {
      if (String(file).endsWith('sent-1'))
        throw Object.assign(new Error('EBUSY'), { code: 'EBUSY' });
      real(file, options);
    });
    s.clock.now = T0 + WINDOW;
    const id = randomUUID();
    // Another group's call releases the ended window, which it cannot remove whole.
    expect(s.process().admit(id, occurrence(120, 13))).toEqual({
      held: false,
      reportId: id,
      repeats: 0,
    });
    spy.mockRestore();
  });

  it('writes into no symbolic link: a line planted as one leaves the call to go as itself', () => {
    const s = setup();
    calls(s, 3);
    const victim = tempDir();
    const [window] = windows(s);
    fs.symlinkSync(victim, path.join(s.queueDir, 'flood', window, 'line-120'));
    const id = randomUUID();
    expect(s.process().admit(id, occurrence())).toEqual({ held: false, reportId: id, repeats: 0 });
    expect(fs.readdirSync(victim)).toEqual([]);
  });

  it('counts only occurrence files: a folder or a stray name in a line is no occurrence', () => {
    const s = setup();
    const ids = calls(s, 5);
    const lineDir = path.join(s.queueDir, 'flood', windows(s)[0], 'line-120');
    fs.mkdirSync(path.join(lineDir, `${randomUUID()}.n`));
    fs.writeFileSync(path.join(lineDir, 'stray.counted'), '');
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats])).toEqual([[ids[3], 1]]);
  });

  it('does not make a carrier for a line counted with another: the other line goes as itself', () => {
    const s = setup();
    calls(s, 3);
    const flood = path.join(s.queueDir, 'flood');
    const [window] = windows(s);
    // Three lines held, the first (by name) without its carrier yet (its maker died).
    for (const line of [10, 20, 30]) fs.mkdirSync(path.join(flood, window, `line-${line}`));
    const id = randomUUID();
    expect(s.process().admit(id, occurrence(90))).toEqual({
      held: false,
      reportId: id,
      repeats: 0,
    });
    expect(fs.readdirSync(path.join(flood, window, 'line-10'))).toEqual([]);
  });

  it('takes back a window whose releaser died, and releases it again', () => {
    const s = setup();
    const ids = calls(s, 6);
    const flood = path.join(s.queueDir, 'flood');
    const [window] = windows(s);
    // A releaser that died after counting two of the occurrences (pid 2^22 + 1 is not running)
    const claimed = path.join(flood, `.releasing-${window}~4194305~0123456789abcdef~${T0}`);
    fs.renameSync(path.join(flood, window), claimed);
    const lineDir = path.join(claimed, 'line-120');
    const held = fs.readdirSync(lineDir).filter((n) => n.endsWith('.n'));
    for (const name of held.slice(0, 2)) {
      fs.renameSync(path.join(lineDir, name), path.join(lineDir, name.replace(/\.n$/, '.counted')));
    }
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(s.queued().map((r) => [r.id, r.repeats])).toEqual([[ids[3], 2]]);
    expect(fs.readdirSync(flood)).toEqual([`.sent-${ids[3]}`]);
  });

  it("leaves a live releaser's window alone", () => {
    const s = setup();
    calls(s, 5);
    const flood = path.join(s.queueDir, 'flood');
    const [window] = windows(s);
    const claimed = `.releasing-${window}~${process.ppid}~0123456789abcdef~${T0 + WINDOW}`;
    fs.renameSync(path.join(flood, window), path.join(flood, claimed));
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(s.queued()).toEqual([]);
    expect(fs.readdirSync(flood)).toEqual([claimed]);
  });

  it('releases a window made before the clock was set back', () => {
    const s = setup();
    const ids = calls(s, 4);
    s.clock.now = T0 - 3 * WINDOW;
    s.process().drain('due');
    expect(s.queued().map((r) => r.id)).toEqual([ids[3]]);
  });

  it('sends nothing for a carrier that counts no occurrence (its maker died before counting)', () => {
    const s = setup();
    calls(s, 4);
    const flood = path.join(s.queueDir, 'flood');
    const lineDir = path.join(flood, windows(s)[0], 'line-120');
    for (const n of fs.readdirSync(lineDir))
      if (n.endsWith('.n')) fs.unlinkSync(path.join(lineDir, n));
    s.clock.now = T0 + WINDOW;
    s.process().drain('due');
    expect(s.queued()).toEqual([]);
    expect(fs.readdirSync(flood)).toEqual([]);
  });

  it('lets an occurrence through as itself when its carrier does not open (another queue key)', () => {
    const s = setup();
    calls(s, 4);
    const flood = path.join(s.queueDir, 'flood');
    const carrier = path.join(flood, windows(s)[0], 'line-120', 'carrier.sealed');
    fs.writeFileSync(carrier, 'not a sealed report');
    const id = randomUUID();
    expect(s.process().admit(id, occurrence())).toEqual({ held: false, reportId: id, repeats: 0 });
  });

  it('lets an occurrence through as itself when the flood folder cannot be made', () => {
    const s = setup();
    fs.writeFileSync(path.join(s.queueDir, 'flood'), 'a file where the folder goes');
    const answered = calls(s, 5);
    expect(new Set(answered).size).toBe(5);
  });
});

/** The queued reports as [id, repeats], sorted. */
function counts(s: Setup): (string | number)[][] {
  return s
    .queued()
    .map((r) => [r.id, r.repeats ?? 0])
    .sort();
}

/** The windows in the flood folder (not the marks of carriers queued). */
function windows(s: Setup): string[] {
  return fs.readdirSync(path.join(s.queueDir, 'flood')).filter((n) => !n.startsWith('.sent-'));
}

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)],
    );
}
