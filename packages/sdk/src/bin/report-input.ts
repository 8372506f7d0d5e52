import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { UsageError } from './report-args';
import { say } from './report-stderr';

/**
 * The most a config or data file, or stdin, may hold: well past any dump worth cutting to 256
 * KiB, and short of what would cost a desktop machine a gigabyte of memory to parse.
 */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** How long a data file that is a pipe may take to arrive in full. */
const PIPE_WAIT_MS = 10_000;

/**
 * A JSON file of the host's (the config, the data file), in whatever encoding Windows wrote it.
 * Read within MAX_INPUT_BYTES and, for a pipe, `pipeWaitMs`: `/dev/zero` or a pipe nobody
 * writes to would otherwise hold the caller, and its memory, for ever.
 *
 * @example
 * readJsonFile('C:\\ProgramData\\JCS\\jcs-report.json', 'config file'); // { endpoint: ... }
 */
export function readJsonFile(file: string, what: string, pipeWaitMs = PIPE_WAIT_MS): unknown {
  let bytes: Buffer;
  try {
    bytes = readFileWithin(file, MAX_INPUT_BYTES, pipeWaitMs);
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`the ${what} ${file} ${e.message}`);
    throw new UsageError(`cannot read the ${what} ${file}`);
  }
  const { text, guessed } = decodeText(bytes);
  if (guessed) {
    say(
      `the ${what} ${file} is not UTF-8: read as Windows-1252 (ANSI); write it as UTF-8 so that every character arrives as it was`,
    );
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw new UsageError(`the ${what} ${file} is not valid JSON`);
  }
}

/**
 * A file's text as a Windows host writes it: UTF-8 (with or without a BOM), UTF-16 with its BOM
 * (FileSystemObject's Unicode files, .NET's Encoding.Unicode), else the ANSI code page of
 * Western Windows (VB6's `Print #`), which is `guessed`.
 */
export function decodeText(bytes: Buffer): { text: string; guessed?: true } {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    return { text: new TextDecoder('utf-16le').decode(bytes.subarray(2)) };
  }
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    return { text: new TextDecoder('utf-16be').decode(bytes.subarray(2)) };
  }
  if (isUtf8(bytes)) return { text: bytes.toString('utf8') };
  return { text: decodeWindows1252(bytes), guessed: true };
}

/**
 * Windows-1252 in time and memory in proportion to the bytes: Node's TextDecoder('windows-1252')
 * reads 0x80-0x9F as Latin-1's control characters, and a string built a character at a time took
 * 42 s and 3.9 GB for 63 MiB. Without those bytes the text is Latin-1 as it stands; with them, each
 * byte's UTF-16 code unit is written (low byte first, whatever the machine) and read as UTF-16LE.
 */
function decodeWindows1252(bytes: Buffer): string {
  const latin1 = bytes.toString('latin1');
  if (!/[\x80-\x9f]/.test(latin1)) return latin1;
  const units = Buffer.allocUnsafe(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) {
    const unit = CP1252[bytes[i]];
    units[2 * i] = unit & 0xff;
    units[2 * i + 1] = unit >> 8;
  }
  return units.toString('utf16le');
}

/**
 * Windows-1252's 0x80-0x9F (€, ‚, ƒ, „, …); the rest of the code page is Latin-1. Its undefined
 * bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) stay as they are, as Latin-1's control characters.
 */
const CP1252_80_9F = [
  0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039,
  0x0152, 0x8d, 0x017d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc,
  0x2122, 0x0161, 0x203a, 0x0153, 0x9d, 0x017e, 0x0178,
];

/** Each byte's code unit in Windows-1252. */
const CP1252 = Uint16Array.from({ length: 256 }, (_, byte) =>
  byte >= 0x80 && byte < 0xa0 ? CP1252_80_9F[byte - 0x80] : byte,
);

/**
 * A file's bytes, at most `maxBytes` of them. Opened without waiting, as a FIFO with no writer
 * would block the open; a pipe that has nothing yet is waited on up to `waitMs`. A FIFO no one has
 * opened to write reads as ended, so it is taken as ended only once a writer has come (a host
 * that starts jcs-report, then writes the FIFO): before that it is waited on too, and held open,
 * without which the host's open to write would block for good. Throws a UsageError (its message
 * to follow the file's name) when there is more, or it takes longer; other errors as fs throws
 * them.
 */
function readFileWithin(file: string, maxBytes: number, waitMs: number): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  try {
    const stat = fs.fstatSync(fd);
    if (stat.size > maxBytes) throw tooLarge(maxBytes);
    const deadline = Date.now() + waitMs;
    // A FIFO's writer has come once a read finds it open with nothing yet (EAGAIN) or finds data.
    let writerCame = !stat.isFIFO();
    const wait = () => {
      if (Date.now() > deadline) {
        throw new UsageError(
          writerCame
            ? `did not arrive in full within ${waitMs / 1000} s`
            : `had nothing written to it within ${waitMs / 1000} s`,
        );
      }
      // Nothing to read yet: wait a little without spinning.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    };
    const whenEmpty = () => {
      writerCame = true;
      wait();
    };
    const endsEmpty = () => {
      if (writerCame) return true;
      wait();
      return false;
    };
    return readUpTo(fd, maxBytes, whenEmpty, endsEmpty);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The bytes of `fd` to its end; `whenEmpty` runs each time a non-blocking read finds none yet,
 * and `endsEmpty`, when the end comes before any byte, says whether it is the end (else it is
 * read again).
 */
function readUpTo(
  fd: number,
  maxBytes: number,
  whenEmpty: () => void,
  endsEmpty: () => boolean = () => true,
): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(1024 * 1024, maxBytes + 1 - total));
    let n: number;
    try {
      n = fs.readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      whenEmpty();
      continue;
    }
    if (n === 0) {
      if (total > 0 || endsEmpty()) return Buffer.concat(chunks, total);
      continue;
    }
    chunks.push(chunk.subarray(0, n));
    total += n;
    if (total > maxBytes) throw tooLarge(maxBytes);
  }
}

function tooLarge(maxBytes: number): UsageError {
  return new UsageError(`is over ${maxBytes / 1024 / 1024} MiB`);
}

/**
 * The JSON object on stdin; {} when there is none. Stdin is read to its end however long that
 * takes (the host decides when to close it), but not past MAX_INPUT_BYTES.
 */
export function readStdinJson(): Record<string, unknown> {
  let bytes: Buffer;
  try {
    bytes = readUpTo(0, MAX_INPUT_BYTES, () => {
      throw new Error('stdin would wait');
    });
  } catch (e) {
    if (e instanceof UsageError) {
      throw new UsageError(`stdin ${e.message}: a report is far smaller, so cut its data`);
    }
    return {};
  }
  // Decoded as the files are: a .NET host may write UTF-16 (Encoding.Unicode, with its BOM) or
  // its console's code page instead of UTF-8.
  const { text, guessed } = decodeText(bytes);
  if (guessed) {
    say(
      'stdin is not UTF-8 or UTF-16: read as Windows-1252 (ANSI); write it as UTF-8 so that every character arrives as it was',
    );
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw new UsageError('stdin is not a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError('stdin is not a JSON object');
  }
  return parsed as Record<string, unknown>;
}
