import { DUMP_ALG, toBase64, type SealedDump } from '@jcs/protocol';

/** The first byte of a packed envelope; a JSON envelope (stored before) starts with `{`. */
const PACKED = 1;
const EPK_BYTES = 32;
const NONCE_BYTES = 24;
/** format byte, then the key id's length in bytes (16 bits) */
const HEAD_BYTES = 3;

/**
 * A sealed dump as it is stored, before the collector seals it again under the day's data key:
 * its bytes, not its JSON. Why: the client's envelope is base64 in JSON, a third larger than its
 * bytes, and the secretbox at ingest costs by the byte; a report with a 512-byte dump is some 250
 * bytes smaller at rest. The envelope's base64 is never answered (a dump is answered opened), so
 * nothing visible changes.
 *
 * Layout: 1, the key id's UTF-8 length (2 bytes, big-endian), the key id, the ephemeral public
 * key (32 bytes), the nonce (24), the ciphertext. The schema checked the lengths at ingest.
 *
 * @example
 * const packed = packDump(report.dump);
 * unpackDump(packed); // { alg: 'x25519-xsalsa20-poly1305', keyId, epk, nonce, ciphertext }
 */
export function packDump(dump: SealedDump): Buffer {
  // The schema checked the base64 at ingest: decoded as it is, not checked again.
  const keyId = Buffer.from(dump.keyId, 'utf8');
  const epk = Buffer.from(dump.epk, 'base64');
  const nonce = Buffer.from(dump.nonce, 'base64');
  const ciphertext = Buffer.from(dump.ciphertext, 'base64');
  if (epk.length !== EPK_BYTES || nonce.length !== NONCE_BYTES) {
    throw new TypeError('a sealed dump has a 32-byte epk and a 24-byte nonce');
  }
  const out = Buffer.allocUnsafe(
    HEAD_BYTES + keyId.length + EPK_BYTES + NONCE_BYTES + ciphertext.length,
  );
  out[0] = PACKED;
  out.writeUInt16BE(keyId.length, 1);
  let at = HEAD_BYTES;
  for (const part of [keyId, epk, nonce, ciphertext]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * The envelope packDump() packed, or the JSON text of one stored before it existed. Null for
 * anything else (which no collector wrote).
 */
export function unpackDump(bytes: Uint8Array): SealedDump | null {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b[0] === 0x7b /* { */) {
    try {
      return JSON.parse(b.toString('utf8')) as SealedDump;
    } catch {
      return null;
    }
  }
  if (b[0] !== PACKED || b.length < HEAD_BYTES) return null;
  const keyIdEnd = HEAD_BYTES + b.readUInt16BE(1);
  const nonceAt = keyIdEnd + EPK_BYTES;
  const ciphertextAt = nonceAt + NONCE_BYTES;
  if (ciphertextAt > b.length) return null;
  return {
    alg: DUMP_ALG,
    keyId: b.toString('utf8', HEAD_BYTES, keyIdEnd),
    epk: toBase64(b.subarray(keyIdEnd, nonceAt)),
    nonce: toBase64(b.subarray(nonceAt, ciphertextAt)),
    ciphertext: toBase64(b.subarray(ciphertextAt)),
  };
}
