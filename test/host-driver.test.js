'use strict';
// The host-driver pieces the reference leaves out, against real mount namespaces on simulated
// hosts: each GPU's DRM nodes (/dev/dri) with their by-path links and cgroup rules, the loaders'
// vendor files (rewritten where they name a host path), and driver binaries that are real ELF
// executables when wrapper scripts come first on PATH.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { init, NvcError, resolveRequest, selectItems } = require('../dist/index.js');
const { createSimulatedHost, defaultSimulatedHostSpec } = require('../dist/testing/index.js');
const { makeRootfs, startContainer, mountsUnder, assertMounts, snapshot } = require('./support/container');
const { expectedContainer, LIBDIR } = require('./support/oracle');
const { requireFeature, isRoot } = require('./support/features');

const CLI = path.resolve(__dirname, '../bin/nvc-ts.js');
/** The PATH runc gives hooks: no driver tree in it. */
const HOOK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** Three GPUs whose DRM numbers follow neither their index nor their minor. */
function drmHostSpec() {
  const spec = defaultSimulatedHostSpec();
  const numbers = [
    { card: 2, render: 130 },
    { card: 0, render: 128 },
    { card: 1, render: 129 },
  ];
  spec.gpus.forEach((g, i) => (g.drm = numbers[i]));
  return { gpus: spec.gpus, nvidiaDrm: true };
}

function hostModel(host) {
  return { spec: host.spec, root: host.root, devRoot: host.devRoot, procRoot: host.procRoot };
}

/** configure, then the oracle's mounts, the planned rules and what the container's v1 cgroup allows. */
async function configureAndCheck(ctx, host, cnt, rootfs, request, want) {
  const ct = await ctx.container({ pid: cnt.pid, rootfs });
  const result = await ctx.configure(ct, { ...request, noLdconfig: true });
  const expected = expectedContainer(hostModel(host), want);
  assertMounts(assert, cnt.pid, rootfs, expected.mounts);
  const planned = result.plan.cgroupRules.map((r) => `${r.type} ${r.major}:${r.minor} ${r.access}`).sort();
  assert.deepEqual(planned, expected.rules, 'the planned device-cgroup rules');
  if (cnt.cgroup.version === 1) assert.deepEqual(cnt.cgroup.allowed(), expected.rules, "the container cgroup's devices.list");
  return result;
}

