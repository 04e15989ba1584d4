#!/usr/bin/env node
'use strict';
/**
 * A CDI generator service from the library: writes the spec of this host's GPUs into a CDI
 * directory, atomically and only when the driver reports GPUs (a partial spec is never written;
 * the last good one stays), then again on SIGHUP. `nvc-ts cdi refresh --watch` is the complete
 * version (it also waits for the driver's nodes, checks the new spec and watches the driver).
 *
 *   node examples/cdi-refresh-service.js [--simulate] [--once] [SPEC_FILE]   (default /var/run/cdi/nvidia.json)
 */
const fs = require('node:fs');
const path = require('node:path');
const { init } = require('nvc-ts');

const argv = process.argv.slice(2);
const simulate = argv.includes('--simulate');
const once = argv.includes('--once');
const output = path.resolve(argv.find((a) => !a.startsWith('--')) ?? '/var/run/cdi/nvidia.json');

async function refresh(hostOptions) {
  // A fresh driver service per refresh: after a driver upgrade the old one would answer for the old driver.
  const ctx = await init(hostOptions);
  try {
    const spec = await ctx.cdiSpec({}, { onWarning: (w) => console.error(`warning: ${w}`) });
    if (!spec.devices.some((d) => d.name !== 'all')) throw new Error('the driver reports no GPU: the previous spec is kept');
    fs.mkdirSync(path.dirname(output), { recursive: true });
    const tmp = `${output}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(spec, null, 2), { mode: 0o644 });
    fs.renameSync(tmp, output);
    console.log(`wrote ${output}: ${spec.devices.map((d) => `${spec.kind}=${d.name}`).join(' ')}`);
  } finally {
    await ctx.shutdown();
  }
}

async function main() {
  const host = simulate ? await require('nvc-ts/testing').createSimulatedHost() : null;
  const hostOptions = host ? host.options : {};
  try {
    await refresh(hostOptions);
    if (once) return;
    process.on('SIGHUP', () => refresh(hostOptions).catch((e) => console.error(e.message)));
    await new Promise((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
  } finally {
    if (host) await host.cleanup();
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
