'use strict';
// The driver service's lifecycle and fault behaviour, against the mock NVML of simulated hosts.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const { init, NvcError } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { stat, alive, childrenOf, openFds, waitFor } = require('./support/proc');

const isRoot = process.getuid() === 0;

async function withHost(spec, fn) {
  const host = await createSimulatedHost(spec);
  try {
    return await fn(host);
  } finally {
    await host.cleanup();
  }
}

async function rejects(promise, code, pattern) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof NvcError, `expected NvcError, got ${e && e.stack}`);
    assert.equal(e.code, code, `${e.code}: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe('driver service lifecycle', function () {
  let host;
  before(async () => {
    host = await createSimulatedHost();
  });
  after(async () => host && host.cleanup());

  it('runs as a separate, confined process while the context is open and is reaped at shutdown', async () => {
    const ctx = await init(host.options);
    try {
      await checkConfinedThenShutdown(ctx);
    } finally {
      await ctx.shutdown();
    }
  });

  async function checkConfinedThenShutdown(ctx) {
    const pid = ctx.servicePid;
    assert.ok(pid > 0);
    const s = stat(pid);
    assert.equal(s.comm, 'nvc-ts-driver');
    assert.equal(s.ppid, process.pid);
    // Only its socket beyond stdio, stdio on /dev/null, and nothing of our environment.
    assert.deepEqual(
      openFds(pid).sort((a, b) => a - b),
      [0, 1, 2, 3],
    );
    for (const fd of [0, 1, 2]) assert.equal(fs.readlinkSync(`/proc/${pid}/fd/${fd}`), '/dev/null');
    assert.match(fs.readlinkSync(`/proc/${pid}/fd/3`), /^socket:/);
    assert.equal(fs.readFileSync(`/proc/${pid}/environ`, 'utf8'), '');
    // Chrooted into the driver root (only root may chroot; otherwise it shares ours).
    assert.equal(fs.readlinkSync(`/proc/${pid}/root`), isRoot ? fs.realpathSync(host.root) : fs.readlinkSync('/proc/self/root'));
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    if (isRoot) {
      const overflow = fs.readFileSync('/proc/sys/kernel/overflowuid', 'utf8').trim();
      assert.match(status, new RegExp(`^Uid:\\s+${overflow}\\s+${overflow}\\s+${overflow}\\s+${overflow}$`, 'm'));
      assert.match(status, /^CapEff:\s+0+$/m);
      assert.match(status, /^NoNewPrivs:\s+1$/m);
    }
    await ctx.shutdown();
    assert.equal(ctx.servicePid, null);
    assert.equal(stat(pid), null, 'the service is reaped, not left as a zombie');
    await ctx.shutdown(); // idempotent
    await rejects(ctx.deviceInfo(), 'ERR_NVC_CONTEXT_CLOSED');
  }

  it('leaves no service behind when its parent is SIGKILLed', async function () {
    const script = `
      const { init } = require(${JSON.stringify(path.resolve(__dirname, '../dist/index.js'))});
      init(${JSON.stringify(host.options)}).then((ctx) => {
        process.stdout.write(String(ctx.servicePid) + '\\n');
        setInterval(() => {}, 1000);
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise((resolve, reject) => {
      child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
      child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
    try {
      assert.ok(alive(pid));
      assert.equal(stat(pid).ppid, child.pid);
    } finally {
      child.kill('SIGKILL');
    }
    assert.ok(await waitFor(() => !alive(pid), 3000), 'service died with its parent');
  });

  it('survives 200 init/shutdown cycles without leaking fds or processes', async function () {
    const cycle = async (i) => {
      const ctx = await init(host.options);
      if (i % 50 === 0) await ctx.deviceInfo();
      await ctx.shutdown();
    };
    // Node and libuv open some fds lazily on first use: warm up before taking the baseline.
    for (let i = 0; i < 5; i++) await cycle(i);
    const targets = () =>
      new Map(
        openFds().map((fd) => {
          try {
            return [fd, fs.readlinkSync(`/proc/self/fd/${fd}`)];
          } catch {
            return [fd, '?'];
          }
        }),
      );
    const before = targets();
    for (let i = 0; i < 200; i++) await cycle(i);
    const after = targets();
    const added = [...after].filter(([fd, t]) => before.get(fd) !== t).map(([fd, t]) => `${fd} -> ${t}`);
    assert.deepEqual(added, [], 'fds opened and not closed');
    assert.deepEqual(childrenOf(process.pid), []);
  });

  it('answers many concurrent calls on one context', async () => {
    const ctx = await init(host.options);
    try {
      const calls = [];
      for (let i = 0; i < 60; i++) calls.push(i % 2 ? ctx.driverInfo() : ctx.deviceInfo());
      const results = await Promise.all(calls);
      for (let i = 2; i < results.length; i++) assert.deepEqual(results[i], results[i % 2]);
      assert.equal(results[0].length, host.spec.gpus.length);
    } finally {
      await ctx.shutdown();
    }
  });

  it('works from worker threads, and a worker that exits without shutdown takes its service along', async () => {
    const entry = path.resolve(__dirname, '../dist/index.js');
    const run = (shutdown) =>
      new Promise((resolve, reject) => {
        const w = new Worker(
          `const { parentPort, workerData } = require('node:worker_threads');
           const { init } = require(workerData.entry);
           (async () => {
             const ctx = await init(workerData.options);
             const gpus = await ctx.deviceInfo();
             parentPort.postMessage({ pid: ctx.servicePid, n: gpus.length });
             if (workerData.shutdown) await ctx.shutdown();
           })();`,
          { eval: true, workerData: { entry, options: host.options, shutdown } },
        );
        let msg;
        w.on('message', (m) => (msg = m));
        w.on('error', reject);
        w.on('exit', () => resolve(msg));
      });
    const results = await Promise.all([run(true), run(true), run(true), run(false)]);
    for (const r of results) assert.equal(r.n, host.spec.gpus.length);
    for (const r of results) assert.ok(await waitFor(() => !alive(r.pid), 3000), `service ${r.pid} gone`);
    assert.ok(await waitFor(() => childrenOf(process.pid).length === 0, 3000), 'all reaped');
  });

  it('does not block the event loop while the service is stuck', async () => {
    await withHost({ faults: [{ fn: 'nvmlSystemGetDriverVersion', kind: 'hang' }] }, async (h) => {
      const ctx = await init({ ...h.options, timeoutMs: 600 });
      let ticks = 0;
      const timer = setInterval(() => ticks++, 20);
      try {
        // Timers keep firing while the call waits for the stuck service (a blocked loop
        // would run none until the timeout), and the timeout is the typed error.
        await rejects(ctx.driverInfo(), 'ERR_NVC_SERVICE_TIMEOUT', /nvmlSystemGetDriverVersion/);
        assert.ok(ticks > 1, `event loop ticked ${ticks} times during the call`);
      } finally {
        clearInterval(timer);
        await ctx.shutdown();
      }
    });
  });
});

describe('driver service faults become typed errors', function () {
  const cases = [
    {
      title: 'a crash in a device call',
      spec: { faults: [{ fn: 'nvmlDeviceGetName', kind: 'crash', device: 1 }] },
      call: 'deviceInfo',
      code: 'ERR_NVC_SERVICE_CRASHED',
      message: /SIGSEGV in nvmlDeviceGetName \(GPU 1\)/,
    },
    {
      title: 'an abort',
      spec: { faults: [{ fn: 'nvmlSystemGetCudaDriverVersion', kind: 'abort' }] },
      call: 'driverInfo',
      code: 'ERR_NVC_SERVICE_CRASHED',
      message: /SIGABRT in nvmlSystemGetCudaDriverVersion/,
    },
    {
      title: 'an exit inside NVML',
      spec: { faults: [{ fn: 'nvmlDeviceGetCount_v2', kind: 'exit' }] },
      call: 'deviceInfo',
      code: 'ERR_NVC_SERVICE_CRASHED',
      message: /exited with status \d+ in nvmlDeviceGetCount_v2/,
    },
    {
      title: 'a hang',
      spec: { faults: [{ fn: 'nvmlDeviceGetUUID', kind: 'hang', device: 2 }] },
      options: { timeoutMs: 300 },
      call: 'deviceInfo',
      code: 'ERR_NVC_SERVICE_TIMEOUT',
      message: /within 300 ms \(stuck in nvmlDeviceGetUUID \(GPU 2\)\)/,
    },
    {
      title: 'an NVML error code',
      spec: { faults: [{ fn: 'nvmlDeviceGetPciInfo_v3', kind: 'error', code: 15, device: 0 }] },
      call: 'deviceInfo',
      code: 'ERR_NVC_NVML',
      message: /nvmlDeviceGetPciInfo_v3 failed for GPU 0/,
      check: (e) => {
        assert.equal(e.nvmlReturn, 15);
        assert.equal(e.nvmlName, 'NVML_ERROR_GPU_IS_LOST');
        assert.equal(e.syscall, 'nvmlDeviceGetPciInfo_v3');
      },
      aliveAfter: true,
    },
    {
      title: 'an error of a MIG call',
      spec: { faults: [{ fn: 'nvmlDeviceGetGpuInstanceId', kind: 'error', code: 3 }] },
      call: 'deviceInfo',
      code: 'ERR_NVC_NVML',
      message: /nvmlDeviceGetGpuInstanceId failed for GPU 1/,
      aliveAfter: true,
    },
  ];

  for (const c of cases) {
    it(c.title, async () => {
      await withHost(c.spec, async (h) => {
        const ctx = await init({ ...h.options, ...(c.options || {}) });
        const pid = ctx.servicePid;
        const e = await rejects(ctx[c.call](), c.code, c.message);
        if (c.check) c.check(e);
        if (c.aliveAfter) {
          assert.ok(alive(pid), 'an NVML error leaves the service running');
          assert.equal((await ctx.driverInfo()).version, h.spec.driverVersion);
        } else {
          assert.equal(stat(pid), null, 'the dead service was reaped');
          assert.equal(ctx.servicePid, null);
          await rejects(ctx.driverInfo(), 'ERR_NVC_CONTEXT_CLOSED', /not running/);
        }
        await ctx.shutdown();
        assert.deepEqual(childrenOf(process.pid), []);
      });
    });
  }

  const initCases = [
    ['a crash in nvmlInit_v2', { faults: [{ fn: 'nvmlInit_v2', kind: 'crash' }] }, 'ERR_NVC_SERVICE_CRASHED', /SIGSEGV in nvmlInit_v2/],
    ['a hang in nvmlInit_v2', { faults: [{ fn: 'nvmlInit_v2', kind: 'hang' }] }, 'ERR_NVC_SERVICE_TIMEOUT', /stuck in nvmlInit_v2/],
    [
      'a driver/library version mismatch',
      { faults: [{ fn: 'nvmlInit_v2', kind: 'error', code: 18 }] },
      'ERR_NVC_VERSION_MISMATCH',
      /kernel module is 580\.159\.04 but the NVML library is libnvidia-ml\.so\.580\.159\.04/,
    ],
    ['NVML reporting no driver', { faults: [{ fn: 'nvmlInit_v2', kind: 'error', code: 9 }] }, 'ERR_NVC_NVML', /nvmlInit_v2 failed/],
    ['no NVML in the driver root', { nvml: 'missing' }, 'ERR_NVC_DRIVER_NOT_FOUND', /libnvidia-ml\.so\.1 was not found/],
    ['a corrupt NVML library', { nvml: 'corrupt' }, 'ERR_NVC_NVML_LOAD_FAILED', /cannot load the NVML library/],
  ];
  for (const [title, spec, code, message] of initCases) {
    it(`at init: ${title}`, async () => {
      await withHost(spec, async (h) => {
        // Short only where the case is a hang; elsewhere roomy, so a loaded machine cannot turn it into a timeout.
        const timeoutMs = /hang/.test(title) ? 400 : 10000;
        const e = await rejects(init({ ...h.options, timeoutMs }), code, message);
        assert.ok(e.hint, 'carries a hint');
        assert.deepEqual(childrenOf(process.pid), []);
      });
    });
  }

  it('at init: a missing driver-service executable', async () => {
    const saved = process.env.NVC_TS_DRIVER;
    process.env.NVC_TS_DRIVER = '/nonexistent/nvc-ts-driver';
    try {
      await withHost({}, async (h) => {
        const e = await rejects(init(h.options), 'ERR_NVC_SERVICE_START', /cannot start the driver service/);
        assert.equal(e.errno, 'ENOENT');
        assert.equal(e.path, '/nonexistent/nvc-ts-driver');
      });
    } finally {
      if (saved === undefined) delete process.env.NVC_TS_DRIVER;
      else process.env.NVC_TS_DRIVER = saved;
    }
  });
});
