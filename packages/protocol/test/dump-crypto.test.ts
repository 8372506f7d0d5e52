/**
 * Dump sealing's native X25519 path (dump-crypto.ts): the same keys as tweetnacl's, and no
 * deadlock of the host process under garbage collection.
 */
import path from 'node:path';
import { spawn } from 'node:child_process';
import nacl from 'tweetnacl';
import { boxKeyFrom, dumpSealedTo, openDump, sealDump, toBase64 } from '../src/dump-crypto';

describe('native X25519 for sealing dumps', () => {
  it("derives the ephemeral public key and nacl.box's shared key exactly as tweetnacl does", () => {
    for (let i = 0; i < 30; i++) {
      const secret = nacl.randomBytes(32);
      const collector = nacl.box.keyPair();
      const native = boxKeyFrom(secret, collector.publicKey);
      expect(Buffer.from(native.publicKey)).toEqual(
        Buffer.from(nacl.box.keyPair.fromSecretKey(secret).publicKey),
      );
      expect(Buffer.from(native.key)).toEqual(
        Buffer.from(nacl.box.before(collector.publicKey, secret)),
      );
    }
  });

  it('seals 30,000 dumps under constant garbage collection, twice at once, without hanging the process', async () => {
    // The build before this test deadlocked Node 20 in 3 of 4 such runs: a collection inside the
    // JWK export of a generated key pair (dump-crypto.ts). It depends on timing, hence two runs.
    // The compiled module, as a host loads it (`npm test` builds dist/ first).
    const dist = path.join(__dirname, '..', 'dist', 'index.js');
    const script = `
      const { sealDump, openDump } = require(${JSON.stringify(dist)});
      const nacl = require('tweetnacl');
      const collector = nacl.box.keyPair();
      const junk = [];
      for (let i = 0; i < 30000; i++) {
        const dump = sealDump('{"i":' + i + '}', collector.publicKey, 'k1');
        if (i % 5000 === 0 && openDump(dump, collector.secretKey) !== '{"i":' + i + '}') process.exit(3);
        if (i % 3 === 0) junk.push(new Array(50).fill(i));
        if (junk.length > 2000) junk.length = 0;
      }
      process.stdout.write('sealed 30000');
    `;
    const run = () =>
      new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, ['--max-semi-space-size=1', '-e', script], {
          cwd: path.join(__dirname, '..'),
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        // 'close', not 'exit': output can still be in the pipe when the process has exited.
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal, out });
        });
      });
    // SIGKILL here: it hung until the timeout.
    expect(await Promise.all([run(), run()])).toEqual([
      { code: 0, signal: null, out: 'sealed 30000' },
      { code: 0, signal: null, out: 'sealed 30000' },
    ]);
  }, 90_000);
});

describe('dumpSealedTo: whether a dump was sealed to a key, without decrypting it', () => {
  const collector = nacl.box.keyPair();

  it('agrees with opening, for the right key, another key and every byte of the box flipped', () => {
    const dump = sealDump(JSON.stringify({ client: 'Smith & Co' }), collector.publicKey, 'k1');
    expect(dumpSealedTo(dump, collector.secretKey)).toBe(true);
    expect(dumpSealedTo(dump, nacl.box.keyPair().secretKey)).toBe(false);
    const box = Buffer.from(dump.ciphertext, 'base64');
    for (let i = 0; i < box.length; i++) {
      const flipped = Buffer.from(box);
      flipped[i] ^= 1;
      const tampered = { ...dump, ciphertext: toBase64(flipped) };
      expect(openDump(tampered, collector.secretKey)).toBeNull();
      expect(dumpSealedTo(tampered, collector.secretKey)).toBe(false);
    }
    // another nonce or ephemeral key is another box
    const nonce = toBase64(nacl.randomBytes(24));
    expect(dumpSealedTo({ ...dump, nonce }, collector.secretKey)).toBe(false);
    const epk = toBase64(nacl.box.keyPair().publicKey);
    expect(dumpSealedTo({ ...dump, epk }, collector.secretKey)).toBe(false);
  });

  it('answers false, never throws, for envelopes too short to be a box', () => {
    const dump = sealDump('{}', collector.publicKey, 'k1');
    for (const ciphertext of ['', toBase64(new Uint8Array(15))]) {
      expect(dumpSealedTo({ ...dump, ciphertext }, collector.secretKey)).toBe(false);
    }
    expect(dumpSealedTo({ ...dump, epk: toBase64(new Uint8Array(31)) }, collector.secretKey)).toBe(
      false,
    );
    expect(
      dumpSealedTo({ ...dump, nonce: toBase64(new Uint8Array(23)) }, collector.secretKey),
    ).toBe(false);
  });

  it('accepts the empty plaintext a client may seal (a box of its tag alone)', () => {
    const dump = sealDump('', collector.publicKey, 'k1');
    expect(dumpSealedTo(dump, collector.secretKey)).toBe(true);
  });
});
