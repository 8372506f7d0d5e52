import fs from 'node:fs';
import path from 'node:path';
import { fromBase64, sealDump } from '@jcs/protocol';
import {
  makeTempDir,
  startCollector,
  type RunningCollector,
} from '../../../test-support/collector';
import { makeReport } from '../../../test-support/reports';
import { runCollector } from './helpers/serve-process';
import { nextTransportKeyId } from '../src/crypto/keyring';
import { keyRotateCommand } from '../src/commands/key';
import { CommandError } from '../src/commands/output';

/**
 * `jcs-collector key rotate`: a new transport key under a new key id becomes current (handed out
 * by GET /v1/public-key at once, by a serve already running too); dumps sealed under the old key
 * id still open.
 */

jest.setTimeout(60_000);

let c: RunningCollector;
// stopping twice is harmless: the second waits on a process already gone
afterEach(() => c?.stop());

const api = (p: string, token: string, init: RequestInit = {}) =>
  fetch(`${c.url}${p}`, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, ...init.headers },
  });

async function postWithDump(value: unknown, publicKey: string, keyId: string): Promise<string> {
  const report = makeReport({
    dump: sealDump(JSON.stringify(value), fromBase64(publicKey), keyId),
  });
  const answer = await api('/v1/reports', c.tokens.ingest, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(report),
  });
  expect(answer.status).toBe(202);
  return report.id;
}

const dumpOf = async (id: string) =>
  (await api(`/v1/reports/${id}?dump=1`, c.tokens.engineer).then((r) => r.json() as Promise<any>))
    .dump;
const publicKey = () => fetch(`${c.url}/v1/public-key`).then((r) => r.json() as Promise<any>);

describe('jcs-collector key rotate', () => {
  it('makes a new key current in the running serve while dumps sealed under the old key id still open', async () => {
    c = await startCollector();
    const before = await publicKey();
    expect(before.keyId).toBe('k1');
    expect(before.publicKey).toBe(c.publicKey);
    const oldId = await postWithDump({ under: 'k1' }, before.publicKey, before.keyId);

    const rotated = runCollector(['key', 'rotate', '--data-dir', c.dataDir]);
    expect(rotated.status).toBe(0);
    const keyId = /^key id: (\S+)$/m.exec(rotated.stdout)![1];
    const newKey = /^public key: (\S+)$/m.exec(rotated.stdout)![1];
    expect(keyId).toBe('k2');
    expect(fromBase64(newKey)).toHaveLength(32);
    expect(newKey).not.toBe(before.publicKey);
    expect(rotated.stdout.trim().split('\n')).toHaveLength(2);
    expect(rotated.stderr).toMatch(/hands out the new key from GET \/v1\/public-key at once/);
    expect(rotated.stderr).toMatch(/k2 is now current; k1 and older keys stay/);

    // The running serve hands out the new key, and opens dumps sealed under it, without a restart.
    const rotatedKey = { alg: 'x25519-xsalsa20-poly1305', keyId: 'k2', publicKey: newKey };
    expect(await publicKey()).toEqual(rotatedKey);
    expect(await dumpOf(oldId)).toEqual({ under: 'k1' });
    const newId = await postWithDump({ under: 'k2' }, newKey, keyId);
    expect(await dumpOf(newId)).toEqual({ under: 'k2' });

    // and after a restart, the same
    await c.stop();
    await c.restart();
    expect(await publicKey()).toEqual(rotatedKey);
    expect(await dumpOf(oldId)).toEqual({ under: 'k1' });
    expect(await dumpOf(newId)).toEqual({ under: 'k2' });
    // an SDK still pinned to the old key keeps working too
    const lateId = await postWithDump({ under: 'k1, late' }, before.publicKey, 'k1');
    expect(await dumpOf(lateId)).toEqual({ under: 'k1, late' });

    // Old key files stay; the current one is named.
    const transport = path.join(c.dataDir, 'keys', 'transport');
    expect(fs.readdirSync(transport).sort()).toEqual(['current', 'k1.json', 'k2.json']);
    expect(fs.readFileSync(path.join(transport, 'current'), 'utf8').trim()).toBe('k2');
  });

  it('takes --key-id, refuses one in use or unsafe as a file name, and needs the master key', () => {
    const dataDir = path.join(makeTempDir(), 'data');
    expect(runCollector(['init', '--data-dir', dataDir]).status).toBe(0);
    const rotate = (...args: string[]) =>
      runCollector(['key', 'rotate', '--data-dir', dataDir, ...args]);

    const named = rotate('--key-id', '2026-q4');
    expect(named.status).toBe(0);
    expect(named.stdout).toMatch(/^key id: 2026-q4$/m);

    const again = rotate('--key-id', '2026-q4');
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/transport key 2026-q4 already exists/);
    // One file per key id, whatever the file system does with case.
    const cased = rotate('--key-id', '2026-Q4');
    expect(cased.status).toBe(1);
    expect(cased.stderr).toMatch(/transport key 2026-q4 already exists, and 2026-Q4 differs/);

    const unsafe = rotate('--key-id', '../escape');
    expect(unsafe.status).toBe(2);
    expect(unsafe.stderr).toMatch(/--key-id takes 1-64 letters/);

    // With no --key-id, the next k<n> after the highest.
    expect(rotate().stdout).toMatch(/^key id: k2$/m);

    fs.rmSync(path.join(dataDir, 'keys', 'master.key'));
    const noMaster = rotate();
    expect(noMaster.status).toBe(1);
    expect(noMaster.stderr).toMatch(/master key is missing/);

    // A data dir that is not there gets the same advice as every other command.
    const missing = path.join(makeTempDir(), 'none');
    expect(runCollector(['key', 'rotate', '--data-dir', missing])).toMatchObject({
      status: 1,
      stderr: `jcs-collector: no collector database in ${missing}: check --data-dir or JCS_COLLECTOR_DATA_DIR (else ./jcs-data is used); for a new collector, run jcs-collector init --data-dir ${missing}\n`,
    });
    expect(fs.existsSync(missing)).toBe(false);
  });
});

