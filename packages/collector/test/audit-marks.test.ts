import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  dropMarkWritesInFlight,
  sweepStaleMarkTemps,
  writeMarkInBackground,
} from '../src/store/audit-marks';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(process.env.JCS_TEST_TMP ?? os.tmpdir(), 'marks-'));
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

const temps = () => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

describe("the access log's mark files", () => {
  test('a background write under way leaves no temporary file once a closing collector drops it', async () => {
    const file = path.join(dir, 'audit-head.json');
    // Hold the write between creating its temporary file and syncing it, as a process that
    // exits then would.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const open = fs.promises.open.bind(fs.promises);
    jest.spyOn(fs.promises, 'open').mockImplementation(async (...args) => {
      const handle = await open(...(args as Parameters<typeof open>));
      if (String(args[0]).endsWith('.tmp')) {
        const sync = handle.sync.bind(handle);
        handle.sync = async () => {
          await gate;
          return sync();
        };
      }
      return handle;
    });
    const writing = writeMarkInBackground(file, { seq: 1, hash: 'ab' }, () => false);
    while (temps().length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    dropMarkWritesInFlight(path.join(dir, 'audit-anchor.json')); // another file's: kept
    expect(temps()).toHaveLength(1);
    dropMarkWritesInFlight(file);
    expect(temps()).toEqual([]);
    release();
    await expect(writing).resolves.toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('temporary files of processes no longer running are swept; a running one keeps its own', () => {
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    const names = [
      `audit-head.json.${gone}.0123abcd.tmp`,
      `audit-anchor.json.${gone}.89abcdef.tmp`,
      `audit-head.json.${process.pid}.0123abcd.tmp`,
      'audit-head.json',
      `user-hmac.key.${gone}.0123abcd.tmp`, // not a mark's: not swept
    ];
    const old = new Date(Date.now() - 120_000);
    for (const name of names) {
      fs.writeFileSync(path.join(dir, name), '{}');
      fs.utimesSync(path.join(dir, name), old, old);
    }
    // a dead process's file written within the minute: perhaps a live one in another pid namespace
    const recent = `audit-head.json.${gone}.fedcba98.tmp`;
    fs.writeFileSync(path.join(dir, recent), '{}');
    sweepStaleMarkTemps(dir);
    expect(fs.readdirSync(dir).sort()).toEqual([...names.slice(2), recent].sort());
  });
});
