import fs from 'node:fs';
import type { Db } from './db';
import { dayFile, listDayFiles, sealedDir, SealedAppender } from './sealed-files';
import { encodeRecord } from './sealed-record';

interface OldRow {
  seq: number;
  id: string;
  key_day: string;
  username: Buffer | null;
  description: Buffer;
  code: Buffer | null;
  dump: Buffer | null;
}

const PAGE = 5_000;

/**
 * Schema migration 3: moves the sealed fields of reports stored in the table into the day files
 * (bytes as they are: no key is needed), inside the migration's transaction. Files left by an
 * attempt that did not commit are removed first: before this migration no day file is in use.
 */
export function moveSealedFields(db: Db): void {
  const dir = sealedDir(db.name);
  for (const day of listDayFiles(dir)) fs.unlinkSync(dayFile(dir, day));
  const page = db.prepare<[number], OldRow>(
    `SELECT seq, id, key_day, username, description, code, dump FROM reports
     WHERE seq > ? ORDER BY seq LIMIT ${PAGE}`,
  );
  const place = db.prepare<[number, number, number]>(
    'UPDATE reports SET sealed_at = ?, sealed_len = ? WHERE seq = ?',
  );
  const files = new SealedAppender(db, dir);
  try {
    for (let last = 0; ;) {
      const rows = page.all(last);
      if (rows.length === 0) break;
      for (const r of rows) {
        const record = encodeRecord(r.id, r);
        place.run(files.add(r.key_day, record), record.length, r.seq);
      }
      files.flush(true);
      files.commit();
      last = rows[rows.length - 1].seq;
    }
  } finally {
    files.close();
  }
}
