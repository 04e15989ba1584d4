'use strict';
// Container setup against real mount namespaces on simulated hosts: what ends up mounted (read
// back from the container's mountinfo), what the host sees (nothing), and all-or-nothing failure.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { init, NvcError } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { makeRootfs, startContainer, mountinfo, mountsUnder, snapshot, ldcacheEntries, assertMounts } = require('./support/container');
const { expectedContainer, eglMask } = require('./support/oracle');
const { requireFeature, isRoot } = require('./support/features');
const { cgroupOf } = require('./support/cgroup');

const LIBDIR = '/usr/lib/x86_64-linux-gnu';

/**
 * Configure one container and check it against the oracle: the mounts (sources and flags), the
 * plan's cgroup rules, what the container's own deny-all v1 cgroup now allows, and the files.
 */
async function configureAndCheck(ctx, hostModel, cnt, rootfs, request, want) {
  const ct = await ctx.container({ pid: cnt.pid, rootfs });
  const result = await ctx.configure(ct, { ...request, noLdconfig: true });
  const expected = expectedContainer(hostModel, want);
  assertMounts(assert, cnt.pid, rootfs, expected.mounts);
  const planned = result.plan.cgroupRules.map((r) => `${r.type} ${r.major}:${r.minor} ${r.access}`).sort();
  assert.deepEqual(planned, expected.rules, 'the planned device-cgroup rules');
  if (expected.rules.length > 0) {
    assert.equal(result.cgroupVersion, cnt.cgroup.version, 'the cgroup version applied');
    if (cnt.cgroup.version === 1) assert.deepEqual(cnt.cgroup.allowed(), expected.rules, "the container cgroup's devices.list");
  } else {
    assert.equal(result.cgroupVersion, null, 'no cgroup touched without rules');
    if (cnt.cgroup.version === 1) assert.deepEqual(cnt.cgroup.allowed(), [], 'nothing allowed');
  }
  for (const [file, mode] of expected.files) {
    const st = fs.statSync(path.join('/proc', String(cnt.pid), 'root', rootfs, file));
    assert.equal((st.mode & 0o7777).toString(8), mode.toString(8), `mode of ${file}`);
  }
  assert.equal(mountsUnder('self', rootfs).size, 0, 'nothing mounted in the host namespace');
  return result;
}

