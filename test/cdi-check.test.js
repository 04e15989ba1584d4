'use strict';
// `cdi check` compares specs with the live (simulated) host and never changes them;
// `cdi refresh` writes only when the driver's nodes are there, keeping the last good spec.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { requireFeature, isRoot } = require('./support/features');
const { spawn, execFileSync } = require('node:child_process');
const { hostArgs, cli, tmpdir, BIN, which } = require('./support/cdi');
const { waitFor } = require('./support/proc');

describe('cdi check and refresh (simulated host)', function () {
  let host;
  let dir;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'the simulated host needs real device nodes');
    host = await createSimulatedHost();
    dir = tmpdir('nvc-cdi-check-');
  });
  after(async () => {
    if (host) await host.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('passes a fresh spec, fails one whose library of the old driver version is gone (naming it), and never changes the spec', function () {
    const fresh = path.join(dir, 'fresh.yaml');
    const gen = cli([...hostArgs(host), 'cdi', 'generate', '--output', fresh]);
    assert.equal(gen.status, 0, gen.stderr);
    const ok = cli([...hostArgs(host), 'cdi', 'check', '--spec', fresh]);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);

    const stale = path.join(dir, 'stale.yaml');
    const spec = YAML.parse(fs.readFileSync(fresh, 'utf8'));
    const lib = spec.containerEdits.mounts.find((m) => m.containerPath.endsWith('/libcuda.so.1'));
    const old = lib.hostPath.replace('580.159.04', '575.51.03');
    lib.hostPath = old;
    fs.writeFileSync(stale, YAML.stringify(spec));
    const before = fs.readFileSync(stale);
    const mtime = fs.statSync(stale).mtimeMs;
    const bad = cli([...hostArgs(host), 'cdi', 'check', '--spec', stale]);
    assert.equal(bad.status, 1);
    const lines = bad.stdout.trim().split('\n');
    assert.deepEqual(lines, [`${stale}: common edits: ${old}: missing (mounted at ${lib.containerPath})`]);
    assert.deepEqual(fs.readFileSync(stale), before);
    assert.equal(fs.statSync(stale).mtimeMs, mtime);
  });

  it('fails a spec naming a library of another driver version that is still on disk, and a directory where a library belongs', function () {
    const file = path.join(dir, 'new', 'sub', 'other.json');
    const gen = cli([...hostArgs(host), 'cdi', 'generate', '--format', 'json', '--output', file]);
    assert.equal(gen.status, 0, `the spec directory is created: ${gen.stderr}`);
    const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
    const mounts = spec.containerEdits.mounts;
    const cuda = mounts.find((m) => m.containerPath.endsWith('/libcuda.so.1'));
    const older = cuda.hostPath.replace('580.159.04', '575.51.03');
    fs.copyFileSync(cuda.hostPath, older);
    cuda.hostPath = older;
    const ml = mounts.find((m) => m.containerPath.endsWith('/libnvidia-ml.so.1'));
    ml.hostPath = host.root;
    fs.writeFileSync(file, JSON.stringify(spec));
    try {
      const r = cli([...hostArgs(host), 'cdi', 'check', '--spec', file]);
      assert.equal(r.status, 1);
      assert.deepEqual(
        r.stdout.trim().split('\n').sort(),
        [
          `${file}: common edits: ${host.root}: expected a regular file (mounted at ${ml.containerPath})`,
          `${file}: common edits: ${older}: library of driver 575.51.03, the running driver is 580.159.04`,
        ].sort(),
      );
    } finally {
      fs.rmSync(older);
    }
  });

  it('fails a spec whose cdiVersion the installed podman cannot read, or that is below what its content needs', function () {
    requireFeature(this, 'podman', which('podman') !== null, 'apt-get install podman');
    const version = /(\d+\.\d+\.\d+)/.exec(execFileSync('podman', ['--version'], { encoding: 'utf8' }))[1];
    const file = path.join(dir, 'gids.json');
    assert.equal(cli([...hostArgs(host), 'cdi', 'generate', '--format', 'json', '--output', file]).status, 0);
    const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
    spec.devices[0].containerEdits.additionalGids = [44];
    spec.cdiVersion = '0.5.0';
    fs.writeFileSync(file, JSON.stringify(spec));
    const low = cli([...hostArgs(host), 'cdi', 'check', '--spec', file]);
    assert.equal(low.status, 1);
    assert.match(low.stdout, /cdiVersion 0\.5\.0 is below the 0\.7\.0 its content needs/);
    // netDevices need 1.1.0, which no podman release this code knows reads.
    delete spec.devices[0].containerEdits.additionalGids;
    spec.containerEdits.netDevices = [{ hostInterfaceName: 'eth0', name: 'eth1' }];
    spec.cdiVersion = '1.1.0';
    fs.writeFileSync(file, JSON.stringify(spec));
    const high = cli([...hostArgs(host), 'cdi', 'check', '--spec', file]);
    assert.equal(high.status, 1);
    assert.match(
      high.stdout,
      new RegExp(`${file}: cdiVersion 1\\.1\\.0 cannot be read by podman ${version.replace(/\./g, '\\.')} \\(it reads up to 0\\.[567]\\.0\\)`),
    );
  });

  it('refuses options that do not apply to the subcommand', function () {
    const r = cli(['cdi', 'list', '--vendor', 'x.com']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /option --vendor does not apply to 'cdi list'/);
  });

  it('fails a spec whose GPU node numbers disagree with the host, naming the device', function () {
    const file = path.join(dir, 'numbers.json');
    assert.equal(cli([...hostArgs(host), 'cdi', 'generate', '--format', 'json', '--output', file]).status, 0);
    const spec = JSON.parse(fs.readFileSync(file, 'utf8'));
    spec.devices.find((d) => d.name === '0').containerEdits.deviceNodes[0].minor = 7;
    fs.writeFileSync(file, JSON.stringify(spec));
    const r = cli([...hostArgs(host), 'cdi', 'check', '--spec', file]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, new RegExp(`${file}: device nvidia.com/gpu=0: .*nvidia0: device 195:7 in the spec, 195:0 on the host`));
  });

  it('refresh refuses to write while a GPU node is missing and keeps the previous spec; writes once it is back', function () {
    const out = path.join(dir, 'nvidia.yaml');
    fs.writeFileSync(out, 'previous spec\n');
    const node = path.join(host.devRoot, 'nvidia0');
    const saved = path.join(dir, 'nvidia0.saved');
    fs.renameSync(node, saved);
    try {
      const r = cli([...hostArgs(host), 'cdi', 'refresh', '--output', out, '--wait', '0']);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /driver is not ready .*nvidia0.*previous spec is kept/);
      assert.equal(fs.readFileSync(out, 'utf8'), 'previous spec\n');
    } finally {
      fs.renameSync(saved, node);
    }
    const r = cli([...hostArgs(host), 'cdi', 'refresh', '--output', out, '--wait', '0']);
    assert.equal(r.status, 0, r.stderr);
    const spec = YAML.parse(fs.readFileSync(out, 'utf8'));
    assert.ok(spec.devices.some((d) => d.name === '0'));
    assert.equal(cli([...hostArgs(host), 'cdi', 'check', '--spec', out]).status, 0);
    // The gvisor profile names no MIG capability node by design: that does not block its refresh.
    const g = cli([...hostArgs(host), 'cdi', 'refresh', '--profile', 'gvisor', '--output', path.join(dir, 'gvisor.yaml'), '--wait', '0']);
    assert.equal(g.status, 0, g.stderr);
  });

  it('refresh --watch regenerates when a device node appears and on SIGHUP, and ends on SIGTERM', async function () {
    const out = path.join(dir, 'watched.yaml');
    const modeset = path.join(host.devRoot, 'nvidia-modeset');
    const child = spawn(process.execPath, [BIN, ...hostArgs(host), 'cdi', 'refresh', '--watch', '--poll-interval', '0.2', '--output', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const nodesIn = () => {
      try {
        const spec = YAML.parse(fs.readFileSync(out, 'utf8'));
        return (spec.containerEdits.deviceNodes || []).map((n) => n.path);
      } catch {
        return null;
      }
    };
    try {
      assert.ok(await waitFor(() => nodesIn() !== null, 30000, 50), `first spec written: ${stderr}`);
      assert.ok(!nodesIn().includes('/dev/nvidia-modeset'), 'no modeset node yet');
      execFileSync('mknod', ['-m', '666', modeset, 'c', '195', '254']);
      assert.ok(await waitFor(() => (nodesIn() || []).includes('/dev/nvidia-modeset'), 30000, 50), `regenerated with the new node: ${stdout} ${stderr}`);
      fs.writeFileSync(out, 'overwritten\n');
      child.kill('SIGHUP');
      assert.ok(await waitFor(() => /refreshed \(SIGHUP\)/.test(stdout), 30000, 50), `refreshed on SIGHUP: ${stdout} ${stderr}`);
      assert.ok(nodesIn() !== null, 'rewritten on SIGHUP');
      child.kill('SIGTERM');
      assert.deepEqual(await exited, { code: 0, signal: null }, stderr);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(modeset, { force: true });
    }
  });

  it('list prints the names the specs provide', function () {
    const listDir = tmpdir('nvc-cdi-list-');
    try {
      assert.equal(cli([...hostArgs(host), 'cdi', 'generate', '--device-name-strategy', 'type-index', '--output', path.join(listDir, 'a.yaml')]).status, 0);
      const r = cli(['cdi', 'list', '--spec-dir', listDir]);
      assert.equal(r.status, 0, r.stderr);
      const names = r.stdout.trim().split('\n');
      assert.ok(names.includes('nvidia.com/gpu=gpu0') && names.includes('nvidia.com/gpu=mig1:0') && names.includes('nvidia.com/gpu=all'), names.join(' '));
    } finally {
      fs.rmSync(listDir, { recursive: true, force: true });
    }
  });
});

