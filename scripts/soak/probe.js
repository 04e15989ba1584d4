'use strict';
// What the soak counts in this process: open fds, child and descendant processes (and which
// are zombies), mounts of our namespace, resident memory.
const fs = require('node:fs');

function readStat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const rest = text.slice(close + 2).split(' ');
    return { pid, comm: text.slice(text.indexOf('(') + 1, close), state: rest[0], ppid: Number(rest[1]) };
  } catch {
    return null; // gone meanwhile
  }
}

/** Every process below `root` (by parent links), with its state. */
function descendants(root = process.pid) {
  const all = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) all.push(s);
  }
  const byParent = new Map();
  for (const s of all) {
    if (!byParent.has(s.ppid)) byParent.set(s.ppid, []);
    byParent.get(s.ppid).push(s);
  }
  const out = [];
  const queue = [root];
  while (queue.length) {
    for (const child of byParent.get(queue.shift()) ?? []) {
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

// Pseudo file systems that the kernel mounts by itself when something on the machine touches
// them (perf or a tracer mounting tracefs): not ours, and not a leak of ours.
const KERNEL_AUTOMOUNTS = new Set(['tracefs', 'debugfs', 'binfmt_misc', 'configfs', 'securityfs']);

/** Our namespace's mounts as "mount point (fs type)", the kernel's own automounts left out. */
function mountList() {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ');
      const fstype = f[f.indexOf('-') + 1];
      return { point: f[4], fstype };
    })
    .filter((m) => !KERNEL_AUTOMOUNTS.has(m.fstype))
    .map((m) => `${m.point} (${m.fstype})`);
}

function snapshot() {
  const procs = descendants();
  const mounts = mountList();
  return {
    fds: fs.readdirSync('/proc/self/fd').length,
    children: procs.filter((p) => p.ppid === process.pid).length,
    descendants: procs.length,
    zombies: procs.filter((p) => p.state === 'Z'),
    mounts: mounts.length,
    mountList: mounts,
    rss: process.memoryUsage().rss,
  };
}

module.exports = { snapshot, descendants };
