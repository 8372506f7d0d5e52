import fs from 'node:fs';
import path from 'node:path';
import { shellWord } from '@jcs/protocol';

const DATA_DIR_ENV = 'JCS_COLLECTOR_DATA_DIR';

/**
 * `--data-dir`, else `$JCS_COLLECTOR_DATA_DIR`, else `./jcs-data`, as an absolute path.
 *
 * @example
 * resolveDataDir(undefined, {}); // '/home/ann/jcs-data' when run in /home/ann
 */
export function resolveDataDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  // An empty variable is unset (as for jcs-errors' variables), not the current directory.
  return path.resolve(flag ?? (env[DATA_DIR_ENV] || 'jcs-data'));
}

/**
 * Where the database and the keys folder of a data dir are.
 *
 * @example
 * dataPaths('/var/lib/jcs-collector').keys; // '/var/lib/jcs-collector/keys'
 */
export function dataPaths(dataDir: string): { db: string; keys: string; initMarker: string } {
  return {
    db: path.join(dataDir, 'collector.db'),
    keys: path.join(dataDir, 'keys'),
    // There from the start of `init` to its end: a data dir holding it was left half-made.
    initMarker: path.join(dataDir, 'init.incomplete'),
  };
}

/**
 * What every command but init says of a data dir an interrupted `init` left half-made.
 *
 * @example
 * initInterrupted('/srv/jcs'); // 'init did not finish on /srv/jcs ...: run jcs-collector init ...'
 */
export function initInterrupted(dataDir: string): string {
  return `init did not finish on ${dataDir} (it was stopped part way): run it again, jcs-collector init --data-dir ${shellWord(dataDir)}`;
}

/**
 * What every command says of a data dir with neither database nor keys folder.
 *
 * @example
 * notInitialised('/srv/jcs'); // 'no collector database in /srv/jcs: check --data-dir or ...'
 */
export function notInitialised(dataDir: string): string {
  // init refuses such a path, so advice to run it would send the operator round in a circle.
  if (underAFile(dataDir)) {
    return `${dataDir} is not a data dir: it, or a folder above it, is a file (check --data-dir or JCS_COLLECTOR_DATA_DIR)`;
  }
  // Most often a wrong path (a typo, a variable not set under cron or systemd): init there would
  // make a second, empty collector with keys of its own, so that comes second.
  return `no collector database in ${dataDir}: check --data-dir or JCS_COLLECTOR_DATA_DIR (else ./jcs-data is used); for a new collector, run jcs-collector init --data-dir ${shellWord(dataDir)}`;
}

function underAFile(dir: string): boolean {
  try {
    return !fs.statSync(dir).isDirectory();
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOTDIR';
  }
}
