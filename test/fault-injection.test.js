'use strict';
// Fault injection under the executor (issue 11): configure once with the executor under a
// shim that records each system call it makes (native/fault/fault.c, LD_PRELOAD through a
// wrapper named by NVC_TS_EXEC), then once per call site (the Nth call of each wrapper) and
// per errno that call can meet, with that one call failing. Each run must either succeed
// (the executor retried or worked around the failure) with the same mounts as the clean run,
// or fail with an NvcError naming the errno, with nothing left in the container: no mount
// below the rootfs, the rootfs tree as it was.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { init, NvcError } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { execPath } = require('../dist/native.js');
const { makeRootfs, startContainer, mountsUnder, snapshot } = require('./support/container.js');
const { requireFeature, isRoot } = require('./support/features');
const { sanitizerPreload } = require('./support/sanitizer');

// The errnos each call can meet on a real host, by the shim's name for the call.
const ERRNOS = {
  sys_openat2: ['EMFILE', 'ENOMEM', 'EACCES', 'ELOOP', 'EINTR'],
  sys_open_tree: ['EMFILE', 'ENOMEM', 'EPERM'],
  sys_move_mount: ['EPERM', 'ENOMEM', 'ENOSPC'],
  sys_mount_setattr: ['EPERM', 'ENOMEM'],
  sys_fsopen: ['EPERM', 'EMFILE', 'ENOMEM'],
  sys_fsconfig: ['ENOMEM', 'EINVAL'],
  sys_fsmount: ['EPERM', 'EMFILE', 'ENOMEM', 'ENOSPC'],
  mount: ['EPERM', 'ENOMEM', 'ENOSPC'],
  mkdirat: ['ENOSPC', 'EACCES', 'EROFS', 'EDQUOT'],
  symlinkat: ['ENOSPC', 'EROFS', 'EDQUOT'],
  fchownat: ['EPERM', 'EROFS'],
  fchown: ['EPERM', 'EROFS'],
  setns: ['EPERM', 'ENOMEM'],
  read: ['EINTR', 'EIO'],
  write: ['ENOSPC', 'EINTR', 'EIO'],
};
const REQUEST = { devices: '0', capabilities: ['compute', 'utility'], noCgroups: true, noLdconfig: true };

function errnoNumber(name) {
  const n = os.constants.errno[name];
  assert.ok(Number.isInteger(n), name);
  return n;
}

