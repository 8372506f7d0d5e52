import fs from 'node:fs';
import path from 'node:path';
import { isKeyId, listTransportKeys, loadKeyring, KeyringError } from '../crypto/keyring';
import { dataPaths, notInitialised } from '../paths';
import { CommandError, EXIT, printTable, type Output } from './output';
import { Command } from 'commander';
import { DATA_DIR_HELP, type CommandContext } from './context';
import { takeLock } from './serve-lock';
import { openForCommand } from './open';
import { auditedChange } from './audited-change';
import { shellWord } from '@jcs/protocol';

/** How long a rotation waits for one already running. */
const ROTATE_WAIT_MS = 10_000;

export interface KeyRotateResult {
  keyId: string;
  publicKey: string;
  previousKeyId: string;
}

/**
 * `jcs-collector key rotate`: a new transport (dump) key pair under a new key id becomes the
 * current one. Older key pairs stay in the keys folder, so dumps sealed under their ids still
 * open. A running `serve` hands out the new key at once (no restart); SDKs move to the new key
 * when their pinned configuration is updated. Prints the key id and public key as `init` does.
 *
 * @example
 * await keyRotateCommand('/var/lib/jcs-collector', stdio); // key id: k2, public key: ...
 */
export async function keyRotateCommand(
  dataDir: string,
  out: Output,
  options: { keyId?: string } = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<KeyRotateResult> {
  if (options.keyId !== undefined && !isKeyId(options.keyId)) {
    throw new CommandError(
      `--key-id takes 1-64 letters, digits, dots, dashes or underscores, not ${JSON.stringify(options.keyId.slice(0, 70))}`,
      EXIT.usage,
    );
  }
  const paths = dataPaths(dataDir);
  if (!fs.existsSync(paths.db) && !fs.existsSync(paths.keys)) {
    throw new CommandError(notInitialised(dataDir));
  }
  // One rotation at a time: two at once both took the next id (one failed), and each said its
  // key was current, naming a previous key from before the other's.
  const lock = takeLock(path.join(dataDir, 'key-rotate.lock'), ROTATE_WAIT_MS);
  if (!lock) {
    throw new CommandError(
      `another key rotate on ${dataDir} did not finish within ${ROTATE_WAIT_MS / 1000} s: run it again once that one is done`,
    );
  }
  let result: KeyRotateResult;
  try {
    // Loading first proves the master key opens every key before anything is added.
    result = loadKeyring(paths.keys, env).rotateTransport(options.keyId);
    out.out(`key id: ${result.keyId}`);
    out.out(`public key: ${result.publicKey}`);
    // Under the lock, so that the log lists rotations in the order they happened.
    logRotation(dataDir, result, out, env);
  } catch (e) {
    if (e instanceof KeyringError) throw new CommandError(e.message);
    throw e;
  } finally {
    lock.release();
  }
  out.err(
    `The transport key ${result.keyId} is now current; ${result.previousKeyId} and older keys stay, so dumps sealed under them still open.`,
  );
  out.err(
    'A running jcs-collector serve hands out the new key from GET /v1/public-key at once; pin the new key id and public key in the SDK configuration.',
  );
  return result;
}

/**
 * The rotation's entry in the access log (action `key.rotate`, target the new key id): which key
 * SDKs were told to seal to, since when, is part of who could read what. The key is already
 * current when this runs, and printed, so a log that cannot be written is said, not hidden.
 */
function logRotation(
  dataDir: string,
  result: KeyRotateResult,
  out: Output,
  env: NodeJS.ProcessEnv,
): void {
  if (!fs.existsSync(dataPaths(dataDir).db)) {
    out.err(`no database in ${dataDir}, so the rotation is in no access log`);
    return;
  }
  try {
    const c = openForCommand({ dataDir, env });
    try {
      auditedChange(c, 'key.rotate', result.keyId, `ok previous=${result.previousKeyId}`);
    } finally {
      c.close();
    }
  } catch (e) {
    const why =
      e instanceof CommandError ? e.message : ((e as { code?: string }).code ?? String(e));
    throw new CommandError(
      `the transport key ${result.keyId} is current, but the access log could not record the rotation (${why}): note it in your own records, then check the log with jcs-collector audit verify --data-dir ${shellWord(dataDir)}`,
    );
  }
}

/**
 * `jcs-collector key list`: the transport keys in the keys folder, oldest first, which one is
 * current, when each was made, and its public key; never a secret, so no master key is needed.
 * An old key's file may go once no install pins it and 42 days have passed since the last dump
 * sealed under it arrived (operations.md).
 *
 * @example
 * await keyListCommand('/var/lib/jcs-collector', stdio); // k1  2026-11-01T...  ...
 */
export async function keyListCommand(dataDir: string, out: Output, json = false): Promise<void> {
  const paths = dataPaths(dataDir);
  if (!fs.existsSync(paths.db) && !fs.existsSync(paths.keys)) {
    throw new CommandError(notInitialised(dataDir));
  }
  let keys;
  try {
    keys = listTransportKeys(path.join(paths.keys, 'transport'));
  } catch (e) {
    if (e instanceof KeyringError) throw new CommandError(e.message);
    const code = (e as NodeJS.ErrnoException).code;
    throw new CommandError(
      `cannot read the transport keys in ${path.join(paths.keys, 'transport')} (${code ?? String(e)}): run as the owner of the keys folder, or restore it`,
    );
  }
  const at = (ms: number) => new Date(ms).toISOString();
  if (json) {
    out.out(JSON.stringify(keys.map((k) => ({ ...k, createdAt: at(k.createdAt) }))));
    return;
  }
  const rows = [['KEY ID', 'STATE', 'CREATED', 'PUBLIC KEY']];
  for (const k of keys) {
    rows.push([k.keyId, k.current ? 'current' : 'old', at(k.createdAt), k.publicKey]);
  }
  printTable(rows, out);
}

/**
 * `key rotate` and `key list`, wired.
 *
 * @example
 * program.addCommand(makeKeyCommand(context));
 */
export function makeKeyCommand(c: CommandContext): Command {
  const key = new Command('key').description('manage the transport (dump) key');
  key
    .command('rotate')
    .description(
      'make a new transport key current under a new key id; old ones stay so old dumps open',
    )
    .option('--key-id <id>', 'the new key id (default: k<n+1>)')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (o: { keyId?: string }, cmd: Command) => {
      await keyRotateCommand(c.dataDir(cmd), c.out, { keyId: o.keyId });
    });
  key
    .command('list')
    .description('list the transport keys: which is current, when each was made, public keys')
    .option('--json', 'print JSON')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (o: { json?: boolean }, cmd: Command) => {
      await keyListCommand(c.dataDir(cmd), c.out, o.json);
    });
  return key;
}
