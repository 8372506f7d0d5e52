import fs from 'node:fs';
import path from 'node:path';
import { isKeyId, loadKeyring, KeyringError } from '../crypto/keyring';
import { dataPaths, notInitialised } from '../paths';
import { CommandError, EXIT, type Output } from './output';
import { Command } from 'commander';
import { DATA_DIR_HELP, type CommandContext } from './context';
import { takeLock } from './serve-lock';

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
  } catch (e) {
    if (e instanceof KeyringError) throw new CommandError(e.message);
    throw e;
  } finally {
    lock.release();
  }
  out.out(`key id: ${result.keyId}`);
  out.out(`public key: ${result.publicKey}`);
  out.err(
    `The transport key ${result.keyId} is now current; ${result.previousKeyId} and older keys stay, so dumps sealed under them still open.`,
  );
  out.err(
    'A running jcs-collector serve hands out the new key from GET /v1/public-key at once; pin the new key id and public key in the SDK configuration.',
  );
  return result;
}

/**
 * `key rotate`, wired.
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
  return key;
}
