#!/usr/bin/env node
'use strict';
/**
 * `npm run bench` runs every benchmark against the built packages (`npx tsc -b` first) and
 * writes bench/results.md (and prints it). `--quick` runs each at a small size;
 * `--only ingest,sdk` runs some of them. Either writes bench/results-partial.md instead (not
 * committed), so a quick look never overwrites the full run's figures the README quotes;
 * `--out=FILE` writes where it says.
 *
 * Every figure is a median with min and max over several runs, and every comparison a ratio
 * measured side by side in the same run, alternating A and B: the machine may be shared, so
 * absolute numbers drift, ratios much less.
 */
const fs = require('node:fs');
const path = require('node:path');
const { assertBuilt } = require('./lib/dist');
const { machineInfo } = require('./lib/machine');
const { TMP, removeDir } = require('./lib/datadir');

const BENCHMARKS = ['ingest', 'sdk', 'triage', 'expiry', 'storage'];

function parseArgs(argv) {
  const quick = argv.includes('--quick');
  const onlyArg = argv.find((a) => a.startsWith('--only'));
  let only = BENCHMARKS;
  if (onlyArg) {
    const value = onlyArg.includes('=') ? onlyArg.split('=')[1] : argv[argv.indexOf(onlyArg) + 1];
    only = value.split(',').map((s) => s.trim());
    const unknown = only.filter((b) => !BENCHMARKS.includes(b));
    if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}: ${BENCHMARKS}`);
  }
  const out = argv.find((a) => a.startsWith('--out='))?.slice('--out='.length);
  const partial = quick || only !== BENCHMARKS;
  const file = partial ? 'results-partial.md' : 'results.md';
  return { quick, only, out: out ?? path.join(__dirname, file) };
}

function table(header, rows) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function render({ quick, machine, sections, startedAt, seconds }) {
  const lines = [];
  lines.push('# Benchmark results', '');
  lines.push(
    `Written by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${startedAt.toISOString()} ` +
      `in ${Math.round(seconds)} s (${quick ? 'quick mode: small sizes' : 'full mode'}). ` +
      'Each figure is the median, with (min - max) over the runs; each comparison is a ratio ' +
      'measured side by side in the same run, alternating A and B.',
    '',
  );
  lines.push('## Machine', '');
  lines.push(
    table(
      ['cores', 'memory', 'Node', 'CPU', 'OS', 'load average at start'],
      [[machine.cores, machine.memory, machine.node, machine.cpu, machine.os, machine.loadavg]],
    ),
    '',
  );
  const headline = [];
  for (const s of sections) {
    for (const [k, v] of Object.entries(s.headline ?? {})) headline.push([k, v]);
  }
  if (headline.length) {
    lines.push('## Summary', '', table(['Figure', 'Median (min - max)'], headline), '');
  }
  for (const s of sections) {
    lines.push(`## ${s.title}`, '');
    if (s.error) {
      lines.push(`Not measured: ${s.error}`, '');
      continue;
    }
    for (const note of s.setup ?? []) lines.push(`- ${note}`);
    if (s.setup?.length) lines.push('');
    lines.push(table(['Figure', 'Median (min - max)'], s.rows), '');
    for (const note of s.notes ?? []) lines.push(note, '');
  }
  return lines.join('\n');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  assertBuilt();
  const startedAt = new Date();
  const machine = machineInfo();
  const log = (msg) =>
    console.error(`[bench ${((Date.now() - startedAt) / 1000).toFixed(0)}s] ${msg}`);
  const ctx = { quick: args.quick, log };
  const sections = [];
  removeDir(TMP);
  try {
    for (const name of args.only) {
      const bench = require(`./${name}`);
      log(`${name}: start`);
      const t0 = Date.now();
      try {
        sections.push(await bench.run(ctx));
      } catch (e) {
        log(`${name} failed: ${e.stack ?? e}`);
        sections.push({ title: bench.title ?? name, error: String(e.message ?? e).split('\n')[0] });
      }
      log(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
  } finally {
    removeDir(TMP);
  }
  const seconds = (Date.now() - startedAt) / 1000;
  const text = render({ quick: args.quick, machine, sections, startedAt, seconds });
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, text);
  console.log(text);
  if (sections.some((s) => s.error && !s.skipped)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e.stack ?? e);
  process.exit(1);
});
