import fs from 'node:fs';
import path from 'node:path';
import { makeDirSync } from '@jcs/protocol';
import { processIdentity, stillRuns } from './process-identity';
import { readPidFile } from './pid-file';
import { createKeys, KeyringError, MASTER_KEY_ENV } from '../crypto/keyring';
import { openDatabase, type Db } from '../store/db';
import { fsyncDir } from '../crypto/files';
import { dataPaths } from '../paths';
import { CommandError, type Output } from './output';
import { Command } from 'commander';
import { DATA_DIR_HELP, type CommandContext } from './context';
import { tokenCreateAdvice } from './token-advice';

export interface InitResult {
  dataDir: string;
  keyId: string;
  publicKey: string;
}

/**
 * `jcs-collector init`: the data dir (mode 0700) with the database and a separate keys folder.
 * Never overwrites keys: an existing keys folder or database is refused. With
 * `JCS_COLLECTOR_MASTER_KEY` set, the master key is that one and is not written to disk.
 *
 * @example
 * const { keyId, publicKey } = await initCommand('/var/lib/jcs-collector', stdio);
 */
export async function initCommand(
  dataDir: string,
  out: Output,
  env: NodeJS.ProcessEnv = process.env,
): Promise<InitResult> {
  const paths = dataPaths(dataDir);
  if (fs.existsSync(paths.initMarker)) {
    // What an init stopped part way made (a kill, a power cut) was never used: every other
    // command refuses the data dir while the marker is there. Made again from the start, unless
    // that init is still running, or the data dir was used after all (a marker put back by hand).
    checkMarkerIsStale(dataDir, paths);
    removeWhatInitMakes(paths);
    out.err(`an earlier init of ${dataDir} was stopped part way: what it made is made again`);
  }
  const hasKeys = fs.existsSync(paths.keys);
  const hasDb = fs.existsSync(paths.db);
  if (hasKeys && !hasDb) {
    throw new CommandError(
      `${dataDir} has a keys folder but no database: restore collector.db from its backup, ` +
        'or, to start afresh, move the keys folder away first (init never overwrites keys)',
    );
  }
  if (hasDb && !hasKeys) {
    throw new CommandError(
      `${dataDir} has a database but no keys folder: restore the keys folder ${paths.keys} from where you keep it (the reports cannot be read without it), ` +
        'or, to start afresh, use another --data-dir (init never overwrites a database)',
    );
  }
  if (hasKeys || hasDb) {
    throw new CommandError(
      `${dataDir} is already initialised: init never overwrites keys (use another --data-dir)`,
    );
  }
  const existed = fs.existsSync(dataDir);
  try {
    makeDirSync(dataDir, 0o700);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new CommandError(
        `${dataDir} cannot be a data dir: it, or a folder above it, is a file (choose another --data-dir)`,
      );
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOENT') {
      throw new CommandError(
        `cannot create ${dataDir} (${code}): choose a --data-dir this user may write to`,
      );
    }
    throw e;
  }
  // The database, then the keys: should either fail (a full disk, a malformed
  // JCS_COLLECTOR_MASTER_KEY), nothing half-made is left to block a retry. A database left
  // behind read at the next init as one whose keys folder was lost ("restore the keys folder").
  // A kill or a power cut part way is covered by the marker, made first and removed last.
  let keys: { keyId: string; publicKey: string };
  try {
    fs.chmodSync(dataDir, 0o700);
    takeMarker(dataDir, paths);
    if (fs.existsSync(paths.db) || fs.existsSync(paths.keys)) {
      // Another init made it all between the checks above and the marker.
      fs.rmSync(paths.initMarker);
      throw anotherInit(dataDir, null);
    }
    fsyncDir(dataDir);
    openDatabase(paths.db, { create: true }).close();
    fs.chmodSync(paths.db, 0o600);
    keys = createKeys(paths.keys, env);
    fsyncDir(dataDir);
    fs.rmSync(paths.initMarker);
    fsyncDir(dataDir);
  } catch (e) {
    // Another init holds the data dir: all it has made is its own.
    if (e instanceof AnotherInit) throw new CommandError(e.message);
    removeWhatInitMakes(paths);
    // Nor an empty data dir: it looked initialised.
    if (!existed) fs.rmSync(dataDir, { recursive: true, force: true });
    if (e instanceof KeyringError) throw new CommandError(e.message);
    throw e;
  }
  out.out(`initialised ${dataDir}`);
  out.out(`key id: ${keys.keyId}`);
  out.out(`public key: ${keys.publicKey}`);
  out.err(
    env[MASTER_KEY_ENV]
      ? `The master key is the one in ${MASTER_KEY_ENV}; it was not written to disk: keep it safe, every command needs it.`
      : `The master key is in ${paths.keys}/master.key: never back up the keys folder with the database.`,
  );
  out.err(
    `Pin the key id and public key in the SDK configuration; create tokens with: ${tokenCreateAdvice(dataDir)}`,
  );
  return { dataDir, ...keys };
}

