'use strict';
/**
 * Installed size of a package and its dependency closure, as npm would lay it out: every file
 * under each package's directory (not counting nested node_modules, which are walked as
 * dependencies of their own). A workspace package counts what it publishes: package.json and
 * its `files` (dist/), not its sources or tests.
 */
const fs = require('node:fs');
const path = require('node:path');

function dirBytes(dir, skip) {
  let total = 0;
  let files = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (skip(p, entry)) continue;
    if (entry.isDirectory()) {
      const sub = dirBytes(p, skip);
      total += sub.bytes;
      files += sub.files;
    } else if (entry.isFile()) {
      total += fs.statSync(p).size;
      files++;
    }
  }
  return { bytes: total, files };
}

/** The directory of `name` as Node would find it from `fromDir`. */
function findPackageDir(name, fromDir) {
  let dir = fromDir;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return fs.realpathSync(candidate);
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function packageBytes(dir, pkg) {
  const skipNested = (p, e) => e.isDirectory() && e.name === 'node_modules';
  if (dir.split(path.sep).includes('node_modules')) return dirBytes(dir, skipNested);
  // A workspace package (linked from the repo): what it publishes.
  let bytes = fs.statSync(path.join(dir, 'package.json')).size;
  let files = 1;
  for (const f of pkg.files ?? []) {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) continue;
    if (fs.statSync(p).isDirectory()) {
      const sub = dirBytes(p, (q, e) => skipNested(q, e) || q.endsWith('.tsbuildinfo'));
      bytes += sub.bytes;
      files += sub.files;
    } else {
      bytes += fs.statSync(p).size;
      files++;
    }
  }
  return { bytes, files };
}

/** { bytes, files, packages: [{ name, version, bytes }] } for `rootDir` and its closure. */
function installedSize(rootDir) {
  const seen = new Map();
  const walk = (dir) => {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    // One copy per name@version, as a fresh install would dedupe it (this monorepo's hoisting
    // may hold the same version twice).
    const key = `${pkg.name}@${pkg.version}`;
    if (seen.has(key)) return;
    const size = packageBytes(dir, pkg);
    seen.set(key, { name: pkg.name, version: pkg.version, ...size });
    const deps = { ...pkg.dependencies, ...pkg.optionalDependencies };
    for (const name of Object.keys(deps)) {
      const child = findPackageDir(name, dir);
      if (child) walk(child);
    }
  };
  walk(fs.realpathSync(rootDir));
  const packages = [...seen.values()];
  return {
    bytes: packages.reduce((n, p) => n + p.bytes, 0),
    files: packages.reduce((n, p) => n + p.files, 0),
    packages,
  };
}

module.exports = { installedSize, findPackageDir };
