#!/usr/bin/env node
'use strict';
/**
 * A minimal container runtime in Node with nvc-ts and runc: it writes an OCI bundle for ROOTFS,
 * gives it GPUs through CDI (a spec made in process by ctx.cdiSpec(), injected by
 * injectCdiDevices), and runs it with runc. No hook runs Node: the CDI hooks are nvc-ts's small
 * native executable.
 *
 *   node examples/run-gpu-container.js [--simulate] [--gpu N] ROOTFS CMD [ARGS...]
 *
 * ROOTFS is used as it is (runc mounts /proc, /dev and /sys in it). --simulate uses a simulated
 * host instead of this machine's driver (no GPU needed).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');
const { init, injectCdiDevices } = require('nvc-ts');

function parse(argv) {
  const out = { simulate: false, gpu: '0', rootfs: undefined, cmd: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--simulate') out.simulate = true;
    else if (argv[i] === '--gpu') out.gpu = argv[++i];
    else {
      out.rootfs = path.resolve(argv[i]);
      out.cmd = argv.slice(i + 1);
      break;
    }
  }
  if (out.rootfs === undefined || out.cmd.length === 0) throw new Error('usage: run-gpu-container.js [--simulate] [--gpu N] ROOTFS CMD [ARGS...]');
  return out;
}

async function main() {
  const args = parse(process.argv.slice(2));
  const host = args.simulate ? await require('nvc-ts/testing').createSimulatedHost() : null;
  const ctx = await init(host ? host.options : {});
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-runtime-'));
  try {
    // The spec: every GPU of this host as a CDI device, compute and utility files only.
    const spec = await ctx.cdiSpec({ capabilities: ['compute', 'utility'] }, { onWarning: (w) => console.error(`warning: ${w}`) });
    fs.mkdirSync(path.join(work, 'cdi'));
    fs.writeFileSync(path.join(work, 'cdi', 'nvidia.json'), JSON.stringify(spec));

    // The bundle: runc's default config, our command and rootfs, then the GPU injected.
    const bundle = path.join(work, 'bundle');
    fs.mkdirSync(bundle);
    execFileSync('runc', ['spec'], { cwd: bundle });
    const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    config.process.terminal = false;
    config.process.args = args.cmd;
    config.root = { path: args.rootfs, readonly: false };
    const withGpu = await injectCdiDevices(config, [`nvidia.com/gpu=${args.gpu}`], { specDirs: [path.join(work, 'cdi')] });
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(withGpu, null, 2));

    const r = spawnSync('runc', ['run', '--bundle', bundle, `nvc-example-${process.pid}`], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
  } finally {
    await ctx.shutdown();
    if (host) await host.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 1;
});