describe('the access log and key list', () => {
  it('logs each rotation (actor system:cli, target the new key id, the previous one in the outcome), chain intact', async () => {
    c = await startCollector();
    expect(runCollector(['key', 'rotate', '--data-dir', c.dataDir]).status).toBe(0);
    expect(
      runCollector(['key', 'rotate', '--key-id', '2026-q4', '--data-dir', c.dataDir]).status,
    ).toBe(0);
    // refused: nothing rotated, nothing logged
    expect(runCollector(['key', 'rotate', '--key-id', 'k2', '--data-dir', c.dataDir]).status).toBe(
      1,
    );
    const entries = (
      await api('/v1/audit?limit=1000', c.tokens.admin).then((r) => r.json() as Promise<any>)
    ).entries as { actor: string; action: string; target: string; outcome: string }[];
    expect(entries.filter((e) => e.action === 'key.rotate')).toEqual([
      expect.objectContaining({
        actor: 'system:cli',
        target: '2026-q4',
        outcome: 'ok previous=k2',
      }),
      expect.objectContaining({ actor: 'system:cli', target: 'k2', outcome: 'ok previous=k1' }),
    ]);
    expect(
      await api('/v1/audit/verify', c.tokens.admin).then((r) => r.json() as Promise<any>),
    ).toMatchObject({ ok: true });
  });

  it('says so, exit 1, when the rotation cannot be logged, after printing the key that is now current', async () => {
    const dataDir = path.join(makeTempDir(), 'data');
    expect(runCollector(['init', '--data-dir', dataDir]).status).toBe(0);
    fs.writeFileSync(
      path.join(dataDir, 'collector.db'),
      'not a database, but long enough '.repeat(40),
    );
    const lines: string[] = [];
    const out = { out: (l: string) => lines.push(l), err: () => undefined };
    const failure = await keyRotateCommand(dataDir, out).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CommandError);
    expect((failure as CommandError).message).toMatch(
      /^the transport key k2 is current, but the access log could not record the rotation \(.*not a database.*\): note it in your own records, then check the log with jcs-collector audit verify --data-dir /,
    );
    expect(lines).toEqual(['key id: k2', expect.stringMatching(/^public key: \S{44}$/)]);
    expect(fs.readFileSync(path.join(dataDir, 'keys/transport/current'), 'utf8').trim()).toBe('k2');
  });

  it('key list: oldest first, which is current, when made, public keys; no master key needed', () => {
    const dataDir = path.join(makeTempDir(), 'data');
    const init = runCollector(['init', '--data-dir', dataDir]);
    expect(init.status).toBe(0);
    const rotated = runCollector(['key', 'rotate', '--key-id', 'b-second', '--data-dir', dataDir]);
    const secondKey = /^public key: (\S+)$/m.exec(rotated.stdout)![1];
    fs.rmSync(path.join(dataDir, 'keys', 'master.key'));
    // a copy or restore that did not keep file times: the order is the records' own
    const later = new Date(Date.now() + 86_400_000);
    fs.utimesSync(path.join(dataDir, 'keys', 'transport', 'k1.json'), later, later);

    const listed = runCollector(['key', 'list', '--data-dir', dataDir]);
    expect(listed).toMatchObject({ status: 0, stderr: '' });
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^KEY ID +STATE +CREATED +PUBLIC KEY$/);
    expect(lines.slice(1).map((l) => l.split(/ +/))).toEqual([
      ['k1', 'old', expect.stringMatching(/^\d{4}-\d\d-\d\dT/), expect.any(String)],
      ['b-second', 'current', expect.stringMatching(/^\d{4}-\d\d-\d\dT/), secondKey],
    ]);

    const json = JSON.parse(runCollector(['key', 'list', '--json', '--data-dir', dataDir]).stdout);
    expect(json).toEqual([
      { keyId: 'k1', current: false, createdAt: expect.any(String), publicKey: expect.any(String) },
      { keyId: 'b-second', current: true, createdAt: expect.any(String), publicKey: secondKey },
    ]);
    expect(Date.parse(json[0].createdAt)).toBeLessThanOrEqual(Date.parse(json[1].createdAt));
    expect(json[0].publicKey).toBe(/public key: (\S+)/.exec(init.stdout + init.stderr)![1]);

    const missing = path.join(makeTempDir(), 'none');
    expect(runCollector(['key', 'list', '--data-dir', missing]).status).toBe(1);
  });
});

