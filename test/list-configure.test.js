'use strict';
// `nvc-ts list` and `nvc-ts configure --dry-run --json` must name the same host files for the
// same request: list prints what a container with every capability would get (the
// reference's list has no capability flags), so configure is asked for all of them but
// display (which needs nvidia-modeset, a module the simulated host lacks).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { requireFeature, isRoot } = require('./support/features');

const CLI = path.resolve(__dirname, '../bin/nvc-ts.js');
/** The simulated host's nvidia-caps major. */
const NVIDIA_CAPS_MAJOR = 241;
const ALL_BUT_DISPLAY = ['--utility', '--compute', '--video', '--graphics', '--ngx'];

describe('list and configure --dry-run name the same host files', function () {
  let host;
  let globals;
  let rootfs;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'the simulated host makes device nodes with mknod');
    host = await createSimulatedHost();
    const o = host.options;
    globals = ['--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot];
    const dir = path.join(host.devRoot, 'nvidia-caps-imex-channels');
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('mknod', [path.join(dir, 'channel7'), 'c', '242', '7']);
    rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-rootfs-'));
    fs.writeFileSync(path.join(rootfs, 'etc-debian'), '');
  });
  after(async () => {
    if (host) await host.cleanup();
    if (rootfs) fs.rmSync(rootfs, { recursive: true, force: true });
  });

  function cli(args) {
    const r = spawnSync(process.execPath, [CLI, ...globals, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, `nvc-ts ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** A host path of the plan as the driver root sees it, like list prints it. */
  function asListed(p) {
    for (const [prefix, inside] of [
      [host.procRoot, '/proc'],
      [host.devRoot, '/dev'],
      [host.root, ''],
    ]) {
      if (p === prefix || p.startsWith(prefix + '/')) return inside + p.slice(prefix.length);
    }
    return p;
  }

  const shapes = [
    { title: 'one GPU', args: ['--device=0'] },
    { title: 'all GPUs with 32-bit libraries', args: ['--device=all', '--compat32'] },
    { title: 'a MIG device', args: ['--device=1:1'] },
    { title: 'mig-config on a GPU', args: ['--device=1', '--mig-config=all'] },
    { title: 'mig-monitor on all GPUs', args: ['--device=all', '--mig-monitor=all'] },
    { title: 'no persistenced, fabricmanager or GSP firmware', args: ['--device=2', '--no-persistenced', '--no-fabricmanager', '--no-gsp-firmware'] },
    { title: 'an IMEX channel', args: ['--imex-channel=7'] },
  ];
  for (const shape of shapes) {
    it(shape.title, () => {
      const listed = new Set(
        cli(['list', '--libraries', '--binaries', '--ipcs', '--firmwares', ...shape.args])
          .trim()
          .split('\n'),
      );
      // list prints /dev/nvidia-modeset as the reference does (a node it synthesises); only
      // display, not asked for here, would give it.
      listed.delete('/dev/nvidia-modeset');
      // The X server modules are display files too.
      for (const p of [...listed]) if (p.startsWith('/usr/lib/xorg/modules/')) listed.delete(p);
      const migCaps = shape.args.some((a) => a.startsWith('--mig-'));
      if (migCaps) {
        // list names each capability file; configure binds their directory whole.
        for (const p of [...listed]) if (p.startsWith('/proc/driver/nvidia/capabilities/')) listed.delete(p);
        listed.add('/proc/driver/nvidia/capabilities');
      }

      // --pid of this process: the request is planned with its cgroup rules; nothing is applied.
      const out = JSON.parse(cli(['configure', '--pid', String(process.pid), ...ALL_BUT_DISPLAY, ...shape.args, '--dry-run', '--json', rootfs]));
      assert.equal(out.applied, false);
      const planned = new Set();
      for (const e of out.plan.edits) {
        if (e.kind !== 'bind') continue;
        const p = asListed(e.source);
        // Each GPU's procfs directory is given to the container; list does not print it.
        if (/^\/proc\/driver\/nvidia\/gpus\//.test(p)) continue;
        planned.add(p);
      }
      // Nodes allowed by a cgroup rule (the MIG minors of mig-config/monitor) are named by list too.
      // (a rule for an nvidia-caps minor allows /dev/nvidia-caps/nvidia-cap<minor>).
      for (const r of out.plan.cgroupRules) planned.add(r.major === NVIDIA_CAPS_MAJOR ? `/dev/nvidia-caps/nvidia-cap${r.minor}` : r.path);
      // list prints device nodes only for --device (the reference's grammar).
      if (!shape.args.some((a) => a.startsWith('--device'))) {
        for (const p of ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools']) planned.delete(p);
      }
      const onlyPlanned = [...planned].filter((p) => !listed.has(p));
      const onlyListed = [...listed].filter((p) => !planned.has(p));
      assert.deepEqual({ onlyPlanned, onlyListed }, { onlyPlanned: [], onlyListed: [] });
      assert.ok(planned.size > 10);
    });
  }
});
