'use strict';
// Issue 11: what a hostile image (or runtime input) can make the hook do. Each block is one
// finding of the review; every bound is checked for the whole class of input, not one value.
const assert = require('node:assert/strict');
const { interpretContainerEnv } = require('../dist/hook-env.js');
const { parseImexChannels, IMEX_CHANNELS_PER_REQUEST_MAX } = require('../dist/select.js');
const { requireFeature, isRoot } = require('./support/features');

const ids = (n, from = 0) => Array.from({ length: n }, (_, i) => String(from + i));

describe('hardening: IMEX channel requests are bounded (finding 1)', () => {
  it('an image asking for 20,000 channels is refused naming NVIDIA_IMEX_CHANNELS, before any probe', () => {
    assert.throws(
      () => interpretContainerEnv({ env: ['NVIDIA_VISIBLE_DEVICES=all', `NVIDIA_IMEX_CHANNELS=${ids(20000).join(',')}`], privileged: false }),
      (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && e.field === 'NVIDIA_IMEX_CHANNELS' && /at most \d+/.test(e.message),
    );
  });

  it('the bound applies to distinct ids wherever they come from (hook env or --imex-channel)', () => {
    const max = IMEX_CHANNELS_PER_REQUEST_MAX;
    assert.ok(Number.isInteger(max) && max >= 1 && max < 4096);
    assert.equal(parseImexChannels(ids(max, 1000).join(',')).length, max);
    // Repeats do not count: the limit is on what would be probed and bound.
    assert.equal(parseImexChannels([...ids(max), ...ids(max)]).length, 2 * max);
    for (const spec of [ids(max + 1).join(','), [ids(max).join(','), String(1 << 19)]]) {
      assert.throws(
        () => parseImexChannels(spec),
        (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && e.field === 'imex-channel' && /too many IMEX channels/.test(e.message),
      );
    }
    const r = interpretContainerEnv({ env: ['NVIDIA_VISIBLE_DEVICES=all', `NVIDIA_IMEX_CHANNELS=${ids(max).join(',')}`], privileged: false });
    assert.equal(r.imexChannels.split(',').length, max);
  });
});

describe('hardening: values from the image reach messages quoted and short (finding 3)', () => {
  const { formatError } = require('../dist/cli/format-error.js');
  const { formatInfoText, formatInfoCsv, formatInfoJson } = require('../dist/cli/commands/info.js');
  const { DebugLog } = require('../dist/cli/debug-log.js');
  const { NvcError } = require('../dist/errors.js');
  const ctx = { root: '/', ldcache: '/etc/ld.so.cache', simulate: true, debug: false };
  // No C0/C1 control character (ESC, CSI, BEL, line breaks) and no bidi override in what is printed.
  // eslint-disable-next-line no-control-regex
  const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
  const interpretError = (env) => {
    try {
      interpretContainerEnv({ env: ['NVIDIA_VISIBLE_DEVICES=all', ...env], privileged: true });
    } catch (e) {
      return e;
    }
    assert.fail('expected an error');
  };

  it('a million unknown NVIDIA_DRIVER_CAPABILITIES words give a short error that counts them', () => {
    const err = interpretError([`NVIDIA_DRIVER_CAPABILITIES=${Array.from({ length: 1e6 }, (_, i) => `w${i}`).join(',')}`]);
    assert.equal(err.code, 'ERR_NVC_INVALID_ARGUMENT');
    assert.ok(err.message.length < 2048, `message of ${err.message.length} characters`);
    assert.match(err.message, /"w0", .*and 999992 more/);
    assert.match(err.message, /… \(\d+ bytes\)/);
    assert.ok(formatError(err, ctx).length < 4096);
  });

  it('every image value in a hook-env message is escaped: no line break or escape sequence survives', () => {
    const evil = 'x\nnvc-ts: info: all good\u001b[2J\u009b31m\r\u202e';
    for (const env of [[`NVIDIA_DRIVER_CAPABILITIES=compute,${evil}`], [`NVIDIA_MIG_CONFIG_DEVICES=${evil}`], [`CUDA_VERSION=${evil}`]]) {
      let err;
      try {
        interpretContainerEnv({ env: ['NVIDIA_VISIBLE_DEVICES=all', ...env], privileged: false });
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof NvcError, `${env} must fail`);
      assert.doesNotMatch(err.message, RAW);
      assert.match(err.message, /\\n/);
      const text = formatError(err, ctx);
      assert.equal(text.indexOf('\n'), text.length - 1, 'one line');
    }
  });

  it('selection and requirement errors quote their tokens the same way', () => {
    const { parseImexChannels } = require('../dist/select.js');
    const { parseRequirement } = require('../dist/require.js');
    const long = `1${'\u001b'.repeat(5000)}`;
    assert.throws(
      () => parseImexChannels(long),
      (e) => !RAW.test(e.message) && e.message.length < 1024 && /\(\d+ bytes\)/.test(e.message),
    );
    assert.throws(
      () => parseRequirement(`cuda>=${'9\n'.repeat(5000)}`),
      (e) => !RAW.test(e.message) && e.message.length < 2048,
    );
  });

  it('any error printed by the CLI is one line, whatever its message holds', () => {
    for (const err of [new Error('a\nnvc-ts: fake line\u001b]0;title\u0007'), new NvcError('ERR_NVC_SYSTEM', 'x'.repeat(1e6) + '\n')]) {
      const text = formatError(err, ctx);
      assert.equal(text.indexOf('\n'), text.length - 1);
      assert.doesNotMatch(text.slice(0, -1), RAW);
      assert.ok(text.length < 8192);
    }
  });

  it('errors of the container API and of the native side escape the paths they name', async () => {
    const { openContainer } = require('../dist/container.js');
    const { fromNative } = require('../dist/native-errors.js');
    await assert.rejects(openContainer({ rootfs: '/nonexistent\nnvc-ts: ok\u001b[2J' }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && !RAW.test(e.message));
    const err = fromNative(Object.assign(new Error(`cannot open /x\n${'\u009b'.repeat(10)}`), { code: 'ERR_NVC_SYSTEM' }));
    assert.doesNotMatch(err.message, RAW);
  });

  it('NVML strings in info output are escaped (text and CSV)', () => {
    const driver = { version: '550.1\u001b[2J', cudaVersion: '12.4' };
    const gpu = {
      index: 0,
      minor: 0,
      deviceNode: { path: '/dev/nvidia0', minor: 0 },
      model: 'H100\u001b]0;owned\u0007\nDevice Index:  9',
      brand: 'Tesla\u009b2J',
      uuid: 'GPU-1',
      busId: '00000000:01:00.0',
      architecture: 'Hopper\u202e',
      mig: { capable: false, enabled: false, devices: [] },
    };
    for (const text of [formatInfoText(driver, [gpu]), formatInfoCsv(driver, [gpu])]) {
      assert.doesNotMatch(text, RAW);
      assert.ok(!text.includes('\nDevice Index:  9'));
      assert.match(text, /H100\\e\]0;owned\\x07\\nDevice Index/);
    }
    // JSON stays JSON with the same strings, and shows none of them raw either.
    const json = formatInfoJson(driver, [gpu]);
    assert.doesNotMatch(json, RAW);
    assert.equal(JSON.parse(json).devices[0].brand, gpu.brand);
    assert.equal(JSON.parse(json).devices[0].architecture, gpu.architecture);
  });

  it('the debug log writes one line per message, escaped and bounded', () => {
    const fs = require('node:fs');
    const os = require('node:os');
    const path = require('node:path');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-log-')), 'debug.log');
    const log = new DebugLog(file);
    log.line('value: a\nnvc-ts[1] forged\u001b[2J');
    log.line('y'.repeat(1e6));
    log.close();
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.length, 3);
    assert.doesNotMatch(lines[0], RAW);
    assert.ok(lines[1].length < 32768);
  });
});

describe('hardening: hook inputs are regular files of bounded size (finding 6)', function () {
  this.timeout(30000);
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const { execFileSync, spawn } = require('node:child_process');
  const { hookTargetFromStateText } = require('../dist/hook.js');
  const { CONFIG_JSON_MAX_BYTES, OCI_STATE_MAX_BYTES } = require('../dist/bounded-read.js');
  let dir;
  let bundle;
  const state = () => JSON.stringify({ ociVersion: '1.0.2', id: 'x', status: 'creating', pid: process.pid, bundle });
  const refused = (pattern) => (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && e.field === 'config.json' && pattern.test(e.message);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-hook-input-'));
    bundle = path.join(dir, 'bundle');
    fs.mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a config.json that is a FIFO is refused at once (no writer needed)', async () => {
    execFileSync('mkfifo', [path.join(bundle, 'config.json')]);
    await assert.rejects(hookTargetFromStateText(state()), refused(/is not a regular file/));
  });

  it('a config.json linking to a device (/dev/zero) or a directory is refused', async () => {
    fs.symlinkSync('/dev/zero', path.join(bundle, 'config.json'));
    await assert.rejects(hookTargetFromStateText(state()), refused(/is not a regular file/));
    fs.unlinkSync(path.join(bundle, 'config.json'));
    fs.mkdirSync(path.join(bundle, 'config.json'));
    await assert.rejects(hookTargetFromStateText(state()), refused(/is not a regular file/));
  });

  it('a config.json over the documented maximum is refused, even when it is valid JSON', async () => {
    const valid = JSON.stringify({ process: { env: ['PATH=/bin'] } });
    fs.writeFileSync(path.join(bundle, 'config.json'), valid + ' '.repeat(CONFIG_JSON_MAX_BYTES + 1 - valid.length));
    await assert.rejects(hookTargetFromStateText(state()), refused(/larger than 4194304 bytes/));
    fs.writeFileSync(path.join(bundle, 'config.json'), valid + ' '.repeat(CONFIG_JSON_MAX_BYTES - valid.length));
    assert.equal(await hookTargetFromStateText(state()), null);
  });

  const cli = (args, input) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'nvc-ts.js'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.stdin.on('error', () => undefined);
      child.on('close', (status) => resolve({ status, stderr }));
      if (input !== undefined) child.stdin.end(input);
    });

  it('an OCI state over 1 MiB on stdin is refused without reading it all', async () => {
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ process: { env: ['PATH=/bin'] } }));
    const big = state().replace(/}$/, `,"pad":"${'x'.repeat(OCI_STATE_MAX_BYTES)}"}`);
    const r = await cli(['--root', dir, 'hook'], big);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /OCI state on stdin is larger than 1048576 bytes/);
    // Below the bound the same state is read (a non-GPU container: nothing to do).
    const ok = await cli(['--root', dir, 'hook'], state());
    assert.equal(ok.status, 0, ok.stderr);
  });

  it('--state-file must be a regular file too', async () => {
    execFileSync('mkfifo', [path.join(dir, 'state.fifo')]);
    const r = await cli(['--root', dir, 'hook', '--state-file', path.join(dir, 'state.fifo')], '');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /OCI state .*state\.fifo is not a regular file/);
  });
});

