'use strict';
// nvc-ts-cdi-hook, run as a runtime runs it: the OCI state of a process in its own mount
// namespace on stdin, the bundle's config naming the rootfs. The default profile's hooks do
// their work; every hook of the gvisor profile exits 0 on a rootfs without procfs.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');
const { init } = require('../dist/index.js');
const { cdiHookPath } = require('../dist/native.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { requireFeature, isRoot } = require('./support/features');
const { startContainer, ldcacheEntries, mountinfo } = require('./support/container');
const { busyboxRootfs, tmpdir } = require('./support/cdi');

const LIBDIR = '/usr/lib/x86_64-linux-gnu';

describe('nvc-ts-cdi-hook (mount namespaces, simulated host)', function () {
  let host;
  let ctx;
  let bundle;
  let rootfs;
  let cnt;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces need root');
    host = await createSimulatedHost();
    ctx = await init(host.options);
  });
  after(async () => {
    if (ctx) await ctx.shutdown();
    if (host) await host.cleanup();
  });
  beforeEach(async () => {
    bundle = tmpdir('nvc-cdi-hook-');
    rootfs = path.join(bundle, 'rootfs');
    busyboxRootfs(rootfs);
    // What the spec's mount gives: the driver's libcuda at its SONAME path.
    fs.copyFileSync(path.join(host.root, LIBDIR, 'libcuda.so.580.159.04'), path.join(rootfs, LIBDIR, 'libcuda.so.1'));
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['sh'] } }));
    cnt = await startContainer({ cgroup: null });
  });
  afterEach(async () => {
    if (cnt) await cnt.stop();
    fs.rmSync(bundle, { recursive: true, force: true });
  });

  function runHook(h) {
    const state = JSON.stringify({ ociVersion: '1.0.2', id: 'cdi-hook-test', status: 'creating', pid: cnt.pid, bundle, annotations: {} });
    return spawnSync(h.path, h.args.slice(1), { input: state, encoding: 'utf8', timeout: 60000, argv0: h.args[0] });
  }
  const inContainer = (p) => path.join('/proc', String(cnt.pid), 'root', rootfs, p);

  it('default profile: SONAME link made, ld.so.cache updated, params copy with ModifyDeviceFiles: 0 over /proc/driver/nvidia/params', async function () {
    const spec = await ctx.cdiSpec({ capabilities: ['compute', 'utility'] }, { probeEngines: async () => [] });
    const hooks = spec.containerEdits.hooks;
    assert.deepEqual(
      hooks.map((h) => h.args[1]),
      ['create-symlinks', 'update-ldcache', 'disable-device-node-modification'],
    );
    assert.ok(hooks.every((h) => h.path === cdiHookPath() && h.hookName === 'createContainer'));
    // The container's procfs, with the driver's directory as a GPU host shows it.
    const sh = (script) => execFileSync('nsenter', ['-t', String(cnt.pid), '-m', 'sh', '-c', script]);
    sh(
      `mount -t proc proc ${rootfs}/proc && mount -t tmpfs tmpfs ${rootfs}/proc/driver && mkdir ${rootfs}/proc/driver/nvidia && printf 'ResmanDebugLevel: 4294967295\\nModifyDeviceFiles: 1\\n' > ${rootfs}/proc/driver/nvidia/params`,
    );
    for (const h of hooks) {
      const r = runHook(h);
      assert.equal(r.status, 0, `${h.args[1]}: ${r.stderr}`);
    }
    assert.equal(fs.readlinkSync(inContainer(`${LIBDIR}/libcuda.so`)), 'libcuda.so.1');
    assert.equal(ldcacheEntries(inContainer('etc/ld.so.cache')).get('libcuda.so.1'), `${LIBDIR}/libcuda.so.1`);
    const params = fs.readFileSync(inContainer('proc/driver/nvidia/params'), 'utf8');
    assert.match(params, /^ModifyDeviceFiles: 0$/m);
    assert.doesNotMatch(params, /ModifyDeviceFiles: 1/);
    assert.ok(
      mountinfo(cnt.pid).some((m) => m.mountPoint === `${rootfs}/proc/driver/nvidia/params`),
      'the copy is a mount in the container',
    );
    assert.ok(!mountinfo('self').some((m) => m.mountPoint.startsWith(rootfs)), 'nothing mounted in the host namespace');
    assert.deepEqual(
      fs.readdirSync('/tmp').filter((n) => n.startsWith('nvc-ts-cdi-hook-')),
      [],
      'no temporary directory left',
    );
  });

  it('gvisor profile: every hook exits 0 on a rootfs without procfs', async function () {
    const spec = await ctx.cdiSpec({ profile: 'gvisor' }, { probeEngines: async () => [] });
    assert.ok(spec.containerEdits.hooks.length > 0);
    for (const h of spec.containerEdits.hooks) {
      const r = runHook(h);
      assert.equal(r.status, 0, `${h.args[1]}: ${r.stderr}`);
    }
    assert.equal(fs.readlinkSync(inContainer(`${LIBDIR}/libcuda.so`)), 'libcuda.so.1');
  });

  it('disable-device-node-modification is skipped, with a line on stderr, where the rootfs has no procfs', function () {
    const r = runHook({
      path: cdiHookPath(),
      args: ['nvc-ts-cdi-hook', 'disable-device-node-modification', '--params', path.join(host.procRoot, 'driver/nvidia/params')],
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /no procfs at \/proc.*nothing to do/);
  });

  it('an unknown subcommand is reported and ignored; a link path escaping the rootfs stays inside it', function () {
    const u = runHook({ path: cdiHookPath(), args: ['nvc-ts-cdi-hook', 'enable-cuda-compat'] });
    assert.equal(u.status, 0);
    assert.match(u.stderr, /unknown subcommand/);
    fs.symlinkSync('/', path.join(rootfs, 'escape'));
    const r = runHook({ path: cdiHookPath(), args: ['nvc-ts-cdi-hook', 'create-symlinks', '--link', 'x::/escape/tmp/nvc-cdi-escape-test'] });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!fs.existsSync('/tmp/nvc-cdi-escape-test'), 'not created on the host');
    assert.equal(fs.readlinkSync(path.join(rootfs, 'tmp/nvc-cdi-escape-test')), 'x');
  });
});
