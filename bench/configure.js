'use strict';
// Container setup benchmarks: figures and ratios, no assertions.
//   node bench/configure.js            on an embedded simulated host
//   node bench/configure.js --real     on this machine's driver (the GPU host)
// Each sample is one fresh container (a process in its own mount namespace and an empty
// Debian-like rootfs) configured with compute+utility, GPU 0 and ldconfig; cgroups off
// (the bench containers sit in the caller's cgroup). Rootfs preparation is not timed.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const stats = require('./stats.js');
const { init } = require('../dist/index.js');
const { makeRootfs, startContainer } = require('../test/support/container.js');

const { values } = parseArgs({
  options: { real: { type: 'boolean', default: false }, containers: { type: 'string', default: '20' } },
});
const N = Number(values.containers);
const REQUEST = { devices: '0', capabilities: ['compute', 'utility'], noCgroups: true };

async function withContainer(fn) {
  const rootfs = makeRootfs();
  const c = await startContainer();
  try {
    return await fn(c, rootfs);
  } finally {
    await c.stop();
    fs.rmSync(rootfs, { recursive: true, force: true });
  }
}

async function main() {
  let host = null;
  let options = {};
  if (!values.real) {
    const { createSimulatedHost } = require('../dist/testing/index.js');
    host = await createSimulatedHost();
    options = host.options;
  }
  console.log(`nvc-ts configure benchmarks on a ${values.real ? 'real' : 'simulated'} host; ${N} containers each; node ${process.version}`);
  const ctx = await init(options);
  try {
    const samples = { total: [], noLdconfig: [] };
    for (const [key, extra] of [
      ['total', {}],
      ['noLdconfig', { noLdconfig: true }],
    ]) {
      for (let i = 0; i < N; i++) {
        await withContainer(async (c, rootfs) => {
          const t = process.hrtime.bigint();
          const container = await ctx.container({ pid: c.pid, rootfs });
          await ctx.configure(container, { ...REQUEST, ...extra });
          samples[key].push(Number(process.hrtime.bigint() - t) / 1e6);
        });
      }
    }
    const total = stats.summary(samples.total);
    const mounts = stats.summary(samples.noLdconfig);
    stats.print('in-process configure (compute+utility, GPU 0, ldconfig)', total, { width: 52, digits: 2 });
    stats.print('  of which without ldconfig', mounts, { width: 52, digits: 2 });

    const cli = path.resolve(__dirname, '../bin/nvc-ts.js');
    const flags = values.real
      ? []
      : ['--root', options.root, '--ldcache', options.ldcache, '--proc-root', options.procRoot, '--dev-root', options.devRoot, '--sys-root', options.sysRoot];
    const proc = [];
    for (let i = 0; i < Math.min(N, 10); i++) {
      await withContainer(async (c, rootfs) => {
        const t = process.hrtime.bigint();
        const r = spawnSync(
          process.execPath,
          [cli, ...flags, 'configure', '--pid', String(c.pid), '--device=0', '--compute', '--utility', '--no-cgroups', rootfs],
          { encoding: 'utf8' },
        );
        proc.push(Number(process.hrtime.bigint() - t) / 1e6);
        if (r.status !== 0) throw new Error(`nvc-ts configure failed: ${r.stderr}`);
      });
    }
    const whole = stats.summary(proc);
    stats.print('nvc-ts configure (whole process)', whole, { width: 52, digits: 2 });
    console.log('\nratios (medians)');
    console.log(`  in-process configure: ${total.median.toFixed(1)} ms, without ldconfig ${mounts.median.toFixed(1)} ms`);
    // The reference was timed on the GPU host: compare only there.
    if (values.real) {
      // The reference is a process per container; a Node runtime configures in process.
      console.log(
        `  nvidia-container-cli configure there: 30-37 ms per container (a process each); in process ${(33.5 / total.median).toFixed(1)}x less, a whole nvc-ts configure process ${(whole.median / 33.5).toFixed(1)}x more`,
      );
    }
    console.log(`  ldconfig share of in-process configure: ${(((total.median - mounts.median) / total.median) * 100).toFixed(0)}%`);
  } finally {
    await ctx.shutdown();
    if (host) await host.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
