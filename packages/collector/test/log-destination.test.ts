import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { FdLines } from '../src/log-destination';
import { makeTempDir } from '../../../test-support/collector';

/** A FIFO opened at both ends; the test closes the reader to play `serve 2>&1 | head`. */
function fifo(): { reader: number; writer: number } {
  const file = path.join(makeTempDir(), 'log.fifo');
  expect(spawnSync('mkfifo', [file]).status).toBe(0);
  const reader = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writer = fs.openSync(file, fs.constants.O_WRONLY);
  return { reader, writer };
}

function flushed(d: FdLines): Promise<void> {
  return new Promise((resolve) => d.flush(() => resolve()));
}

describe('FdLines (the log destination)', () => {
  it('writes every line, in order, and flush calls back once they are out', async () => {
    const file = path.join(makeTempDir(), 'log');
    const fd = fs.openSync(file, 'w');
    const d = new FdLines(fd);
    for (let i = 0; i < 1000; i++) d.write(`{"n":${i}}\n`);
    await flushed(d);
    fs.closeSync(fd);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { n: number }).n)).toEqual(
      Array.from({ length: 1000 }, (_, i) => i),
    );
    expect(d.dropped).toBe(0);
  });

  it('gives up quietly when the reader has gone: no throw, flush still calls back', async () => {
    const { reader, writer } = fifo();
    const d = new FdLines(writer);
    d.write('{"before":1}\n');
    await flushed(d);
    const buf = Buffer.alloc(64);
    const n = fs.readSync(reader, buf);
    expect(buf.subarray(0, n).toString()).toBe('{"before":1}\n');
    fs.closeSync(reader);
    for (let i = 0; i < 5; i++) d.write(`{"after":${i}}\n`);
    await flushed(d);
    // The first write met EPIPE; every line since is dropped without a write.
    expect(d.dropped).toBe(5);
    d.write('{"later":1}\n');
    await flushed(d);
    expect(d.dropped).toBe(6);
    fs.closeSync(writer);
  });

  it('flushSync (at exit) writes what waits behind a write in flight, each line once', async () => {
    const file = path.join(makeTempDir(), 'log');
    const fd = fs.openSync(file, 'w');
    const d = new FdLines(fd);
    d.write('{"a":1}\n'); // in flight
    d.write('{"b":2}\n'); // waiting
    d.flushSync();
    await flushed(d);
    fs.closeSync(fd);
    expect(fs.readFileSync(file, 'utf8').trim().split('\n').sort()).toEqual(['{"a":1}', '{"b":2}']);
  });
});