function cli(host, args, env = process.env) {
  const o = host.options;
  const globals = ['--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot];
  const r = spawnSync(process.execPath, [CLI, ...globals, ...args], { encoding: 'utf8', env });
  assert.equal(r.status, 0, `nvc-ts ${args.join(' ')}: ${r.stderr}`);
  return r;
}

describe('host driver: DRM nodes of the selected GPUs (nvidia-drm loaded)', function () {
  let host;
  let ctx;
  let rootfs;
  let cnt;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces, device nodes and cgroups need root');
    host = await createSimulatedHost(drmHostSpec());
    ctx = await init(host.options);
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
  const inside = (p) => path.join('/proc', String(cnt.pid), 'root', rootfs, p);

  it('a simulated host refuses DRM numbers outside the DRM ranges or used twice, naming the field', async () => {
    const spec = drmHostSpec();
    spec.gpus[1].drm = { card: 2, render: 128 };
    await assert.rejects(createSimulatedHost(spec), /gpus\[1\]\.drm\.card.*DRM minor 2 used twice/);
    spec.gpus[1].drm = { card: 0, render: 12 };
    await assert.rejects(createSimulatedHost(spec), /gpus\[1\]\.drm\.render.*\[128, 191\]/);
  });

  it('the simulated host has the nodes, their sysfs entries and the module directory', () => {
    const st = fs.statSync(path.join(host.devRoot, 'dri/renderD129'));
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, (226 << 8) | 129);
    assert.equal(fs.readFileSync(path.join(host.sysRoot, 'bus/pci/devices/0000:00:08.0/drm/card1/dev'), 'utf8'), '226:1\n');
    assert.ok(fs.statSync(path.join(host.sysRoot, 'module/nvidia_drm')).isDirectory());
  });

  it('graphics on GPU 2: its card and render node bound, by-path links, only its rules; no other GPU node', async () => {
    const result = await configureAndCheck(ctx, host, cnt, rootfs, { devices: '2', capabilities: ['graphics'] }, { gpus: [2], capabilities: ['graphics'] });
    for (const [node, minor] of [
      ['card1', 1],
      ['renderD129', 129],
    ]) {
      const st = fs.statSync(inside(`/dev/dri/${node}`));
      assert.ok(st.isCharacterDevice(), node);
      assert.equal(st.rdev, (226 << 8) | minor, node);
    }
    assert.equal(fs.readlinkSync(inside('/dev/dri/by-path/pci-0000:00:08.0-card')), '../card1');
    assert.equal(fs.readlinkSync(inside('/dev/dri/by-path/pci-0000:00:08.0-render')), '../renderD129');
    assert.equal(fs.statSync(inside('/dev/dri/by-path/pci-0000:00:08.0-render')).rdev, (226 << 8) | 129, 'the link resolves to the node');
    assert.deepEqual(fs.readdirSync(inside('/dev/dri')).sort(), ['by-path', 'card1', 'renderD129']);
    assert.deepEqual(fs.readdirSync(inside('/dev/dri/by-path')).sort(), ['pci-0000:00:08.0-card', 'pci-0000:00:08.0-render']);
    const drmRules = result.plan.cgroupRules.filter((r) => r.major === 226).map((r) => r.minor);
    assert.deepEqual(
      drmRules.sort((a, b) => a - b),
      [1, 129],
    );
    assert.ok(!result.warnings.some((w) => /nvidia_drm/.test(w)), result.warnings.join('\n'));
  });

  it("video on GPUs 1 and 0: both GPUs' nodes, by their own numbers", async () => {
    const result = await configureAndCheck(ctx, host, cnt, rootfs, { devices: '1,0', capabilities: ['video'] }, { gpus: [1, 0], capabilities: ['video'] });
    assert.deepEqual(fs.readdirSync(inside('/dev/dri')).sort(), ['by-path', 'card0', 'card2', 'renderD128', 'renderD130']);
    assert.equal(fs.readlinkSync(inside('/dev/dri/by-path/pci-0000:00:06.0-card')), '../card2');
    assert.equal(fs.readlinkSync(inside('/dev/dri/by-path/pci-0000:00:07.0-render')), '../renderD128');
    const drmRules = result.plan.cgroupRules.filter((r) => r.major === 226).map((r) => r.minor);
    assert.deepEqual(
      drmRules.sort((a, b) => a - b),
      [0, 2, 128, 130],
    );
  });

  it('compute and utility alone get no DRM node', async () => {
    await configureAndCheck(
      ctx,
      host,
      cnt,
      rootfs,
      { devices: '2', capabilities: ['compute', 'utility'] },
      { gpus: [2], capabilities: ['compute', 'utility'] },
    );
    assert.ok(!fs.existsSync(inside('/dev/dri')));
  });

  it('no-devbind: the nodes are not bound but still allowed, the links are made', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const plan = await ctx.plan(ct, { devices: '2', capabilities: ['graphics'], noDevbind: true, noLdconfig: true });
    assert.ok(!plan.edits.some((e) => e.kind === 'bind' && e.target.startsWith('/dev/dri/')));
    assert.ok(plan.edits.some((e) => e.kind === 'symlink' && e.target === '/dev/dri/by-path/pci-0000:00:08.0-card' && e.link === '../card1'));
    assert.deepEqual(
      plan.cgroupRules.filter((r) => r.major === 226).map((r) => r.minor),
      [1, 129],
    );
  });

  it('the selection items of DRM nodes carry their GPU and node numbers (for CDI)', async () => {
    const facts = await ctx.hostFacts();
    const selection = selectItems(
      facts,
      resolveRequest(facts, {
        devices: '0,2',
        capabilities: ['graphics'],
        compat32: false,
        require: [],
        noPersistenced: false,
        noFabricmanager: false,
        noGspFirmware: false,
      }),
    );
    const drm = selection.items.filter((i) => i.role === 'drm-device');
    assert.deepEqual(
      drm.map((i) => [i.path, i.device && i.device.uuid, i.device && i.device.index, i.node.major, i.node.minor, i.node.exists, i.step]),
      [
        ['/dev/dri/card2', host.spec.gpus[0].uuid, 0, 226, 2, true, 'device'],
        ['/dev/dri/renderD130', host.spec.gpus[0].uuid, 0, 226, 130, true, 'device'],
        ['/dev/dri/card1', host.spec.gpus[2].uuid, 2, 226, 1, true, 'device'],
        ['/dev/dri/renderD129', host.spec.gpus[2].uuid, 2, 226, 129, true, 'device'],
      ],
    );
    assert.equal(drm[0].hostPath, path.join(host.devRoot, 'dri/card2'));
    const links = selection.items.filter((i) => i.role === 'drm-link');
    assert.deepEqual(
      links.map((i) => [i.path, i.link, i.device.uuid]),
      [
        ['/dev/dri/by-path/pci-0000:00:06.0-card', '../card2', host.spec.gpus[0].uuid],
        ['/dev/dri/by-path/pci-0000:00:06.0-render', '../renderD130', host.spec.gpus[0].uuid],
        ['/dev/dri/by-path/pci-0000:00:08.0-card', '../card1', host.spec.gpus[2].uuid],
        ['/dev/dri/by-path/pci-0000:00:08.0-render', '../renderD129', host.spec.gpus[2].uuid],
      ],
    );
    assert.deepEqual(selection.warnings, []);
  });

  it('list names the DRM nodes of the listed GPUs (text and JSON) and the vendor files', () => {
    const text = cli(host, ['list', '--device=2']).stdout.split('\n');
    assert.ok(text.includes('/dev/dri/card1') && text.includes('/dev/dri/renderD129'), text.join('\n'));
    assert.ok(!text.includes('/dev/dri/card0') && !text.includes('/dev/dri/card2'));
    const json = JSON.parse(cli(host, ['list', '--json']).stdout);
    const drm = json.deviceNodes.filter((n) => n.path.startsWith('/dev/dri/'));
    assert.deepEqual(
      drm.map((n) => [n.path, n.major, n.minor, n.exists]),
      [
        ['/dev/dri/card2', 226, 2, true],
        ['/dev/dri/renderD130', 226, 130, true],
        ['/dev/dri/card0', 226, 0, true],
        ['/dev/dri/renderD128', 226, 128, true],
        ['/dev/dri/card1', 226, 1, true],
        ['/dev/dri/renderD129', 226, 129, true],
      ],
    );
    assert.ok(json.graphics.includes('/usr/share/glvnd/egl_vendor.d/10_nvidia.json'));
    assert.ok(json.graphics.includes('/usr/share/vulkan/icd.d/nvidia_icd.json'));
    assert.ok(json.graphics.includes('/etc/OpenCL/vendors/nvidia.icd'));
    assert.ok(json.graphics.includes('/usr/lib/xorg/modules/drivers/nvidia_drv.so'));
  });

  it('a DRM node sysfs names but the dev root lacks: a warning, no bind, no link for it', async () => {
    const node = path.join(host.devRoot, 'dri/renderD129');
    fs.renameSync(node, `${node}.saved`);
    try {
      const ct = await ctx.container({ pid: cnt.pid, rootfs });
      const plan = await ctx.plan(ct, { devices: '2', capabilities: ['graphics'], noLdconfig: true });
      assert.ok(plan.warnings.includes('/dev/dri/renderD129 is missing on the host; the container gets none'), plan.warnings.join('\n'));
      assert.deepEqual(
        plan.edits.filter((e) => e.target.startsWith('/dev/dri/')).map((e) => [e.kind, e.target]),
        [
          ['bind', '/dev/dri/card1'],
          ['symlink', '/dev/dri/by-path/pci-0000:00:08.0-card'],
        ],
      );
      assert.deepEqual(
        plan.cgroupRules.filter((r) => r.major === 226).map((r) => r.minor),
        [1],
      );
    } finally {
      fs.renameSync(`${node}.saved`, node);
    }
  });

  it('nvidia_drm loaded but a GPU without DRM nodes: a warning naming the GPU, the others still get theirs', async () => {
    const drmDir = path.join(host.sysRoot, 'bus/pci/devices/0000:00:06.0/drm');
    const saved = `${drmDir}.saved`;
    fs.renameSync(drmDir, saved);
    try {
      const ct = await ctx.container({ pid: cnt.pid, rootfs });
      const plan = await ctx.plan(ct, { devices: '0,2', capabilities: ['graphics'], noLdconfig: true });
      const w = plan.warnings.filter((x) => /DRM node/.test(x));
      assert.equal(w.length, 1, plan.warnings.join('\n'));
      assert.match(w[0], /GPU 0 .*bus\/pci\/devices\/0000:00:06\.0\/drm/);
      assert.deepEqual(
        plan.edits.filter((e) => e.kind === 'bind' && e.target.startsWith('/dev/dri/')).map((e) => e.target),
        ['/dev/dri/card1', '/dev/dri/renderD129'],
      );
    } finally {
      fs.renameSync(saved, drmDir);
    }
  });
});

