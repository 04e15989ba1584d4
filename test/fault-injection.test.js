'use strict';
// Fault injection under the executor (issue 11): configure once with the executor under a
// shim that records each call site of its own code (native/fault/fault.c, LD_PRELOAD through
// a wrapper named by NVC_TS_EXEC; a site is the caller's offset in the executable), then
// once per site, per errno that call can meet, and per call of that site, with that one
// call failing. Every call the shim wraps and the clean run meets must be in the table:
// a new call site cannot go unfaulted unnoticed. The calls that change the container or
// carry the plan (the mount API, openat2, mkdirat, symlinkat, the chowns, setns, the
// plan's read, the file writes) fail at every call of each site; the others (opens,
// stats, fcntl, close, poll, the mountinfo reader...) at the first call of each site, at
// every call with NVC_FAULT_FULL=1. Each run must either succeed (the executor retried or
// worked around the failure) with the same mounts as the clean run, or fail with an
// NvcError naming the errno, with nothing left in the container: no mount below the
// rootfs, the rootfs tree as it was; and no executor process may outlive the call.
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { NvcError } = require('../dist/index.js');
const { requireFeature, isRoot } = require('./support/features');
const { readSites, errnoNumber } = require('./support/fault');
const { ExecutorFaultBench } = require('./support/fault-exec');

// The errnos each call can meet on a real host, by the shim's name for the call.
const ERRNOS = {
  // Faulted at every call of each site.
  sys_openat2: ['EMFILE', 'ENOMEM', 'EACCES', 'ELOOP', 'EINTR'],
  sys_open_tree: ['EMFILE', 'ENOMEM', 'EPERM'],
  sys_move_mount: ['EPERM', 'ENOMEM', 'ENOSPC'],
  sys_mount_setattr: ['EPERM', 'ENOMEM'],
  sys_fsopen: ['EPERM', 'EMFILE', 'ENOMEM'],
  sys_fsconfig: ['ENOMEM', 'EINVAL'],
  sys_fsmount: ['EPERM', 'EMFILE', 'ENOMEM', 'ENOSPC'],
  mount: ['EPERM', 'ENOMEM', 'ENOSPC'],
  mkdirat: ['ENOSPC', 'EACCES', 'EROFS', 'EDQUOT'],
  symlinkat: ['ENOSPC', 'EROFS', 'EDQUOT'],
  fchownat: ['EPERM', 'EROFS'],
  fchown: ['EPERM', 'EROFS'],
  setns: ['EPERM', 'ENOMEM'],
  read: ['EINTR', 'EIO'],
  write: ['ENOSPC', 'EINTR', 'EIO'],
  // Faulted at the first call of each site (every call with NVC_FAULT_FULL=1).
  open: ['EMFILE', 'ENFILE', 'ENOMEM', 'EACCES', 'EINTR'], // stdio, /proc/<pid>, the sources, the rootfs
  openat: ['EMFILE', 'ENFILE', 'ENOMEM', 'EACCES', 'EINTR'], // a path just made, a mount point
  fstat: ['EIO', 'ENOMEM'],
  fstatat: ['EIO', 'ENOMEM'],
  fstatfs: ['EIO', 'ENOMEM'],
  fcntl: ['EMFILE', 'EINVAL'], // F_DUPFD_CLOEXEC: out of fds, or past RLIMIT_NOFILE
  close: ['EIO', 'EINTR'],
  poll: ['EINTR', 'ENOMEM'], // the pidfd's check that the container's init is alive
  prctl: ['EINVAL', 'EPERM'],
  sys_pidfd_open: ['EMFILE', 'ENOMEM', 'ENOSYS'],
  fopen: ['EMFILE', 'ENFILE', 'ENOMEM', 'EACCES'], // mountinfo
  getline: ['EIO', 'ENOMEM'],
  send: ['EPIPE', 'ECONNRESET', 'ENOBUFS', 'EINTR'], // the report to the client
  // Only on error paths (the rollback): fault-injection-rollback.test.js fails them there.
  umount2: ['EBUSY', 'ENOMEM'],
  unlinkat: ['EBUSY', 'EROFS', 'EACCES'],
};
const EVERY_CALL = new Set([
  'sys_openat2',
  'sys_open_tree',
  'sys_move_mount',
  'sys_mount_setattr',
  'sys_fsopen',
  'sys_fsconfig',
  'sys_fsmount',
  'mount',
  'mkdirat',
  'symlinkat',
  'fchownat',
  'fchown',
  'setns',
  'read',
  'write',
]);
// Where the executor cannot report the error, by the function at the site: its exit status is
// the report (ERR_NVC_SERVICE_CRASHED, "exited ... without reporting"), and the container must
// still be as it was.
const UNREPORTED = {
  main: 'the socket at fd 3 cannot be made close-on-exec: there is no socket to report on (before the plan is read)',
  send_full: 'the report itself is lost: the executor rolls back what it did and exits',
};
const bareName = (fn) => fn.replace(/\..*$/, ''); // send_full.constprop.0

