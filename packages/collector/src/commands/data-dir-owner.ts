import fs from 'node:fs';
import { CommandError } from './output';

/**
 * Refuses to run as root on a data dir that belongs to another user: the files the run makes
 * (a rotated key, the database's -wal and -shm, a day's key or sealed file) would be root's,
 * mode 0600, and the `serve` running as that user could not read them. The failure came later,
 * at the next start ("cannot read the key file ... (EACCES)"), far from its cause. Another user
 * than root cannot get into the 0700 dir at all, and is told so by the command itself.
 *
 * @example
 * refuseForeignDataDir('/var/lib/jcs-collector'); // as root, dir owned by jcs: throws, naming jcs
 */
export function refuseForeignDataDir(
  dataDir: string,
  uid: number | undefined = process.getuid?.(),
  users = '/etc/passwd',
): void {
  if (uid !== 0) return;
  let owner: number;
  try {
    owner = fs.statSync(dataDir).uid;
  } catch {
    return; // not there yet (init), or unreadable: the command says what is wrong with it
  }
  if (owner === 0) return;
  const name = userName(owner, users);
  const who = name ? `${name} (uid ${owner})` : `uid ${owner}`;
  const as = `sudo -u ${name ?? `'#${owner}'`} jcs-collector ...`;
  throw new CommandError(
    `${dataDir} belongs to ${who}, and this is root: run jcs-collector as that user (${as}), so that serve can read the files this command would make (if serve runs as root, chown -R root ${dataDir} instead)`,
  );
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
