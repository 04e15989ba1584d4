'use strict';
// A context reads the driver root's vendor files, X modules and wrappers once and reuses them
// while nothing they came from changed: each change to the simulated host between two plans
// (a file removed, rewritten in place, created, a listed directory gaining an entry, a wrapper
// replaced, another driver) must give fresh facts.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { init } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { HostFactsCache } = require('../dist/host-facts-cache.js');
const { PathWitness } = require('../dist/path-witness.js');
const { resolveInRoot } = require('../dist/root-resolve.js');

const GRAPHICS = { devices: '0', capabilities: ['graphics', 'utility'], noCgroups: true };
const ICD = 'usr/share/vulkan/icd.d/nvidia_icd.json';
const ICD_TARGET = '/usr/share/vulkan/icd.d/nvidia_icd.json';

describe("host facts cache: the addon's batched lstat", function () {
  it('answers what fs.lstat answers, path by path, and null where lstat fails', async () => {
    const { binding } = require('../dist/native.js');
    const dir = fs.mkdtempSync('/tmp/nvc-lstat-');
    try {
      fs.writeFileSync(path.join(dir, 'f'), 'twelve bytes');
      fs.mkdirSync(path.join(dir, 'd'));
      fs.symlinkSync('nowhere', path.join(dir, 'l'));
      const names = ['f', 'd', 'l', 'absent', 'f/not-a-dir'];
      const got = await binding().lstatIdentities([...names.map((n) => path.join(dir, n)), '/dev/null']);
      const want = [...names.map((n) => path.join(dir, n)), '/dev/null'].map((p) => {
        try {
          const st = fs.lstatSync(p, { bigint: true });
          return {
            dev: String(st.dev),
            ino: String(st.ino),
            mode: Number(st.mode),
            size: String(st.size),
            mtimeNs: String(st.mtimeNs),
            ctimeNs: String(st.ctimeNs),
          };
        } catch {
          return null;
        }
      });
      assert.deepEqual(got, want);
      assert.equal(got[3], null);
      assert.equal(got[4], null);
      assert.equal(got[2].mode & 0o170000, 0o120000, 'a symlink is examined, not followed');
      assert.throws(() => binding().lstatIdentities(['ok', 7]), /array of strings/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('host facts cache: PathWitness', function () {
  let dir;
  beforeEach(() => {
    dir = fs.mkdtempSync('/tmp/nvc-witness-');
    fs.mkdirSync(path.join(dir, 'a/b'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'a/b/f'), 'one');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  // Files here were just made: the settling time (tested on its own below) is left out.
  async function witnessOf(...inside) {
    const w = new PathWitness({ racyMs: 0 });
    for (const p of inside) await resolveInRoot(dir, p, w);
    return w;
  }

  it('records every component examined, and stays unchanged when nothing changed', async function () {
    const w = await witnessOf('/a/b/f', '/a/missing');
    assert.equal(w.size, 4, 'a, a/b, a/b/f and a/missing');
    assert.equal(await w.unchanged(), true);
  });

  it('sees a file rewritten in place with content of the same size', async function () {
    const w = await witnessOf('/a/b/f');
    const before = fs.statSync(path.join(dir, 'a/b/f'), { bigint: true }).mtimeNs;
    // Same size; wait out a coarse clock so the times differ.
    while (fs.statSync(path.join(dir, 'a/b/f'), { bigint: true }).mtimeNs === before) fs.writeFileSync(path.join(dir, 'a/b/f'), 'two');
    assert.equal(await w.unchanged(), false);
  });

  it('sees an entry created where the lookup found none, and one removed', async function () {
    const w = await witnessOf('/a/missing');
    fs.writeFileSync(path.join(dir, 'a/missing'), '');
    assert.equal(await w.unchanged(), false);
    const w2 = await witnessOf('/a/b/f');
    fs.rmSync(path.join(dir, 'a/b/f'));
    assert.equal(await w2.unchanged(), false);
  });

  it('sees a directory replaced by a link, and a link retargeted', async function () {
    fs.symlinkSync('b', path.join(dir, 'a/l'));
    const w = await witnessOf('/a/l/f');
    fs.mkdirSync(path.join(dir, 'a/c'));
    fs.writeFileSync(path.join(dir, 'a/c/f'), 'one');
    assert.equal(await w.unchanged(), true, 'an entry added beside the path looked up changes nothing it saw');
    fs.rmSync(path.join(dir, 'a/l'));
    fs.symlinkSync('c', path.join(dir, 'a/l'));
    assert.equal(await w.unchanged(), false);
  });

  it('never takes a file changed within the settling time as unchanged (same size, same clock tick)', async function () {
    const fresh = new PathWitness();
    await resolveInRoot(dir, '/a/b/f', fresh);
    assert.equal(await fresh.unchanged(), false, 'just written: read again');
    const old = new PathWitness({ racyMs: 0 });
    await resolveInRoot(dir, '/a/b/f', old);
    assert.equal(await old.unchanged(), true);
  });

  it('sees an entry added to a listed directory, not to one passed through', async function () {
    const w = await witnessOf('/a/b/f');
    fs.writeFileSync(path.join(dir, 'a/b/g'), '');
    assert.equal(await w.unchanged(), true);
    await w.recordListing(path.join(dir, 'a/b'));
    assert.equal(await w.unchanged(), true);
    fs.writeFileSync(path.join(dir, 'a/b/h'), '');
    assert.equal(await w.unchanged(), false);
  });
});

describe('host facts cache: the driver root facts', function () {
  let host;
  before(async () => (host = await createSimulatedHost({ nvidiaTree: true })));
  after(async () => host?.cleanup());

  it('is read once and reused while nothing changed; a change or another driver means a fresh read', async function () {
    // The host's files were just made: past the settling time, they are trusted.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const ctx = await init(host.options);
    try {
      const driver = await ctx.driverInfo();
      const cache = new HostFactsCache();
      const first = await cache.driverRootFacts(host.root, driver);
      const second = await cache.driverRootFacts(host.root, driver);
      assert.deepEqual(cache.stats, { reads: 1, reuses: 1 });
      assert.deepEqual(second, first);
      second.notes.push('edited by a caller');
      assert.deepEqual(await cache.driverRootFacts(host.root, driver), first, 'a caller editing what it got does not edit the cache');
      const other = { ...driver, binaries: driver.binaries.slice(1) };
      const fewer = await cache.driverRootFacts(host.root, other);
      assert.equal(cache.stats.reads, 2, 'another driver: read again');
      assert.equal(fewer.notes.length, first.notes.length - 1);
      fs.rmSync(path.join(host.root, 'usr/bin/nvidia-debugdump'));
      await cache.driverRootFacts(host.root, other);
      assert.equal(cache.stats.reads, 3, 'a wrapper gone: read again');
    } finally {
      await ctx.shutdown();
    }
  });
});

describe('host facts cache: plans of one context see the host as it is', function () {
  let host;
  let ctx;
  let container;
  beforeEach(async () => {
    host = await createSimulatedHost();
    ctx = await init(host.options);
    container = await ctx.container({ pid: process.pid, rootfs: '/tmp' });
  });
  afterEach(async () => {
    await ctx?.shutdown();
    await host?.cleanup();
  });
  const targets = async () => (await ctx.plan(container, GRAPHICS)).edits.map((e) => e.target);

  it('a vendor file removed, then back naming its library by a host path (rewritten)', async function () {
    assert.ok((await targets()).includes(ICD_TARGET));
    assert.ok((await targets()).includes(ICD_TARGET), 'the same on reuse');
    const text = fs.readFileSync(path.join(host.root, ICD), 'utf8');
    fs.rmSync(path.join(host.root, ICD));
    assert.ok(!(await targets()).includes(ICD_TARGET), 'the removed file is no longer given');
    fs.writeFileSync(path.join(host.root, ICD), text.replace('"libGLX_nvidia.so.0"', '"/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0"'));
    const write = (await ctx.plan(container, GRAPHICS)).edits.find((e) => e.target === ICD_TARGET);
    assert.equal(write?.kind, 'write', 'a host path in the new file: given rewritten');
    assert.match(write.data, /"library_path": "libGLX_nvidia.so.0"/);
  });

  it('an EGL platform file added to its directory', async function () {
    const dir = 'usr/share/egl/egl_external_platform.d';
    const before = (await targets()).filter((t) => t.includes('egl_external_platform.d/'));
    const [name] = fs.readdirSync(path.join(host.root, dir)).filter((n) => /nvidia/.test(n));
    fs.copyFileSync(path.join(host.root, dir, name), path.join(host.root, dir, `99_nvidia_extra.json`));
    const after = (await targets()).filter((t) => t.includes('egl_external_platform.d/'));
    assert.deepEqual(after.sort(), [...before, `/${dir}/99_nvidia_extra.json`].sort());
  });
});
