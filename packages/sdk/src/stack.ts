import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LIMITS } from '@jcs/protocol';
import { truncate } from './normalize';

/** One frame of a V8 stack trace. */
export interface StackFrame {
  /** The function as V8 names it, e.g. `Database.query`; empty when anonymous. */
  func: string;
  /** A path or URL. */
  file: string;
  line: number;
  column: number;
}

// `at func (file:line:col)` or `at file:line:col`
const FRAME = /^\s*at (?:(.+?) \()?(.+?):(\d+):(\d+)\)?\s*$/;

/** Parses V8's `Error.prototype.stack` text; lines it does not understand are skipped. */
export function parseStack(stack: string): StackFrame[] {
  const frames: StackFrame[] = [];
  // A stack cannot be parsed past a few hundred frames usefully; bound the work on huge ones.
  const lines = stack.slice(0, 64 * 1024).split('\n');
  for (const raw of lines) {
    const m = FRAME.exec(raw);
    if (!m) continue;
    const file = m[2];
    // eval frames name the eval site, not a file the engineer could open
    if (file.startsWith('eval at') || file === '<anonymous>' || file === 'native') continue;
    frames.push({ func: m[1] ?? '', file, line: Number(m[3]), column: Number(m[4]) });
  }
  return frames;
}

// Both src/ (under ts-jest) and dist/ hold the SDK; the bin lives under dist/bin.
const SDK_DIR = __dirname + path.sep;

function isSdkFrame(file: string): boolean {
  return file.startsWith(SDK_DIR) || file.startsWith(`file://${SDK_DIR}`);
}

function isRuntimeFrame(file: string): boolean {
  return file.startsWith('node:') || file.startsWith('internal/') || !/[/\\]/.test(file);
}

/**
 * The first frame that is the host's: not the SDK's own code nor Node's internals. Where every
 * frame seems the SDK's, the SDK was bundled with the host into one folder (webpack, esbuild,
 * an Electron app's main bundle): its folder is then the host's too, and the first frame that is
 * not Node's is the host's, since a thrown value's stack starts where the host threw it.
 */
export function firstHostFrame(frames: StackFrame[]): StackFrame | undefined {
  const own = frames.filter((f) => !isRuntimeFrame(f.file));
  return own.find((f) => !isSdkFrame(f.file)) ?? own[0];
}

/**
 * The stack of the host's call into `entry` (a public function of the SDK, still running), with
 * `entry` and every SDK frame above it left out by V8 itself: where a value thrown without a
 * stack was caught, found without telling the SDK's files from the host's.
 */
export function stackAbove(entry: (...args: never[]) => unknown): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, entry);
  return holder.stack ?? '';
}

