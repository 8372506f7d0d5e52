import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { COLLECTOR_BIN } from '../../../../test-support/collector';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `jcs-collector` bin to completion, killed after `timeoutMs` (so a `serve` that
 * wrongly starts fails the test instead of hanging it). `env` adds to (or, with `undefined`,
 * removes from) this process's environment.
 *
 * @example
 * const r = runCollector(['serve', '--port', '0', '--data-dir', dir]);
 * expect(r.status).toBe(1);
 */
export function runCollector(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 15_000,
): CliResult {
  const r = spawnSync(process.execPath, [COLLECTOR_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, JCS_COLLECTOR_MASTER_KEY: undefined, ...env },
    timeout: timeoutMs,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** stderr so far: the JSON log lines */
  stderr(): string;
  /** resolves once a stderr line matches */
  waitForLog(pattern: RegExp): Promise<void>;
  /** resolves with the exit code */
  exited: Promise<number | null>;
}

/**
 * Spawns `jcs-collector serve --port 0` (or the `--port` in `args`) on an initialised data dir and resolves once it listens;
 * the test holds the process (to send it SIGINT or SIGTERM itself).
 *
 * @example
 * const p = await spawnServe(dataDir);
 * p.child.kill('SIGINT');
 * expect(await p.exited).toBe(0);
 */
export function spawnServe(
  dataDir: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [
      COLLECTOR_BIN,
      'serve',
      ...(args.includes('--port') ? [] : ['--port', '0']),
      '--data-dir',
      dataDir,
      ...args,
    ],
    {
      env: { ...process.env, JCS_COLLECTOR_MASTER_KEY: undefined, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  const watchers: { pattern: RegExp; resolve: () => void }[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of watchers.splice(0)) {
      if (w.pattern.test(stderr)) w.resolve();
      else watchers.push(w);
    }
  });
  // 'close', not 'exit': output can still be in the pipes when the process has exited.
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => resolve(code)),
  );
  return new Promise<ServeProcess>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        resolve({
          child,
          url: m[1],
          stderr: () => stderr,
          waitForLog: (pattern) =>
            new Promise<void>((done) => {
              if (pattern.test(stderr)) done();
              else watchers.push({ pattern, resolve: done });
            }),
          exited,
        });
      }
    });
    void exited.then((code) =>
      reject(new Error(`serve exited with ${code} before listening: ${stderr}`)),
    );
  });
}
