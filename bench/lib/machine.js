'use strict';
const os = require('node:os');
const fs = require('node:fs');

/** What the numbers were measured on. */
function machineInfo() {
  const cpus = os.cpus();
  let model = cpus[0]?.model?.trim() || 'unknown';
  if (model === 'unknown') {
    try {
      const m = /model name\s*:\s*(.+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
      if (m) model = m[1].trim();
    } catch {
      // not Linux
    }
  }
  return {
    cores: os.availableParallelism ? os.availableParallelism() : cpus.length,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    cpu: model,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavg: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
}

/** Resident set size of a process in bytes, from /proc (Linux); NaN elsewhere. */
function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns { stop(): number[] }. */
function sampleRss(pid, everyMs = 200) {
  const samples = [];
  const timer = setInterval(() => samples.push(rssOf(pid)), everyMs);
  return {
    stop() {
      clearInterval(timer);
      samples.push(rssOf(pid));
      return samples.filter(Number.isFinite);
    },
  };
}

module.exports = { machineInfo, rssOf, sampleRss };
