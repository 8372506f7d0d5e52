/**
 * A keyring that only reads (the read thread's, store/triage-worker.ts) shares the keys folder
 * with the serving collector's, which makes each day's key. When another process shreds a day's
 * key (`jcs-collector expire --now`) and the serving collector then makes the day a new one,
 * the reader must use the new key, not the old one it had in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createKeys, dayKeyFingerprint, KeyringError, loadKeyring } from '../src/crypto/keyring';
import { shredFileSync, writeFileAtomic } from '../src/crypto/files';
import { isStorageFailure } from '../src/ingest/unavailable';
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

describe('a keys folder that changes under a running collector', () => {
  it('moved away: no day key is made (nor the folder anew), and the failure is a storage one', () => {
    const { dir, serving } = twoKeyrings();
    serving.dayKey(DAY, true);
    fs.renameSync(dir, `${dir}.away`);
    let thrown: unknown;
    try {
      serving.dayKey('2026-11-02', true);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(KeyringError);
    expect((thrown as Error).message).toMatch(/keys folder .* is gone while the collector runs/);
    // answered 503 with its message logged, not 500 as a bug
    expect(isStorageFailure(thrown)).toBe(true);
    expect(fs.existsSync(dir)).toBe(false);
    // a read of a day not yet seen says the same, rather than "no key: gone"
    expect(() => serving.dayKey('2026-11-03')).toThrow(/is gone while/);
  });

  it('its days/ moved away: the same, not a days/ made anew with a second key for the day', async () => {
    const { dir, serving } = twoKeyrings();
    serving.dayKey(DAY, true);
    const days = path.join(dir, 'days');
    fs.renameSync(days, `${days}.away`);
    await nextTurn(); // a day's key file is looked for once a turn
    // neither a new key for the day (its reports so far would read as gone) nor for another
    expect(() => serving.dayKey(DAY, true)).toThrow(/days is gone while the collector runs/);
    expect(() => serving.dayKey('2026-11-02', true)).toThrow(/is gone while/);
    expect(() => serving.dayKey('2026-11-03')).toThrow(/is gone while/);
    expect(fs.existsSync(days)).toBe(false);
    // put back, it serves again without a restart
    fs.renameSync(`${days}.away`, days);
    expect(serving.dayKey(DAY)).not.toBeNull();
  });

  it('a keys folder restored without days/ makes it anew for the next report (a restore, not a move)', async () => {
    const dir = path.join(makeTempDir(), 'keys');
    createKeys(dir, {});
    fs.rmSync(path.join(dir, 'days'), { recursive: true });
    const serving = loadKeyring(dir, {});
    const reader = loadKeyring(dir, {});
    expect(serving.dayKey(DAY)).toBeNull();
    expect(serving.dayKey(DAY, true)).not.toBeNull();
    expect(fs.existsSync(path.join(dir, 'days', `${DAY}.key`))).toBe(true);
    // The read thread's keyring, loaded before days/ was made, sees it once it reads a key...
    expect(reader.dayKey(DAY)).not.toBeNull();
    // ...so days/ moved away after that is the storage failing for it too, not the day gone.
    fs.renameSync(path.join(dir, 'days'), path.join(dir, 'days.away'));
    await nextTurn();
    expect(() => reader.dayKey(DAY)).toThrow(/days is gone while/);
  });

  it("a damaged day key is a storage failure naming the file, not the day's reports gone", async () => {
    const { dir, serving, reader } = twoKeyrings();
    serving.dayKey(DAY, true);
    await nextTurn();
    fs.writeFileSync(path.join(dir, 'days', `${DAY}.key`), 'AAAA');
    let thrown: unknown;
    try {
      reader.dayKey(DAY);
    } catch (e) {
      thrown = e;
    }
    expect((thrown as Error).message).toMatch(/day key .*2026-11-01\.key does not open/);
    expect(isStorageFailure(thrown)).toBe(true);
    // and the next start names it
    expect(() => loadKeyring(dir, {})).toThrow(/day key .*2026-11-01\.key does not open/);
  });

  it('an exclusive write leaves a file that appeared first, and says so', () => {
    const file = path.join(makeTempDir(), 'k.json');
    expect(writeFileAtomic(file, 'first', 0o600, { exclusive: true })).toBe(true);
    expect(writeFileAtomic(file, 'second', 0o600, { exclusive: true })).toBe(false);
    expect(fs.readFileSync(file, 'utf8')).toBe('first');
    // no temp file left behind
    expect(fs.readdirSync(path.dirname(file))).toEqual(['k.json']);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('on a file system without hard links (the one thing mocked: none such here), still works', () => {
    const file = path.join(makeTempDir(), 'k.json');
    const noLinks = jest.spyOn(fs, 'linkSync').mockImplementation(() => {
      throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
    });
    try {
      expect(writeFileAtomic(file, 'first', 0o600, { exclusive: true })).toBe(true);
      expect(writeFileAtomic(file, 'second', 0o600, { exclusive: true })).toBe(false);
      expect(fs.readFileSync(file, 'utf8')).toBe('first');
      expect(fs.readdirSync(path.dirname(file))).toEqual(['k.json']);
    } finally {
      noLinks.mockRestore();
    }
  });
});

/** The next fsync fails (EIO), as a dying disk fails it; a real one cannot be had here. */
function failNextFsync(): void {
  jest.spyOn(fs, 'fsyncSync').mockImplementationOnce(() => {
    throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
  });
}