describe('cdi refresh --watch: the driver fingerprint', function () {
  const { driverFingerprint } = require('../dist/cdi/watch.js');
  let host;
  before(async () => {
    host = await createSimulatedHost();
  });
  after(async () => {
    if (host) await host.cleanup();
  });
  const paths = () => ({ root: host.root, ldcache: host.ldcache, procRoot: host.procRoot, devRoot: host.devRoot, sysRoot: host.sysRoot });
  const changes = [
    [
      'the driver version',
      () => {
        // Replaced, as a read-only procfs file can be rewritten only by root.
        const file = path.join(host.procRoot, 'driver/nvidia/version');
        const text = `${fs.readFileSync(file, 'utf8')}x\n`;
        fs.rmSync(file);
        fs.writeFileSync(file, text);
      },
    ],
    ['a module loaded', () => fs.mkdirSync(path.join(host.sysRoot, 'module/nvidia_drm'), { recursive: true })],
    ['a MIG instance', () => fs.mkdirSync(path.join(host.procRoot, 'driver/nvidia/capabilities/gpu1/mig/gi9/ci0'), { recursive: true })],
    ['the persistenced socket', () => fs.rmSync(path.join(host.root, 'run/nvidia-persistenced/socket'), { force: true })],
    ['the ld.so.cache', () => fs.appendFileSync(path.join(host.root, host.ldcache), '\0')],
    ['a device node', () => fs.writeFileSync(path.join(host.devRoot, 'nvidia9'), '')],
  ];
  for (const [what, change] of changes) {
    it(`changes with ${what}`, async function () {
      const before = await driverFingerprint(paths());
      assert.equal(await driverFingerprint(paths()), before, 'stable while nothing changes');
      change();
      assert.notEqual(await driverFingerprint(paths()), before);
    });
  }
});
