import { packBatch, unpackBatch } from '../src/store/batch-wire';
import type { PreparedReport } from '../src/store/ingest-writer';

function prepared(over: Partial<PreparedReport> = {}): PreparedReport {
  return {
    id: '0b3f6f3e-8a61-4a8e-9a3e-2f1f1c7c9d01',
    groupId: '3fa9c1d2e4b7',
    appName: 'JCS Adviser',
    number: 1004,
    module: 'modClients',
    procedure: 'SaveClient',
    version: '4.2.1',
    license: 'LIC-00042',
    line: 120,
    repeats: null,
    occurredAt: '2026-11-29T10:00:00.000Z',
    dumpWithheld: null,
    userHash: Buffer.from('a1'.repeat(16), 'hex'),
    username: Buffer.from([1, 2, 3]),
    description: Buffer.from([4, 5, 6, 7]),
    code: null,
    dump: Buffer.alloc(600, 9),
    keyDay: '2026-11-29',
    keyTag: 0x5eed1234,
    keyPrint: '9f86d081884c7d65',
    receivedAt: 1_796_000_000_123,
    ...over,
  };
}

describe('the batch sent to the writer thread', () => {
  it('comes back field for field, absent byte fields and odd strings included', () => {
    const items = [
      prepared(),
      prepared({
        id: '1b3f6f3e-8a61-4a8e-9a3e-2f1f1c7c9d02',
        userHash: null,
        username: null,
        code: Buffer.alloc(0),
        dump: null,
        repeats: 7,
        dumpWithheld: 'user',
        // a lone surrogate and a line separator survive JSON as they survive structured clone
        module: 'mod\ud800\u2028Ü',
      }),
    ];
    const back = unpackBatch(packBatch(items));
    expect(back).toEqual(items);
    expect(Buffer.isBuffer(back[0].description)).toBe(true);
    expect(back[1].code).toEqual(Buffer.alloc(0));
  });

  it('packs every byte field into the one buffer it transfers', () => {
    const items = [prepared(), prepared({ code: Buffer.from([8]) })];
    const wire = packBatch(items);
    expect(wire.bytes.byteLength).toBe(2 * (16 + 3 + 4 + 600) + 1);
    expect(wire.meta).not.toContain('"type":"Buffer"');
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(wire, [wire.bytes]);
    port1.close();
    port2.close();
    expect(wire.bytes.byteLength).toBe(0); // moved, not copied
  });
});
