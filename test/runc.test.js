'use strict';
// A real container run by runc, with `nvc-ts hook` as its prestart hook on a simulated host:
// inside, the selected GPU's node and the driver libraries with their SONAME links are there,
// and no other GPU. Under cgroup v1 (runc's mode on this hybrid host) and v2 (runc run where
// only the cgroup2 file system is mounted at /sys/fs/cgroup), the container opens its nodes
// read-write (ENXIO: no driver behind them) and is refused another GPU's node (EPERM).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { requireFeature, isRoot } = require('./support/features');
const { cgroupMounts } = require('./support/cgroup');
const { sanitizerEnv } = require('./support/sanitizer');

const BIN = path.resolve(__dirname, '../bin/nvc-ts.js');

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** A static busybox (no program interpreter): the container must run without any library of the host. */
function staticBusybox() {
  const p = which('busybox');
  if (!p) return null;
  const out = execFileSync('readelf', ['-lW', fs.realpathSync(p)], { encoding: 'utf8' });
  return /\bINTERP\b/.test(out) ? null : p;
}

describe('runc with nvc-ts hook', function () {
  let host;
  let bundle;
  const bundles = [];
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'runc needs root here');
    requireFeature(this, 'runc', which('runc') !== null, 'apt-get install runc');
    host = await createSimulatedHost();
  });
  after(async () => {
    if (host) await host.cleanup();
    for (const b of bundles) fs.rmSync(b, { recursive: true, force: true });
  });

  /**
   * options.procDriver: before nvc-ts, a first prestart hook binds the simulated host's
   * driver procfs over the container's /proc/driver, so the container's procfs has the
   * driver/nvidia directory a runtime on a GPU host sees (runc refuses such mounts in
   * config.json). options.nodes: device nodes made in the rootfs at /nodes before start.
   */
  function makeBundle(env, script, options = {}) {
    bundle = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-bundle-'));
    bundles.push(bundle);
    const rootfs = path.join(bundle, 'rootfs');
    for (const d of ['bin', 'etc/ld.so.conf.d', 'usr/lib/x86_64-linux-gnu', 'usr/bin', 'proc', 'dev', 'sys', 'tmp', 'run']) {
      fs.mkdirSync(path.join(rootfs, d), { recursive: true });
    }
    const busybox = staticBusybox();
    if (!busybox) throw new Error('a static busybox is needed (apt-get install busybox-static): .ci/run installs it');
    fs.copyFileSync(busybox, path.join(rootfs, 'bin/busybox'));
    fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
    for (const tool of ['sh', 'ls', 'cat', 'readlink', 'stat', 'echo', 'grep', 'sed', 'touch']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', tool));
    fs.writeFileSync(path.join(rootfs, 'etc/debian_version'), '12.0\n');
    fs.writeFileSync(path.join(rootfs, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
    for (const [name, major, minor] of options.nodes || []) {
      fs.mkdirSync(path.join(rootfs, 'nodes'), { recursive: true });
      execFileSync('mknod', ['-m', '666', path.join(rootfs, 'nodes', name), 'c', String(major), String(minor)]);
    }

    execFileSync('runc', ['spec'], { cwd: bundle });
    const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    config.process.terminal = false;
    config.process.args = ['/bin/sh', '-c', script];
    config.process.env = [...config.process.env, ...env];
    config.root = { path: 'rootfs', readonly: false };
    const o = host.options;
    const procDriverHook = {
      path: '/bin/sh',
      args: [
        'sh',
        '-c',
        // The state on stdin names the container's init; bind inside its mount namespace.
        `pid=$(sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p'); exec nsenter -t "$pid" -m mount --bind ${o.procRoot}/driver ${rootfs}/proc/driver`,
      ],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    };
    config.hooks = {
      prestart: [
        ...(options.procDriver ? [procDriverHook] : []),
        {
          path: process.execPath,
          args: ['node', BIN, 'hook', '--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot],
          // runc gives the hook only this env: under test:asan, also what loads the sanitized build.
          env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...sanitizerEnv()],
        },
      ],
    };
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));
    return bundle;
  }

  /** cgroup 1: runc as this host has it; 2: runc in a mount namespace where /sys/fs/cgroup is the cgroup2 file system. */
  function run(id, cgroup = 1) {
    if (cgroup === 1) return spawnSync('runc', ['run', '--bundle', bundle, id], { encoding: 'utf8', timeout: 60000 });
    const script = 'mount -t cgroup2 none /sys/fs/cgroup && exec runc run --bundle "$1" "$2"';
    return spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', bundle, id], { encoding: 'utf8', timeout: 60000 });
  }

  // Each allowed node opened read-write, as CUDA opens them; /nodes/nvidia1 is GPU 1's node,
  // made in the image, which the device cgroup must refuse.
  const OPEN_RW = ['/dev/nvidia0', '/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/nodes/nvidia1'];
  const openScript = OPEN_RW.map((n) => `(: <> ${n}) 2>&1 | sed "s|^|open ${n} |"; echo "open ${n} done"`);

  for (const cgroup of [1, 2]) {
    it(`NVIDIA_VISIBLE_DEVICES=0 gives GPU 0, the driver libraries and a sealed /proc/driver/nvidia, and nothing else (cgroup v${cgroup})`, function () {
      const mounts = cgroupMounts();
      requireFeature(this, `cgroup${cgroup}`, cgroup === 1 ? mounts.v1 !== null : mounts.v2 !== null, `a cgroup v${cgroup} device controller mounted`);
      makeBundle(
        ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_DRIVER_CAPABILITIES=compute,utility'],
        [
          'for d in /dev/nvidia*; do echo "node $d $(stat -c %t:%T $d)"; done',
          'echo "link $(readlink /usr/lib/x86_64-linux-gnu/libcuda.so.1)"',
          'echo "link $(readlink /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1)"',
          'echo "link $(readlink /usr/lib/x86_64-linux-gnu/libcuda.so)"',
          'ls /usr/lib/x86_64-linux-gnu/ | sed "s/^/lib /"',
          'ls /usr/bin | sed "s/^/bin /"',
          ...openScript,
          'grep " /proc/driver/nvidia " /proc/self/mountinfo | sed "s/^/procmount /"',
          'sed "s/^/params /" /proc/driver/nvidia/params',
          'ls /proc/driver/nvidia/gpus | sed "s/^/procgpu /"',
          'sed -n "s/^Model:[[:space:]]*/procmodel /p" /proc/driver/nvidia/gpus/*/information',
          '(touch /proc/driver/nvidia/x) 2>&1 | sed "s/^/procwrite /"',
          'grep -c "" /proc/self/cgroup | sed "s/^/cgroups /"',
        ].join('; '),
        { procDriver: true, nodes: [['nvidia1', 195, 1]] },
      );
      const r = run(`nvc-ts-test-v${cgroup}-${process.pid}`, cgroup);
      assert.equal(r.status, 0, `runc failed: ${r.stderr}\n${r.stdout}`);
      const lines = r.stdout.split('\n');
      const nodes = lines.filter((l) => l.startsWith('node ')).map((l) => l.slice(5));
      assert.ok(nodes.includes('/dev/nvidia0 c3:0'), nodes.join(', '));
      assert.ok(nodes.includes('/dev/nvidiactl c3:ff'), nodes.join(', '));
      assert.ok(!nodes.some((n) => /\/dev\/nvidia[12] /.test(n)), `no other GPU: ${nodes.join(', ')}`);
      assert.ok(lines.includes('link libcuda.so.580.159.04'));
      assert.ok(lines.includes('link libnvidia-ml.so.580.159.04'));
      assert.ok(lines.includes('link libcuda.so.1'));
      assert.ok(lines.includes('lib libcuda.so.580.159.04'));
      assert.ok(lines.includes('lib libnvidia-ptxjitcompiler.so.580.159.04'));
      assert.ok(!lines.includes('lib libnvcuvid.so.580.159.04'), 'video libraries were not asked for');
      assert.ok(lines.includes('bin nvidia-smi'));

      // The device cgroup lets the container open its nodes read-write (no driver behind
      // them here: ENXIO, not EPERM), and refuses GPU 1's node.
      const opened = (n) => lines.filter((l) => l.startsWith(`open ${n} `) && !l.endsWith(' done')).join(' | ');
      for (const n of OPEN_RW.slice(0, 4)) {
        assert.ok(lines.includes(`open ${n} done`), `${n} was tried`);
        assert.match(opened(n), /No such device or address/, `open ${n} O_RDWR: ${opened(n)}`);
      }
      assert.match(opened('/nodes/nvidia1'), /Operation not permitted/, `open /nodes/nvidia1 O_RDWR: ${opened('/nodes/nvidia1')}`);

      // /proc/driver/nvidia: nvc-ts's tmpfs over the driver's directory, read-only, params
      // rewritten, and only GPU 0's directory (bound from the host's procfs).
      const procMount = lines.find((l) => l.startsWith('procmount ')) || '';
      assert.match(procMount, / - tmpfs /, procMount);
      assert.match(procMount.split(' - ')[0], /\bro\b/, `read-only: ${procMount}`);
      assert.ok(lines.includes('params ModifyDeviceFiles: 0'), lines.filter((l) => l.startsWith('params ')).join('\n'));
      assert.ok(!lines.includes('params ModifyDeviceFiles: 1'));
      assert.deepEqual(
        lines.filter((l) => l.startsWith('procgpu ')),
        ['procgpu 0000:00:06.0'],
      );
      assert.deepEqual(
        lines.filter((l) => l.startsWith('procmodel ')),
        ['procmodel NVIDIA H100 80GB HBM3'],
      );
      assert.match(lines.find((l) => l.startsWith('procwrite ')) || '', /Read-only file system/);
    });
  }

  it('a container without NVIDIA_VISIBLE_DEVICES is left alone', () => {
    makeBundle([], 'ls /dev; ls /usr/lib/x86_64-linux-gnu | wc -l');
    const r = run(`nvc-ts-test-plain-${process.pid}`);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /nvidia/);
  });
});