/** Another init runs on the same data dir: this one leaves everything to it. */
class AnotherInit extends Error {}

function anotherInit(dataDir: string, pid: number | null): AnotherInit {
  const which = pid === null ? 'another jcs-collector init' : `jcs-collector init (pid ${pid})`;
  return new AnotherInit(`${which} is making ${dataDir} now: wait for it, then use the data dir`);
}

/**
 * Makes the marker, holding this process's id, or refuses when another init has just made it:
 * two inits run at once must not take each other's half-made data dir for one stopped part way
 * and remove it. The marker appears whole (linked from a file already written), so whoever reads
 * it finds the id.
 */
function takeMarker(dataDir: string, paths: ReturnType<typeof dataPaths>): void {
  const mine = `${paths.initMarker}.${process.pid}.tmp`;
  fs.writeFileSync(mine, `${process.pid} ${processIdentity(process.pid) ?? ''}\n`, {
    mode: 0o600,
  });
  try {
    fs.linkSync(mine, paths.initMarker);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw anotherInit(dataDir, markerPid(paths));
    throw e;
  } finally {
    fs.rmSync(mine, { force: true });
  }
}

/** The process id a marker names; null for one of an init before ids were kept, or unreadable. */
function markerPid(paths: ReturnType<typeof dataPaths>): number | null {
  return readPidFile(paths.initMarker);
}

/** The identity of the process a marker names (after its pid), if it has one. */
function markerIdentity(paths: ReturnType<typeof dataPaths>): string | undefined {
  try {
    return fs.readFileSync(paths.initMarker, 'utf8').trim().split(/\s+/)[1];
  } catch {
    return undefined;
  }
}

/**
 * Refuses to take a marker for one an init left when it stopped, while that init still runs, or
 * when the data dir has tokens or reports: no stopped init made those, and removing "what it made"
 * would be the whole collector.
 */
function checkMarkerIsStale(dataDir: string, paths: ReturnType<typeof dataPaths>): void {
  const pid = markerPid(paths);
  if (pid !== null && pid !== process.pid && stillRuns(pid, markerIdentity(paths)))
    throw new CommandError(anotherInit(dataDir, pid).message);
  if (!wasUsed(dataDir, paths)) return;
  throw new CommandError(
    `${dataDir} holds tokens or reports, yet its init.incomplete says an init stopped part way: ` +
      `init will not remove it. If no init is running, remove ${paths.initMarker} to use the data dir`,
  );
}

/** True when the data dir holds what only use makes: tokens, reports, a day's sealed records. */
function wasUsed(dataDir: string, paths: ReturnType<typeof dataPaths>): boolean {
  try {
    if (fs.readdirSync(path.join(dataDir, 'sealed')).length > 0) return true;
  } catch {
    // no sealed/ yet
  }
  let db: Db | undefined;
  try {
    db = openDatabase(paths.db, { readonly: true });
    const used = db
      .prepare('SELECT EXISTS (SELECT 1 FROM tokens) OR EXISTS (SELECT 1 FROM reports)')
      .pluck()
      .get();
    return used === 1;
  } catch {
    return false; // a database an init did not finish making holds nothing
  } finally {
    db?.close();
  }
}

/** The database, the keys folder and the marker, as far as an init made them. */
function removeWhatInitMakes(paths: ReturnType<typeof dataPaths>): void {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(paths.db + suffix, { force: true });
  fs.rmSync(paths.keys, { recursive: true, force: true });
  fs.rmSync(paths.initMarker, { force: true });
}

/**
 * `init`, wired: the data dir named on the command line, made with its keys.
 *
 * @example
 * program.addCommand(makeInitCommand(context));
 */
export function makeInitCommand(c: CommandContext): Command {
  return new Command('init')
    .description('create the data dir: database and keys folder; prints the public key and key id')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (_o, cmd: Command) => {
      await initCommand(c.dataDir(cmd), c.out);
    });
}
