'use strict';
// The device-node creator with real mknod under temp dev roots (type, numbers, mode and owner
// checked with stat), its idempotence and refusals; and the two commands the GPU machine will run,
// against a host laid out like it (no /lib/modules, plain .ko files in /usr/local/nvidia/modules,
// a kernel without CONFIG_DRM, no NVML anywhere).
const assert = require('node:assert/strict');
const { execFile, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const kmod = require('../dist/kmod/index.js');
const t = require('../dist/testing/index.js');
const { fakeSyscalls } = require('./support/kmod');
const { isRoot, requireFeature } = require('./support/features');

const BIN = path.join(__dirname, '..', 'bin', 'nvc-ts.js');

function run(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Every entry under dir: "rel type major:minor mode uid:gid" or "rel -> target". */
function listing(dir) {
  const out = [];
  const walk = (rel) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory()) walk(r);
      else if (st.isSymbolicLink()) out.push(`${r} -> ${fs.readlinkSync(path.join(dir, r))}`);
      else if (st.isCharacterDevice())
        out.push(`${r} c ${Math.floor(st.rdev / 256) & 0xfff}:${st.rdev & 0xff} ${(st.mode & 0o777).toString(8)} ${st.uid}:${st.gid}`);
      else out.push(`${r} ${st.isFIFO() ? 'fifo' : 'file'}`);
    }
  };
  walk('');
  return out;
}

