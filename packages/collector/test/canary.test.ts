import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { fromBase64, sealDump } from '@jcs/protocol';
import { startCollector, type RunningCollector } from '../../../test-support/collector';
import { makeReport } from '../../../test-support/reports';

/**
 * Personal data at rest: reports whose description, code, username and dump carry canary strings
 * go through the real `jcs-collector serve`; then every byte of every file under the data dir
 * (database, WAL, shared memory, keys), before and after a WAL checkpoint and after shutdown, and
 * every line the process logged, are searched for the canaries. None may be found.
 */

jest.setTimeout(60_000);

const canary = (field: string) => `CANARY-${field}-${crypto.randomBytes(6).toString('hex')}`;
const CANARIES = {
  description: canary('description'),
  code: canary('code'),
  username: canary('username'),
  dump: canary('dump'),
};
const ALL = Object.values(CANARIES);

/**
 * Every file under a folder, with its bytes. The running server writes some files atomically (a
 * temp file renamed over the old one), so a file listed may be gone by the time it is read.
 */
function filesUnder(dir: string): { file: string; bytes: Buffer }[] {
  const out: { file: string; bytes: Buffer }[] = [];
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    const file = path.join(dir, String(f));
    try {
      if (fs.statSync(file).isFile()) out.push({ file, bytes: fs.readFileSync(file) });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return out;
}

/** Where any canary occurs, in UTF-8 or UTF-16 (either byte order), in any file. */
function findCanaries(dir: string): string[] {
  const found: string[] = [];
  for (const { file, bytes } of filesUnder(dir)) {
    for (const c of ALL) {
      const forms = [
        Buffer.from(c, 'utf8'),
        Buffer.from(c, 'utf16le'),
        Buffer.from(c, 'utf16le').swap16(),
        // the distinctive part alone, should a prefix have been stripped or re-encoded
        Buffer.from(c.slice(-12), 'utf8'),
      ];
      if (forms.some((form) => bytes.includes(form))) found.push(`${c} in ${file}`);
    }
  }
  return found;
}

let c: RunningCollector;
const posted: string[] = [];

const api = (p: string, init: RequestInit = {}, token = c.tokens.engineer) =>
  fetch(`${c.url}${p}`, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, ...init.headers },
  });
const post = (body: unknown, token = c.tokens.ingest) =>
  api(
    '/v1/reports',
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    },
    token,
  );

beforeAll(async () => {
  // No expiry at start: its run ends with a truncating checkpoint, which, landing after the
  // posts below, emptied the WAL this suite means to search before any checkpoint.
  c = await startCollector({ serveArgs: ['--no-expiry'] });
  const key = await fetch(`${c.url}/v1/public-key`).then((r) => r.json() as Promise<any>);
  for (let i = 0; i < 5; i++) {
    const report = makeReport({
      username: `${CANARIES.username} (${i})`,
      license: `JCS-${i}`,
      dump: sealDump(
        JSON.stringify({ client: CANARIES.dump, i }),
        fromBase64(key.publicKey),
        key.keyId,
      ),
      error: {
        description: `Cannot open ${CANARIES.description} (${i})`,
        code: `Set rs = db.OpenRecordset("${CANARIES.code}")`,
      },
    });
    expect((await post(report)).status).toBe(202);
    posted.push(report.id);
  }
  // Refused requests that carry canaries must not leave them anywhere either.
  const bad = makeReport({
    username: CANARIES.username,
    error: { description: CANARIES.description },
  });
  expect((await post({ ...bad, extra: CANARIES.code })).status).toBe(400);
  expect((await post(`{"description": "${CANARIES.description}"`)).status).toBe(400);
  expect((await post(bad, 'jcs_ing_' + 'x'.repeat(38))).status).toBe(401);
  expect((await post(bad, c.tokens.engineer)).status).toBe(403);
  expect((await api(`/v1/reports/${CANARIES.username}`)).status).toBe(404);
  expect((await api(`/v1/${CANARIES.username}?q=${CANARIES.code}`)).status).toBe(404);
  expect((await api(`/v1/groups?version=${CANARIES.code}`)).status).toBe(400);
  // Reading decrypts, in memory only.
  const whole = await api(`/v1/reports/${posted[0]}?dump=1`).then((r) => r.json() as Promise<any>);
  expect(whole.error.description).toContain(CANARIES.description);
  expect(whole.error.code).toContain(CANARIES.code);
  expect(whole.username).toContain(CANARIES.username);
  expect(whole.dump).toEqual({ client: CANARIES.dump, i: 0 });
  const groups = await api('/v1/groups').then((r) => r.json() as Promise<any>);
  expect(groups.groups[0].description).toContain(CANARIES.description);
});

afterAll(async () => {
  await c.stop();
});

describe('no canary anywhere under the data dir, nor in the log', () => {
  it('before a WAL checkpoint (the reports are still in the WAL)', () => {
    const wal = path.join(c.dataDir, 'collector.db-wal');
    expect(fs.statSync(wal).size).toBeGreaterThan(0);
    expect(findCanaries(c.dataDir)).toEqual([]);
  });

  it('after a WAL checkpoint (the reports are in the database file)', () => {
    const db = new Database(path.join(c.dataDir, 'collector.db'));
    try {
      const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      expect(result.busy).toBe(0);
      const n = db.prepare('SELECT COUNT(*) AS n FROM reports').get() as { n: number };
      expect(n.n).toBe(posted.length);
    } finally {
      db.close();
    }
    expect(fs.statSync(path.join(c.dataDir, 'collector.db-wal')).size).toBe(0);
    expect(findCanaries(c.dataDir)).toEqual([]);
  });

  it('after shutdown, and in every log line of the serve process', async () => {
    expect(await c.stop()).toBe(0);
    expect(findCanaries(c.dataDir)).toEqual([]);
    const logs = c.logs();
    const lines = logs.trim().split('\n');
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(entry.service).toBe('jcs-collector');
    }
    for (const secret of [...ALL, c.tokens.ingest, c.tokens.engineer, c.tokens.admin]) {
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(secret.slice(-12));
    }
    // one line per request, with the route pattern, never the path
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(posted.length + 9);
    expect(requests.map((r) => r.route)).toContain('/v1/reports/:id');
  });
});
