import fs from 'node:fs';
import path from 'node:path';
import { dataPaths } from '../paths';

/**
 * Warnings for the parts of a data dir that others may read or enter, as init never leaves them
 * (a `chmod -R 755`, a restore with another umask): a readable `master.key` unwraps every day
 * key, and with it every report. Nothing is refused (the owner may have reasons, a backup agent's
 * group say), but `serve` says so at every start, as ssh does of a private key.
 *
 * @example
 * looseModes('/var/lib/jcs-collector');
 * // ['/var/lib/jcs-collector/keys/master.key is open to other users (mode 0644): chmod 600 it']
 */
export function looseModes(dataDir: string): string[] {
  const { db, keys } = dataPaths(dataDir);
  // What init makes private: the folders 0700, the files 0600.
  const privateParts = [
    { file: dataDir, dir: true },
    { file: keys, dir: true },
    { file: path.join(keys, 'master.key'), dir: false },
    { file: db, dir: false },
    { file: path.join(dataDir, 'sealed'), dir: true },
  ];
  const found: string[] = [];
  for (const { file, dir } of privateParts) {
    let mode: number;
    try {
      mode = fs.statSync(file).mode & 0o777;
    } catch {
      continue; // not there (master key off the disk, no sealed/ yet)
    }
    if ((mode & 0o077) === 0) continue;
    const octal = `0${mode.toString(8)}`;
    found.push(
      `${file} is open to other users (mode ${octal}): chmod ${dir ? '700' : '600'} it, as init made it`,
    );
  }
  return found;
}
