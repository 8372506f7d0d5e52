import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { UsageError } from '../src/bin/report-args';
import { decodeText, readJsonFile } from '../src/bin/report-input';
import { cleanupTempDirs, tempDir } from './helpers/fixtures';

/**
 * Windows-1252's 0x80-0x9F as Microsoft's table gives them (unicode.org's CP1252.TXT), written
 * out here rather than taken from the code under test. Its five undefined bytes (0x81, 0x8D,
 * 0x8F, 0x90, 0x9D) read as the C1 control of the same value, as they always have; the rest of
 * the code page is Latin-1, each byte the code point of its value.
 */
const CP1252_80_9F =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';
const expected = (byte: number) =>
  byte >= 0x80 && byte < 0xa0 ? CP1252_80_9F[byte - 0x80] : String.fromCharCode(byte);

describe('decodeText', () => {
  it('reads each of the 256 byte values of text that is not UTF-8 as Windows-1252', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, byte) => byte));
    const text = Array.from({ length: 256 }, (_, byte) => expected(byte)).join('');
    expect(decodeText(all)).toEqual({ text, guessed: true });
    // Each byte alone between two letters (not UTF-8 for any byte from 0x80 up).
    for (let byte = 0x80; byte < 0x100; byte++) {
      expect(decodeText(Buffer.from([0x41, byte, 0x42]))).toEqual({
        text: `A${expected(byte)}B`,
        guessed: true,
      });
    }
    // Text with none of 0x80-0x9F (Latin-1 as it stands) too.
    expect(decodeText(all.subarray(0xa0))).toEqual({ text: text.slice(0xa0), guessed: true });
  });

  it('reads UTF-8 and UTF-16 with its BOM as they are, not as Windows-1252', () => {
    const text = 'M\u00fcller \u20ac 100';
    expect(decodeText(Buffer.from(text))).toEqual({ text });
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    expect(decodeText(le)).toEqual({ text });
    const be = Buffer.from(le).swap16();
    expect(decodeText(be)).toEqual({ text });
  });
});

describe('readJsonFile', () => {
  afterAll(cleanupTempDirs);

  /**
   * A FIFO, and a process that opens it to write after `afterMs` and writes `text` or, for null,
   * holds it open a moment and writes nothing. Bounded: a writer left blocked opening a FIFO no
   * one reads any more exits 124 rather than holding the test run.
   */
  function fifoWrittenLater(afterMs: number, text: string | null) {
    const fifo = path.join(tempDir(), 'data.json');
    execFileSync('mkfifo', [fifo]);
    const script =
      text === null
        ? 'sleep "$1"; exec 3>"$0"; sleep 0.3; exec 3>&-'
        : 'sleep "$1"; printf %s "$2" > "$0"';
    const args = [fifo, String(afterMs / 1000), text ?? ''];
    const writer = spawn('timeout', ['5', 'sh', '-c', script, ...args]);
    const exited = new Promise<number | null>((resolve) => writer.on('exit', resolve));
    return { fifo, writer, exited };
  }

  it('waits for the writer of a FIFO that opens it after the read began', async () => {
    const { fifo, writer, exited } = fifoWrittenLater(500, '{"client":"Jones"}');
    try {
      expect(readJsonFile(fifo, 'data file', 5000)).toEqual({ client: 'Jones' });
      // It was not left blocked opening a FIFO no one reads any more.
      expect(await exited).toBe(0);
    } finally {
      writer.kill();
    }
  });

  it('ends a FIFO whose writer came and went without writing, and one no writer opens in time', async () => {
    const { fifo, writer, exited } = fifoWrittenLater(300, null);
    try {
      // Ended when the writer closed it, not at the deadline (which would be said otherwise).
      expect(() => readJsonFile(fifo, 'data file', 5000)).toThrow(
        new UsageError(`the data file ${fifo} is not valid JSON`),
      );
      expect(await exited).toBe(0);
    } finally {
      writer.kill();
    }
    const nobody = path.join(tempDir(), 'data.json');
    execFileSync('mkfifo', [nobody]);
    expect(() => readJsonFile(nobody, 'data file', 300)).toThrow(
      new UsageError(`the data file ${nobody} had nothing written to it within 0.3 s`),
    );
  });
});
