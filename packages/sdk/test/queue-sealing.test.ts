import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Diagnostic } from '../src';
import { QUEUE_KEY_FILE, readQueueKeyFile } from '../src/queue/queue-key';
import { SEALED_MAGIC } from '../src/queue/sealed-file';
import { makeReport, pendingFiles, queuedReports, tempDir } from './helpers/fixtures';
import { deadEndpoint } from './helpers/host';
import { serverPerTest } from './helpers/harness';
import { waitFor } from './helpers/test-server';

/**
 * What the queue directory holds: reports carry a username, a licence, an error description and
 * the source line, so every file in it is sealed under the queue key, and only the SDK opens it.
 */
const h = serverPerTest();
let down: string;

beforeAll(async () => {
  down = await deadEndpoint();
});

function reporter(queueDir: string, overrides: Record<string, unknown> = {}, d: Diagnostic[] = []) {
  return h.reporter(d, { queueDir, ...overrides });
}

/** Every file under `dir`, recursively, as bytes. */
function allBytes(dir: string): { file: string; bytes: Buffer }[] {
  const out: { file: string; bytes: Buffer }[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...allBytes(p));
    else out.push({ file: p, bytes: fs.readFileSync(p) });
  }
  return out;
}

function expectNoCanary(queueDir: string, canaries: string[]): void {
  const files = allBytes(queueDir);
  expect(files.length).toBeGreaterThan(0);
  for (const { file, bytes } of files) {
    for (const canary of canaries) {
      if (bytes.includes(canary)) throw new Error(`${canary} in clear in ${file}`);
    }
  }
}

const input = (description: string, extra: Record<string, unknown> = {}) => ({
  number: 91,
  description,
  module: 'modClients',
  procedure: 'LoadClient',
  line: 120,
  ...extra,
});