describe('fault injection: every executor call site x every errno it can meet', function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), 'the executor enters mount namespaces');
  });
  this.timeout(600000);
  let dir;
  let host;
  let ctx;
  let shim;
  let saved;
  let realExec;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-fault-'));
    shim = path.join(dir, 'libnvc-fault.so');
    execFileSync('cc', [
      '-std=gnu11',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-shared',
      '-fPIC',
      '-O1',
      '-o',
      shim,
      path.join(__dirname, '../native/fault/fault.c'),
      '-ldl',
    ]);
    saved = process.env.NVC_TS_EXEC;
    realExec = execPath(); // before any override: the wrappers exec the real binary
    host = await createSimulatedHost();
    ctx = await init(host.options);
  });
  after(async () => {
    if (dir === undefined) return; // skipped before anything was set up
    if (saved === undefined) delete process.env.NVC_TS_EXEC;
    else process.env.NVC_TS_EXEC = saved;
    await ctx?.shutdown();
    await host?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // The executor runs with an empty environment: the wrapper gives it the shim and the fault.
  function wrapper(name, env) {
    const file = path.join(dir, name);
    const vars = Object.entries(env)
      .map(([k, v]) => `${k}='${v}'`)
      .join(' ');
    // Under test:asan the executor is sanitized: its runtime must come first in the preload list.
    const preload = [...sanitizerPreload(), shim].join(':');
    fs.writeFileSync(file, `#!/bin/sh\nexec env LD_PRELOAD='${preload}' ${vars} '${realExec}' "$@"\n`, { mode: 0o755 });
    return file;
  }

  async function configureIn(c, rootfs) {
    const container = await ctx.container({ pid: c.pid, rootfs });
    return ctx.configure(container, REQUEST);
  }

  it('covers the matrix: each failure is typed and rolled back, or worked around', async () => {
    const log = path.join(dir, 'calls.log');
    process.env.NVC_TS_EXEC = wrapper('count.sh', { NVC_FAULT_LOG: log });
    let cleanMounts;
    {
      const rootfs = makeRootfs();
      const c = await startContainer({ cgroup: null });
      try {
        await configureIn(c, rootfs);
        cleanMounts = [...mountsUnder(c.pid, rootfs).keys()].sort();
      } finally {
        await c.stop();
        fs.rmSync(rootfs, { recursive: true, force: true });
      }
    }
    assert.ok(cleanMounts.length > 0, 'the clean run mounted something');
    const counts = new Map();
    for (const name of fs.readFileSync(log, 'utf8').split('\n').filter(Boolean)) counts.set(name, (counts.get(name) ?? 0) + 1);
    for (const name of ['sys_openat2', 'sys_open_tree', 'sys_move_mount', 'mkdirat', 'setns']) {
      assert.ok(counts.get(name) > 0, `the executor made no ${name} call: the shim does not see it (counts: ${JSON.stringify([...counts])})`);
    }

    const failures = [];
    const outcomes = { typed: 0, workedAround: 0 };
    const codes = new Map();
    const only = process.env.NVC_FAULT_ONLY ? process.env.NVC_FAULT_ONLY.split(',') : null;
    for (const [call, n] of counts) {
      if (only && !only.includes(call)) continue;
      const errnos = ERRNOS[call];
      if (errnos === undefined) continue;
      for (const errno of errnos) {
        for (let nth = 1; nth <= n; nth++) {
          const label = `${call} #${nth} ${errno}`;
          process.env.NVC_TS_EXEC = wrapper('fault.sh', { NVC_FAULT_CALL: call, NVC_FAULT_ERRNO: errnoNumber(errno), NVC_FAULT_NTH: nth });
          const rootfs = makeRootfs();
          const before = snapshot(rootfs);
          const c = await startContainer({ cgroup: null });
          try {
            let error = null;
            const t0 = Date.now();
            try {
              await configureIn(c, rootfs);
            } catch (e) {
              error = e;
            }
            if (process.env.NVC_FAULT_VERBOSE) console.log(`      ${label}: ${error ? error.code : 'ok'} ${Date.now() - t0} ms`);
            const mounts = [...mountsUnder(c.pid, rootfs).keys()].sort();
            if (error === null) {
              outcomes.workedAround++;
              if (JSON.stringify(mounts) !== JSON.stringify(cleanMounts)) failures.push(`${label}: succeeded with other mounts than the clean run`);
              continue;
            }
            outcomes.typed++;
            codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
            if (!(error instanceof NvcError)) failures.push(`${label}: not an NvcError: ${error.stack}`);
            else if (error.errno !== errno && !error.message.includes(errno)) failures.push(`${label}: ${error.code} does not name ${errno}: ${error.message}`);
            if (mounts.length) failures.push(`${label}: mounts left: ${mounts.join(', ')}`);
            const after = snapshot(rootfs);
            if (JSON.stringify(after) !== JSON.stringify(before)) {
              const added = after.filter((l) => !before.includes(l));
              failures.push(`${label}: rootfs changed: ${added.slice(0, 5).join('; ')}`);
            }
          } finally {
            await c.stop();
            fs.rmSync(rootfs, { recursive: true, force: true });
          }
        }
      }
    }
    process.env.NVC_TS_EXEC = realExec;
    console.log(`      ${outcomes.typed} typed failures, ${outcomes.workedAround} worked around; codes: ${JSON.stringify([...codes])}`);
    assert.deepEqual(failures, []);
  });
});
