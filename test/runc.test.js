'use strict';
// A real container run by runc, with `nvc-ts hook` as its prestart hook on a simulated host:
// inside, the selected GPU's node and the driver libraries with their SONAME links are there,
// and no other GPU.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { createSimulatedHost } = require('../dist/testing/index.js');

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
    if (process.getuid() !== 0) this.skip();
    if (!which('runc')) throw new Error('runc is not installed (apt-get install runc): .ci/run installs it');
    host = await createSimulatedHost();
  });
  after(async () => {
    if (host) await host.cleanup();
    for (const b of bundles) fs.rmSync(b, { recursive: true, force: true });
  });

  function makeBundle(env, script) {
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
    for (const tool of ['sh', 'ls', 'cat', 'readlink', 'stat', 'echo']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', tool));
    fs.writeFileSync(path.join(rootfs, 'etc/debian_version'), '12.0\n');
    fs.writeFileSync(path.join(rootfs, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');

    execFileSync('runc', ['spec'], { cwd: bundle });
    const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    config.process.terminal = false;
    config.process.args = ['/bin/sh', '-c', script];
    config.process.env = [...config.process.env, ...env];
    config.root = { path: 'rootfs', readonly: false };
    const o = host.options;
    config.hooks = {
      prestart: [
        {
          path: process.execPath,
          args: ['node', BIN, 'hook', '--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot],
          env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        },
      ],
    };
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));
    return bundle;
  }

  function run(id) {
    return spawnSync('runc', ['run', '--bundle', bundle, id], { encoding: 'utf8', timeout: 60000 });
  }

  it('NVIDIA_VISIBLE_DEVICES=0 gives GPU 0 and the driver libraries, and nothing else', () => {
    makeBundle(
      ['NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_DRIVER_CAPABILITIES=compute,utility'],
      [
        'for d in /dev/nvidia*; do echo "node $d $(stat -c %t:%T $d)"; done',
        'echo "link $(readlink /usr/lib/x86_64-linux-gnu/libcuda.so.1)"',
        'echo "link $(readlink /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1)"',
        'echo "link $(readlink /usr/lib/x86_64-linux-gnu/libcuda.so)"',
        'ls /usr/lib/x86_64-linux-gnu/ | sed "s/^/lib /"',
        'ls /usr/bin | sed "s/^/bin /"',
        'cat /dev/nvidia0 2>&1 | sed "s/^/open0 /"',
      ].join('; '),
    );
    const r = run(`nvc-ts-test-${process.pid}`);
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
    // The device cgroup lets the container open its GPU node (no driver behind it here: ENXIO, not EPERM).
    const open0 = lines.find((l) => l.startsWith('open0 ')) || '';
    assert.match(open0, /No such device or address/, `cat /dev/nvidia0: ${open0}`);
  });

  it('a container without NVIDIA_VISIBLE_DEVICES is left alone', () => {
    makeBundle([], 'ls /dev; ls /usr/lib/x86_64-linux-gnu | wc -l');
    const r = run(`nvc-ts-test-plain-${process.pid}`);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /nvidia/);
  });
});