describe('the queue on disk', () => {
  it('holds no personal field in clear, in any file, and a later start delivers them intact', async () => {
    const queueDir = tempDir();
    const c = {
      username: 'CANARY-user-41d2',
      license: 'CANARY-lic-8e07',
      description: 'CANARY-desc-c3a9',
      code: 'CANARY-code-5b1f',
      data: 'CANARY-data-7d64',
    };
    const first = reporter(queueDir, {
      endpoint: down,
      username: c.username,
      license: c.license,
      dumpConsent: true,
    });
    const ids = [
      first.report(input(c.description, { code: c.code, data: { note: c.data } })),
      first.report(input(`${c.description} again`, { code: c.code, data: [c.data] })),
    ];
    // Each send fails and puts the report back: claimed/ and tmp/ have been used by now.
    expect(await first.flush(300)).toBe(false);
    await first.close(0);
    // a send may still be failing after close(0); it goes back to pending/ when it has
    await waitFor(() => pendingFiles(queueDir).length === 2);
    expectNoCanary(queueDir, Object.values(c));
    for (const file of pendingFiles(queueDir)) {
      const bytes = fs.readFileSync(path.join(queueDir, 'pending', file));
      expect(bytes.subarray(0, SEALED_MAGIC.length)).toEqual(SEALED_MAGIC);
      expect(file).toMatch(new RegExp(`-${bytes.length}\\.sealed$`));
    }

    reporter(queueDir, { username: 'someone-else', license: 'JCS-000123', dumpConsent: true });
    await h.server.waitFor(() => h.server.stored.size === 2);
    const [a, b] = ids.map((id) => h.server.stored.get(id)!);
    expect(a).toMatchObject({
      username: c.username,
      license: c.license,
      error: { description: c.description, code: c.code },
    });
    expect(b.error.description).toBe(`${c.description} again`);
    expect(h.server.openDump(a)).toEqual({ note: c.data });
    expect(h.server.openDump(b)).toEqual([c.data]);
  });

  it('is shared by processes that start on a new directory at once: one key, all delivered', async () => {
    const queueDir = tempDir();
    const script = `
      const { DiskQueue } = require(${JSON.stringify(path.join(__dirname, '../dist/queue/disk-queue.js'))});
      const wait = Number(process.argv[2]) - Date.now();
      if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
      const q = new DiskQueue(process.argv[1], { maxReports: 100, maxBytes: 1e7 }, { onOverflow() {}, onCorrupt() {} });
      q.add(JSON.parse(process.argv[3]));
    `;
    const reports = Array.from({ length: 6 }, (_, i) => makeReport(`process ${i}`));
    const startAt = Date.now() + 1500;
    await Promise.all(
      reports.map(
        (r) =>
          new Promise<void>((resolve, reject) => {
            const child = spawn(process.execPath, [
              '-e',
              script,
              queueDir,
              String(startAt),
              JSON.stringify(r),
            ]);
            child.stderr.pipe(process.stderr);
            child.on('error', reject);
            child.on('exit', (code) =>
              code === 0 ? resolve() : reject(new Error(`exit ${code}`)),
            );
          }),
      ),
    );
    expect(fs.readdirSync(queueDir).filter((n) => n.includes('key'))).toEqual([QUEUE_KEY_FILE]);
    expect(fs.readdirSync(path.join(queueDir, 'tmp'))).toEqual([]);
    const key = readQueueKeyFile(queueDir)!;
    const queued = queuedReports(queueDir, key).map((r) => r.id);
    expect(queued.sort()).toEqual(reports.map((r) => r.id).sort());

    const d: Diagnostic[] = [];
    const r = reporter(queueDir, {}, d);
    expect(await r.flush(5000)).toBe(true);
    expect([...h.server.stored.keys()].sort()).toEqual(reports.map((x) => x.id).sort());
    expect(d).toEqual([]);
  }, 30_000);

  it('seals and delivers a plaintext report an earlier version left, and seals its corrupt/ too', async () => {
    const queueDir = tempDir();
    const legacy = makeReport('CANARY-legacy-2a90');
    legacy.username = 'CANARY-legacy-user';
    const json = JSON.stringify(legacy);
    for (const sub of ['pending', 'corrupt'])
      fs.mkdirSync(path.join(queueDir, sub), { recursive: true });
    fs.writeFileSync(
      path.join(
        queueDir,
        'pending',
        `0000000000001-000001-${legacy.id}-${Buffer.byteLength(json)}.json`,
      ),
      json,
    );
    const leftover = '{"schema":1,"username":"CANARY-legacy-cut';
    fs.writeFileSync(path.join(queueDir, 'corrupt', '0000000000002-cut.json'), leftover);

    const d: Diagnostic[] = [];
    const r = reporter(queueDir, { endpoint: down }, d);
    // Sealed at start, before any send: nothing of it is left in clear.
    expectNoCanary(queueDir, ['CANARY-legacy']);
    expect(queuedReports(queueDir)).toEqual([legacy]);
    await r.close(0);
    await waitFor(() => pendingFiles(queueDir).length === 1);

    reporter(queueDir, { dumpConsent: true }, d);
    await h.server.waitFor(() => h.server.stored.has(legacy.id));
    expect(h.server.stored.get(legacy.id)).toEqual(legacy);
    expect(d.filter((x) => x.code === 'queue_corrupt' || x.code === 'internal_error')).toEqual([]);
    expect(fs.readdirSync(path.join(queueDir, 'corrupt'))).toEqual([
      '0000000000002-cut.json.sealed',
    ]);
  });

  it('moves a file sealed under another key, or cut short, to corrupt/ and goes on', async () => {
    const queueDir = tempDir();
    const keyA = randomBytes(32).toString('base64');
    const keyB = randomBytes(32).toString('base64');
    const a = reporter(queueDir, { endpoint: down, queueKey: keyA });
    a.report(input('under key A'));
    a.report(input('cut short'));
    await a.close(0);
    await waitFor(() => pendingFiles(queueDir).length === 2);
    expect(fs.existsSync(path.join(queueDir, QUEUE_KEY_FILE))).toBe(false);
    const [, cut] = pendingFiles(queueDir);
    const cutPath = path.join(queueDir, 'pending', cut);
    fs.writeFileSync(cutPath, fs.readFileSync(cutPath).subarray(0, 60));

    const d: Diagnostic[] = [];
    const b = reporter(queueDir, { queueKey: keyB }, d);
    const fresh = b.report(input('under key B'));
    // False: two queued reports could not be read, so not everything queued was delivered.
    expect(await b.flush(5000)).toBe(false);
    expect([...h.server.stored.keys()]).toEqual([fresh]);
    expect(d.map((x) => x.code)).toEqual(['queue_corrupt', 'queue_corrupt']);
    expect(pendingFiles(queueDir)).toEqual([]);
    expect(fs.readdirSync(path.join(queueDir, 'corrupt'))).toHaveLength(2);
  });

  it('with queueKey, still opens what the key file sealed before the host moved to its own key', async () => {
    const queueDir = tempDir();
    const before = reporter(queueDir, { endpoint: down });
    const id = before.report(input('sealed under queue.key'));
    await before.close(0);
    await waitFor(() => pendingFiles(queueDir).length === 1);
    expect(fs.existsSync(path.join(queueDir, QUEUE_KEY_FILE))).toBe(true);

    const after = reporter(queueDir, { queueKey: randomBytes(32).toString('base64') });
    expect(await after.flush(5000)).toBe(true);
    expect(h.server.stored.has(id)).toBe(true);
  });
});
