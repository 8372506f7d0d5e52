import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
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
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  const message = encoder.encode(plaintextJson);
  let epk: Uint8Array;
  let ciphertext: Uint8Array;
  const shared = nativeBoxKey(collectorPublicKey);
  if (shared) {
    epk = shared.publicKey;
    ciphertext = nacl.box.after(message, nonce, shared.key);
    shared.key.fill(0);
  } else {
    const ephemeral = nacl.box.keyPair();
    epk = ephemeral.publicKey;
    ciphertext = nacl.box(message, nonce, collectorPublicKey, ephemeral.secretKey);
    ephemeral.secretKey.fill(0);
  }
  return {
    alg: DUMP_ALG,
    keyId,
    epk: toBase64(epk),
    nonce: toBase64(nonce),
    ciphertext: toBase64(ciphertext),
  };
}

const SIGMA = encoder.encode('expand 32-byte k');
/** tweetnacl's low-level functions used here, which its type declarations leave out. */
const lowlevel = (
  nacl as unknown as {
    lowlevel: {
      crypto_core_hsalsa20(out: Uint8Array, input: Uint8Array, k: Uint8Array, c: Uint8Array): void;
      crypto_stream(c: Uint8Array, cpos: number, d: number, n: Uint8Array, k: Uint8Array): number;
      crypto_onetimeauth_verify(
        h: Uint8Array,
        hpos: number,
        m: Uint8Array,
        mpos: number,
        n: number,
        k: Uint8Array,
      ): number;
    };
  }
).lowlevel;
const hsalsa20 = lowlevel.crypto_core_hsalsa20;
const ZERO_16 = new Uint8Array(16);

/** The X25519 base point, u = 9: X25519(secret, 9) is the secret's public key. */
const BASE_POINT = new Uint8Array(32);
BASE_POINT[0] = 9;
const b64url = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
const x25519Public = (bytes: Uint8Array) =>
  createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(bytes) }, format: 'jwk' });
/** Imported once: every sealed dump uses it. */
let basePoint: KeyObject | undefined;

/**
 * nacl.box's shared key (`nacl.box.before`) for a fresh ephemeral key pair, with the X25519 steps
 * in Node's native crypto: a tenth of the time tweetnacl's JavaScript takes (0.2 ms against 1.9
 * per sealed dump here, and the first call in a process far more), all of it on the host's
 * thread. The same bytes: HSalsa20 of the X25519 secret, as nacl.box does. null where Node will
 * not derive it (OpenSSL refuses a public key of small order); the caller then does it all in
 * tweetnacl.
 *
 * The secret is drawn here and imported, and the public key is X25519 of the base point: an
 * earlier version used `generateKeyPairSync('x25519')` and read the public key back with
 * `export({ format: 'jwk' })`, and Node 20 can deadlock the whole process there (a garbage
 * collection inside the export finalises the key generation job, whose destructor waits for the
 * lock the export holds). Under a small young generation it hung within some 3,000 sealed dumps
 * (test/dump-crypto.test.ts). Imported as JWK: as DER, OpenSSL's decoders took 0.4 ms.
 */
function nativeBoxKey(
  theirPublicKey: Uint8Array,
): { publicKey: Uint8Array; key: Uint8Array } | null {
  const secret = nacl.randomBytes(nacl.box.secretKeyLength);
  try {
    return boxKeyFrom(secret, theirPublicKey);
  } catch {
    return null;
  } finally {
    secret.fill(0);
  }
}

/**
 * The ephemeral public key and nacl.box's shared key for an ephemeral `secret`, natively
 * (exported for the test that compares it with tweetnacl).
 */
export function boxKeyFrom(
  secret: Uint8Array,
  theirPublicKey: Uint8Array,
): { publicKey: Uint8Array; key: Uint8Array } {
  const d = b64url(secret);
  // JWK wants an `x`; Node derives the key from `d` alone, and the public half is computed below.
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'X25519', d, x: b64url(BASE_POINT) },
    format: 'jwk',
  });
  basePoint ??= x25519Public(BASE_POINT);
  const publicKey = new Uint8Array(diffieHellman({ privateKey, publicKey: basePoint }));
  const shared = diffieHellman({ privateKey, publicKey: x25519Public(theirPublicKey) });
  const key = new Uint8Array(nacl.box.sharedKeyLength);
  hsalsa20(key, ZERO_16, new Uint8Array(shared), SIGMA);
  shared.fill(0);
  return { publicKey, key };
}

/**
 * Whether a sealed dump was sealed to this collector's key, without decrypting it: its
 * authenticator (the Poly1305 tag the box carries) is checked against the key the collector's
 * secret key and `epk` share, as opening would check it first, but no plaintext is ever made. So
 * the collector can tell a dump sealed to another public key without reading a client's data.
 *
 * @example
 * dumpSealedTo(report.dump, transportSecretKey); // false: an SDK pins another public key
 */
export function dumpSealedTo(dump: SealedDump, collectorSecretKey: Uint8Array): boolean {
  const epk = fromBase64(dump.epk);
  const nonce = fromBase64(dump.nonce);
  const box = fromBase64(dump.ciphertext);
  const tagLength = nacl.secretbox.overheadLength;
  if (epk.length !== nacl.box.publicKeyLength || nonce.length !== nacl.box.nonceLength) {
    return false;
  }
  if (box.length < tagLength) return false;
  const shared = nacl.box.before(epk, collectorSecretKey);
  // XSalsa20's first 32 bytes of keystream are the one-time Poly1305 key (NaCl's secretbox).
  const authKey = new Uint8Array(32);
  lowlevel.crypto_stream(authKey, 0, 32, nonce, shared);
  shared.fill(0);
  const ok =
    lowlevel.crypto_onetimeauth_verify(box, 0, box, tagLength, box.length - tagLength, authKey) ===
    0;
  authKey.fill(0);
  return ok;
}

/**
 * Opens a sealed dump with the collector's secret key. Returns the JSON text, or null when the
 * envelope does not open (wrong key, tampered ciphertext, not UTF-8).
 *
 * @example
 * const text = openDump(report.dump, transportSecretKey); // '{"clientId":4711}' or null
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

/**
 * A fresh collector transport key pair (the dump key): the SDK seals dumps to its public half.
 *
 * @example
 * const { publicKey, secretKey } = generateDumpKeyPair(); // 32 bytes each
 */
export function generateDumpKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  return nacl.box.keyPair();
}

/**
 * Standard base64 (with padding) of bytes, as every key and sealed field travels in JSON.
 *
 * @example
 * toBase64(new Uint8Array([1, 2, 3])); // 'AQID'
 */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes strict base64 (padded, no whitespace); returns an empty array for anything that is not
 * base64, so that a length check after it refuses bad input too.
 *
 * @example
 * fromBase64('AQID'); // Uint8Array [1, 2, 3]
 * fromBase64('not base64!'); // Uint8Array []
 */
export function fromBase64(text: string): Uint8Array {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    return new Uint8Array(0);
  }
  return new Uint8Array(Buffer.from(text, 'base64'));
}
