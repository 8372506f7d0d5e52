import nacl from 'tweetnacl';
import {
  ApiError,
  ERRORS,
  compareVersions,
  groupId,
  openDump,
  parseDuration,
  parseTimeBound,
  sealDump,
  sortVersionsDescending,
  GROUP_ID_PATTERN,
  tlsFailure,
} from '../src';

describe('dump crypto', () => {
  const collector = nacl.box.keyPair();

  it('round-trips through the collector secret key only', () => {
    const dump = sealDump('{"client":"Smith £"}', collector.publicKey, 'k1');
    expect(dump.alg).toBe('x25519-xsalsa20-poly1305');
    expect(dump.keyId).toBe('k1');
    expect(openDump(dump, collector.secretKey)).toBe('{"client":"Smith £"}');
    expect(openDump(dump, nacl.box.keyPair().secretKey)).toBeNull();
  });

  it('is the contract construction: nacl.box with the ephemeral key', () => {
    const dump = sealDump('hello', collector.publicKey, 'k1');
    const plain = nacl.box.open(
      Buffer.from(dump.ciphertext, 'base64'),
      Buffer.from(dump.nonce, 'base64'),
      Buffer.from(dump.epk, 'base64'),
      collector.secretKey,
    );
    expect(Buffer.from(plain!).toString()).toBe('hello');
  });

  it('opens under nacl.box for any collector key, the top bit of its last byte set or not', () => {
    for (let i = 0; i < 200; i++) {
      const keys = nacl.box.keyPair();
      const sent = Uint8Array.from(keys.publicKey);
      // X25519 ignores that bit (RFC 7748): a key with it set is the same key to both sides.
      if (i % 2) sent[31] |= 0x80;
      const dump = sealDump(`{"i":${i}}`, sent, 'k1');
      expect(openDump(dump, keys.secretKey)).toBe(`{"i":${i}}`);
    }
  });

  it('seals under a key of small order too, where native X25519 refuses (tweetnacl does it)', () => {
    const dump = sealDump('x', new Uint8Array(32), 'k1');
    expect(Buffer.from(dump.epk, 'base64')).toHaveLength(32);
    expect(Buffer.from(dump.ciphertext, 'base64')).toHaveLength(1 + nacl.box.overheadLength);
  });

  it('uses a fresh ephemeral key and nonce every time', () => {
    const a = sealDump('x', collector.publicKey, 'k1');
    const b = sealDump('x', collector.publicKey, 'k1');
    expect(a.epk).not.toBe(b.epk);
    expect(a.nonce).not.toBe(b.nonce);
  });

  it('refuses tampered ciphertext and a wrong-size public key', () => {
    const dump = sealDump('x', collector.publicKey, 'k1');
    const bytes = Buffer.from(dump.ciphertext, 'base64');
    bytes[0] ^= 1;
    expect(
      openDump({ ...dump, ciphertext: bytes.toString('base64') }, collector.secretKey),
    ).toBeNull();
    expect(() => sealDump('x', new Uint8Array(31), 'k1')).toThrow(TypeError);
  });
});

describe('groupId', () => {
  it('is short, stable and depends on all four values', () => {
    const id = groupId('JCS', 91, 'modClients', 'LoadClient');
    expect(id).toMatch(GROUP_ID_PATTERN);
    expect(groupId('JCS', 91, 'modClients', 'LoadClient')).toBe(id);
    expect(groupId('JCS', 92, 'modClients', 'LoadClient')).not.toBe(id);
    expect(groupId('JCS', 91, 'modClient', 'sLoadClient')).not.toBe(id);
    expect(groupId('Other', 91, 'modClients', 'LoadClient')).not.toBe(id);
    // pinned: the same on every collector, across releases
    expect(id).toBe(groupId('JCS', 91, 'modClients', 'LoadClient'));
    expect(groupId('JCS', 91, 'modClients', 'LoadClient')).toMatchInlineSnapshot(`"e2a93e5547e5"`);
  });
});

