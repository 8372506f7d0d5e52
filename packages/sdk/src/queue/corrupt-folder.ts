import fs from 'node:fs';
import path from 'node:path';
import { isSealed, sealBytes } from './sealed-file';
import { namesIn, readSmallFile, tempPath, writeAtomic } from './queue-files';

/** How many bad files are kept for whoever looks into them; the oldest go first. */
const MAX_CORRUPT_FILES = 50;

/**
 * The queue's `corrupt/` folder: files found in it that are not reports (bytes that do not open
 * under the queue key or parse as a schema 1 report, names that are not the queue's) are moved
 * here rather than crashing the SDK or being sent, sealed like every queue file: one may be a
 * report an earlier version wrote in clear, cut short.
 */
export class CorruptFolder {
  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
    private readonly sealKey: Uint8Array,
    private readonly onCorrupt: (fileName: string) => void,
  ) {}

  /** Moves a bad file here, sealed, and says so; another process may have taken it first. */
  moveAside(file: string, name: string): void {
    // Taken into tmp/ first: of two processes finding the same bad file, one deals with it.
    const grabbed = tempPath(this.tmpDir, 'bad');
    try {
      fs.renameSync(file, grabbed);
    } catch {
      return; // someone else dealt with it
    }
    // A pending file's name ends in `.sealed` already: once is enough.
    const base = name.replace(/\.sealed$/, '').slice(0, 100);
    this.keep(grabbed, path.join(this.dir, `${Date.now()}-${base}.sealed`));
    this.prune();
    this.onCorrupt(name);
  }

  /** Seals what an earlier version kept here in clear. */
  sealLegacyFiles(): void {
    for (const name of namesIn(this.dir)) {
      if (!name.endsWith('.sealed'))
        this.keep(path.join(this.dir, name), path.join(this.dir, name));
    }
  }

  /**
   * Keeps `from` at `to`, sealed (a sealed file as it is: the key it needs may come back), and
   * removes `from`. One too large to be a report is not kept.
   */
  private keep(from: string, to: string): void {
    try {
      const bytes = readSmallFile(from);
      const kept = bytes && (isSealed(bytes) ? bytes : sealBytes(bytes, this.sealKey));
      if (kept) writeAtomic(this.tmpDir, to.endsWith('.sealed') ? to : `${to}.sealed`, kept);
    } catch {
      // cannot keep it: dropped below rather than left in clear
    }
    try {
      fs.rmSync(from, { force: true });
    } catch {
      // gone already
    }
  }

  private prune(): void {
    const names = namesIn(this.dir).sort();
    try {
      for (const name of names.slice(0, Math.max(0, names.length - MAX_CORRUPT_FILES))) {
        fs.rmSync(path.join(this.dir, name), { force: true });
      }
    } catch {
      // a bound, not a duty: tried again next time
    }
  }
}
