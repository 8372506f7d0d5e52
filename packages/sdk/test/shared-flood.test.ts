import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Report } from '@jcs/protocol';
import type { Diagnostic } from '../src';
import type { HeldOccurrence } from '../src/flood-carriers';
import { DiskQueue } from '../src/queue/disk-queue';
import { RELEASE_GRACE_MS, SharedFloodControl } from '../src/shared-flood';
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
        store: (report) => queue.add(report),
        now: () => clock.now,
      }),
    queued: () => queuedReports(queueDir),
  };
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

    // Within the window and its grace, nothing is released.
    s.clock.now = T0 + WINDOW + RELEASE_GRACE_MS - 1_001;
    s.process().drain();
    expect(s.queued()).toEqual([]);

    s.clock.now = T0 + WINDOW + RELEASE_GRACE_MS;
    s.process().drain();
    const [carrier] = s.queued();
    expect(s.queued()).toHaveLength(1);
    expect(carrier.id).toBe(ids[3]);
    expect(carrier.repeats).toBe(6);
    expect(carrier.error.line).toBe(120);
    // The window is gone: nothing is sent twice.
    expect(fs.readdirSync(path.join(s.queueDir, 'flood'))).toEqual([]);
    s.process().drain();
    expect(s.queued()).toHaveLength(1);
  });

  it('starts a new window once the old one ended, and releases the old one on the way', () => {
    const s = setup();
    const first = calls(s, 5);
    s.clock.now = T0 + WINDOW + RELEASE_GRACE_MS;
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
    s.clock.now = T0 + WINDOW + RELEASE_GRACE_MS;
    s.process().drain();
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
    s.process().drain();
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

  it('lets an occurrence counted after its window ended go as itself when no releaser counted it', () => {
    const s = setup();
    calls(s, 4);
    // This process reads the clock inside the window, then is held up past its end.
    let reads = 0;
    const late = s.process();
    (late as unknown as { now: () => number }).now = () => (reads++ < 2 ? T0 : T0 + WINDOW + 100);
    const id = randomUUID();
    const d = late.admit(id, occurrence());
    expect(d).toEqual({ held: false, reportId: id, repeats: 0 });
    s.clock.now = T0 + WINDOW + RELEASE_GRACE_MS;
    s.process().drain();
    // Released with the 4th alone: the late one is not counted twice.
    expect(s.queued().map((r) => r.repeats ?? 0)).toEqual([0]);
  });

  it('keeps an occurrence counted when a releaser counted it before it could withdraw', () => {
    const s = setup();
    const ids = calls(s, 4);
    const late = s.process();
    let reads = 0;
    (late as unknown as { now: () => number }).now = () => {
      reads++;
      // The first read (releaseDue) and the window's read are inside it; by the check after the
      // file is made, a releaser has been and counted it.
      if (reads === 3) {
        s.clock.now = T0 + WINDOW + RELEASE_GRACE_MS;
        s.process().drain();
        return s.clock.now;
      }
      return T0;
    };
    const d = late.admit(randomUUID(), occurrence());
    expect(d).toEqual({ held: true, carrierId: ids[3] });
    expect(s.queued()).toHaveLength(1);
    expect(s.queued()[0].repeats).toBe(1);
  });

  it('sends the first held-back one as itself under a new id when it withdraws from its own carrier', () => {
    const s = setup();
    calls(s, 3);
    const late = s.process();
    let reads = 0;
    (late as unknown as { now: () => number }).now = () => (reads++ < 2 ? T0 : T0 + WINDOW);
    const id = randomUUID();
    const d = late.admit(id, occurrence());
    expect(d.held).toBe(false);
    // Its id is its window's carrier's, which others may count on: it goes under another.
    if (!d.held) expect(d.reportId).not.toBe(id);
    s.clock.now = T0 + WINDOW + RELEASE_GRACE_MS;
    s.process().drain();
    // The carrier counts nobody: it is not sent.
    expect(s.queued()).toEqual([]);
  });

  it('takes back a window whose releaser died, and releases it again', () => {
    const s = setup();
    const ids = calls(s, 6);
    const flood = path.join(s.queueDir, 'flood');
    const [window] = fs.readdirSync(flood);
    // A releaser that died after counting two of the occurrences (pid 2^22 + 1 is not running)
    const claimed = path.join(flood, `.releasing-${window}~4194305~0123456789abcdef~${T0}`);
    fs.renameSync(path.join(flood, window), claimed);
    const lineDir = path.join(claimed, 'line-120');
    const held = fs.readdirSync(lineDir).filter((n) => n.endsWith('.n'));
    for (const name of held.slice(0, 2)) {
      fs.renameSync(path.join(lineDir, name), path.join(lineDir, name.replace(/\.n$/, '.counted')));
    }
    s.clock.now = T0 + WINDOW + RELEASE_GRACE_MS;
    s.process().drain();
    expect(s.queued().map((r) => [r.id, r.repeats])).toEqual([[ids[3], 2]]);
    expect(fs.readdirSync(flood)).toEqual([]);
  });

  it("leaves a live releaser's window alone", () => {
    const s = setup();
    calls(s, 5);
    const flood = path.join(s.queueDir, 'flood');
    const [window] = fs.readdirSync(flood);
    const claimed = `.releasing-${window}~${process.ppid}~0123456789abcdef~${T0 + WINDOW}`;
    fs.renameSync(path.join(flood, window), path.join(flood, claimed));
    s.clock.now = T0 + WINDOW + RELEASE_GRACE_MS;
    s.process().drain();
    expect(s.queued()).toEqual([]);
    expect(fs.readdirSync(flood)).toEqual([claimed]);
  });

  it('releases a window made before the clock was set back', () => {
    const s = setup();
    const ids = calls(s, 4);
    s.clock.now = T0 - 3 * WINDOW;
    s.process().drain();
    expect(s.queued().map((r) => r.id)).toEqual([ids[3]]);
  });

  it('sends nothing for a carrier that counts no occurrence (its maker died before counting)', () => {
    const s = setup();
    calls(s, 4);
    const flood = path.join(s.queueDir, 'flood');
    const lineDir = path.join(flood, fs.readdirSync(flood)[0], 'line-120');
    for (const n of fs.readdirSync(lineDir))
      if (n.endsWith('.n')) fs.unlinkSync(path.join(lineDir, n));
    s.clock.now = T0 + WINDOW + RELEASE_GRACE_MS;
    s.process().drain();
    expect(s.queued()).toEqual([]);
    expect(fs.readdirSync(flood)).toEqual([]);
  });

  it('lets an occurrence through as itself when its carrier does not open (another queue key)', () => {
    const s = setup();
    calls(s, 4);
    const flood = path.join(s.queueDir, 'flood');
    const carrier = path.join(flood, fs.readdirSync(flood)[0], 'line-120', 'carrier.sealed');
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

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)],
    );
}
