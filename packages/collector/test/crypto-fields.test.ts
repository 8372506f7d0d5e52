import nacl from 'tweetnacl';
import { openField, sealField } from '../src/crypto/fields';

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
});
