'use strict';
/**
 * The benchmark suite: figures and ratios to floors measured in the same run; no assertions.
 *   node bench/suite.js [--json] [--real] [--samples N] [--ref PATH] [--quick]
 * --real: this machine's driver (the GPU host); default an embedded simulated host.
 * --ref PATH: nvidia-container-cli at PATH configures the same kind of container side by side.
 * --quick: few samples and no scaling section (CI runs it once, briefly).
 * Sections: the driver service (init, driverInfo, deviceInfo, shutdown); configure in process,
 * whole and per phase (plan, mounts, ldconfig); the CLI as a whole process; the floors (bind
 * mount + remount, fork + exit + wait, a bare ldconfig); scaling with 1, 8 and 16 GPUs and 8 GPUs
 * of 7 MIG devices; 50 concurrent configures.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const stats = require('./stats.js');
const { init } = require('../dist/index.js');
const { makeRootfs, startContainer } = require('../test/support/container.js');

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    real: { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    samples: { type: 'string' },
    ref: { type: 'string' },
  },
});
const N = Number(values.samples ?? (values.quick ? 5 : 20));
const REQUEST = { devices: '0', capabilities: ['compute', 'utility'], noCgroups: true };
const CLI = path.resolve(__dirname, '../bin/nvc-ts.js');
const report = { schemaVersion: 1, host: values.real ? 'real' : 'simulated', node: process.version, samples: N, figures: {}, floors: {}, ratios: {} };

function record(name, samples) {
  const s = stats.summary(samples);
  report.figures[name] = { median: s.median, p95: s.p95, min: s.min, n: s.n };
  if (!values.json) stats.print(name, s, { width: 56, digits: 2 });
  return s;
}

const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

async function withContainer(fn) {
  const rootfs = makeRootfs();
  const c = await startContainer({ cgroup: null });
  try {
    return await fn(c, rootfs);
  } finally {
    await c.stop();
    fs.rmSync(rootfs, { recursive: true, force: true });
  }
}

function floorBinary() {
  const out = path.join(os.tmpdir(), `nvc-bench-floor-${process.pid}`);
  execFileSync('cc', ['-O2', '-o', out, path.join(__dirname, 'floor.c')]);
  return out;
}

/** A host of `gpus` copies of the default GPUs (unique ids, bus and minors), each with `migs` MIG devices. */
function scaledSpec(testing, gpus, migs) {
  const base = testing.defaultSimulatedHostSpec();
  const hex = (n, w) => n.toString(16).padStart(w, '0');
  base.gpus = Array.from({ length: gpus }, (_, i) => {
    const g = { ...base.gpus[0], uuid: `GPU-${hex(i, 8)}-0000-4000-8000-${hex(i, 12)}`, pci: { domain: 0, bus: 0x10 + i, device: 0 }, minor: i };
    if (migs === 0) return { ...g, mig: 'disabled', migDevices: [] };
    return {
      ...g,
      mig: 'enabled',
      migDevices: Array.from({ length: migs }, (_, m) => ({
        uuid: `MIG-${hex(i, 8)}-${hex(m, 4)}-4000-8000-${hex(i * 16 + m, 12)}`,
        gpuInstance: m + 1,
        computeInstance: 0,
        profile: '1g.10gb',
      })),
    };
  });
  return base;
}

/**
 * A simulated host as a real one is: long unchanged. Files changed in the last two seconds are
 * never taken as unchanged by the caches of host facts (path-witness.ts, witness.c), so a host
 * measured right after it was built would rediscover everything on every call.
 */
async function settled(made) {
  const host = await made;
  await new Promise((resolve) => setTimeout(resolve, 2100));
  return host;
}

