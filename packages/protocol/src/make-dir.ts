import fs from 'node:fs';
import path from 'node:path';

/**
 * `mkdir -p`: makes `dir` and its missing parents (each with `mode`), and does nothing when it
 * exists. Why not `fs.mkdirSync(dir, { recursive: true })`: Node's own walk loops forever where
 * a parent exists but refuses new entries with ENOENT (`/proc/nonexistent/queue` spun at 100% CPU
 * until killed), and the SDK must never hang its host. Here each level is tried once, so such a
 * path fails at once with the error of the level that could not be made.
 *
 * @example
 * makeDirSync('/var/lib/jcs-collector/keys/days', 0o700);
 */
export function makeDirSync(dir: string, mode = 0o777): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const existing = statOrNull(d);
    if (existing) {
      if (!existing.isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${d}'`), {
          code: 'ENOTDIR',
          path: d,
        });
      }
      break;
    }
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d, { mode });
    } catch (e) {
      // Made meanwhile by another process: as good as made here.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statOrNull(d)?.isDirectory()) throw e;
    }
  }
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