/** Everything under base except the dev root, with contents' sizes and times: to see that nothing else was written. */
function snapshotOutside(base, devRoot) {
  const out = [];
  const walk = (dir) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      if (p === devRoot) continue;
      const st = fs.lstatSync(p);
      out.push(`${p} ${st.mode} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory() && !st.isSymbolicLink()) walk(p);
    }
  };
  walk(base);
  return out;
}

describe('kmod: device nodes', function () {
  this.timeout(60000);
  let h;
  const paths = () => ({ procRoot: h.procRoot, devRoot: h.devRoot, sysRoot: h.sysRoot });

  beforeEach(async function () {
    requireFeature(this, 'root', isRoot(), 'mknod of character devices needs CAP_MKNOD');
    h = await t.createKmodHost({
      driverProc: t.defaultSimulatedHostSpec(),
      loaded: [{ name: 'nvidia_modeset' }, { name: 'nvidia_uvm' }, { name: 'nvidia', refcount: 2, usedBy: ['nvidia_modeset', 'nvidia_uvm'] }],
    });
    fs.rmSync(h.devRoot, { recursive: true, force: true });
  });
  afterEach(async () => h?.cleanup());

  it('makes every node with the right type, numbers, mode and owner (params and capability files), and the /dev/char links', async () => {
    // A driver told to give the nodes to uid 1234, gid 44, mode 0660.
    const params = path.join(h.procRoot, 'driver/nvidia/params');
    fs.writeFileSync(
      params,
      fs
        .readFileSync(params, 'utf8')
        .replace('DeviceFileUID: 0', 'DeviceFileUID: 1234')
        .replace('DeviceFileGID: 0', 'DeviceFileGID: 44')
        .replace('DeviceFileMode: 438', 'DeviceFileMode: 432'),
    );
    const r = await kmod.createNvidiaDeviceNodes(paths());
    assert.equal(r.changed, true);
    assert.ok(r.nodes.every((n) => n.action === 'created'));
    const want = [
      'char/195:0 -> ../nvidia0',
      'char/195:1 -> ../nvidia1',
      'char/195:2 -> ../nvidia2',
      'char/195:254 -> ../nvidia-modeset',
      'char/195:255 -> ../nvidiactl',
      'char/238:0 -> ../nvidia-uvm',
      'char/238:1 -> ../nvidia-uvm-tools',
      'char/241:1 -> ../nvidia-caps/nvidia-cap1',
      'char/241:147 -> ../nvidia-caps/nvidia-cap147',
      'char/241:148 -> ../nvidia-caps/nvidia-cap148',
      'char/241:156 -> ../nvidia-caps/nvidia-cap156',
      'char/241:157 -> ../nvidia-caps/nvidia-cap157',
      'char/241:2 -> ../nvidia-caps/nvidia-cap2',
      'nvidia-caps/nvidia-cap1 c 241:1 400 0:0',
      'nvidia-caps/nvidia-cap147 c 241:147 444 0:0',
      'nvidia-caps/nvidia-cap148 c 241:148 444 0:0',
      'nvidia-caps/nvidia-cap156 c 241:156 444 0:0',
      'nvidia-caps/nvidia-cap157 c 241:157 444 0:0',
      'nvidia-caps/nvidia-cap2 c 241:2 444 0:0',
      'nvidia-modeset c 195:254 660 1234:44',
      'nvidia-uvm c 238:0 660 1234:44',
      'nvidia-uvm-tools c 238:1 660 1234:44',
      'nvidia0 c 195:0 660 1234:44',
      'nvidia1 c 195:1 660 1234:44',
      'nvidia2 c 195:2 660 1234:44',
      'nvidiactl c 195:255 660 1234:44',
    ];
    assert.deepEqual(listing(h.devRoot), want);
    // The links resolve to their nodes, as udev's do.
    const st = fs.statSync(path.join(h.devRoot, 'char/195:255'));
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, (195 << 8) | 255);
  });

  it('a second run changes nothing and says so (no system call at all)', async () => {
    await kmod.createNvidiaDeviceNodes(paths());
    const before = listing(h.devRoot);
    const ino = fs.lstatSync(path.join(h.devRoot, 'nvidia0')).ino;
    const sys = fakeSyscalls(h);
    const r = await kmod.createNvidiaDeviceNodes(paths(), {}, { syscalls: sys });
    assert.equal(r.changed, false);
    assert.ok(r.nodes.every((n) => n.action === 'unchanged'));
    assert.ok(r.links.every((l) => l.action === 'unchanged'));
    assert.deepEqual(sys.calls, []);
    assert.deepEqual(listing(h.devRoot), before);
    assert.equal(fs.lstatSync(path.join(h.devRoot, 'nvidia0')).ino, ino);
    const cli = await run(['--proc-root', h.procRoot, '--sys-root', h.sysRoot, '--dev-root', h.devRoot, 'modules', 'nodes']);
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /Nothing to do: every device node under .* is already in place\./);
  });

  it("a FIFO in a node's place is refused, naming it, expected and found; nothing is made", async () => {
    fs.mkdirSync(h.devRoot);
    execFileSync('mkfifo', [path.join(h.devRoot, 'nvidia1')]);
    await assert.rejects(
      kmod.createNvidiaDeviceNodes(paths()),
      (e) =>
        e.code === 'ERR_NVC_FILE_EXISTS' &&
        e.path === path.join(h.devRoot, 'nvidia1') &&
        e.message === `${path.join(h.devRoot, 'nvidia1')} is in the way: expected a character device 195:1, found a FIFO`,
    );
    assert.deepEqual(listing(h.devRoot), ['nvidia1 fifo']);
    const cli = await run(['--proc-root', h.procRoot, '--sys-root', h.sysRoot, '--dev-root', h.devRoot, 'modules', 'nodes']);
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /nvidia1 is in the way: expected a character device 195:1, found a FIFO/);
  });

  it('a failure part-way (mknod refused) removes what the call had made', async () => {
    const real = kmod.nativeSyscalls();
    const failing = {
      ...real,
      mknod: async (p, ...rest) => {
        if (p.endsWith('/nvidia1')) throw Object.assign(new Error('mknod refused'), { code: 'ERR_NVC_SYSTEM', errno: 'EPERM' });
        return real.mknod(p, ...rest);
      },
    };
    await assert.rejects(kmod.createNvidiaDeviceNodes(paths(), {}, { syscalls: failing }), /mknod refused/);
    assert.equal(fs.existsSync(h.devRoot), false, 'the dev root it made is gone too');
    fs.mkdirSync(h.devRoot);
    fs.writeFileSync(path.join(h.devRoot, 'keep'), 'x');
    await assert.rejects(kmod.createNvidiaDeviceNodes(paths(), {}, { syscalls: failing }), /mknod refused/);
    assert.deepEqual(listing(h.devRoot), ['keep file']);
  });

  it('a node with other numbers, or a link to elsewhere, is refused naming both', async () => {
    fs.mkdirSync(path.join(h.devRoot, 'char'), { recursive: true });
    await kmod.nativeSyscalls().mknod(path.join(h.devRoot, 'nvidia0'), 0o666, 195, 5);
    fs.symlinkSync('../elsewhere', path.join(h.devRoot, 'char/238:0'));
    await assert.rejects(kmod.createNvidiaDeviceNodes(paths()), (e) => {
      assert.equal(e.code, 'ERR_NVC_FILE_EXISTS');
      assert.match(e.message, /2 paths are in the way/);
      assert.match(e.message, /nvidia0 is in the way: expected a character device 195:0, found a character device 195:5/);
      assert.match(e.message, /char\/238:0 is in the way: expected a symbolic link to \.\.\/nvidia-uvm, found a symbolic link to \.\.\/elsewhere/);
      return true;
    });
  });

  it("an existing node's mode and owner are corrected when the driver modifies device files, left alone when it does not", async () => {
    fs.mkdirSync(h.devRoot);
    const node = path.join(h.devRoot, 'nvidiactl');
    await kmod.nativeSyscalls().mknod(node, 0o600, 195, 255);
    fs.chmodSync(node, 0o600);
    const r = await kmod.createNvidiaDeviceNodes(paths());
    assert.equal(r.nodes.find((n) => n.path === node).action, 'updated');
    assert.equal(fs.statSync(node).mode & 0o777, 0o666);
    fs.chmodSync(node, 0o600);
    const params = path.join(h.procRoot, 'driver/nvidia/params');
    fs.writeFileSync(params, fs.readFileSync(params, 'utf8').replace('ModifyDeviceFiles: 1', 'ModifyDeviceFiles: 0'));
    const again = await kmod.createNvidiaDeviceNodes(paths());
    assert.equal(again.nodes.find((n) => n.path === node).action, 'unchanged');
    assert.equal(fs.statSync(node).mode & 0o777, 0o600);
  });

  it('IMEX channel nodes on request (major of nvidia-caps-imex-channels), CLI --imex-channel', async () => {
    const cli = await run(['--proc-root', h.procRoot, '--sys-root', h.sysRoot, '--dev-root', h.devRoot, 'modules', 'nodes', '--imex-channel', '0,3', '--json']);
    assert.equal(cli.status, 0, cli.stderr);
    const out = JSON.parse(cli.stdout);
    assert.ok(out.nodes.some((n) => n.path === path.join(h.devRoot, 'nvidia-caps-imex-channels/channel3') && n.major === 242 && n.minor === 3));
    const st = fs.lstatSync(path.join(h.devRoot, 'nvidia-caps-imex-channels/channel0'));
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, (242 << 8) | 0);
    assert.equal(fs.readlinkSync(path.join(h.devRoot, 'char/242:3')), '../nvidia-caps-imex-channels/channel3');
  });

  it('nvidia-modeset only while its module is loaded', async () => {
    await h.setLoaded([{ name: 'nvidia_uvm' }, { name: 'nvidia', refcount: 1, usedBy: ['nvidia_uvm'] }]);
    const r = await kmod.createNvidiaDeviceNodes(paths());
    assert.ok(!r.nodes.some((n) => n.path.endsWith('nvidia-modeset')));
    assert.equal(fs.existsSync(path.join(h.devRoot, 'nvidia-modeset')), false);
  });
});

describe('kmod: device nodes agree with the simulated host', function () {
  this.timeout(60000);
  it("made in an empty dev root from the simulated host's proc files, they are the nodes the simulated host has", async function () {
    requireFeature(this, 'root', isRoot(), 'mknod of character devices needs CAP_MKNOD');
    const sim = await t.createSimulatedHost();
    const devRoot = path.join(path.dirname(sim.options.devRoot), 'dev-made');
    try {
      const r = await kmod.createNvidiaDeviceNodes({ procRoot: sim.options.procRoot, sysRoot: sim.options.sysRoot, devRoot }, { links: false });
      assert.equal(r.changed, true);
      assert.deepEqual(listing(devRoot), listing(sim.options.devRoot));
      // And on the simulated host's own /dev only the /dev/char links are new.
      const own = await kmod.createNvidiaDeviceNodes({ procRoot: sim.options.procRoot, sysRoot: sim.options.sysRoot, devRoot: sim.options.devRoot });
      assert.ok(own.nodes.every((n) => n.action === 'unchanged'));
      assert.ok(own.links.length > 0 && own.links.every((l) => l.action === 'created'));
    } finally {
      await sim.cleanup();
    }
  });
});

describe('kmod: the GPU machine layout (no /lib/modules, plain .ko in /usr/local/nvidia/modules, no CONFIG_DRM, no NVML)', function () {
  this.timeout(60000);

  for (const configAt of ['proc', 'none']) {
    it(`modules plan --json nvidia-drm refuses, naming drm and drm_kms_helper as not available in this kernel (/proc/config.gz ${configAt === 'proc' ? 'present' : 'absent'})`, async () => {
      const h = await t.createKmodHost(t.gpuMachineKmodSpec(configAt));
      try {
        assert.equal(fs.existsSync(path.join(h.root, 'lib/modules')), false);
        const r = await run(['--root', h.root, '--proc-root', h.procRoot, '--sys-root', h.sysRoot, 'modules', 'plan', '--json', 'nvidia-drm']);
        assert.equal(r.status, 1, r.stderr);
        const plan = JSON.parse(r.stdout);
        assert.deepEqual(plan.load, ['nvidia_modeset', 'nvidia_drm']);
        assert.deepEqual(plan.alreadyLoaded, ['nvidia']);
        assert.deepEqual(plan.missing, ['drm', 'drm_kms_helper']);
        assert.equal(plan.ok, false);
        for (const p of plan.problems.filter((x) => x.kind === 'missing')) assert.deepEqual(p.neededBy, ['nvidia_drm']);
        assert.match(r.stderr, /^nvc-ts: kernel-modules error: cannot load nvidia_drm:/);
        assert.match(r.stderr, /drm \(needed by nvidia_drm\) is not available in this kernel/);
        assert.match(r.stderr, /drm_kms_helper \(needed by nvidia_drm\) is not available in this kernel/);
        assert.match(r.stderr, /must be provided by the kernel, built in or as a module/);
        assert.match(
          r.stderr,
          configAt === 'proc' ? /CONFIG_DRM is not set in .*\/proc\/config\.gz/ : /kernel option CONFIG_DRM; the kernel's configuration could not be read/,
        );
        assert.match(r.stderr, /drm_dev_alloc, drm_dev_register from drm \(CONFIG_DRM\)/);
        assert.match(r.stderr, /\[ERR_NVC_KERNEL_MODULE\]/);
      } finally {
        await h.cleanup();
      }
    });
  }

  it("a stub nvidia-drm (built without DRM: no depends, no drm symbol, as on the GPU machine) is still refused for the kernel's missing DRM", async () => {
    const h = await t.createKmodHost(t.gpuMachineKmodSpec('proc', { stubDrm: true }));
    try {
      const r = await run(['--root', h.root, '--proc-root', h.procRoot, '--sys-root', h.sysRoot, 'modules', 'plan', '--json', 'nvidia-drm']);
      assert.equal(r.status, 1, r.stdout);
      const plan = JSON.parse(r.stdout);
      assert.deepEqual(plan.modules.find((m) => m.name === 'nvidia_drm').depends, []);
      assert.deepEqual(plan.missing, ['drm', 'drm_kms_helper']);
      assert.equal(plan.error.code, 'ERR_NVC_KERNEL_MODULE');
      assert.match(r.stderr, /drm \(needed by nvidia_drm\) is not available in this kernel/);
      assert.match(r.stderr, /CONFIG_DRM is not set in .*\/proc\/config\.gz/);
      assert.match(r.stderr, /drm_kms_helper \(needed by nvidia_drm\) is not available in this kernel/);
    } finally {
      await h.cleanup();
    }
  });

  it('modules plan (the default targets) there: nvidia and nvidia-uvm loaded, nvidia-modeset loadable, nvidia-drm refused', async () => {
    const h = await t.createKmodHost(t.gpuMachineKmodSpec());
    try {
      const r = await run(['--root', h.root, '--proc-root', h.procRoot, '--sys-root', h.sysRoot, 'modules', 'plan', '--json']);
      assert.equal(r.status, 1);
      const plan = JSON.parse(r.stdout);
      assert.deepEqual(plan.load, ['nvidia_modeset', 'nvidia_drm']);
      assert.deepEqual([...plan.alreadyLoaded].sort(), ['nvidia', 'nvidia_uvm']);
      const ok = await run(['--root', h.root, '--proc-root', h.procRoot, '--sys-root', h.sysRoot, 'modules', 'plan', '--json', 'nvidia-modeset']);
      assert.equal(ok.status, 0, ok.stderr);
      assert.deepEqual(JSON.parse(ok.stdout).load, ['nvidia_modeset']);
    } finally {
      await h.cleanup();
    }
  });

  it("modules nodes --dev-root DIR recreates that host's nodes, writing nothing outside DIR", async function () {
    requireFeature(this, 'root', isRoot(), 'mknod of character devices needs CAP_MKNOD');
    const h = await t.createKmodHost(t.gpuMachineKmodSpec());
    try {
      const devtest = path.join(h.base, 'devtest');
      const before = snapshotOutside(h.base, devtest);
      const r = await run(['--root', h.root, '--proc-root', h.procRoot, '--sys-root', h.sysRoot, '--dev-root', devtest, 'modules', 'nodes']);
      assert.equal(r.status, 0, r.stderr);
      // /dev of the GPU machine (gpu-machine.md), plus the /dev/char links.
      assert.deepEqual(
        listing(devtest).filter((l) => !l.startsWith('char/')),
        [
          'nvidia-caps/nvidia-cap1 c 241:1 400 0:0',
          'nvidia-caps/nvidia-cap2 c 241:2 444 0:0',
          'nvidia-uvm c 238:0 666 0:0',
          'nvidia-uvm-tools c 238:1 666 0:0',
          'nvidia0 c 195:0 666 0:0',
          'nvidia1 c 195:1 666 0:0',
          'nvidiactl c 195:255 666 0:0',
        ],
      );
      assert.equal(listing(devtest).filter((l) => l.startsWith('char/')).length, 7);
      assert.deepEqual(snapshotOutside(h.base, devtest), before, 'nothing outside the dev root changed');
      const again = await run(['--root', h.root, '--proc-root', h.procRoot, '--sys-root', h.sysRoot, '--dev-root', devtest, 'modules', 'nodes', '--json']);
      assert.equal(JSON.parse(again.stdout).changed, false);
    } finally {
      await h.cleanup();
    }
  });

  it('modules load there for nvidia and nvidia-uvm: nothing to insert, the nodes are made (CLI, native layer)', async function () {
    requireFeature(this, 'root', isRoot(), 'mknod of character devices needs CAP_MKNOD');
    const h = await t.createKmodHost(t.gpuMachineKmodSpec());
    try {
      const r = await run([
        '--root',
        h.root,
        '--proc-root',
        h.procRoot,
        '--sys-root',
        h.sysRoot,
        '--dev-root',
        h.devRoot,
        'modules',
        'load',
        '--json',
        'nvidia',
        'nvidia-uvm',
      ]);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(out.load, []);
      assert.deepEqual(out.inserted, []);
      assert.deepEqual([...out.alreadyLoaded].sort(), ['nvidia', 'nvidia_uvm']);
      assert.equal(out.nodes.nodes.length, 7);
      assert.ok(fs.lstatSync(path.join(h.devRoot, 'nvidia1')).isCharacterDevice());
    } finally {
      await h.cleanup();
    }
  });

  it('modules load of nvidia-modeset goes to the kernel through the native layer; a refusal names the module and errno', async () => {
    const h = await t.createKmodHost(t.gpuMachineKmodSpec());
    try {
      const r = await run([
        '--root',
        h.root,
        '--proc-root',
        h.procRoot,
        '--sys-root',
        h.sysRoot,
        '--dev-root',
        h.devRoot,
        'modules',
        'load',
        '--param',
        'nvidia-modeset.x=1',
        'nvidia-modeset',
      ]);
      // The fixture is no loadable module: whatever this kernel says (no module support in a
      // sandbox, no permission, bad format, bad signature), it refuses, and the CLI names it.
      assert.equal(r.status, 1, r.stdout);
      assert.match(
        r.stderr,
        /^nvc-ts: kernel-modules error: the kernel refused module nvidia_modeset \(.*nvidia-modeset\.ko\): (ENOSYS|EPERM|ENOEXEC|EKEYREJECTED|ENOKEY|EINVAL|EBADMSG|ENOENT)/,
      );
      assert.match(r.stderr, /dmesg/);
      assert.equal(fs.readdirSync(h.devRoot).length, 0, 'no nodes after a failed load');
    } finally {
      await h.cleanup();
    }
  });

  it('usage errors name the problem', async () => {
    for (const [args, re] of [
      [['modules'], /'modules' needs an action: plan, load, unload, nodes/],
      [['modules', 'frob'], /unknown modules action 'frob'/],
      [['modules', 'plan', '--param', 'modeset=1'], /--param needs MODULE\.PARAM=VALUE/],
      [['modules', 'nodes', 'nvidia'], /'modules nodes' takes no module names/],
      [['modules', 'nodes', '--imex-channel', 'x'], /--imex-channel needs channel numbers/],
    ]) {
      const r = await run(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });
});
