'use strict';
/**
 * CPU time of a server process and of the bench process itself over a run, from /proc (Linux).
 * Why: the ingest goal compares two servers' rates on one machine, where the load generator
 * takes its share of the same cores. What each side spends per request says how high a rate the
 * cores allow at all, whatever the servers wait for.
 */
const fs = require('node:fs');

/** USER_HZ: /proc counts CPU time in ticks of 1/100 s on Linux. */
const TICKS_PER_S = 100;

function ticksOf(statFile) {
  const raw = fs.readFileSync(statFile, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

/** { main, all } CPU seconds of a process: its main thread, and all its threads; null off Linux. */
function processCpu(pid) {
  try {
    return {
      main: ticksOf(`/proc/${pid}/task/${pid}/stat`) / TICKS_PER_S,
      all: ticksOf(`/proc/${pid}/stat`) / TICKS_PER_S,
    };
  } catch {
    return null;
  }
}

/**
 * Starts measuring; `stop(requests)` returns CPU microseconds per request: the server's main
 * thread (`main`), its other threads (`other`: the collector's writer thread, V8's GC helpers,
 * libuv's pool), and the bench process (`loadgen`: autocannon runs in it). Null fields off Linux.
 *
 * @example
 * const cpu = cpuMeter(server.pid);
 * const r = await loadReports(...);
 * const { main, other, loadgen } = cpu.stop(r.rps * r.durationS);
 */
function cpuMeter(pid) {
  const server = processCpu(pid);
  const self = process.cpuUsage();
  return {
    stop(requests) {
      const after = processCpu(pid);
      const used = process.cpuUsage(self);
      const per = (seconds) => (seconds * 1e6) / requests;
      return {
        main: server && after ? per(after.main - server.main) : null,
        other: server && after ? per(after.all - after.main - (server.all - server.main)) : null,
        loadgen: (used.user + used.system) / requests,
      };
    },
  };
}

module.exports = { cpuMeter };
