#!/usr/bin/env node
/**
 * `npm run demo`: a collector on a temp data dir, a handful of simulated JCS desktop installs
 * sending a realistic mix of errors through the real SDK, then `jcs-errors top` and
 * `jcs-errors show` of the top group. Everything is cleaned up afterwards. With `--to URL` the
 * same reports go to a collector already running instead (`npm start`).
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const collectorBin = path.join(root, 'packages/collector/dist/bin.js');
const cliBin = path.join(root, 'packages/cli/dist/bin.js');
const { createReporter } = require(path.join(root, 'packages/sdk/dist'));

const VB_OBJECT_ERROR = -2147221504;
// number, description, module, procedure, line, code, weight (how often it happens)
const ERRORS = [
  [
    91,
    'Object variable or With block variable not set',
    'modClients',
    'LoadClient',
    212,
    'Set rs = gDb.OpenRecordset(sSQL)',
    40,
  ],
  [13, 'Type mismatch', 'modValuation', 'CalcFundValue', 88, 'dValue = rs!Units * rs!Price', 22],
  [3021, 'No current record.', 'modPortfolio', 'NextHolding', 145, 'rs.MoveNext', 15],
  [3146, 'ODBC--call failed.', 'modDatabase', 'OpenConnection', 31, 'gDb.Open sConnect', 9],
  [
    9,
    'Subscript out of range',
    'modReports',
    'BuildFactFind',
    402,
    'sLine = aAnswers(iQuestion)',
    6,
  ],
  [
    VB_OBJECT_ERROR + 513,
    'Adviser licence has expired',
    'clsLicence',
    'Validate',
    57,
    'Err.Raise vbObjectError + 513',
    4,
  ],
  [
    VB_OBJECT_ERROR + 1001,
    'Fund price feed unavailable',
    'clsPriceFeed',
    'Refresh',
    120,
    'Err.Raise vbObjectError + 1001',
    3,
  ],
  [53, 'File not found', 'modExport', 'WritePdf', 77, 'Open sPath For Binary As #iFile', 2],
];
const VERSIONS = ['5.1.0.210', '5.2.0.310', '5.2.1.345'];
const CLIENTS = ['Mrs J Smith', 'Mr A Patel', 'Dr K Okafor', 'Ms L Chen', 'Mr R Jones'];

function cli(bin, args, env = {}) {
  return spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

function must(r, what) {
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function startCollector(dataDir) {
  const child = spawn(
    process.execPath,
    [collectorBin, 'serve', '--port', '0', '--no-expiry', '--data-dir', dataDir],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`the collector exited with ${code}`)));
  });
  return { child, url };
}

/** A small deterministic generator, so every demo run tells the same story. */
function random(seed) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/**
 * A dozen simulated desktop installs, each sending a realistic mix of errors through the real SDK
 * (same seed, same story every time); resolves once each has delivered what it sent.
 */
async function sendSimulated(url, ingest, publicKey, keyId) {
  const rnd = random(42);
  const pick = (list) => list[Math.floor(rnd() * list.length)];
  const weighted = ERRORS.flatMap((e) => Array(e[6]).fill(e));
  const installs = Array.from({ length: 12 }, (_, i) => ({
    license: `JCS-${String(120 + i).padStart(6, '0')}`,
    user: `adviser${String(i + 1).padStart(2, '0')}`,
    version: VERSIONS[i % VERSIONS.length],
    consent: i % 4 !== 0,
  }));

  let sent = 0;
  let refused;
  let lastFailure;
  for (const install of installs) {
    const reporter = createReporter({
      endpoint: url,
      token: ingest,
      publicKey,
      keyId,
      app: { name: 'JCS', version: install.version },
      license: install.license,
      username: () => install.user,
      dumpConsent: install.consent,
      onDiagnostic: (d) => {
        if (d.code === 'rejected') refused ??= d.message;
        if (d.code === 'send_failed') lastFailure = d.message;
      },
    });
    const n = 8 + Math.floor(rnd() * 10);
    for (let i = 0; i < n; i++) {
      const [number, description, module, procedure, line, code] = pick(weighted);
      reporter.report({
        number,
        description,
        module,
        procedure,
        line,
        code,
        data: {
          client: pick(CLIENTS),
          planId: `P${Math.floor(rnd() * 90000) + 10000}`,
          password: 'hunter2',
        },
      });
      sent++;
    }
    const delivered = await reporter.close(10000);
    if (refused && /HTTP 40[13]/.test(refused)) {
      throw new Error(`${refused}: is JCS_INGEST_TOKEN the ingest token npm start printed?`);
    }
    if (!delivered) {
      const why = lastFailure ? ` (the last attempt: ${lastFailure})` : '';
      throw new Error(
        refused ?? `the collector at ${url} did not take every report within 10 s${why}`,
      );
    }
  }
  // Errors, not reports: flood control sends an error repeated in a loop once, with a count.
  console.log(
    `${installs.length} desktop installs reported ${sent} errors (a quarter of the users declined the data dump);\n` +
      'past 3 a minute, a repeated error goes once, with a count: fewer reports, every error counted\n',
  );
}

