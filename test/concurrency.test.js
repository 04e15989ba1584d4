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
const { waitFor } = require('./support/proc');
const { requireFeature, isRoot } = require('./support/features');

const N = 8; // twice the default UV_THREADPOOL_SIZE

/**
 * A stand-in for a helper executable: it records that it started, waits until the gate file
 * exists, then execs the real helper with the same arguments and fd 3. Helpers run with an
 * empty environment, hence the absolute paths.
 */
function gatedHelper(dir, name, real) {
  const script = path.join(dir, name);
  fs.writeFileSync(
    script,
    `#!/bin/sh\n: > '${dir}/started.'$$\nwhile [ ! -e '${dir}/gate' ]; do /bin/sleep 0.02; done\nexec '${real}' "$@"\n`,
    { mode: 0o755 },
  );
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
      const quick = [
        ctx.deviceInfo().then((d) => (order.push('deviceInfo'), d)),
        fs.promises.readFile(probe, 'utf8').then((t) => (order.push('readFile'), t)),
      ];
      const [devices, text] = await Promise.all(quick);
      assert.ok(devices.length > 0);
      assert.equal(text, 'still responsive');
      assert.deepEqual(order, order.filter((e) => e !== 'held'), `nothing held up settled first: ${order.join(', ')}`);
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
