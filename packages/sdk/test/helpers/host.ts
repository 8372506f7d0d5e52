import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import type { ReporterOptions } from '../../src';
import { optionsFor } from './fixtures';
import type { TestServer } from './test-server';

export const HOST_SCRIPT = path.join(__dirname, '../fixtures/host.js');

export interface HostRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs test/fixtures/host.js (the built SDK in a real process) in `mode`. `options` are the
 * reporter options (JSON-able); `sdk: false` runs the same host without the SDK, as a baseline.
 */
export function runHost(
  mode: string,
  options: Partial<ReporterOptions>,
  extra: { sdk?: boolean; execArgv?: string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<HostRun> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(extra.execArgv ?? []), HOST_SCRIPT, mode], {
      env: {
        ...process.env,
        JCS_TEST_OPTIONS: JSON.stringify(options),
        JCS_TEST_NO_SDK: extra.sdk === false ? '1' : '0',
        ...extra.env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`host ${mode} did not end within ${extra.timeoutMs ?? 10_000} ms`));
    }, extra.timeoutMs ?? 10_000);
    child.on('error', reject);
    // 'close', not 'exit': output can still be in the pipes when the process has exited.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - start });
    });
  });
}

/** An http:// URL on which nothing listens. */
export async function deadEndpoint(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/`;
}

/** Host tests run the built SDK: a clear failure when it was not built. */
export function requireBuiltSdk(): void {
  if (!fs.existsSync(path.join(__dirname, '../../dist/index.js'))) {
    throw new Error('build the SDK first: npx tsc -b');
  }
}

/** Reporter options for a host process: JSON-able, so without onDiagnostic. */
export function hostOptionsFor(
  server: Pick<TestServer, 'url' | 'token' | 'publicKey'>,
  overrides: Partial<ReporterOptions> = {},
): Partial<ReporterOptions> {
  const { onDiagnostic: _o, ...o } = optionsFor(server, [], overrides);
  return o;
}
