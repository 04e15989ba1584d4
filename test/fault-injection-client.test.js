'use strict';
// Fault injection on the client side, inside Node (issue 11): the addon's own system calls
// (socketpair, posix_spawn, pidfd_open, send, recv, waitid, openat2, close...: the driver
// client, the executor and ldconfig clients, discovery), each made to fail in a Node
// process of its own (test/support/fault-client-program.js) under the fault shim limited to
// the addon (NVC_FAULT_MODULE=nvc_ts.node: Node's and libuv's calls are left alone). A
// clean run records every call site; then each site meets each fault its call can meet, at
// its first call (NVC_FAULT_HELPERS=1: also at each call of a site met at most three times,
// the spawn and teardown shared by every helper; NVC_FAULT_FULL=1: at every call). The
// session is init, driverInfo, deviceInfo, configure on a fixture container, the next call,
// shutdown, a call after shutdown. Each case must: meet its fault; end the step under way with the typed
// error this fault calls for, or work around it with the clean run's answers; never crash
// or hang Node; leave no child, zombie or helper process, no fd, and, where configure
// failed, no mount and no change in the container; answer the next call (or say clearly
// that the service is gone), and refuse a call after shutdown as closed.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { driverServicePath, execPath, ldconfigHelperPath } = require('../dist/native.js');
const { makeRootfs, startContainer, mountsUnder, snapshot } = require('./support/container.js');
const { requireFeature, isRoot } = require('./support/features');
const { buildShim, readSites, faultCases } = require('./support/fault');

const PROGRAM = path.join(__dirname, 'support/fault-client-program.js');
const REQUEST = { devices: '0', capabilities: ['compute', 'utility'], noCgroups: true };

// What each call of the addon can meet. The sockets are the helpers' socketpairs; open,
// read, pread and the stat calls are of host files (discovery, /proc); openat2 resolves
// paths in a root.
const FAULTS = {
  socketpair: ['EMFILE', 'ENFILE', 'ENOMEM'],
  posix_spawn: ['EAGAIN', 'ENOMEM', 'EACCES'],
  sys_pidfd_open: ['EMFILE', 'ENOSYS'],
  send: ['EPIPE', 'ECONNRESET', 'ENOBUFS', 'EINTR', 'short', 'garbage'],
  recv: ['ECONNRESET', 'ENOMEM', 'EINTR', 'short'],
  poll: ['EINTR', 'ENOMEM'],
  read: ['EIO', 'EINTR', 'short'],
  pread: ['EIO', 'EINTR'],
  open: ['EMFILE', 'EACCES'],
  fstat: ['EIO', 'ENOMEM'],
  fstatat: ['EACCES', 'ENOMEM'],
  fstatfs: ['EIO'],
  fcntl: ['EBADF'],
  // ECHILD only comes once the child is reaped elsewhere: faked with the child still there,
  // it would leave a zombie that no real run can.
  waitid: ['EINTR'],
  waitpid: ['EINTR'],
  kill: ['ESRCH', 'EPERM'],
  fdopendir: ['ENOMEM', 'EMFILE'],
  sys_openat2: ['EMFILE', 'ENOMEM', 'EACCES', 'EAGAIN', 'EINTR'],
  close: ['EIO'],
};

// Where a failed call stands for a missing optional fact, by the function that makes it:
// the session goes on without it.
const OPTIONAL = new Set([
  'nvc_host_resolve', // /proc/sys/kernel/overflow{u,g}id: the kernel's default 65534
  'nvc_context_new', // /proc/driver/nvidia/version: "unknown"
  'nvc_drv_read_text', // optional /proc files: capabilities' minors, /proc/devices majors
  'nvc_read_cap_minor',
  'nvc_pid_open', // no pidfd (pidfd_open fails): the start time is checked instead
  // The witness of a kept driver discovery (native/core/util/witness.c): what it cannot look
  // at counts as changed (a fresh discovery next time), never as an error.
  'look_content',
  'look_lstat',
  'nvc_witness_walk',
]);

// Where a failed lookup is skipped on purpose, by the function that makes it and the faults
// it skips: the driver's binaries are searched along a $PATH, and an entry that cannot be
// searched, or a candidate that may not be read to check its ELF header (EACCES), is passed
// over as a shell passes over it; any other failure (EMFILE, ENOMEM, EIO) is an error.
// Everywhere else a failure to look at a file that may be there (fstat, pread of its ELF
// header, open of the device directory) is a typed error naming it, never "not there".
const DEGRADES = new Map([
  ['nvc_path_open_in_root', ['EACCES']],
  ['nvc_path_reopen', ['EACCES']],
]);
const degrades = ({ fn, fault }) => DEGRADES.get(bareName(fn))?.includes(fault) ?? false;
const bareName = (fn) => fn.replace(/\..*$/, ''); // find_in_dir.constprop.0

