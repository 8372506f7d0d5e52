import fs from 'node:fs';
import path from 'node:path';
import { shellWord } from '@jcs/protocol';
import { MASTER_KEY_ENV } from '../crypto/keyring';
import { CommandError } from './output';

/**
 * Refuses a data dir this user cannot use, naming the user to run as, before the command trips
 * over it with advice that fits a missing dir ("run jcs-collector init") or a bug.
 *
 * As root, it also refuses a data dir that belongs to another user: the files the run makes (a
 * rotated key, the database's -wal and -shm, a day's key or sealed file) would be root's, mode
 * 0600, and the `serve` running as that user could not read them. The failure came later, at the
 * next start ("cannot read the key file ... (EACCES)"), far from its cause.
 *
 * @example
 * refuseForeignDataDir('/var/lib/jcs-collector'); // as root, dir owned by jcs: throws, naming jcs
 */
export function refuseForeignDataDir(
  dataDir: string,
  uid: number | undefined = process.getuid?.(),
  users = '/etc/passwd',
): void {
  let owner: number;
  let mode: number;
  try {
    const stat = fs.statSync(dataDir);
    // A file is no data dir, whoever owns it: the command says so (paths.ts), not to run as them.
    if (!stat.isDirectory()) return;
    owner = stat.uid;
    mode = stat.mode & 0o777;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EACCES') return; // not there yet (init)
    // Named, since the owner of the data dir may be shut out too (a parent made by mktemp -d).
    const closed = closedFolderAbove(dataDir);
    const which = closed ? `${closed} is closed to it` : 'a folder above it is closed to it';
    const open = closed ? `open it to this user (chmod o+x ${shellWord(closed)}), or ` : '';
    throw new CommandError(
      `this user cannot reach ${dataDir} (${which}): ${open}run jcs-collector as the user the data dir belongs to`,
    );
  }
  const name = userName(owner, users);
  const who = name ? `${name} (uid ${owner})` : `uid ${owner}`;
  const as = runAs(name ?? `'#${owner}'`, dataDir);
  if (uid !== 0) {
    // The owner shut out of its own data dir (chmod 500): SQLite would call the database
    // read-only, and the advice to run as the owner would send them in a circle.
    if (owner === uid && (mode & 0o700) !== 0o700) {
      throw new CommandError(
        `${dataDir} belongs to this user but its mode (0${mode.toString(8)}) does not let it write there: chmod 700 ${shellWord(dataDir)}`,
      );
    }
    // Other trouble of the owner's own (a read-only file system) is the command's to name.
    if (owner === uid || usable(dataDir)) return;
    throw new CommandError(
      `${dataDir} belongs to ${who}, and this user (uid ${uid ?? '?'}) may not read and write it: run jcs-collector as that user (${as})`,
    );
  }
  if (owner === 0) return;
  throw new CommandError(
    `${dataDir} belongs to ${who}, and this is root: run jcs-collector as that user (${as}), so that serve can read the files this command would make (if serve runs as root, chown -R root ${shellWord(dataDir)} instead)`,
  );
}

/** The files and folders of a data dir that every command may write, beside the keys folder. */
const WRITTEN = [
  'collector.db',
  'collector.db-wal',
  'collector.db-shm',
  'inbox.db',
  'inbox.db-wal',
  'inbox.db-shm',
  'serve.lock',
  'serve.lock-journal',
  'serve.pid',
  'key-rotate.lock',
];

/**
 * Refuses a data dir whose database or sealed files this user may not read and write: a restore
 * done as root with a plain `cp` leaves them root's, mode 0600. SQLite then fails to open with
 * "unable to open database file", and an unreadable `sealed/` let `serve` start, answer health
 * checks, and refuse every report with a 503. (The keys folder has checks of its own.) Root
 * passes every such check, so this is for the collector's own user.
 *
 * @example
 * refuseUnusableFiles('/var/lib/jcs-collector'); // collector.db root's: throws, naming chown
 */
export function refuseUnusableFiles(dataDir: string, users = '/etc/passwd'): void {
  const sealed = path.join(dataDir, 'sealed');
  let sealedFiles: string[] = [];
  try {
    sealedFiles = fs.readdirSync(sealed).map((name) => path.join(sealed, name));
  } catch {
    // none yet, or not readable: the folder's own check below names it
  }
  const checks: [string, number][] = [
    ...WRITTEN.map((name): [string, number] => [path.join(dataDir, name), RW]),
    [sealed, RW | fs.constants.X_OK],
    ...sealedFiles.map((file): [string, number] => [file, RW]),
  ];
  for (const [file, mode] of checks) {
    try {
      fs.accessSync(file, mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EACCES') continue; // absent: not made yet
      // This user's own file with a mode that shuts it out needs a chmod, not a chown.
      if (ownerOf(file) === process.getuid?.()) {
        throw new CommandError(
          `${file} is this user's but its mode shuts it out: chmod u+rw${mode & fs.constants.X_OK ? 'x' : ''} ${shellWord(file)} (or chmod -R u+rwX ${shellWord(dataDir)}), then run again`,
        );
      }
      const owner = ownerOf(dataDir);
      const name = owner === undefined ? undefined : userName(owner, users);
      throw new CommandError(
        `${file} is not this user's to read and write (as after a restore made as root): give the data dir's files to the collector's user (as root: chown -R ${name ?? 'USER'} ${shellWord(dataDir)}), then run again`,
      );
    }
  }
}

const RW = fs.constants.R_OK | fs.constants.W_OK;

/**
 * The command line to run as `user`: sudo resets the environment, so the data dir goes on the line
 * (JCS_COLLECTOR_DATA_DIR would be lost, and the command act on ./jcs-data), and a master key kept
 * off the disk is named to keep.
 */
function runAs(user: string, dataDir: string): string {
  const keep = process.env[MASTER_KEY_ENV] ? ` --preserve-env=${MASTER_KEY_ENV}` : '';
  return `sudo -u ${user}${keep} jcs-collector ... --data-dir ${shellWord(dataDir)}`;
}

function ownerOf(file: string): number | undefined {
  try {
    return fs.statSync(file).uid;
  } catch {
    return undefined;
  }
}

function usable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function userName(uid: number, users: string): string | undefined {
  try {
    for (const line of fs.readFileSync(users, 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (id === String(uid) && name) return name;
    }
  } catch {
    // no user database: the uid alone will do
  }
  return undefined;
}

/** The first folder on the way to `dataDir` this user may not pass through, if one is found. */
function closedFolderAbove(dataDir: string): string | undefined {
  const parts = path.resolve(dataDir).split(path.sep);
  for (let i = 1; i < parts.length; i++) {
    const folder = parts.slice(0, i).join(path.sep) || path.sep;
    try {
      fs.accessSync(folder, fs.constants.X_OK);
    } catch {
      return folder;
    }
  }
  return undefined;
}
