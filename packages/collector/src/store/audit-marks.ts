import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../crypto/files';

/** A point in the access log's chain: an entry's sequence number and MAC. */
export interface ChainMark {
  seq: number;
  hash: string;
}

/** Before the first entry: what entry 1 chains from. */
export const ORIGIN: ChainMark = Object.freeze({ seq: 0, hash: '' });

/**
 * The two marks kept in the keys folder, out of reach of anyone who can only write the database:
 * the newest entry written (so cutting off the tail shows) and the last entry pruned (so deleting
 * the oldest entries cannot pass for a pruning).
 */
export function markFiles(keysDir: string): { head: string; anchor: string } {
  return {
    head: path.join(keysDir, 'audit-head.json'),
    anchor: path.join(keysDir, 'audit-anchor.json'),
  };
}

/**
 * Reads a mark file; null when there is none or it does not hold a mark.
 *
 * @example
 * readMark(markFiles(keyring.dir).head); // { seq: 1042, hash: '9f2c...' }
 */
export function readMark(file: string): ChainMark | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return parseMark(text);
}

/** Writes a mark so that after a crash the file holds the old mark or the new, never a mix. */
export function writeMark(file: string, mark: ChainMark): void {
  writeFileAtomic(file, markText(mark));
}

/**
 * Writes a mark as `writeMark` does (temporary file synced, renamed, folder synced), with the
 * syncs off the event loop. The rename runs on the event loop and only when `wanted()` still says
 * so at that moment, so a mark written meanwhile by another writer (`writeMark` at close, another
 * process) is never replaced by an older one. Resolves true when the mark was put in place.
 *
 * @example
 * await writeMarkInBackground(head, { seq: 12, hash }, () => (readMark(head)?.seq ?? 0) < 12);
 */
export async function writeMarkInBackground(
  file: string,
  mark: ChainMark,
  wanted: () => boolean,
): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await fs.promises.open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(markText(mark));
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (!wanted()) {
      fs.rmSync(tmp, { force: true });
      return false;
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return true;
}

function markText(mark: ChainMark): string {
  return JSON.stringify({ seq: mark.seq, hash: mark.hash }) + '\n';
}

/** A mark from its JSON text (a file or the meta table); null for anything else. */
export function parseMark(text: string | undefined): ChainMark | null {
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as Partial<ChainMark>;
    if (Number.isSafeInteger(v.seq) && v.seq! >= 0 && typeof v.hash === 'string') {
      return { seq: v.seq!, hash: v.hash };
    }
  } catch {
    // not a mark
  }
  return null;
}
