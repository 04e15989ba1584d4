'use strict';
// Loading and unloading through the injectable system-call layer (a recording fake that keeps the
// fixture's /proc/modules in step), refusals while the driver is in use (a real process holding
// a fixture /dev/nvidia0 open), init({ loadKernelModules }) and the CLI's -k, and the native
// layer's own checks.
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { NvcError, init } = require('../dist/index.js');
const kmod = require('../dist/kmod/index.js');
const { binding } = require('../dist/native.js');
const t = require('../dist/testing/index.js');
const { fakeSyscalls } = require('./support/kmod');
const { isRoot, requireFeature } = require('./support/features');

const BIN = path.join(__dirname, '..', 'bin', 'nvc-ts.js');
const FULL_CONFIG = { CONFIG_MODULES: 'y', CONFIG_DRM: 'm', CONFIG_DRM_KMS_HELPER: 'm' };

function hostOptions(h, extra = {}) {
  return { root: h.root, procRoot: h.procRoot, sysRoot: h.sysRoot, devRoot: h.devRoot, ...extra };
}

function loadedNames(h) {
  return fs
    .readFileSync(path.join(h.procRoot, 'modules'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[0]);
}

function run(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('kmod: load and unload through the system-call layer', function () {
  this.timeout(60000);
  const hosts = [];
  async function host(spec) {
    const h = await t.createKmodHost({ driverProc: t.gpuMachineProcSpec(), ...spec });
    hosts.push(h);
    return h;
  }
  after(async () => Promise.all(hosts.map((h) => h.cleanup())));

  it('load inserts in dependency order with finit_module, passes parameters, then makes the device nodes', async () => {
    const h = await host({ config: FULL_CONFIG, driverModules: t.nvidiaModules(), kernelTree: { modules: t.drmModules() } });
    const sys = fakeSyscalls(h);
    const r = await kmod.loadKernelModules(hostOptions(h, { params: { 'nvidia-drm': ['modeset=1'] } }), { syscalls: sys });
    const inserts = sys.calls.filter((c) => c.call === 'finit_module' || c.call === 'init_module');
    assert.deepEqual(
      inserts.map((c) => c.module),
      ['nvidia', 'nvidia_uvm', 'nvidia_modeset', 'drm', 'drm_kms_helper', 'nvidia_drm'],
    );
    assert.ok(inserts.every((c) => c.call === 'finit_module' && c.flags === 0));
    assert.equal(inserts.find((c) => c.module === 'nvidia_drm').params, 'modeset=1');
    assert.equal(inserts.find((c) => c.module === 'nvidia').params, '');
    assert.deepEqual(r.inserted, ['nvidia', 'nvidia_uvm', 'nvidia_modeset', 'drm', 'drm_kms_helper', 'nvidia_drm']);
    assert.deepEqual(loadedNames(h).sort(), ['drm', 'drm_kms_helper', 'nvidia', 'nvidia_drm', 'nvidia_modeset', 'nvidia_uvm']);
    // Nodes come after the modules, nvidia-modeset's included now that it is loaded.
    const firstNode = sys.calls.findIndex((c) => c.call === 'mknod');
    assert.ok(firstNode > sys.calls.lastIndexOf(inserts[inserts.length - 1]));
    const made = sys.calls.filter((c) => c.call === 'mknod').map((c) => `${path.relative(h.devRoot, c.path)} ${c.major}:${c.minor}`);
    assert.deepEqual(made, [
      'nvidiactl 195:255',
      'nvidia0 195:0',
      'nvidia1 195:1',
      'nvidia-modeset 195:254',
      'nvidia-uvm 238:0',
      'nvidia-uvm-tools 238:1',
      'nvidia-caps/nvidia-cap1 241:1',
      'nvidia-caps/nvidia-cap2 241:2',
    ]);
  });

  it('a second load makes no insert: everything is loaded', async () => {
    const h = await host({ config: FULL_CONFIG, driverModules: t.nvidiaModules(), kernelTree: { modules: t.drmModules() } });
    await kmod.loadKernelModules(hostOptions(h), { syscalls: fakeSyscalls(h), nodes: false });
    const again = fakeSyscalls(h);
    const r = await kmod.loadKernelModules(hostOptions(h), { syscalls: again, nodes: false });
    assert.deepEqual(r.inserted, []);
    assert.deepEqual(again.calls, []);
  });

  it('compressed modules: init_module with the decompressed image, or finit_module with MODULE_INIT_COMPRESSED_FILE when the kernel can decompress', async () => {
    const plain = await host({ driverModules: t.nvidiaModules({ compression: 'zstd' }) });
    const sys = fakeSyscalls(plain);
    await kmod.loadKernelModules(hostOptions(plain, { modules: ['nvidia-uvm'] }), { syscalls: sys, nodes: false });
    assert.deepEqual(
      sys.calls.map((c) => [c.call, c.module]),
      [
        ['init_module', 'nvidia'],
        ['init_module', 'nvidia_uvm'],
      ],
    );
    assert.equal(sys.calls[0].path, path.join(plain.driverDir, 'nvidia.ko.zst'));
    assert.equal(sys.calls[0].size, t.buildKernelModule(t.nvidiaModules()[0]).length, 'the whole decompressed image');

    const capable = await host({ driverModules: t.nvidiaModules({ compression: 'xz' }), kernelCompression: 'xz' });
    const sys2 = fakeSyscalls(capable);
    await kmod.loadKernelModules(hostOptions(capable, { modules: ['nvidia-uvm'] }), { syscalls: sys2, nodes: false });
    assert.deepEqual(
      sys2.calls.map((c) => [c.call, c.module, c.flags]),
      [
        ['finit_module', 'nvidia', kmod.MODULE_INIT_COMPRESSED_FILE],
        ['finit_module', 'nvidia_uvm', kmod.MODULE_INIT_COMPRESSED_FILE],
      ],
    );
  });

  it('a refused plan loads nothing', async () => {
    const h = await host({ config: { CONFIG_DRM: 'not set' }, driverModules: t.nvidiaModules() });
    const sys = fakeSyscalls(h);
    await assert.rejects(
      kmod.loadKernelModules(hostOptions(h, { modules: ['nvidia-drm'] }), { syscalls: sys }),
      (e) =>
        e instanceof NvcError &&
        e.code === 'ERR_NVC_KERNEL_MODULE' &&
        /drm \(needed by nvidia_drm\)/.test(e.message) &&
        /CONFIG_DRM is not set/.test(e.message),
    );
    assert.deepEqual(sys.calls, []);
  });

  it('a module the kernel refuses: the error names it and errno, and what this run loaded is removed again', async () => {
    const h = await host({ driverModules: t.nvidiaModules() });
    const sys = fakeSyscalls(h, { refuse: { nvidia_modeset: 'EKEYREJECTED' } });
    await assert.rejects(
      kmod.loadKernelModules(hostOptions(h, { modules: ['nvidia-uvm', 'nvidia-modeset'] }), { syscalls: sys }),
      (e) =>
        e.code === 'ERR_NVC_KERNEL_MODULE' &&
        e.errno === 'EKEYREJECTED' &&
        /the kernel refused module nvidia_modeset/.test(e.message) &&
        /signature was rejected/.test(e.message) &&
        /removed again what this run had loaded \(nvidia_uvm, nvidia\)/.test(e.message),
    );
    assert.deepEqual(loadedNames(h), []);
    assert.equal(sys.calls.filter((c) => c.call === 'mknod').length, 0, 'no nodes after a failed load');
  });

  it('unload removes in reverse dependency order: nvidia-drm, nvidia-modeset, nvidia-uvm, nvidia', async () => {
    const h = await host({ config: FULL_CONFIG, driverModules: t.nvidiaModules(), kernelTree: { modules: t.drmModules() } });
    await kmod.loadKernelModules(hostOptions(h), { syscalls: fakeSyscalls(h), nodes: false });
    const sys = fakeSyscalls(h);
    const r = await kmod.unloadKernelModules(hostOptions(h), { syscalls: sys });
    assert.deepEqual(r.removed, ['nvidia_drm', 'nvidia_modeset', 'nvidia_uvm', 'nvidia']);
    assert.deepEqual(
      sys.calls.map((c) => c.module),
      ['nvidia_drm', 'nvidia_modeset', 'nvidia_uvm', 'nvidia'],
    );
    // The kernel's own drm modules stay.
    assert.deepEqual(loadedNames(h).sort(), ['drm', 'drm_kms_helper']);
  });

  it('unload is refused while a module is in use (reference count), naming it; nothing is removed', async () => {
    const h = await host({
      loaded: [
        { name: 'nvidia_uvm', refcount: 2 },
        { name: 'nvidia', refcount: 1, usedBy: ['nvidia_uvm'] },
      ],
    });
    const sys = fakeSyscalls(h);
    await assert.rejects(
      kmod.unloadKernelModules(hostOptions(h), { syscalls: sys }),
      (e) => e.code === 'ERR_NVC_KERNEL_MODULE' && /nvidia_uvm is in use \(reference count 2\)/.test(e.message),
    );
    assert.deepEqual(sys.calls, []);
  });

  it('unload of a module used by one not being unloaded is refused, naming the user', async () => {
    const h = await host({
      loaded: [
        { name: 'nvidia_uvm', refcount: 0 },
        { name: 'nvidia', refcount: 1, usedBy: ['nvidia_uvm'] },
      ],
    });
    const sys = fakeSyscalls(h);
    await assert.rejects(kmod.unloadKernelModules(hostOptions(h, { modules: ['nvidia'] }), { syscalls: sys }), (e) =>
      /nvidia is used by nvidia_uvm, which is not being unloaded/.test(e.message),
    );
    assert.deepEqual(sys.calls, []);
  });

  it('unload is refused while a process holds /dev/nvidia0 open, naming the process and the node', async function () {
    requireFeature(this, 'root', isRoot(), 'mknod of a character device needs CAP_MKNOD');
    const h = await host({
      loaded: [
        { name: 'nvidia_uvm', refcount: 0 },
        { name: 'nvidia', refcount: 1, usedBy: ['nvidia_uvm'] },
      ],
    });
    // Without the driver a 195:0 node cannot be opened (ENXIO): the fixture nvidia0 is a real
    // character device backed by the null driver (1:3), which a process can hold open.
    const node = path.join(h.devRoot, 'nvidia0');
    await kmod.nativeSyscalls().mknod(node, 0o666, 1, 3);
    const holder = spawn('sh', ['-c', `exec 3<"${node}"; echo ready; exec sleep 60`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((resolve) => holder.stdout.once('data', resolve));
      // The fixture proc root shows the real process (its fd links read through to the kernel's).
      fs.symlinkSync(`/proc/${holder.pid}`, path.join(h.procRoot, String(holder.pid)));
      const sys = fakeSyscalls(h);
      await assert.rejects(
        kmod.unloadKernelModules(hostOptions(h), { syscalls: sys }),
        (e) => e.code === 'ERR_NVC_KERNEL_MODULE' && e.message.includes(`${holder.pid} (sleep) has ${node} open`) && /nothing was unloaded/.test(e.hint),
      );
      assert.deepEqual(sys.calls, []);
      assert.deepEqual(loadedNames(h), ['nvidia_uvm', 'nvidia']);
      // nvidia0 is nvidia's node: it does not keep nvidia-uvm from going.
      const uvm = await kmod.unloadKernelModules(hostOptions(h, { modules: ['nvidia-uvm'] }), { syscalls: fakeSyscalls(h) });
      assert.deepEqual(uvm.removed, ['nvidia_uvm']);
    } finally {
      holder.kill('SIGKILL');
    }
    // Once it is gone, the same unload goes through.
    await new Promise((resolve) => (holder.exitCode !== null || holder.signalCode !== null ? resolve() : holder.once('exit', resolve)));
    const r = await kmod.unloadKernelModules(hostOptions(h), { syscalls: fakeSyscalls(h) });
    assert.deepEqual(r.removed, ['nvidia']);
  });
});

describe('kmod: which nodes belong to which module', function () {
  const { nodeOfModules } = require('../dist/kmod/holders.js');
  it('nvidia has the GPU, control, capability and IMEX nodes; nvidia-uvm and nvidia-modeset their own', () => {
    for (const rel of ['nvidia0', 'nvidia15', 'nvidiactl', 'nvidia-caps/nvidia-cap1', 'nvidia-caps-imex-channels/channel0'])
      assert.equal(nodeOfModules(rel, ['nvidia']), true, rel);
    for (const rel of ['nvidia-uvm', 'nvidia-uvm-tools', 'nvidia-modeset', 'nvidiafoo', 'dri/card0']) assert.equal(nodeOfModules(rel, ['nvidia']), false, rel);
    assert.equal(nodeOfModules('nvidia-uvm-tools', ['nvidia_uvm']), true);
    assert.equal(nodeOfModules('nvidia-modeset', ['nvidia_modeset']), true);
    assert.equal(nodeOfModules('nvidia0', ['nvidia_drm']), false);
  });
});

describe('kmod: init({ loadKernelModules }) and -k/--load-kmods', function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), "the simulated host's device nodes are made with mknod");
  });
  this.timeout(60000);

  it('with nvidia and nvidia-uvm loaded and their nodes in place it makes no system call', async () => {
    const h = await t.createKmodHost({ ...t.gpuMachineKmodSpec(), driverModules: [] });
    try {
      await kmod.createNvidiaDeviceNodes(
        { procRoot: h.procRoot, devRoot: h.devRoot, sysRoot: h.sysRoot },
        {},
        { syscalls: isRoot() ? kmod.nativeSyscalls() : fakeSyscalls(h) },
      );
      const sys = fakeSyscalls(h);
      const r = await kmod.ensureKernelModulesForInit(hostOptions(h), false, sys);
      assert.deepEqual(sys.calls, []);
      assert.deepEqual(r.inserted, []);
      assert.equal(r.nodes.changed, false);
    } finally {
      await h.cleanup();
    }
  });

  it('with nvidia-uvm missing it loads it and makes its nodes', async () => {
    const h = await t.createKmodHost({ ...t.gpuMachineKmodSpec(), loaded: [{ name: 'nvidia' }] });
    try {
      const sys = fakeSyscalls(h);
      const r = await kmod.ensureKernelModulesForInit(hostOptions(h), false, sys);
      assert.deepEqual(r.inserted, ['nvidia_uvm']);
      assert.ok(sys.calls.some((c) => c.call === 'mknod' && c.path === path.join(h.devRoot, 'nvidia-uvm')));
    } finally {
      await h.cleanup();
    }
  });

  it('init({ loadKernelModules: true }) on the simulated host (all loaded) starts normally', async () => {
    const sim = await t.createSimulatedHost();
    try {
      const ctx = await init({ ...sim.options, loadKernelModules: true });
      try {
        assert.ok((await ctx.deviceInfo()).length > 0);
      } finally {
        await ctx.shutdown();
      }
    } finally {
      await sim.cleanup();
    }
  });

  it('init refuses a bad loadKernelModules value naming it', async () => {
    await assert.rejects(init({ loadKernelModules: 'yes' }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && /loadKernelModules/.test(e.message));
  });

  it('-k and --load-kmods are accepted before any command and are a no-op where everything is loaded', async () => {
    for (const args of [
      ['-k', '--simulate', 'info'],
      ['--load-kmods', '--simulate', 'list'],
      ['--simulate', '-k', 'info', '--csv'],
    ]) {
      const r = await run(args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, '');
    }
    const sim = await run(['--simulate', 'info']);
    const withK = await run(['-k', '--simulate', 'info']);
    assert.equal(withK.stdout, sim.stdout);
  });
});

