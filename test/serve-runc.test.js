'use strict';
// 50 runc containers started at once, each with the native client in hook mode as its prestart
// hook (nvc-ts-cli hook, the service running): every one starts and sees GPU 0 and the driver.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { requireFeature, isRoot } = require('./support/features');
const { sanitizerEnv } = require('./support/sanitizer');

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin/nvc-ts.js');
// The client beside the addon the package loads (build/Release, or prebuilds/ once packed).
const CLIENT = path.join(path.dirname(require('node-gyp-build').resolve(ROOT)), 'nvc-ts-cli');
const COUNT = 50;

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** A static busybox: the container runs without any library of the host. */
function staticBusybox() {
  const p = which('busybox');
  if (!p) return null;
  return /\bINTERP\b/.test(execFileSync('readelf', ['-lW', fs.realpathSync(p)], { encoding: 'utf8' })) ? null : fs.realpathSync(p);
}

function runc(args) {
  return new Promise((resolve) => {
    const child = spawn('runc', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('runc: 50 parallel starts through the native hook and the service', function () {
  this.timeout(300000);
  let host;
  let dir;
  let service;

  before(async function () {
    requireFeature(this, 'root', isRoot(), 'runc needs root here');
    requireFeature(this, 'runc', which('runc') !== null, 'apt-get install runc');
    host = await createSimulatedHost();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-serve-runc-'));
  });
  after(async () => {
    if (service && service.exitCode === null) {
      service.kill('SIGTERM');
      await new Promise((resolve) => service.once('exit', resolve));
    }
    if (host) await host.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`starts ${COUNT} GPU containers at once, all configured`, async () => {
    const o = host.options;
    const globals = ['--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot];
    const socket = path.join(dir, 'nvc-ts.sock');
    const log = path.join(dir, 'service.log');
    // The hooks' PATH (runc gives them only their own env): the service answers clients of the same PATH.
    const hookPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    service = spawn(process.execPath, [BIN, ...globals, '--debug', log, 'serve', '--socket', socket], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, PATH: hookPath },
    });
    await new Promise((resolve, reject) => {
      service.stdout.once('data', (d) => (/listening on/.test(String(d)) ? resolve() : reject(new Error(String(d)))));
      service.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
    });

    const busybox = staticBusybox();
    if (!busybox) throw new Error('a static busybox is needed (apt-get install busybox-static): .ci/run installs it');
    execFileSync('runc', ['spec'], { cwd: dir });
    const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const bundles = [];
    for (let i = 0; i < COUNT; i++) {
      const bundle = path.join(dir, `b${i}`);
      const rootfs = path.join(bundle, 'rootfs');
      for (const d of ['bin', 'etc/ld.so.conf.d', 'usr/lib/x86_64-linux-gnu', 'usr/bin', 'proc', 'dev', 'sys', 'tmp', 'run'])
        fs.mkdirSync(path.join(rootfs, d), { recursive: true });
      fs.copyFileSync(busybox, path.join(rootfs, 'bin/busybox'));
      fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
      for (const tool of ['sh', 'stat', 'readlink']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', tool));
      fs.writeFileSync(path.join(rootfs, 'etc/debian_version'), '12.0\n');
      fs.writeFileSync(path.join(rootfs, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
      const config = structuredClone(spec);
      config.process.terminal = false;
      config.process.args = ['/bin/sh', '-c', 'echo "node $(stat -c %t:%T /dev/nvidia0)"; echo "link $(readlink /usr/lib/x86_64-linux-gnu/libcuda.so.1)"'];
      config.process.env = [...config.process.env, 'NVIDIA_VISIBLE_DEVICES=0', 'NVIDIA_DRIVER_CAPABILITIES=compute,utility'];
      config.root = { path: 'rootfs', readonly: false };
      config.hooks = {
        prestart: [
          {
            path: CLIENT,
            args: ['nvc-ts-cli', 'hook', ...globals],
            // Under test:asan also the service's NVC_TS_PREBUILD (a client whose NVC_TS_* differ is
            // left to the Node CLI) and the runtimes that Node CLI would need.
            env: [`PATH=${hookPath}`, `NVC_TS_SOCKET=${socket}`, ...sanitizerEnv()],
          },
        ],
      };
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
      bundles.push(bundle);
    }

    const results = await Promise.all(bundles.map((bundle, i) => runc(['run', '--bundle', bundle, `nvc-ts-serve-${process.pid}-${i}`])));
    const failed = results
      .map((r, i) => ({ i, ...r }))
      .filter((r) => r.status !== 0 || !r.stdout.includes('node c3:0') || !r.stdout.includes('link libcuda.so.580.159.04'));
    assert.deepEqual(
      failed.map((r) => `#${r.i}: ${r.status} ${r.stdout} ${r.stderr}`),
      [],
    );
    // Every start went through the service (none fell back to the Node CLI).
    const served = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => / request #\d+: .*"hook".* exit 0 /.test(l));
    assert.equal(served.length, COUNT);
  });
});
