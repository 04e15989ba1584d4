'use strict';
// A real podman runs a container with --device nvidia.com/gpu=0 from a spec that
// `nvc-ts cdi generate` wrote for a simulated host. Podman 4.3 reads specs only from /etc/cdi
// and /var/run/cdi (no cdi_spec_dirs setting yet): the spec gets a unique name there and is
// removed afterwards.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { requireFeature, isRoot } = require('./support/features');
const { which, hostArgs, cli, busyboxRootfs, PROBE_SCRIPT, tmpdir } = require('./support/cdi');
const { alive } = require('./support/proc');

const LIBDIR = '/usr/lib/x86_64-linux-gnu';

describe('cdi generate + podman (simulated host)', function () {
  let host;
  let dir;
  let createdSpecDir = false;
  const specFile = `/var/run/cdi/nvc-ts-test-${process.pid}.yaml`;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'podman runs rootful here');
    requireFeature(this, 'podman', which('podman') !== null, 'apt-get install podman');
    requireFeature(this, 'runc', which('runc') !== null, 'apt-get install runc');
    // A run killed before its after() leaves its spec behind, and two specs naming
    // nvidia.com/gpu=0 make podman refuse both: remove those of runs that are gone.
    for (const name of fs.existsSync(path.dirname(specFile)) ? fs.readdirSync(path.dirname(specFile)) : []) {
      const m = /^nvc-ts-test-(\d+)\.yaml$/.exec(name);
      if (m && !alive(Number(m[1]))) fs.rmSync(path.join(path.dirname(specFile), name), { force: true });
    }
    host = await createSimulatedHost();
    dir = tmpdir('nvc-cdi-podman-');
  });
  after(async () => {
    fs.rmSync(specFile, { force: true });
    // The directory too, when this test made it and nothing else has put a file there since.
    if (createdSpecDir && fs.readdirSync(path.dirname(specFile)).length === 0) fs.rmdirSync(path.dirname(specFile));
    if (host) await host.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives GPU 0, the driver libraries and libcuda.so.1, and no other GPU', function () {
    createdSpecDir = fs.mkdirSync(path.dirname(specFile), { recursive: true }) !== undefined;
    const gen = cli([...hostArgs(host), 'cdi', 'generate', '--capabilities', 'compute,utility', '--output', specFile]);
    assert.equal(gen.status, 0, gen.stderr);
    const rootfs = path.join(dir, 'rootfs');
    busyboxRootfs(rootfs);
    const r = spawnSync(
      'podman',
      [
        'run',
        '--rm',
        '--runtime',
        'runc',
        '--network=none',
        '--ulimit',
        'nofile=1024:1024',
        '--ulimit',
        'nproc=1024:1024',
        '--device',
        'nvidia.com/gpu=0',
        '--rootfs',
        rootfs,
        '/bin/sh',
        '-c',
        PROBE_SCRIPT,
      ],
      { encoding: 'utf8', timeout: 120000 },
    );
    assert.equal(r.status, 0, `podman failed: ${r.stderr}\n${r.stdout}`);
    const lines = r.stdout.split('\n');
    const nodes = lines.filter((l) => l.startsWith('node ')).map((l) => l.slice(5));
    assert.ok(nodes.includes('/dev/nvidia0 c3:0'), nodes.join(', '));
    assert.ok(!nodes.some((n) => /^\/dev\/nvidia[12] /.test(n)), `no other GPU: ${nodes.join(', ')}`);
    const want = crypto
      .createHash('md5')
      .update(fs.readFileSync(path.join(host.root, LIBDIR, 'libcuda.so.580.159.04')))
      .digest('hex');
    assert.ok(lines.includes(`sum ${want}`), `libcuda.so.1 is the driver's library: ${r.stdout}`);
    assert.ok(lines.includes('link libcuda.so.1'), 'the create-symlinks hook ran');
    assert.ok(lines.includes('lib libnvidia-ml.so.1'));
  });
});
