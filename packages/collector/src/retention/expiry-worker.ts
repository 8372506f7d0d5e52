import { toThreadError } from '../store/thread-error';
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../store/db';
import { deleteDue, ExpiryAbortedError } from './deletions';
import type { ExpiryWorkerData, FromExpiryWorker, ToExpiryWorker } from './expiry-thread';

/**
 * The expiry job's deletions on a thread of their own (retention/expiry-thread.ts starts it),
 * with a connection of their own. Before each chunk it asks the owner for its turn and waits for
 * it; after each chunk it says so.
 */
async function main(): Promise<void> {
  const port = parentPort!;
  const data = workerData as ExpiryWorkerData;
  const send = (m: FromExpiryWorker) => port.postMessage(m);
  const abort = new AbortController();
  let go: (() => void) | undefined;
  port.on('message', (m: ToExpiryWorker) => {
    if (m.type === 'abort') abort.abort();
    const waiting = go;
    go = undefined;
    waiting?.();
  });
  let db: ReturnType<typeof openDatabase> | undefined;
  try {
    db = openDatabase(data.file);
    const deleted = await deleteDue(
      db,
      data.cutoff,
      {
        chunkSize: data.chunkSize,
        keepFrom: data.keepFrom,
        signal: abort.signal,
        pace: () =>
          new Promise<void>((resolve) => {
            go = resolve;
            send({ type: 'pace' });
          }),
        done: () => send({ type: 'chunk' }),
      },
      (name) => send({ type: 'phase', name }),
    );
    db.close();
    send({ type: 'done', deleted });
  } catch (e) {
    db?.close();
    const aborted = e instanceof ExpiryAbortedError;
    send({ type: 'error', ...toThreadError(e), aborted });
  }
  port.close();
}

void main();
