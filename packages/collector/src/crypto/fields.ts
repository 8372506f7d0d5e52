import crypto from 'node:crypto';
import nacl from 'tweetnacl';

const NONCE = nacl.secretbox.nonceLength;
/**
 * Random bytes for 1,024 nonces at a time: one call to the system's generator instead of one per
 * field (four per report), which was 6% of ingest's CPU. Each nonce is still used once.
 */
const POOL_NONCES = 1024;
let pool = Buffer.alloc(0);
let used = 0;

function freshNonce(): Uint8Array {
  if (used + NONCE > pool.length) {
    pool = crypto.randomBytes(NONCE * POOL_NONCES);
    used = 0;
  }
  const nonce = pool.subarray(used, used + NONCE);
  used += NONCE;
  return nonce;
}

/**
 * Seals one personal-data field under a day's data key: nonce (24 bytes) then secretbox. A fresh
 * random nonce per field, so equal values never look equal at rest.
 *
 * @example
 * const sealed = sealField('asmith', keyring.dayKey('2026-11-01', true)!);
 */
export function sealField(value: string, key: Uint8Array): Buffer {
  return sealBytes(Buffer.from(value, 'utf8'), key);
}

/**
 * sealField() for bytes.
 *
 * @example
 * const sealed = sealBytes(packDump(report.dump), key);
 */
export function sealBytes(value: Uint8Array, key: Uint8Array): Buffer {
  const nonce = freshNonce();
  const box = nacl.secretbox(value, nonce, key);
  return Buffer.concat([nonce, box]);
}

/**
 * Opens a sealed field; null when the key is wrong (or was destroyed and replaced).
 *
 * @example
 * openField(sealed, key); // 'asmith'
 */
export function openField(sealed: Uint8Array, key: Uint8Array): string | null {
  const plain = openBytes(sealed, key);
  return plain ? Buffer.from(plain).toString('utf8') : null;
}

/**
 * openField() for bytes: null when the key is wrong, or the bytes are too short to be sealed.
 *
 * @example
 * unpackDump(openBytes(sealed, key)!);
 */
export function openBytes(sealed: Uint8Array, key: Uint8Array): Uint8Array | null {
  // tweetnacl throws on a nonce shorter than 24 bytes: a record torn by a power cut can hold one.
  if (sealed.length < nacl.secretbox.nonceLength + nacl.secretbox.overheadLength) return null;
  const nonce = sealed.subarray(0, nacl.secretbox.nonceLength);
  return nacl.secretbox.open(sealed.subarray(nacl.secretbox.nonceLength), nonce, key);
}

const tags = new WeakMap<Uint8Array, number>();

/**
 * A 32-bit tag of a data key, never 0, kept in each record it seals (store/sealed-record.ts): the
 * start-up repair tells a record sealed under another key of the same day (a day key lost and
 * made anew, or put back from elsewhere) from one a power cut left torn. An HMAC under the key,
 * so it tells nothing of the key itself.
 *
 * @example
 * const record = encodeRecord(report.id, { ...fields, keyTag: keyTag(key) });
 */
export function keyTag(key: Uint8Array): number {
  let tag = tags.get(key);
  if (tag === undefined) {
    const mac = crypto.createHmac('sha256', key).update('jcs-collector record key tag').digest();
    tag = mac.readUInt32BE(0) || 1;
    tags.set(key, tag);
  }
  return tag;
}
