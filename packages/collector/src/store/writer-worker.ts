import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './db';
import { IngestWriter } from './ingest-writer';
import { unpackBatch } from './batch-wire';
import { WalSync } from './wal-sync';
import {
  START_ERROR_BYTES,
  type WorkerReply,
  type WorkerRequest,
  type WriterWorkerData,
} from './writer-thread';

/**
 * The ingest writer's thread (store/writer-thread.ts starts it): a connection of its own that
 * commits each batch it is sent, says so at once, and says again when the WAL and the batch's
 * records are on disk. The syncs run in the thread pool, so the next batch is committed while the
 * last one syncs.
 */
function main(): void {
  const port = parentPort!;
  const data = workerData as WriterWorkerData;
  const state = new Int32Array(data.state);
  const signal = (value: number) => {
    Atomics.store(state, 0, value);
    Atomics.notify(state, 0);
  };
  let db: ReturnType<typeof openDatabase>;
  let writer: IngestWriter;
  try {
    db = openDatabase(data.file);
    if (data.backgroundCheckpoint) db.pragma('wal_autocheckpoint = 0');
    writer = new IngestWriter(db);
    writer.warmUp();
  } catch (e) {
    // Why, for the constructor waiting on the other thread to throw.
    const why = Buffer.from(errorOf(e).message, 'utf8').subarray(0, START_ERROR_BYTES);
    new Uint8Array(data.state, 8).set(why);
    state[1] = why.length;
    signal(2);
    return;
  }
  const wal = new WalSync(`${data.file}-wal`);
  signal(1);
  port.on('message', (m: WorkerRequest) => {
    if (m.type === 'close') {
      wal.close();
      writer.close();
      db.close();
      signal(3);
      port.close();
      return;
    }
    if (m.type === 'autocheckpoint') {
      db.pragma(`wal_autocheckpoint = ${m.pages}`);
      return;
    }
    let results;
    try {
      results = writer.write(unpackBatch(m.batch), false);
    } catch (e) {
      port.postMessage({ id: m.id, error: errorOf(e) } satisfies WorkerReply);
      return;
    }
    port.postMessage({ id: m.id, results } satisfies WorkerReply);
    writer.durable(wal).then(
      () => port.postMessage({ id: m.id, synced: true } satisfies WorkerReply),
      (e: unknown) => port.postMessage({ id: m.id, syncError: errorOf(e) } satisfies WorkerReply),
    );
  });
}

function errorOf(e: unknown): { message: string; code?: string } {
  const err = e as { message?: string; code?: string };
  return { message: String(err?.message ?? e), code: err?.code };
}

main();
