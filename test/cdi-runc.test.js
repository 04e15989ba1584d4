'use strict';
// A real runc runs a container whose config.json got nvidia.com/gpu=0 from `nvc-ts cdi inject`,
// with a spec that `nvc-ts cdi generate` wrote for a simulated host.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { requireFeature, isRoot } = require('./support/features');
const { which, hostArgs, cli, busyboxRootfs, PROBE_SCRIPT, tmpdir } = require('./support/cdi');
const { ldcacheEntries } = require('./support/container');

const LIBDIR = '/usr/lib/x86_64-linux-gnu';

describe('cdi inject + runc (simulated host)', function () {
  let host;
  let specDir;
  let bundle;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'runc needs root here');
    requireFeature(this, 'runc', which('runc') !== null, 'apt-get install runc');
    host = await createSimulatedHost();
    specDir = tmpdir('nvc-cdi-specs-');
    bundle = tmpdir('nvc-cdi-bundle-');
  });
  after(async () => {
    if (host) await host.cleanup();
    for (const d of [specDir, bundle]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('gives GPU 0 (in linux.devices, with an allow rule), the driver libraries and libcuda.so.1, and no other GPU', function () {
    const spec = path.join(specDir, 'nvidia.yaml');
    const gen = cli([...hostArgs(host), 'cdi', 'generate', '--capabilities', 'compute,utility', '--output', spec]);
    assert.equal(gen.status, 0, gen.stderr);

    const rootfs = path.join(bundle, 'rootfs');
    busyboxRootfs(rootfs);
    execFileSync('runc', ['spec'], { cwd: bundle });
    const configFile = path.join(bundle, 'config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    config.process.terminal = false;
    config.process.args = ['/bin/sh', '-c', PROBE_SCRIPT];
    config.root = { path: 'rootfs', readonly: false };
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));

    const inj = cli(['cdi', 'inject', '--device', 'nvidia.com/gpu=0', '--spec-dir', specDir, configFile]);
    assert.equal(inj.status, 0, inj.stderr);
    const injected = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    const gpu0 = injected.linux.devices.find((d) => d.path === '/dev/nvidia0');
    assert.deepEqual({ type: gpu0.type, major: gpu0.major, minor: gpu0.minor }, { type: 'c', major: 195, minor: 0 });
    assert.ok(
      injected.linux.resources.devices.some((r) => r.allow && r.type === 'c' && r.major === 195 && r.minor === 0 && r.access === 'rwm'),
      JSON.stringify(injected.linux.resources.devices),
    );
    assert.ok(!injected.linux.devices.some((d) => d.path === '/dev/nvidia1' || d.path === '/dev/nvidia2'), 'no other GPU in linux.devices');
    assert.ok(injected.hooks.createContainer.length >= 2, 'the spec hooks');

    const r = spawnSync('runc', ['run', '--bundle', bundle, `nvc-cdi-runc-${process.pid}`], { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `runc failed: ${r.stderr}\n${r.stdout}`);
    const lines = r.stdout.split('\n');
    const nodes = lines.filter((l) => l.startsWith('node ')).map((l) => l.slice(5));
    assert.ok(nodes.includes('/dev/nvidia0 c3:0'), nodes.join(', '));
    assert.ok(nodes.includes('/dev/nvidiactl c3:ff'), nodes.join(', '));
    assert.ok(!nodes.some((n) => /^\/dev\/nvidia[12] /.test(n)), `no other GPU: ${nodes.join(', ')}`);
    const want = crypto
      .createHash('md5')
      .update(fs.readFileSync(path.join(host.root, LIBDIR, 'libcuda.so.580.159.04')))
      .digest('hex');
    assert.ok(lines.includes(`sum ${want}`), `libcuda.so.1 is the driver's library: ${lines.filter((l) => l.startsWith('sum')).join()}`);
    assert.ok(lines.includes('link libcuda.so.1'), 'create-symlinks made libcuda.so');
    assert.ok(lines.includes('lib libnvidia-ml.so.1'));
    assert.ok(!lines.includes('lib libnvcuvid.so.1'), 'video libraries were not asked for');
    // The update-ldcache hook wrote the container's cache: the loader finds libcuda.so.1 in the driver's directory.
    const cache = ldcacheEntries(path.join(rootfs, 'etc/ld.so.cache'));
    assert.equal(cache.get('libcuda.so.1'), `${LIBDIR}/libcuda.so.1`);
  });
});
