import nacl from 'tweetnacl';

/**
 * Starts every sealed queue file. A file the SDK wrote before queue files were sealed starts with
 * `{` instead, so the two can never be confused.
 */
export const SEALED_MAGIC = Buffer.from('JCSQ\x01', 'latin1');
const NONCE_BYTES = nacl.secretbox.nonceLength;
const BOX_OVERHEAD = nacl.secretbox.overheadLength;
/** A queue key is a secretbox key: 32 bytes. */
export const QUEUE_KEY_BYTES = nacl.secretbox.keyLength;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** What a queue file holds, once opened. */
export interface OpenedQueueFile {
  text: string;
  /** true for a plaintext file an earlier version wrote: to be sealed when next touched */
  legacy: boolean;
}

/**
 * Seals a queue file's text (a report's JSON) under the queue key: magic, a fresh random nonce,
 * then the secretbox (XSalsa20-Poly1305), so a file is unreadable and tamper-evident without the
 * key, and two files with the same text never look alike.
 *
 * @example
 * const bytes = sealQueueFile(JSON.stringify(report), key);
 * openQueueFile(bytes, [key]); // { text: '{"schema":1,...}', legacy: false }
 */
export function sealQueueFile(text: string, key: Uint8Array): Buffer {
  return sealBytes(encoder.encode(text), key);
}

/** Seals any bytes the same way: for a file set aside in `corrupt/`, whatever it held. */
export function sealBytes(bytes: Uint8Array, key: Uint8Array): Buffer {
  const nonce = nacl.randomBytes(NONCE_BYTES);
  const box = nacl.secretbox(new Uint8Array(bytes), nonce, key);
  return Buffer.concat([SEALED_MAGIC, nonce, box]);
}

/**
 * Opens a queue file with the first of `keys` that fits. Null when it is neither sealed under one
 * of them nor an earlier version's plaintext JSON: a wrong key, a file cut short, anything else.
 *
 * @example
 * const opened = openQueueFile(fs.readFileSync(file), [key]);
 * if (opened) JSON.parse(opened.text);
 */
export function openQueueFile(
  file: Uint8Array,
  keys: readonly Uint8Array[],
): OpenedQueueFile | null {
  if (file.length > 0 && file[0] === 0x7b /* { */) {
    const text = decode(file);
    return text === null ? null : { text, legacy: true };
  }
  if (!isSealed(file) || file.length < SEALED_MAGIC.length + NONCE_BYTES + BOX_OVERHEAD) {
    return null;
  }
  // Copies: tweetnacl accepts only its own realm's Uint8Array, and a Buffer may come from another.
  const nonce = new Uint8Array(
    file.subarray(SEALED_MAGIC.length, SEALED_MAGIC.length + NONCE_BYTES),
  );
  const box = new Uint8Array(file.subarray(SEALED_MAGIC.length + NONCE_BYTES));
  for (const key of keys) {
    const plain = nacl.secretbox.open(box, nonce, key);
    if (plain) {
      const text = decode(plain);
      return text === null ? null : { text, legacy: false };
    }
  }
  return null;
}

/** Whether the bytes start as a sealed queue file does (not whether they open). */
export function isSealed(file: Uint8Array): boolean {
  if (file.length < SEALED_MAGIC.length) return false;
  for (let i = 0; i < SEALED_MAGIC.length; i++) if (file[i] !== SEALED_MAGIC[i]) return false;
  return true;
}

function decode(bytes: Uint8Array): string | null {
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}
