import { toThreadError } from './thread-error';
import { parentPort, workerData } from 'node:worker_threads';
import { ApiError } from '@jcs/protocol';
import { openDatabase } from './db';
import { loadKeyring } from '../crypto/keyring';
import { ReportReader } from './report-reader';
import { GroupStore } from './groups';
import { DAY_MS } from '../time';
import { runTriage, type TriageStores } from './triage';
import type { TriageReply, TriageRequest, TriageWorkerData } from './triage-thread';

/**
 * Answers engineers' and admins' reads on a connection of its own (store/triage-thread.ts starts
 * it), one at a time, each in a read transaction: one consistent snapshot, as on the event loop.
 */
function main(): void {
  const data = workerData as TriageWorkerData;
  const db = openDatabase(data.file, { readonly: true });
  const keyring = loadKeyring(data.keysDir, data.env);
  // The caller's clock, per read: ages are judged as the API judges them (tests move it).
  let now = 0;
  // Started at the first read, maybe after sealed/ was moved away: whether it was there is the
  // collector's to say, as it opened.
  const reports = new ReportReader(
    db,
    keyring,
    () => now,
    data.retentionDays * DAY_MS,
    data.sealedSeen,
  );
  const stores: TriageStores = {
    db,
    keyring,
    retentionDays: data.retentionDays,
    groups: new GroupStore(db, reports),
    reports,
  };
  const port = parentPort!;
  port.on('message', (m: TriageRequest | 'close') => {
    if (m === 'close') {
      reports.close();
      db.close();
      port.close();
      return;
    }
    now = m.now;
    let reply: TriageReply;
    try {
      const result = db.transaction(() => runTriage(stores, m.read, now)).deferred();
      reply = { id: m.id, result };
    } catch (e) {
      reply = { id: m.id, error: asReplyError(e) };
    } finally {
      // Day files the expiry job removes must not stay open here (their space is kept while a
      // descriptor is open); the next read opens what it needs.
      reports.close();
    }
    port.postMessage(reply);
  });
}

function asReplyError(e: unknown): TriageReply['error'] {
  if (e instanceof ApiError) return { apiCode: e.code, message: e.message, details: e.details };
  return toThreadError(e);
}

main();
