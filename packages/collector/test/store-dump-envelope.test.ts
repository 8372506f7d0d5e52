import request from 'supertest';
import nacl from 'tweetnacl';
import { fromBase64, generateDumpKeyPair, openDump, sealDump } from '@jcs/protocol';
import { packDump, unpackDump } from '../src/store/dump-envelope';
import { sealField } from '../src/crypto/fields';
import { prepareReport } from '../src/store/ingest-writer';
import { makeTestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';

/**
 * A sealed dump is stored as its bytes (store/dump-envelope.ts), not its JSON; dumps stored as
 * JSON before still open.
 */

describe('packDump and unpackDump', () => {
  const keys = generateDumpKeyPair();
  const sample = (keyId: string, text = JSON.stringify({ client: 'Smith & Sons', rows: [1, 2] })) =>
    sealDump(text, keys.publicKey, keyId);

  it('gives back the envelope it packed, and that envelope opens', () => {
    for (const keyId of ['k1', 'transport-2026-11', 'clé-ü-😀', 'x'.repeat(64)]) {
      const dump = sample(keyId);
      const back = unpackDump(packDump(dump));
      expect(back).toEqual(dump);
      expect(openDump(back!, keys.secretKey)).toBe(
        JSON.stringify({ client: 'Smith & Sons', rows: [1, 2] }),
      );
    }
  });

  it('is the envelope bytes: the key id, 32 + 24 bytes and the ciphertext, with 3 bytes of head', () => {
    const dump = sample('k1', 'x'.repeat(512));
    const packed = packDump(dump);
    const ciphertextBytes = fromBase64(dump.ciphertext).length;
    expect(ciphertextBytes).toBe(512 + nacl.box.overheadLength);
    expect(packed.length).toBe(3 + 2 + 32 + 24 + ciphertextBytes);
    // against the JSON text it replaces
    expect(Buffer.byteLength(JSON.stringify(dump)) - packed.length).toBeGreaterThan(240);
  });

  it('reads an envelope stored as JSON before', () => {
    const dump = sample('k1');
    expect(unpackDump(Buffer.from(JSON.stringify(dump)))).toEqual(dump);
  });

  it('is null for bytes no collector wrote', () => {
    const packed = packDump(sample('k1'));
    expect(unpackDump(packed.subarray(0, 40))).toBeNull(); // cut short before the ciphertext
    expect(unpackDump(Buffer.from([1]))).toBeNull();
    expect(unpackDump(Buffer.from([2, ...packed.subarray(1)]))).toBeNull();
    expect(unpackDump(Buffer.from('{not json'))).toBeNull();
    expect(unpackDump(Buffer.alloc(0))).toBeNull();
  });
});

describe('a dump stored as JSON by an earlier collector', () => {
  it('is answered by GET /v1/reports/:id?dump=1 beside one stored packed', async () => {
    const t = makeTestCollector();
    try {
      const c = t.collector;
      const key = await request(t.app).get('/v1/public-key').expect(200);
      const seal = (value: unknown) =>
        sealDump(JSON.stringify(value), fromBase64(key.body.publicKey), key.body.keyId);

      const old = makeReport({ dump: seal({ stored: 'as JSON' }) });
      const prepared = prepareReport(old, c.keyring, t.clock());
      // what ingest stored until the envelope was packed: its JSON text, sealed
      prepared.dump = sealField(JSON.stringify(old.dump), c.keyring.dayKey(prepared.keyDay)!);
      await c.batcher.submit(prepared);

      const fresh = makeReport({ dump: seal({ stored: 'packed' }) });
      await request(t.app)
        .post('/v1/reports')
        .set('Authorization', `Bearer ${t.tokens.ingest}`)
        .send(fresh)
        .expect(202);

      for (const [report, value] of [
        [old, { stored: 'as JSON' }],
        [fresh, { stored: 'packed' }],
      ] as const) {
        const got = await request(t.app)
          .get(`/v1/reports/${report.id}?dump=1`)
          .set('Authorization', `Bearer ${t.tokens.engineer}`)
          .expect(200);
        expect(got.body.dump).toEqual(value);
      }
    } finally {
      t.close();
    }
  });
});
