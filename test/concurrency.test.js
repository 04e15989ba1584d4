'use strict';
// Waiting for a helper process must not hold a libuv pool thread. Eight configures whose
// executors are held up, and eight ldconfig runs whose helpers are held up, outnumber the
// four pool threads twice over; a deviceInfo() and an fs.promises.readFile issued meanwhile
// must still complete before any of them. The helpers are held by a gate (a file the test
// creates), not by time: the assertions are about order only.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { init } = require('../dist/index.js');
const { execPath, ldconfigHelperPath, binding } = require('../dist/native.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { makeRootfs, startContainer } = require('./support/container');
const { waitFor, alive, childrenOf } = require('./support/proc');
const { requireFeature, isRoot } = require('./support/features');

const N = 8; // twice the default UV_THREADPOOL_SIZE
const POOL = 4; // libuv's default UV_THREADPOOL_SIZE (the tests leave it unset)

/**
 * A stand-in for a helper executable: it records that it started, waits until the gate file
 * exists, then execs the real helper with the same arguments and fd 3. Helpers run with an
 * empty environment, hence the absolute paths.
 */
function gatedHelper(dir, name, real) {
  const script = path.join(dir, name);
  fs.writeFileSync(script, `#!/bin/sh\n: > '${dir}/started.'$$\nwhile [ ! -e '${dir}/gate' ]; do /bin/sleep 0.02; done\nexec '${real}' "$@"\n`, {
    mode: 0o755,
  });
  return script;
}

function startedCount(dir) {
  return fs.readdirSync(dir).filter((f) => f.startsWith('started.')).length;
}

describe('helper waits do not hold libuv pool threads', function () {
  let host;
  let ctx;
  let dir;
  const saved = {};
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces and the confined ldconfig need root');
    host = await createSimulatedHost();
    ctx = await init(host.options);
  });
  after(async () => {
    if (ctx) await ctx.shutdown();
    if (host) await host.cleanup();
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-gate-'));
    for (const k of ['NVC_TS_EXEC', 'NVC_TS_LDCONFIG']) saved[k] = process.env[k];
  });
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Starts the held-up calls, waits (with synchronous reads only: fs.promises is what is under
   * test) until every gated helper runs, then races deviceInfo() and a readFile against them.
   * Returns the order in which everything settled.
   */
  async function race(startHeld) {
    const order = [];
    const held = [];
    for (let i = 0; i < N; i++) {
      held.push(
        startHeld(i).then(
          (v) => (order.push('held'), v),
          (e) => (order.push('held'), Promise.reject(e)),
        ),
      );
    }
    // A liveness backstop only (no assertion depends on it): where the waits do hold pool
    // threads, nothing else can run until the helpers go on, so let them go on eventually
    // for the test to fail on the order rather than hang.
    const backstop = setTimeout(() => fs.writeFileSync(path.join(dir, 'gate'), ''), 20000);
    try {
      // Where waits hold pool threads only four ever start; go on regardless, for the order
      // below to tell.
      await waitFor(() => startedCount(dir) === N, 10000, 10);
      const probe = path.join(dir, 'probe');
      fs.writeFileSync(probe, 'still responsive');
      const quick = [ctx.deviceInfo().then((d) => (order.push('deviceInfo'), d)), fs.promises.readFile(probe, 'utf8').then((t) => (order.push('readFile'), t))];
      const [devices, text] = await Promise.all(quick);
      assert.ok(devices.length > 0);
      assert.equal(text, 'still responsive');
      assert.deepEqual(
        order,
        order.filter((e) => e !== 'held'),
        `nothing held up settled first: ${order.join(', ')}`,
      );
      fs.writeFileSync(path.join(dir, 'gate'), '');
      const results = await Promise.all(held);
      assert.deepEqual(order.slice(2), Array(N).fill('held'));
      return results;
    } finally {
      clearTimeout(backstop);
      fs.writeFileSync(path.join(dir, 'gate'), '');
      await Promise.allSettled(held);
    }
  }

  it('8 configures held in the executor: deviceInfo and fs.promises complete first', async () => {
    process.env.NVC_TS_EXEC = gatedHelper(dir, 'exec', execPath());
    const cnts = [];
    const rootfses = [];
    try {
      for (let i = 0; i < N; i++) {
        cnts.push(await startContainer());
        rootfses.push(makeRootfs());
      }
      const results = await race(async (i) => {
        const ct = await ctx.container({ pid: cnts[i].pid, rootfs: rootfses[i] });
        return ctx.configure(ct, { devices: '0', capabilities: ['utility'], noLdconfig: true });
      });
      for (const r of results) assert.equal(r.applied, true);
    } finally {
      for (const c of cnts) await c.stop();
      for (const r of rootfses) fs.rmSync(r, { recursive: true, force: true });
    }
  });

  it('8 ldconfig runs held in their helper: deviceInfo and fs.promises complete first', async () => {
    const helper = gatedHelper(dir, 'ldconfig', ldconfigHelperPath());
    const rootfses = [];
    try {
      for (let i = 0; i < N; i++) rootfses.push(makeRootfs());
      const results = await race((i) =>
        binding().ldconfig({ helperPath: helper, pid: 0, rootfs: rootfses[i], ldconfig: '/sbin/ldconfig', dirs: [], uid: 0, gid: 0, timeoutMs: 0 }),
      );
      // The rootfs has no ldconfig of its own: a warning, not an error, once the helper ran.
      for (const r of results) assert.equal(r.ran, false);
    } finally {
      for (const r of rootfses) fs.rmSync(r, { recursive: true, force: true });
    }
  });
});

