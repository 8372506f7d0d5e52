import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { validateReport, type Report } from '@jcs/protocol';
import type { ClaimedReport, OverflowHandler, QueueBounds, ReportQueue } from './types';

/** A claim older than this is taken back even from a live process (it cannot still be sending). */
const STALE_CLAIM_MS = 60 * 60 * 1000;
/** A temp file older than this belongs to a write that died half-way. */
const STALE_TMP_MS = 10 * 60 * 1000;
const RECOVER_EVERY_MS = 30 * 1000;
const MAX_REPORT_FILE_BYTES = 1024 * 1024;
const MAX_CORRUPT_FILES = 50;

// <time ms>-<seq>-<id>-<bytes>.json: the name sorts oldest first and carries the size, so the
// queue's bounds are checked from one directory listing, without opening a file.
const PENDING_NAME = /^(\d{13})-(\d{6})-([0-9a-f-]{36})-(\d{1,9})\.json$/;
// <pending name>~<pid>~<instance>~<claimed at ms>
const CLAIM_NAME = /^(.+\.json)~(\d+)~([0-9a-f]+)~(\d{13})$/;

interface PendingFile {
  name: string;
  id: string;
  bytes: number;
}

export interface DiskQueueEvents {
  onOverflow: OverflowHandler;
  /** a file that is not a report was moved aside */
  onCorrupt: (fileName: string) => void;
}

/**
 * A durable queue in a directory, safe to share between processes:
 *
 * - `pending/` holds one sealed report per file, written to `tmp/`, fsynced and renamed in, so a
 *   file is either whole or absent whatever moment the process dies;
 * - a sender claims a report by renaming it into `claimed/` under its pid: rename is atomic, so of
 *   two processes racing for one file exactly one wins, and no report is sent by both;
 * - a claim whose process died (or that is older than an hour) goes back to `pending/`;
 * - a file that does not parse as a schema 1 report goes to `corrupt/`, never crashing the SDK.
 */
export class DiskQueue implements ReportQueue {
  readonly durable = true;
  private readonly pendingDir: string;
  private readonly claimedDir: string;
  private readonly tmpDir: string;
  private readonly corruptDir: string;
  private readonly instance = randomBytes(4).toString('hex');
  /** claims held by this instance: claim file name -> pending name */
  private readonly held = new Map<string, string>();
  private seq = 0;
  private lastRecovery = 0;

  /** Throws when the directory cannot be created or written. */
  constructor(
    readonly dir: string,
    private readonly bounds: QueueBounds,
    private readonly events: DiskQueueEvents,
  ) {
    this.pendingDir = path.join(dir, 'pending');
    this.claimedDir = path.join(dir, 'claimed');
    this.tmpDir = path.join(dir, 'tmp');
    this.corruptDir = path.join(dir, 'corrupt');
    for (const d of [this.pendingDir, this.claimedDir, this.tmpDir, this.corruptDir]) {
      fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    }
    fs.accessSync(this.pendingDir, fs.constants.W_OK);
    this.removeStaleTempFiles();
    this.recoverClaims();
  }

  add(report: Report): void {
    const json = JSON.stringify(report);
    const bytes = Buffer.byteLength(json);
    this.makeRoom(bytes);
    this.seq = (this.seq + 1) % 1_000_000;
    const name = `${String(Date.now()).padStart(13, '0')}-${String(this.seq).padStart(6, '0')}-${report.id}-${bytes}.json`;
    this.writeAtomic(path.join(this.pendingDir, name), json);
  }

  claimNext(): ClaimedReport | null {
    if (Date.now() - this.lastRecovery > RECOVER_EVERY_MS) this.recoverClaims();
    for (const file of this.listPending()) {
      const claimName = `${file.name}~${process.pid}~${this.instance}~${String(Date.now()).padStart(13, '0')}`;
      const claimPath = path.join(this.claimedDir, claimName);
      try {
        fs.renameSync(path.join(this.pendingDir, file.name), claimPath);
      } catch {
        continue; // another process claimed it first, or it was dropped
      }
      const report = this.readReport(claimPath);
      if (!report) {
        this.moveAside(claimPath, file.name);
        continue;
      }
      this.held.set(claimName, file.name);
      return { key: claimName, report };
    }
    return null;
  }

  release(key: string): void {
    const pendingName = this.held.get(key);
    if (pendingName === undefined) return;
    this.held.delete(key);
    try {
      fs.renameSync(path.join(this.claimedDir, key), path.join(this.pendingDir, pendingName));
    } catch {
      // Left in claimed/: recovered as stale later, never lost.
    }
  }