describe('configure (mount namespaces, simulated host)', function () {
  let host;
  let ctx;
  let driver;
  let hostModel;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces, device nodes and cgroups need root');
    host = await createSimulatedHost();
    ctx = await init(host.options);
    driver = await ctx.driverInfo();
    hostModel = { spec: host.spec, root: host.root, devRoot: host.devRoot, procRoot: host.procRoot };
  });
  after(async () => {
    if (ctx) await ctx.shutdown();
    if (host) await host.cleanup();
  });

  let rootfs;
  let cnt;
  beforeEach(async () => {
    rootfs = makeRootfs();
    cnt = await startContainer();
  });
  afterEach(async () => {
    await cnt.stop();
    fs.rmSync(rootfs, { recursive: true, force: true });
  });

  it('compute+utility with GPU 0: exactly the expected mounts and flags, nothing on the host', async () => {
    const hostBefore = mountinfo('self').length;
    const c = await ctx.container({ pid: cnt.pid, rootfs });
    assert.equal(c.layout.libsDir, LIBDIR);
    const result = await ctx.configure(c, { devices: '0', capabilities: ['compute', 'utility'] });
    assert.equal(result.applied, true);

    assertMounts(assert, cnt.pid, rootfs, expectedContainer(hostModel, { capabilities: ['compute', 'utility'], gpus: [0] }).mounts);
    const mounts = mountsUnder(cnt.pid, rootfs);
    assert.deepEqual(cnt.cgroup.allowed(), ['c 195:0 rw', 'c 195:255 rw', 'c 238:0 rw', 'c 238:1 rw']);
    assert.equal(result.cgroupVersion, 1);

    // Nothing leaked into the host's namespace, and the rootfs shows only placeholders there.
    assert.equal(mountinfo('self').length, hostBefore);
    assert.equal(mountsUnder('self', rootfs).size, 0);

    const inside = (p) => path.join('/proc', String(cnt.pid), 'root', rootfs, p);
    assert.match(fs.readFileSync(inside('/proc/driver/nvidia/params'), 'utf8'), /^ModifyDeviceFiles: 0$/m);
    assert.doesNotMatch(fs.readFileSync(inside('/proc/driver/nvidia/params'), 'utf8'), /ModifyDeviceFiles: 1/);
    const st = fs.statSync(inside('/dev/nvidia0'));
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, (195 << 8) | 0);
    assert.ok(!fs.existsSync(inside('/dev/nvidia1')));

    // SONAME links resolve before ldconfig; after it the container's cache resolves them too.
    assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libcuda.so.1`)), 'libcuda.so.580.159.04');
    assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libcuda.so`)), 'libcuda.so.1');
    assert.equal(result.ldconfig && result.ldconfig.ran, true, JSON.stringify(result.ldconfig));
    const cache = ldcacheEntries(path.join(rootfs, 'etc/ld.so.cache'));
    assert.equal(cache.get('libcuda.so.1'), `${LIBDIR}/libcuda.so.1`);
    assert.equal(cache.get('libnvidia-ml.so.1'), `${LIBDIR}/libnvidia-ml.so.1`);
    // ...and what they name is the bind-mounted driver file.
    assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libnvidia-ml.so.1`)), 'libnvidia-ml.so.580.159.04');
    assert.ok(mounts.has(`${LIBDIR}/libnvidia-ml.so.580.159.04`));
    assert.equal(fs.readFileSync(inside(`${LIBDIR}/libcuda.so.580.159.04`)).compare(fs.readFileSync(path.join(host.root, LIBDIR, 'libcuda.so.580.159.04'))), 0);
  });

  // Every capability alone, some together, the device selections and every option: each with
  // its exact mounts (sources, flags), rules and files from the oracle.
  const ALL = ['utility', 'compute', 'video', 'graphics', 'ngx'];
  const cases = [
    { title: 'no capabilities: procfs, firmware (always) and nvidiactl only', request: {}, want: {} },
    { title: 'utility', request: { capabilities: ['utility'] }, want: { capabilities: ['utility'] } },
    { title: 'compute', request: { capabilities: ['compute'] }, want: { capabilities: ['compute'] } },
    { title: 'video: video and compute libraries, uvm, no compute binaries', request: { capabilities: ['video'] }, want: { capabilities: ['video'] } },
    {
      title: 'graphics with GPUs 0 and 2: graphics libraries and the application profile (mode 0555, mask of both)',
      request: { capabilities: ['graphics'], devices: '0,2' },
      want: { capabilities: ['graphics'], gpus: [0, 2] },
      check: (inside) =>
        assert.match(fs.readFileSync(inside('/etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf'), 'utf8'), /EGLVisibleDGPUDevices", 0x5\]/),
    },
    { title: 'ngx', request: { capabilities: ['ngx'] }, want: { capabilities: ['ngx'] } },
    {
      title: 'compute and utility with compat32: the 32-bit libraries too',
      request: { capabilities: ['compute', 'utility'], compat32: true },
      want: { capabilities: ['compute', 'utility'], compat32: true },
    },
    {
      title: 'all capabilities but display, all GPUs (and so every MIG device)',
      request: { capabilities: ALL, compat32: true, devices: 'all' },
      want: {
        capabilities: ALL,
        compat32: true,
        gpus: [0, 1, 2],
        migs: [
          [1, 0],
          [1, 1],
        ],
      },
    },
    { title: 'GPU 2 by PCI bus id', request: { devices: '0000:00:08.0' }, want: { gpus: [2] } },
    { title: 'GPU 0 by UUID', request: { devices: 'GPU-4f1c2a9e-7d3b-5e60-a8c1-93b2d4e5f601' }, want: { gpus: [0] } },
    { title: 'a MIG device by index pair: its parent GPU and access caps', request: { devices: '1:0' }, want: { gpus: [1], migs: [[1, 0]] } },
    { title: 'a MIG device by UUID', request: { devices: 'MIG-9f8e7d6c-5b4a-5c3d-8e2f-1a0b9c8d7e6f' }, want: { gpus: [1], migs: [[1, 1]] } },
    {
      title: 'mig-config all: the capabilities, /dev/nvidia-caps, the config minor and every MIG minor of GPU 1',
      request: { devices: 'all', migConfig: 'all' },
      want: {
        gpus: [0, 1, 2],
        migs: [
          [1, 0],
          [1, 1],
        ],
        migConfig: true,
      },
    },
    {
      title: 'mig-monitor all on GPU 1: the monitor minor and its MIG minors',
      request: { devices: '1', migMonitor: 'all' },
      want: { gpus: [1], migMonitor: true },
    },
    {
      title: 'mig-config and mig-monitor together',
      request: { devices: '0,1', migConfig: 'all', migMonitor: 'all' },
      want: { gpus: [0, 1], migConfig: true, migMonitor: true },
    },
    {
      title: 'no-devbind: no device binds, the rules stay',
      request: { devices: '0', capabilities: ['compute'], noDevbind: true },
      want: { gpus: [0], capabilities: ['compute'], noDevbind: true },
    },
    {
      title: 'no-devbind with mig-config: no /dev/nvidia-caps bind',
      request: { devices: '1', migConfig: 'all', noDevbind: true },
      want: { gpus: [1], migConfig: true, noDevbind: true },
    },
    {
      title: 'no-cgroups: every mount, no rule, the cgroup untouched',
      request: { devices: '0,1:1', capabilities: ['compute', 'utility'], noCgroups: true },
      want: { gpus: [0, 1], migs: [[1, 1]], capabilities: ['compute', 'utility'], noCgroups: true },
    },
    {
      title: 'no-persistenced: no persistenced socket',
      request: { capabilities: ['utility'], noPersistenced: true },
      want: { capabilities: ['utility'], noPersistenced: true },
    },
    {
      title: 'no-fabricmanager: no fabricmanager socket',
      request: { capabilities: ['utility'], noFabricmanager: true },
      want: { capabilities: ['utility'], noFabricmanager: true },
    },
    {
      title: 'no-gsp-firmware: no firmware',
      request: { capabilities: ['compute'], noGspFirmware: true },
      want: { capabilities: ['compute'], noGspFirmware: true },
    },
  ];
  for (const c of cases) {
    it(c.title, async () => {
      await configureAndCheck(ctx, hostModel, cnt, rootfs, c.request, c.want);
      if (c.check) c.check((p) => path.join('/proc', String(cnt.pid), 'root', rootfs, p));
    });
  }

  it('a container in a unified (v2) cgroup: the rules go to cgroup v2, not to the runner', async () => {
    const v2 = await startContainer({ cgroup: 2 });
    try {
      assert.equal(cgroupOf(v2.pid, 'devices'), cgroupOf(process.pid, 'devices'));
      assert.notEqual(cgroupOf(v2.pid, ''), cgroupOf(process.pid, ''));
      await configureAndCheck(ctx, hostModel, v2, rootfs, { devices: '2', capabilities: ['compute'] }, { gpus: [2], capabilities: ['compute'] });
    } finally {
      await v2.stop();
    }
  });

  it('IMEX channels: the node is bound with its cgroup rule; a channel the host lacks is refused with a hint', async () => {
    const dir = path.join(host.devRoot, 'nvidia-caps-imex-channels');
    fs.mkdirSync(dir, { recursive: true });
    require('node:child_process').execFileSync('mknod', [path.join(dir, 'channel7'), 'c', '242', '7']);
    try {
      const ct = await ctx.container({ pid: cnt.pid, rootfs });
      const plan = await ctx.plan(ct, { imexChannels: '7', noLdconfig: true });
      assert.ok(plan.cgroupRules.some((r) => r.major === 242 && r.minor === 7));
      await ctx.configure(ct, { imexChannels: '7', noLdconfig: true });
      const m = mountsUnder(cnt.pid, rootfs).get('/dev/nvidia-caps-imex-channels/channel7');
      assert.ok(m && m.options.includes('ro') && m.options.includes('nosuid') && m.options.includes('noexec'));
      const st = fs.statSync(path.join('/proc', String(cnt.pid), 'root', rootfs, '/dev/nvidia-caps-imex-channels/channel7'));
      assert.equal(st.rdev, (242 << 8) | 7);
      await assert.rejects(ctx.configure(ct, { imexChannels: '8', noLdconfig: true }), (e) => {
        assert.equal(e.code, 'ERR_NVC_INVALID_ARGUMENT');
        assert.match(e.message, /IMEX channel 8 was requested but the host has no \/dev\/nvidia-caps-imex-channels\/channel8/);
        assert.match(e.hint, /nvidia-modprobe -i 8/);
        return true;
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('display on a host without nvidia-modeset is refused, naming the module', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const before = snapshot(rootfs);
    await assert.rejects(
      ctx.configure(ct, { capabilities: ['display'] }),
      (e) => e instanceof NvcError && /nvidia_modeset kernel module is not loaded/.test(e.message),
    );
    assert.deepEqual(snapshot(rootfs), before);
    assert.equal(mountsUnder(cnt.pid, rootfs).size, 0);
  });

  it('a failure in the middle leaves the namespace and the rootfs exactly as before', async () => {
    // A directory where a library goes: found only after many edits were applied.
    fs.mkdirSync(path.join(rootfs, LIBDIR.slice(1), 'libnvidia-opticalflow.so.580.159.04'));
    const before = snapshot(rootfs);
    const mountsBefore = mountinfo(cnt.pid).map((m) => m.mountPoint);
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    await assert.rejects(ctx.configure(ct, { devices: 'all', capabilities: ['compute', 'utility', 'video'] }), (e) => {
      assert.ok(e instanceof NvcError, String(e));
      assert.match(e.message, /libnvidia-opticalflow\.so\.580\.159\.04/);
      return true;
    });
    assert.deepEqual(
      mountinfo(cnt.pid).map((m) => m.mountPoint),
      mountsBefore,
    );
    assert.deepEqual(snapshot(rootfs), before);
  });

  it('the step-by-step API (driverMount, deviceMount, MIG access caps, ldcacheUpdate) adds up to a working container', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    await ctx.driverMount(ct, { capabilities: ['compute', 'utility'] });
    let mounts = mountsUnder(cnt.pid, rootfs);
    assert.ok(mounts.has('/proc/driver/nvidia') && mounts.has(`${LIBDIR}/libcuda.so.580.159.04`) && mounts.has('/dev/nvidia-uvm'));
    assert.ok(![...mounts.keys()].some((k) => /^\/dev\/nvidia\d/.test(k)), 'driverMount gives no GPU');
    await ctx.deviceMount(ct, '2');
    await ctx.migDeviceAccessCapsMount(ct, '1:1');
    mounts = mountsUnder(cnt.pid, rootfs);
    for (const p of [
      '/dev/nvidia2',
      '/proc/driver/nvidia/gpus/0000:00:08.0',
      '/proc/driver/nvidia/capabilities/gpu1/mig/gi2/access',
      '/dev/nvidia-caps/nvidia-cap156',
    ]) {
      assert.ok(mounts.has(p), `${p} mounted`);
    }
    assert.ok(!mounts.has('/dev/nvidia1'), 'the MIG step alone does not bind the parent GPU');
    const r = await ctx.ldcacheUpdate(ct);
    assert.equal(r.ran, true, r.warning);
    assert.equal(ldcacheEntries(path.join(rootfs, 'etc/ld.so.cache')).get('libcuda.so.1'), `${LIBDIR}/libcuda.so.1`);
    assert.equal(mountsUnder('self', rootfs).size, 0);
  });

  it('a dry run plans without changing anything', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const before = snapshot(rootfs);
    const r = await ctx.configure(ct, { devices: '0', capabilities: ['compute'], dryRun: true });
    assert.equal(r.applied, false);
    assert.ok(r.plan.edits.some((e) => e.target === '/dev/nvidia0'));
    assert.deepEqual(snapshot(rootfs), before);
    assert.equal(mountsUnder(cnt.pid, rootfs).size, 0);
  });

  it('requirements are checked before anything is changed, naming the device and values', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    await assert.rejects(ctx.configure(ct, { devices: '2', require: ['arch>=8.0'] }), (e) => {
      assert.equal(e.code, 'ERR_NVC_REQUIREMENT_UNSATISFIED');
      assert.match(e.message, /unsatisfied condition: arch>=8\.0/);
      assert.match(e.message, /GPU 2/);
      assert.match(e.message, /7\.5/);
      return true;
    });
    assert.equal(mountsUnder(cnt.pid, rootfs).size, 0);
  });

  it('nvc-ts configure (the CLI) configures a container and refuses bad arguments with exit 2', () => {
    const { spawnSync } = require('node:child_process');
    const cli = path.resolve(__dirname, '../bin/nvc-ts.js');
    const o = host.options;
    const globals = ['--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot];
    const dry = spawnSync(
      process.execPath,
      [cli, ...globals, 'configure', '--pid', String(cnt.pid), '--device=0', '--compute', '--dry-run', '--json', rootfs],
      { encoding: 'utf8' },
    );
    assert.equal(dry.status, 0, dry.stderr);
    const planned = JSON.parse(dry.stdout);
    assert.equal(planned.applied, false);
    assert.ok(planned.plan.edits.some((e) => e.kind === 'bind' && e.target === '/dev/nvidia0'));
    assert.equal(mountsUnder(cnt.pid, rootfs).size, 0);

    const real = spawnSync(
      process.execPath,
      [cli, ...globals, 'configure', '--pid', String(cnt.pid), '--device=0', '--compute', '--utility', '--no-ldconfig', rootfs],
      { encoding: 'utf8' },
    );
    assert.equal(real.status, 0, real.stderr);
    assert.ok(mountsUnder(cnt.pid, rootfs).has('/dev/nvidia0'));
    assert.ok(mountsUnder(cnt.pid, rootfs).has(`${LIBDIR}/libcuda.so.580.159.04`));

    const bad = spawnSync(process.execPath, [cli, ...globals, 'configure', '--pid', String(cnt.pid), 'relative/rootfs'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /ROOTFS must be an absolute path/);
    const badCap = spawnSync(process.execPath, [cli, ...globals, 'configure', '--capabilities', 'compute,gfx', rootfs], { encoding: 'utf8' });
    assert.equal(badCap.status, 2);
    assert.match(badCap.stderr, /unknown capability 'gfx'/);
  });

  it('rejects bad container and request options, naming the field', async () => {
    await assert.rejects(ctx.container({ pid: cnt.pid, rootfs: '/' }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && e.field === 'rootfs');
    await assert.rejects(ctx.container({ pid: -3, rootfs }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && e.field === 'pid');
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    await assert.rejects(ctx.configure(ct, { capabilities: ['computer'] }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && e.field.startsWith('capabilities'));
    await assert.rejects(ctx.configure(ct, { devices: '7' }), (e) => e.code === 'ERR_NVC_UNKNOWN_DEVICE' && /7: unknown device/.test(e.message));
  });
});

/**
 * A host that separates what the code must not confuse: GPU minors that are neither their
 * indices nor contiguous, MIG enabled on the first and third GPUs with the second (MIG
 * disabled) between them, MIG devices on a GPU other than the first, and PCI bus ids that
 * do not follow the index.
 */
function scrambledHostSpec() {
  const gpu = (name, uuid, bus, minor, mig, migDevices) => ({
    name,
    uuid,
    pci: { domain: 0, bus, device: 0 },
    minor,
    brand: 14,
    computeCapability: [9, 0],
    mig,
    ...(migDevices && { migDevices }),
  });
  return {
    gpus: [
      gpu('NVIDIA H200', 'GPU-11111111-aaaa-4bbb-8ccc-000000000004', 0x1a, 4, 'enabled', [
        { uuid: 'MIG-11111111-aaaa-5bbb-8ccc-000000000403', gpuInstance: 3, computeInstance: 0, profile: '3g.71gb' },
      ]),
      gpu('NVIDIA H200', 'GPU-22222222-aaaa-4bbb-8ccc-000000000000', 0x3b, 0, 'disabled'),
      gpu('NVIDIA H200', 'GPU-33333333-aaaa-4bbb-8ccc-000000000009', 0x81, 9, 'enabled', [
        { uuid: 'MIG-33333333-aaaa-5bbb-8ccc-000000000910', gpuInstance: 1, computeInstance: 0, profile: '1g.18gb' },
        { uuid: 'MIG-33333333-aaaa-5bbb-8ccc-000000000951', gpuInstance: 5, computeInstance: 1, profile: '1g.18gb' },
      ]),
      gpu('Tesla T4', 'GPU-44444444-aaaa-4bbb-8ccc-000000000002', 0xc1, 2, 'unsupported'),
    ],
  };
}

describe('configure on a host whose GPU minors are not their indices', function () {
  let host;
  let ctx;
  let hostModel;
  let rootfs;
  let cnt;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces, device nodes and cgroups need root');
    host = await createSimulatedHost(scrambledHostSpec());
    ctx = await init(host.options);
    hostModel = { spec: host.spec, root: host.root, devRoot: host.devRoot, procRoot: host.procRoot };
  });
  after(async () => {
    if (ctx) await ctx.shutdown();
    if (host) await host.cleanup();
  });
  beforeEach(async () => {
    rootfs = makeRootfs();
    cnt = await startContainer();
  });
  afterEach(async () => {
    await cnt.stop();
    fs.rmSync(rootfs, { recursive: true, force: true });
  });

  it('discovery reports each GPU with its own minor, node and capability paths', async () => {
    const devices = await ctx.deviceInfo();
    assert.deepEqual(
      devices.map((d) => [d.index, d.minor, d.deviceNode.path, d.deviceNode.minor, d.busId, d.mig.capsPath]),
      [
        [0, 4, '/dev/nvidia4', 4, '00000000:1a:00.0', '/proc/driver/nvidia/capabilities/gpu4'],
        [1, 0, '/dev/nvidia0', 0, '00000000:3b:00.0', '/proc/driver/nvidia/capabilities/gpu0'],
        [2, 9, '/dev/nvidia9', 9, '00000000:81:00.0', '/proc/driver/nvidia/capabilities/gpu9'],
        [3, 2, '/dev/nvidia2', 2, '00000000:c1:00.0', '/proc/driver/nvidia/capabilities/gpu2'],
      ],
    );
    assert.deepEqual(
      devices[2].mig.devices.map((m) => [m.index, m.giCapsPath, m.giCapMinor, m.ciCapMinor]),
      [
        [0, '/proc/driver/nvidia/capabilities/gpu9/mig/gi1', 3 + 9 * 135 + 9, 3 + 9 * 135 + 9 + 1],
        [1, '/proc/driver/nvidia/capabilities/gpu9/mig/gi5', 3 + 9 * 135 + 45, 3 + 9 * 135 + 45 + 2],
      ],
    );
  });

  const cases = [
    { title: 'GPU 1 is /dev/nvidia0', request: { devices: '1', capabilities: ['compute'] }, want: { gpus: [1], capabilities: ['compute'] } },
    { title: 'GPUs 3 and 0 by index', request: { devices: '3,0' }, want: { gpus: [3, 0] } },
    { title: 'GPU 2 by bus id and GPU 3 by UUID', request: { devices: ['0000:81:00.0', 'GPU-44444444-aaaa-4bbb-8ccc-000000000002'] }, want: { gpus: [2, 3] } },
    {
      title: 'graphics on GPUs 0 and 3: the EGL mask is built from minors 4 and 2',
      request: { devices: '0,3', capabilities: ['graphics'] },
      want: { gpus: [0, 3], capabilities: ['graphics'] },
      check: (inside) => {
        const text = fs.readFileSync(inside('/etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf'), 'utf8');
        assert.ok(text.includes(`"EGLVisibleDGPUDevices", ${eglMask([4, 2])}]`), text);
      },
    },
    { title: 'MIG device 2:1 (on the third GPU): caps of gpu9/gi5/ci1', request: { devices: '2:1' }, want: { gpus: [2], migs: [[2, 1]] } },
    { title: 'MIG device 0:0 by UUID', request: { devices: 'MIG-11111111-aaaa-5bbb-8ccc-000000000403' }, want: { gpus: [0], migs: [[0, 0]] } },
    {
      title: 'mig-config on all GPUs: MIG minors of GPUs 4, 0 and 9 (not of the T4)',
      request: { devices: 'all', migConfig: 'all' },
      want: {
        gpus: [0, 1, 2, 3],
        migs: [
          [0, 0],
          [2, 0],
          [2, 1],
        ],
        migConfig: true,
      },
    },
    {
      title: 'mig-monitor on GPU 2: its minors (gpu9) and the monitor minor',
      request: { devices: '2', migMonitor: 'all' },
      want: { gpus: [2], migMonitor: true },
    },
    {
      title: 'mig-config on the MIG-disabled GPU 1 (minor 0): its minors all the same',
      request: { devices: '1', migConfig: 'all' },
      want: { gpus: [1], migConfig: true },
    },
  ];
  for (const c of cases) {
    it(c.title, async () => {
      await configureAndCheck(ctx, hostModel, cnt, rootfs, c.request, c.want);
      if (c.check) c.check((p) => path.join('/proc', String(cnt.pid), 'root', rootfs, p));
    });
  }

  it('the MIG and IMEX steps of the step-by-step API: global caps once, per-GPU minors as rules only', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const caps = (want) => expectedContainer(hostModel, want).rules.filter((r) => r.startsWith('c 241:'));
    await ctx.migConfigGlobalCapsMount(ct, '2');
    assert.deepEqual([...mountsUnder(cnt.pid, rootfs).keys()].sort(), ['/dev/nvidia-caps', '/proc/driver/nvidia/capabilities']);
    assert.deepEqual(cnt.cgroup.allowed(), caps({ gpus: [2], migConfig: true }));
    // The monitor minors of GPU 0 (minor 4): rules, no second bind of the directories.
    const r = await ctx.deviceMigCapsMount(ct, '0', 'monitor');
    assert.deepEqual(r.plan.edits, []);
    assert.equal(mountsUnder(cnt.pid, rootfs).size, 2);
    assert.deepEqual(cnt.cgroup.allowed(), [...new Set([...caps({ gpus: [2], migConfig: true }), ...caps({ gpus: [0], migMonitor: true })])].sort());
    const dir = path.join(host.devRoot, 'nvidia-caps-imex-channels');
    fs.mkdirSync(dir, { recursive: true });
    require('node:child_process').execFileSync('mknod', [path.join(dir, 'channel3'), 'c', '242', '3']);
    try {
      await ctx.imexChannelMount(ct, '3');
      assert.ok(mountsUnder(cnt.pid, rootfs).has('/dev/nvidia-caps-imex-channels/channel3'));
      assert.ok(cnt.cgroup.allowed().includes('c 242:3 rw'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a container whose process is gone is refused, naming the pid and what to pass', async () => {
    const gone = await startContainer({ cgroup: null });
    const pid = gone.pid;
    await gone.stop();
    await assert.rejects(ctx.container({ pid, rootfs }), (e) => {
      assert.equal(e.code, 'ERR_NVC_INVALID_ARGUMENT');
      assert.equal(e.field, 'pid');
      assert.match(e.message, new RegExp(`container process ${pid} or its rootfs ${rootfs} is not there`));
      assert.match(e.hint, /pid of the container init/);
      return true;
    });
    await assert.rejects(ctx.container({ rootfs: path.join(rootfs, 'absent') }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && e.field === 'rootfs');
  });
});

describe('configure on hosts without the optional driver files', function () {
  const variants = [
    { title: 'no persistenced socket', spec: { persistenced: false } },
    { title: 'no fabricmanager socket', spec: { fabricmanager: false } },
    { title: 'no MPS directory', spec: { mps: false } },
    { title: 'no GSP firmware', spec: { firmware: false } },
    { title: 'none of them, and no 32-bit libraries', spec: { persistenced: false, fabricmanager: false, mps: false, firmware: false, compat32: false } },
  ];
  before(function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces, device nodes and cgroups need root');
  });
  for (const v of variants) {
    it(`${v.title}: the container gets exactly what the host has`, async () => {
      const host = await createSimulatedHost(v.spec);
      const ctx = await init(host.options);
      const rootfs = makeRootfs();
      const cnt = await startContainer();
      try {
        const hostModel = { spec: host.spec, root: host.root, devRoot: host.devRoot, procRoot: host.procRoot };
        const request = { devices: '0', capabilities: ['compute', 'utility', 'video'], compat32: true };
        await configureAndCheck(ctx, hostModel, cnt, rootfs, request, { gpus: [0], capabilities: request.capabilities, compat32: true });
      } finally {
        await cnt.stop();
        fs.rmSync(rootfs, { recursive: true, force: true });
        await ctx.shutdown();
        await host.cleanup();
      }
    });
  }
});
