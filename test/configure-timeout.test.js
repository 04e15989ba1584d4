'use strict';
// A configure's timeoutMs bounds its helpers too: an executor still at work when the time is up
// is stopped, rolls the plan back and the call fails with ERR_NVC_SERVICE_TIMEOUT, leaving no
// mount. (The service's --request-timeout relies on this: test/serve.test.js.) And the result
// says where a configure's time went.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { init } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');
const { execPath } = require('../dist/native.js');
const { makeRootfs, startContainer, mountsUnder } = require('./support/container');
const { requireFeature, isRoot } = require('./support/features');
const { waitFor } = require('./support/proc');

const REQUEST = { devices: '0', capabilities: ['compute', 'utility'], noCgroups: true };

describe('configure: time limits and timings', function () {
  this.timeout(120000);
  let host;
  let ctx;
  let dir;
  before(async function () {
    requireFeature(this, 'root', isRoot(), 'mount namespaces need root');
    host = await createSimulatedHost();
    ctx = await init(host.options);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-timeout-'));
  });
  after(async () => {
    await ctx?.shutdown();
    await host?.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function withContainer(fn) {
    const rootfs = makeRootfs();
    const cnt = await startContainer({ cgroup: null });
    try {
      return await fn(cnt, rootfs);
    } finally {
      await cnt.stop();
      fs.rmSync(rootfs, { recursive: true, force: true });
    }
  }

  it('stops an executor that outlives timeoutMs: a timeout error, and nothing mounted', async () => {
    const real = execPath();
    const mark = path.join(dir, 'started');
    const wrapper = path.join(dir, 'slow-exec.sh');
    // Slow until told to stop (SIGTERM), as an executor whose namespace entry blocks.
    fs.writeFileSync(
      wrapper,
      `#!/bin/sh\ntrap 'kill $! 2>/dev/null; echo stopped > ${mark}.end; exit 143' TERM\ntouch ${mark}\nsleep 60 &\nwait $!\nexec ${real} "$@"\n`,
      {
        mode: 0o755,
      },
    );
    process.env.NVC_TS_EXEC = wrapper;
    try {
      await withContainer(async (cnt, rootfs) => {
        const container = await ctx.container({ pid: cnt.pid, rootfs });
        await assert.rejects(ctx.configure(container, { ...REQUEST, noLdconfig: true }, { timeoutMs: 1500 }), (e) => {
          assert.equal(e.code, 'ERR_NVC_SERVICE_TIMEOUT', e.message);
          assert.match(e.message, /did not finish within \d+ ms/);
          return true;
        });
        assert.ok(fs.existsSync(mark), 'the executor had started');
        assert.ok(await waitFor(() => fs.existsSync(`${mark}.end`), 10000), 'the executor was told to stop');
        assert.equal(mountsUnder(cnt.pid, rootfs).size, 0);
      });
    } finally {
      delete process.env.NVC_TS_EXEC;
    }
  });

  it('lets a configure within its limit finish, and reports its time by part', async () => {
    await withContainer(async (cnt, rootfs) => {
      const r = await ctx.configure(await ctx.container({ pid: cnt.pid, rootfs }), REQUEST, { timeoutMs: 60000 });
      assert.equal(r.applied, true);
      assert.ok(mountsUnder(cnt.pid, rootfs).size > 0);
      assert.deepEqual(Object.keys(r.timings).sort(), ['helpersMs', 'ldconfigMs', 'mountsMs', 'planMs']);
      for (const [k, v] of Object.entries(r.timings)) assert.ok(Number.isFinite(v) && v > 0, `${k} ${v}`);
    });
    await withContainer(async (cnt, rootfs) => {
      const r = await ctx.configure(await ctx.container({ pid: cnt.pid, rootfs }), { ...REQUEST, noLdconfig: true });
      assert.equal(r.timings.ldconfigMs, 0, 'no ldconfig run, no ldconfig time');
    });
  });
});
