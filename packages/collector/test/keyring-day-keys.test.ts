/**
 * A keyring that only reads (the read thread's, store/triage-worker.ts) shares the keys folder
 * with the serving collector's, which makes each day's key. When another process shreds a day's
 * key (`jcs-collector expire --now`) and the serving collector then makes the day a new one,
 * the reader must use the new key, not the old one it had in memory.
 */
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createKeys, loadKeyring } from '../src/crypto/keyring';
import { makeTempDir } from '../../../test-support/collector';

const DAY = '2026-11-01';

/** A new keys folder, the serving collector's keyring over it, and the read thread's. */
function twoKeyrings() {
  const dir = path.join(makeTempDir(), 'keys');
  createKeys(dir, {});
  return { dir, serving: loadKeyring(dir, {}), reader: loadKeyring(dir, {}) };
}

describe("a day's key, seen by two keyrings over one keys folder", () => {
  it('a reader picks up the key the day was given after its old one was shredded', async () => {
    const { dir, serving, reader } = twoKeyrings();
    const first = Buffer.from(serving.dayKey(DAY, true)!);
    expect(Buffer.from(reader.dayKey(DAY)!)).toEqual(first);

    await nextTurn();
    await loadKeyring(dir, {}).destroyDayKey(DAY); // another process: expire --now
    await nextTurn();
    const second = Buffer.from(serving.dayKey(DAY, true)!);
    expect(second).not.toEqual(first);

    await nextTurn();
    expect(Buffer.from(reader.dayKey(DAY)!)).toEqual(second);
  });

  it('a reader gets no key once the day is shredded, and keeps its key while the file stays', async () => {
    const { serving, reader } = twoKeyrings();
    const key = Buffer.from(serving.dayKey(DAY, true)!);
    expect(Buffer.from(reader.dayKey(DAY)!)).toEqual(key);
    await nextTurn();
    expect(Buffer.from(reader.dayKey(DAY)!)).toEqual(key);

    await serving.destroyDayKey(DAY);
    await nextTurn();
    expect(reader.dayKey(DAY)).toBeNull();
  });
});
