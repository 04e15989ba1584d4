'use strict';
// The programs in examples/ run: a Node runtime gives a runc container GPU 0 through CDI, and the
// CDI service writes a spec, on a simulated host.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { requireFeature, isRoot } = require('./support/features');
const { which, busyboxRootfs } = require('./support/cdi');

const ROOT = path.resolve(__dirname, '..');

describe('examples', function () {
  this.timeout(120000);
  let project;
  before(function () {
    requireFeature(this, 'root', isRoot(), 'runc needs root here');
    // The examples require('nvc-ts') as a user's program would.
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-examples-'));
    fs.mkdirSync(path.join(project, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(project, 'node_modules/nvc-ts'));
    for (const f of fs.readdirSync(path.join(ROOT, 'examples'))) fs.copyFileSync(path.join(ROOT, 'examples', f), path.join(project, f));
  });
  after(() => {
    if (project) fs.rmSync(project, { recursive: true, force: true });
  });

  it('run-gpu-container.js: a runc container gets /dev/nvidia0 and the driver libraries, and no other GPU', function () {
    requireFeature(this, 'runc', which('runc') !== null, 'apt-get install runc');
    const rootfs = path.join(project, 'rootfs');
    busyboxRootfs(rootfs);
    const r = spawnSync(
      process.execPath,
      [path.join(project, 'run-gpu-container.js'), '--simulate', '--gpu', '0', rootfs, '/bin/sh', '-c', 'ls /dev; ls /usr/lib/x86_64-linux-gnu'],
      {
        cwd: project,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const words = r.stdout.split(/\s+/);
    assert.ok(words.includes('nvidia0') && words.includes('nvidiactl') && words.includes('nvidia-uvm'), r.stdout);
    assert.ok(!words.includes('nvidia1') && !words.includes('nvidia2'), 'no other GPU');
    assert.ok(words.includes('libcuda.so.1') && words.includes('libnvidia-ml.so.1'), r.stdout);
  });

  it('cdi-refresh-service.js --once writes a spec with every GPU', () => {
    const spec = path.join(project, 'cdi', 'nvidia.json');
    const r = spawnSync(process.execPath, [path.join(project, 'cdi-refresh-service.js'), '--simulate', '--once', spec], { cwd: project, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const written = JSON.parse(fs.readFileSync(spec, 'utf8'));
    assert.equal(written.kind, 'nvidia.com/gpu');
    assert.deepEqual(
      ['0', '1', '2', 'all'].filter((n) => written.devices.some((d) => d.name === n)),
      ['0', '1', '2', 'all'],
    );
    assert.equal(fs.statSync(spec).mode & 0o777, 0o644);
  });
});