/**
 * `npm run demo -- --to URL`: the same simulated installs send their reports to a collector that
 * is already running (`npm start`), with the ingest token in JCS_INGEST_TOKEN.
 */
async function sendTo(url) {
  const ingest = process.env.JCS_INGEST_TOKEN;
  if (!ingest) throw new Error('set JCS_INGEST_TOKEN to the ingest token npm start printed');
  const res = await fetch(new URL('/v1/public-key', url)).catch((e) => {
    throw new Error(
      `no collector at ${url} (${e.cause?.code ?? e.message}): start it with npm start`,
    );
  });
  if (!res.ok)
    throw new Error(`${url} answered ${res.status} to GET /v1/public-key: is it a JCS collector?`);
  const { keyId, publicKey } = await res.json();
  await sendSimulated(url, ingest, publicKey, keyId);
  console.log(
    `now try: JCS_ERRORS_SERVER=${url} JCS_ERRORS_TOKEN=<engineer token> npx jcs-errors top`,
  );
}

/** The demo's own collector and data dir, removed at the end, or at Ctrl-C. */
let tmp;
let collector;

async function cleanUp() {
  if (collector) {
    const child = collector.child;
    collector = undefined;
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}

// A reader that stops early (`npm run demo | head`) must not crash the demo before it removes
// the data dir: what is left to print goes nowhere, and the clean-up still runs.
process.stdout.on('error', (e) => {
  if (e.code !== 'EPIPE') throw e;
});

// Ctrl-C must not leave the data dir behind: it holds the master key and the reports.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(130));
  });
}

const USAGE = `usage: npm run demo [-- --to URL]

Without --to: starts a collector on a temporary data dir, sends it the reports of a few
simulated JCS desktop installs through the real SDK, shows jcs-errors top and show, and
removes everything again.
With --to URL: sends the same reports to a collector already running (npm start), with its
ingest token in JCS_INGEST_TOKEN.
`;

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) return void process.stdout.write(USAGE);
  const unknown = args.filter((a, i) => a !== '--to' && args[i - 1] !== '--to');
  if (unknown.length > 0) {
    process.stderr.write(`demo: unknown argument ${unknown[0]}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const to = process.argv.indexOf('--to');
  if (to !== -1) return sendTo(process.argv[to + 1] ?? 'http://127.0.0.1:8080');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-demo-'));
  const dataDir = path.join(tmp, 'data');
  try {
    const init = must(cli(collectorBin, ['init', '--data-dir', dataDir]), 'init');
    const keyId = /key id: (\S+)/.exec(init)[1];
    const publicKey = /public key: (\S+)/.exec(init)[1];
    const token = (name, role) =>
      must(
        cli(collectorBin, [
          'token',
          'create',
          '--name',
          name,
          '--role',
          role,
          '--data-dir',
          dataDir,
        ]),
        'token create',
      );
    const ingest = token('desktop-app', 'ingest');
    const engineer = token('demo-engineer', 'engineer');
    collector = await startCollector(dataDir);
    console.log(`collector listening on ${collector.url} (data in ${dataDir})\n`);

    await sendSimulated(collector.url, ingest, publicKey, keyId);

    const env = { JCS_ERRORS_SERVER: collector.url, JCS_ERRORS_TOKEN: engineer, COLUMNS: '80' };
    if (!process.stdout.isTTY) env.NO_COLOR = '1';
    console.log('$ jcs-errors top');
    const top = cli(cliBin, ['top'], env);
    process.stdout.write(top.stdout || top.stderr);
    const groups = JSON.parse(
      must(cli(cliBin, ['top', '--json'], env), 'jcs-errors top --json'),
    ).groups;
    if (groups.length > 0) {
      console.log(`\n$ jcs-errors show ${groups[0].id.slice(0, 6)}`);
      const show = cli(cliBin, ['show', groups[0].id.slice(0, 6)], env);
      process.stdout.write(show.stdout || show.stderr);
    }
  } finally {
    await cleanUp();
  }
}

main().catch((e) => {
  console.error(`demo failed: ${e.message}`);
  process.exit(1);
});
