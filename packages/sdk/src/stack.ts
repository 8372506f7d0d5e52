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

/** The first frame that is the host's: not the SDK's own code nor Node's internals. */
export function firstHostFrame(frames: StackFrame[]): StackFrame | undefined {
  return frames.find((f) => !isSdkFrame(f.file) && !isRuntimeFrame(f.file));
}

/** `C:\app\dist\main.js` -> `main`; `file:///x/y/clients.mjs?v=2` -> `clients`. */
export function moduleName(file: string): string {
  const noQuery = file.replace(/[?#].*$/, '');
  const base = noQuery.split(/[/\\]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/** `async Foo.bar [as baz]` -> `Foo.bar`; `Object.<anonymous>` and `` -> `(anonymous)`. */
export function procedureName(func: string): string {
  const name = func
    .replace(/^async /, '')
    .replace(/^new /, '')
    .replace(/ \[as [^\]]*\]$/, '')
    .trim();
  if (name === '' || name === 'Object.<anonymous>' || name === '<anonymous>') return '(anonymous)';
  return name;
}

const MAX_SOURCE_BYTES = 1024 * 1024;
const sourceCache = new Map<string, string[] | null>();

/**
 * The trimmed source line, or undefined when the file cannot be read. Files over 1 MiB (bundles)
 * are skipped and reads are cached, so an error in a loop does not read the same file each time.
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
  try {
    const p = file.startsWith('file://') ? fileURLToPath(file) : file;
    if (!path.isAbsolute(p)) return null;
    if (fs.statSync(p).size > MAX_SOURCE_BYTES) return null;
    return fs.readFileSync(p, 'utf8').split(/\r?\n/);
  } catch {
    return null;
  }
}
