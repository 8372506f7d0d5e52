import fs from 'node:fs';
import path from 'node:path';
import { generateDumpKeyPair, makeDirSync, toBase64 } from '@jcs/protocol';
import { writeFileAtomic } from './files';
import { KeyringError, readKeyFile, unwrap, wrap } from './master-key';

/**
 * The transport (dump) key pairs in the keys folder: one file per key id under transport/, and
 * transport/current naming the one GET /v1/public-key hands out. Older pairs stay, so dumps
 * sealed under them still open.
 */

export const TRANSPORT_DIR = 'transport';
export const CURRENT_TRANSPORT = 'current';

/** A transport key pair, its secret half opened. */
export interface TransportKey {
  keyId: string;
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** A key id names a file in the keys folder: plain characters only, 1 to 64 (the schema's bound). */
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * True for a key id the keys folder can hold.
 *
 * @example
 * isKeyId('k2'); // true
 * isKeyId('../k2'); // false
 */
export function isKeyId(keyId: string): boolean {
  return KEY_ID.test(keyId);
}

/**
 * The key id after the existing ones: `k<n+1>` where `k<n>` is the highest of that form.
 *
 * @example
 * nextTransportKeyId(['k1', 'k2']); // 'k3'
 */
export function nextTransportKeyId(existing: string[]): string {
  // BigInt: an id given by hand may have more digits than a number holds exactly.
  const numbers = existing
    .map((id) => /^k(\d{1,63})$/.exec(id)?.[1])
    .filter((n) => n !== undefined);
  const highest = numbers.map(BigInt).reduce((a, b) => (b > a ? b : a), 0n);
  const next = `k${highest + 1n}`;
  if (!isKeyId(next))
    throw new KeyringError(`no key id follows k${highest}: give one with --key-id`);
  return next;
}

/**
 * Adds a transport (dump) key pair and makes it current; older ones stay to open older dumps.
 *
 * @example
 * addTransportKey('/var/lib/jcs/keys', master, 'k2'); // { keyId: 'k2', publicKey: '...' }
 */
export function addTransportKey(
  dir: string,
  master: Uint8Array,
  keyId: string,
): { keyId: string; publicKey: string } {
  if (!isKeyId(keyId)) {
    throw new KeyringError(
      `a key id is 1-64 letters, digits, dots, dashes or underscores, not ${JSON.stringify(keyId.slice(0, 70))}`,
    );
  }
  const tdir = path.join(dir, TRANSPORT_DIR);
  makeDirSync(tdir, 0o700);
  const file = path.join(tdir, `${keyId}.json`);
  const exists = () => new KeyringError(`transport key ${keyId} already exists`);
  if (fs.existsSync(file)) throw exists();
  const pair = generateDumpKeyPair();
  const record = {
    keyId,
    publicKey: toBase64(pair.publicKey),
    secretKey: wrap(pair.secretKey, master),
    // For key list: a file's own time changes with a copy or a restore.
    createdAt: new Date().toISOString(),
  };
  // Exclusive: a rotation run at the same moment may have taken this id since the check above.
  if (!writeFileAtomic(file, JSON.stringify(record, null, 2) + '\n', 0o600, { exclusive: true })) {
    throw exists();
  }
  writeFileAtomic(path.join(tdir, CURRENT_TRANSPORT), keyId + '\n');
  return { keyId, publicKey: record.publicKey };
}

/**
 * Every transport key pair in the folder, by key id.
 *
 * @example
 * readTransportKeys('/var/lib/jcs-collector/keys/transport', master).get('k1');
 */
export function readTransportKeys(tdir: string, master: Uint8Array): Map<string, TransportKey> {
  const transportKeys = new Map<string, TransportKey>();
  for (const f of fs.readdirSync(tdir).filter((name) => name.endsWith('.json'))) {
    const rec = readTransportRecord(tdir, f);
    transportKeys.set(rec.keyId, {
      keyId: rec.keyId,
      publicKey: new Uint8Array(Buffer.from(rec.publicKey, 'base64')),
      secretKey: unwrap(rec.secretKey, master, path.join(TRANSPORT_DIR, f)),
    });
  }
  return transportKeys;
}

function readTransportRecord(
  tdir: string,
  file: string,
): { keyId: string; publicKey: string; secretKey: string; createdAt?: unknown } {
  const text = readKeyFile(tdir, file);
  try {
    const rec = JSON.parse(text) as Record<string, unknown>;
    if (
      typeof rec.keyId === 'string' &&
      typeof rec.publicKey === 'string' &&
      typeof rec.secretKey === 'string'
    ) {
      return rec as { keyId: string; publicKey: string; secretKey: string };
    }
  } catch {
    // reported below
  }
  throw new KeyringError(
    `the transport key file ${path.join(tdir, file)} is damaged: restore the keys folder`,
  );
}

/** A transport key as `key list` shows it: no secret, so no master key is needed. */
export interface TransportKeyInfo {
  keyId: string;
  publicKey: string;
  /** when it was made, as its record says (for keys from before that was kept: its file's time) */
  createdAt: number;
  current: boolean;
}

/**
 * The transport keys in the folder, oldest first, without opening their secret halves.
 *
 * @example
 * listTransportKeys('/var/lib/jcs-collector/keys/transport'); // [{ keyId: 'k1', current: true, ... }]
 */
export function listTransportKeys(tdir: string): TransportKeyInfo[] {
  const currentId = readKeyFile(tdir, CURRENT_TRANSPORT).trim();
  return fs
    .readdirSync(tdir)
    .filter((name) => name.endsWith('.json'))
    .map((f) => {
      const rec = readTransportRecord(tdir, f);
      // Keys made before the record held its time: the file's, which a restore may have changed.
      const recorded = typeof rec.createdAt === 'string' ? Date.parse(rec.createdAt) : NaN;
      return {
        keyId: rec.keyId,
        publicKey: rec.publicKey,
        createdAt: Number.isNaN(recorded)
          ? Math.floor(fs.statSync(path.join(tdir, f)).mtimeMs)
          : recorded,
        current: rec.keyId === currentId,
      };
    })
    .sort(
      (a, b) =>
        a.createdAt - b.createdAt || a.keyId.localeCompare(b.keyId, 'en', { numeric: true }),
    );
}
