import crypto from 'node:crypto';
import request from 'supertest';
import { fromBase64, sealDump } from '@jcs/protocol';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { captureLog } from './helpers/log-capture';

/**
 * The dump travels sealed to the collector's transport key, is stored sealed again under the
 * day's data key, and is opened only on `GET /v1/reports/:id?dump=1`, answered as the decoded
 * JSON value.
 */

let t: TestCollector;
beforeEach(() => (t = makeTestCollector()));
afterEach(() => t.close());

const engineer = (path: string) =>
  request(t.app).get(path).set('Authorization', `Bearer ${t.tokens.engineer}`);
const ingest = (body: object) =>
  request(t.app)
    .post('/v1/reports')
    .set('Authorization', `Bearer ${t.tokens.ingest}`)
    .send(body)
    .expect(202);

/** Seals a value as the SDK does, with the key the collector publishes. */
async function sealed(value: unknown) {
  const key = await request(t.app).get('/v1/public-key').expect(200);
  expect(key.body).toEqual({
    alg: 'x25519-xsalsa20-poly1305',
    keyId: 'k1',
    publicKey: expect.any(String),
  });
  return sealDump(JSON.stringify(value), fromBase64(key.body.publicKey), key.body.keyId);
}

/** The log's warnings of dumps that do not open with the key they name, once checked (off the report's way). */
async function notOpening(logged: ReturnType<typeof captureLog>) {
  await new Promise((resolve) => setImmediate(resolve));
  return logged.lines().filter((l) => String(l.msg).includes('does not open with its key'));
}

