/**
 * What to do about a failure of the machine rather than of the command: a full disk, a
 * permission, a locked database. Each is one line naming the cause and the remedy, where a bug
 * would get "run again with JCS_DEBUG=1"; the error's own text (a path in the data dir, never
 * personal data) follows in brackets.
 */
const OWN_AND_MODES =
  'run as the user that owns the data dir, and keep its folders mode 0700 and files 0600 (chown -R; chmod)';

const REMEDIES: Record<string, string> = {
  ENOSPC: 'the disk is full: free some space and run again',
  EDQUOT: 'the disk quota is used up: free some space or raise the quota, and run again',
  SQLITE_FULL: 'the disk is full: free some space and run again',
  // Its owner can be shut out too (a folder of the keys at mode 000): the modes are named.
  EACCES: `permission denied: ${OWN_AND_MODES}`,
  EPERM: `permission denied: ${OWN_AND_MODES}`,
  // A file or folder of the data dir closed to writing, to its owner too (chmod 500).
  SQLITE_READONLY: `the database cannot be written: ${OWN_AND_MODES}`,
  EROFS: 'the file system is read-only: put the data dir on a writable one',
  EIO: 'the disk reported an I/O error: check the disk, then run again',
  // SQLite says this of a full disk too, when its shared-memory file cannot grow
  SQLITE_IOERR:
    'the disk reported an I/O error: check that it has free space and works, then run again',
  EMFILE: 'too many open files: raise the limit (ulimit -n) and run again',
  ENFILE: 'too many open files on the system: close some programs and run again',
  SQLITE_BUSY: 'the database is locked by another process: wait for it, then run again',
};

/**
 * The one line for a failure of the machine, or undefined for anything else.
 *
 * @example
 * systemFailure(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
 * // 'the disk is full: free some space and run again (ENOSPC: no space left on device, write)'
 */
export function systemFailure(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  // SQLite's extended codes (SQLITE_IOERR_WRITE) share their primary code's remedy.
  const remedy = REMEDIES[code] ?? REMEDIES[code.replace(/^(SQLITE_[A-Z]+)_.*$/, '$1')];
  return remedy && `${remedy} (${(e as Error).message})`;
}
