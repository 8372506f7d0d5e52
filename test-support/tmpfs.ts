import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { makeTempDir } from './collector';

/** A small file system of its own, for tests of a disk that fills up. */
export interface Tmpfs {
  dir: string;
  /** bytes free to this user now */
  free(): number;
  unmount(): void;
}

/**
 * Mounts a tmpfs of `mib` MiB on a fresh temp dir, or returns null where this process may not
 * mount (not root, or in a container without the right): a real full disk, which SQLite's page
 * limit only imitates, since the WAL and the day files fill a disk too.
 *
 * @example
 * const disk = mountTmpfs(48);
 * (disk ? it : it.skip)('...', ...);
 */
export function mountTmpfs(mib: number): Tmpfs | null {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return null;
  const dir = makeTempDir('jcs-tmpfs-');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'tmpfs', dir]);
  if (mounted.status !== 0) return null;
  return {
    dir,
    free: () => {
      const s = fs.statfsSync(dir);
      return s.bavail * s.bsize;
    },
    unmount: () => {
      spawnSync('umount', ['-l', dir]);
    },
  };
}
