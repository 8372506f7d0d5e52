'use strict';
const { fork } = require('node:child_process');
const path = require('node:path');

/**
 * Forks bench/lib/server.js. Resolves with { url, pid, call(cmd, args), stop() } once listening.
 */
function startServer(mode, { dataDir, logFile, execArgv = [] } = {}) {
  const child = fork(
    path.join(__dirname, 'server.js'),
    [mode, dataDir ?? '', logFile ?? '/dev/null'],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv,
    },
  );
  let seq = 0;
  const waiting = new Map();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start`)), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${mode} server exited with ${code}`));
      for (const w of waiting.values()) w.reject(new Error(`${mode} server exited`));
    });
    child.on('message', (msg) => {
      if (msg.ready) {
        clearTimeout(timer);
        resolve({
          url: msg.url,
          pid: msg.pid,
          call(cmd, args = {}) {
            return new Promise((res, rej) => {
              const id = ++seq;
              waiting.set(id, { resolve: res, reject: rej });
              child.send({ seq: id, cmd, ...args });
            });
          },
          async stop() {
            if (child.exitCode !== null) return;
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await exited;
          },
        });
        return;
      }
      const w = waiting.get(msg.seq);
      if (!w) return;
      waiting.delete(msg.seq);
      if (msg.error) w.reject(new Error(msg.error));
      else w.resolve(msg.result);
    });
  });
}

module.exports = { startServer };
