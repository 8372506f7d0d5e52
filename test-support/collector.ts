import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
export const COLLECTOR_BIN = path.join(ROOT, 'packages/collector/dist/bin.js');
export const CLI_BIN = path.join(ROOT, 'packages/cli/dist/bin.js');

export interface RunningCollector {
  url: string;
  dataDir: string;
  tokens: { ingest: string; engineer: string; admin: string };
  publicKey: string;
  keyId: string;
  /** the serve process's stderr so far (JSON log lines) */
  logs(): string;
  /** SIGTERM and wait for exit; resolves with the exit code */
  stop(): Promise<number | null>;
  /** SIGKILL and wait */
  kill(): Promise<void>;
  /** sends the serve process a signal (SIGHUP, say) without waiting for anything */
  signal(name: NodeJS.Signals): void;
  /** start again on the same data dir and port */
  restart(): Promise<void>;
}

/**
 * Posts a report to a running collector with its ingest token, over a real socket.
 *
 * @example
 * const res = await postReport(c, makeReport()); // res.status: 202
 */
export function postReport(c: Pick<RunningCollector, 'url' | 'tokens'>, report: unknown) {
  return fetch(`${c.url}/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${c.tokens.ingest}` },
    body: JSON.stringify(report),
  });
}

/** Runs the real `jcs-collector` bin once; throws with its stderr when it fails. */
export function collectorCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [COLLECTOR_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    // A command that should have refused but serves instead fails the test rather than hang it.
    timeout: 60_000,
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/**
 * A fresh directory in the Jest run's temp folder (test-support/global-setup.js), which is removed
 * when the run ends; in the OS temp dir when there is none (a script outside Jest).
 */
export function makeTempDir(prefix = 'jcs-test-'): string {
  return fs.mkdtempSync(path.join(process.env.JCS_TEST_TMP ?? os.tmpdir(), prefix));
}

/**
 * Initialises a temp data dir, creates one token of each role and spawns the real
 * `jcs-collector serve --port 0` on it (build first: `npx tsc -b`, which `npm test` does).
 *
 * @example
 * const c = await startCollector();
 * await fetch(`${c.url}/v1/health`);
 * await c.stop();
 */
export async function startCollector(
  options: { serveArgs?: string[]; env?: NodeJS.ProcessEnv; dataDir?: string } = {},
): Promise<RunningCollector> {
  const dataDir = options.dataDir ?? path.join(makeTempDir(), 'data');
  const env = options.env ?? {};
  const init = collectorCli(['init', '--data-dir', dataDir], env);
  if (init.status !== 0) throw new Error(`jcs-collector init failed: ${init.stderr}`);
  const keyId = /key id: (\S+)/.exec(init.stdout)![1];
  const publicKey = /public key: (\S+)/.exec(init.stdout)![1];
  const token = (role: string) => {
    const r = collectorCli(
      ['token', 'create', '--name', `test-${role}`, '--role', role, '--data-dir', dataDir],
      env,
    );
    if (r.status !== 0) throw new Error(`token create failed: ${r.stderr}`);
    return r.stdout.trim();
  };
  const tokens = { ingest: token('ingest'), engineer: token('engineer'), admin: token('admin') };

  let child: ChildProcess;
  /** the exit code, once the process has exited and its output has all been read */
  let closed: Promise<number | null>;
  let stderr = '';
  let port = 0;
  const spawnServe = async (): Promise<string> => {
    child = spawn(
      process.execPath,
      [
        COLLECTOR_BIN,
        'serve',
        '--port',
        String(port),
        '--data-dir',
        dataDir,
        ...(options.serveArgs ?? []),
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': output can still be in the pipes when the process has exited.
    closed = new Promise((resolve) => child.once('close', (code) => resolve(code)));
    return listeningUrl(child, closed, () => stderr, 15_000, 'collector');
  };
  const waitExit = () => closed;

  const url = await spawnServe();
  port = Number(new URL(url).port);
  return {
    url,
    dataDir,
    tokens,
    publicKey,
    keyId,
    logs: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      return waitExit();
    },
    kill: async () => {
      child.kill('SIGKILL');
      await waitExit();
    },
    signal: (name) => void child.kill(name),
    restart: async () => {
      await spawnServe();
    },
  };
}

/**
 * The URL a spawned `jcs-collector serve` prints once it listens; rejects, with its stderr, when
 * it exits first or takes longer than `timeoutMs`.
 *
 * @example
 * const url = await listeningUrl(child, closed, () => stderr, 15_000, 'collector');
 */
export function listeningUrl(
  child: ChildProcess,
  closed: Promise<number | null>,
  stderr: () => string,
  timeoutMs: number,
  name: string,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start: ${stderr()}`)),
      timeoutMs,
    );
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void closed.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening: ${stderr()}`));
    });
  });
}
