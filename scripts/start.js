#!/usr/bin/env node
/**
 * `npm start`: the collector on an embedded default. Initialises ./jcs-data (or
 * $JCS_COLLECTOR_DATA_DIR) when missing, printing the public key and an ingest, an engineer and
 * an admin token once, then serves on 127.0.0.1:8080. Extra arguments go to `serve`
 * (`npm start -- --port 9090`).
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const bin = path.join(__dirname, '..', 'packages', 'collector', 'dist', 'bin.js');
if (!fs.existsSync(bin)) {
  console.error('the collector is not built: run npm ci (or npm run build) first');
  process.exit(1);
}
const dataDir = path.resolve(process.env.JCS_COLLECTOR_DATA_DIR || 'jcs-data');

/** `showAdvice`: pass on what the command says on stderr even when it succeeds. */
function run(args, showAdvice = false) {
  const r = spawnSync(process.execPath, [bin, ...args, '--data-dir', dataDir], {
    encoding: 'utf8',
  });
  if (r.status !== 0 || showAdvice) process.stderr.write(r.stderr);
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r.stdout.trim();
}

const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/**
 * Where jcs-errors reaches the collector serve starts with `args`; null for `--port 0`, a port
 * only serve's own output names.
 */
function serverUrl(args) {
  const option = (name) => {
    let value;
    args.forEach((a, i) => {
      if (a === name) value = args[i + 1];
      else if (a.startsWith(`${name}=`)) value = a.slice(name.length + 1);
    });
    return value;
  };
  const given = option('--port') ?? '8080';
  // As serve reads it (`00` is port 0, `08080` is 8080); what it refuses, it says itself.
  const port = /^\d+$/.test(given) ? String(Number(given)) : given;
  if (port === '0') return null;
  let host = option('--host') ?? '127.0.0.1';
  // Listening on every address: this machine reaches it on loopback.
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  const scheme = option('--tls-cert') ? 'https' : 'http';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The three tokens the first run makes, each shown once. */
const TOKENS = [
  { name: 'desktop-app', role: 'ingest', use: 'ingest   (for the SDK in the desktop app):' },
  { name: 'engineer', role: 'engineer', use: 'engineer (for jcs-errors):                ' },
  { name: 'admin', role: 'admin', use: 'admin    (audit, expiry, erasure):        ' },
];

// init's advice on the keys folder (never back it up; where the master key is) is worth seeing.
const init = fs.existsSync(path.join(dataDir, 'keys')) ? null : run(['init'], true);
// Every run makes the tokens a first run stopped part way (Ctrl-C) did not get to.
const have = new Set(JSON.parse(run(['token', 'list', '--json'])).map((t) => t.name));
const made = TOKENS.filter((t) => !have.has(t.name)).map((t) => ({
  ...t,
  token: run(['token', 'create', '--name', t.name, '--role', t.role]),
}));
if (init || made.length > 0) {
  const lines = init ? [init, ''] : [];
  lines.push('Tokens (shown once: only their hashes are stored):');
  for (const t of made) lines.push(`  ${t.use} ${t.token}`);
  if (made.length < TOKENS.length) {
    lines.push('', `The others were made before. Lost one? Make another:`);
    lines.push(`  npx jcs-collector token create --name NAME --role ROLE --data-dir ${dataDir}`);
  }
  const engineer = made.find((t) => t.role === 'engineer');
  if (engineer) {
    // Another port or host must come along: the default server may be another collector, which
    // would be sent the token and refuse it.
    const server = serverUrl(process.argv.slice(2));
    const env =
      server === DEFAULT_SERVER ? '' : `JCS_ERRORS_SERVER=${server ?? '<the URL below>'} `;
    lines.push('', `Try:  ${env}JCS_ERRORS_TOKEN=${engineer.token} npx jcs-errors top`);
  }
  console.log(`${lines.join('\n')}\n`);
}

const child = spawn(
  process.execPath,
  [bin, 'serve', '--data-dir', dataDir, ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    stopping = true;
    // The terminal closed (SIGHUP): serve takes SIGHUP as "reload the certificate" and would
    // serve on, unseen, holding the port and the data dir; stopped as SIGTERM stops it.
    child.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal);
  });
}
// npm runs this under `sh -c`, and a SIGTERM to npm (a supervisor, `kill`) ends npm and the shell
// but never reaches here: the collector served on, holding the port and the data dir's lock.
// Left by the process that started us, the collector is stopped as SIGTERM stops it.
// Once: serve takes a second SIGTERM a second later as "stop now", cutting its stop short.
const parent = process.ppid;
const orphaned = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(orphaned);
  // Already stopping (Ctrl-C, then the terminal closed): a second signal would cut that short.
  if (!stopping) child.kill('SIGTERM');
}, 250);
orphaned.unref();
child.on('exit', (code, signal) => {
  if (!stopping && code !== 0) {
    // serve said what went wrong (a port taken, say); what it cannot know is how to pass it
    // another option through npm, or that the tokens printed above were made all the same.
    const kept = made.length > 0 ? ' The tokens printed above were made and stay valid.' : '';
    console.error(
      `npm start: the collector stopped.${kept} Options go to it after --, as in npm start -- --port 9090`,
    );
  }
  process.exit(code ?? (signal ? 1 : 0));
});