describe("hardening: a driver library's own processes end with the driver service (finding 7)", function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), 'the driver service puts what NVML starts in a pid namespace of its own, which needs root');
  });
  this.timeout(60000);
  const fs = require('node:fs');
  const { init } = require('../dist/index.js');
  const { createSimulatedHost } = require('../dist/testing/index.js');
  const { alive, waitFor } = require('./support/proc');

  /** The pid a process has in its innermost pid namespace (1: that namespace's init). */
  const innermostPid = (pid) => /^NSpid:.*?(\d+)\s*$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];

  /** Processes of the driver service's image started for this host (its --root is the host's), but the init of its pid namespace. */
  function driverProcesses(host) {
    return fs
      .readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((pid) => {
        try {
          const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          return cmdline[0] === 'nvc-ts-driver' && cmdline.includes(host.root) && alive(pid) && innermostPid(pid) !== '1';
        } catch {
          return false;
        }
      });
  }

  async function check(spec, end) {
    const host = await createSimulatedHost(spec);
    let strays = [];
    try {
      const ctx = await init({ ...host.options, timeoutMs: 2000 });
      const service = ctx.servicePid;
      strays = driverProcesses(host).filter((p) => p !== service);
      assert.equal(strays.length, 1, 'the mock NVML forked one sleeper at load');
      await end(ctx);
      assert.ok(await waitFor(() => strays.every((p) => !alive(p)), 5000), `left running: ${strays.filter(alive).join(', ')}`);
    } finally {
      for (const p of strays.filter(alive)) process.kill(p, 'SIGKILL');
      await host.cleanup();
    }
  }

  for (const kind of ['fork', 'daemon']) {
    const what = kind === 'fork' ? 'a forked child' : 'a child in a session of its own (setsid)';
    it(`${what}, at shutdown`, async () => {
      await check({ faults: [{ fn: '@load', kind }] }, (ctx) => ctx.shutdown());
    });

    it(`${what}, when the service is killed for not answering in time`, async () => {
      await check(
        {
          faults: [
            { fn: '@load', kind },
            { fn: 'nvmlDeviceGetCount_v2', kind: 'hang' },
          ],
        },
        async (ctx) => {
          await assert.rejects(ctx.deviceInfo(), (e) => e.code === 'ERR_NVC_SERVICE_TIMEOUT');
          await ctx.shutdown();
        },
      );
    });
  }
});

