'use strict';
// doctor on simulated hosts: a whole host passes, then each failure class is built and must be
// detected with its evidence and fix; a reading that hangs is a failed check within the timeout;
// --container probes a real process's device cgroup; --rootfs checks an image's driver.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync, spawnSync } = require('node:child_process');
const { runDoctor, DOCTOR_CHECK_IDS } = require('../dist/doctor/index.js');
const { NvcError } = require('../dist/index.js');
const { writeLdCache, LDCACHE_FLAGS } = require('../dist/testing/index.js');
const { healthyHost, procModules, mknod, write, ALL_MODULES } = require('./support/doctor-host');
const { cgroupFor, cgroupMounts } = require('./support/cgroup');
const { requireFeature, isRoot } = require('./support/features');
const { waitFor } = require('./support/proc');

const CLI = path.join(__dirname, '..', 'bin', 'nvc-ts.js');
const TIMEOUT_MS = 5000;

function byId(report) {
  return Object.fromEntries(report.checks.map((c) => [c.id, c]));
}

async function doctorOn(host, extra = {}) {
  return byId(await runDoctor({ ...host.options, timeoutMs: TIMEOUT_MS, ...extra }));
}

function cli(args, opts = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000, ...opts });
}

describe('doctor: host checks', function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), "the doctor's host has real device nodes (mknod)");
  });
  let host;
  afterEach(async () => {
    if (host) await host.cleanup();
    host = undefined;
  });

  it('a whole host passes every host check, and the CLI exits 0 with the JSON shape', async () => {
    host = await healthyHost();
    const checks = await doctorOn(host);
    for (const c of Object.values(checks)) assert.equal(c.status, 'pass', `${c.id}: ${c.summary} ${JSON.stringify(c.evidence)}`);
    assert.deepEqual(
      Object.keys(checks),
      DOCTOR_CHECK_IDS.filter((id) => !id.startsWith('container-') && !id.startsWith('rootfs-')),
    );
    const o = host.options;
    const r = cli(['doctor', '--json', '--root', o.root, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot]);
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.schemaVersion, 1);
    for (const c of json.checks) {
      assert.deepEqual(
        Object.keys(c).filter((k) => k !== 'fix'),
        ['id', 'status', 'summary', 'evidence'],
      );
      assert.equal(c.status, 'pass');
    }
  });

  it('kernel module 550.54.14 with libraries 550.54.15: versions fails naming both, and `info` names both and doctor', async () => {
    host = await healthyHost({ driverVersion: '550.54.15', faults: [{ fn: 'nvmlInit_v2', kind: 'error', code: 18 }] });
    const versionFile = path.join(host.procRoot, 'driver/nvidia/version');
    fs.writeFileSync(versionFile, fs.readFileSync(versionFile, 'utf8').replace('550.54.15', '550.54.14'));
    const checks = await doctorOn(host);
    assert.equal(checks.versions.status, 'fail');
    assert.match(checks.versions.summary, /kernel module 550\.54\.14 but user-space driver 550\.54\.15/);
    assert.equal(checks.versions.evidence[versionFile], '550.54.14');
    assert.match(checks.versions.evidence['ld.so.cache libnvidia-ml.so.1'], /libnvidia-ml\.so\.550\.54\.15$/);
    assert.match(checks.versions.fix, /reboot|reload/);
    assert.equal(checks.nvml.status, 'fail');
    assert.equal(checks.nvml.evidence.code, 'ERR_NVC_VERSION_MISMATCH');
    const o = host.options;
    const r = cli(['info', '--root', o.root, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /550\.54\.14/);
    assert.match(r.stderr, /550\.54\.15/);
    assert.match(r.stderr, /nvc-ts doctor/);
  });

  it('several user-space versions side by side: a warning naming the old files', async () => {
    host = await healthyHost();
    const old = path.join(host.root, 'usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05');
    fs.writeFileSync(old, 'old');
    fs.utimesSync(old, new Date(0), new Date(0));
    const { versions } = await doctorOn(host, { only: ['versions'] });
    assert.equal(versions.status, 'warn');
    assert.match(versions.summary, /535\.104\.05/);
    assert.deepEqual(versions.evidence['files of 535.104.05'], ['/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05']);
  });

  it('nvidia_uvm not loaded: modules fails, naming CUDA_ERROR_UNKNOWN', async () => {
    host = await healthyHost();
    fs.writeFileSync(path.join(host.procRoot, 'modules'), procModules(ALL_MODULES.filter((m) => m !== 'nvidia_uvm')));
    const { modules } = await doctorOn(host, { only: ['modules'] });
    assert.equal(modules.status, 'fail');
    assert.match(modules.summary, /nvidia_uvm is not loaded: CUDA programs fail with CUDA_ERROR_UNKNOWN/);
    assert.equal(modules.evidence.nvidia_uvm, 'not loaded');
    assert.match(modules.fix, /nvidia-uvm/);
  });

  it('nvidia_drm loaded without modeset=1: a warning', async () => {
    host = await healthyHost();
    fs.writeFileSync(path.join(host.sysRoot, 'module/nvidia_drm/parameters/modeset'), 'N\n');
    const { modules } = await doctorOn(host, { only: ['modules'] });
    assert.equal(modules.status, 'warn');
    assert.match(modules.summary, /modeset=1/);
  });

  it('a node with the wrong major fails device-nodes naming it, with both numbers', async () => {
    host = await healthyHost();
    const uvm = path.join(host.devRoot, 'nvidia-uvm');
    fs.rmSync(uvm);
    mknod(uvm, 239, 0);
    const checks = await doctorOn(host, { only: ['device-nodes'] });
    assert.equal(checks['device-nodes'].status, 'fail');
    assert.match(checks['device-nodes'].summary, new RegExp(`${uvm} is char 239:0, want char 238:0`));
    assert.match(checks['device-nodes'].fix, /nvc-ts modules nodes/);
  });

  it('a node with a mode other than the driver asks for: a warning', async () => {
    host = await healthyHost();
    fs.chmodSync(path.join(host.devRoot, 'nvidia0'), 0o600);
    const checks = await doctorOn(host, { only: ['device-nodes'] });
    assert.equal(checks['device-nodes'].status, 'warn');
    assert.match(checks['device-nodes'].summary, /nvidia0 has mode 0600, the driver's is 0666/);
  });

  it('no persistence mode and no nvidia-persistenced: a warning about seconds per start', async () => {
    host = await healthyHost({
      gpus: (await import('../dist/testing/index.js')).defaultSimulatedHostSpec().gpus.map((g) => ({ ...g, persistenceMode: 'off' })),
    });
    const { persistence } = await doctorOn(host, { only: ['persistence'] });
    assert.equal(persistence.status, 'warn');
    assert.match(persistence.summary, /persistence mode is off on GPU 0 .*nvidia-persistenced is not running/);
    assert.match(persistence.fix, /nvidia-smi -pm 1/);
  });

  it('missing GSP firmware fails, naming the version and the places searched', async () => {
    host = await healthyHost();
    fs.rmSync(path.join(host.root, 'lib/firmware/nvidia'), { recursive: true });
    const { firmware } = await doctorOn(host, { only: ['firmware'] });
    assert.equal(firmware.status, 'fail');
    assert.match(firmware.summary, /no gsp_\*\.bin for 580\.159\.04 is in \/lib\/firmware\/nvidia\/580\.159\.04, \/usr\/lib\/firmware/);
  });

  it('GSP firmware found through the firmware_class path (as on the GPU machine)', async () => {
    host = await healthyHost();
    fs.renameSync(path.join(host.root, 'lib/firmware'), path.join(host.root, 'opt-firmware'));
    fs.writeFileSync(path.join(host.sysRoot, 'module/firmware_class/parameters/path'), '/opt-firmware\n');
    const { firmware } = await doctorOn(host, { only: ['firmware'] });
    assert.equal(firmware.status, 'pass', firmware.summary);
    assert.match(firmware.summary, /\/opt-firmware\/nvidia\/580\.159\.04/);
  });

  it('nvidia-smi a wrapper script: a warning naming what it execs', async () => {
    host = await healthyHost();
    const smi = path.join(host.root, 'usr/bin/nvidia-smi');
    fs.writeFileSync(smi, '#!/bin/sh\nexec /usr/local/nvidia/bin/nvidia-smi "$@"\n');
    const { binaries } = await doctorOn(host, { only: ['binaries'] });
    assert.equal(binaries.status, 'warn');
    assert.match(binaries.summary, /\/usr\/bin\/nvidia-smi is a wrapper script \(\/bin\/sh\) that execs \/usr\/local\/nvidia\/bin\/nvidia-smi/);
  });

  it('no ldconfig on this machine (the one configure runs): binaries fails', async () => {
    host = await healthyHost();
    const o = host.options;
    // A mount namespace of its own where /sbin and /usr/sbin are empty: ldconfig is gone, node is not.
    const script = `mount -t tmpfs none /usr/sbin && { [ -L /sbin ] || mount -t tmpfs none /sbin; } && exec "$@"`;
    const r = spawnSync(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        script,
        'sh',
        process.execPath,
        CLI,
        'doctor',
        '--json',
        '--only',
        'binaries',
        '--root',
        o.root,
        '--proc-root',
        o.procRoot,
        '--dev-root',
        o.devRoot,
        '--sys-root',
        o.sysRoot,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1, r.stderr);
    const [binaries] = JSON.parse(r.stdout).checks;
    assert.equal(binaries.status, 'fail');
    assert.match(binaries.summary, /no runnable ldconfig/);
  });

  it('a stale ld.so.cache: a driver library newer than the cache, or an entry whose file is gone', async () => {
    host = await healthyHost();
    const lib = path.join(host.root, 'usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.159.04');
    const later = new Date(Date.now() + 3600e3);
    fs.utimesSync(lib, later, later);
    let { ldcache } = await doctorOn(host, { only: ['ldcache'] });
    assert.equal(ldcache.status, 'fail');
    assert.deepEqual(
      ldcache.evidence['libraries newer than the cache'].map((l) => l.split(' ')[0]),
      ['/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.159.04'],
    );
    await host.cleanup();
    host = await healthyHost();
    fs.rmSync(path.join(host.root, 'usr/lib/x86_64-linux-gnu/libnvidia-cfg.so.580.159.04'));
    ({ ldcache } = await doctorOn(host, { only: ['ldcache'] }));
    assert.equal(ldcache.status, 'fail');
    assert.ok(ldcache.evidence['entries that do not resolve'].includes('libnvidia-cfg.so.1 -> /usr/lib/x86_64-linux-gnu/libnvidia-cfg.so.1'));
  });

  it('the device cgroup is not programmable by a non-root user (the CLI run as nobody)', async function () {
    host = await healthyHost();
    const o = host.options;
    const r = cli(['doctor', '--json', '--only', 'cgroups', '--root', o.root, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot], {
      uid: 65534,
      gid: 65534,
      cwd: os.tmpdir(),
    });
    assert.equal(r.status, 1, r.stderr);
    const [cgroups] = JSON.parse(r.stdout).checks;
    assert.equal(cgroups.status, 'fail');
    assert.match(cgroups.summary, /uid 65534/);
    assert.match(cgroups.fix, /root|--no-cgroups/);
  });

  it('a systemd host without /dev/char links fails dev-char, naming the missing numbers; not systemd: skipped', async () => {
    host = await healthyHost();
    fs.rmSync(path.join(host.devRoot, 'char/238:0'));
    const checks = await doctorOn(host, { only: ['dev-char'] });
    assert.equal(checks['dev-char'].status, 'fail');
    assert.match(checks['dev-char'].summary, /238:0 \(nvidia-uvm\)/);
    assert.equal(checks['dev-char'].evidence[path.join(host.devRoot, 'char/238:0')], 'missing');
    fs.writeFileSync(path.join(host.procRoot, '1/comm'), 'init\n');
    assert.equal((await doctorOn(host, { only: ['dev-char'] }))['dev-char'].status, 'skip');
  });

  it('a renumbered DRM node fails drm, naming both numbers', async () => {
    host = await healthyHost();
    const card = path.join(host.devRoot, 'dri/card2');
    fs.rmSync(card);
    mknod(card, 226, 7);
    const { drm } = await doctorOn(host, { only: ['drm'] });
    assert.equal(drm.status, 'fail');
    assert.match(drm.summary, new RegExp(`${card} is 226:7, sysfs says 226:2`));
  });

  it('a stale CDI spec (a library of the old driver) fails cdi, naming the spec and the path; no spec at all is skipped', async () => {
    host = await healthyHost();
    const file = path.join(host.root, 'etc/cdi/nvidia.json');
    const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
    const lib = spec.containerEdits.mounts.find((m) => /libcuda\.so\.580/.test(m.hostPath));
    lib.hostPath = lib.hostPath.replace('580.159.04', '550.54.15');
    fs.writeFileSync(file, JSON.stringify(spec));
    const before = fs.readFileSync(file);
    let { cdi } = await doctorOn(host, { only: ['cdi'] });
    assert.equal(cdi.status, 'fail');
    assert.ok(
      cdi.evidence.problems.some((p) => p.includes(file) && p.includes('libcuda.so.550.54.15')),
      JSON.stringify(cdi.evidence.problems),
    );
    assert.match(cdi.fix, /nvc-ts cdi refresh/);
    assert.deepEqual(fs.readFileSync(file), before, 'doctor never changes a spec');
    fs.rmSync(file);
    ({ cdi } = await doctorOn(host, { only: ['cdi'] }));
    assert.equal(cdi.status, 'skip');
  });

  it('SELinux enforcing and WSL are reported as warnings', async () => {
    host = await healthyHost();
    write(path.join(host.sysRoot, 'fs/selinux/enforce'), '1\n');
    mknod(path.join(host.devRoot, 'dxg'), 10, 63);
    const { security } = await doctorOn(host, { only: ['security'] });
    assert.equal(security.status, 'warn');
    assert.match(security.summary, /SELinux is enforcing; this is WSL2/);
  });

  it('an NVML that hangs is a failed check within the timeout, not a hung doctor', async () => {
    host = await healthyHost({ faults: [{ fn: 'nvmlInit_v2', kind: 'hang' }] });
    const started = Date.now();
    const checks = byId(await runDoctor({ ...host.options, timeoutMs: 500 }));
    assert.ok(Date.now() - started < 30000);
    assert.equal(checks.nvml.status, 'fail');
    assert.equal(checks.nvml.evidence.code, 'ERR_NVC_SERVICE_TIMEOUT');
    assert.equal(checks.modules.status, 'pass', 'the other checks still ran');
  });

  it('a FIFO in place of /proc/driver/nvidia/version fails the checks that read it, without hanging', async () => {
    host = await healthyHost();
    const version = path.join(host.procRoot, 'driver/nvidia/version');
    fs.rmSync(version);
    execFileSync('mkfifo', [version]);
    const checks = byId(await runDoctor({ ...host.options, timeoutMs: 500, only: ['versions', 'modules'] }));
    assert.equal(checks.versions.status, 'fail');
    assert.match(checks.versions.summary, /not a regular file \(a FIFO\)/);
    assert.equal(checks.modules.status, 'pass');
  });

  it('bad options are refused naming the option', async () => {
    await assert.rejects(runDoctor({ only: ['nope'] }), (e) => e instanceof NvcError && e.code === 'ERR_NVC_INVALID_ARGUMENT' && /only/.test(e.message));
    await assert.rejects(runDoctor({ only: ['container-devices'] }), (e) => e instanceof NvcError && /needs a container/.test(e.message));
    await assert.rejects(runDoctor({ rootfs: 'relative' }), (e) => e instanceof NvcError && /rootfs/.test(e.message));
    const r = cli(['doctor', '--container', 'x']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--container needs a process id/);
  });
});