// The driver service answers on a socket watched by the event loop, so a service stuck in NVML
// holds no pool thread either. More contexts than pool threads have deviceInfo() in flight while
// their services hang in nvmlDeviceGetCount; a deviceInfo() on a healthy context and an
// fs.promises.readFile issued meanwhile must settle before any of them, and the stuck calls then
// end in the typed timeout with their services killed and reaped. No assertion depends on time:
// the timeout only has to be longer than the quick calls take.
describe('driver-service waits do not hold libuv pool threads', function () {
  const HUNG = POOL + 2;
  const TIMEOUT_MS = 6000;
  let healthy;
  let stuck;
  let dir;
  before(async () => {
    healthy = await createSimulatedHost();
    stuck = await createSimulatedHost({ faults: [{ fn: 'nvmlDeviceGetCount_v2', kind: 'hang' }] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-probe-'));
  });
  after(async () => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (stuck) await stuck.cleanup();
    if (healthy) await healthy.cleanup();
  });

  it(`${HUNG} deviceInfo() calls stuck in NVML: a healthy deviceInfo and fs.promises settle first`, async () => {
    const ctx = await init(healthy.options);
    const hung = [];
    try {
      for (let i = 0; i < HUNG; i++) hung.push(await init({ ...stuck.options, timeoutMs: TIMEOUT_MS }));
      const pids = hung.map((c) => c.servicePid);
      const probe = path.join(dir, 'probe');
      fs.writeFileSync(probe, 'still responsive');

      const order = [];
      const held = hung.map((c) =>
        c.deviceInfo().then(
          () => order.push('held'),
          (e) => (order.push('held'), e),
        ),
      );
      const quick = [ctx.deviceInfo().then((d) => (order.push('deviceInfo'), d)), fs.promises.readFile(probe, 'utf8').then((t) => (order.push('readFile'), t))];
      const [devices, text] = await Promise.all(quick);
      assert.equal(devices.length, healthy.spec.gpus.length);
      assert.equal(text, 'still responsive');
      assert.deepEqual(order.slice(0, 2).sort(), ['deviceInfo', 'readFile'], `nothing stuck settled first: ${order.join(', ')}`);

      const errors = await Promise.all(held);
      assert.deepEqual(order.slice(2), Array(HUNG).fill('held'));
      for (const e of errors) {
        assert.ok(e instanceof Error, 'a stuck call fails');
        assert.equal(e.code, 'ERR_NVC_SERVICE_TIMEOUT', e.message);
        assert.match(e.message, new RegExp(`within ${TIMEOUT_MS} ms \\(stuck in nvmlDeviceGetCount_v2\\)`));
      }
      // Each stuck service was killed and reaped (not left a zombie), and only those.
      for (const c of hung) assert.equal(c.servicePid, null);
      for (const pid of pids) assert.ok(!alive(pid), `service ${pid} is gone`);
      assert.deepEqual(childrenOf(process.pid), [ctx.servicePid]);
      assert.equal((await ctx.driverInfo()).version, healthy.spec.driverVersion, 'the healthy context still answers');
    } finally {
      await Promise.allSettled(hung.map((c) => c.shutdown()));
      await ctx.shutdown();
    }
    assert.deepEqual(childrenOf(process.pid), [], 'no service left running');
  });
});
