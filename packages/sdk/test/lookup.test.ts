import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import type { LookupFunction } from 'node:net';
import path from 'node:path';
import { createSharedLookup } from '../src/lookup';
import { cleanupTempDirs, tempDir } from './helpers/fixtures';

afterAll(() => cleanupTempDirs());

type Callback = Parameters<LookupFunction>[2];

/** A resolver that answers only when told to, counting the look-ups it was asked for. */
function heldResolver() {
  const held: { hostname: string; callback: Callback }[] = [];
  const lookup = ((hostname, _options, callback) => {
    held.push({ hostname, callback });
  }) as LookupFunction;
  return { lookup, held };
}

describe('createSharedLookup', () => {
  it('joins a look-up under way for the same name: one resolver call, every caller answered', () => {
    const r = heldResolver();
    const shared = createSharedLookup(r.lookup);
    const answers: unknown[][] = [];
    for (let i = 0; i < 5; i++) shared('errors.example', {}, (...a) => answers.push(a));
    expect(r.held).toHaveLength(1);
    r.held[0].callback(null, '192.0.2.7', 4);
    expect(answers).toEqual(new Array(5).fill([null, '192.0.2.7', 4]));
  });

  it('starts a new look-up once the last has answered, and one per name and options', () => {
    const r = heldResolver();
    const shared = createSharedLookup(r.lookup);
    const failed: unknown[] = [];
    shared('errors.example', {}, (e) => failed.push(e));
    const again = Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' });
    r.held[0].callback(again, '', 4);
    expect(failed).toEqual([again]);
    shared('errors.example', {}, () => undefined);
    shared('other.example', {}, () => undefined);
    shared('errors.example', { all: true }, () => undefined);
    expect(r.held.map((h) => h.hostname)).toEqual([
      'errors.example',
      'errors.example',
      'other.example',
      'errors.example',
    ]);
  });

  it('is not left waiting forever by a look-up that threw before it began', () => {
    let calls = 0;
    const shared = createSharedLookup(((_h, _o, callback) => {
      if (++calls === 1) throw new TypeError('bad hostname');
      callback(null, '192.0.2.8', 4);
    }) as LookupFunction);
    expect(() => shared('errors.example', {}, () => undefined)).toThrow('bad hostname');
    const answers: unknown[] = [];
    shared('errors.example', {}, (_e, address) => answers.push(address));
    expect(answers).toEqual(['192.0.2.8']);
  });
});

/**
 * The real thing: a host process whose DNS server never answers (a UDP socket that swallows the
 * queries, named in a resolv.conf bound over /etc/resolv.conf in a mount namespace of its own).
 * It needs root and unshare(1); elsewhere the test says so and checks nothing.
 */
const canIsolate = (() => {
  try {
    execFileSync('unshare', ['-m', 'true'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();
const realDns = canIsolate ? it : it.skip;

realDns(
  'with a DNS server that never answers, retries wait for the one look-up under way',
  async () => {
    const address = `127.${10 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.53`;
    const blackHole = dgram.createSocket('udp4');
    let queries = 0;
    blackHole.on('message', () => queries++);
    await new Promise<void>((resolve) => blackHole.bind(53, address, resolve));
    const dir = tempDir();
    try {
      const resolv = path.join(dir, 'resolv.conf');
      fs.writeFileSync(resolv, `nameserver ${address}\noptions timeout:2 attempts:1\n`);
      // Counts the look-ups in flight at once, below the SDK (loaded first, so the SDK uses it).
      const count = path.join(dir, 'count.js');
      fs.writeFileSync(
        count,
        `const dns = require('node:dns');
const lookup = dns.lookup;
let now = 0, most = 0, calls = 0;
dns.lookup = function (h, o, cb) {
  calls++; most = Math.max(most, ++now);
  return lookup.call(dns, h, o, (...a) => { now--; cb(...a); });
};
process.on('exit', () => console.log(JSON.stringify({ calls, most })));
`,
      );
      const host = path.join(dir, 'host.js');
      fs.writeFileSync(
        host,
        `const { createReporter } = require(${JSON.stringify(path.join(__dirname, '../dist'))});
const r = createReporter({
  endpoint: 'http://collector.jcs-test.example:9/', token: 't', keyId: 'k1',
  publicKey: Buffer.alloc(32, 7).toString('base64'), allowInsecureTransport: true,
  app: { name: 'JCS', version: '1.0' }, license: 'JCS-1',
  requestTimeoutMs: 300, retry: { minDelayMs: 100, maxDelayMs: 200 },
});
r.report({ number: 1, description: 'x', module: 'm', procedure: 'p', line: 1 });
setTimeout(() => r.close(100), 3000);
`,
      );
      const child = spawn('unshare', [
        '-m',
        'sh',
        '-c',
        `mount --bind "$1" /etc/resolv.conf && exec "$2" -r "$3" "$4"`,
        'sh',
        resolv,
        process.execPath,
        count,
        host,
      ]);
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const code = await new Promise((resolve) => child.on('exit', resolve));
      expect({ code, out }).toMatchObject({ code: 0 });
      const seen = JSON.parse(out.trim().split('\n').pop()!) as { calls: number; most: number };
      // Retries every 100-200 ms for 3 s against 2 s look-ups: without joining, several at once.
      expect(seen.calls).toBeGreaterThanOrEqual(2);
      expect(seen.most).toBe(1);
      expect(queries).toBeGreaterThan(0);
    } finally {
      blackHole.close();
    }
  },
  20_000,
);
