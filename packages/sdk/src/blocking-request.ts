import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { monotonicNow } from './clock';
import type { TransportRequest, TransportResponse } from './transport';

/**
 * Sends HTTP requests while the calling thread waits for the answers: for a process that is about
 * to die of an uncaught exception, which gets no more turns of its event loop to wait in.
 */
export interface BlockingRequester {
  /** Blocks until the answer or `request.timeoutMs`; throws on a network error or time-out. */
  request(request: TransportRequest): TransportResponse;
  /** Ends the worker thread (it would not keep the process alive anyway). */
  close(): void;
}

/** What the worker answers: an answer, or the name and code of the error it met. */
type WorkerAnswer =
  | { seq: number; response: TransportResponse }
  | { seq: number; error: { name: string; code?: string; message: string } };

/**
 * The worker: the SDK may be bundled into the host (so no file of its own to point a Worker at),
 * and nothing it needs is the SDK's: node:http or node:https, the CA given, a time-out. Each
 * answer is posted, then counted in the shared word and the waiting thread woken, as synckit does.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const tls = require('node:tls');
const { port, signal } = workerData;
const answered = new Int32Array(signal);
const MAX_BODY_CHARS = 4096;

function trusted(ca) {
  const extra = [];
  const file = process.env.NODE_EXTRA_CA_CERTS;
  try {
    if (file) extra.push(fs.readFileSync(file, 'utf8'));
  } catch {}
  return [...tls.rootCertificates, ...extra, ca];
}

function answer(message) {
  port.postMessage(message);
  Atomics.add(answered, 0, 1);
  Atomics.notify(answered, 0);
}

port.on('message', ({ seq, request }) => {
  let done = false;
  const finish = (message) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    answer({ seq, ...message });
  };
  const fail = (e) => {
    const { name, code, message } = e || {};
    finish({ error: { name: String(name), code, message: String(message) } });
  };
  const timer = setTimeout(() => {
    req.destroy();
    finish({ error: { name: 'TimeoutError', message: 'the request timed out' } });
  }, Math.max(0, request.timeoutMs));
  let req;
  try {
    const url = new URL(request.url);
    const lib = url.protocol === 'https:' ? https : http;
    const body = Buffer.from(request.body, 'utf8');
    req = lib.request(url, {
      method: request.method,
      headers: { ...request.headers, 'content-length': String(body.length) },
      agent: false,
      ...(request.ca !== undefined && url.protocol === 'https:' ? { ca: trusted(request.ca) } : {}),
    });
    req.on('error', fail);
    req.on('response', (res) => {
      let text = '';
      const respond = (whole) => {
        const retryAfter = res.headers['retry-after'];
        finish({
          response: {
            statusCode: res.statusCode || 0,
            headers: { 'retry-after': typeof retryAfter === 'string' ? retryAfter : null },
            body: whole || text !== '' ? text.slice(0, MAX_BODY_CHARS) : undefined,
          },
        });
      };
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        if (text.length < MAX_BODY_CHARS) text += chunk;
      });
      res.on('end', () => respond(true));
      res.on('error', () => respond(false));
      res.on('close', () => respond(false));
    });
    req.end(body);
  } catch (e) {
    fail(e);
  }
});
`;

/** How long past a request's own time-out to wait for the worker to say so. */
const ANSWER_SLACK_MS = 50;

/**
 * Starts the worker thread that `request` hands its requests to. The first request waits for
 * the thread to start too (some tens of milliseconds).
 *
 * @example
 * const requester = openBlockingRequester();
 * try {
 *   const response = requester.request(reportRequest(options, report)); // blocks
 * } finally {
 *   requester.close();
 * }
 */
export function openBlockingRequester(): BlockingRequester {
  const signal = new SharedArrayBuffer(4);
  const answered = new Int32Array(signal);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { port: port2, signal },
    transferList: [port2],
  });
  worker.unref();
  port1.unref();
  let seq = 0;
  let seen = 0;
  return {
    request(request) {
      const mine = ++seq;
      const { signal: _signal, ...plain } = request;
      port1.postMessage({ seq: mine, request: plain });
      const deadline = monotonicNow() + Math.max(0, request.timeoutMs) + ANSWER_SLACK_MS;
      for (;;) {
        // Answers to earlier requests that timed out here may still come: skip them.
        const message = receiveMessageOnPort(port1)?.message as WorkerAnswer | undefined;
        if (message) {
          seen++;
          if (message.seq !== mine) continue;
          if ('response' in message) return message.response;
          throw Object.assign(new Error(message.error.message), message.error);
        }
        const left = deadline - monotonicNow();
        if (left <= 0) {
          throw Object.assign(new Error('the request timed out'), { name: 'TimeoutError' });
        }
        Atomics.wait(answered, 0, seen, left);
      }
    },
    close() {
      port1.close();
      void worker.terminate().catch(() => undefined);
    },
  };
}