describe('host driver: a host without nvidia-drm (the GPU machine)', function () {
  let host;
  let ctx;
  let rootfs;
  let cnt;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces, device nodes and cgroups need root');
    host = await createSimulatedHost();
    ctx = await init(host.options);
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
  const inside = (p) => path.join('/proc', String(cnt.pid), 'root', rootfs, p);

  it('graphics: a warning telling how to load nvidia-drm, no /dev/dri; the vendor files are there', async () => {
    const result = await configureAndCheck(ctx, host, cnt, rootfs, { devices: '1', capabilities: ['graphics'] }, { gpus: [1], capabilities: ['graphics'] });
    const w = result.warnings.filter((x) => /nvidia_drm/.test(x));
    assert.equal(w.length, 1, result.warnings.join('\n'));
    assert.match(w[0], /graphics capability/);
    assert.match(w[0], /nvc-ts modules load nvidia-drm/);
    assert.match(w[0], /modprobe nvidia-drm modeset=1/);
    assert.ok(!fs.existsSync(inside('/dev/dri')));
    const egl = JSON.parse(fs.readFileSync(inside('/usr/share/glvnd/egl_vendor.d/10_nvidia.json'), 'utf8'));
    assert.equal(egl.ICD.library_path, 'libEGL_nvidia.so.0');
    const icd = JSON.parse(fs.readFileSync(inside('/usr/share/vulkan/icd.d/nvidia_icd.json'), 'utf8'));
    assert.equal(icd.ICD.library_path, 'libGLX_nvidia.so.0');
    // The bare names resolve in the container's library directory (SONAME links).
    assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libEGL_nvidia.so.0`)), 'libEGL_nvidia.so.580.159.04');
    assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libnvidia-egl-wayland.so.1`)), 'libnvidia-egl-wayland.so.1.1.19');
    assert.ok(fs.existsSync(inside('/usr/share/egl/egl_external_platform.d/15_nvidia_gbm.json')));
    assert.ok(!fs.existsSync(inside('/usr/share/egl/egl_external_platform.d/50_mesa.json')), "another vendor's platform file is not the driver's");
  });

  it('compute, utility: no DRM warning; the OpenCL ICD is there', async () => {
    const result = await configureAndCheck(
      ctx,
      host,
      cnt,
      rootfs,
      { devices: '0', capabilities: ['compute', 'utility'] },
      { gpus: [0], capabilities: ['compute', 'utility'] },
    );
    assert.deepEqual(result.warnings, []);
    assert.equal(fs.readFileSync(inside('/etc/OpenCL/vendors/nvidia.icd'), 'utf8'), 'libnvidia-opencl.so.1\n');
  });

  it('display still fails on the missing nvidia-modeset, changing nothing', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const before = snapshot(rootfs);
    await assert.rejects(
      ctx.configure(ct, { devices: '0', capabilities: ['display'] }),
      (e) => e instanceof NvcError && /nvidia_modeset kernel module is not loaded/.test(e.message),
    );
    assert.deepEqual(snapshot(rootfs), before);
    assert.equal(mountsUnder(cnt.pid, rootfs).size, 0);
  });

  it('display with nvidia-modeset: the X server modules at their standard paths, and the DRM warning', async () => {
    require('node:child_process').execFileSync('mknod', [path.join(host.devRoot, 'nvidia-modeset'), 'c', '195', '254']);
    const ctx2 = await init(host.options);
    try {
      const ct = await ctx2.container({ pid: cnt.pid, rootfs });
      const result = await ctx2.configure(ct, { devices: '0', capabilities: ['display'], noLdconfig: true });
      const mounts = mountsUnder(cnt.pid, rootfs);
      assert.ok(mounts.has('/usr/lib/xorg/modules/drivers/nvidia_drv.so'));
      assert.ok(mounts.has('/usr/lib/xorg/modules/extensions/libglxserver_nvidia.so'));
      assert.ok(mounts.has('/usr/share/glvnd/egl_vendor.d/10_nvidia.json'));
      assert.ok(
        result.warnings.some((w) => /display capability.*nvidia_drm/.test(w)),
        result.warnings.join('\n'),
      );
    } finally {
      await ctx2.shutdown();
      fs.rmSync(path.join(host.devRoot, 'nvidia-modeset'));
    }
  });
});