/** `C:\app\dist\main.js` -> `main`; `file:///x/y/clients.mjs?v=2` -> `clients`. */
export function moduleName(file: string): string {
  const noQuery = file.replace(/[?#].*$/, '');
  const base = noQuery.split(/[/\\]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * Receiver types V8 puts before a function's name that say how it was called, not where it is
 * defined: the same `loadClient` is `Timeout.loadClient` when a timer runs it, `process.loadClient`
 * from process.nextTick, `Object.loadClient` as a method of a plain object. Dropped, so one
 * function is one procedure (and one group) however it was called.
 */
const RUNTIME_RECEIVERS = new Set([
  'Timeout',
  'Immediate',
  'TickObject',
  'process',
  'global',
  'globalThis',
  'Object',
  'Function',
  'Array',
  'Promise',
  'Map',
  'Set',
  'String',
  'Number',
  'Boolean',
  'Symbol',
  'Module',
  'EventEmitter',
  'ReadFileContext',
  'FSReqCallback',
  'FSReqPromise',
  'FSEvent',
  'FSWatcher',
  'StatWatcher',
  'Socket',
  'TLSSocket',
  'Server',
  'Agent',
  'IncomingMessage',
  'ServerResponse',
  'ClientRequest',
  'OutgoingMessage',
  'ReadStream',
  'WriteStream',
  'Readable',
  'Writable',
  'Duplex',
  'Transform',
  'PassThrough',
  'Interface',
  'ChildProcess',
  'Worker',
  'MessagePort',
  'AbortSignal',
  'EventTarget',
  'TCP',
  'Pipe',
  'TCPConnectWrap',
  'GetAddrInfoReqWrap',
  'WriteWrap',
  'ShutdownWrap',
  'AsyncResource',
  'AsyncHook',
  'Resolver',
]);

/**
 * `async Foo.bar [as baz]` -> `Foo.bar`; `Object.<anonymous>` and `` -> `(anonymous)`;
 * `Timeout.loadClient` -> `loadClient` (a runtime receiver, see RUNTIME_RECEIVERS). A class of the
 * host's (`Invoices.print`) is kept. An anonymous callback V8 names after the runtime's own slot
 * (`Timeout._onTimeout`, `ReadFileContext.callback`) has no name of its own and keeps its prefix.
 */
export function procedureName(func: string): string {
  const name = func
    .replace(/^async /, '')
    .replace(/^new /, '')
    .replace(/ \[as [^\]]*\]$/, '')
    .trim();
  if (name === '' || name === 'Object.<anonymous>' || name === '<anonymous>') return '(anonymous)';
  const dot = name.indexOf('.');
  if (dot > 0) {
    const receiver = name.slice(0, dot);
    const rest = name.slice(dot + 1);
    if (RUNTIME_RECEIVERS.has(receiver) && rest !== '' && !isRuntimeSlot(receiver, rest)) {
      return rest === '<anonymous>' ? '(anonymous)' : rest;
    }
  }
  return name;
}

/** The property a runtime object calls its callback through: what V8 names an anonymous one. */
function isRuntimeSlot(receiver: string, rest: string): boolean {
  if (rest.startsWith('_')) return true;
  return receiver !== 'Object' && /^(?:callback|oncomplete|onread|ondone|onchange)$/.test(rest);
}

const MAX_SOURCE_BYTES = 1024 * 1024;
const sourceCache = new Map<string, string[] | null>();

/**
 * The files a line of code is read from. A stack is text, and not always V8's own (an error
 * rebuilt from IPC or a worker, a `vm` filename): a frame naming `/etc/shadow` must not put one
 * of its lines in `error.code`, which is sent without the user's dump consent.
 */
const SOURCE_FILE = /\.(?:[cm]?js|jsx|[cm]?ts|tsx)$/i;

/**
 * The trimmed source line, or undefined when the file cannot be read. Only regular files named
 * like JavaScript or TypeScript source are read: a FIFO, device or terminal would block or never
 * end. Files over 1 MiB (bundles) are skipped and reads are cached, so an error in a loop does
 * not read the same file each time.
 *
 * @example
 * readSourceLine('/app/dist/invoices.js', 42); // 'total = lines.reduce(sum) / count;'
 */
export function readSourceLine(file: string, line: number): string | undefined {
  if (line < 1) return undefined;
  let lines = sourceCache.get(file);
  if (lines === undefined) {
    lines = loadLines(file);
    if (sourceCache.size >= 16) sourceCache.delete(sourceCache.keys().next().value!);
    sourceCache.set(file, lines);
  }
  const text = lines?.[line - 1]?.trim();
  return text ? truncate(text, LIMITS.code.max) : undefined;
}

function loadLines(file: string): string[] | null {
  let fd: number | undefined;
  try {
    const p = file.startsWith('file://') ? fileURLToPath(file) : file;
    if (!path.isAbsolute(p) || !SOURCE_FILE.test(p)) return null;
    // The file a link leads to must be named like source too: `app.js` may be a link to
    // `/etc/passwd` (a link to a real `.js`, as pnpm makes, is read).
    const real = fs.realpathSync(p);
    if (!SOURCE_FILE.test(real)) return null;
    // Not opened at all unless a regular file: opening a FIFO for reading waits for a writer.
    if (!fs.statSync(real).isFile()) return null;
    // Non-blocking and not through a link, then checked again on what was opened: the name may
    // have been swapped since.
    const flags = (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOFOLLOW ?? 0);
    fd = fs.openSync(real, fs.constants.O_RDONLY | flags);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_SOURCE_BYTES) return null;
    return fs.readFileSync(fd, 'utf8').split(/\r?\n/);
  } catch {
    return null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