describe('durations and time bounds', () => {
  const now = new Date('2026-11-28T12:00:00Z');
  it('parses m, h, d, w', () => {
    expect(parseDuration('30m')).toBe(30 * 60_000);
    expect(parseDuration('12h')).toBe(12 * 3_600_000);
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration('6w')).toBe(42 * 86_400_000);
    for (const bad of ['', '7', 'd', '7x', '-7d', '1.5d', 'yesterday'])
      expect(parseDuration(bad)).toBeNull();
  });
  it('takes a space before an offset as the plus an unencoded URL turned into one', () => {
    const now = new Date('2026-11-29T12:00:00Z');
    const plus = parseTimeBound('2026-11-29T20:00:00+02:00', now)!.getTime();
    expect(plus).toBe(Date.parse('2026-11-29T18:00:00Z'));
    expect(parseTimeBound('2026-11-29T20:00:00 02:00', now)!.getTime()).toBe(plus);
    expect(parseTimeBound('2026-11-29T20:00 02:00', now)!.getTime()).toBe(plus);
    expect(parseTimeBound('2026-11-29 20:00:00 02:00', now)!.getTime()).toBe(plus);
  });

  it('parses durations back from now and ISO dates', () => {
    expect(parseTimeBound('7d', now)?.toISOString()).toBe('2026-11-21T12:00:00.000Z');
    expect(parseTimeBound('2026-11-01', now)?.toISOString()).toBe('2026-11-01T00:00:00.000Z');
    expect(parseTimeBound('2026-11-01T10:00:00+01:00', now)?.toISOString()).toBe(
      '2026-11-01T09:00:00.000Z',
    );
    expect(parseTimeBound('2026-11-01T10:00', now)?.toISOString()).toBe('2026-11-01T10:00:00.000Z');
    expect(parseTimeBound('yesterday', now)).toBeNull();
    expect(parseTimeBound('2026-02-31T00:00:00Z', now)).toBeNull();
    // Years 0-99 are real years, not 1900-1999.
    expect(parseTimeBound('0001-01-01T00:00:00Z', now)?.toISOString()).toBe(
      '0001-01-01T00:00:00.000Z',
    );
    expect(parseTimeBound('0099-02-29', now)).toBeNull();
    expect(parseTimeBound('0096-02-29', now)?.toISOString()).toBe('0096-02-29T00:00:00.000Z');
  });
});

describe('compareVersions', () => {
  it('compares numerically, part by part', () => {
    expect(compareVersions('5.10.0', '5.9.3')).toBe(1);
    expect(compareVersions('5.9.3', '5.10.0')).toBe(-1);
    expect(compareVersions('5.2', '5.2.0')).toBe(0);
    expect(compareVersions('5.2.1.345', '5.2.1.99')).toBe(1);
    expect(compareVersions('05.2', '5.2')).toBe(0);
    expect(compareVersions('99999999999999999999', '99999999999999999998')).toBe(1);
    expect(sortVersionsDescending(['5.2', '5.10', '5.9.9'])).toEqual(['5.10', '5.9.9', '5.2']);
    // Equal versions in one order whatever order they came in (a group's list, another's).
    for (const given of [
      ['5.2.0', '5.9', '5.2', '05.9'],
      ['05.9', '5.2', '5.9', '5.2.0'],
    ]) {
      expect(sortVersionsDescending(given)).toEqual(['05.9', '5.9', '5.2', '5.2.0']);
    }
  });
});

describe('error catalogue', () => {
  it('builds the contract error body', () => {
    const e = new ApiError('invalid_report', undefined, {
      details: [{ path: '/id', message: 'is required' }],
    });
    expect(e.status).toBe(400);
    expect(e.toBody()).toEqual({
      error: {
        code: 'invalid_report',
        message: ERRORS.invalid_report.message,
        details: [{ path: '/id', message: 'is required' }],
      },
    });
    expect(new ApiError('rate_limited').status).toBe(429);
  });
});

describe('tlsFailure', () => {
  it('tells the certificate failures a remedy goes by, and nothing else', () => {
    expect(tlsFailure('DEPTH_ZERO_SELF_SIGNED_CERT')).toBe('untrusted');
    expect(tlsFailure('UNABLE_TO_GET_ISSUER_CERT_LOCALLY')).toBe('untrusted');
    expect(tlsFailure('CERT_NOT_YET_VALID')).toBe('out-of-date');
    expect(tlsFailure('ERR_TLS_CERT_ALTNAME_INVALID')).toBe('other-name');
    expect(tlsFailure('ECONNREFUSED')).toBeUndefined();
    expect(tlsFailure(undefined)).toBeUndefined();
  });
});
