'use strict';
const autocannon = require('autocannon');

/**
 * One autocannon run of POST /v1/reports, every request a fresh report (setupRequest builds each
 * body), through autocannon's programmatic API.
 *
 * @param {{ url: string, token: string, factory: { next(): { body: string } },
 *   connections?: number, duration?: number, overallRate?: number, onInstance?: Function,
 *   acked?: string[] }} o   acked: collects the id of every report answered 200 or 202
 * @returns {Promise<{ rps: number, p50: number, p99: number, ok: number, non2xx: number,
 *   errors: number, timeouts: number, statuses: object, durationS: number }>}
 */
function loadReports(o) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: o.url,
        connections: o.connections ?? 50,
        duration: o.duration ?? 5,
        overallRate: o.overallRate,
        timeout: 20,
        requests: [
          {
            method: 'POST',
            path: '/v1/reports',
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${o.token}`,
            },
            setupRequest: (req) => {
              req.body = o.factory.next().body;
              return req;
            },
            onResponse: o.acked
              ? (status, body) => {
                  if (status === 202 || status === 200) o.acked.push(JSON.parse(body).id);
                }
              : undefined,
          },
        ],
      },
      (err, r) => {
        if (err) return reject(err);
        const statuses = statusCounts(r);
        const ok = (statuses['202'] ?? 0) + (statuses['200'] ?? 0);
        resolve({
          rps: r.requests.total / r.duration,
          p50: r.latency.p50,
          p99: r.latency.p99,
          ok,
          accepted: statuses['202'] ?? 0,
          non2xx: r.non2xx,
          errors: r.errors,
          timeouts: r.timeouts,
          statuses,
          durationS: r.duration,
        });
      },
    );
    o.onInstance?.(instance);
  });
}

/**
 * GET requests without pause (autocannon), for `duration` seconds: a flood beside another load.
 * Resolves with { rps, statuses }.
 * @param {{ url: string, path: string, token: string, connections?: number, duration: number }} o
 */
function floodGets(o) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: o.url + o.path,
        connections: o.connections ?? 10,
        duration: o.duration,
        headers: { authorization: `Bearer ${o.token}` },
      },
      (err, r) => {
        if (err) return reject(err);
        const statuses = statusCounts(r);
        resolve({ rps: r.requests.total / r.duration, statuses });
      },
    );
  });
}

/** autocannon's answers by status: { '202': n, ... } */
function statusCounts(r) {
  const statuses = {};
  for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statuses[code] = v.count;
  return statuses;
}

module.exports = { loadReports, floodGets };
