'use strict';
// Container setup against real mount namespaces on simulated hosts: what ends up mounted (read
// back from the container's mountinfo), what the host sees (nothing), and all-or-nothing failure.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { init, NvcError } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { makeRootfs, startContainer, mountinfo, mountsUnder, snapshot, ldcacheEntries } = require('./support/container');

const LIBDIR = '/usr/lib/x86_64-linux-gnu';

describe('configure (mount namespaces, simulated host)', function () {
  let host;
  let ctx;
  let driver;
  before(async function () {
    if (process.getuid() !== 0) this.skip();
    host = await createSimulatedHost();
    ctx = await init(host.options);
    driver = await ctx.driverInfo();
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

  /**
   * What a container must get, written from the reference's capability table (study §10.2),
   * independently of lib/plan.ts: the exact set of mount points under the rootfs.
   */
  const expectedMounts = (request) => {
    const caps = request.capabilities || [];
    const has = (c) => caps.includes(c);
    const computeLibs = has('compute') || has('video');
    const out = new Set(['/proc/driver/nvidia', '/dev/nvidiactl', ...driver.firmware.map((f) => f.path)]);
    const libWanted = (l) => l.capabilities.some((c) => caps.includes(c)) || (computeLibs && l.capabilities.includes('compute'));
    for (const l of driver.libraries) if (libWanted(l)) out.add(`${LIBDIR}/${path.basename(l.path)}`);
    if (request.compat32) for (const l of driver.libraries32) if (libWanted(l)) out.add(`/usr/lib/i386-linux-gnu/${path.basename(l.path)}`);
    for (const b of driver.binaries) if (b.capabilities.some((c) => caps.includes(c))) out.add(`/usr/bin/${path.basename(b.path)}`);
    if (has('utility')) ['/run/nvidia-persistenced/socket', '/run/nvidia-fabricmanager/socket'].forEach((p) => out.add(p));
    if (computeLibs) ['/tmp/nvidia-mps', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools'].forEach((p) => out.add(p));
    if (has('graphics') || has('display')) out.add('/etc/nvidia/nvidia-application-profiles-rc.d');
    for (const minor of request.gpuMinors || []) {
      out.add(`/dev/nvidia${minor}`);
      out.add(`/proc/driver/nvidia/gpus/0000:00:0${6 + minor}.0`);
    }
    for (const p of request.extra || []) out.add(p);
    if (request.noDevbind) for (const p of [...out]) if (p.startsWith('/dev/')) out.delete(p);
    return [...out].sort();
  };

  const libsOf = (caps) =>
    driver.libraries
      .filter((l) => l.capabilities.some((c) => caps.includes(c)) || (caps.includes('video') && l.capabilities.includes('compute')))
      .map((l) => `${LIBDIR}/${path.basename(l.path)}`);

  it('compute+utility with GPU 0: exactly the expected mounts and flags, nothing on the host', async () => {
    const hostBefore = mountinfo('self').length;
    const c = await ctx.container({ pid: cnt.pid, rootfs });
    assert.equal(c.layout.libsDir, LIBDIR);
    const result = await ctx.configure(c, { devices: '0', capabilities: ['compute', 'utility'] });
    assert.equal(result.applied, true);

    const mounts = mountsUnder(cnt.pid, rootfs);
    const expected = new Set([
      '/proc/driver/nvidia',
      '/proc/driver/nvidia/gpus/0000:00:06.0',
      ...libsOf(['compute', 'utility']),
      '/usr/bin/nvidia-smi', '/usr/bin/nvidia-debugdump', '/usr/bin/nvidia-persistenced', '/usr/bin/nv-fabricmanager',
      '/usr/bin/nvidia-cuda-mps-control', '/usr/bin/nvidia-cuda-mps-server',
      '/lib/firmware/nvidia/580.159.04/gsp_ga10x.bin', '/lib/firmware/nvidia/580.159.04/gsp_tu10x.bin',
      '/run/nvidia-persistenced/socket', '/run/nvidia-fabricmanager/socket', '/tmp/nvidia-mps',
      '/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia0',
    ]);
    assert.deepEqual([...mounts.keys()].sort(), [...expected].sort());
    const has = (p, ...opts) => opts.forEach((o) => assert.ok(mounts.get(p).options.includes(o), `${p} has ${o}: ${mounts.get(p).options}`));
    for (const lib of libsOf(['compute', 'utility'])) has(lib, 'ro', 'nosuid', 'nodev');
    has('/usr/bin/nvidia-smi', 'ro', 'nosuid', 'nodev');
    has('/dev/nvidia0', 'ro', 'nosuid', 'noexec');
    assert.ok(!mounts.get('/dev/nvidia0').options.includes('nodev'));
    has('/proc/driver/nvidia', 'ro', 'nosuid', 'nodev', 'noexec');
    assert.equal(mounts.get('/proc/driver/nvidia').fstype, 'tmpfs');
    has('/run/nvidia-persistenced/socket', 'nosuid', 'nodev', 'noexec');

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

  const migAccess = (gi, capGi, capCi) => [
    `/proc/driver/nvidia/capabilities/gpu1/mig/gi${gi}/access`, `/proc/driver/nvidia/capabilities/gpu1/mig/gi${gi}/ci0/access`,
    `/dev/nvidia-caps/nvidia-cap${capGi}`, `/dev/nvidia-caps/nvidia-cap${capCi}`,
  ];
  // Every capability alone, some together, and the device selections: each with its exact mount set.
  const cases = [
    { title: 'no capabilities: procfs, firmware (always) and nvidiactl only', request: {} },
    { title: 'utility', request: { capabilities: ['utility'] } },
    { title: 'compute', request: { capabilities: ['compute'] } },
    { title: 'video: video and compute libraries, uvm, no compute binaries', request: { capabilities: ['video'] } },
    {
      title: 'graphics with GPUs 0 and 2: graphics libraries and the application profile',
      request: { capabilities: ['graphics'], devices: '0,2' },
      oracle: { gpuMinors: [0, 2] },
      check: (inside) => assert.match(fs.readFileSync(inside('/etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf'), 'utf8'), /EGLVisibleDGPUDevices", 0x5\]/),
    },
    { title: 'ngx', request: { capabilities: ['ngx'] } },
    { title: 'compute and utility with compat32', request: { capabilities: ['compute', 'utility'], compat32: true } },
    {
      title: 'all capabilities but display, all GPUs (and so every MIG device)',
      request: { capabilities: ['utility', 'compute', 'video', 'graphics', 'ngx'], compat32: true, devices: 'all' },
      oracle: { gpuMinors: [0, 1, 2], extra: [...migAccess(1, 147, 148), ...migAccess(2, 156, 157)] },
    },
    { title: 'GPU 2 by PCI bus id', request: { devices: '0000:00:08.0' }, oracle: { gpuMinors: [2] } },
    { title: 'GPU 0 by UUID', request: { devices: 'GPU-4f1c2a9e-7d3b-5e60-a8c1-93b2d4e5f601' }, oracle: { gpuMinors: [0] } },
    { title: 'a MIG device by index pair: its parent GPU and access caps', request: { devices: '1:0' }, oracle: { gpuMinors: [1], extra: migAccess(1, 147, 148) } },
    { title: 'a MIG device by UUID', request: { devices: 'MIG-9f8e7d6c-5b4a-5c3d-8e2f-1a0b9c8d7e6f' }, oracle: { gpuMinors: [1], extra: migAccess(2, 156, 157) } },
    { title: 'mig-config all', request: { devices: 'all', migConfig: 'all' }, oracle: { gpuMinors: [0, 1, 2], extra: ['/proc/driver/nvidia/capabilities', '/dev/nvidia-caps'] } },
    { title: 'no-devbind: no device binds', request: { devices: '0', noDevbind: true }, oracle: { gpuMinors: [0], noDevbind: true } },
  ];
  for (const c of cases) {
    it(c.title, async () => {
      const ct = await ctx.container({ pid: cnt.pid, rootfs });
      await ctx.configure(ct, { ...c.request, noLdconfig: true });
      const mounts = mountsUnder(cnt.pid, rootfs);
      const want = expectedMounts({ ...c.request, ...(c.oracle || {}) });
      assert.deepEqual([...mounts.keys()].sort(), want);
      for (const [p, m] of mounts) {
        // The reference leaves the /dev/nvidia-caps directory writable (nosuid, noexec) for mig-config.
        const must = p === '/dev/nvidia-caps' ? ['nosuid', 'noexec'] : p.startsWith('/dev/') ? ['ro', 'nosuid', 'noexec'] : p.startsWith('/run/') || p === '/tmp/nvidia-mps' ? ['nosuid', 'nodev', 'noexec'] : ['nosuid', 'nodev'];
        for (const o of must) assert.ok(m.options.includes(o), `${p} has ${o}: ${m.options}`);
        if (p.startsWith(LIBDIR) || p.startsWith('/usr/bin/')) assert.ok(m.options.includes('ro'), `${p} is read-only`);
      }
      if (c.check) c.check((p) => path.join('/proc', String(cnt.pid), 'root', rootfs, p));
      assert.equal(mountsUnder('self', rootfs).size, 0);
    });
  }

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
    await assert.rejects(ctx.configure(ct, { capabilities: ['display'] }), (e) => e instanceof NvcError && /nvidia_modeset kernel module is not loaded/.test(e.message));
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
    assert.deepEqual(mountinfo(cnt.pid).map((m) => m.mountPoint), mountsBefore);
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
    for (const p of ['/dev/nvidia2', '/proc/driver/nvidia/gpus/0000:00:08.0', '/proc/driver/nvidia/capabilities/gpu1/mig/gi2/access', '/dev/nvidia-caps/nvidia-cap156']) {
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
    const dry = spawnSync(process.execPath, [cli, ...globals, 'configure', '--pid', String(cnt.pid), '--device=0', '--compute', '--dry-run', '--json', rootfs], { encoding: 'utf8' });
    assert.equal(dry.status, 0, dry.stderr);
    const planned = JSON.parse(dry.stdout);
    assert.equal(planned.applied, false);
    assert.ok(planned.plan.edits.some((e) => e.kind === 'bind' && e.target === '/dev/nvidia0'));
    assert.equal(mountsUnder(cnt.pid, rootfs).size, 0);

    const real = spawnSync(process.execPath, [cli, ...globals, 'configure', '--pid', String(cnt.pid), '--device=0', '--compute', '--utility', '--no-ldconfig', rootfs], { encoding: 'utf8' });
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
