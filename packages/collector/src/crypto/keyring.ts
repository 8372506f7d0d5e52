import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import nacl from 'tweetnacl';
import { toBase64, makeDirSync } from '@jcs/protocol';
import { finishShredding, shreddingDays, shredFile, shredFileSync, writeFileAtomic } from './files';
import {
  KeyringError,
  loadMasterKey,
  MASTER_FILE,
  MASTER_KEY_ENV,
  parseMasterKey,
  readKeyFile,
  unwrap,
  wrap,
} from './master-key';
import {
  addTransportKey,
  CURRENT_TRANSPORT,
  nextTransportKeyId,
  readTransportKeys,
  TRANSPORT_DIR,
  type TransportKey,
} from './transport-keys';

// What other modules import from here, wherever it is kept.
export { KeyringError, MASTER_KEY_ENV } from './master-key';
export {
  isKeyId,
  listTransportKeys,
  nextTransportKeyId,
  type TransportKey,
  type TransportKeyInfo,
} from './transport-keys';
import { SeenFolder } from '../seen-folder';

/** Where the keys live, inside the keys folder (never in the database, never in backups). */
const USER_HMAC_FILE = 'user-hmac.key';
const AUDIT_HMAC_FILE = 'audit-hmac.key';
const DAYS_DIR = 'days';
const DAY_FILE = /^(\d{4}-\d{2}-\d{2})\.key$/;

/**
 * Which key a day has now, as a fingerprint of its wrapped file (store/ingest-writer.ts compares
 * it, under the write lock, with the one a report was sealed under), or null when it has none.
 * Of the content, not the file's inode or times: a chmod, a backup's hard link or a restore
 * leaves it as it is, and a new key (its wrapping has a fresh random nonce) never has the old one's.
 *
 * @example
 * dayKeyFingerprint(keysDir, '2026-12-07'); // '9f86d081884c7d65', or null once shredded
 */
