'use strict';
// ctx.teardown against real mount namespaces and device cgroups on a simulated host: a
// configure undone leaves the container exactly as before; what someone else changed since is
// kept and reported; the record of another container is refused; the record survives JSON.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync, execFileSync } = require('node:child_process');
const { init, NvcError } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { makeRootfs, startContainer, mountsUnder, snapshot } = require('./support/container');
const { requireFeature, isRoot } = require('./support/features');
const { cgroupMounts } = require('./support/cgroup');

const REQUEST = { devices: '0', capabilities: ['compute', 'utility'], noLdconfig: true };

/** The container's mount table as text, each line whole: ids, options, propagation and all. */
function mountTable(pid) {
  return fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
}

/** Runs a shell command in the container's mount namespace. */
function inContainer(pid, script) {
  execFileSync('nsenter', ['-t', String(pid), '-m', 'sh', '-c', script], { stdio: 'pipe' });
}

function stepsOf(result, status) {
  return result.steps.filter((s) => s.status === status);
}

describe('teardown (mount namespaces, simulated host)', function () {
  let host;
  let ctx;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces, device nodes and cgroups need root');
    host = await createSimulatedHost();
    ctx = await init(host.options);
  });
  after(async () => {
    if (ctx) await ctx.shutdown();
    if (host) await host.cleanup();
  });

  let rootfs;
  let cnt;
  beforeEach(async () => {
    rootfs = makeRootfs();
    cnt = await startContainer();
  });
  afterEach(async () => {
    await cnt.stop();
    fs.rmSync(rootfs, { recursive: true, force: true });
  });

  it('undoes a configure exactly: the mount table, the rootfs tree and the cgroup rules as before; a second teardown is a no-op', async () => {
    const mountsBefore = mountTable(cnt.pid);
    const treeBefore = snapshot(rootfs);
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const result = await ctx.configure(ct, REQUEST);
    assert.ok(mountsUnder(cnt.pid, rootfs).has('/dev/nvidia0'));
    assert.notDeepEqual(cnt.cgroup.allowed(), []);
    // The record: the container, every mount with its identity, every entry made, the rules added.
    const ch = result.changes;
    assert.deepEqual(ch.container, { pid: cnt.pid, pidStart: ct.pidStart, rootfs });
    assert.ok(ch.changes.some((c) => c.kind === 'mount' && c.path === '/dev/nvidia0' && /^\d+$/.test(c.mountId) && /^\d+$/.test(c.ino)));
    assert.ok(
      ch.changes.some((c) => c.kind === 'file' && c.path === '/dev/nvidia0'),
      'the placeholder of the device node',
    );
    assert.ok(
      ch.changes.some((c) => c.kind === 'directory'),
      'directories made on the way',
    );
    assert.ok(
      ch.changes.some((c) => c.kind === 'symlink'),
      'SONAME links',
    );
    assert.ok(
      ch.changes.some((c) => c.kind === 'flags' && c.path === '/proc/driver/nvidia' && c.flags.includes('ro')),
      'the procfs seal',
    );
    const sorted = (rules) => rules.map((r) => `${r.type} ${r.major}:${r.minor} ${r.access}`).sort();
    assert.equal(ch.cgroup.version, 1);
    assert.deepEqual(sorted(ch.cgroup.added), cnt.cgroup.allowed(), 'every rule added to the deny-all cgroup is recorded');

    const td = await ctx.teardown(ct, result);
    assert.equal(td.complete, true, JSON.stringify(stepsOf(td, 'kept')));
    assert.deepEqual(stepsOf(td, 'kept'), []);
    assert.equal(stepsOf(td, 'undone').length, ch.changes.length + ch.cgroup.added.length);
    assert.equal(mountTable(cnt.pid), mountsBefore, "the container's mount table");
    assert.deepEqual(snapshot(rootfs), treeBefore, 'the rootfs tree');
    assert.deepEqual(cnt.cgroup.allowed(), [], "the container's devices.list");
    assert.match(td.notes.join('\n'), /ld\.so\.cache is not restored/);

    const again = await ctx.teardown(ct, result);
    assert.equal(again.complete, true);
    assert.deepEqual(
      again.steps.filter((s) => s.status !== 'absent'),
      [],
      'nothing left to undo',
    );
    assert.equal(mountTable(cnt.pid), mountsBefore);
    assert.deepEqual(snapshot(rootfs), treeBefore);
  });

  it('the record survives a JSON round trip, whole or as `changes`, and is validated on the way back', async () => {
    const mountsBefore = mountTable(cnt.pid);
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const result = await ctx.configure(ct, REQUEST);
    const stored = JSON.parse(JSON.stringify(result));
    assert.deepEqual(stored.changes, result.changes);

    const broken = JSON.parse(JSON.stringify(result.changes));
    broken.changes[0].path = '/usr/../../etc';
    await assert.rejects(
      ctx.teardown(ct, broken),
      (e) => e instanceof NvcError && e.code === 'ERR_NVC_INVALID_ARGUMENT' && /changes\.changes\.0\.path/.test(e.field),
    );
    const huge = JSON.parse(JSON.stringify(result.changes));
    huge.changes[0].ino = 12345678901234567890;
    await assert.rejects(ctx.teardown(ct, huge), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT');
    await assert.rejects(ctx.teardown(ct, { ...result, changes: null }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && /no changes/.test(e.message));
    assert.ok(mountsUnder(cnt.pid, rootfs).has('/dev/nvidia0'), 'refused records change nothing');

    const td = await ctx.teardown(ct, JSON.parse(JSON.stringify(result.changes)));
    assert.equal(td.complete, true);
    assert.equal(mountTable(cnt.pid), mountsBefore);
    void stored;
  });

  it('undoes an applyPlan of an edited plan, and a step of the step-by-step API', async () => {
    const mountsBefore = mountTable(cnt.pid);
    const treeBefore = snapshot(rootfs);
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const plan = await ctx.plan(ct, REQUEST);
    const edited = { ...plan, edits: plan.edits.filter((e) => !e.target.startsWith('/usr/bin/')) };
    const applied = await ctx.applyPlan(ct, edited);
    assert.ok(applied.changes.changes.every((c) => !c.path.startsWith('/usr/bin/')));
    assert.equal((await ctx.teardown(ct, applied)).complete, true);
    const step = await ctx.driverMount(ct, { capabilities: ['utility'] });
    assert.ok(step.changes.changes.length > 0);
    assert.equal((await ctx.teardown(ct, step)).complete, true);
    assert.equal(mountTable(cnt.pid), mountsBefore);
    assert.deepEqual(snapshot(rootfs), treeBefore);
  });

  it('configure, teardown, configure again: the second configure succeeds, and its own teardown too', async () => {
    const mountsBefore = mountTable(cnt.pid);
    const treeBefore = snapshot(rootfs);
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const first = await ctx.configure(ct, REQUEST);
    await assert.rejects(ctx.configure(ct, REQUEST), (e) => e.code === 'ERR_NVC_ALREADY_CONFIGURED' && /teardown/.test(e.hint));
    await ctx.teardown(ct, first);
    const second = await ctx.configure(ct, { ...REQUEST, capabilities: ['utility'] });
    assert.ok(mountsUnder(cnt.pid, rootfs).has('/dev/nvidia0'));
    // The first record is stale now: its mounts are gone, the new ones are not its own.
    const stale = await ctx.teardown(ct, first);
    assert.ok(mountsUnder(cnt.pid, rootfs).has('/dev/nvidia0'), "a stale record leaves the second configure's mounts alone");
    assert.deepEqual(
      stale.steps.filter((s) => s.status === 'undone'),
      [],
      'nothing of the second configure is taken for the first one (mount ids are never reused, inodes are told apart by birth time)',
    );
    const td = await ctx.teardown(ct, second);
    assert.deepEqual(stepsOf(td, 'kept'), []);
    assert.equal(mountTable(cnt.pid), mountsBefore);
    assert.deepEqual(snapshot(rootfs), treeBefore);
  });

  it('a mount replaced by someone else is kept and reported, with its placeholder; the rest is undone', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const result = await ctx.configure(ct, REQUEST);
    const node = path.join(rootfs, 'dev/nvidia0');
    inContainer(cnt.pid, `umount ${node} && mount --bind /dev/null ${node}`);
    const theirs = mountsUnder(cnt.pid, rootfs).get('/dev/nvidia0');

    const td = await ctx.teardown(ct, result);
    assert.equal(td.complete, false);
    const kept = stepsOf(td, 'kept');
    assert.deepEqual(
      kept.filter((s) => s.kind !== 'cgroup').map((s) => `${s.kind} ${s.what}`),
      ['mount /dev/nvidia0', 'file /dev/nvidia0'],
    );
    // The device rules stay while a mount there is someone else's.
    assert.ok(kept.some((s) => s.kind === 'cgroup' && /not configure's any more/.test(s.reason)));
    assert.notDeepEqual(cnt.cgroup.allowed(), []);
    assert.match(kept[0].reason, /not the one configure made/);
    assert.deepEqual(mountsUnder(cnt.pid, rootfs).get('/dev/nvidia0'), theirs, 'their mount stays');
    assert.deepEqual([...mountsUnder(cnt.pid, rootfs).keys()], ['/dev/nvidia0'], 'every other mount is gone');
  });

  it('a placeholder replaced by a different file is not removed', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const result = await ctx.configure(ct, REQUEST);
    const node = path.join(rootfs, 'dev/nvidia0');
    // Someone unmounts the device and puts a file of their own there (made before the old one
    // goes, so it cannot reuse its inode number).
    inContainer(cnt.pid, `umount ${node}`);
    fs.writeFileSync(`${node}.new`, 'theirs\n');
    fs.renameSync(`${node}.new`, node);

    const td = await ctx.teardown(ct, result);
    const forNode = td.steps.filter((s) => s.what === '/dev/nvidia0');
    assert.deepEqual(
      forNode.map((s) => `${s.kind} ${s.status}`),
      ['mount absent', 'file kept'],
    );
    assert.match(forNode[1].reason, /no longer what configure created/);
    assert.equal(fs.readFileSync(node, 'utf8'), 'theirs\n');
    assert.equal(mountsUnder(cnt.pid, rootfs).size, 0);
  });

  it('a symlink planted in the rootfs after configure cannot lead teardown onto the host', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const result = await ctx.configure(ct, REQUEST);
    const made = result.changes.changes.filter((c) => c.path === '/lib' || c.path.startsWith('/lib/'));
    assert.ok(
      made.some((c) => c.kind === 'directory' && c.path === '/lib'),
      `configure made /lib (firmware): ${made.map((c) => c.path).join(' ')}`,
    );
    // The tree configure made under /lib moves to the host, the very inodes teardown recorded,
    // and /lib becomes an absolute link to it: followed from the host's root, teardown would
    // remove host files that match its record exactly.
    inContainer(
      cnt.pid,
      `umount -R ${path.join(rootfs, 'lib/firmware')} 2>/dev/null; for m in $(grep -o ' ${rootfs}/lib/[^ ]*' /proc/self/mountinfo | sort -r); do umount $m; done; true`,
    );
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-outside-'));
    try {
      fs.renameSync(path.join(rootfs, 'lib'), path.join(outside, 'lib'));
      fs.symlinkSync(path.join(outside, 'lib'), path.join(rootfs, 'lib'));
      const hostBefore = snapshot(outside);

      const td = await ctx.teardown(ct, result);
      assert.deepEqual(snapshot(outside), hostBefore, 'nothing outside the rootfs was touched');
      const forLib = td.steps.filter((s) => s.what === '/lib' || s.what.startsWith('/lib/'));
      assert.ok(forLib.length > 0);
      for (const s of forLib) assert.notEqual(s.status, 'undone', `${s.kind} ${s.what}: ${s.reason}`);
      assert.equal(fs.readlinkSync(path.join(rootfs, 'lib')), path.join(outside, 'lib'), 'the planted link itself was not configure’s: kept');
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('the record of another container is refused, naming both; nothing changes', async () => {
    const other = await startContainer();
    const otherRootfs = makeRootfs();
    try {
      const ct = await ctx.container({ pid: cnt.pid, rootfs });
      const result = await ctx.configure(ct, REQUEST);
      const ot = await ctx.container({ pid: other.pid, rootfs: otherRootfs });
      const before = mountTable(cnt.pid);
      await assert.rejects(ctx.teardown(ot, result), (e) => {
        assert.ok(e instanceof NvcError);
        assert.equal(e.code, 'ERR_NVC_WRONG_CONTAINER');
        assert.match(e.message, new RegExp(`${rootfs}.*pid ${cnt.pid}.*not for ${otherRootfs}.*pid ${other.pid}`));
        return true;
      });
      // Same pid, another rootfs: refused too.
      const sameProcess = await ctx.container({ pid: cnt.pid, rootfs: otherRootfs });
      await assert.rejects(ctx.teardown(sameProcess, result), (e) => e.code === 'ERR_NVC_WRONG_CONTAINER');
      assert.equal(mountTable(cnt.pid), before);
    } finally {
      await other.stop();
      fs.rmSync(otherRootfs, { recursive: true, force: true });
    }
  });

  it('honours an aborted signal before it starts, changing nothing', async () => {
    const ct = await ctx.container({ pid: cnt.pid, rootfs });
    const result = await ctx.configure(ct, REQUEST);
    const before = mountTable(cnt.pid);
    await assert.rejects(ctx.teardown(ct, result, { signal: AbortSignal.abort() }), (e) => e.code === 'ERR_NVC_ABORTED');
    await assert.rejects(ctx.teardown(ct, result, { timeoutMs: -1 }), (e) => e.code === 'ERR_NVC_INVALID_ARGUMENT' && e.field === 'timeoutMs');
    assert.equal(mountTable(cnt.pid), before);
    assert.equal((await ctx.teardown(ct, result, { timeoutMs: 60000 })).complete, true);
  });

  it('a unified (v2) cgroup: the rules are reported as kept, the mounts undone', async function () {
    requireFeature(this, 'cgroup2', cgroupMounts().v2 !== null, 'a cgroup2 file system where the test can make a cgroup');
    const v2 = await startContainer({ cgroup: 2 });
    const v2Rootfs = makeRootfs();
    try {
      const before = mountTable(v2.pid);
      const ct = await ctx.container({ pid: v2.pid, rootfs: v2Rootfs });
      const result = await ctx.configure(ct, REQUEST);
      assert.equal(result.changes.cgroup.version, 2);
      const td = await ctx.teardown(ct, result);
      const rules = td.steps.filter((s) => s.kind === 'cgroup');
      assert.ok(rules.length > 0);
      for (const r of rules) {
        assert.equal(r.status, 'kept');
        assert.match(r.reason, /cgroup v2/);
      }
      assert.deepEqual(
        td.steps.filter((s) => s.kind !== 'cgroup' && s.status !== 'undone'),
        [],
      );
      assert.equal(mountTable(v2.pid), before);
    } finally {
      await v2.stop();
      fs.rmSync(v2Rootfs, { recursive: true, force: true });
    }
  });

  it('nvc-ts teardown (the CLI) undoes what `configure --json` printed, from a file or stdin', () => {
    const cli = path.resolve(__dirname, '../bin/nvc-ts.js');
    const o = host.options;
    const globals = ['--root', o.root, '--ldcache', o.ldcache, '--proc-root', o.procRoot, '--dev-root', o.devRoot, '--sys-root', o.sysRoot];
    const mountsBefore = mountTable(cnt.pid);
    const configure = (extra = []) =>
      spawnSync(
        process.execPath,
        [cli, ...globals, 'configure', '--pid', String(cnt.pid), '--device=0', '--compute', '--no-ldconfig', '--json', ...extra, rootfs],
        {
          encoding: 'utf8',
        },
      );
    const first = configure();
    assert.equal(first.status, 0, first.stderr);
    assert.ok(JSON.parse(first.stdout).changes.changes.length > 0);
    const file = path.join(os.tmpdir(), `nvc-teardown-${process.pid}.json`);
    fs.writeFileSync(file, first.stdout);
    try {
      const td = spawnSync(process.execPath, [cli, 'teardown', '--pid', String(cnt.pid), '--result', file, rootfs], { encoding: 'utf8' });
      assert.equal(td.status, 0, td.stderr);
      assert.match(td.stdout, /^undone {2}mount {5}\/dev\/nvidia0$/m);
      assert.equal(mountTable(cnt.pid), mountsBefore);

      const second = configure();
      assert.equal(second.status, 0, second.stderr);
      const viaStdin = spawnSync(process.execPath, [cli, 'teardown', '--pid', String(cnt.pid), '--json', rootfs], { input: second.stdout, encoding: 'utf8' });
      assert.equal(viaStdin.status, 0, viaStdin.stderr);
      assert.equal(JSON.parse(viaStdin.stdout).complete, true);
      assert.equal(mountTable(cnt.pid), mountsBefore);

      const wrong = spawnSync(process.execPath, [cli, 'teardown', '--pid', String(process.pid), '--result', file, rootfs], { encoding: 'utf8' });
      assert.notEqual(wrong.status, 0);
      assert.match(wrong.stderr, /ERR_NVC_WRONG_CONTAINER|is for .* not for/);
      const usage = spawnSync(process.execPath, [cli, 'teardown', '--pid', String(cnt.pid), 'relative'], { encoding: 'utf8' });
      assert.equal(usage.status, 2);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
