'use strict';
// A device cgroup of the test's own for each fixture container, so that configure programs
// that one (never the test runner's) and the test can read back exactly what was allowed.
const fs = require('node:fs');
const path = require('node:path');

const V1_DEVICES = '/sys/fs/cgroup/devices';
let serial = 0;

/** Where this machine can put a process in a cgroup v1 devices hierarchy and in a unified one. */
function cgroupMounts() {
  const out = { v1: null, v2: null };
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const mnt = left.split(' ')[4];
    const [fstype, , sup] = right.split(' ');
    if (fstype === 'cgroup' && sup.split(',').includes('devices') && !out.v1) out.v1 = mnt;
    if (fstype === 'cgroup2' && !out.v2) out.v2 = mnt;
  }
  return out;
}

/**
 * A new cgroup for pid. v1: in the devices hierarchy, with every device denied first (so
 * devices.list afterwards is exactly what configure allowed). v2: in the unified hierarchy
 * (on a hybrid host the v1 devices cgroup stays the root, so the unified one is the one that
 * confines the process, as under a runtime in unified mode).
 */
function cgroupFor(pid, version) {
  const mounts = cgroupMounts();
  const base = version === 1 ? mounts.v1 : mounts.v2;
  if (!base) throw new Error(`no cgroup v${version} ${version === 1 ? 'devices hierarchy' : 'file system'} is mounted`);
  const dir = path.join(base, `nvc-test-${process.pid}-${++serial}`);
  fs.mkdirSync(dir);
  if (version === 1) fs.writeFileSync(path.join(dir, 'devices.deny'), 'a');
  fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
  return {
    dir,
    version,
    /** v1: the allowed devices, as "c 195:0 rw" lines, sorted. */
    allowed() {
      return fs.readFileSync(path.join(dir, 'devices.list'), 'utf8').trim().split('\n').filter(Boolean).sort();
    },
    /** After the process is gone: the cgroup goes too. */
    remove() {
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(dir);
          return;
        } catch (e) {
          if (e.code === 'ENOENT') return;
          if (e.code !== 'EBUSY') throw e;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        }
      }
      fs.rmdirSync(dir);
    },
  };
}

/** The cgroup line of a process, for checks that it is not the runner's. */
function cgroupOf(pid, controller) {
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [id, ctrls, p] = line.split(':');
    if (controller === '' ? id === '0' && ctrls === '' : ctrls.split(',').includes(controller)) return p;
  }
  return null;
}

module.exports = { cgroupFor, cgroupMounts, cgroupOf };
