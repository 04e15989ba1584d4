'use strict';
// The planner's stages on a simulated host: host facts read once, a container-independent
// selection of items tagged with role and device, and the lowerings (mount plan, list) that
// consume it. What CDI and copy mode will need from the selection is checked here: per-device
// tags, and roles that tell driver files from MIG access files.
const assert = require('node:assert/strict');
// The stages are public: taken from the package's entry point, as a user would.
const { init, resolveRequest, selectItems, lowerToMountPlan, lowerToListing, hookTargetFromOci } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { requireFeature, isRoot } = require('./support/features');

const REQUEST = {
  capabilities: ['compute', 'utility', 'graphics'],
  compat32: true,
  require: [],
  noPersistenced: false,
  noFabricmanager: false,
  noGspFirmware: false,
};
const DEBIAN = { libsDir: '/usr/lib/x86_64-linux-gnu', libs32Dir: '/usr/lib/i386-linux-gnu', binsDir: '/usr/bin' };
const LIB64 = { libsDir: '/usr/lib64', libs32Dir: '/usr/lib', binsDir: '/usr/bin' };
const OPTIONS = { noCgroups: false, noDevbind: false, ldconfig: null };

describe('planner stages: host facts, selection, lowerings', function () {
  let host;
  let ctx;
  let facts;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'the simulated host makes device nodes with mknod');
    host = await createSimulatedHost();
    ctx = await init(host.options);
    facts = await ctx.hostFacts({ migMinors: true });
  });
  after(async () => {
    if (ctx) await ctx.shutdown();
    if (host) await host.cleanup();
  });

  it('host facts: the paths the driver service resolved, the proc files, GPU directories and mig-minors', () => {
    assert.equal(facts.paths.root, host.root);
    assert.equal(facts.paths.procRoot, host.procRoot);
    assert.equal(facts.devices.length, 3);
    assert.match(facts.procFiles.params, /^ModifyDeviceFiles: 1$/m);
    assert.deepEqual(facts.gpuProcDirs, { '00000000:00:06.0': '0000:00:06.0', '00000000:00:07.0': '0000:00:07.0', '00000000:00:08.0': '0000:00:08.0' });
    // 32 GPU minors x 15 GPU instances x (1 + 8 compute instances)
    assert.equal(facts.migMinors.length, 32 * 15 * 9);
    assert.deepEqual(facts.migMinors[0], { gpuMinor: 0, capMinor: 3 });
    assert.equal(facts.nodeExists('/dev/nvidia1'), true);
    assert.equal(facts.nodeExists('/dev/nvidia7'), false);
  });

  it('items name their device: per-GPU and per-MIG items carry its UUID, driver files none', () => {
    const resolved = resolveRequest(facts, { ...REQUEST, devices: '0,1:1' });
    const { items } = selectItems(facts, resolved);
    const gpu0 = facts.devices[0];
    const gpu1 = facts.devices[1];
    const mig = gpu1.mig.devices[1];
    const byRole = (role) => items.filter((i) => i.role === role);
    assert.deepEqual(
      byRole('gpu-device').map((i) => [i.path, i.device.uuid, i.device.kind]),
      [
        ['/dev/nvidia0', gpu0.uuid, 'gpu'],
        ['/dev/nvidia1', gpu1.uuid, 'gpu'],
      ],
    );
    assert.deepEqual(
      byRole('gpu-procfs').map((i) => i.device.uuid),
      [gpu0.uuid, gpu1.uuid],
    );
    assert.deepEqual(
      byRole('mig-access').map((i) => [i.path, i.device.uuid, i.device.kind, i.device.migIndex]),
      [
        [`${mig.giCapsPath}/access`, mig.uuid, 'mig', mig.index],
        [`${mig.ciCapsPath}/access`, mig.uuid, 'mig', mig.index],
      ],
    );
    assert.deepEqual(
      byRole('mig-cap-device').map((i) => i.node.minor),
      [mig.giCapMinor, mig.ciCapMinor],
    );
    for (const role of ['library', 'library32', 'binary', 'firmware', 'ipc-socket', 'ipc-dir', 'control-device', 'proc-file']) {
      assert.ok(byRole(role).length > 0, `some ${role}`);
      assert.ok(
        byRole(role).every((i) => i.device === null),
        `${role} items are common`,
      );
    }
    // Copy mode takes driver files by role: MIG access files are never among them.
    const driverFiles = items.filter((i) => ['library', 'library32', 'binary', 'firmware'].includes(i.role));
    assert.ok(driverFiles.every((i) => i.hostPath.startsWith(host.root + '/') && !i.path.startsWith('/proc/')));
    assert.equal(byRole('app-profile').length, 1);
    assert.match(byRole('app-profile')[0].data, /EGLVisibleDGPUDevices", 0x3\]/);
  });

  it('the selection is container-independent: two layouts lower it to other targets, the same sources', () => {
    const selection = selectItems(facts, resolveRequest(facts, { ...REQUEST, devices: 'all' }));
    const debian = lowerToMountPlan(selection, DEBIAN, OPTIONS);
    const lib64 = lowerToMountPlan(selection, LIB64, OPTIONS);
    const binds = (plan) => plan.edits.filter((e) => e.kind === 'bind');
    assert.deepEqual(
      binds(debian).map((e) => e.source),
      binds(lib64).map((e) => e.source),
    );
    assert.ok(binds(debian).some((e) => e.target === '/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04'));
    assert.ok(binds(lib64).some((e) => e.target === '/usr/lib64/libcuda.so.580.159.04'));
    assert.ok(
      binds(lib64).some((e) => e.target === '/usr/lib/libcuda.so.580.159.04'),
      '32-bit libraries in /usr/lib',
    );
    assert.deepEqual(debian.cgroupRules, lib64.cgroupRules);
  });

  it('every edit carries its origin: step, role and device, in place of a parallel array', () => {
    const selection = selectItems(facts, resolveRequest(facts, { ...REQUEST, devices: '2,1:0' }));
    const plan = lowerToMountPlan(selection, DEBIAN, OPTIONS);
    const origin = (target) => plan.edits.find((e) => e.target === target).origin;
    assert.deepEqual(origin('/dev/nvidia2'), { step: 'device', role: 'gpu-device', device: facts.devices[2].uuid });
    assert.deepEqual(origin('/proc/driver/nvidia/gpus/0000:00:08.0'), { step: 'device', role: 'gpu-procfs', device: facts.devices[2].uuid });
    assert.deepEqual(origin('/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04'), { step: 'driver', role: 'library', device: null });
    assert.deepEqual(origin('/usr/lib/x86_64-linux-gnu/libcuda.so.1'), { step: 'driver', role: 'library', device: null });
    assert.deepEqual(origin('/usr/lib/i386-linux-gnu/libcuda.so'), { step: 'driver', role: 'library32', device: null });
    const mig = facts.devices[1].mig.devices[0];
    assert.deepEqual(origin(`${mig.giCapsPath}/access`), { step: 'mig-access', role: 'mig-access', device: mig.uuid });
    const last = plan.edits[plan.edits.length - 1];
    assert.deepEqual([last.kind, last.origin.step], ['remount', 'seal']);
    assert.ok(!('steps' in plan));
  });

  it('the list lowering prints the same selection for every capability', () => {
    const selection = selectItems(
      facts,
      resolveRequest(facts, { ...REQUEST, capabilities: ['utility', 'compute', 'video', 'graphics', 'display', 'ngx'], devices: '1' }),
    );
    const entries = lowerToListing(selection, { devices: true, imexChannels: false, binaries: false, libraries: false, ipcs: false, firmwares: false });
    assert.deepEqual(
      entries.map((e) => e.path),
      ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia-modeset', '/dev/nvidia1'],
    );
  });
});

