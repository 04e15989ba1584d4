'use strict';
// Fault injection in the driver service (issue 11): a session (init, driverInfo, deviceInfo,
// shutdown) runs once with the service under the fault shim recording every call site of
// its own code (native/fault/fault.c, through a wrapper named by NVC_TS_DRIVER), then once
// per site and per fault that call can meet: an errno, or for the sends of protocol records
// a short record, a record with a corrupt header, a service that dies mid-record, a service
// that hangs. A record's frame type is part of its site, so that each protocol step (READY,
// each CALLING notice, each reply) is a site of its own. The client side in Node is real.
// Each case must: meet its fault (the shim marks it), end the step under way with the typed
// error this fault calls for (or be worked around, with the clean run's answers), leave a
// context that answers its next call or says clearly that its service is gone, never hang
// Node, and leave no child, zombie or service process behind, nor any fd open in Node.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { init, NvcError } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { driverServicePath } = require('../dist/native.js');
const { childrenOf, openFds, waitFor } = require('./support/proc');
const { buildShim, readSites, faultCases } = require('./support/fault');
const { requireFeature, isRoot } = require('./support/features');

// What each call of the service can meet. Sends and receives are on the socketpair to the
// client; the rest is start-up (loading NVML, the pid namespace, confinement).
const FAULTS = {
  send: ['EPIPE', 'ECONNRESET', 'ENOMEM', 'ENOBUFS', 'EINTR', 'short', 'die', 'garbage', 'hang'],
  recv: ['ECONNRESET', 'ENOMEM', 'EINTR', 'hang'],
  dlopen: ['fail'],
  fork: ['EAGAIN', 'ENOMEM'],
  unshare: ['EPERM', 'ENOMEM', 'EINVAL'],
  sys_pidfd_open: ['EMFILE', 'ENOSYS'],
  prctl: ['EPERM', 'EINVAL'],
  chroot: ['EPERM', 'EACCES', 'ENOENT', 'ENOMEM'],
  chdir: ['EACCES', 'ENOMEM'],
  setgroups: ['EPERM', 'ENOMEM'],
  setresgid: ['EPERM', 'ENOMEM'],
  setresuid: ['EPERM', 'EAGAIN', 'ENOMEM'],
  close: ['EINTR', 'EIO'],
  open: ['EMFILE', 'ENFILE'], // /dev/null for stdio
  fcntl: ['EBADF'], // close-on-exec on the service socket
  poll: ['EINTR', 'ENOMEM'], // the namespace init's wait for the service's end
};

// The codes a fault may end a step with; 'ok': it is worked around (the answers are the clean
// run's). A fault met during shutdown ends nothing: a stop reports only nvmlShutdown's error.
function allowed({ call, site, fault }) {
  if (fault === 'EINTR') return ['ok']; // retried
  // A CALLING notice is advisory (driver/nvml_ops.c): a lost one costs only the name of the
  // NVML call in a later crash report, and the service goes on.
  if (call === 'send' && site.endsWith('/type2') && !['hang', 'die'].includes(fault)) {
    return ['ok', ...(fault === 'short' || fault === 'garbage' ? ['ERR_NVC_SERVICE_PROTOCOL'] : ['ERR_NVC_SERVICE_CRASHED'])];
  }
  if (fault === 'hang') return ['ERR_NVC_SERVICE_TIMEOUT'];
  if (fault === 'short' || fault === 'garbage') return ['ERR_NVC_SERVICE_PROTOCOL'];
  if (fault === 'die') return ['ERR_NVC_SERVICE_PROTOCOL', 'ERR_NVC_SERVICE_CRASHED'];
  switch (call) {
    case 'send':
    case 'recv':
      return ['ERR_NVC_SERVICE_CRASHED']; // the service can no longer talk: it exits
    case 'dlopen':
      return ['ERR_NVC_NVML_LOAD_FAILED'];
    case 'fork':
    case 'unshare':
    case 'sys_pidfd_open':
    case 'close':
    case 'open': // stdio to /dev/null: without it, stdio stays the client's /dev/null
    case 'poll': // the namespace init polls again a second later
      return ['ok'];
    case 'fcntl': // set-up fails before the service can say why: its exit status is the report
      return ['ERR_NVC_SERVICE_CRASHED', 'ERR_NVC_SERVICE_START']; // the pid namespace is a second line of defence (driver/main.c)
    case 'prctl':
    case 'chdir':
      return ['ok', 'ERR_NVC_SERVICE_START']; // the namespace init's own calls, or confinement's
    default:
      return ['ERR_NVC_SERVICE_START'];
  }
}

