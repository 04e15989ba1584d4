'use strict';
// configure --cuda-compat-mode / --no-cntlibs on images that ship CUDA forward-compat libraries
// newer, older and of the same major as the simulated host's driver (580.159.04), through the
// CLI as the toolkit's legacy hook calls it, into a real container (mount namespace), with
// ldconfig run: what the container's loader ends up using.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { decideCudaCompat } = require('../dist/plan/cuda-compat.js');
const { makeRootfs, startContainer, mountsUnder, ldcacheEntries } = require('./support/container');
const { requireFeature, isRoot } = require('./support/features');

const CLI = path.resolve(__dirname, '../bin/nvc-ts.js');
const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const HOST = '580.159.04';

describe('CUDA forward compatibility: the decision', () => {
  const dir = (d, ...files) => ({ dir: d, files });
  it('uses only a compat driver of a newer major than the host driver', () => {
    assert.equal(decideCudaCompat([dir('/c', 'libcuda.so.590.44.01')], HOST).dir, '/c');
    assert.equal(decideCudaCompat([dir('/c', 'libcuda.so.575.57.08')], HOST).dir, null, 'older');
    assert.equal(decideCudaCompat([dir('/c', 'libcuda.so.580.200.01')], HOST).dir, null, 'same major, newer minor');
    assert.equal(decideCudaCompat([dir('/c', 'libcuda.so.1')], HOST).dir, null, 'no version');
    assert.equal(decideCudaCompat([], HOST).dir, null);
  });
  it('takes the newest of several compat directories, and only its newer libraries', () => {
    const d = decideCudaCompat(
      [dir('/a', 'libcuda.so.575.1'), dir('/b', 'libcuda.so.600.1', 'libnvidia-nvvm.so.600.1', 'libnvidia-old.so.500.1'), dir('/c', 'libcuda.so.590.1')],
      HOST,
    );
    assert.equal(d.dir, '/b');
    assert.deepEqual(d.libraries, ['libcuda.so.600.1', 'libnvidia-nvvm.so.600.1']);
    assert.equal(d.version, '600.1');
  });
});

