import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Report } from '@jcs/protocol';
import type { ReporterOptions } from '../../src';
import type { Diagnostic } from '../../src';
import { readQueueKeyFile } from '../../src/queue/queue-key';
import { openQueueFile } from '../../src/queue/sealed-file';
import type { TestServer } from './test-server';

/** A fresh directory under the OS temp dir; removed by `cleanupTempDirs`. */
const made: string[] = [];
export function tempDir(prefix = 'jcs-sdk-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
export function cleanupTempDirs(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Every file under `dir`, recursively, with its contents. */
export function readAllFiles(dir: string): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...readAllFiles(p));
    else out.push({ file: p, text: fs.readFileSync(p, 'utf8') });
  }
  return out;
}

export function pendingFiles(queueDir: string): string[] {
  const dir = path.join(queueDir, 'pending');
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

/**
 * The reports waiting in `pending/`, opened as the SDK opens them: with `key`, else the queue
 * dir's own `queue.key`. Throws for a file that does not open.
 */
export function queuedReports(queueDir: string, key?: Uint8Array): Report[] {
  const keys = [key ?? readQueueKeyFile(queueDir)!];
  return pendingFiles(queueDir).map((name) => {
    const opened = openQueueFile(fs.readFileSync(path.join(queueDir, 'pending', name)), keys);
    if (!opened) throw new Error(`${name} does not open`);
    return JSON.parse(opened.text) as Report;
  });
}

/** Options pointing at the test server, fast retries, diagnostics collected into `diagnostics`. */
export function optionsFor(
  server: Pick<TestServer, 'url' | 'token' | 'publicKey'>,
  diagnostics: Diagnostic[] = [],
  overrides: Partial<ReporterOptions> = {},
): ReporterOptions {
  return {
    endpoint: server.url,
    token: server.token,
    publicKey: server.publicKey,
    keyId: 'k1',
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    username: 'asmith',
    retry: { minDelayMs: 20, maxDelayMs: 2000 },
    // Tests send several reports of one group; those about flood control set their own (the
    // default is 3 a minute).
    floodControl: { maxPerGroup: 10 },
    onDiagnostic: (d) => diagnostics.push(d),
    ...overrides,
  };
}

export const SDK_DIST = path.resolve(__dirname, '../../dist');

/** A minimal valid schema 1 report, as a queue stores it. */
export function makeReport(description = 'd'): Report {
  return {
    schema: 1,
    id: randomUUID(),
    occurredAt: new Date().toISOString(),
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    error: { number: 91, description, module: 'm', procedure: 'p', line: 1 },
  };
}
