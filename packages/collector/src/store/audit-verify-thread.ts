import { fromThreadError, type ThreadError } from './thread-error';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Collector } from '../collector';
import type { Verification } from './audit-chain';

/** What the worker is started with. */
export interface AuditVerifyData {
  file: string;
  key: Uint8Array;
  keysDir: string;
}

/** Compiled JavaScript from dist/, under Jest too (as for the writer thread). */
const WORKER_FILE = path.join(__dirname, '..', '..', 'dist', 'store', 'audit-verify-worker.js');

/**
 * Checks the access log's chain (`AuditLog.verify`) on a thread with a connection of its own,
 * for `GET /v1/audit/verify`: the walk recomputes an HMAC per entry, some five seconds at a
 * million entries, and on the event loop every request, reports included, waited for it. Where
 * the worker is not built, the walk runs here.
 *
 * @example
 * const v = await verifyOffThread(c); // { ok: true, entries: 120 }
 */
export function verifyOffThread(c: Collector): Promise<Verification> {
  if (!fs.existsSync(WORKER_FILE)) return Promise.resolve(c.audit.verify());
  return new Promise<Verification>((resolve, reject) => {
    const workerData: AuditVerifyData = {
      file: c.db.name,
      key: c.keyring.auditKey,
      keysDir: c.keyring.dir,
    };
    const worker = new Worker(WORKER_FILE, { workerData });
    let settled = false;
    worker.once('message', (m: { result?: Verification; error?: ThreadError }) => {
      settled = true;
      if (m.result) resolve(m.result);
      // A storage error keeps its code, so that it answers 503 as on the event loop.
      else reject(fromThreadError(m.error ?? { message: 'the access log check failed' }));
    });
    worker.once('error', (e) => {
      settled = true;
      reject(e);
    });
    worker.once('exit', () => {
      if (!settled) reject(new Error('the access log check stopped before it finished'));
    });
  });
}
