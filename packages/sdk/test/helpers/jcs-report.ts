import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './fixtures';
import type { TestServer } from './test-server';

/** `jcs-report`, the bin a VB6 or .NET host shells out to, run as a real process from dist/. */
export const JCS_REPORT_BIN = path.join(__dirname, '../../dist/bin/jcs-report.js');

export interface ReportRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `jcs-report` with `args`, `stdin` on its standard input (closed at once when none), and
 * `env` on top of this process's environment.
 *
 * @example
 * const { code, stdout } = await jcsReport(['--config', config, '--description', 'x']);
 */
export function jcsReport(
  args: string[],
  stdin?: string | Buffer,
  env: NodeJS.ProcessEnv = {},
  killAfterMs?: number,
): Promise<ReportRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [JCS_REPORT_BIN, ...args], {
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    // A call that hangs ends as killed (code null) rather than holding the test to its timeout.
    const killer = killAfterMs ? setTimeout(() => child.kill('SIGKILL'), killAfterMs) : undefined;
    // 'close', not 'exit': output can still be in the pipes when the process has exited.
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
    // A call that stops reading (stdin over its bound) closes the pipe before all is written.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin ?? '');
  });
}

/**
 * A jcs-report config file for the test server, in a new temp dir, its queue dir (`queue`, as
 * the config names it relative to itself) beside it.
 *
 * @example
 * const { config, queueDir } = writeReportConfig(server, { dumpConsent: true });
 */
export function writeReportConfig(
  server: Pick<TestServer, 'url' | 'token' | 'publicKey'>,
  overrides: Record<string, unknown> = {},
): { config: string; queueDir: string } {
  const dir = tempDir();
  const config = path.join(dir, 'jcs-report.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      endpoint: server.url,
      token: server.token,
      publicKey: server.publicKey,
      keyId: 'k1',
      app: { name: 'JCS', version: '5.2.1.345' },
      license: 'JCS-000123',
      queueDir: 'queue', // relative to the config file
      ...overrides,
    }),
  );
  return { config, queueDir: path.join(dir, 'queue') };
}