// The codes a fault may end a session's first failing step with ('ok': worked around).
function allowed({ call, fault, fn }, metAt) {
  if (metAt === 'shutdown' || metAt === 'closed' || metAt === 'end') return ['ok'];
  if (fault === 'EINTR') return ['ok']; // retried
  if (fault === 'EAGAIN' && call === 'sys_openat2') return ['ok']; // a rename raced a lookup: retried
  const ldconfig = metAt === 'configure' ? ['ERR_NVC_LDCONFIG'] : [];
  switch (call) {
    case 'close':
    case 'kill': // the helper is gone already, or is reaped all the same
    case 'waitid': // then waitpid
    case 'waitpid':
    case 'sys_pidfd_open': // no pidfd: the helper is watched without one
      return ['ok'];
    case 'socketpair':
    case 'posix_spawn':
    case 'fcntl':
      return ['ERR_NVC_SERVICE_START', 'ERR_NVC_SYSTEM', 'ERR_NVC_NO_MEMORY', ...ldconfig];
    case 'poll':
      if (bareName(fn) === 'nvc_pid_open') return ['ERR_NVC_SYSTEM', 'ERR_NVC_NO_MEMORY'];
    // falls through: the other polls wait for a helper
    case 'send':
    case 'recv':
      // A short send on the executor's stream is sent on; on the service's seqpacket socket
      // it is a truncated request: the service is stopped.
      // The executor's report: a failed read stops it (it rolls back) and reads again, and
      // one that had finished is heard finishing; ECONNRESET after the report is its end.
      if (call === 'recv' && bareName(fn) === 'nvc_plan_job_step')
        return ['ok', 'ERR_NVC_SYSTEM', 'ERR_NVC_NO_MEMORY', 'ERR_NVC_SERVICE_PROTOCOL', 'ERR_NVC_SERVICE_CRASHED'];
      if (fault === 'short') return ['ok', 'ERR_NVC_SERVICE_PROTOCOL', 'ERR_NVC_SYSTEM', ...ldconfig];
      return ['ERR_NVC_SERVICE_CRASHED', 'ERR_NVC_SERVICE_PROTOCOL', 'ERR_NVC_SYSTEM', 'ERR_NVC_NO_MEMORY', ...ldconfig];
    default: {
      if (fault === 'short') return ['ok'];
      // The container's /proc entries: the namespace step fails, naming the errno.
      if (bareName(fn) === 'nvc_pid_open') return ['ERR_NVC_NAMESPACE', 'ERR_NVC_SYSTEM', 'ERR_NVC_NO_MEMORY'];
      const codes = ['ERR_NVC_SYSTEM', 'ERR_NVC_NO_MEMORY', 'ERR_NVC_DRIVER_NOT_FOUND', 'ERR_NVC_LDCACHE_INVALID', 'ERR_NVC_PERMISSION', ...ldconfig];
      return OPTIONAL.has(bareName(fn)) || degrades({ fn, fault }) ? ['ok', ...codes] : codes;
    }
  }
}

// The function of the addon at each site (addr2line; '' where it cannot say).
function functionsOf(sites, addon) {
  const addrs = sites.map((s) => s.site.replace(/^[^+]*\+/, '').replace(/\/.*$/, ''));
  try {
    const out = execFileSync('addr2line', ['-f', '-e', addon, ...addrs], { encoding: 'utf8' }).split('\n');
    return new Map(sites.map((s, i) => [s.site, out[2 * i] === '??' ? '' : out[2 * i]]));
  } catch {
    return new Map();
  }
}

const few = (list) => `${list.slice(0, 3).join(', ')}${list.length > 3 ? ` and ${list.length - 3} more` : ''}`;

// Helper processes of this build still alive anywhere (an orphan is reparented away from
// the Node program): by executable, so that other suites' helpers are not counted.
function helperProcesses(exes) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (exes.includes(fs.readlinkSync(`/proc/${d}/exe`))) out.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

