import { toThreadError } from './thread-error';
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './db';
import { verifyLog } from './audit';
import { markFiles } from './audit-marks';
import type { AuditVerifyData } from './audit-verify-thread';

/**
 * Walks the access log's chain on a connection of its own and posts the verification
 * (store/audit-verify-thread.ts starts it).
 */
function main(): void {
  const data = workerData as AuditVerifyData;
  let db: ReturnType<typeof openDatabase> | undefined;
  try {
    db = openDatabase(data.file);
    const result = verifyLog(db, data.key, markFiles(data.keysDir));
    parentPort!.postMessage({ result });
  } catch (e) {
    parentPort!.postMessage({ error: toThreadError(e) });
  } finally {
    db?.close();
  }
}

main();
