import fs from 'node:fs';
import path from 'node:path';
import { MAX_LINES_HELD } from './flood';
import { entriesIn } from './queue/queue-files';

// The file-system steps of flood control across processes (shared-flood.ts): each either does
// what it says or tells so, and none follows a symbolic link.

/**
 * Creates an empty file only where none is: true when this call made it.
 *
 * @example
 * if (createExclusive(path.join(windowDir, 'sent-1'))) sendAsItself();
 */
export function createExclusive(file: string): boolean {
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** Takes one of a window's `max` slots of a kind (`sent-<i>`, `early-<i>`): false when none is left. */
export function takeSlot(windowDir: string, kind: string, max: number): boolean {
  for (let i = 1; i <= max; i++) {
    if (createExclusive(path.join(windowDir, `${kind}-${i}`))) return true;
  }
  return false;
}

/** Renames `from` to `to`: false when it could not (another process moved it first, a lock). */
export function renamed(from: string, to: string): boolean {
  try {
    fs.renameSync(from, to);
    return true;
  } catch {
    return false;
  }
}

/** The real folders in `dir` (no symbolic links), by name. */
export function folders(dir: string): string[] {
  return entriesIn(dir)
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
}

/** Whether `dir` is a real folder, not a symbolic link to one. */
export function realFolder(dir: string): boolean {
  return folderState(dir) === 'folder';
}

/**
 * What is at `dir`: a real folder, nothing (`missing`: moved away, as a release moves a line), or
 * something else (a symbolic link, a file, a folder that cannot be looked at).
 *
 * @example
 * if (folderState(lineDir) === 'missing') return 'retry'; // a release moved it: look again
 */
export function folderState(dir: string): 'folder' | 'missing' | 'other' {
  try {
    return fs.lstatSync(dir).isDirectory() ? 'folder' : 'other';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'other';
  }
}

/** Removes a file older than `ageMs`, by the file system's clock, which wrote its time. */
export function removeIfOlder(file: string, ageMs: number): void {
  try {
    if (Math.abs(Date.now() - fs.statSync(file).mtimeMs) > ageMs) fs.rmSync(file, { force: true });
  } catch {
    // gone already
  }
}

/**
 * Removes a released folder and what it holds, but the files `keep` names (uncounted
 * occurrences', made after the count by an occurrence that takes it back); the folder stays
 * while one is there, or while a file cannot be removed (a lock), for a later look. Never throws.
 */
export function removeFolder(dir: string, keep: (name: string) => boolean): void {
  for (const entry of entriesIn(dir)) {
    const file = path.join(dir, entry.name);
    try {
      if (entry.isDirectory()) removeFolder(file, keep);
      else if (!(entry.isFile() && keep(entry.name))) fs.rmSync(file, { force: true });
    } catch {
      // left for a later look
    }
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    // something is still there: a later look removes it
  }
}

/**
 * The folder a line's held-back occurrences are counted in: its own (`own`), or, past
 * MAX_LINES_HELD lines in the window, the first line's by name (every process picks the same).
 */
export function lineFolder(windowDir: string, line: string): { dir: string; own: boolean } {
  const own = path.join(windowDir, `line-${line}`);
  const lines = folders(windowDir)
    .filter((name) => name.startsWith('line-'))
    .sort();
  if (lines.includes(`line-${line}`)) return { dir: own, own: true };
  if (lines.length >= MAX_LINES_HELD) return { dir: path.join(windowDir, lines[0]), own: false };
  fs.mkdirSync(own, { recursive: true, mode: 0o700 });
  return { dir: own, own: true };
}
