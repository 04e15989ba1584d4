'use strict';
// CDI test helpers: the CLI on a simulated host, busybox bundles for runc and podman.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');

const BIN = path.resolve(__dirname, '../../bin/nvc-ts.js');

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** A static busybox (no program interpreter), or null. */
function staticBusybox() {
  const p = which('busybox');
  if (!p) return null;
  const out = execFileSync('readelf', ['-lW', fs.realpathSync(p)], { encoding: 'utf8' });
  return /\bINTERP\b/.test(out) ? null : p;
}

/** The global options that point nvc-ts at a simulated host. */
function hostArgs(host) {
  const o = host.options;
  return ['--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot];
}

/** Runs the CLI; returns { status, stdout, stderr }. */
function cli(args) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60000 });
}

/** A busybox rootfs with the Debian library layout and an ld.so.conf, nothing of the driver. */
function busyboxRootfs(rootfs) {
  for (const d of ['bin', 'etc/ld.so.conf.d', 'usr/lib/x86_64-linux-gnu', 'usr/bin', 'proc', 'dev', 'sys', 'tmp', 'run']) {
    fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  }
  const busybox = staticBusybox();
  if (!busybox) throw new Error('a static busybox is needed (apt-get install busybox-static): .ci/run installs it');
  fs.copyFileSync(busybox, path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const tool of ['sh', 'ls', 'cat', 'readlink', 'stat', 'echo', 'grep', 'sed', 'md5sum']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', tool));
  fs.writeFileSync(path.join(rootfs, 'etc/debian_version'), '12.0\n');
  fs.writeFileSync(path.join(rootfs, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
  fs.writeFileSync(path.join(rootfs, 'etc/ld.so.conf.d/x86_64-linux-gnu.conf'), '/usr/lib/x86_64-linux-gnu\n');
}

/** What the in-container script prints, for GPU 0 and the driver's libraries. */
const PROBE_SCRIPT = [
  'for d in /dev/nvidia*; do echo "node $d $(stat -c %t:%T $d)"; done',
  'echo "sum $(md5sum /usr/lib/x86_64-linux-gnu/libcuda.so.1 | sed "s/ .*//")"',
  'echo "link $(readlink /usr/lib/x86_64-linux-gnu/libcuda.so)"',
  'ls /usr/lib/x86_64-linux-gnu/ | sed "s/^/lib /"',
].join('; ');

function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

module.exports = { BIN, which, staticBusybox, hostArgs, cli, busyboxRootfs, PROBE_SCRIPT, tmpdir };