describe('GET /v1/reports/:id and the dump', () => {
  const value = {
    client: { name: 'Smith & Sons', id: 42 },
    rows: [1, 2.5, null, true, 'x'],
    text: 'Grüße 😀',
  };

  it('answers the dump only with ?dump=1, as the decoded JSON value', async () => {
    const report = makeReport({ dump: await sealed(value) });
    await ingest(report);

    for (const query of ['', '?dump=0', '?dump=false']) {
      const plain = await engineer(`/v1/reports/${report.id}${query}`).expect(200);
      expect(plain.body).not.toHaveProperty('dump');
      expect(plain.body).not.toHaveProperty('dumpWithheld');
    }
    for (const query of ['?dump=1', '?dump=true']) {
      const withDump = await engineer(`/v1/reports/${report.id}${query}`).expect(200);
      expect(withDump.body.dump).toEqual(value);
    }

    const { dump: _dump, ...rest } = report;
    const whole = await engineer(`/v1/reports/${report.id}?dump=1`).expect(200);
    expect(whole.body).toEqual({
      ...rest,
      dump: value,
      receivedAt: '2026-11-01T12:00:00.000Z',
      group: expect.stringMatching(/^[0-9a-f]{12}$/),
    });
  });

  it('answers any JSON value a dump holds, not only objects', async () => {
    for (const v of ['just text', 12.5, [1, 2], null, false]) {
      const report = makeReport({ dump: await sealed(v) });
      await ingest(report);
      const answer = await engineer(`/v1/reports/${report.id}?dump=1`).expect(200);
      expect(answer.body.dump).toEqual(v);
    }
  });

  it('a dump thousands of levels deep is answered cut at 256 levels, not a 500', async () => {
    // Sealed by hand: the SDK itself stops at 64 levels.
    const key = await request(t.app).get('/v1/public-key').expect(200);
    const text = '['.repeat(5000) + ']'.repeat(5000);
    const report = makeReport({
      dump: sealDump(text, fromBase64(key.body.publicKey), key.body.keyId),
    });
    await ingest(report);
    const answer = await engineer(`/v1/reports/${report.id}?dump=1`).expect(200);
    let level = 0;
    let v: unknown = answer.body.dump;
    while (Array.isArray(v)) {
      level++;
      v = v[0];
    }
    expect(level).toBe(256);
    expect(v).toBe('[… deeper than 256 levels: not shown]');
    // A dump within the bound comes back as it was, __proto__ keys as plain keys.
    const fine = JSON.parse(`${'{"a":'.repeat(200)}{"__proto__":1}${'}'.repeat(200)}`) as unknown;
    const ok = makeReport({ dump: await sealed(fine) });
    await ingest(ok);
    expect((await engineer(`/v1/reports/${ok.id}?dump=1`).expect(200)).body.dump).toEqual(fine);
  });

  it('a report that withheld its dump says why, with or without ?dump=1', async () => {
    const report = makeReport({ dumpWithheld: 'user-opt-out' });
    await ingest(report);
    const answer = await engineer(`/v1/reports/${report.id}?dump=1`).expect(200);
    expect(answer.body.dumpWithheld).toBe('user-opt-out');
    expect(answer.body).not.toHaveProperty('dump');
  });

  it('a dump that does not open (sealed to another key) is answered as null', async () => {
    const other = crypto.randomBytes(32);
    const report = makeReport({ dump: sealDump('{"a":1}', new Uint8Array(other), 'k1') });
    await ingest(report);
    const answer = await engineer(`/v1/reports/${report.id}?dump=1`).expect(200);
    expect(answer.body.dump).toBeNull();
  });

  it('warns in the log, once a minute per key id, of dumps sealed to a key id it does not hold', async () => {
    const logged = captureLog();
    t.collector.log = logged.logger;
    const warnings = () =>
      logged.lines().filter((l) => String(l.msg).startsWith('a dump is sealed to a transport key'));
    const other = new Uint8Array(crypto.randomBytes(32));
    // An SDK that pinned a key id this collector never had: stored (202), and said in the log.
    await ingest(makeReport({ dump: sealDump('{"a":1}', other, 'k9') }));
    await ingest(makeReport({ dump: sealDump('{"a":2}', other, 'k9') }));
    await ingest(makeReport({ dump: sealDump('{"a":3}', other, 'me@example.com') }));
    // A licence, or a token pasted into the wrong field, has the form of a key id of one's own.
    await ingest(makeReport({ dump: sealDump('{"a":3}', other, 'JCS-000123') }));
    await ingest(makeReport({ dump: sealDump('{"a":3}', other, t.tokens.engineer) }));
    // So is a card number behind a k: no collector rotates its key a million times.
    await ingest(makeReport({ dump: sealDump('{"a":3}', other, 'k4111111111111111') }));
    const notLogged = '(not logged: not a key id this collector made)';
    expect(warnings()).toEqual([
      expect.objectContaining({ level: 40, keyId: 'k9', held: ['k1'] }),
      // The key id is the client's text: logged only in the form the collector makes, and the
      // ids not logged share one warning a minute.
      expect.objectContaining({ level: 40, keyId: notLogged }),
    ]);
    expect(JSON.stringify(logged.lines())).not.toMatch(/JCS-000123|jcs_eng_|4111111111111111/);
    t.clock.advance(61_000);
    await ingest(makeReport({ dump: sealDump('{"a":4}', other, 'k9') }));
    expect(warnings()).toHaveLength(3);
    // Its own key id, sealed to its own key: no warning.
    await ingest(makeReport({ dump: await sealed({ ok: true }) }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings()).toHaveLength(3);
  });

  it('warns, once a minute, of dumps sealed under its key id to a public key not its own', async () => {
    const logged = captureLog();
    t.collector.log = logged.logger;
    const warnings = () => notOpening(logged);
    // A public key copied from another collector (a test one) under the right key id.
    const other = new Uint8Array(crypto.randomBytes(32));
    await ingest(makeReport({ dump: sealDump('{"a":1}', other, 'k1') }));
    await ingest(makeReport({ dump: sealDump('{"a":2}', other, 'k1') }));
    expect(await warnings()).toEqual([expect.objectContaining({ level: 40, keyId: 'k1' })]);
    t.clock.advance(61_000);
    await ingest(makeReport({ dump: await sealed({ ok: true }) }));
    expect(await warnings()).toHaveLength(1);
    t.clock.advance(61_000);
    await ingest(makeReport({ dump: sealDump('{"a":3}', other, 'k1') }));
    expect(await warnings()).toHaveLength(2);
    // Nothing of the dump in the log.
    expect(JSON.stringify(logged.lines())).not.toContain('"a":');
  });

  it('checks more than the first dump of a minute: one install pinning a wrong key among many right ones is found', async () => {
    const logged = captureLog();
    t.collector.log = logged.logger;
    const warnings = () => notOpening(logged);
    for (let i = 0; i < 5; i++) await ingest(makeReport({ dump: await sealed({ ok: i }) }));
    expect(await warnings()).toEqual([]);
    const other = new Uint8Array(crypto.randomBytes(32));
    await ingest(makeReport({ dump: sealDump('{"a":1}', other, 'k1') }));
    expect(await warnings()).toEqual([expect.objectContaining({ level: 40, keyId: 'k1' })]);
  });

  it("logs a key id of the operator's own by name, as it holds that key", async () => {
    const logged = captureLog();
    t.collector.log = logged.logger;
    t.collector.keyring.rotateTransport('2026-q4');
    const other = new Uint8Array(crypto.randomBytes(32));
    await ingest(makeReport({ dump: sealDump('{"a":1}', other, '2026-q4') }));
    expect(await notOpening(logged)).toEqual([
      expect.objectContaining({ level: 40, keyId: '2026-q4' }),
    ]);
  });

  it('stores the dump envelope sealed again: its ciphertext is not in the database', async () => {
    const dump = await sealed(value);
    const report = makeReport({ dump });
    await ingest(report);
    const row = t.collector.db
      .prepare('SELECT * FROM reports WHERE id = ?')
      .get(report.id) as Record<string, unknown>;
    const bytes = Buffer.concat(
      Object.values(row).map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v)))),
    );
    expect(bytes.includes(dump.ciphertext)).toBe(false);
    expect(bytes.includes(dump.epk)).toBe(false);
    expect(bytes.includes(report.error.description)).toBe(false);
    expect(bytes.includes(report.username!)).toBe(false);
  });

  it('a bad ?dump value is a 400 naming the parameter', async () => {
    const report = makeReport();
    await ingest(report);
    const answer = await engineer(`/v1/reports/${report.id}?dump=yes`).expect(400);
    expect(answer.body.error.code).toBe('invalid_request');
    expect(answer.body.error.details[0].path).toBe('dump');
  });
});
