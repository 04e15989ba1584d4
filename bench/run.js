'use strict';
// Benchmarks: figures and ratios, no assertions.
//   node bench/run.js            on an embedded simulated host
//   node bench/run.js --real     on this machine's driver (the GPU host)
// Options: --iterations N (in-process), --processes N (whole-process runs).
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { parseArgs } = require('node:util');
const stats = require('./stats.js');
const { init } = require('../dist/index.js');

const { values } = parseArgs({
  options: {
    real: { type: 'boolean', default: false },
    iterations: { type: 'string', default: '200' },
    processes: { type: 'string', default: '20' },
  },
});
const N = Number(values.iterations);
const P = Number(values.processes);

async function timeAsync(fn, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats.summary(out);
}

function timeProcess(argv, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  }
  return stats.summary(out);
}

async function main() {
  let host = null;
  let options = {};
  if (!values.real) {
    const { createSimulatedHost } = require('../dist/testing/index.js');
    host = await createSimulatedHost();
    options = host.options;
  }
  const where = values.real ? 'real host' : 'simulated host';
  console.log(`nvc-ts benchmarks on a ${where}; node ${process.version}; ${new Date().toISOString()}`);
  try {
    const warm = await init(options);
    const gpus = (await warm.deviceInfo()).length;
    await warm.shutdown();
    console.log(`GPUs: ${gpus}`);

    const initShutdown = await timeAsync(async () => (await init(options)).shutdown(), Math.min(N, 100));
    stats.print('init + shutdown (in-process)', initShutdown);
    const initOnly = [];
    const shutdownOnly = [];
    for (let i = 0; i < Math.min(N, 100); i++) {
      let t = process.hrtime.bigint();
      const ctx = await init(options);
      initOnly.push(Number(process.hrtime.bigint() - t) / 1e6);
      t = process.hrtime.bigint();
      await ctx.shutdown();
      shutdownOnly.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    stats.print('  init', stats.summary(initOnly));
    stats.print('  shutdown', stats.summary(shutdownOnly));

    const ctx = await init(options);
    const driver = await timeAsync(() => ctx.driverInfo(), N);
    stats.print('driverInfo (in-process)', driver);
    const devices = await timeAsync(() => ctx.deviceInfo(), N);
    stats.print('deviceInfo (in-process)', devices);
    await ctx.shutdown();

    const cli = path.resolve(__dirname, '../bin/nvc-ts.js');
    const flags = values.real
      ? []
      : ['--root', options.root, '--ldcache', options.ldcache, '--proc-root', options.procRoot, '--dev-root', options.devRoot, '--sys-root', options.sysRoot];
    const baseline = timeProcess([process.execPath, '-e', '0'], P);
    stats.print('node -e 0 (process baseline)', baseline);
    const info = timeProcess([process.execPath, cli, 'info', ...flags], P);
    stats.print('nvc-ts info (whole process)', info);
    const list = timeProcess([process.execPath, cli, 'list', ...flags], P);
    stats.print('nvc-ts list (whole process)', list);

    const sum = initShutdown.median + driver.median + devices.median;
    console.log('\nratios (medians)');
    console.log(`  in-process init+driverInfo+deviceInfo+shutdown: ${sum.toFixed(2)} ms`);
    // The reference was timed on the GPU host; against a mock NVML the ratio would mean nothing.
    if (values.real) {
      // The reference is a process per call; a Node runtime holds a context, so both views count.
      console.log(
        `  nvidia-container-cli info: 32-37 ms per process on the GPU host; in-process here ${(34.5 / sum).toFixed(1)}x less, a whole nvc-ts info process ${(info.median / 34.5).toFixed(1)}x more (Node start: ${baseline.median.toFixed(0)} ms)`,
      );
    }
    console.log(`  nvc-ts info process over node -e 0: +${(info.median - baseline.median).toFixed(1)} ms (${(info.median / baseline.median).toFixed(2)}x)`);
    if (values.real) {
      try {
        const smi = timeProcess(['nvidia-smi', '-L'], Math.min(P, 10));
        stats.print('nvidia-smi -L (for scale)', smi);
      } catch {
        /* not on a GPU host */
      }
    }
  } finally {
    if (host) await host.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
