'use strict';
// The CLI as a process meets: Ctrl-C during a --simulate run, a full output device, a non-root user,
// an empty --device, and configure without --pid.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { makeRootfs } = require('./support/container');
const { requireFeature, isRoot } = require('./support/features');

const CLI = path.join(__dirname, '..', 'bin', 'nvc-ts.js');

describe('CLI robustness', function () {
  this.timeout(60000);

  for (const signal of ['SIGINT', 'SIGTERM']) {
    it(`${signal} during a --simulate run removes the simulated host and exits ${signal === 'SIGINT' ? 130 : 143}`, async () => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-sig-'));
      try {
        // A hook with no state on stdin waits: the host is built by then and the process is still running.
        const child = spawn(process.execPath, [CLI, '--simulate', 'hook'], { env: { ...process.env, TMPDIR: tmp }, stdio: ['pipe', 'ignore', 'pipe'] });
        const started = Date.now();
        while (!fs.readdirSync(tmp).some((n) => n.startsWith('nvc-sim-')) && Date.now() - started < 20000) await new Promise((r) => setTimeout(r, 20));
        assert.ok(
          fs.readdirSync(tmp).some((n) => n.startsWith('nvc-sim-')),
          'the simulated host was built',
        );
        const code = await new Promise((resolve) => {
          child.once('exit', (c) => resolve(c));
          child.kill(signal);
        });
        assert.equal(code, signal === 'SIGINT' ? 130 : 143);
        assert.deepEqual(fs.readdirSync(tmp), [], 'nothing is left in the temporary directory');
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    });
  }

  it('a full output device: one line naming ENOSPC, exit 1, no stack trace', () => {
    const out = fs.openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [CLI, '--simulate', 'info'], { stdio: ['ignore', out, 'pipe'], encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.equal(r.stderr, 'nvc-ts: error: cannot write the output (ENOSPC: no space left on the device)\n');
    } finally {
      fs.closeSync(out);
    }
  });

  it('configure as a non-root user says that root is needed', () => {
    const rootfs = makeRootfs();
    try {
      fs.chmodSync(rootfs, 0o755);
      // As root the CLI runs as nobody; as an ordinary user it runs as that user.
      const as = isRoot() ? { uid: 65534, gid: 65534 } : {};
      const r = spawnSync(process.execPath, [CLI, '--simulate', 'configure', '--compute', rootfs], { ...as, cwd: '/', encoding: 'utf8' });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /configuring a container needs root/);
      assert.match(r.stderr, new RegExp(`uid ${isRoot() ? 65534 : process.getuid()}\\b`));
    } finally {
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  });

  it('configure without --pid says which mount namespace it changed', function () {
    requireFeature(this, 'root', isRoot(), 'unshare -m needs root');
    const rootfs = makeRootfs();
    try {
      const r = spawnSync(
        'unshare',
        ['-m', '--propagation', 'private', process.execPath, CLI, '--simulate', 'configure', '--no-cgroups', '--no-ldconfig', rootfs],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /no --pid: the mounts were made in this process's own mount namespace \(mnt:\[\d+\]\)/);
    } finally {
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  });

  it('--debug logs the decisions: the selection, each edit with its outcome, ldconfig', function () {
    requireFeature(this, 'root', isRoot(), 'unshare -m needs root');
    const rootfs = makeRootfs();
    const log = path.join(os.tmpdir(), `nvc-debug-${process.pid}.log`);
    try {
      const r = spawnSync(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          process.execPath,
          CLI,
          '--simulate',
          '--debug',
          log,
          'configure',
          '--device=0',
          '--compute',
          '--utility',
          '--no-cgroups',
          rootfs,
        ],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, r.stderr);
      const text = fs.readFileSync(log, 'utf8');
      assert.match(text, /event selected .*gpus=\[\{"index":0,/);
      assert.match(text, /event edit .*edit=bind target=\/dev\/nvidia0 step=device outcome=done/);
      assert.match(text, /event ldconfig .*ran=true/);
    } finally {
      fs.rmSync(rootfs, { recursive: true, force: true });
      fs.rmSync(log, { force: true });
    }
  });

  it("--device '' is refused instead of meaning no GPU", () => {
    for (const argv of [
      ['configure', '--device', '', '/x'],
      ['--simulate', 'list', '--device', ''],
    ]) {
      const r = spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /option --device needs GPUs/);
    }
  });
});

describe('hook as a person meets it', function () {
  this.timeout(60000);

  it('empty stdin: says a runtime runs it and passes the state there', () => {
    const r = spawnSync(process.execPath, [CLI, 'hook'], { input: '', encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /hook got no OCI state on stdin: it is run by a container runtime/);
  });

  it('stdin a terminal: refused at once instead of waiting', () => {
    // script(1) gives the command a pseudo-terminal as stdin.
    const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} hook`, '/dev/null'], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stdout, /stdin is a terminal here/);
  });
});

describe('simulated hosts as disposables', function () {
  it('Symbol.asyncDispose removes the host, as cleanup() does', async () => {
    const { createSimulatedHost } = require('../dist/testing/index.js');
    const host = await createSimulatedHost();
    assert.ok(fs.existsSync(host.dir));
    await host[Symbol.asyncDispose]();
    assert.equal(fs.existsSync(host.dir), false);
  });
});
