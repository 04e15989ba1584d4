'use strict';
// The image's ldconfig has a write budget (issue 11, finding 5): it writes into a size- and
// inode-limited tmpfs over the rootfs, and only the cache and links are copied into the
// rootfs. A hostile "ldconfig" (native/test/ldconfig/hog.c, built statically here) that
// writes file after file, or link after link, is stopped at the budget with a typed error
// and leaves the rootfs as it was; the real ldconfig still writes the cache and SONAME links.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const { openContainer } = require('../dist/container.js');
const { applyPlan } = require('../dist/apply.js');
const { buildElfSharedObject } = require('../dist/testing/index.js');
const { makeRootfs, startContainer } = require('./support/container');
const { requireFeature, isRoot } = require('./support/features');

const LIBDIR = '/usr/lib/x86_64-linux-gnu';

/** Allocated bytes and entries of a tree, links not followed: what it costs the disk. */
function usage(dir) {
  let bytes = 0;
  let entries = 0;
  const walk = (p) => {
    const st = fs.lstatSync(p, { bigint: true });
    entries += 1;
    bytes += Number(st.blocks) * 512;
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(p, name));
  };
  walk(dir);
  return { bytes, entries };
}

describe("ldconfig: a write budget for the image's ldconfig (issue 11, finding 5)", function () {
  this.timeout(60000);
  let dir;
  let hog;
  let rootfs;
  let init;

  before(function () {
    requireFeature(this, 'root', isRoot(), 'containers need mount namespaces; the confined ldconfig needs root');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-budget-'));
    hog = path.join(dir, 'hog');
    execFileSync('cc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', hog, path.join(__dirname, '../native/test/ldconfig/hog.c')]);
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  beforeEach(async () => {
    rootfs = makeRootfs();
    fs.mkdirSync(path.join(rootfs, 'sbin'));
    fs.writeFileSync(path.join(rootfs, LIBDIR, 'libfoo.so.1.0.0'), buildElfSharedObject({ machine: 'x86_64', soname: 'libfoo.so.1' }));
    init = await startContainer({ cgroup: null });
  });
  afterEach(async () => {
    await init?.stop();
    if (rootfs) fs.rmSync(rootfs, { recursive: true, force: true });
  });

  /** ldconfig only: no edits, no cgroup rules. */
  async function runLdconfig() {
    const container = await openContainer({ pid: init.pid, rootfs, ldconfig: '/sbin/ldconfig' });
    return applyPlan(container, { edits: [], cgroupRules: [], ldconfig: { path: '/sbin/ldconfig', dirs: [LIBDIR] }, warnings: [] });
  }

  async function hostile(mode) {
    fs.copyFileSync(hog, path.join(rootfs, 'sbin/ldconfig'));
    fs.chmodSync(path.join(rootfs, 'sbin/ldconfig'), 0o755);
    fs.writeFileSync(path.join(rootfs, 'hog.mode'), mode);
    const before = usage(rootfs);
    let error = null;
    const result = await runLdconfig().catch((e) => {
      error = e;
      return null;
    });
    assert.deepEqual(usage(rootfs), before, 'nothing the hostile ldconfig wrote reached the rootfs');
    return { error, result };
  }

  for (const [mode, stopped] of [
    ['bytes', /hog: bytes stopped after 1\d MiB: No space left on device/],
    ['links', /hog: links stopped after 163\d\d: No space left on device/],
  ]) {
    it(`a hostile ldconfig writing ${mode} is stopped at the budget with ERR_NVC_LDCONFIG (EDQUOT), keeping nothing`, async () => {
      const { error: e } = await hostile(mode);
      assert.ok(e, 'the run must fail');
      assert.equal(e.code, 'ERR_NVC_LDCONFIG', e.message);
      assert.equal(e.errno, 'EDQUOT');
      assert.equal(e.syscall, 'budget');
      assert.match(e.message, /wrote more than its budget of 16 MiB and 16384 files, links and directories; nothing it wrote was kept/);
      assert.match(e.message, stopped);
    });
  }

  it('a hostile ldconfig writing one huge file is cut at 2 MiB, and the file is not kept', async () => {
    const { error, result } = await hostile('huge');
    assert.equal(error, null);
    assert.equal(result.ldconfig?.ran, true);
    assert.match(result.ldconfig.warning, /hog: huge stopped at 2097152 bytes: File too large/);
    assert.match(result.ldconfig.warning, /dropped 1 entries ldconfig wrote besides its cache and links/);
  });

  it("the real ldconfig still writes the cache and the SONAME links, after a hostile one's run", async () => {
    await hostile('links');
    fs.copyFileSync('/sbin/ldconfig', path.join(rootfs, 'sbin/ldconfig'));
    const result = await runLdconfig();
    assert.equal(result.ldconfig?.ran, true, JSON.stringify(result.ldconfig));
    assert.equal(fs.readlinkSync(path.join(rootfs, LIBDIR, 'libfoo.so.1')), 'libfoo.so.1.0.0');
    const cache = execFileSync('/sbin/ldconfig', ['-p', '-C', path.join(rootfs, 'etc/ld.so.cache')], { encoding: 'utf8' });
    assert.match(cache, new RegExp(`libfoo\\.so\\.1 \\(libc6,x86-64\\) => ${LIBDIR}/libfoo\\.so\\.1\\n`));
    assert.equal(fs.statSync(path.join(rootfs, 'etc/ld.so.cache')).uid, 0);
  });
});