describe('hardening: a container pid is held by its start time until every helper has entered it (finding 8)', function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), 'containers need mount namespaces');
  });
  this.timeout(60000);
  const fs = require('node:fs');
  const { spawn } = require('node:child_process');
  const { openContainer } = require('../dist/container.js');
  const { applyPlan } = require('../dist/apply.js');
  const { binding, ldconfigHelperPath } = require('../dist/native.js');
  const { makeRootfs, startContainer } = require('./support/container');
  const { waitFor } = require('./support/proc');
  const { cgroupFor, cgroupMounts } = require('./support/cgroup');

  /** A new process in a mount namespace of its own, made to get `pid` (ns_last_pid); null when another fork took it. */
  async function respawnAt(pid) {
    fs.writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
    const child = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '1000'], { stdio: 'ignore' });
    if (child.pid !== pid) {
      child.kill('SIGKILL');
      return null;
    }
    const self = fs.readlinkSync('/proc/self/ns/mnt');
    await waitFor(() => {
      try {
        return fs.readlinkSync(`/proc/${pid}/ns/mnt`) !== self;
      } catch {
        return false;
      }
    });
    return child;
  }

  it('the executor and the ldconfig helper refuse a pid that now names another process', async () => {
    const rootfs = makeRootfs();
    let imposter = null;
    let imposterCgroup = null;
    try {
      let container;
      for (let attempt = 0; attempt < 20 && imposter === null; attempt++) {
        const init = await startContainer({ cgroup: null });
        container = await openContainer({ pid: init.pid, rootfs });
        assert.ok(container.pidStart > 0);
        await init.stop();
        // Start times count clock ticks (10 ms): the imposter starts in a later tick, as any
        // process that gets a pid back after the pid space wrapped around does. (Within one
        // tick only root, writing ns_last_pid as here, can recycle a pid.)
        await new Promise((resolve) => setTimeout(resolve, 30));
        imposter = await respawnAt(init.pid);
      }
      assert.ok(imposter !== null, 'could not recycle the pid (ns_last_pid)');
      // A device cgroup of its own: whatever happens, the test runner's is never programmed.
      imposterCgroup = cgroupFor(imposter.pid, cgroupMounts().v1 ? 1 : 2);
      const plan = { edits: [], cgroupRules: [], ldconfig: null, warnings: [] };
      await assert.rejects(applyPlan(container, plan), (e) => e.code === 'ERR_NVC_NAMESPACE' && /now names another process/.test(e.message));
      await assert.rejects(
        binding().ldconfig({
          helperPath: ldconfigHelperPath(),
          pid: container.pid,
          pidStart: container.pidStart,
          rootfs,
          ldconfig: '@/sbin/ldconfig',
          dirs: [],
          uid: 0,
          gid: 0,
        }),
        (e) => /now names another process/.test(e.message),
      );
      await assert.rejects(
        binding().cgroupAllow({ pid: container.pid, pidStart: container.pidStart, rules: [{ type: 'c', major: 1, minor: 3, access: 'rw' }] }),
        (e) => /now names another process/.test(e.message),
      );
      // The same pid with its own start time is accepted: the check is on identity, not on the pid.
      const fresh = await openContainer({ pid: imposter.pid, rootfs });
      await applyPlan(fresh, plan);
    } finally {
      if (imposter) {
        const gone = new Promise((resolve) => imposter.once('exit', resolve));
        imposter.kill('SIGKILL');
        await gone;
      }
      if (imposterCgroup) imposterCgroup.remove();
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  });
});

