'use strict';
// The executor's fault bench, shared by its two matrices (fault-injection, the first faults;
// fault-injection-rollback, a second fault during the rollback a first one starts): a
// simulated host and a context, the real executor behind a wrapper that preloads the fault
// shim with one case's variables (NVC_TS_EXEC), one configure on a fresh container under it,
// and the executors of this build still alive anywhere.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { init } = require('../../dist/index.js');
const { createSimulatedHost } = require('../../dist/testing/index.js');
const { execPath } = require('../../dist/native.js');
const { makeRootfs, startContainer, mountsUnder, snapshot } = require('./container.js');
const { sanitizerPreload } = require('./sanitizer');
const { buildShim } = require('./fault');
const { waitFor } = require('./proc');

class ExecutorFaultBench {
  constructor(request) {
    this.request = request;
  }

  async open(prefix) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.shim = buildShim(this.dir);
    this.saved = process.env.NVC_TS_EXEC;
    this.realExec = fs.realpathSync(execPath()); // before any override: the wrappers exec the real binary
    this.host = await createSimulatedHost();
    this.ctx = await init(this.host.options);
  }

  async close() {
    if (this.dir === undefined) return; // skipped before anything was set up
    if (this.saved === undefined) delete process.env.NVC_TS_EXEC;
    else process.env.NVC_TS_EXEC = this.saved;
    await this.ctx?.shutdown();
    await this.host?.cleanup();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // The executor runs with an empty environment: the wrapper gives it the shim and the fault.
  // Only the executable's own calls are seen and counted by site; under test:asan the
  // sanitizer's interceptors stand between it and the shim, and the caller the shim sees is
  // the interceptor: there every caller counts (the interceptor's sites stand for the
  // executable's).
  useWrapper(env) {
    const file = path.join(this.dir, 'exec.sh');
    const preload = [...sanitizerPreload(), this.shim].join(':');
    const module = sanitizerPreload().length ? {} : { NVC_FAULT_MODULE: 'exe' };
    const vars = Object.entries({ ...module, NVC_FAULT_SITES: '1', ...env })
      .map(([k, v]) => `${k}='${v}'`)
      .join(' ');
    fs.writeFileSync(file, `#!/bin/sh\nexec env LD_PRELOAD='${preload}' ${vars} '${this.realExec}' "$@"\n`, { mode: 0o755 });
    process.env.NVC_TS_EXEC = file;
  }

  /** Executors of this build still alive anywhere (a fork reparented away from us counts). */
  executors() {
    const out = [];
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (fs.readlinkSync(`/proc/${d}/exe`) === this.realExec) out.push(Number(d));
      } catch {
        // gone, or not ours to read
      }
    }
    return out;
  }

  /**
   * One configure on a fresh container under the given shim variables: its error, the mounts
   * and the rootfs entries it left (added: their paths), the shim's log, whether the fault was
   * met, whether every executor is gone.
   */
  async configureOnce(env) {
    const log = path.join(this.dir, 'calls.log');
    fs.rmSync(log, { force: true });
    this.useWrapper({ ...env, NVC_FAULT_LOG: log });
    const rootfs = makeRootfs(this.dir);
    const before = snapshot(rootfs);
    const c = await startContainer({ cgroup: null });
    try {
      let error = null;
      try {
        const container = await this.ctx.container({ pid: c.pid, rootfs });
        await this.ctx.configure(container, this.request);
      } catch (e) {
        error = e;
      }
      const mounts = [...mountsUnder(c.pid, rootfs).keys()].sort();
      const after = snapshot(rootfs);
      const added = after.filter((l) => !before.includes(l)).map((l) => l.split(' ')[0]);
      const settled = await waitFor(() => this.executors().length === 0, 3000);
      const met = fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('!fault ');
      return { error, mounts, changed: JSON.stringify(after) !== JSON.stringify(before), added, log, met, settled };
    } finally {
      await c.stop();
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  }
}

module.exports = { ExecutorFaultBench };
