'use strict';
// Copy mode on simulated hosts: install -> doctor --rootfs -> uninstall leaves the rootfs exactly as
// before; hostile image layouts never lead to a write outside the rootfs; a failure halfway leaves
// the rootfs as before; a driver file that links out of the driver root is never copied.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { init, NvcError, uninstallDriver, runDoctor } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { makeRootfs, ldcacheEntries } = require('./support/container');
const { requireFeature, isRoot } = require('./support/features');
const { staticBusybox } = require('./support/cdi');

const CLI = path.join(__dirname, '..', 'bin', 'nvc-ts.js');
const LIBDIR = 'usr/lib/x86_64-linux-gnu';

/** Every path under dir: type and mode, owner, link target, content hash. */
function tree(dir) {
  const out = [];
  const walk = (rel) => {
    const abs = path.join(dir, rel);
    const st = fs.lstatSync(abs);
    let what = '';
    if (st.isSymbolicLink()) what = `-> ${fs.readlinkSync(abs)}`;
    else if (st.isFile()) what = crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
    out.push(`${rel || '.'} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${what}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(abs).sort()) walk(path.join(rel, name));
  };
  walk('');
  return out;
}

/** A rootfs with things install must keep: an ld.so.cache of its own and an old libcuda.so.1 link. */
function imageRootfs() {
  const dir = makeRootfs();
  fs.writeFileSync(path.join(dir, 'etc/ld.so.cache'), 'the image cache\n', { mode: 0o644 });
  fs.symlinkSync('libcuda.so.470.1.1', path.join(dir, LIBDIR, 'libcuda.so.1'));
  fs.writeFileSync(path.join(dir, LIBDIR, 'libimage.so.3'), 'image library');
  return dir;
}

describe('install (copy mode)', function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), "install runs the image's ldconfig in the confined helper (namespaces)");
  });
  this.timeout(120000);
  let host;
  let ctx;
  const dirs = [];
  before(async () => {
    host = await createSimulatedHost();
    ctx = await init(host.options);
  });
  after(async () => {
    await ctx?.shutdown();
    await host?.cleanup();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const rootfs = (fn = imageRootfs) => {
    const d = fn();
    dirs.push(d);
    return d;
  };

  it('install -> doctor --rootfs passes -> uninstall leaves the rootfs byte for byte as before', async () => {
    const dir = rootfs();
    const before = tree(dir);
    const r = await ctx.install(dir, { capabilities: ['compute', 'utility'] });
    assert.equal(r.applied, true);
    assert.equal(r.stamp.driverVersion, '580.159.04');
    // Libraries with their SONAME and development links, binaries, firmware, the stamp.
    const lib = path.join(dir, LIBDIR);
    assert.equal(fs.readlinkSync(path.join(lib, 'libcuda.so.1')), 'libcuda.so.580.159.04');
    assert.equal(fs.readlinkSync(path.join(lib, 'libcuda.so')), 'libcuda.so.1');
    assert.ok(fs.lstatSync(path.join(lib, 'libnvidia-ml.so.580.159.04')).isFile());
    assert.ok(fs.lstatSync(path.join(dir, 'usr/bin/nvidia-smi')).isFile());
    assert.ok(fs.lstatSync(path.join(dir, 'lib/firmware/nvidia/580.159.04/gsp_ga10x.bin')).isFile());
    for (const f of r.stamp.files) {
      const st = fs.lstatSync(path.join(dir, f.path));
      assert.equal(st.uid, 0);
      assert.equal(st.mode & 0o7000, 0, `${f.path} is not setuid`);
      assert.equal(
        crypto
          .createHash('sha256')
          .update(fs.readFileSync(path.join(dir, f.path)))
          .digest('hex'),
        f.sha256,
      );
    }
    // The image's ldconfig cache now resolves libcuda.so.1 to the installed driver.
    assert.equal(ldcacheEntries(path.join(dir, 'etc/ld.so.cache')).get('libcuda.so.1'), `/${LIBDIR}/libcuda.so.1`);
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.startsWith('.nvc-ts')),
      [],
      'no staging directory is left',
    );
    const doctor = await runDoctor({ ...host.options, rootfs: dir, only: ['rootfs-driver'] });
    // The simulated host's kernel module is the same version as the installed driver.
    assert.equal(doctor.checks[0].status, 'pass', doctor.checks[0].summary);
    const u = await uninstallDriver(dir);
    assert.ok(u.restored.includes(`/${LIBDIR}/libcuda.so.1`) && u.restored.includes('/etc/ld.so.cache'));
    assert.deepEqual(tree(dir), before);
  });

  it('a stamp edited to another version fails doctor --rootfs naming both', async () => {
    const dir = rootfs();
    await ctx.install(dir, { capabilities: ['compute'] });
    const stampFile = path.join(dir, 'etc/nvc-ts/driver.json');
    const stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8'));
    fs.writeFileSync(stampFile, JSON.stringify({ ...stamp, driverVersion: '550.54.15' }));
    const [check] = (await runDoctor({ ...host.options, rootfs: dir, only: ['rootfs-driver'] })).checks;
    assert.equal(check.status, 'fail');
    assert.match(check.summary, /550\.54\.15 .* kernel module is 580\.159\.04/);
  });

  it('uninstall refuses a file changed since installation, naming it; --force removes it', async () => {
    const dir = rootfs();
    const before = tree(dir);
    await ctx.install(dir, { capabilities: ['utility'] });
    fs.appendFileSync(path.join(dir, LIBDIR, 'libnvidia-ml.so.580.159.04'), 'x');
    await assert.rejects(
      uninstallDriver(dir),
      (e) => e instanceof NvcError && e.code === 'ERR_NVC_FILE_EXISTS' && /libnvidia-ml\.so\.580\.159\.04 \(changed\)/.test(e.message),
    );
    const r = spawnSync(process.execPath, [CLI, 'uninstall', '--from', dir, '--force'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(tree(dir), before);
  });

  it('a directory where a library goes: refused, naming it, and the rootfs is left as before', async () => {
    const dir = rootfs();
    fs.mkdirSync(path.join(dir, LIBDIR, 'libnvidia-ml.so.580.159.04'));
    const before = tree(dir);
    await assert.rejects(
      ctx.install(dir, { capabilities: ['compute', 'utility'] }),
      (e) => e instanceof NvcError && e.code === 'ERR_NVC_FILE_EXISTS' && e.message.includes(`/${LIBDIR}/libnvidia-ml.so.580.159.04`),
    );
    assert.deepEqual(tree(dir), before);
  });

  it("a failure after the image's files were set aside puts them back: the rootfs is left as before", async () => {
    // The image's libcuda.so.1 and ld.so.cache go aside into the staging directory before the
    // stamp is written; a file where the stamp's directory goes fails that last step.
    const dir = rootfs();
    fs.writeFileSync(path.join(dir, 'etc/nvc-ts'), 'not a directory\n');
    const before = tree(dir);
    await assert.rejects(
      ctx.install(dir, { capabilities: ['compute', 'utility'] }),
      (e) => e instanceof NvcError && e.code === 'ERR_NVC_FILE_EXISTS' && e.message.includes('/etc/nvc-ts'),
    );
    assert.deepEqual(tree(dir), before);
  });

  it('a driver library that is a link to a host file outside the driver root is never copied', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-outside-'));
    dirs.push(outside);
    const secret = path.join(outside, 'secret.so');
    const lib = path.join(host.root, LIBDIR, 'libnvidia-cfg.so.580.159.04');
    fs.copyFileSync(lib, secret);
    const saved = path.join(outside, 'saved');
    fs.renameSync(lib, saved);
    fs.symlinkSync(secret, lib);
    const probe = await init(host.options);
    try {
      const dir = rootfs();
      await probe.install(dir, { capabilities: ['utility'] });
      assert.ok(!fs.existsSync(path.join(dir, LIBDIR, 'libnvidia-cfg.so.580.159.04')));
      assert.ok(!fs.existsSync(path.join(dir, LIBDIR, 'libnvidia-cfg.so.1')), 'nor its SONAME link');
    } finally {
      await probe.shutdown();
      fs.rmSync(lib);
      fs.renameSync(saved, lib);
    }
  });

  it('install itself skips, with a warning, a source that leaves the driver root or is not a regular file', async () => {
    // Discovery already drops such files; this is the installer's own check, fed a selection directly.
    const { installDriver } = require('../dist/install/install.js');
    const { openContainer } = require('../dist/container.js');
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-outside-'));
    dirs.push(outside);
    fs.writeFileSync(path.join(outside, 'secret'), 'host secret');
    const link = path.join(host.root, 'usr/lib/libnvc-escape.so.1.0');
    const fifo = path.join(host.root, 'usr/lib/libnvc-fifo.so.1.0');
    fs.symlinkSync(path.join(outside, 'secret'), link);
    execFileSync('mkfifo', [fifo]);
    try {
      const dir = rootfs();
      const before = tree(dir);
      const item = (p) => ({
        role: 'library',
        step: 'driver',
        path: p.slice(host.root.length),
        hostPath: p,
        device: null,
        soname: path.basename(p).replace(/\.0$/, ''),
      });
      const r = await installDriver(dir, {
        container: await openContainer({ rootfs: dir }),
        selection: { items: [item(link), item(fifo)], gpus: [], capabilities: ['utility'], compat32: false },
        driverRoot: host.root,
        driverVersion: '580.159.04',
        cudaVersion: '13.0',
        dryRun: false,
        ldconfig: null,
      });
      assert.equal(r.stamp.files.length, 0);
      assert.deepEqual(r.stamp.links, [], 'no link to a skipped library');
      assert.ok(
        r.warnings.some((w) => w.includes('libnvc-escape.so.1.0 is a link to') && w.includes('outside the driver root')),
        r.warnings.join('\n'),
      );
      assert.ok(
        r.warnings.some((w) => w.includes('libnvc-fifo.so.1.0 is not a regular file')),
        r.warnings.join('\n'),
      );
      await uninstallDriver(dir);
      assert.deepEqual(tree(dir), before);
    } finally {
      fs.rmSync(link);
      fs.rmSync(fifo);
    }
  });

  it('a failing ldconfig: the files install replaced (the image cache, its libcuda.so.1) are put back', async () => {
    // The rollback moves the backups back through the staging directory's descriptor, which must
    // still be open then (found under npm run test:asan, where a sanitizer report failed ldconfig).
    const busybox = staticBusybox();
    if (!busybox) throw new Error('a static busybox is needed (apt-get install busybox-static): .ci/run installs it');
    const dir = rootfs();
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'sbin'), { recursive: true });
    fs.copyFileSync(busybox, path.join(dir, 'bin/busybox'));
    fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
    fs.symlinkSync('busybox', path.join(dir, 'bin/sh'));
    fs.writeFileSync(path.join(dir, 'sbin/ldconfig'), '#!/bin/sh\necho "ldconfig: cannot write the cache" >&2\nexit 1\n', { mode: 0o755 });
    const before = tree(dir);
    await assert.rejects(
      ctx.install(dir, { capabilities: ['compute', 'utility'], ldconfig: '/sbin/ldconfig' }),
      (e) => e instanceof NvcError && e.code === 'ERR_NVC_LDCONFIG' && /exit status 1/.test(e.message),
    );
    assert.deepEqual(tree(dir), before, 'the failed install left the rootfs as it was');
  });

  it('--dry-run writes nothing; the CLI prints what it would write', async () => {
    const dir = rootfs();
    const before = tree(dir);
    const o = host.options;
    const r = spawnSync(
      process.execPath,
      [CLI, 'install', '--into', dir, '--compute', '--dry-run', '--root', o.root, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`/${LIBDIR}/libcuda\\.so\\.1 -> libcuda\\.so\\.580\\.159\\.04`));
    assert.deepEqual(tree(dir), before);
  });

  it('bad inputs: a relative --into, / itself, an unknown option key', async () => {
    const r = spawnSync(process.execPath, [CLI, 'install', '--into', '/'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /must not be \//);
    await assert.rejects(ctx.install('/tmp', { bogus: 1 }), (e) => e instanceof NvcError && e.code === 'ERR_NVC_INVALID_ARGUMENT');
    await assert.rejects(uninstallDriver(makeRootfs()), (e) => e instanceof NvcError && /has no \/etc\/nvc-ts\/driver\.json/.test(e.message));
  });
});

// Hostile image layouts: every install either succeeds inside the rootfs or fails cleanly, the
// canary outside is never touched, and afterwards (uninstall, or the rollback) the rootfs is as before.
const CANARY = '/tmp/nvc-install-canary';
const HOSTILE = [
  ['libdir -> canary libdir (absolute)', (d) => relink(d, LIBDIR, `${CANARY}/${LIBDIR}`)],
  ['usr -> canary (absolute)', (d) => relink(d, 'usr', `${CANARY}/usr`)],
  ['usr -> ../../.. chain to the canary', (d) => relink(d, 'usr', `../../../../../../../..${CANARY}/usr`)],
  ['libdir -> /proc/self/root/<canary>', (d) => relink(d, LIBDIR, `/proc/self/root${CANARY}/${LIBDIR}`)],
  ['libdir -> /proc/1/root/<canary>', (d) => relink(d, LIBDIR, `/proc/1/root${CANARY}/${LIBDIR}`)],
  [
    'library name -> a canary file (absolute)',
    (d) => fs.symlinkSync(`${CANARY}/${LIBDIR}/libcuda.so.580.159.04`, path.join(d, LIBDIR, 'libcuda.so.580.159.04')),
  ],
  ['SONAME link name -> a canary file', (d) => fs.symlinkSync(`${CANARY}/file`, path.join(d, LIBDIR, 'libnvidia-ml.so.1'))],
  ['etc -> canary etc (the stamp and the cache)', (d) => relink(d, 'etc', `${CANARY}/etc`)],
  ['etc/nvc-ts -> canary', (d) => fs.symlinkSync(CANARY, path.join(d, 'etc/nvc-ts'))],
  ['lib -> canary (firmware)', (d) => fs.symlinkSync(`${CANARY}/lib`, path.join(d, 'lib'))],
  ['usr/bin -> /proc/self/cwd', (d) => relink(d, 'usr/bin', '/proc/self/cwd')],
  [
    'libdir is a symlink loop',
    (d) => relink(d, LIBDIR, 'loop1') || fs.symlinkSync('loop2', path.join(d, 'usr/lib/loop1')) || fs.symlinkSync('loop1', path.join(d, 'usr/lib/loop2')),
  ],
  ['libdir is a FIFO', (d) => fs.rmSync(path.join(d, LIBDIR), { recursive: true }) || execFileSync('mkfifo', [path.join(d, LIBDIR)])],
  ['usr/lib is a file', (d) => fs.rmSync(path.join(d, 'usr/lib'), { recursive: true }) || fs.writeFileSync(path.join(d, 'usr/lib'), 'x')],
];

function relink(dir, rel, target) {
  fs.rmSync(path.join(dir, rel), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.symlinkSync(target, path.join(dir, rel));
}

describe('install: hostile image layouts never write outside the rootfs', function () {
  this.timeout(300000);
  let host;
  let ctx;
  before(async () => {
    host = await createSimulatedHost();
    ctx = await init(host.options);
    fs.rmSync(CANARY, { recursive: true, force: true });
    for (const d of [LIBDIR, 'usr/bin', 'etc', 'lib/firmware']) fs.mkdirSync(path.join(CANARY, d), { recursive: true });
    fs.writeFileSync(path.join(CANARY, 'file'), 'canary');
    fs.writeFileSync(path.join(CANARY, LIBDIR, 'libcuda.so.580.159.04'), 'canary library');
    fs.writeFileSync(path.join(CANARY, 'etc/ld.so.cache'), 'canary cache');
  });
  after(async () => {
    await ctx.shutdown();
    await host.cleanup();
    fs.rmSync(CANARY, { recursive: true, force: true });
  });

  for (const [name, make] of HOSTILE) {
    it(name, async () => {
      const dir = makeRootfs();
      try {
        make(dir);
        const canary = tree(CANARY);
        const before = tree(dir);
        let installed = false;
        try {
          await ctx.install(dir, { capabilities: ['compute', 'utility'] });
          installed = true;
        } catch (e) {
          assert.ok(e instanceof NvcError, `a clean refusal, not ${e && e.stack}`);
          assert.notEqual(e.code, 'ERR_NVC_ROLLBACK_INCOMPLETE', e.message);
        }
        assert.deepEqual(tree(CANARY), canary, 'the canary outside the rootfs is untouched');
        if (installed) await uninstallDriver(dir);
        assert.deepEqual(tree(dir), before, installed ? 'uninstall restores the rootfs' : 'the failed install left the rootfs as it was');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('install --modules: a guest kernel release', function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), 'install runs ldconfig and depmod confined (namespaces)');
  });
  this.timeout(120000);
  const RELEASE = '6.1.0-42-guest';
  let host;
  let ctx;
  const dirs = [];
  before(async function () {
    requireFeature(
      this,
      'depmod',
      spawnSync('sh', ['-c', 'command -v depmod || test -x /usr/sbin/depmod || test -x /sbin/depmod']).status === 0,
      "kmod's depmod (apt-get install kmod)",
    );
    host = await createSimulatedHost();
    ctx = await init(host.options);
  });
  after(async () => {
    if (ctx) await ctx.shutdown();
    if (host) await host.cleanup();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  /** The driver's modules built for `release`, where a driver root keeps them. */
  async function driverModules(release, extra = {}) {
    const { nvidiaModules, writeKernelModule } = require('../dist/testing/index.js');
    const dir = path.join(host.root, 'usr/local/nvidia/modules');
    fs.rmSync(dir, { recursive: true, force: true });
    for (const m of nvidiaModules({ release, ...extra })) await writeKernelModule(dir, m);
    return dir;
  }

  it('copies the modules into lib/modules/RELEASE/extra, runs depmod; depmod -n and the module planner accept the tree; uninstall restores', async () => {
    await driverModules(RELEASE);
    const dir = makeRootfs();
    dirs.push(dir);
    const before = tree(dir);
    const r = await ctx.install(dir, { capabilities: ['compute', 'utility'], modules: RELEASE });
    assert.equal(r.stamp.kernelRelease, RELEASE);
    const extra = path.join(dir, 'lib/modules', RELEASE, 'extra');
    assert.deepEqual(fs.readdirSync(extra).sort(), ['nvidia-drm.ko', 'nvidia-modeset.ko', 'nvidia-peermem.ko', 'nvidia-uvm.ko', 'nvidia.ko']);
    const dep = fs.readFileSync(path.join(dir, 'lib/modules', RELEASE, 'modules.dep'), 'utf8');
    assert.match(dep, /^extra\/nvidia-uvm\.ko: extra\/nvidia\.ko$/m);
    assert.ok(
      r.stamp.files.some((f) => f.path === `/lib/modules/${RELEASE}/modules.dep`),
      'the index is in the stamp',
    );
    const dry = spawnSync('depmod', ['-n', '-b', dir, RELEASE], { encoding: 'utf8', env: { PATH: '/usr/sbin:/sbin:/usr/bin:/bin' } });
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /extra\/nvidia-modeset\.ko: extra\/nvidia\.ko/);
    // The planner, pointed at the installed tree of a guest that runs that release and has nothing loaded.
    const { planKernelModules } = require('../dist/index.js');
    const guestProc = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-guest-proc-'));
    dirs.push(guestProc);
    fs.mkdirSync(path.join(guestProc, 'sys/kernel'), { recursive: true });
    fs.writeFileSync(path.join(guestProc, 'sys/kernel/osrelease'), `${RELEASE}\n`);
    fs.writeFileSync(path.join(guestProc, 'modules'), '');
    const plan = await planKernelModules({
      root: dir,
      procRoot: guestProc,
      sysRoot: path.join(guestProc, 'sys'),
      kernelModulesDir: path.join(dir, 'lib/modules', RELEASE),
      modulesDir: extra,
      modules: ['nvidia', 'nvidia-uvm', 'nvidia-modeset'],
    });
    assert.equal(plan.ok, true, JSON.stringify(plan.problems));
    assert.deepEqual(plan.load, ['nvidia', 'nvidia_uvm', 'nvidia_modeset']);
    await uninstallDriver(dir);
    assert.deepEqual(tree(dir), before);
  });

  it('modules built for another release are refused, naming it, and the rootfs is left as it was', async () => {
    await driverModules('6.1.0-41-guest');
    const dir = makeRootfs();
    dirs.push(dir);
    const before = tree(dir);
    await assert.rejects(
      ctx.install(dir, { capabilities: ['compute'], modules: RELEASE }),
      (e) =>
        e instanceof NvcError &&
        e.code === 'ERR_NVC_KERNEL_MODULE' &&
        /nvidia \(nvidia\.ko\) was built for 6\.1\.0-41-guest/.test(e.message) &&
        e.message.includes(RELEASE),
    );
    assert.deepEqual(tree(dir), before);
  });

  it("an image whose /lib is an absolute link out of it: depmod is not run over the host's tree, and the rootfs is restored", async () => {
    await driverModules(RELEASE);
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-guest-outside-'));
    dirs.push(outside);
    const dir = makeRootfs();
    dirs.push(dir);
    fs.symlinkSync(outside, path.join(dir, 'lib'));
    const before = tree(dir);
    const outsideBefore = tree(outside);
    await assert.rejects(ctx.install(dir, { capabilities: ['compute'], modules: RELEASE }), (e) => e instanceof NvcError && e.code === 'ERR_NVC_PATH_ESCAPE');
    assert.deepEqual(tree(outside), outsideBefore, 'nothing written outside');
    assert.deepEqual(tree(dir), before);
  });
});