describe('fault injection: every call site of the addon in Node x every fault it can meet', function () {
  this.timeout(900000);
  let dir;
  let shim;
  let host;
  let exes;
  let addonPath;

  before(function () {
    requireFeature(this, 'root', isRoot(), 'configure enters the container mount namespace');
    requireFeature(
      this,
      'fault-shim',
      process.env.NVC_TEST_SANITIZED !== '1',
      'the fault shim works without the sanitizer runtimes in front of it (npm test runs it)',
    );
  });
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-fault-client-'));
    shim = buildShim(dir);
    host = await createSimulatedHost();
    addonPath = path.join(path.dirname(driverServicePath()), 'nvc_ts.node');
    exes = [driverServicePath(), execPath(), ldconfigHelperPath()].map((p) => fs.realpathSync(p));
  });
  after(async () => {
    if (dir === undefined) return;
    await host?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // One session in a Node process of its own, on a fresh container; what it answered and
  // what it left.
  async function runCase(name, env) {
    const log = path.join(dir, `${name}.log`);
    const out = path.join(dir, `${name}.json`);
    fs.rmSync(log, { force: true });
    fs.rmSync(out, { force: true });
    const rootfs = makeRootfs(dir);
    const before = snapshot(rootfs);
    const c = await startContainer({ cgroup: null });
    try {
      const config = { hostOptions: host.options, timeoutMs: 10000, pid: c.pid, rootfs, request: REQUEST, log, out };
      const child = spawn(process.execPath, [PROGRAM, JSON.stringify(config)], {
        env: { ...process.env, LD_PRELOAD: shim, NVC_FAULT_MODULE: 'nvc_ts.node', NVC_FAULT_SITES: '1', NVC_FAULT_LOG: log, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, 60000);
      const [code, signal] = await new Promise((resolve) => child.once('close', (...a) => resolve(a)));
      clearTimeout(timer);
      const result = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : null;
      if (result) result.leakedFds = result.leakedFds.filter((l) => !l.endsWith(` -> ${log}`));
      const mounts = [...mountsUnder(c.pid, rootfs).keys()].sort();
      const changed = JSON.stringify(snapshot(rootfs)) !== JSON.stringify(before);
      return { code, signal, timedOut, stderr, result, mounts, changed, log };
    } finally {
      await c.stop();
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  }

  it('covers the matrix: each fault gives its typed error, or is worked around, and leaves nothing behind', async () => {
    const clean = await runCase('clean', {});
    assert.equal(clean.code, 0, `clean run: ${clean.stderr}`);
    const steps = clean.result.steps;
    for (const [name, s] of Object.entries(steps)) {
      if (name !== 'closed') assert.ok(!s.error, `clean run: ${name}: ${s.error && s.error.stack}`);
    }
    assert.equal(steps.closed.error?.code, 'ERR_NVC_CONTEXT_CLOSED');
    assert.ok(clean.mounts.length > 0, 'the clean run mounted something');
    assert.deepEqual(clean.result.leakedFds, [], 'the clean run left fds open');
    const cleanDriver = steps.driverInfo.value.version;
    const cleanDevices = steps.deviceInfo.value.json;
    const sites = readSites(clean.log);
    for (const call of ['socketpair', 'posix_spawn', 'send', 'recv', 'sys_openat2', 'waitid']) {
      assert.ok(
        sites.some((s) => s.call === call),
        `the addon made no ${call} call the shim saw: ${JSON.stringify(sites)}`,
      );
    }
    const unlisted = sites.filter((s) => FAULTS[s.call] === undefined);
    assert.deepEqual(unlisted, [], 'a call the shim wraps but the matrix does not list');
    const only = process.env.NVC_FAULT_ONLY ? process.env.NVC_FAULT_ONLY.split(',') : null;
    const fns = functionsOf(sites, addonPath);
    const cases = faultCases(
      sites.filter((s) => !only || only.includes(s.call)),
      (call) => FAULTS[call],
      // The sites shared by every helper (spawn, socket, teardown) meet each helper once:
      // with NVC_FAULT_HELPERS=1, each of those calls (about twice the cases).
      { allCallsUpTo: process.env.NVC_FAULT_HELPERS === '1' ? 3 : 1 },
    ).map((c) => ({ ...c, fn: fns.get(c.site) ?? '', label: `${c.label} (${fns.get(c.site) || '?'})` }));

    const failures = [];
    const codes = new Map();
    const check = (c, ran) => {
      const fail = (why) => failures.push(`${c.label}: ${why}`);
      const r = ran.result;
      if (ran.timedOut) return fail('Node hung (killed after 60 s)');
      if (ran.signal || ran.code !== 0 || r === null || r.crash) {
        return fail(`Node crashed: ${ran.signal ?? ran.code} ${r?.crash ?? ''} ${ran.stderr.slice(-2000)}`);
      }
      if (r.metAt === undefined) return fail('the fault was never met');
      const order = ['init', 'driverInfo', 'deviceInfo', 'configure', 'after'];
      const failed = order.find((n) => r.steps[n]?.error);
      const s = failed ? r.steps[failed] : null;
      const outcome = s ? s.error.code : 'ok';
      codes.set(outcome, (codes.get(outcome) ?? 0) + 1);
      if (failed && order.indexOf(failed) < order.indexOf(r.metAt)) fail(`${failed} failed before the fault was met (in ${r.metAt})`);
      const want = allowed(c, r.metAt);
      if (!want.includes(outcome))
        fail(`met in ${r.metAt}; ${failed ?? 'the session'} ended with ${outcome} (${s ? s.error.message : ''}), expected ${want.join(' or ')}`);
      if (s && s.error.name !== 'NvcError') fail(`not an NvcError: ${s.error.stack}`);
      // A system error names the errno that caused it.
      if (
        s &&
        ['ERR_NVC_SYSTEM', 'ERR_NVC_NO_MEMORY', 'ERR_NVC_NAMESPACE'].includes(outcome) &&
        c.env.NVC_FAULT_MODE === 'errno' &&
        s.error.errno !== c.fault
      ) {
        fail(`${outcome} does not carry ${c.fault}: errno ${s.error.errno}, ${s.error.message}`);
      }
      if (r.steps.driverInfo?.value && r.steps.driverInfo.value.version !== cleanDriver) fail('driverInfo differs from the clean run');
      if (r.steps.deviceInfo?.value && r.steps.deviceInfo.value.json !== cleanDevices) fail('deviceInfo differs from the clean run');
      // configure: done as in the clean run, or undone entirely.
      if (r.steps.configure?.value && JSON.stringify(ran.mounts) !== JSON.stringify(clean.mounts)) {
        const extra = ran.mounts.filter((m) => !clean.mounts.includes(m));
        if (!degrades(c) || extra.length) fail(`configure succeeded with other mounts: ${few(ran.mounts)}`);
      }
      // ldconfig runs after the mounts, which stay when it fails (lib/apply.ts): complete,
      // and said so by ERR_NVC_LDCONFIG. Any other failure of configure leaves nothing.
      const configureError = r.steps.configure?.error;
      if (configureError?.code === 'ERR_NVC_LDCONFIG') {
        if (JSON.stringify(ran.mounts) !== JSON.stringify(clean.mounts)) fail(`ldconfig failed over incomplete mounts: ${few(ran.mounts)}`);
      } else if (/may be half configured/.test(configureError?.message ?? '')) {
        // The executor's report was lost: what it did is unknown, and the error says so.
      } else if (!r.steps.configure?.value) {
        if (ran.mounts.length) fail(`mounts left in the container: ${few(ran.mounts)}`);
        if (ran.changed) fail('the container rootfs was changed by a failed configure');
      }
      // After a failure, the next call is answered, or refused as "not running"; a failed
      // configure never costs the service.
      const after = r.steps.after;
      if (after?.error && failed !== 'after') {
        const serviceGone = after.error.code === 'ERR_NVC_CONTEXT_CLOSED' && /not running/.test(after.error.message);
        // A configure that failed on its own helpers never costs the service.
        const ownHelper = failed === 'configure' && !/^ERR_NVC_SERVICE_/.test(outcome);
        if (!serviceGone || ownHelper) fail(`the next call failed with ${after.error.code}: ${after.error.message}`);
      }
      if (after?.value && after.value.version !== cleanDriver) fail('the next call answered differently');
      if (r.steps.shutdown?.error) fail(`shutdown failed: ${r.steps.shutdown.error.code} ${r.steps.shutdown.error.message}`);
      if (r.steps.closed && r.steps.closed.error?.code !== 'ERR_NVC_CONTEXT_CLOSED') fail(`a call after shutdown: ${JSON.stringify(r.steps.closed)}`);
      if (!r.settled) fail(`children left (or not reaped): ${r.children.join(',')}`);
      if (r.leakedFds.length) fail(`fds left open: ${r.leakedFds.join('; ')}`);
      if (process.env.NVC_FAULT_VERBOSE) console.log(`      ${c.label}: met in ${r.metAt}: ${outcome} ${s ? s.error.message : ''}`);
    };

    // A few cases at a time: each is a Node process, a service and a container of its own.
    let next = 0;
    const worker = async (w) => {
      while (next < cases.length) {
        const i = next++;
        const c = cases[i];
        check(c, await runCase(`case${w}`, c.env));
      }
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    const stray = helperProcesses(exes);
    assert.deepEqual(stray, [], 'helper processes left running');
    console.log(`      ${cases.length} cases over ${sites.length} sites; outcomes: ${JSON.stringify([...codes])}`);
    if (failures.length) console.log(failures.map((f) => `      FAILED ${f}`).join('\n'));
    assert.deepEqual(failures, []);
  });
});