describe("hardening: probes of a container's tree resolve inside its rootfs (finding 4)", function () {
  before(function () {
    requireFeature(this, 'root', isRoot(), 'containers need mount namespaces');
  });
  this.timeout(60000);
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const { execFileSync } = require('node:child_process');
  const { openContainer, probeContainerPaths } = require('../dist/container.js');
  const { dropProcfsEditsIfNoDriver } = require('../dist/apply.js');
  const { makeRootfs, startContainer } = require('./support/container');
  let rootfs;
  let hostDir;
  let init;

  beforeEach(async () => {
    rootfs = makeRootfs();
    hostDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-host-etc-'));
  });
  afterEach(async () => {
    if (init) await init.stop();
    init = undefined;
    fs.rmSync(rootfs, { recursive: true, force: true });
    fs.rmSync(hostDir, { recursive: true, force: true });
  });

  it("an image's absolute link cannot reach a host file to steer the library layout (no oracle on host files)", async () => {
    // The image's /etc points at a host directory that holds a debian_version.
    fs.writeFileSync(path.join(hostDir, 'debian_version'), '12.0\n');
    fs.rmSync(path.join(rootfs, 'etc'), { recursive: true });
    fs.symlinkSync(hostDir, path.join(rootfs, 'etc'));
    init = await startContainer({ cgroup: null });
    const c = await openContainer({ pid: init.pid, rootfs });
    assert.equal(c.layout.libsDir, '/usr/lib64', 'the host file decided the layout');
    const [probe] = await probeContainerPaths(c, [{ path: '/etc/debian_version', follow: true }]);
    assert.equal(probe.exists, false);
    // The same link inside the rootfs is followed there: the check is on where links lead, not on links.
    fs.mkdirSync(path.join(rootfs, hostDir), { recursive: true });
    fs.writeFileSync(path.join(rootfs, hostDir, 'debian_version'), '12.0\n');
    const inside = await openContainer({ pid: init.pid, rootfs });
    assert.match(inside.layout.libsDir, /^\/usr\/lib\/[a-z0-9_]+-linux-gnu$/);
  });

  it("an image whose /proc links to the runtime's procfs: the procfs is found inside the rootfs", async () => {
    fs.rmdirSync(path.join(rootfs, 'proc'));
    fs.mkdirSync(path.join(rootfs, 'kproc'));
    fs.symlinkSync('/kproc', path.join(rootfs, 'proc'));
    init = await startContainer({ cgroup: null });
    execFileSync('nsenter', ['-t', String(init.pid), '-m', 'mount', '-t', 'proc', 'proc', path.join(rootfs, 'kproc')]);
    const c = await openContainer({ pid: init.pid, rootfs });
    const edit = { kind: 'bind', target: '/proc/driver/nvidia/params', origin: { step: 'driver' } };
    const plan = await dropProcfsEditsIfNoDriver(c, { edits: [edit], cgroupRules: [], ldconfig: null, warnings: [] });
    // The procfs found is the kernel's: with an NVIDIA driver loaded it has driver/nvidia and the edit stays.
    const kernelHasDriver = fs.existsSync('/proc/driver/nvidia');
    assert.deepEqual(plan.edits, kernelHasDriver ? [edit] : []);
    if (!kernelHasDriver) assert.match(plan.warnings.join('\n'), /procfs without driver\/nvidia/);
  });
});
