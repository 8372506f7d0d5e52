import { pathToFileURL } from 'node:url';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  firstHostFrame,
  moduleName,
  parseStack,
  procedureName,
  readSourceLine,
} from '../src/stack';

describe('parseStack', () => {
  it('reads the V8 frame forms', () => {
    const stack = [
      'TypeError: x is undefined',
      '    at Database.query [as run] (/app/dist/db.js:10:5)',
      '    at async loadClient (C:\\JCS\\app\\clients.js:120:7)',
      '    at new Client (file:///opt/jcs/client.mjs:3:1)',
      '    at /app/dist/anon.js:4:2',
      '    at eval (eval at <anonymous> (/app/x.js:1:1), <anonymous>:1:1)',
      '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      '    at <anonymous>',
    ].join('\n');
    expect(parseStack(stack)).toEqual([
      { func: 'Database.query [as run]', file: '/app/dist/db.js', line: 10, column: 5 },
      { func: 'async loadClient', file: 'C:\\JCS\\app\\clients.js', line: 120, column: 7 },
      { func: 'new Client', file: 'file:///opt/jcs/client.mjs', line: 3, column: 1 },
      { func: '', file: '/app/dist/anon.js', line: 4, column: 2 },
      {
        func: 'process.processTicksAndRejections',
        file: 'node:internal/process/task_queues',
        line: 95,
        column: 5,
      },
    ]);
  });

  it('names modules and procedures as an engineer would look for them', () => {
    expect(moduleName('C:\\JCS\\app\\clients.js')).toBe('clients');
    expect(moduleName('file:///opt/jcs/client.mjs?v=3')).toBe('client');
    expect(moduleName('/app/main.bundle.js')).toBe('main.bundle');
    expect(procedureName('async loadClient')).toBe('loadClient');
    expect(procedureName('Database.query [as run]')).toBe('Database.query');
    expect(procedureName('new Client')).toBe('Client');
    expect(procedureName('Object.<anonymous>')).toBe('(anonymous)');
    expect(procedureName('')).toBe('(anonymous)');
  });

  it('drops receiver types of the runtime, keeping the host class and anonymous callbacks', () => {
    expect(procedureName('Timeout.loadClient [as _onTimeout]')).toBe('loadClient');
    expect(procedureName('Immediate.loadClient [as _onImmediate]')).toBe('loadClient');
    expect(procedureName('process.loadClient')).toBe('loadClient');
    expect(procedureName('Object.loadClient')).toBe('loadClient');
    expect(procedureName('EventEmitter.loadClient')).toBe('loadClient');
    expect(procedureName('Server.loadClient')).toBe('loadClient');
    expect(procedureName('async Promise.loadClient')).toBe('loadClient');
    expect(procedureName('Invoices.print')).toBe('Invoices.print');
    expect(procedureName('Invoices.print [as run]')).toBe('Invoices.print');
    // anonymous callbacks, named by V8 after the runtime's slot: nothing better to call them
    expect(procedureName('Timeout._onTimeout')).toBe('Timeout._onTimeout');
    expect(procedureName('ReadFileContext.callback')).toBe('ReadFileContext.callback');
  });

  it('skips the SDK and the runtime to find the host frame', () => {
    const sdkFile = path.join(__dirname, '../src/reporter.ts');
    const frames = parseStack(
      [
        'Error',
        `    at ReporterCore.captureException (${sdkFile}:10:5)`,
        '    at node:internal/main:1:1',
        '    at handleClick (/app/ui.js:7:3)',
      ].join('\n'),
    );
    expect(firstHostFrame(frames)).toMatchObject({ file: '/app/ui.js', line: 7 });
  });

  it('reads the source line of a real frame, and nothing for unreadable files', () => {
    const err = new Error('here'); // the line read back below
    const frame = firstHostFrame(parseStack(err.stack!))!;
    expect(moduleName(frame.file)).toBe('stack.test');
    expect(readSourceLine(frame.file, frame.line)).toBe(
      "const err = new Error('here'); // the line read back below",
    );
    expect(readSourceLine('/no/such/file.js', 1)).toBeUndefined();
    expect(readSourceLine('relative.js', 1)).toBeUndefined();
    expect(readSourceLine(frame.file, 0)).toBeUndefined();
  });

  it('reads through a link only to a file named like source: a link named .js to another file is not read', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-stack-'));
    try {
      // Before, a link named app.js to /etc/passwd put its first line in error.code, which goes
      // without the user's dump consent.
      fs.writeFileSync(path.join(dir, 'secret.txt'), 'root:x:0:0:root\n');
      fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(dir, 'app.js'));
      expect(readSourceLine(path.join(dir, 'app.js'), 1)).toBeUndefined();
      expect(readSourceLine(pathToFileURL(path.join(dir, 'app.js')).href, 1)).toBeUndefined();
      // A link to real source, as pnpm's node_modules are made of, is read.
      fs.writeFileSync(path.join(dir, 'real.js'), 'const total = 1;\n');
      fs.symlinkSync(path.join(dir, 'real.js'), path.join(dir, 'linked.js'));
      expect(readSourceLine(path.join(dir, 'linked.js'), 1)).toBe('const total = 1;');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('neither blocks nor reads on a FIFO or a device a frame names', () => {
    // Run in a child: a read that blocks would hang this process, where no test timeout fires.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-stack-'));
    try {
      const fifo = path.join(dir, 'waiting.js');
      execFileSync('mkfifo', [fifo]);
      const stack = path.join(__dirname, '../dist/stack.js');
      const script = `const { readSourceLine } = require(${JSON.stringify(stack)});
        process.stdout.write(JSON.stringify([readSourceLine(process.argv[1], 1)]));`;
      const run = spawnSync(process.execPath, ['-e', script, fifo], {
        timeout: 10_000,
        encoding: 'utf8',
      });
      expect(run.signal).toBeNull();
      expect(run.stdout).toBe('[null]');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(readSourceLine('/dev/zero', 1)).toBeUndefined();
    expect(readSourceLine('/dev/null', 1)).toBeUndefined();
  });
});