/** A rootfs with the driver's user-space view: libcuda/libnvidia-ml of `version` in its cache. */
function driverRootfs(dir, version) {
  const lib = path.join(dir, 'usr/lib/x86_64-linux-gnu');
  fs.mkdirSync(lib, { recursive: true });
  const entries = [];
  for (const base of ['libcuda.so', 'libnvidia-ml.so']) {
    fs.writeFileSync(path.join(lib, `${base}.${version}`), `${base} ${version}`);
    fs.symlinkSync(`${base}.${version}`, path.join(lib, `${base}.1`));
    entries.push({ key: `${base}.1`, value: `/usr/lib/x86_64-linux-gnu/${base}.1`, flags: LDCACHE_FLAGS.X86_64 });
  }
  fs.mkdirSync(path.join(dir, 'etc'), { recursive: true });
  return writeLdCache(path.join(dir, 'etc/ld.so.cache'), entries);
}

describe('doctor --container: a running container against the host', function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), 'containers need mount namespaces and cgroups; the host has real device nodes');
  });
  let host;
  let rootfs;
  let child;
  let cg;

  afterEach(async () => {
    if (child) {
      child.kill('SIGKILL');
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
    }
    if (cg) cg.remove();
    if (host) await host.cleanup();
    if (rootfs) fs.rmSync(rootfs, { recursive: true, force: true });
    child = cg = host = rootfs = undefined;
  });

  /** A chrooted process in a v1 device cgroup allowing `rules`, with the GPU nodes and the driver's files inside. */
  async function container(rules, { uvmInside = true, version = '580.159.04' } = {}) {
    requireFeature(this, 'cgroup-v1-devices', cgroupMounts().v1 !== null, 'a cgroup v1 devices hierarchy');
    requireFeature(this, 'busybox', fs.existsSync('/bin/busybox'), 'a static busybox at /bin/busybox');
    host = await healthyHost();
    rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-doctor-rootfs-'));
    fs.mkdirSync(path.join(rootfs, 'bin'));
    fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
    fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
    mknod(path.join(rootfs, 'dev/nvidiactl'), 195, 255);
    mknod(path.join(rootfs, 'dev/nvidia0'), 195, 0);
    if (uvmInside) mknod(path.join(rootfs, 'dev/nvidia-uvm'), 238, 0);
    write(path.join(rootfs, 'proc/driver/nvidia/params'), 'ModifyDeviceFiles: 0\n');
    await driverRootfs(rootfs, version);
    child = spawn('chroot', [rootfs, '/bin/busybox', 'sleep', '1000'], { stdio: 'ignore' });
    const pid = child.pid;
    assert.ok(await waitFor(() => fs.readlinkSync(`/proc/${pid}/root`) === rootfs, 5000, 5), 'the process is chrooted');
    cg = cgroupFor(pid, 1);
    for (const rule of rules) fs.writeFileSync(path.join(cg.dir, 'devices.allow'), rule);
    return pid;
  }

  it('a container whose device cgroup allows its nodes and nvidia-uvm, with the host driver: pass', async function () {
    const pid = await container.call(this, ['c 195:* rwm', 'c 238:* rwm']);
    const checks = await doctorOn(host, { container: pid, only: ['container-devices', 'container-driver'] });
    assert.equal(checks['container-devices'].status, 'pass', JSON.stringify(checks['container-devices']));
    assert.equal(checks['container-devices'].evidence["open /dev/nvidia-uvm in the container's cgroup"], 'allowed (ENXIO)');
    assert.equal(checks['container-driver'].status, 'pass', JSON.stringify(checks['container-driver']));
  });

  it('a container whose cgroup denies nvidia-uvm fails, naming it and CUDA_ERROR_UNKNOWN', async function () {
    const pid = await container.call(this, ['c 195:* rwm']);
    const checks = await doctorOn(host, { container: pid, only: ['container-devices'] });
    const c = checks['container-devices'];
    assert.equal(c.status, 'fail');
    assert.match(c.summary, /the device cgroup denies \/dev\/nvidia-uvm: CUDA fails with CUDA_ERROR_UNKNOWN/);
    assert.equal(c.evidence["open /dev/nvidia-uvm in the container's cgroup"], 'denied (EPERM)');
    assert.equal(c.evidence["open /dev/nvidia0 in the container's cgroup"], 'allowed (ENXIO)');
    assert.deepEqual(c.evidence[path.join(cg.dir, 'devices.list')], ['c 195:* rwm']);
  });

  it('a container without /dev/nvidia-uvm and with another driver version fails both checks', async function () {
    const pid = await container.call(this, ['c 195:* rwm', 'c 238:* rwm'], { uvmInside: false, version: '550.54.15' });
    const checks = await doctorOn(host, { container: pid, only: ['container-devices', 'container-driver'] });
    assert.equal(checks['container-devices'].status, 'fail');
    assert.match(checks['container-devices'].summary, /\/dev\/nvidia-uvm is not in the container/);
    assert.equal(checks['container-driver'].status, 'fail');
    assert.match(checks['container-driver'].summary, /the container's libraries are 550\.54\.15 but the host kernel module is 580\.159\.04/);
  });
});