describe('configure --cuda-compat-mode (containers, simulated host)', function () {
  let host;
  let globals;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces and device nodes need root');
    host = await createSimulatedHost();
    const o = host.options;
    globals = ['--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot];
  });
  after(async () => {
    if (host) await host.cleanup();
  });

  let rootfs;
  let cnt;
  let outside;
  beforeEach(async () => {
    rootfs = makeRootfs();
    cnt = await startContainer({ cgroup: null });
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-host-compat-'));
  });
  afterEach(async () => {
    await cnt.stop();
    fs.rmSync(rootfs, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  const inside = (p) => path.join('/proc', String(cnt.pid), 'root', rootfs, p);
  const hostLib = (name) => path.join(host.root, LIBDIR, name);

  /** An image's compat directory with the driver's libraries renamed to `version` (same SONAMEs); /usr/local/cuda links to the first. */
  function shipCompat(cudaDir, version, { link = false } = {}) {
    const dir = path.join(rootfs, 'usr/local', cudaDir, 'compat');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(hostLib(`libcuda.so.${HOST}`), path.join(dir, `libcuda.so.${version}`));
    fs.copyFileSync(hostLib(`libnvidia-ptxjitcompiler.so.${HOST}`), path.join(dir, `libnvidia-ptxjitcompiler.so.${version}`));
    // An absolute link, as CUDA images have it: resolved inside the rootfs.
    if (link) fs.symlinkSync(`/usr/local/${cudaDir}`, path.join(rootfs, 'usr/local/cuda'));
    return `/usr/local/${cudaDir}/compat`;
  }

  function configure(...args) {
    const r = spawnSync(
      process.execPath,
      [CLI, ...globals, 'configure', `--pid=${cnt.pid}`, '--device=0', '--compute', '--utility', '--no-cgroups', ...args, rootfs],
      {
        encoding: 'utf8',
      },
    );
    return r;
  }
  function configureOk(...args) {
    const r = configure(...args);
    assert.equal(r.status, 0, `configure ${args.join(' ')}: ${r.stderr}`);
    return r;
  }
  const cache = () => ldcacheEntries(path.join(rootfs, 'etc/ld.so.cache'));
  /** The bytes the container's loader gets for libcuda.so.1 (through the cache's path, inside the container). */
  const libcudaUsed = () => fs.readFileSync(inside(cache().get('libcuda.so.1')));
  const isHostDriver = (buf) => buf.equals(fs.readFileSync(hostLib(`libcuda.so.${HOST}`)));
  const compatMounted = () => [...mountsUnder(cnt.pid, rootfs).keys()].filter((t) => /590\.44\.01|\/compat\//.test(t));

  it('ldconfig: a newer compat directory goes first in the ld cache; nothing of the image is mounted', () => {
    const compat = shipCompat('cuda-13.1', '590.44.01', { link: true });
    configureOk('--cuda-compat-mode=ldconfig');
    assert.equal(cache().get('libcuda.so.1'), `${compat}/libcuda.so.1`, "the loader's libcuda.so.1");
    assert.equal(cache().get('libnvidia-ptxjitcompiler.so.1'), `${compat}/libnvidia-ptxjitcompiler.so.1`);
    assert.equal(fs.readlinkSync(inside(`${compat}/libcuda.so.1`)), 'libcuda.so.590.44.01');
    assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libcuda.so.1`)), `libcuda.so.${HOST}`, 'the driver files stay as they are');
    assert.deepEqual(compatMounted(), []);
  });

  it('ldconfig is the default mode', () => {
    const compat = shipCompat('cuda-13.1', '590.44.01', { link: true });
    const r = configureOk('--dry-run');
    assert.match(r.stdout, new RegExp(`^ldconfig \\S+ ${compat} ${LIBDIR}$`, 'm'));
  });

  it('mount: the newer compat libraries are what libcuda.so.1 names, as links into the image (no image file mounted)', () => {
    const compat = shipCompat('cuda-13.1', '590.44.01', { link: true });
    configureOk('--cuda-compat-mode=mount');
    assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libcuda.so.590.44.01`)), `${compat}/libcuda.so.590.44.01`);
    assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libcuda.so.1`)), 'libcuda.so.590.44.01', 'after ldconfig too');
    assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libnvidia-ptxjitcompiler.so.1`)), 'libnvidia-ptxjitcompiler.so.590.44.01');
    assert.equal(cache().get('libcuda.so.1'), `${LIBDIR}/libcuda.so.1`);
    // The host driver's file is still there, mounted; the compat one is the image's own file.
    assert.ok(mountsUnder(cnt.pid, rootfs).has(`${LIBDIR}/libcuda.so.${HOST}`));
    assert.deepEqual(compatMounted(), []);
    assert.equal(fs.realpathSync(inside(`${compat}/libcuda.so.590.44.01`)), path.join(fs.realpathSync(rootfs), compat, 'libcuda.so.590.44.01'));
  });

  for (const args of [
    ['--cuda-compat-mode=disabled'],
    ['--no-cntlibs'],
    ['--cuda-compat-mode=mount', '--no-cntlibs'],
    ['--cuda-compat-mode=ldconfig', '--cuda-compat-mode=disabled'],
  ]) {
    it(`${args.join(' ')}: the image's compat libraries are ignored`, () => {
      shipCompat('cuda-13.1', '590.44.01', { link: true });
      configureOk(...args);
      assert.equal(cache().get('libcuda.so.1'), `${LIBDIR}/libcuda.so.1`);
      assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libcuda.so.1`)), `libcuda.so.${HOST}`);
      assert.ok(isHostDriver(libcudaUsed()));
      assert.ok(!fs.existsSync(inside(`${LIBDIR}/libcuda.so.590.44.01`)));
    });
  }

  for (const mode of ['ldconfig', 'mount']) {
    it(`${mode}: older and same-major compat libraries are not used (the host driver is)`, () => {
      shipCompat('cuda-12.8', '575.57.08', { link: true });
      shipCompat('cuda-13.0', '580.200.01');
      const r = configureOk(`--cuda-compat-mode=${mode}`, '--debug=/dev/stderr');
      assert.match(r.stderr, /compat driver 580\.200\.01 \(\/usr\/local\/cuda-13\.0\/compat\) is not of a newer major/);
      assert.equal(cache().get('libcuda.so.1'), `${LIBDIR}/libcuda.so.1`);
      assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libcuda.so.1`)), `libcuda.so.${HOST}`);
      assert.ok(isHostDriver(libcudaUsed()));
      assert.ok(!fs.readdirSync(inside(LIBDIR)).some((n) => /575|580\.200/.test(n)));
    });

    it(`${mode}: of an older and a newer compat directory, the newer is used`, () => {
      shipCompat('cuda-12.8', '575.57.08', { link: true });
      const newer = shipCompat('cuda-13.1', '590.44.01');
      configureOk(`--cuda-compat-mode=${mode}`);
      if (mode === 'ldconfig') {
        assert.equal(cache().get('libcuda.so.1'), `${newer}/libcuda.so.1`);
      } else {
        assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libcuda.so.1`)), 'libcuda.so.590.44.01');
        assert.equal(fs.readlinkSync(inside(`${LIBDIR}/libcuda.so.590.44.01`)), `${newer}/libcuda.so.590.44.01`);
      }
    });
  }

  it("an image link out of the rootfs is resolved inside it: a host directory's libraries are never found", () => {
    fs.mkdirSync(path.join(outside, 'compat'));
    fs.copyFileSync(hostLib(`libcuda.so.${HOST}`), path.join(outside, 'compat', 'libcuda.so.999.1.1'));
    fs.mkdirSync(path.join(rootfs, 'usr/local'), { recursive: true });
    fs.symlinkSync(`../../../../../../../../..${outside}`, path.join(rootfs, 'usr/local/cuda'));
    const r = configureOk('--cuda-compat-mode=mount', '--dry-run');
    assert.doesNotMatch(r.stdout, /999/);
    const l = configureOk('--cuda-compat-mode=ldconfig', '--dry-run');
    assert.match(l.stdout, new RegExp(`^ldconfig \\S+ ${LIBDIR}$`, 'm'));
  });

  it('without --compute, compat libraries are not looked at', () => {
    shipCompat('cuda-13.1', '590.44.01', { link: true });
    const r = spawnSync(process.execPath, [CLI, ...globals, 'configure', '--utility', '--cuda-compat-mode=ldconfig', '--dry-run', rootfs], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /compat/);
  });

  it('bad values are usage errors naming the option', () => {
    let r = configure('--cuda-compat-mode=hook');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--cuda-compat-mode: unknown mode 'hook' \(use mount, ldconfig, disabled\)/);
    r = configure('--cuda-compat-mode=mount', '--cuda-compat-mode=ldconfig');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /mount or ldconfig, not both/);
  });
});
