'use strict';
// nvc-ts as a drop-in nvidia-container-cli: the argv shapes real callers pass (gVisor, the
// toolkit's legacy hook, enroot/Apptainer) configure real containers on a simulated host, and
// every global option of nvidia-container-cli 1.17 is accepted and does what it says.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { parseCommandLine } = require('../dist/cli/args.js');
const { makeRootfs, startContainer, mountsUnder, ldcacheEntries } = require('./support/container');
const { requireFeature, isRoot } = require('./support/features');

const CLI = path.resolve(__dirname, '../bin/nvc-ts.js');
const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const DRIVER = '580.159.04';
const LDCONFIG = fs.existsSync('/sbin/ldconfig.real') ? '@/sbin/ldconfig.real' : '@/sbin/ldconfig';
const ownIds = `${process.geteuid()}:${process.getegid()}`;

function hasStrace() {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('argv: nvidia-container-cli forms, parsed', () => {
  const parse = (...argv) => parseCommandLine(argv);

  it("--user and -u take an optional value: alone, the caller's own effective ids", () => {
    assert.equal(parse('--user', 'info').globals.user, ownIds);
    assert.equal(parse('-u', 'info').globals.user, ownIds);
    assert.equal(parse('--user', '--debug=/dev/stderr', 'info').globals.user, ownIds);
    assert.equal(parse('--user=1000:1000', 'info').globals.user, '1000:1000');
    assert.equal(parse('-u1000', 'info').globals.user, '1000');
    assert.equal(parse('--user', 'nobody', 'info').globals.user, 'nobody');
    assert.equal(parse('-ku', 'info').globals.user, ownIds);
    assert.equal(parse('-ku', 'info').globals.loadKernelModules, true);
    // A service parsing a client's argv names the client's ids.
    assert.equal(parseCommandLine(['--user', 'info'], { uid: 1234, gid: 99 }).globals.user, '1234:99');
    // After the command, --user keeps its optional value; -u is the command's (--utility).
    const c = parse('configure', '--user', '--utility', '/rootfs');
    assert.equal(c.globals.user, ownIds);
  });

  it("short options follow the reference's positional rule: -d, -u, -n, -r, -l are global before the command, the command's after", () => {
    const inv = parse(
      '-d',
      '/tmp/x.log',
      '-n',
      '-r',
      '/drv',
      '-l',
      '/etc/c.cache',
      'configure',
      '-d',
      '0',
      '-u',
      '-n',
      '-r',
      'cuda>=12',
      '-l',
      '@/sbin/ldconfig',
      '--dry-run',
      '/rootfs',
    );
    assert.equal(inv.globals.debugFile, '/tmp/x.log');
    assert.equal(inv.globals.noPivot, true);
    assert.equal(inv.globals.root, '/drv');
    assert.equal(inv.globals.ldcache, '/etc/c.cache');
    assert.equal(inv.globals.user, undefined, '-u after configure is --utility');
    const help = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    assert.match(help, /-d is --debug before `configure` and --device after it/);
  });

  it('-d - and --debug=- name stderr; -?, --usage, --no-create-imex-channels and -n parse', () => {
    assert.equal(parse('-d', '-', 'info').globals.debugFile, '-');
    assert.equal(parse('--debug', '-', 'info').globals.debugFile, '-');
    assert.equal(parse('-?').globals.help, true);
    assert.equal(parse('configure', '-?').globals.help, true);
    assert.equal(parse('--usage').globals.usage, true);
    assert.equal(parse('--no-create-imex-channels', 'info').globals.noCreateImexChannels, true);
    assert.equal(parse('-kn', 'info').globals.noPivot, true);
    assert.equal(parse('--no-pivot', 'info').globals.noPivot, true);
  });
});

describe('argv: real callers and every global option (simulated host)', function () {
  let host;
  let globals;
  let scratch;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces and device nodes need root');
    host = await createSimulatedHost();
    const o = host.options;
    globals = ['--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot];
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-argv-'));
  });
  after(async () => {
    if (host) await host.cleanup();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  function cli(args, { pre = [] } = {}) {
    return spawnSync(process.execPath, [CLI, ...pre, ...globals, ...args], { encoding: 'utf8' });
  }
  function ok(r, what) {
    assert.equal(r.status, 0, `${what}: ${r.stderr}`);
    return r;
  }

  describe('callers configure a container', () => {
    let rootfs;
    let cnt;
    beforeEach(() => {
      rootfs = makeRootfs();
    });
    afterEach(async () => {
      if (cnt) await cnt.stop();
      cnt = undefined;
      fs.rmSync(rootfs, { recursive: true, force: true });
    });

    function assertConfigured(pid, { ldcache = true } = {}) {
      const mounts = mountsUnder(pid, rootfs);
      for (const t of [`${LIBDIR}/libcuda.so.${DRIVER}`, `${LIBDIR}/libnvidia-ml.so.${DRIVER}`, '/dev/nvidia0', '/dev/nvidiactl', '/usr/bin/nvidia-smi']) {
        assert.ok(mounts.has(t), `${t} is mounted in the container (have: ${[...mounts.keys()].join(' ')})`);
      }
      if (ldcache) assert.equal(ldcacheEntries(path.join(rootfs, 'etc/ld.so.cache')).get('libcuda.so.1'), `${LIBDIR}/libcuda.so.1`);
      assert.equal(mountsUnder('self', rootfs).size, 0, 'nothing mounted in the host namespace');
    }

    it('gVisor (runsc nvproxy): --load-kmods configure --ldconfig=@... --no-cgroups --utility --compute --pid --device', async () => {
      cnt = await startContainer({ cgroup: null });
      ok(
        cli(['--load-kmods', 'configure', `--ldconfig=${LDCONFIG}`, '--no-cgroups', '--utility', '--compute', `--pid=${cnt.pid}`, '--device=0', rootfs]),
        'gVisor configure',
      );
      assertConfigured(cnt.pid);
      const info = ok(cli(['--load-kmods', 'info']), 'gVisor info');
      assert.match(info.stdout, /^NVRM version:\s+580\.159\.04$/m);
    });

    it('the legacy hook (docker --gpus): --load-kmods --debug=FILE --user configure ... --require --cuda-compat-mode --pid', async () => {
      cnt = await startContainer();
      const log = path.join(scratch, 'hook.log');
      const r = cli([
        '--load-kmods',
        `--debug=${log}`,
        '--user',
        'configure',
        `--ldconfig=${LDCONFIG}`,
        '--device=GPU-4f1c2a9e-7d3b-5e60-a8c1-93b2d4e5f601',
        '--compute',
        '--utility',
        '--require=cuda>=12.0',
        '--require=brand=nvidia,driver>=535',
        '--cuda-compat-mode=ldconfig',
        `--pid=${cnt.pid}`,
        rootfs,
      ]);
      ok(r, 'legacy hook configure');
      assertConfigured(cnt.pid);
      if (cnt.cgroup.version === 1) assert.ok(cnt.cgroup.allowed().includes('c 195:0 rw'), 'the device cgroup allows GPU 0');
      const text = fs.readFileSync(log, 'utf8');
      assert.match(text, /"user":"0:0"/, "the caller's ids for --user without a value");
      assert.match(text, /cuda-compat-mode=ldconfig: the image has no CUDA compat directory/);
    });

    it('the legacy hook: an unsatisfied --require fails with exit 1 and mounts nothing', async () => {
      cnt = await startContainer({ cgroup: null });
      const r = cli([
        '--load-kmods',
        '--user',
        'configure',
        `--ldconfig=${LDCONFIG}`,
        '--device=0',
        '--compute',
        '--require=cuda>=99.0',
        '--no-cgroups',
        `--pid=${cnt.pid}`,
        rootfs,
      ]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /requirement/);
      assert.equal(mountsUnder(cnt.pid, rootfs).size, 0);
    });

    it('enroot/pyxis and Apptainer --nvccli: --user --debug=/dev/stderr configure --no-cgroups ... without --pid, inside an unshared mount namespace', () => {
      const args = [
        CLI,
        '--user',
        '--debug=/dev/stderr',
        ...globals,
        'configure',
        '--no-cgroups',
        `--ldconfig=${LDCONFIG}`,
        '--device=0',
        '--utility',
        '--compute',
        '--require=cuda>=12.0',
        rootfs,
      ];
      const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
      // The mounts live as long as the namespace: read them back from inside it.
      const r = spawnSync(
        'unshare',
        ['-m', '--propagation', 'private', 'sh', '-c', `'${process.execPath}' ${quoted} && echo ==== && cat /proc/self/mountinfo`],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /nvc-ts\[\d+\] options: .*"user":"0:0"/, '--debug=/dev/stderr logs to stderr');
      const inside = r.stdout
        .split('====\n')[1]
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((mp) => mp !== undefined && mp.startsWith(rootfs + '/'))
        .map((mp) => mp.slice(rootfs.length));
      for (const t of [`${LIBDIR}/libcuda.so.${DRIVER}`, '/dev/nvidia0', '/usr/bin/nvidia-smi']) assert.ok(inside.includes(t), `${t} mounted in the namespace`);
      assert.equal(mountsUnder('self', rootfs).size, 0, 'nothing in the host namespace');
      assert.equal(ldcacheEntries(path.join(rootfs, 'etc/ld.so.cache')).get('libcuda.so.1'), `${LIBDIR}/libcuda.so.1`);
    });
  });

  describe('each global option has its effect', () => {
    it("-k/--load-kmods: the driver's missing device nodes are made (modules loaded)", () => {
      const uvm = path.join(host.devRoot, 'nvidia-uvm');
      fs.rmSync(uvm);
      ok(cli(['info']), 'info');
      assert.equal(fs.existsSync(uvm), false, 'without -k nothing is made');
      ok(cli(['-k', 'info']), '-k info');
      assert.equal(fs.statSync(uvm).isCharacterDevice(), true);
    });

    it('--no-create-imex-channels: with -k, a requested IMEX channel gets no host node', () => {
      const rootfs = makeRootfs();
      try {
        const channel = path.join(host.devRoot, 'nvidia-caps-imex-channels/channel5');
        let r = cli(['-k', '--no-create-imex-channels', 'configure', '--imex-channel=5', '--dry-run', rootfs]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /IMEX channel 5 was requested but the host has no/);
        assert.equal(fs.existsSync(channel), false);
        r = ok(cli(['-k', 'configure', '--imex-channel=5', '--dry-run', rootfs]), '-k configure --imex-channel=5');
        assert.equal(fs.statSync(channel).isCharacterDevice(), true);
        assert.match(r.stdout, /^bind +\/dev\/nvidia-caps-imex-channels\/channel5 </m);
      } finally {
        fs.rmSync(rootfs, { recursive: true, force: true });
      }
    });

    it('-n/--no-pivot: ldconfig enters the rootfs by MS_MOVE + chroot instead of pivot_root', async function () {
      requireFeature(this, 'strace', hasStrace(), 'strace shows how the ldconfig helper enters the rootfs');
      const traced = async (pre) => {
        const rootfs = makeRootfs();
        const cnt = await startContainer({ cgroup: null });
        try {
          const out = path.join(scratch, `strace-${pre.length}.txt`);
          const cmd = [process.execPath, CLI, ...pre, ...globals, 'configure', '--compute', '--no-cgroups', `--pid=${cnt.pid}`, rootfs];
          const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=pivot_root,mount,chroot', '-o', out, ...cmd], { encoding: 'utf8' });
          assert.equal(r.status, 0, r.stderr);
          assert.equal(ldcacheEntries(path.join(rootfs, 'etc/ld.so.cache')).get('libcuda.so.1'), `${LIBDIR}/libcuda.so.1`, 'ldconfig ran');
          return fs.readFileSync(out, 'utf8');
        } finally {
          await cnt.stop();
          fs.rmSync(rootfs, { recursive: true, force: true });
        }
      };
      const pivoted = await traced([]);
      assert.match(pivoted, /pivot_root\("\.", "\."\) += 0/);
      for (const flag of ['-n', '--no-pivot']) {
        const moved = await traced([flag]);
        assert.doesNotMatch(moved, /pivot_root/);
        assert.match(moved, /mount\("\.", "\/", NULL, MS_MOVE, NULL\) += 0/);
        assert.match(moved, /chroot\("\."\) += 0/);
      }
    });

    it("-u/--user: the value given (attached, or the next word) is the driver service's identity", () => {
      for (const args of [['--user=nosuchuser42'], ['-unosuchuser42'], ['--user', 'nosuchuser42'], ['-u', 'nosuchuser42']]) {
        const r = cli([...args, 'info']);
        assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /no user named "nosuchuser42"/);
      }
      ok(cli(['--user', 'info']), '--user alone');
      ok(cli(['-u', 'info']), '-u alone');
    });

    it('-d/--debug FILE: timestamped lines in FILE; - and /dev/stderr: stderr', () => {
      const log = path.join(scratch, 'd.log');
      ok(cli(['-d', log, 'info']), '-d FILE');
      assert.match(fs.readFileSync(log, 'utf8'), /nvc-ts\[\d+\] initialization: done/);
      for (const to of [['-d', '-'], ['--debug=/dev/stderr']]) {
        const r = ok(cli([...to, 'info']), to.join(' '));
        assert.match(r.stderr, /initialization: done/);
      }
    });

    it('-r/--root and -l/--ldcache: the driver root and its ld cache are the ones given', () => {
      const o = host.options;
      const cache = path.join(o.root, 'etc/other.cache');
      fs.copyFileSync(path.join(o.root, o.ldcache), cache);
      try {
        const base = ['--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot];
        const run = (args) => spawnSync(process.execPath, [CLI, ...args, ...base, 'list', '--libraries'], { encoding: 'utf8' });
        const r = run(['-r', o.root, '-l', '/etc/other.cache']);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^${LIBDIR}/libcuda\\.so\\.${DRIVER.replace(/\./g, '\\.')}$`, 'm'));
        const missing = run(['-r', o.root, '-l', '/etc/none.cache']);
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /none\.cache/);
        const wrongRoot = run(['-r', scratch, '-l', '/etc/other.cache']);
        assert.equal(wrongRoot.status, 1);
      } finally {
        fs.rmSync(cache, { force: true });
      }
    });

    it('list --no-cntlibs (1.17.4) is accepted and changes nothing: list names host files only', () => {
      const plain = ok(cli(['list']), 'list');
      const with_ = ok(cli(['list', '--no-cntlibs']), 'list --no-cntlibs');
      assert.equal(with_.stdout, plain.stdout);
      assert.match(plain.stdout, /libcuda\.so\./);
    });

    it('--usage and -? print usage and help, exit 0', () => {
      let r = cli(['--usage']);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^Usage: nvc-ts \[-k\?nV\] .*\[-u\[UID\[:GID\]\]\]/);
      r = spawnSync(process.execPath, [CLI, 'configure', '--usage'], { encoding: 'utf8' });
      assert.equal(r.stdout, 'nvc-ts [GLOBAL OPTIONS] configure [OPTIONS] ROOTFS\n');
      r = spawnSync(process.execPath, [CLI, '-?'], { encoding: 'utf8' });
      assert.equal(r.status, 0);
      assert.match(r.stdout, /--no-create-imex-channels/);
      assert.match(r.stdout, /-n, --no-pivot/);
    });
  });
});