describe('doctor --rootfs: an image against the running kernel module', function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), "the doctor's host has real device nodes (mknod)");
  });
  let host;
  let dir;
  afterEach(async () => {
    if (host) await host.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    host = dir = undefined;
  });

  it('an image whose libraries are of another version fails naming both; the same version passes', async () => {
    host = await healthyHost();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-doctor-image-'));
    await driverRootfs(dir, '550.54.15');
    let checks = await doctorOn(host, { rootfs: dir, only: ['rootfs-driver'] });
    assert.equal(checks['rootfs-driver'].status, 'fail');
    assert.match(checks['rootfs-driver'].summary, /user-space driver is 550\.54\.15 \(from its ld\.so\.cache\) but the running kernel module is 580\.159\.04/);
    fs.rmSync(dir, { recursive: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-doctor-image-'));
    await driverRootfs(dir, '580.159.04');
    checks = await doctorOn(host, { rootfs: dir, only: ['rootfs-driver'] });
    assert.equal(checks['rootfs-driver'].status, 'pass', checks['rootfs-driver'].summary);
  });

  it('a stamp is the authority: another version fails naming both, a changed file fails', async () => {
    host = await healthyHost();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-doctor-image-'));
    const file = path.join(dir, 'usr/lib/libcuda.so.580.159.04');
    write(file, 'cuda');
    const sha256 = require('node:crypto').createHash('sha256').update('cuda').digest('hex');
    const stamp = { schemaVersion: 1, driverVersion: '580.159.04', files: [{ path: '/usr/lib/libcuda.so.580.159.04', size: 4, sha256 }] };
    write(path.join(dir, 'etc/nvc-ts/driver.json'), JSON.stringify(stamp));
    let checks = await doctorOn(host, { rootfs: dir, only: ['rootfs-driver'] });
    assert.equal(checks['rootfs-driver'].status, 'pass', checks['rootfs-driver'].summary);
    fs.writeFileSync(file, 'CUDA');
    checks = await doctorOn(host, { rootfs: dir, only: ['rootfs-driver'] });
    assert.equal(checks['rootfs-driver'].status, 'fail');
    assert.deepEqual(checks['rootfs-driver'].evidence['changed since installation'], ['/usr/lib/libcuda.so.580.159.04 (content)']);
    write(path.join(dir, 'etc/nvc-ts/driver.json'), JSON.stringify({ ...stamp, driverVersion: '570.86.10' }));
    checks = await doctorOn(host, { rootfs: dir, only: ['rootfs-driver'] });
    assert.equal(checks['rootfs-driver'].status, 'fail');
    assert.match(checks['rootfs-driver'].summary, /570\.86\.10 \(from \/etc\/nvc-ts\/driver\.json\) but the running kernel module is 580\.159\.04/);
  });

  it("an image's absolute symlink is resolved inside the image, never on the host", async () => {
    host = await healthyHost();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-doctor-image-'));
    // /etc in the image is an absolute link to a directory of this machine whose cache names driver
    // 580.159.04: followed on the host, the image would seem to carry that driver and pass.
    fs.symlinkSync(path.join(host.root, 'etc'), path.join(dir, 'etc'));
    const checks = await doctorOn(host, { rootfs: dir, only: ['rootfs-driver'] });
    assert.equal(checks['rootfs-driver'].status, 'skip', JSON.stringify(checks['rootfs-driver']));
  });
});
