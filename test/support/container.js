'use strict';
// Fixture containers: a rootfs directory and a process in its own mount namespace, as a
// runtime has them before pivot_root; and readers for what the tests check.
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const { spawn, execFileSync } = require('node:child_process');
const { waitFor } = require('./proc');
const { cgroupFor, cgroupMounts } = require('./cgroup');

/** A Debian-like rootfs with empty proc/dev/sys, an ld.so.conf, and nothing of the driver. */
function makeRootfs(parent = os.tmpdir()) {
  const dir = fs.mkdtempSync(path.join(parent, 'nvc-rootfs-'));
  for (const d of ['etc/ld.so.conf.d', 'usr/lib/x86_64-linux-gnu', 'usr/bin', 'bin', 'proc', 'dev', 'sys', 'tmp', 'run']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.writeFileSync(path.join(dir, 'etc/debian_version'), '12.0\n');
  fs.writeFileSync(path.join(dir, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
  return dir;
}

/**
 * A process in a new, private mount namespace: the container's init. It is put in a device
 * cgroup of its own (cgroup: 1 or 2; by default v1 where a v1 devices hierarchy is mounted,
 * else the unified one; null for none), which stop() removes: the tests never program the
 * device cgroup of the test runner.
 */
async function startContainer({ cgroup = cgroupMounts().v1 ? 1 : 2 } = {}) {
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '1000'], { stdio: 'ignore' });
  const self = fs.readlinkSync('/proc/self/ns/mnt');
  const ok = await waitFor(
    () => {
      try {
        return fs.readlinkSync(`/proc/${child.pid}/ns/mnt`) !== self;
      } catch {
        return false;
      }
    },
    5000,
    5,
  );
  if (!ok) {
    child.kill('SIGKILL');
    throw new Error('unshare did not start a mount namespace');
  }
  let cg = null;
  try {
    cg = cgroup ? cgroupFor(child.pid, cgroup) : null;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const exited = new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    pid: child.pid,
    cgroup: cg,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
      if (cg) cg.remove();
    },
  };
}

/** /proc/<pid>/mountinfo as objects: mount point, per-mount options, fs type, source. */
function mountinfo(pid = 'self') {
  return fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [left, right] = line.split(' - ');
      const f = left.split(' ');
      const r = right.split(' ');
      const unescape = (s) => s.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
      return { majmin: f[2], root: unescape(f[3]), mountPoint: unescape(f[4]), options: f[5].split(','), fstype: r[0], source: r[1], superOptions: r[2] };
    });
}

/** Mounts strictly under dir, keyed by their path inside it. */
function mountsUnder(pid, dir) {
  const out = new Map();
  for (const m of mountinfo(pid)) {
    if (m.mountPoint.startsWith(dir + '/')) out.set(m.mountPoint.slice(dir.length), m);
  }
  return out;
}

/** Every path under dir with its type, mode, owner and link target: to compare before/after. */
function snapshot(dir) {
  const out = [];
  const walk = (rel) => {
    const abs = path.join(dir, rel);
    const st = fs.lstatSync(abs);
    const link = st.isSymbolicLink() ? fs.readlinkSync(abs) : '';
    out.push(`${rel || '.'} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${link}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(abs).sort()) walk(path.join(rel, name));
  };
  walk('');
  return out;
}

/** ldconfig -p on a cache file: soname -> path (64-bit entries). */
function ldcacheEntries(cache) {
  const text = execFileSync('ldconfig', ['-p', '-C', cache], { encoding: 'utf8' });
  const out = new Map();
  for (const line of text.split('\n')) {
    const m = /^\s+(\S+) \(([^)]*)\) => (\S+)/.exec(line);
    if (m && m[2].includes('x86-64') && !out.has(m[1])) out.set(m[1], m[3]);
  }
  return out;
}

module.exports = { makeRootfs, startContainer, mountinfo, mountsUnder, snapshot, ldcacheEntries };

/** Where a host path lives, as mountinfo names a bind of it: the filesystem's dev and the root within it. */
function hostSourceOf(hostPath) {
  const real = fs.realpathSync(hostPath);
  let best = null;
  for (const m of mountinfo('self')) {
    const mp = m.mountPoint;
    if ((real === mp || real.startsWith(mp === '/' ? '/' : mp + '/')) && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  const rel = best.mountPoint === '/' ? real : real.slice(best.mountPoint.length);
  return { majmin: best.majmin, root: path.posix.join(best.root, rel || '/') };
}

/**
 * The container's mounts under rootfs compared with an expected table (test/support/oracle.js):
 * the same set of targets; for each, tmpfs or a bind of exactly the expected host file
 * (device and path within it), and exactly the expected ro/nosuid/nodev/noexec flags.
 */
function assertMounts(assert, pid, rootfs, expected) {
  const mounts = mountsUnder(pid, rootfs);
  assert.deepEqual([...mounts.keys()].sort(), [...expected.keys()].sort(), 'the set of mount points');
  for (const [target, want] of expected) {
    const m = mounts.get(target);
    if (want.type === 'tmpfs') {
      assert.equal(m.fstype, 'tmpfs', `${target} is a tmpfs`);
    } else {
      const src = hostSourceOf(want.source);
      assert.deepEqual({ majmin: m.majmin, root: m.root }, src, `${target} binds ${want.source}`);
    }
    for (const flag of ['ro', 'nosuid', 'nodev', 'noexec']) {
      assert.equal(
        m.options.includes(flag),
        want.flags.includes(flag),
        `${target}: ${flag} ${want.flags.includes(flag) ? 'set' : 'not set'} (has ${m.options})`,
      );
    }
  }
}

module.exports.hostSourceOf = hostSourceOf;
module.exports.assertMounts = assertMounts;