describe('hook semantics in the library', () => {
  const state = { ociVersion: '1.0.2', id: 'c1', status: 'created', pid: 4242, bundle: '/run/bundles/c1' };
  it('a GPU container: its pid, its rootfs against the bundle, the request its environment asks for', () => {
    const config = {
      root: { path: 'rootfs' },
      process: { env: ['PATH=/bin', 'NVIDIA_VISIBLE_DEVICES=0,1', 'NVIDIA_DRIVER_CAPABILITIES=compute,compat32', 'NVIDIA_REQUIRE_CUDA=cuda>=12.0'] },
    };
    assert.deepEqual(hookTargetFromOci(state, config, { noCgroups: true }), {
      pid: 4242,
      rootfs: '/run/bundles/c1/rootfs',
      request: { devices: '0,1', capabilities: ['compute'], compat32: true, require: ['cuda>=12.0'], noCgroups: true },
    });
  });
  it('an absolute root path is kept; a container without NVIDIA_VISIBLE_DEVICES gets null', () => {
    const gpu = hookTargetFromOci(state, { root: { path: '/srv/rootfs' }, process: { env: ['NVIDIA_VISIBLE_DEVICES=all'] } });
    assert.equal(gpu.rootfs, '/srv/rootfs');
    assert.equal(gpu.request.devices, 'all');
    assert.equal(gpu.request.noCgroups, false);
    assert.equal(hookTargetFromOci(state, { process: { env: ['PATH=/bin'] } }), null);
  });
});
