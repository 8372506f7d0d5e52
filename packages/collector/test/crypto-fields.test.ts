import nacl from 'tweetnacl';
import { keyTag, openBytes, openField, sealField } from '../src/crypto/fields';

describe('sealed fields', () => {
  const key = nacl.randomBytes(32);

  it('open to what was sealed, and not under another key', () => {
    const sealed = sealField('Client Smith not found', key);
    expect(openField(sealed, key)).toBe('Client Smith not found');
    expect(openField(sealed, nacl.randomBytes(32))).toBeNull();
  });

  it('never share a nonce, across refills of the nonce pool', () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 3000; i++) nonces.add(sealField('x', key).subarray(0, 24).toString('hex'));
    expect(nonces.size).toBe(3000);
  });

  it('bytes too short to be sealed open to nothing, rather than throwing', () => {
    // a record torn by a power cut can hold a field of any length (store/sealed-repair.ts)
    for (const length of [0, 1, 23, 24, 39])
      expect(openBytes(Buffer.alloc(length), key)).toBeNull();
  });

  it("a key's tag is stable, differs between keys, and is never 0 (0 means none)", () => {
    const other = nacl.randomBytes(32);
    expect(keyTag(key)).toBe(keyTag(Uint8Array.from(key)));
    expect(keyTag(key)).not.toBe(keyTag(other));
    expect(keyTag(key)).not.toBe(0);
  });
});