describe('nextTransportKeyId', () => {
  it.each<[string[], string]>([
    [['k1'], 'k2'],
    [['k1', 'k2', 'k10'], 'k11'],
    [['2026-q4', 'k3'], 'k4'],
    [['custom'], 'k1'],
    // past a number's exact digits, an id given by hand with --key-id
    [['k1', 'k9999999999'], 'k10000000000'],
    [['k99999999999999999999'], 'k100000000000000000000'],
  ])('%j -> %s', (existing, next) => {
    expect(nextTransportKeyId(existing)).toBe(next);
  });

  it('says to give an id where none can follow', () => {
    expect(() => nextTransportKeyId([`k${'9'.repeat(63)}`])).toThrow(/give one with --key-id/);
  });
});

describe('two rotations at the same moment', () => {
  it('run one after the other: each key id printed is the one kept, and none fails', async () => {
    const dataDir = path.join(makeTempDir(), 'data');
    expect(runCollector(['init', '--data-dir', dataDir]).status).toBe(0);
    const bin = path.resolve(__dirname, '../bin/jcs-collector.js');
    const { spawn } = await import('node:child_process');
    const rotate = () =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, [bin, 'key', 'rotate', '--data-dir', dataDir], {
          env: { ...process.env, JCS_COLLECTOR_MASTER_KEY: '' },
        });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => (stdout += d));
        p.stderr.on('data', (d: Buffer) => (stderr += d));
        p.on('close', (status) => resolve({ status, stdout, stderr }));
      });
    const runs = await Promise.all([rotate(), rotate(), rotate(), rotate()]);
    // A rotation waits for one already running (two at once took the same next id, and one
    // failed with "k2 already exists").
    // What any that failed said, so that a failure shows why.
    expect(runs.filter((r) => r.status !== 0).map((r) => r.stderr)).toEqual([]);
    expect(runs.map((r) => r.status)).toEqual([0, 0, 0, 0]);
    const transport = path.join(dataDir, 'keys', 'transport');
    for (const run of runs) {
      const keyId = /^key id: (\S+)$/m.exec(run.stdout)![1];
      const publicKey = /^public key: (\S+)$/m.exec(run.stdout)![1];
      const kept = JSON.parse(fs.readFileSync(path.join(transport, `${keyId}.json`), 'utf8'));
      expect(kept.publicKey).toBe(publicKey);
    }
    const ids = runs.map((r) => /^key id: (\S+)$/m.exec(r.stdout)![1]);
    expect([...ids].sort()).toEqual(['k2', 'k3', 'k4', 'k5']);
    // One after the other: each names the key it followed, and the last is current.
    const followed = runs.map((r) => /now current; (\S+) and older/.exec(r.stderr)![1]);
    expect(Object.fromEntries(ids.map((id, i) => [id, followed[i]]))).toEqual({
      k2: 'k1',
      k3: 'k2',
      k4: 'k3',
      k5: 'k4',
    });
    expect(fs.readFileSync(path.join(transport, 'current'), 'utf8').trim()).toBe('k5');
  });
});
