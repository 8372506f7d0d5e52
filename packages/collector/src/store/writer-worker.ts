import { toThreadError } from './thread-error';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { dataPaths } from '../paths';
import { openDatabase } from './db';
import { IngestWriter } from './ingest-writer';
import { unpackBatch } from './batch-wire';
import { WalSync } from './wal-sync';
import { Inbox, inboxFile } from './inbox';
import { InboxWriter } from './inbox-writer';
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
 * last one syncs. While the expiry job deletes, batches go to the inbox instead
 * (store/inbox-writer.ts).
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
  let inbox: Inbox;
  let inboxWriter: InboxWriter;
  const wal = new WalSync(`${data.file}-wal`);
  try {
    db = openDatabase(data.file);
    if (data.backgroundCheckpoint) db.pragma('wal_autocheckpoint = 0');
    const keysDir = dataPaths(path.dirname(data.file)).keys;
    writer = new IngestWriter(db, keysDir);
    writer.warmUp();
    inbox = new Inbox(inboxFile(data.file));
    inboxWriter = new InboxWriter(writer, inbox, wal, keysDir);
    new Int32Array(data.state)[2] = inboxWriter.recover();
  } catch (e) {
    // Why, for the constructor waiting on the other thread to throw: JSON, with the code.
    // Cut only as far as the room needs: the remedy is often at the end of a long path.
    const { message, code } = toThreadError(e);
    let kept = message;
    let why = Buffer.from(JSON.stringify({ message: kept, code }), 'utf8');
    while (why.length > START_ERROR_BYTES) {
      kept = kept.slice(0, -64);
      why = Buffer.from(JSON.stringify({ message: `${kept}…`, code }), 'utf8');
    }
    new Uint8Array(data.state, 12).set(why);
    state[1] = why.length;
    signal(2);
    return;
  }
  signal(1);
  const reply = (m: WorkerReply) => port.postMessage(m);
  port.on('message', (m: WorkerRequest) => {
    if (m.type === 'close') {
      try {
        inboxWriter.cleanUp();
      } catch {
        // Emptied at the next start instead.
      }
      inboxWriter.close();
      wal.close();
      inbox.close();
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
    if (m.type === 'inbox') {
      if (m.on) {
        inboxWriter.start();
        return reply({ control: m.id, value: 0 });
      }
      inboxWriter.stop().then(
        (upTo) => reply({ control: m.id, value: upTo }),
        (e: unknown) => reply({ control: m.id, error: toThreadError(e) }),
      );
      return;
    }
    if (m.type === 'fold') {
      try {
        return reply({ control: m.id, value: inboxWriter.fold() });
      } catch (e) {
        return reply({ control: m.id, error: toThreadError(e) });
      }
    }
    let results;
    let durable: () => Promise<void>;
    try {
      if (inboxWriter.active) {
        const stored = inboxWriter.write(m.batch);
        results = stored.results;
        durable = () => inboxWriter.durable();
        reply({ id: m.id, results, inbox: stored.seq });
      } else {
        // Batches a failed stop() left in the inbox go first, so they are read before these.
        if (inboxWriter.waiting) inboxWriter.fold();
        results = writer.write(unpackBatch(m.batch), false);
        durable = () => writer.durable(wal);
        reply({ id: m.id, results });
      }
    } catch (e) {
      reply({ id: m.id, error: toThreadError(e) });
      return;
    }
    durable().then(
      () => reply({ id: m.id, synced: true }),
      (e: unknown) => reply({ id: m.id, syncError: toThreadError(e) }),
    );
  });
}

main();
