'use strict';
// What a runtime author uses beyond configure(): events (logger option and diagnostics channel),
// plan() -> edit -> applyPlan() checked like any input, and per-call AbortSignal / timeoutMs.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const diagnosticsChannel = require('node:diagnostics_channel');
const { init, NvcError, EVENT_CHANNEL } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { makeRootfs, startContainer, mountsUnder } = require('./support/container');
const { requireFeature, isRoot } = require('./support/features');

const REQUEST = { devices: '0', capabilities: ['compute', 'utility'], noLdconfig: false };

describe('library: events, editable plans, abandoned calls', function () {
  this.timeout(120000);
  let host;
  let containers = [];
  let rootfses = [];

  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces, device nodes and cgroups need root');
    host = await createSimulatedHost();
  });
  after(async () => {
    if (host) await host.cleanup();
  });
  afterEach(async () => {
    for (const c of containers) await c.stop();
    for (const r of rootfses) fs.rmSync(r, { recursive: true, force: true });
    containers = [];
    rootfses = [];
  });

  async function fresh() {
    const c = await startContainer();
    const rootfs = makeRootfs();
    containers.push(c);
    rootfses.push(rootfs);
    return { c, rootfs };
  }

  it('the logger and the diagnostics channel see what was selected, each edit with its outcome, the rules and ldconfig', async () => {
    const logged = [];
    const published = [];
    const onMessage = (m) => published.push(m);
    diagnosticsChannel.subscribe(EVENT_CHANNEL, onMessage);
    const ctx = await init({ ...host.options, logger: (e) => logged.push(e) });
    try {
      const { c, rootfs } = await fresh();
      const container = await ctx.container({ pid: c.pid, rootfs });
      const result = await ctx.configure(container, REQUEST);
      const selected = logged.find((e) => e.kind === 'selected');
      assert.deepEqual(selected.gpus, [{ index: 0, uuid: host.spec.gpus[0].uuid }]);
      assert.deepEqual(selected.capabilities.sort(), ['compute', 'utility']);
      const edits = logged.filter((e) => e.kind === 'edit');
      assert.equal(edits.length, result.plan.edits.length);
      assert.ok(edits.some((e) => e.target === '/dev/nvidia0' && e.outcome === 'done'));
      assert.ok(logged.some((e) => e.kind === 'cgroup' && e.rules.includes('c 195:0 rw')));
      assert.ok(logged.some((e) => e.kind === 'ldconfig' && e.ran === true));
      assert.deepEqual(published, logged, 'the channel carries the same events');
    } finally {
      diagnosticsChannel.unsubscribe(EVENT_CHANNEL, onMessage);
      await ctx.shutdown();
    }
  });

  it('a logger that throws does not break a configure; a refused configure is an event too', async () => {
    const kinds = [];
    const ctx = await init({
      ...host.options,
      logger: (e) => {
        kinds.push(e.kind);
        throw new Error('logger bug');
      },
    });
    try {
      const { c, rootfs } = await fresh();
      const container = await ctx.container({ pid: c.pid, rootfs });
      await ctx.configure(container, { ...REQUEST, noLdconfig: true });
      await assert.rejects(ctx.configure(container, { devices: '9' }), (e) => e.code === 'ERR_NVC_UNKNOWN_DEVICE');
      assert.ok(kinds.includes('edit') && kinds.includes('refused'));
    } finally {
      await ctx.shutdown();
    }
  });

  it('plan() -> drop an edit -> applyPlan(): the rest is applied, the dropped target is not', async () => {
    const ctx = await init(host.options);
    try {
      const { c, rootfs } = await fresh();
      const container = await ctx.container({ pid: c.pid, rootfs });
      const plan = await ctx.plan(container, REQUEST);
      const smi = plan.edits.findIndex((e) => e.target === '/usr/bin/nvidia-smi');
      assert.ok(smi >= 0);
      plan.edits.splice(smi, 1);
      const r = await ctx.applyPlan(container, plan);
      assert.equal(r.applied, true);
      const targets = [...mountsUnder(c.pid, rootfs).keys()];
      assert.ok(targets.includes('/dev/nvidia0'), targets.join('\n'));
      assert.ok(targets.includes('/usr/bin/nvidia-debugdump'), 'the other binaries are there');
      assert.ok(!targets.includes('/usr/bin/nvidia-smi'));
    } finally {
      await ctx.shutdown();
    }
  });

  it('ldconfig waits for the edits: when they fail it never runs, and its helper (started with the executor) is gone', async () => {
    const helpers = () =>
      fs.readdirSync('/proc').filter((p) => {
        try {
          return /^\d+$/.test(p) && fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'nvc-ts-ldconfig';
        } catch {
          return false;
        }
      });
    const ctx = await init(host.options);
    try {
      const { c, rootfs } = await fresh();
      const container = await ctx.container({ pid: c.pid, rootfs });
      const plan = await ctx.plan(container, REQUEST);
      assert.ok(plan.ldconfig !== null, 'the plan runs ldconfig');
      const before = mountsUnder(c.pid, rootfs);
      // The last edit binds a source that is not there: the executor fails there and rolls back.
      plan.edits.push({ ...plan.edits.find((e) => e.kind === 'bind' && e.sourceKind === 'file'), source: `${rootfs}.absent`, target: '/usr/bin/nvc-absent' });
      await assert.rejects(ctx.applyPlan(container, plan), (e) => e instanceof NvcError && e.code !== 'ERR_NVC_LDCONFIG');
      assert.ok(!fs.existsSync(`${rootfs}/etc/ld.so.cache`), 'ldconfig did not run');
      assert.deepEqual([...mountsUnder(c.pid, rootfs).keys()], [...before.keys()], 'the edits were rolled back');
      for (let i = 0; i < 200 && helpers().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(helpers(), [], 'no ldconfig helper is left');
      // The same plan without the bad edit: ldconfig runs after the edits, as before.
      plan.edits.pop();
      const r = await ctx.applyPlan(container, plan);
      assert.equal(r.ldconfig.ran, true);
      assert.ok(fs.existsSync(`${rootfs}/etc/ld.so.cache`));
    } finally {
      await ctx.shutdown();
    }
  });

  it('applyPlan() refuses an edited plan outside the vocabulary, naming the field, and applies nothing', async () => {
    const ctx = await init(host.options);
    try {
      const { c, rootfs } = await fresh();
      const container = await ctx.container({ pid: c.pid, rootfs });
      const plan = await ctx.plan(container, REQUEST);
      const cases = [
        [(p) => (p.edits[0].target = 'relative/path'), /edits\.0\.target/],
        [(p) => (p.edits[0].target = '/usr/../../etc'), /edits\.0\.target/],
        [(p) => p.edits.push({ ...p.edits[0], kind: 'exec' }), /edits\.\d+/],
        [(p) => p.edits.find((e) => e.kind === 'bind').flags.push('suid'), /flags/],
        [(p) => (p.cgroupRules[0].access = 'rwm'), /cgroupRules\.0\.access/],
      ];
      for (const [spoil, field] of cases) {
        const bad = structuredClone(plan);
        spoil(bad);
        await assert.rejects(ctx.applyPlan(container, bad), (e) => e instanceof NvcError && e.code === 'ERR_NVC_INVALID_ARGUMENT' && field.test(e.message));
      }
      assert.equal(mountsUnder(c.pid, rootfs).size, 0, 'nothing was applied');
    } finally {
      await ctx.shutdown();
    }
  });

  it('an aborted signal abandons configure before it changes anything', async () => {
    const ctx = await init(host.options);
    try {
      const { c, rootfs } = await fresh();
      const container = await ctx.container({ pid: c.pid, rootfs });
      const ac = new AbortController();
      ac.abort(new Error('the container start was cancelled'));
      await assert.rejects(ctx.configure(container, REQUEST, { signal: ac.signal }), (e) => e.code === 'ERR_NVC_ABORTED' && /cancelled/.test(e.message));
      assert.equal(mountsUnder(c.pid, rootfs).size, 0);
    } finally {
      await ctx.shutdown();
    }
  });

  it('timeoutMs abandons a slow call at its limit (the service call itself goes on and is dropped)', async () => {
    const slow = await createSimulatedHost({ delays: [{ fn: 'nvmlDeviceGetUUID', ms: 300 }] });
    const ctx = await init(slow.options);
    try {
      const started = Date.now();
      await assert.rejects(ctx.deviceInfo({ timeoutMs: 100 }), (e) => e.code === 'ERR_NVC_ABORTED' && /took longer than 100 ms/.test(e.message));
      assert.ok(Date.now() - started < 3000);
      // The context still serves afterwards.
      assert.equal((await ctx.deviceInfo()).length, slow.spec.gpus.length);
      await assert.rejects(ctx.driverInfo({ timeoutMs: -1 }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && /timeoutMs/.test(e.message));
    } finally {
      await ctx.shutdown();
      await slow.cleanup();
    }
  });
});

describe('library: a second configure of the same container', function () {
  this.timeout(60000);
  it('is refused up front, naming a target already mounted, and changes nothing', async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces need root');
    const host = await createSimulatedHost();
    const ctx = await init(host.options);
    const c = await startContainer();
    const rootfs = makeRootfs();
    try {
      const container = await ctx.container({ pid: c.pid, rootfs });
      await ctx.configure(container, { ...REQUEST, noLdconfig: true });
      const before = mountsUnder(c.pid, rootfs).size;
      await assert.rejects(
        ctx.configure(container, { ...REQUEST, noLdconfig: true }),
        (e) =>
          e instanceof NvcError &&
          e.code === 'ERR_NVC_ALREADY_CONFIGURED' &&
          e.message.includes(`process ${c.pid}`) &&
          / is a mount point there/.test(e.message),
      );
      assert.equal(mountsUnder(c.pid, rootfs).size, before, 'no mount stacked');
    } finally {
      await ctx.shutdown();
      await c.stop();
      fs.rmSync(rootfs, { recursive: true, force: true });
      await host.cleanup();
    }
  });
});
