'use strict';
// Process-table helpers for lifecycle tests: read /proc directly, never guess.
const fs = require('node:fs');

function stat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0], ppid: Number(rest[1]), comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')) };
  } catch {
    return null;
  }
}

/** True while pid names a process that has not exited (zombies count as gone). */
function alive(pid) {
  const s = stat(pid);
  return s !== null && s.state !== 'Z' && s.state !== 'X';
}

function childrenOf(ppid) {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      const s = stat(pid);
      return s !== null && s.ppid === ppid;
    });
}

function openFds(pid = 'self') {
  return fs.readdirSync(`/proc/${pid}/fd`).map(Number);
}

async function waitFor(predicate, ms = 3000, step = 10) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (predicate()) return true;
    await new Promise((r) => setTimeout(r, step));
  }
  return predicate();
}

module.exports = { stat, alive, childrenOf, openFds, waitFor };