export function dayKeyFingerprint(keysDir: string, day: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(dayKeyFile(keysDir, day), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return fingerprint(text);
}

/** Of the text as unwrap() reads it: white space around it is no other key. */
function fingerprint(wrapped: string): string {
  return crypto.createHash('sha256').update(wrapped.trim(), 'utf8').digest('hex').slice(0, 16);
}

function dayKeyFile(keysDir: string, day: string): string {
  return path.join(keysDir, DAYS_DIR, `${day}.key`);
}

/**
 * Every key of the collector, loaded once at start. Data keys are per day of receipt: destroying
 * one makes that day's reports unreadable in any copy of the database.
 *
 * @example
 * const keyring = loadKeyring(dataPaths(dataDir).keys);
 * const key = keyring.dayKey('2026-12-01', true); // created on the day's first report
 */
export class Keyring {
  private readonly dayKeys = new Map<
    string,
    { key: Uint8Array; identity: string | null; fingerprint: string }
  >();
  /** Days whose key file was seen in this turn of the event loop (see dayKey). */
  private readonly seenThisTurn = new Set<string>();
  private readonly folder: KeysFolderWatch;

  constructor(
    readonly dir: string,
    private readonly master: Uint8Array,
    private current: TransportKey,
    private transportKeys: Map<string, TransportKey>,
    readonly userHmacKey: Uint8Array,
    readonly auditKey: Uint8Array,
  ) {
    this.folder = new KeysFolderWatch(dir);
  }

  /**
   * The current transport key, as the keys folder says now: `jcs-collector key rotate`, run
   * while `serve` runs, takes effect at once (GET /v1/public-key hands the new key out) rather
   * than at the next start. Reads one small file a call: only that route and `init` ask.
   */
  get transport(): TransportKey {
    let id: string;
    try {
      id = fs.readFileSync(path.join(this.dir, TRANSPORT_DIR, CURRENT_TRANSPORT), 'utf8').trim();
    } catch {
      return this.current; // a folder being restored: keep what was loaded
    }
    if (id !== this.current.keyId) {
      const key = this.transportKeys.get(id) ?? this.reloadTransport().get(id);
      if (key) this.current = key;
    }
    return this.current;
  }

  /**
   * Whether the transport key of `keyId` is loaded, without reading the folder again (a key
   * rotated in by another process is found by transportSecret()).
   */
  holdsTransportKey(keyId: string): boolean {
    return this.transportKeys.has(keyId);
  }

  /** Every transport key id in the folder, the current one included. */
  transportKeyIds(): string[] {
    return [...this.transportKeys.keys()].sort();
  }

  /**
   * Adds a new transport key and makes it current, on disk; every keyring reading the folder (a
   * running `serve` among them) hands it out from its next `transport`.
   *
   * @example
   * loadKeyring(dir).rotateTransport(); // { keyId: 'k2', publicKey: '...', previousKeyId: 'k1' }
   */
  rotateTransport(keyId?: string): { keyId: string; publicKey: string; previousKeyId: string } {
    const id = keyId ?? nextTransportKeyId(this.transportKeyIds());
    if (this.transportKeys.has(id)) {
      throw new KeyringError(`transport key ${id} already exists: choose another key id`);
    }
    // On a file system that ignores case (a Windows or macOS volume, some network mounts) `K2`
    // would overwrite `k2.json`, and every dump sealed under k2 would no longer open.
    const like = this.transportKeyIds().find((k) => k.toLowerCase() === id.toLowerCase());
    if (like !== undefined) {
      throw new KeyringError(
        `transport key ${like} already exists, and ${id} differs from it only in case: choose another key id`,
      );
    }
    // Read before the new key is written: `transport` reads the folder, which then names it.
    const previousKeyId = this.transport.keyId;
    return { ...addTransportKey(this.dir, this.master, id), previousKeyId };
  }

  /**
   * The transport secret key of a keyId (old ones stay after a rotation so old dumps open). A
   * key id not loaded yet is looked for in the folder: a dump sealed under a key rotated in
   * while `serve` ran opens without a restart.
   */
  transportSecret(keyId: string): Uint8Array | undefined {
    return (this.transportKeys.get(keyId) ?? this.reloadTransport().get(keyId))?.secretKey;
  }

  /** Reads the transport keys again; keeps those loaded when the folder cannot be read whole. */
  private reloadTransport(): Map<string, TransportKey> {
    try {
      this.transportKeys = readTransportKeys(path.join(this.dir, TRANSPORT_DIR), this.master);
    } catch {
      // a key file half written or damaged: the keys loaded at start still serve
    }
    return this.transportKeys;
  }

  /** Keyed hash of a username: distinct-user counts and erasure look-ups without the name. */
  userHash(username: string): Buffer {
    return crypto
      .createHmac('sha256', this.userHmacKey)
      .update(username, 'utf8')
      .digest()
      .subarray(0, 16);
  }

  /**
   * The data key of a day, created (and synced to disk) on first use when `create` is set.
   * Null when the key was destroyed or never existed.
   */
  dayKey(day: string, create = false): Uint8Array | null {
    const cached = this.dayKeys.get(day);
    if (cached && this.seenThisTurn.has(day)) return cached.key;
    const file = dayKeyFile(this.dir, day);
    // Another process (`jcs-collector expire --now` from cron or by hand) may have shredded the
    // file: a key kept in memory past that would seal reports nobody can open after a restart.
    // And where this keyring only reads (the read thread's), the serving collector may have made
    // the day a new key since: so the file is compared by identity, not only looked for. Once per
    // turn of the event loop, not per report: the look-up is a system call (5% of the event loop's
    // time under ingest), and a turn's reports all arrived before it.
    const identity = fileIdentity(file);
    if (cached) {
      if (identity === cached.identity) return this.seen(day, cached.key);
      cached.key.fill(0);
      this.dayKeys.delete(day);
    }
    if (identity !== null) {
      // A keyring that only reads (the read thread's) learns of days/ here, made by another.
      this.folder.sawDays();
      const { key, fingerprint } = openDayKey(file, this.master);
      this.dayKeys.set(day, { key, identity, fingerprint });
      return this.seen(day, key);
    }
    // A day without a key file: expired (or never had reports), unless the keys folder, or its
    // days/, is gone from under a running collector. That is no report gone but the storage
    // failing: made anew, a new key would seal the day's next reports, and the day's earlier ones
    // would read as gone, their key file then in the way of the folder put back.
    const gone = this.folder.missing();
    if (gone) throw gone;
    if (!create) return null;
    const daysDir = path.dirname(file);
    const key = nacl.randomBytes(nacl.secretbox.keyLength);
    try {
      // Not recursive: a keys folder moved away is not made anew around one day key.
      fs.mkdirSync(daysDir, { mode: 0o700 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw keysFolderGone(this.dir);
      if (code !== 'EEXIST') throw e;
    }
    this.folder.sawDays();
    // Never over a key file that appeared meanwhile: the reports sealed under it would be lost.
    const wrapped = wrap(key, this.master);
    if (!writeFileAtomic(file, wrapped, 0o600, { exclusive: true })) {
      return this.dayKey(day, false);
    }
    this.dayKeys.set(day, { key, identity: fileIdentity(file), fingerprint: fingerprint(wrapped) });
    return this.seen(day, key);
  }

  /**
   * The fingerprint of the key `dayKey(day)` last returned (see dayKeyFingerprint): what a
   * report sealed under it carries to the write transaction.
   */
  sealedUnder(day: string): string | null {
    return this.dayKeys.get(day)?.fingerprint ?? null;
  }

  private seen(day: string, key: Uint8Array): Uint8Array {
    if (this.seenThisTurn.size === 0) setImmediate(() => this.seenThisTurn.clear());
    this.seenThisTurn.add(day);
    return key;
  }

  /** Days that still have a data key, oldest first. */
  listDayKeys(): string[] {
    const dir = path.join(this.dir, DAYS_DIR);
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .map((f) => DAY_FILE.exec(f)?.[1])
      .filter((d): d is string => d !== undefined)
      .sort();
  }

  /**
   * Crypto-shreds a day's data key: dropped from memory at once, then its file renamed out of
   * the way, overwritten, synced and unlinked (crypto/files.ts shredFile).
   *
   * @example
   * await keyring.destroyDayKey('2026-09-19');
   */
  destroyDayKey(day: string): Promise<void> {
    this.dayKeys.get(day)?.key.fill(0);
    this.dayKeys.delete(day);
    this.seenThisTurn.delete(day);
    return shredFile(dayKeyFile(this.dir, day));
  }

  /**
   * destroyDayKey, done before it returns: for a shredding inside a write transaction, where no
   * batch may commit between the look for the day's reports and the key's end (retention/expire.ts).
   * False where the key is out of use but its bytes wait for the next run (shredFileSync).
   */
  destroyDayKeySync(day: string): boolean {
    this.dayKeys.get(day)?.key.fill(0);
    this.dayKeys.delete(day);
    this.seenThisTurn.delete(day);
    return shredFileSync(dayKeyFile(this.dir, day));
  }

  /** Finishes the shreddings of day keys left half done (crypto/files.ts finishShredding). */
  finishShredding(): { finished: number; failed: string[] } {
    return finishShredding(path.join(this.dir, DAYS_DIR));
  }

  /**
   * The days of keys out of use whose overwrite is not done yet (a write or sync that failed; the
   * next expiry run finishes it), one entry a key. Their bytes still unwrap under the master key:
   * the retention status counts them as kept, and a run's receipt not yet as destroyed.
   *
   * @example
   * keyring.listShreddingDays(); // [] or ['2026-09-01']
   */
  listShreddingDays(): string[] {
    return shreddingDays(path.join(this.dir, DAYS_DIR));
  }
}

/**
 * Creates a new keys folder. Refuses to overwrite anything: losing keys loses every report.
 *
 * @example
 * const { keyId, publicKey } = createKeys('/var/lib/jcs/keys');
 */
export function createKeys(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
): { keyId: string; publicKey: string } {
  const existed = fs.existsSync(dir);
  if (existed && fs.readdirSync(dir).length > 0) {
    throw new KeyringError(`the keys folder ${dir} already holds keys: init never overwrites keys`);
  }
  // Checked before anything is written, so a bad variable leaves nothing behind to block a retry.
  const fromEnv = env[MASTER_KEY_ENV] ? parseMasterKey(env[MASTER_KEY_ENV]) : null;
  makeDirSync(dir, 0o700);
  try {
    fs.chmodSync(dir, 0o700);
    const master = fromEnv ?? nacl.randomBytes(32);
    if (!fromEnv) writeFileAtomic(path.join(dir, MASTER_FILE), toBase64(master) + '\n');
    writeFileAtomic(path.join(dir, USER_HMAC_FILE), wrap(nacl.randomBytes(32), master));
    writeFileAtomic(path.join(dir, AUDIT_HMAC_FILE), wrap(nacl.randomBytes(32), master));
    fs.mkdirSync(path.join(dir, DAYS_DIR), { mode: 0o700 });
    return addTransportKey(dir, master, 'k1');
  } catch (e) {
    // Only what this call made is removed: the folder was absent or empty before it.
    if (existed) {
      for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { recursive: true });
    } else {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    throw e;
  }
}

/**
 * Loads the keys folder, with a clear message (a KeyringError) for each way it can be missing,
 * unreadable or damaged, or not open with the master key.
 *
 * @example
 * const keyring = loadKeyring('/var/lib/jcs-collector/keys'); // JCS_COLLECTOR_MASTER_KEY or keys/master.key
 */
export function loadKeyring(dir: string, env: NodeJS.ProcessEnv = process.env): Keyring {
  if (!fs.existsSync(dir)) {
    throw new KeyringError(
      `the keys folder ${dir} is missing: restore it from where you keep it (the database's reports cannot be read without it), or start afresh with jcs-collector init on a new --data-dir`,
    );
  }
  if (!fs.statSync(dir).isDirectory()) {
    throw new KeyringError(`the keys folder ${dir} is not a folder: restore the keys folder`);
  }
  try {
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.X_OK);
  } catch {
    throw new KeyringError(
      `the keys folder ${dir} is not readable by this user: run the collector as the folder's owner, and keep the folder mode 0700 as jcs-collector init made it (chown -R, chmod 700)`,
    );
  }
  const master = loadMasterKey(dir, env);
  const userHmacKey = unwrap(readKeyFile(dir, USER_HMAC_FILE), master, USER_HMAC_FILE);
  const auditKey = unwrap(readKeyFile(dir, AUDIT_HMAC_FILE), master, AUDIT_HMAC_FILE);
  const tdir = path.join(dir, TRANSPORT_DIR);
  const currentId = readKeyFile(dir, path.join(TRANSPORT_DIR, CURRENT_TRANSPORT)).trim();
  const transportKeys = readTransportKeys(tdir, master);
  const current = transportKeys.get(currentId);
  if (!current)
    throw new KeyringError(
      `the current transport key ${currentId} is missing from ${tdir}: restore ${currentId}.json from where you keep the keys folder, or write the id of a key that is there into ${path.join(tdir, CURRENT_TRANSPORT)}`,
    );
  // Each day key opened once now, so that a damaged one is named at the start, not met as a
  // failing read of every group list later. At most 43 small files.
  const daysDir = path.join(dir, DAYS_DIR);
  if (fs.existsSync(daysDir)) {
    for (const f of fs.readdirSync(daysDir).filter((name) => DAY_FILE.test(name))) {
      const file = path.join(daysDir, f);
      try {
        openDayKey(file, master).key.fill(0);
      } catch (e) {
        if (fs.existsSync(file)) throw e; // else shredded meanwhile by an expiry run: its day is gone
      }
    }
  }
  return new Keyring(dir, master, current, transportKeys, userHmacKey, auditKey);
}

/**
 * A day key file's key. The master key has opened the other keys by now, so a day key that does
 * not open is damaged or from another keys folder; as day keys are never backed up, the way out
 * may be to give up its day.
 */
function openDayKey(file: string, master: Uint8Array): { key: Uint8Array; fingerprint: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new KeyringError(
      `cannot read the day key ${file} (${(e as NodeJS.ErrnoException).code}): give this user back read access to it`,
    );
  }
  try {
    return { key: unwrap(text, master, file), fingerprint: fingerprint(text) };
  } catch {
    throw new KeyringError(
      `the day key ${file} does not open (damaged, or from another keys folder): put the right file back, or remove it to give up that day's reports (they then read as gone)`,
    );
  }
}

/**
 * Tells a keys folder, or its `days/`, moved away from under a running collector (the storage
 * failing: answered 503, nothing made anew or dropped) from a `days/` that was never there (a
 * restore without it, which the next day key makes anew). Once `days/` has been seen, its
 * absence is the first.
 *
 * @example
 * const folder = new KeysFolderWatch(keysDir);
 * const gone = folder.missing();
 * if (gone) throw gone; // answered 503, the report kept by its sender
 */
export class KeysFolderWatch {
  private readonly days: SeenFolder;

  constructor(private readonly keysDir: string) {
    this.days = new SeenFolder(path.join(keysDir, DAYS_DIR));
  }

  /** `days/` is there: a key was read from it or made in it. */
  sawDays(): void {
    this.days.saw();
  }

  /** The storage failing, when the keys folder or a `days/` seen before is gone; else undefined. */
  missing(): KeyringError | undefined {
    if (!fs.existsSync(this.keysDir)) return keysFolderGone(this.keysDir);
    return this.days.gone() ? keysFolderGone(this.days.dir) : undefined;
  }
}

function keysFolderGone(dir: string): KeyringError {
  return new KeyringError(
    `the keys folder ${dir} is gone while the collector runs: put it back (reports can be neither sealed nor read without it)`,
  );
}

/**
 * Which file is at `file` now (inode and change time), or null when there is none: a file
 * replaced by another, even under a reused inode number, has another identity.
 */
function fileIdentity(file: string): string | null {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  return stat ? `${stat.ino}:${stat.ctimeMs}` : null;
}