describe('kmod: the native system-call layer checks its arguments', function () {
  it('refuses bad paths, numbers, names and flags before any system call', () => {
    const b = binding();
    assert.throws(() => b.mknod({ path: 'relative', mode: 0o666, major: 195, minor: 0 }), /path must be an absolute path/);
    assert.throws(() => b.mknod({ path: '/tmp/x', mode: 0o4777, major: 195, minor: 0 }), /mode must be an integer in 0\.\.511/);
    assert.throws(() => b.mknod({ path: '/tmp/x', mode: 0o666, major: 4096, minor: 0 }), /major must be an integer in 0\.\.4095/);
    assert.throws(() => b.mknod({ path: '/tmp/x', mode: 0o666, major: 1, minor: 1 << 20 }), /minor must be an integer/);
    assert.throws(() => b.mknod({ path: '/tmp/\0x', mode: 0o666, major: 1, minor: 1 }), /NUL/);
    assert.throws(() => b.finitModule({ path: '/tmp/x.ko', params: '', flags: 1 }), /flags must be 0 or 4/);
    assert.throws(() => b.finitModule({ path: '/tmp/x.ko', params: 'x'.repeat(5000), flags: 0 }), /params is too long/);
    assert.throws(() => b.deleteModule({ name: '../nvidia' }), /name must be a module name/);
    assert.throws(() => b.initModule({ image: 'text', params: '', label: 'x' }), /image must be a Uint8Array/);
    assert.throws(() => b.symlink({ target: '', path: '/tmp/x' }), /target must not be empty/);
  });

  // ENOENT on a kernel with modules; EPERM without CAP_SYS_MODULE; ENOSYS in a sandbox without the call.
  it('delete_module of a module that is not loaded fails with an NvcError carrying errno', async () => {
    await assert.rejects(
      kmod.nativeSyscalls().deleteModule('nvc_ts_no_such_module'),
      (e) => e instanceof NvcError && e.syscall === 'delete_module' && ['ENOENT', 'EPERM', 'ENOSYS'].includes(e.errno),
    );
  });

  it('mknod and symlink make what they are asked for (stat checks type, numbers and mode)', async function () {
    requireFeature(this, 'root', isRoot(), 'mknod of a character device needs CAP_MKNOD');
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'nvc-mknod-'));
    try {
      const sys = kmod.nativeSyscalls();
      await sys.mknod(path.join(dir, 'n'), 0o600, 195, 7);
      await sys.chmod(path.join(dir, 'n'), 0o640);
      await sys.symlink('n', path.join(dir, 'l'));
      const st = fs.lstatSync(path.join(dir, 'n'));
      assert.ok(st.isCharacterDevice());
      assert.equal(st.rdev, (195 << 8) | 7);
      assert.equal(st.mode & 0o777, 0o640);
      assert.equal(fs.readlinkSync(path.join(dir, 'l')), 'n');
      await assert.rejects(sys.mknod(path.join(dir, 'n'), 0o600, 195, 7), (e) => e.errno === 'EEXIST' && e.path === path.join(dir, 'n'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