describe("host driver: the GPU machine's driver tree (wrapper scripts, absolute library paths)", function () {
  let host;
  let ctx;
  let rootfs;
  let cnt;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces, device nodes and cgroups need root');
    host = await createSimulatedHost({ nvidiaTree: true, compat32: false });
    // A hook's standard PATH: /usr/bin (the wrappers) and no driver tree.
    ctx = await init({ ...host.options, binPath: HOOK_PATH });
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
  const inside = (p) => path.join('/proc', String(cnt.pid), 'root', rootfs, p);

  it('the simulated host mirrors the GPU machine: /usr/bin/nvidia-smi is a wrapper script that fails without the tree', () => {
    const wrapper = fs.readFileSync(path.join(host.root, 'usr/bin/nvidia-smi'), 'utf8');
    assert.match(wrapper, /^#!\/bin\/sh\nexec '\/usr\/local\/nvidia\/bin\/nvidia-smi' "\$@"/);
    const real = fs.readFileSync(path.join(host.root, 'usr/local/nvidia/bin/nvidia-smi'));
    assert.ok(real.subarray(0, 4).equals(ELF_MAGIC));
    const r = spawnSync(path.join(host.root, 'usr/local/nvidia/bin/nvidia-smi'), ['-L'], { encoding: 'utf8' });
    assert.match(r.stdout, /^GPU 2: Tesla T4 \(UUID: GPU-2c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f\)$/m);
  });

  it('discovery takes the ELF binaries of the tree beside the libraries, not the wrappers first on PATH', async () => {
    const driver = await ctx.driverInfo();
    assert.deepEqual(
      driver.binaries.map((b) => b.path),
      ['nvidia-smi', 'nvidia-debugdump', 'nvidia-persistenced', 'nv-fabricmanager', 'nvidia-cuda-mps-control', 'nvidia-cuda-mps-server'].map(
        (b) => `/usr/local/nvidia/bin/${b}`,
      ),
    );
    assert.ok(driver.libraries.some((l) => l.path === '/usr/local/nvidia/lib64/libnvidia-ml.so.580.159.04'));
  });

  it('configure: /usr/bin/nvidia-smi in the container is the ELF binary, and it runs', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    await ctx.configure(ct, { devices: '0', capabilities: ['utility'], noLdconfig: true });
    const mounted = fs.readFileSync(inside('/usr/bin/nvidia-smi'));
    assert.ok(mounted.subarray(0, 4).equals(ELF_MAGIC), 'an ELF file, not the wrapper');
    assert.ok(mounted.equals(fs.readFileSync(path.join(host.root, 'usr/local/nvidia/bin/nvidia-smi'))));
    const r = spawnSync(inside('/usr/bin/nvidia-smi'), ['-L'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^GPU 0: NVIDIA H100 80GB HBM3 /m);
  });

  it('list along a hook PATH names the ELF binaries; the debug log says which wrappers were passed over', () => {
    const env = { ...process.env, PATH: HOOK_PATH };
    const log = path.join(host.dir, 'debug.log');
    const out = cli(host, ['--debug', log, 'list', '--binaries'], env).stdout.trim().split('\n');
    assert.ok(out.includes('/usr/local/nvidia/bin/nvidia-smi'), out.join('\n'));
    assert.ok(!out.includes('/usr/bin/nvidia-smi'));
    const text = fs.readFileSync(log, 'utf8');
    assert.match(
      text,
      /note: \/usr\/bin\/nvidia-smi is not an ELF executable \(a wrapper script\?\): passed over, the driver's \/usr\/local\/nvidia\/bin\/nvidia-smi is given instead/,
    );
  });

  it("configure's plan carries the same notes (debug only, no warning)", async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const plan = await ctx.plan(ct, { devices: '0', capabilities: ['utility'], noLdconfig: true });
    assert.ok(
      plan.notes.some((n) => n.startsWith('/usr/bin/nvidia-debugdump is not an ELF executable')),
      plan.notes.join('\n'),
    );
    assert.ok(!plan.warnings.some((w) => /ELF/.test(w)));
  });

  it('graphics: vendor files naming /usr/local/nvidia/lib64 paths are given rewritten to the SONAME, which resolves inside', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const result = await ctx.configure(ct, { devices: '0', capabilities: ['graphics'], noLdconfig: true });
    const hostEgl = JSON.parse(fs.readFileSync(path.join(host.root, 'usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json'), 'utf8'));
    assert.equal(hostEgl.ICD.library_path, '/usr/local/nvidia/lib64/libEGL_nvidia.so.0');
    const files = {
      '/usr/share/glvnd/egl_vendor.d/10_nvidia.json': ['ICD', 'libEGL_nvidia.so.0'],
      '/usr/share/vulkan/icd.d/nvidia_icd.json': ['ICD', 'libGLX_nvidia.so.0'],
      '/usr/share/vulkan/implicit_layer.d/nvidia_layers.json': ['layer', 'libGLX_nvidia.so.0'],
      '/usr/share/egl/egl_external_platform.d/10_nvidia_wayland.json': ['ICD', 'libnvidia-egl-wayland.so.1'],
    };
    for (const [file, [key, lib]] of Object.entries(files)) {
      const doc = JSON.parse(fs.readFileSync(inside(file), 'utf8'));
      assert.equal(doc[key].library_path, lib, file);
      // The name is a SONAME link in the container's library directory, to a bound driver file.
      const target = fs.readlinkSync(inside(`${LIBDIR}/${lib}`));
      assert.ok(mountsUnder(cnt.pid, rootfs).has(`${LIBDIR}/${target}`), `${lib} -> ${target} is mounted`);
    }
    // Written into a tmpfs of the plan, read-only for the container's processes.
    const m = mountsUnder(cnt.pid, rootfs).get('/usr/share/glvnd/egl_vendor.d');
    assert.equal(m.fstype, 'tmpfs');
    assert.equal((fs.statSync(inside('/usr/share/glvnd/egl_vendor.d/10_nvidia.json')).mode & 0o777).toString(8), '444');
    const edits = result.plan.edits.filter((e) => e.origin.role === 'graphics-file');
    assert.ok(
      edits.every((e) => e.kind === 'write' || e.kind === 'tmpfs'),
      JSON.stringify(edits.map((e) => [e.kind, e.target])),
    );
  });
});
