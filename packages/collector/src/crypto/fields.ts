import nacl from 'tweetnacl';

/**
 * Seals one personal-data field under a day's data key: nonce (24 bytes) then secretbox. A fresh
 * random nonce per field, so equal values never look equal at rest.
 *
 * @example
 * const sealed = sealField('asmith', keyring.dayKey('2026-11-01', true)!);
 */
export function sealField(value: string, key: Uint8Array): Buffer {
  const nonce = nacl.randomBytes(nacl.secretbox.nonceLength);
  const box = nacl.secretbox(Buffer.from(value, 'utf8'), nonce, key);
  return Buffer.concat([nonce, box]);
}

/**
 * Opens a sealed field; null when the key is wrong (or was destroyed and replaced).
 *
 * @example
 * openField(sealed, key); // 'asmith'
 */
export function openField(sealed: Uint8Array, key: Uint8Array): string | null {
  const nonce = sealed.subarray(0, nacl.secretbox.nonceLength);
  const plain = nacl.secretbox.open(sealed.subarray(nacl.secretbox.nonceLength), nonce, key);
  return plain ? Buffer.from(plain).toString('utf8') : null;
}