describe("a day's key shredded", () => {
  afterEach(() => jest.restoreAllMocks());

  it('is gone, and its fingerprint with it; a chmod leaves the fingerprint as it was', async () => {
    const { dir, serving } = twoKeyrings();
    serving.dayKey(DAY, true);
    const print = dayKeyFingerprint(dir, DAY);
    expect(print).toBe(serving.sealedUnder(DAY));
    fs.chmodSync(path.join(dir, 'days', `${DAY}.key`), 0o400);
    expect(dayKeyFingerprint(dir, DAY)).toBe(print);
    serving.destroyDayKeySync(DAY);
    expect(fs.existsSync(path.join(dir, 'days', `${DAY}.key`))).toBe(false);
    expect(dayKeyFingerprint(dir, DAY)).toBeNull();
    // the day's next key is another
    await nextTurn();
    serving.dayKey(DAY, true);
    expect(serving.sealedUnder(DAY)).not.toBe(print);
  });

  it('whose overwrite fails leaves no file of noise where the key was (the keyring would refuse it)', () => {
    const { dir, serving } = twoKeyrings();
    serving.dayKey(DAY, true);
    const file = path.join(dir, 'days', `${DAY}.key`);
    failNextFsync();
    // out of use at once; its bytes wait for the next expiry run
    expect(shredFileSync(file)).toBe(false);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readdirSync(path.join(dir, 'days'))).toEqual([
      expect.stringMatching(new RegExp(`^\\.${DAY}\\.key\\.[0-9a-f]+\\.shred$`)),
    ]);
    // a keyring opens the folder as before, without that day's key
    const next = loadKeyring(dir, {});
    expect(next.dayKey(DAY)).toBeNull();
    expect(next.finishShredding()).toEqual({ finished: 1, failed: [] });
    expect(fs.readdirSync(path.join(dir, 'days'))).toEqual([]);
  });
});

describe('shreddings left half done, finished by the next run', () => {
  afterEach(() => jest.restoreAllMocks());
  const leftover = (dir: string, name = `.${DAY}.key.0a1b2c.shred`) => path.join(dir, 'days', name);

  it('a second shredding of the day never renames over the first one’s leftover', async () => {
    const { dir, serving } = twoKeyrings();
    serving.dayKey(DAY, true);
    const file = path.join(dir, 'days', `${DAY}.key`);
    failNextFsync();
    expect(shredFileSync(file)).toBe(false);
    const [first] = fs.readdirSync(path.join(dir, 'days'));
    const firstBytes = fs.readFileSync(path.join(dir, 'days', first));
    jest.restoreAllMocks();
    await nextTurn();
    serving.dayKey(DAY, true); // the day's next key, shredded whole
    expect(shredFileSync(file)).toBe(true);
    // the first key's bytes still there to be overwritten, not freed under another's name
    expect(fs.readFileSync(path.join(dir, 'days', first))).toEqual(firstBytes);
    expect(serving.finishShredding()).toEqual({ finished: 1, failed: [] });
    expect(fs.readdirSync(path.join(dir, 'days'))).toEqual([]);
  });

  it('a link is removed without writing through it, a folder removed, a failure said and the rest done', () => {
    const { dir, serving } = twoKeyrings();
    const outside = path.join(makeTempDir(), 'not-a-key');
    fs.writeFileSync(outside, 'stays as it is');
    fs.symlinkSync(outside, leftover(dir, `.${DAY}.key.aa.shred`));
    fs.mkdirSync(leftover(dir, `.${DAY}.key.bb.shred`));
    fs.writeFileSync(leftover(dir, `.${DAY}.key.cc.shred`), 'a key out of use');
    fs.writeFileSync(leftover(dir, `.${DAY}.key.dd.shred`), 'a key out of use');
    fs.writeFileSync(path.join(dir, 'days', '.not-ours.shred'), 'left alone');
    const open = fs.openSync;
    jest.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
      if (String(file).endsWith('.cc.shred')) {
        throw Object.assign(new Error('EIO: i/o error, open'), { code: 'EIO' });
      }
      return (open as (...args: unknown[]) => number)(file, ...rest);
    }) as typeof fs.openSync);
    const done = serving.finishShredding();
    expect(done).toEqual({ finished: 3, failed: [`.${DAY}.key.cc.shred (EIO)`] });
    expect(fs.readFileSync(outside, 'utf8')).toBe('stays as it is');
    expect(fs.readdirSync(path.join(dir, 'days')).sort()).toEqual([
      `.${DAY}.key.cc.shred`,
      '.not-ours.shred',
    ]);
  });

  it('one another run finished meanwhile is done, not a failure', () => {
    const { dir, serving } = twoKeyrings();
    fs.writeFileSync(leftover(dir), 'a key out of use');
    const lstat = fs.lstatSync;
    jest.spyOn(fs, 'lstatSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
      const st = (lstat as (...args: unknown[]) => fs.Stats)(file, ...rest);
      if (String(file).endsWith('.shred')) fs.unlinkSync(file); // the other run, between two steps
      return st;
    }) as typeof fs.lstatSync);
    expect(serving.finishShredding()).toEqual({ finished: 1, failed: [] });
  });
});