async function main() {
  const testing = require('../dist/testing/index.js');
  const host = values.real ? null : await settled(testing.createSimulatedHost());
  const options = host ? host.options : {};
  const floor = floorBinary();
  if (!values.json) console.log(`nvc-ts benchmark suite on a ${report.host} host; ${N} samples; node ${process.version}`);
  try {
    // The driver service.
    const initT = [];
    const shutdownT = [];
    for (let i = 0; i < N; i++) {
      let t = process.hrtime.bigint();
      const ctx = await init(options);
      initT.push(ms(t));
      t = process.hrtime.bigint();
      await ctx.shutdown();
      shutdownT.push(ms(t));
    }
    record('init', initT);
    record('shutdown', shutdownT);
    const ctx = await init(options);
    try {
      const di = [];
      const dv = [];
      for (let i = 0; i < N; i++) {
        let t = process.hrtime.bigint();
        await ctx.driverInfo();
        di.push(ms(t));
        t = process.hrtime.bigint();
        await ctx.deviceInfo();
        dv.push(ms(t));
      }
      record('driverInfo', di);
      record('deviceInfo', dv);

      // configure in process: whole, and per phase on other containers.
      const total = [];
      const totalNoLd = [];
      const plan = [];
      const apply = [];
      const ldconfig = [];
      const bareLdconfig = [];
      // The split configure reports of itself (ConfigureTimings, what `serve` logs per request).
      const parts = { planMs: [], helpersMs: [], mountsMs: [], ldconfigMs: [] };
      let binds = 0;
      for (let i = 0; i < N; i++) {
        await withContainer(async (c, rootfs) => {
          const t = process.hrtime.bigint();
          const r = await ctx.configure(await ctx.container({ pid: c.pid, rootfs }), REQUEST);
          total.push(ms(t));
          for (const k of Object.keys(parts)) if (r.timings) parts[k].push(r.timings[k]);
        });
        await withContainer(async (c, rootfs) => {
          const t = process.hrtime.bigint();
          await ctx.configure(await ctx.container({ pid: c.pid, rootfs }), { ...REQUEST, noLdconfig: true });
          totalNoLd.push(ms(t));
        });
        await withContainer(async (c, rootfs) => {
          const container = await ctx.container({ pid: c.pid, rootfs });
          let t = process.hrtime.bigint();
          const p = await ctx.plan(container, REQUEST);
          plan.push(ms(t));
          binds = p.edits.filter((e) => e.kind === 'bind' || e.kind === 'tmpfs').length;
          t = process.hrtime.bigint();
          await ctx.applyPlan(container, { ...p, ldconfig: null });
          apply.push(ms(t));
          t = process.hrtime.bigint();
          await ctx.ldcacheUpdate(container);
          ldconfig.push(ms(t));
          // The floor of that step: the host's ldconfig over the same (now configured) rootfs, in its namespace.
          const ld = fs.existsSync('/sbin/ldconfig.real') ? '/sbin/ldconfig.real' : '/sbin/ldconfig';
          t = process.hrtime.bigint();
          execFileSync('nsenter', ['-t', String(c.pid), '-m', ld, '-r', rootfs]);
          bareLdconfig.push(ms(t));
        });
      }
      const cfg = record('configure (compute+utility, GPU 0, ldconfig)', total);
      const cfgNoLd = record('configure without ldconfig', totalNoLd);
      record('  phase: plan (host facts, selection, lowering)', plan);
      const applyS = record('  phase: mounts and files (executor)', apply);
      const ldS = record('  phase: ldconfig (confined)', ldconfig);
      if (parts.planMs.length > 0) {
        record('  reported: plan', parts.planMs);
        record('  reported: helpers (executor start, checks, entry; cgroup)', parts.helpersMs);
        record("  reported: mounts (the executor's own edit time)", parts.mountsMs);
        record('  reported: ldconfig', parts.ldconfigMs);
      }

      // Whole processes.
      const flags = host ? ['--root', options.root, '--proc-root', options.procRoot, '--dev-root', options.devRoot, '--sys-root', options.sysRoot] : [];
      const proc = [];
      for (let i = 0; i < Math.min(N, 10); i++) {
        await withContainer(async (c, rootfs) => {
          const t = process.hrtime.bigint();
          const r = spawnSync(
            process.execPath,
            [CLI, ...flags, 'configure', '--pid', String(c.pid), '--device=0', '--compute', '--utility', '--no-cgroups', rootfs],
            { encoding: 'utf8' },
          );
          proc.push(ms(t));
          if (r.status !== 0) throw new Error(`nvc-ts configure failed: ${r.stderr}`);
        });
      }
      const procS = record('nvc-ts configure (whole Node process)', proc);
      const nodeStart = [];
      for (let i = 0; i < Math.min(N, 10); i++) {
        const t = process.hrtime.bigint();
        spawnSync(process.execPath, ['-e', '0']);
        nodeStart.push(ms(t));
      }
      const nodeS = record('node -e 0 (for scale)', nodeStart);
      if (values.ref) {
        const ref = [];
        for (let i = 0; i < Math.min(N, 10); i++) {
          await withContainer(async (c, rootfs) => {
            const t = process.hrtime.bigint();
            const r = spawnSync(
              values.ref,
              ['configure', '--device=0', '--compute', '--utility', '--no-cgroups', '--ldconfig=@/sbin/ldconfig.real', `--pid=${c.pid}`, rootfs],
              { encoding: 'utf8' },
            );
            ref.push(ms(t));
            if (r.status !== 0) throw new Error(`${values.ref} failed: ${r.stderr}`);
          });
        }
        const refS = record('nvidia-container-cli configure (--ref, whole process)', ref);
        report.ratios['nvc-ts process / reference'] = procS.median / refS.median;
        report.ratios['nvc-ts in process / reference'] = cfg.median / refS.median;
      }

      // Floors, in the same run.
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-bench-binds-'));
      try {
        const bindUs = [];
        for (let i = 0; i < N; i++) bindUs.push(Number(execFileSync(floor, ['binds', String(binds), scratch], { encoding: 'utf8' })) / 1000);
        const bindS = record(`floor: ${binds} bind mounts + read-only remounts`, bindUs);
        const forkS = record('floor: fork + exit + wait', [Number(execFileSync(floor, ['fork', '200'], { encoding: 'utf8' })) / 1000]);
        const bareS = record('floor: bare ldconfig -r on the same rootfs (nsenter)', bareLdconfig);
        report.floors = { binds: bindS.median, fork: forkS.median, ldconfig: bareS.median, nodeStart: nodeS.median };
        report.ratios['mounts phase / bind floor'] = applyS.median / bindS.median;
        report.ratios['ldconfig phase / bare ldconfig'] = ldS.median / bareS.median;
        report.ratios['configure without ldconfig / bind floor'] = cfgNoLd.median / bindS.median;
        report.ratios['whole process / node -e 0'] = procS.median / nodeS.median;
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
      }

      // Concurrency: 50 containers configured at once from one context.
      const many = 50;
      const containers = await Promise.all(Array.from({ length: many }, () => Promise.all([startContainer({ cgroup: null }), Promise.resolve(makeRootfs())])));
      try {
        const t = process.hrtime.bigint();
        const each = await Promise.all(
          containers.map(async ([c, rootfs]) => {
            const s = process.hrtime.bigint();
            await ctx.configure(await ctx.container({ pid: c.pid, rootfs }), REQUEST);
            return ms(s);
          }),
        );
        const wall = ms(t);
        record(`${many} concurrent configures: each`, each);
        report.figures[`${many} concurrent configures: wall`] = { median: wall, p95: wall, min: wall, n: 1 };
        if (!values.json)
          console.log(`${`${many} concurrent configures: wall`.padEnd(56)} ${wall.toFixed(1)} ms (${(wall / many).toFixed(2)} ms per container)`);
      } finally {
        for (const [c, rootfs] of containers) {
          await c.stop();
          fs.rmSync(rootfs, { recursive: true, force: true });
        }
      }
    } finally {
      await ctx.shutdown();
    }

    // Scaling (simulated hosts): configure --device all.
    if (!values.real && !values.quick) {
      for (const [gpus, migs] of [
        [1, 0],
        [8, 0],
        [16, 0],
        [8, 7],
      ]) {
        const h = await settled(testing.createSimulatedHost(scaledSpec(testing, gpus, migs)));
        const c2 = await init(h.options);
        try {
          const samples = [];
          for (let i = 0; i < Math.min(N, 10); i++) {
            await withContainer(async (c, rootfs) => {
              const t = process.hrtime.bigint();
              await c2.configure(await c2.container({ pid: c.pid, rootfs }), { ...REQUEST, devices: 'all', noLdconfig: true });
              samples.push(ms(t));
            });
          }
          record(`scaling: ${gpus} GPUs${migs ? ` x ${migs} MIG` : ''}, --device all, no ldconfig`, samples);
        } finally {
          await c2.shutdown();
          await h.cleanup();
        }
      }
    }
  } finally {
    fs.rmSync(floor, { force: true });
    if (host) await host.cleanup();
  }
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log('\nratios (medians)');
    for (const [k, v] of Object.entries(report.ratios)) console.log(`  ${k.padEnd(52)} ${v.toFixed(1)}x`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