// Service processes of this build still around (the wrapper execs the real binary; its
// pid-namespace init is a fork of it): by executable, so that other suites' services on
// this machine are not counted.
function serviceProcesses(real) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readlinkSync(`/proc/${d}/exe`) === real) out.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

describe('fault injection: every driver-service call site x every fault it can meet', function () {
  this.timeout(600000);
  let dir;
  let shim;
  let host;
  let real;
  let saved;

  before(async function () {
    requireFeature(this, 'root', isRoot(), "the matrix is the service's path as root (its own pid namespace and chroot)");
    requireFeature(
      this,
      'fault-shim',
      process.env.NVC_TEST_SANITIZED !== '1',
      'the fault shim works without the sanitizer runtimes in front of it (npm test runs it)',
    );
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-fault-svc-'));
    shim = buildShim(dir);
    saved = process.env.NVC_TS_DRIVER;
    real = fs.realpathSync(driverServicePath());
    host = await createSimulatedHost();
  });
  after(async () => {
    if (dir === undefined) return; // skipped before anything was set up
    if (saved === undefined) delete process.env.NVC_TS_DRIVER;
    else process.env.NVC_TS_DRIVER = saved;
    await host?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function useWrapper(env) {
    const file = path.join(dir, 'driver.sh');
    const vars = Object.entries({ NVC_FAULT_MODULE: 'exe', NVC_FAULT_SITES: '1', ...env })
      .map(([k, v]) => `${k}='${v}'`)
      .join(' ');
    fs.writeFileSync(file, `#!/bin/sh\nexec env LD_PRELOAD='${shim}' ${vars} '${real}' "$@"\n`, { mode: 0o755 });
    process.env.NVC_TS_DRIVER = file;
  }

  // One session; each step's answer or error, and the step during which the fault was met.
  async function session(log, timeoutMs) {
    const fired = () => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('!fault ');
    const steps = {};
    let metAt = null;
    let ctx = null;
    const step = async (name, fn) => {
      try {
        steps[name] = { value: await fn() };
      } catch (e) {
        steps[name] = { error: e };
      }
      if (metAt === null && fired()) metAt = name;
      return steps[name];
    };
    const started = await step('init', async () => (ctx = await init({ ...host.options, timeoutMs })));
    if (started.error) return { steps, metAt, ctx: null };
    await step('driverInfo', () => ctx.driverInfo());
    await step('deviceInfo', () => ctx.deviceInfo());
    // The next call after a failure: answered, or a clear "not running".
    await step('after', () => ctx.driverInfo());
    await step('shutdown', () => ctx.shutdown());
    return { steps, metAt, ctx };
  }

  it('covers the matrix: each fault gives its typed error, or is worked around, and leaves nothing behind', async () => {
    const countLog = path.join(dir, 'count.log');
    useWrapper({ NVC_FAULT_LOG: countLog });
    const clean = await session(countLog, 10000);
    for (const [name, s] of Object.entries(clean.steps)) assert.ok(!s.error, `clean run: ${name}: ${s.error && s.error.stack}`);
    const cleanDriver = clean.steps.driverInfo.value.version;
    const cleanDevices = JSON.stringify(clean.steps.deviceInfo.value);
    const sites = readSites(countLog);
    for (const call of ['send', 'recv', 'dlopen', 'chroot', 'fork']) {
      assert.ok(
        sites.some((s) => s.call === call),
        `the service made no ${call} call the shim saw: ${JSON.stringify(sites)}`,
      );
    }
    const unlisted = sites.filter((s) => FAULTS[s.call] === undefined);
    assert.deepEqual(unlisted, [], 'a call the shim wraps but the matrix does not list');
    const cases = faultCases(sites, (call) => FAULTS[call]);

    const failures = [];
    const codes = new Map();
    const fdsBefore = openFds().length;
    for (const c of cases) {
      const log = path.join(dir, 'case.log');
      let steps;
      let metAt;
      let settled;
      // The pid-namespace init is a fork that runs on its own time: its calls may come after
      // the session (then nothing may have failed), or not at all when the service ends
      // first (the case is run again, three times at most).
      for (let attempt = 0; attempt < 3; attempt++) {
        fs.rmSync(log, { force: true });
        useWrapper({ ...c.env, NVC_FAULT_LOG: log });
        const ran = await session(log, c.fault === 'hang' ? 500 : 10000);
        steps = ran.steps;
        metAt = ran.metAt;
        settled = await waitFor(() => childrenOf(process.pid).length === 0 && serviceProcesses(real).length === 0, 3000);
        if (metAt === null && fs.readFileSync(log, 'utf8').includes('!fault ')) metAt = 'shutdown';
        if (metAt !== null || !settled) break;
      }
      const fail = (why) => failures.push(`${c.label}: ${why}`);
      if (metAt === null) {
        fail('the fault was never met (the site was not reached again)');
      } else {
        // The first step that failed (a fault in the service's receive is met as soon as it
        // waits, and shows at the next request); none before the fault was met.
        const order = ['init', 'driverInfo', 'deviceInfo', 'after'];
        const failed = order.find((n) => steps[n]?.error);
        const s = failed ? steps[failed] : null;
        const outcome = s ? s.error.code : 'ok';
        codes.set(outcome, (codes.get(outcome) ?? 0) + 1);
        const want = metAt === 'shutdown' ? ['ok'] : allowed(c);
        if (failed && order.indexOf(failed) < order.indexOf(metAt)) fail(`${failed} failed before the fault was met`);
        if (!want.includes(outcome)) fail(`${failed ?? 'the session'} ended with ${outcome} (${s ? s.error.message : ''}), expected ${want.join(' or ')}`);
        if (s && !(s.error instanceof NvcError)) fail(`not an NvcError: ${s.error.stack}`);
        if (s && s.error.code === 'ERR_NVC_SERVICE_START' && c.env.NVC_FAULT_MODE === 'errno' && s.error.errno !== c.fault) {
          fail(`SERVICE_START does not carry ${c.fault}: errno ${s.error.errno}, ${s.error.message}`);
        }
        // Every answer given is the clean run's; after a failure, the next call is answered
        // or refused as "not running", never left hanging or garbled.
        if (steps.driverInfo?.value && steps.driverInfo.value.version !== cleanDriver) fail('driverInfo differs from the clean run');
        if (steps.deviceInfo?.value && JSON.stringify(steps.deviceInfo.value) !== cleanDevices) fail('deviceInfo differs from the clean run');
        const after = steps.after;
        if (failed !== 'after' && after?.error && !(after.error.code === 'ERR_NVC_CONTEXT_CLOSED' && /not running/.test(after.error.message))) {
          fail(`the next call failed with ${after.error.code}: ${after.error.message}`);
        }
        if (after?.value && after.value.version !== cleanDriver) fail('the next call answered differently');
        if (steps.shutdown?.error) fail(`shutdown failed: ${steps.shutdown.error.code} ${steps.shutdown.error.message}`);
      }
      if (!settled) {
        fail(`left behind: children ${childrenOf(process.pid).join(',')}, service processes ${serviceProcesses(real).join(',')}`);
      }
      if (process.env.NVC_FAULT_VERBOSE) console.log(`      ${c.label}: met in ${metAt}: ${steps[metAt]?.error?.code ?? 'ok'}`);
    }
    assert.equal(openFds().length, fdsBefore, 'fds open in Node');
    // A fresh context works after all of it.
    useWrapper({});
    const ctx = await init(host.options);
    assert.equal((await ctx.driverInfo()).version, cleanDriver);
    await ctx.shutdown();
    console.log(`      ${cases.length} cases over ${sites.length} sites; outcomes: ${JSON.stringify([...codes])}`);
    assert.deepEqual(failures, []);
  });
});
