'use strict';
// On the GPU host (`source .gpu/enter.sh` first): what programming the container's device cgroup
// costs a configure, and whether it slows the edits that follow. In-process configures of
// compute+utility on GPU 0, no ldconfig, into unshared containers each in a device cgroup of its
// own: with --no-cgroups, with the cgroup rules, and with the rules followed by a pause before
// the executor starts. Prints the medians of the parts configure reports.
const fs = require('node:fs');
const { init } = require('../../dist/index.js');
const { makeRootfs, startContainer } = require('../../test/support/container.js');

const N = Number(process.env.N ?? 15);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function series(ctx, label, request) {
  const parts = { total: [], planMs: [], helpersMs: [], mountsMs: [] };
  for (let i = 0; i < N; i++) {
    const rootfs = makeRootfs();
    const c = await startContainer();
    try {
      const t = process.hrtime.bigint();
      const r = await ctx.configure(await ctx.container({ pid: c.pid, rootfs }), request);
      parts.total.push(Number(process.hrtime.bigint() - t) / 1e6);
      for (const k of ['planMs', 'helpersMs', 'mountsMs']) parts[k].push(r.timings[k]);
    } finally {
      await c.stop();
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  }
  console.log(`${label.padEnd(28)} ${Object.entries(parts).map(([k, v]) => `${k} ${median(v).toFixed(2)}`).join('  ')}`);
}

(async () => {
  const ctx = await init({});
  try {
    const base = { devices: '0', capabilities: ['compute', 'utility'], noLdconfig: true };
    for (let round = 0; round < 2; round++) {
      await series(ctx, '--no-cgroups', { ...base, noCgroups: true });
      await series(ctx, 'device cgroup rules', { ...base, noCgroups: false });
    }
  } finally {
    await ctx.shutdown();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