  replace(key: string, report: Report): void {
    const pendingName = this.held.get(key);
    if (pendingName === undefined) return;
    const json = JSON.stringify(report);
    const bytes = Buffer.byteLength(json);
    const claimPath = path.join(this.claimedDir, key);
    // Overwrite the claimed file in place first: at no moment are there two copies to send.
    this.writeAtomic(claimPath, json);
    this.held.delete(key);
    const renamed = pendingName.replace(/-\d{1,9}\.json$/, `-${bytes}.json`);
    try {
      fs.renameSync(claimPath, path.join(this.pendingDir, renamed));
    } catch {
      // recovered as stale later
    }
  }

  remove(key: string): void {
    this.held.delete(key);
    try {
      fs.unlinkSync(path.join(this.claimedDir, key));
    } catch {
      // already gone
    }
  }

  size(): number {
    return this.listPending().length + this.held.size;
  }

  close(): void {
    for (const key of [...this.held.keys()]) this.release(key);
  }

  private listPending(): PendingFile[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.pendingDir);
    } catch {
      return [];
    }
    names.sort();
    const files: PendingFile[] = [];
    for (const name of names) {
      const m = PENDING_NAME.exec(name);
      if (m) files.push({ name, id: m[3], bytes: Number(m[4]) });
      else if (!name.startsWith('.')) this.moveAside(path.join(this.pendingDir, name), name);
    }
    return files;
  }

  private makeRoom(incomingBytes: number): void {
    const files = this.listPending();
    let total = files.reduce((sum, f) => sum + f.bytes, 0);
    let count = files.length;
    for (const victim of files) {
      if (count + 1 <= this.bounds.maxReports && total + incomingBytes <= this.bounds.maxBytes) {
        break;
      }
      try {
        fs.unlinkSync(path.join(this.pendingDir, victim.name));
      } catch {
        continue; // claimed by a sender meanwhile: not ours to drop
      }
      count--;
      total -= victim.bytes;
      this.events.onOverflow(victim.id);
    }
  }

  private writeAtomic(target: string, text: string): void {
    const tmp = path.join(this.tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
    try {
      const fd = fs.openSync(tmp, 'wx', 0o600);
      try {
        fs.writeFileSync(fd, text);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, target);
    } catch (error) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        // nothing to clean
      }
      throw error;
    }
    syncDirectory(path.dirname(target));
  }

  private readReport(file: string): Report | null {
    try {
      const size = fs.statSync(file).size;
      if (size > MAX_REPORT_FILE_BYTES || size === 0) return null;
      const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
      const v = validateReport(parsed);
      return v.ok ? v.report : null;
    } catch {
      return null;
    }
  }

  private moveAside(file: string, name: string): void {
    try {
      fs.renameSync(file, path.join(this.corruptDir, `${Date.now()}-${name.slice(0, 100)}`));
      this.pruneCorrupt();
    } catch {
      try {
        fs.unlinkSync(file);
      } catch {
        return; // someone else dealt with it
      }
    }
    this.events.onCorrupt(name);
  }

  private pruneCorrupt(): void {
    const names = fs.readdirSync(this.corruptDir).sort();
    for (const name of names.slice(0, Math.max(0, names.length - MAX_CORRUPT_FILES))) {
      fs.rmSync(path.join(this.corruptDir, name), { force: true });
    }
  }

  private recoverClaims(): void {
    this.lastRecovery = Date.now();
    let names: string[];
    try {
      names = fs.readdirSync(this.claimedDir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = CLAIM_NAME.exec(name);
      if (!m) {
        this.moveAside(path.join(this.claimedDir, name), name);
        continue;
      }
      const [, pendingName, pidText, instance, claimedAt] = m;
      if (instance === this.instance) continue;
      const pid = Number(pidText);
      const age = Date.now() - Number(claimedAt);
      const owner = pid === process.pid || isProcessAlive(pid);
      if (owner && age < STALE_CLAIM_MS) continue;
      try {
        fs.renameSync(path.join(this.claimedDir, name), path.join(this.pendingDir, pendingName));
      } catch {
        // another process recovered it first
      }
    }
  }

  private removeStaleTempFiles(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.tmpDir);
    } catch {
      return;
    }
    for (const name of names) {
      const file = path.join(this.tmpDir, name);
      try {
        const pid = Number(name.split('-')[0]);
        const old = Date.now() - fs.statSync(file).mtimeMs > STALE_TMP_MS;
        // A half-written report belongs to a report() call that never returned its id: drop it.
        if (old || !(pid === process.pid || isProcessAlive(pid))) fs.unlinkSync(file);
      } catch {
        // gone already
      }
    }
  }
}

/** Whether a process with this pid exists (EPERM: it exists but is not ours). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Makes a rename durable across power loss. Windows cannot open a directory: skip there. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // not supported on this platform
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
