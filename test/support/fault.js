'use strict';
// The fault shim (native/fault/fault.c) for tests: built once per test file, and the call
// sites a recorded run met, read back from its log.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

/** Build the shim into dir; its path. */
function buildShim(dir) {
  const shim = path.join(dir, 'libnvc-fault.so');
  execFileSync('cc', [
    '-std=gnu11',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-shared',
    '-fPIC',
    '-O1',
    '-o',
    shim,
    path.join(__dirname, '../../native/fault/fault.c'),
    '-ldl',
  ]);
  return shim;
}

/**
 * The sites of a log written with NVC_FAULT_SITES=1, in the order first met: [{ call, site,
 * count }]. A site is the caller's object and offset (and a helper record's frame type).
 */
function readSites(log) {
  const sites = new Map();
  const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
  for (const line of text.split('\n').filter(Boolean)) {
    const [call, site] = line.split(' ');
    const key = `${call} ${site}`;
    if (!sites.has(key)) sites.set(key, { call, site, count: 0 });
    sites.get(key).count++;
  }
  return [...sites.values()];
}

/**
 * The sites met after the first fault in a log written with NVC_FAULT_SITES=1: the error
 * paths (rollback, undo, cleanup) that the fault led to, as readSites gives them.
 */
function sitesAfterFault(log) {
  const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith('!fault '));
  if (at < 0) return [];
  const sites = new Map();
  for (const line of lines.slice(at + 1).filter((l) => l && !l.startsWith('!'))) {
    const [call, site] = line.split(' ');
    const key = `${call} ${site}`;
    if (!sites.has(key)) sites.set(key, { call, site, count: 0 });
    sites.get(key).count++;
  }
  return [...sites.values()];
}

function errnoNumber(name) {
  const n = os.constants.errno[name];
  assert.ok(Number.isInteger(n), name);
  return n;
}

/**
 * The faults to inject: for each site, each fault its call can meet (errno names, or modes:
 * short, die, garbage, hang), at the first call of the site (at each of its calls where the
 * site is met at most allCallsUpTo times: a site shared by every helper's spawn or teardown
 * meets each helper once); with NVC_FAULT_FULL=1 at every call of the site.
 * { call, site, nth, fault, env } each, env being the shim's variables.
 */
function faultCases(sites, faultsOf, { allCallsUpTo = 1 } = {}) {
  const full = process.env.NVC_FAULT_FULL === '1';
  const cases = [];
  for (const { call, site, count } of sites) {
    for (const fault of faultsOf(call, site) ?? []) {
      for (let nth = 1; nth <= (full || count <= allCallsUpTo ? count : 1); nth++) {
        const mode = ['short', 'die', 'garbage', 'hang'].includes(fault) ? fault : 'errno';
        const env = { NVC_FAULT_CALL: call, NVC_FAULT_SITE: site, NVC_FAULT_NTH: String(nth), NVC_FAULT_MODE: mode };
        env.NVC_FAULT_ERRNO = mode === 'errno' && fault !== 'fail' ? String(errnoNumber(fault)) : '0';
        cases.push({ call, site, nth, fault, env, label: `${call} at ${site} #${nth}: ${fault}` });
      }
    }
  }
  return cases;
}

module.exports = { buildShim, readSites, sitesAfterFault, faultCases, errnoNumber };
