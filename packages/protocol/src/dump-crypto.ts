import nacl from 'tweetnacl';
import { DUMP_ALG, type SealedDump } from './report';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Encrypts a dump's JSON text for the collector: a fresh ephemeral key pair and a random nonce for
 * every call; the ephemeral secret key is wiped before returning.
 *
 * @example
 * const dump = sealDump(JSON.stringify({ client: 'Smith' }), collectorPublicKey, 'k1');
 */
export function sealDump(
  plaintextJson: string,
  collectorPublicKey: Uint8Array,
  keyId: string,
): SealedDump {
  if (collectorPublicKey.length !== nacl.box.publicKeyLength) {
    throw new TypeError('the collector public key must be 32 bytes');
  }
  const ephemeral = nacl.box.keyPair();
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  const ciphertext = nacl.box(
    encoder.encode(plaintextJson),
    nonce,
    collectorPublicKey,
    ephemeral.secretKey,
  );
  ephemeral.secretKey.fill(0);
  return {
    alg: DUMP_ALG,
    keyId,
    epk: toBase64(ephemeral.publicKey),
    nonce: toBase64(nonce),
    ciphertext: toBase64(ciphertext),
  };
}

/**
 * Opens a sealed dump with the collector's secret key. Returns the JSON text, or null when the
 * envelope does not open (wrong key, tampered ciphertext, not UTF-8).
 */
export function openDump(dump: SealedDump, collectorSecretKey: Uint8Array): string | null {
  const epk = fromBase64(dump.epk);
  const nonce = fromBase64(dump.nonce);
  const ciphertext = fromBase64(dump.ciphertext);
  if (epk.length !== nacl.box.publicKeyLength || nonce.length !== nacl.box.nonceLength) return null;
  const plain = nacl.box.open(ciphertext, nonce, epk, collectorSecretKey);
  if (!plain) return null;
  try {
    return decoder.decode(plain);
  } catch {
    return null;
  }
}

/** A fresh collector transport key pair (the dump key). */
export function generateDumpKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  return nacl.box.keyPair();
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Decodes strict base64; returns an empty array for anything that is not base64. */
export function fromBase64(text: string): Uint8Array {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    return new Uint8Array(0);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}
