'use strict';
// A context keeps its last driver discovery and hands it out again while nothing discovery
// examined has changed (native/core/discovery/driver_cache.c, native/core/util/witness.c);
// any change to the driver's files gives a fresh discovery that shows it.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { init } = require('../dist/index.js');
const { createSimulatedHost } = require('../dist/testing/index.js');

/** The settling time these tests ask for: the host was just built, within the default 2 s. */
const SETTLE_MS = 50;
const ELF_STUB = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.from(' stub')]);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const basenames = (files) => files.map((f) => path.basename(f.path));

describe('driverInfo: the last discovery reused while nothing changed', function () {
  let host;
  let ctx;
  let savedSettle;

  before(async () => {
    host = await createSimulatedHost();
    savedSettle = process.env.NVC_TS_TEST_DISCOVERY_SETTLE_MS;
    process.env.NVC_TS_TEST_DISCOVERY_SETTLE_MS = String(SETTLE_MS);
    try {
      ctx = await init(host.options);
    } finally {
      if (savedSettle === undefined) delete process.env.NVC_TS_TEST_DISCOVERY_SETTLE_MS;
      else process.env.NVC_TS_TEST_DISCOVERY_SETTLE_MS = savedSettle;
    }
  });
  after(async () => {
    await ctx?.shutdown();
    await host?.cleanup();
  });

  /** Past the settling time, a discovery is kept: the next call is its copy. */
  async function settledThenReused() {
    await sleep(SETTLE_MS * 2);
    const first = await ctx.driverInfo();
    const before = ctx.driverInfoStats;
    const second = await ctx.driverInfo();
    const after = ctx.driverInfoStats;
    assert.deepEqual(after, { reads: before.reads, reuses: before.reuses + 1 }, 'the second call reused the first discovery');
    assert.deepEqual(second, first, 'the reused answer is the discovered one');
    return second;
  }

  /** The next call discovers afresh. */
  async function fresh() {
    const before = ctx.driverInfoStats;
    const info = await ctx.driverInfo();
    assert.deepEqual(ctx.driverInfoStats, { reads: before.reads + 1, reuses: before.reuses }, 'a fresh discovery');
    return info;
  }

  it('counts reads and reuses from zero', () => {
    assert.deepEqual(ctx.driverInfoStats, { reads: 0, reuses: 0 });
  });

  it('reuses the discovery while the host is unchanged', async () => {
    const info = await settledThenReused();
    assert.ok(basenames(info.binaries).includes('nvidia-smi'));
    assert.ok(info.libraries.length > 0);
    // And keeps doing so.
    const before = ctx.driverInfoStats;
    await ctx.driverInfo();
    assert.equal(ctx.driverInfoStats.reuses, before.reuses + 1);
  });

  it('no longer lists a binary removed from the host, and lists one added where none was', async () => {
    let info = await settledThenReused();
    const bin = info.binaries.find((b) => path.basename(b.path) === 'nv-fabricmanager');
    assert.ok(bin, 'the simulated host has nv-fabricmanager');
    fs.unlinkSync(path.join(host.root, bin.path));
    info = await fresh();
    assert.ok(!basenames(info.binaries).includes('nv-fabricmanager'), 'removed: not listed');

    await settledThenReused();
    fs.writeFileSync(path.join(host.root, bin.path), ELF_STUB, { mode: 0o755 });
    info = await fresh();
    assert.ok(
      info.binaries.some((b) => b.path === bin.path),
      'added back: listed again',
    );
  });

  it('lists a firmware image added to the firmware directory', async () => {
    let info = await settledThenReused();
    const dir = path.posix.dirname(info.firmware[0].path);
    assert.ok(!basenames(info.firmware).includes('gsp_gb10x.bin'));
    fs.writeFileSync(path.join(host.root, dir, 'gsp_gb10x.bin'), 'new image\n');
    info = await fresh();
    assert.ok(
      info.firmware.some((f) => f.path === `${dir}/gsp_gb10x.bin`),
      'the new image is listed',
    );
  });

  it('drops a driver library whose file was removed', async () => {
    let info = await settledThenReused();
    const lib = info.libraries.find((l) => path.basename(l.path).startsWith('libnvidia-ptxjitcompiler.so'));
    assert.ok(lib, 'the simulated host has libnvidia-ptxjitcompiler');
    fs.unlinkSync(path.join(host.root, lib.path));
    info = await fresh();
    assert.ok(!info.libraries.some((l) => l.path === lib.path), 'the removed library is not listed');
  });
});
