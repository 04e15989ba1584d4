'use strict';
// Copy-mode benchmarks: install of compute+utility into a fresh Debian-like rootfs, with and
// without ldconfig, and uninstall; the floor is a plain copy of the same files in the same run.
//   node bench/install.js [--real] [--samples N]
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const stats = require('./stats.js');
const { init, uninstallDriver } = require('../dist/index.js');
const { makeRootfs } = require('../test/support/container.js');

const { values } = parseArgs({ options: { real: { type: 'boolean', default: false }, samples: { type: 'string', default: '10' } } });
const N = Number(values.samples);
const REQUEST = { capabilities: ['compute', 'utility'] };

async function main() {
  let host = null;
  let options = {};
  if (!values.real) {
    const { createSimulatedHost } = require('../dist/testing/index.js');
    host = await createSimulatedHost();
    options = host.options;
  }
  console.log(`nvc-ts install benchmarks on a ${values.real ? 'real' : 'simulated'} host; ${N} root filesystems each; node ${process.version}`);
  const ctx = await init(options);
  const samples = { install: [], noLdconfig: [], uninstall: [], floor: [] };
  let bytes = 0;
  try {
    for (let i = 0; i < N; i++) {
      for (const [key, extra] of [
        ['install', {}],
        ['noLdconfig', { noLdconfig: true }],
      ]) {
        const rootfs = makeRootfs();
        try {
          let t = process.hrtime.bigint();
          const r = await ctx.install(rootfs, { ...REQUEST, ...extra });
          samples[key].push(Number(process.hrtime.bigint() - t) / 1e6);
          if (key === 'install') {
            bytes = r.stamp.files.reduce((a, f) => a + f.size, 0);
            t = process.hrtime.bigint();
            await uninstallDriver(rootfs);
            samples.uninstall.push(Number(process.hrtime.bigint() - t) / 1e6);
            // The floor: the same source files copied by plain copyFile into a flat directory.
            const sources = r.plan.entries.filter((e) => e.kind === 'copy').map((e) => e.source);
            const flat = fs.mkdtempSync(path.join(rootfs, 'floor-'));
            t = process.hrtime.bigint();
            for (const [j, s] of sources.entries()) fs.copyFileSync(s, path.join(flat, String(j)));
            samples.floor.push(Number(process.hrtime.bigint() - t) / 1e6);
          }
        } finally {
          fs.rmSync(rootfs, { recursive: true, force: true });
        }
      }
    }
    const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats.summary(v)]));
    stats.print('install compute+utility (with ldconfig)', s.install, { width: 46, digits: 2 });
    stats.print('install compute+utility (no ldconfig)', s.noLdconfig, { width: 46, digits: 2 });
    stats.print('uninstall', s.uninstall, { width: 46, digits: 2 });
    stats.print(`floor: plain copy of the same files (${(bytes / 1e6).toFixed(1)} MB)`, s.floor, { width: 46, digits: 2 });
    console.log(
      `\nratios (medians): install ${(s.install.median / s.floor.median).toFixed(1)}x the plain copy, ${(s.noLdconfig.median / s.floor.median).toFixed(1)}x without ldconfig`,
    );
  } finally {
    await ctx.shutdown();
    if (host) await host.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
