'use strict';
/**
 * An open-loop load at a fixed rate: POST /v1/reports at `rate` requests per second, evenly
 * spaced, over a pool of kept-alive connections, for `duration` seconds.
 *
 * Why not autocannon's overallRate: autocannon lets each connection send its whole quota for the
 * second at the start of the second (bursts of `rate` requests, not a steady rate), and its
 * coordinated-omission correction takes the expected interval in milliseconds as ceil(1 / rate),
 * i.e. 1 ms, so every slow answer adds one synthetic sample per millisecond of its latency. At
 * 1,000/s a bare Express app showed a "p99" of over 100 ms that way. Here each request has a
 * scheduled send time and its latency is measured from that time, so a server (or a connection
 * pool) that falls behind is charged for the wait, and nothing else is.
 */
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const { percentile } = require('./stats');

/**
 * @param {{ url: string, token: string, factory: { next(): { body: string } }, rate: number,
 *   duration: number, connections?: number, signal?: AbortSignal, trace?: number[][],
 *   traceOverMs?: number }} o   duration in seconds; `signal` stops sending early (requests in
 *   flight are still awaited); `trace` collects [ms since start, latency] of each answer slower
 *   than `traceOverMs` (default 50)
 * @returns {Promise<{ rps: number, p50: number, p99: number, max: number, ok: number,
 *   non2xx: number, errors: number, sent: number, durationS: number }>}
 */
const round = (ms) => Math.round(ms * 10) / 10;

function steadyLoad(o) {
  const target = new globalThis.URL(o.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections ?? 50 });
  const latencies = [];
  const interval = 1000 / o.rate;
  const total = Math.round(o.rate * o.duration);
  let sent = 0;
  let done = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const started = performance.now();

  let finished = false;
  return new Promise((resolve) => {
    const finish = () => {
      if (finished) return;
      finished = true;
      agent.destroy();
      const durationS = (performance.now() - started) / 1000;
      resolve({
        rps: ok / durationS,
        p50: round(percentile(latencies, 50)),
        p99: round(percentile(latencies, 99)),
        max: round(percentile(latencies, 100)),
        ok,
        non2xx,
        errors,
        sent,
        durationS,
      });
    };
    const settle = () => {
      done++;
      if (done === sent && (sent === total || o.signal?.aborted)) finish();
    };
    const send = (scheduledAt) => {
      const body = o.factory.next().body;
      const req = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: '/v1/reports',
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `Bearer ${o.token}`,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 202 || res.statusCode === 200) {
              ok++;
              const latency = performance.now() - scheduledAt;
              latencies.push(latency);
              // Where the slow answers fall in time: [ms since the load started, latency].
              if (o.trace && latency > (o.traceOverMs ?? 50)) {
                o.trace.push([round(scheduledAt - started), round(latency)]);
              }
            } else non2xx++;
            settle();
          });
        },
      );
      req.on('error', () => {
        errors++;
        settle();
      });
      req.end(body);
    };
    const tick = () => {
      const stop = o.signal?.aborted;
      const due = stop
        ? sent
        : Math.min(total, Math.floor((performance.now() - started) / interval) + 1);
      while (sent < due) send(started + sent++ * interval);
      if (sent < total && !stop)
        setTimeout(tick, Math.max(0, started + sent * interval - performance.now()));
      else if (done === sent) finish();
    };
    tick();
  });
}

module.exports = { steadyLoad };