// The function of the executable at each site (addr2line; '' where it cannot say).
function functionsOf(sites, exe) {
  const addrs = sites.map((s) => s.site.replace(/^[^+]*\+/, '').replace(/\/.*$/, ''));
  try {
    const out = execFileSync('addr2line', ['-f', '-e', exe, ...addrs], { encoding: 'utf8' }).split('\n');
    return new Map(sites.map((s, i) => [s.site, s.site.startsWith('exe+') && out[2 * i] !== '??' ? bareName(out[2 * i]) : '']));
  } catch {
    return new Map();
  }
}

const REQUEST = { devices: '0', capabilities: ['compute', 'utility'], noCgroups: true, noLdconfig: true };

describe('fault injection: every executor call site x every errno it can meet', function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), 'the executor enters mount namespaces');
    requireFeature(
      this,
      'fault-shim',
      process.env.NVC_TEST_SANITIZED !== '1',
      'the fault shim works without the sanitizer runtimes in front of it (npm test runs it)',
    );
  });
  this.timeout(1200000);
  const bench = new ExecutorFaultBench(REQUEST);
  const configureOnce = (env) => bench.configureOnce(env);
  const executors = () => bench.executors();
  before(() => bench.open('nvc-fault-'));
  after(() => bench.close());

  it('covers the matrix: each failure is typed and rolled back, or worked around', async () => {
    const t0 = Date.now();
    const clean = await configureOnce({});
    assert.equal(clean.error, null, `clean run: ${clean.error && clean.error.stack}`);
    assert.ok(clean.settled, 'the clean run left an executor');
    const cleanMounts = clean.mounts;
    assert.ok(cleanMounts.length > 0, 'the clean run mounted something');
    const sites = readSites(clean.log);
    for (const call of ['sys_openat2', 'sys_open_tree', 'sys_move_mount', 'mkdirat', 'setns', 'openat', 'fstat', 'close']) {
      assert.ok(
        sites.some((s) => s.call === call),
        `the executor made no ${call} call the shim saw: ${JSON.stringify(sites)}`,
      );
    }
    const unlisted = sites.filter((s) => ERRNOS[s.call] === undefined);
    assert.deepEqual(unlisted, [], 'a call the shim wraps but the matrix does not list');

    const full = process.env.NVC_FAULT_FULL === '1';
    const only = process.env.NVC_FAULT_ONLY ? process.env.NVC_FAULT_ONLY.split(',') : null;
    const fns = functionsOf(sites, bench.realExec);
    const cases = [];
    for (const { call, site, count } of sites) {
      if (only && !only.includes(call)) continue;
      for (const errno of ERRNOS[call]) {
        for (let nth = 1; nth <= (full || EVERY_CALL.has(call) ? count : 1); nth++) {
          cases.push({
            label: `${call} at ${site} (${fns.get(site) || '?'}) #${nth}: ${errno}`,
            errno,
            unreported: UNREPORTED[fns.get(site)] !== undefined,
            env: { NVC_FAULT_CALL: call, NVC_FAULT_SITE: site, NVC_FAULT_NTH: String(nth), NVC_FAULT_ERRNO: String(errnoNumber(errno)) },
          });
        }
      }
    }

    const failures = [];
    const outcomes = { typed: 0, workedAround: 0, unreported: 0 };
    const codes = new Map();
    for (const c of cases) {
      const fail = (why) => failures.push(`${c.label}: ${why}`);
      const ran = await configureOnce(c.env);
      const { error, mounts } = ran;
      if (process.env.NVC_FAULT_VERBOSE) console.log(`      ${c.label}: ${error ? `${error.code} ${error.message.slice(0, 160)}` : 'ok'}`);
      if (!ran.met) fail('the fault was never met');
      if (!ran.settled) fail(`executor processes left: ${executors().join(',')}`);
      if (error === null) {
        outcomes.workedAround++;
        if (JSON.stringify(mounts) !== JSON.stringify(cleanMounts)) fail('succeeded with other mounts than the clean run');
        continue;
      }
      outcomes.typed++;
      codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
      if (!(error instanceof NvcError)) fail(`not an NvcError: ${error.stack}`);
      else if (c.unreported && error.code === 'ERR_NVC_SERVICE_CRASHED' && /without reporting/.test(error.message)) outcomes.unreported++;
      else if (error.errno !== c.errno && !error.message.includes(c.errno)) fail(`${error.code} does not name ${c.errno}: ${error.message}`);
      if (mounts.length) fail(`mounts left: ${mounts.slice(0, 5).join(', ')}`);
      if (ran.changed) fail(`rootfs changed: ${ran.added.slice(0, 5).join('; ')}`);
    }
    console.log(
      `      ${cases.length} cases over ${sites.length} sites in ${Math.round((Date.now() - t0) / 1000)} s: ${outcomes.typed} typed failures (${outcomes.unreported} told by the exit status), ${outcomes.workedAround} worked around; codes: ${JSON.stringify([...codes])}`,
    );
    if (failures.length) console.log(failures.map((f) => `      FAILED ${f}`).join('\n'));
    assert.deepEqual(failures, []);
  });
});
