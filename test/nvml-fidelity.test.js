'use strict';
/**
 * How discovery copes with what real NVML libraries do and the default simulated host never shows: MIG slots
 * with gaps, GPU minors that are not the GPU indices, strings longer than NVML's documented buffers, and
 * drivers that export only older variants of versioned symbols (or lack a symbol altogether).
 */
const assert = require('node:assert/strict');
const { init, NvcError, selectDevices } = require('../dist/index.js');
const { createSimulatedHost, defaultSimulatedHostSpec, migCapabilityMinor, SIMULATED_MAJORS } = require('../dist/testing/index.js');

const TIMEOUT_MS = 10000;

async function withContext(spec, fn) {
  const host = await createSimulatedHost(spec);
  try {
    const ctx = await init({ ...host.options, timeoutMs: TIMEOUT_MS });
    try {
      return await fn(ctx, host);
    } finally {
      await ctx.shutdown();
    }
  } finally {
    await host.cleanup();
  }
}

async function withHost(spec, fn) {
  const host = await createSimulatedHost(spec);
  try {
    return await fn(host);
  } finally {
    await host.cleanup();
  }
}

async function rejects(promise, code, pattern) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof NvcError, `expected NvcError, got ${e && e.stack}`);
    assert.equal(e.code, code, `${e.code}: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  return assert.fail(`expected ${code}`);
}

const [H100, A100, T4] = defaultSimulatedHostSpec().gpus;

describe('NVML fidelity: sparse MIG slots', function () {
  // GPU 2 holds MIG devices in slots 3 and 1 only (listed in that order); before it, a MIG-enabled GPU with
  // dense slots and a MIG-disabled one.
  const spec = {
    gpus: [
      { ...A100, pci: { domain: 0, bus: 0, device: 0x06 }, minor: 0 },
      { ...H100, pci: { domain: 0, bus: 0, device: 0x07 }, minor: 1 },
      {
        ...A100,
        name: 'NVIDIA A100-SXM4-80GB',
        uuid: 'GPU-0c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5',
        pci: { domain: 0, bus: 0, device: 0x08 },
        minor: 2,
        migDevices: [
          { uuid: 'MIG-33333333-3333-5333-8333-333333333333', gpuInstance: 3, computeInstance: 0, slot: 3 },
          { uuid: 'MIG-11111111-1111-5111-8111-111111111111', gpuInstance: 5, computeInstance: 1, slot: 1 },
        ],
      },
      { ...T4, pci: { domain: 0, bus: 0, device: 0x09 }, minor: 3 },
    ],
  };

  it('lists the occupied slots with their NVML index, past the gaps, on every GPU', async function () {
    await withContext(spec, async (ctx) => {
      const devs = await ctx.deviceInfo();
      assert.equal(devs.length, 4);
      const migs = (d) => d.mig.devices.map((m) => [m.index, m.uuid, m.gpuInstance, m.computeInstance]);
      assert.deepEqual(migs(devs[0]), [
        [0, A100.migDevices[0].uuid, 1, 0],
        [1, A100.migDevices[1].uuid, 2, 0],
      ]);
      assert.deepEqual([devs[1].mig.capable, devs[1].mig.enabled, devs[1].mig.devices], [true, false, []]);
      assert.deepEqual(migs(devs[2]), [
        [1, 'MIG-11111111-1111-5111-8111-111111111111', 5, 1],
        [3, 'MIG-33333333-3333-5333-8333-333333333333', 3, 0],
      ]);
      assert.deepEqual([devs[3].mig.capable, devs[3].mig.devices], [false, []]);
      const [slot1, slot3] = devs[2].mig.devices;
      assert.equal(slot1.giCapsPath, '/proc/driver/nvidia/capabilities/gpu2/mig/gi5');
      assert.equal(slot1.ciCapsPath, '/proc/driver/nvidia/capabilities/gpu2/mig/gi5/ci1');
      assert.equal(slot1.giCapMinor, migCapabilityMinor(2, 5));
      assert.equal(slot3.ciCapMinor, migCapabilityMinor(2, 3, 0));
    });
  });

  it('selects <gpu>:<mig> by the NVML slot index, and an empty slot is an unknown device', async function () {
    await withContext(spec, async (ctx) => {
      const devs = await ctx.deviceInfo();
      const pick = (token) => {
        const sel = selectDevices(devs, token);
        return [sel.gpus.map((g) => g.index), sel.migs.map((m) => m.mig.uuid)];
      };
      assert.deepEqual(pick('2:3'), [[2], ['MIG-33333333-3333-5333-8333-333333333333']]);
      assert.deepEqual(pick('2:1'), [[2], ['MIG-11111111-1111-5111-8111-111111111111']]);
      assert.deepEqual(pick('0:1'), [[0], [A100.migDevices[1].uuid]]);
      for (const token of ['2:0', '2:2', '2:4', '1:0', '3:0']) {
        assert.throws(() => selectDevices(devs, token), { name: 'NvcError', code: 'ERR_NVC_UNKNOWN_DEVICE', message: `${token}: unknown device` });
      }
    });
  });

  it('refuses slots the mock cannot hold', async function () {
    const gpu = { ...A100, migDevices: [{ uuid: 'MIG-a', gpuInstance: 1, computeInstance: 0 }] };
    for (const m of [{ slot: 8 }, { slot: -1 }, { slot: 1.5 }]) {
      await rejects(
        createSimulatedHost({ nvml: 'missing', gpus: [{ ...gpu, migDevices: [{ ...gpu.migDevices[0], ...m }] }] }),
        'ERR_NVC_INVALID_ARGUMENT',
        /slot/,
      );
    }
    // The second device's default slot is its position, 1, which the first one already holds.
    const clash = {
      ...gpu,
      migDevices: [
        { uuid: 'MIG-a', gpuInstance: 1, computeInstance: 0, slot: 1 },
        { uuid: 'MIG-b', gpuInstance: 2, computeInstance: 0 },
      ],
    };
    await rejects(createSimulatedHost({ nvml: 'missing', gpus: [clash] }), 'ERR_NVC_INVALID_ARGUMENT', /slot 1 used twice/);
  });
});

describe('NVML fidelity: GPU minors that are not the indices', function () {
  const minors = [4, 0, 9];
  const migsOf = [
    [{ uuid: 'MIG-40000000-0000-5000-8000-000000000001', gpuInstance: 1, computeInstance: 0 }],
    [{ uuid: 'MIG-00000000-0000-5000-8000-000000000002', gpuInstance: 2, computeInstance: 1 }],
    [
      { uuid: 'MIG-90000000-0000-5000-8000-000000000003', gpuInstance: 7, computeInstance: 3 },
      { uuid: 'MIG-90000000-0000-5000-8000-000000000004', gpuInstance: 9, computeInstance: 0 },
    ],
  ];
  const spec = {
    gpus: minors.map((minor, i) => ({
      ...A100,
      uuid: `GPU-b7e3d2c1-0a9f-4e8d-b6c5-a4f3e2d1c0b${i}`,
      pci: { domain: 0, bus: 0x10 + i, device: 0 },
      minor,
      migDevices: migsOf[i],
    })),
  };

  it('names the device node, the capability directories and their minors by each GPU minor', async function () {
    await withContext(spec, async (ctx) => {
      const devs = await ctx.deviceInfo();
      assert.equal(devs.length, 3);
      devs.forEach((d, i) => {
        const minor = minors[i];
        assert.equal(d.index, i);
        assert.equal(d.minor, minor, `GPU ${i}`);
        assert.deepEqual(d.deviceNode, { path: `/dev/nvidia${minor}`, major: SIMULATED_MAJORS.nvidia, minor });
        const caps = `/proc/driver/nvidia/capabilities/gpu${minor}`;
        assert.equal(d.mig.capsPath, caps, `GPU ${i}`);
        assert.deepEqual(
          d.mig.devices.map((m) => [m.giCapsPath, m.ciCapsPath, m.giCapMinor, m.ciCapMinor]),
          migsOf[i].map((m) => [
            `${caps}/mig/gi${m.gpuInstance}`,
            `${caps}/mig/gi${m.gpuInstance}/ci${m.computeInstance}`,
            migCapabilityMinor(minor, m.gpuInstance),
            migCapabilityMinor(minor, m.gpuInstance, m.computeInstance),
          ]),
          `GPU ${i}`,
        );
      });
    });
  });
});

describe('NVML fidelity: answers longer than the documented buffers', function () {
  async function expectTooLong(spec, pattern, fn) {
    await withContext(spec, async (ctx) => {
      const pid = ctx.servicePid;
      const e = await rejects(ctx.deviceInfo(), 'ERR_NVC_NVML', pattern);
      assert.equal(e.nvmlReturn, 7);
      assert.equal(e.nvmlName, 'NVML_ERROR_INSUFFICIENT_SIZE');
      assert.equal(e.syscall, fn);
      // An answer that does not fit is an error of that call, not of the service.
      assert.equal(ctx.servicePid, pid);
      assert.equal((await ctx.driverInfo()).version, '580.159.04');
    });
  }

  it('a GPU name of 96 characters or more is a typed error naming the function and the GPU', async function () {
    await expectTooLong(
      { gpus: [H100, { ...A100, name: `NVIDIA ${'X'.repeat(89)}` }, T4] },
      /^nvmlDeviceGetName failed for GPU 1: buffer too small: the answer does not fit the 96 bytes NVML documents as enough$/,
      'nvmlDeviceGetName',
    );
  });

  it('a name of 95 characters still fits (the terminating NUL is the 96th byte)', async function () {
    const name = `NVIDIA ${'Y'.repeat(88)}`;
    assert.equal(name.length, 95);
    await withContext({ gpus: [H100, { ...A100, name }, T4] }, async (ctx) => {
      assert.equal((await ctx.deviceInfo())[1].model, name);
    });
  });

  it('so is a GPU UUID, and a MIG device UUID (naming its slot)', async function () {
    await expectTooLong(
      { gpus: [H100, A100, { ...T4, uuid: `GPU-${'f'.repeat(120)}` }] },
      /^nvmlDeviceGetUUID failed for GPU 2: buffer too small/,
      'nvmlDeviceGetUUID',
    );
    const migDevices = [A100.migDevices[0], { ...A100.migDevices[1], uuid: `MIG-${'e'.repeat(100)}` }];
    await expectTooLong(
      { gpus: [H100, { ...A100, migDevices }, T4] },
      /^nvmlDeviceGetUUID failed for GPU 1: buffer too small: MIG device 1's answer/,
      'nvmlDeviceGetUUID',
    );
  });
});

describe('NVML fidelity: versioned symbols', function () {
  /** The default host's devices, to compare with hosts that reach them through other symbols. */
  let reference;
  before(async function () {
    reference = await withContext({}, (ctx) => ctx.deviceInfo());
  });

  it('falls back from nvmlDeviceGetPciInfo_v3 to _v2, then to the unversioned one', async function () {
    for (const [hidden, used] of [
      [['nvmlDeviceGetPciInfo_v3'], 'nvmlDeviceGetPciInfo_v2'],
      [['nvmlDeviceGetPciInfo_v3', 'nvmlDeviceGetPciInfo_v2'], 'nvmlDeviceGetPciInfo'],
    ]) {
      await withContext({ hiddenSymbols: hidden }, async (ctx) => {
        assert.deepEqual(await ctx.deviceInfo(), reference, `hidden ${hidden}`);
      });
      // The variant in use is the one called, and the one errors name.
      await withContext({ hiddenSymbols: hidden, faults: [{ fn: used, kind: 'error', code: 15, device: 2 }] }, async (ctx) => {
        const e = await rejects(ctx.deviceInfo(), 'ERR_NVC_NVML', new RegExp(`^${used} failed for GPU 2:`));
        assert.equal(e.syscall, used);
      });
    }
  });

  it('prefers the newest variant while it is there', async function () {
    const faults = ['nvmlInit', 'nvmlDeviceGetCount', 'nvmlDeviceGetHandleByIndex', 'nvmlDeviceGetPciInfo_v2', 'nvmlDeviceGetPciInfo'].map((fn) => ({
      fn,
      kind: 'error',
      code: 15,
    }));
    await withContext({ faults }, async (ctx) => {
      assert.deepEqual(await ctx.deviceInfo(), reference);
    });
  });

  it('falls back from nvmlInit_v2 to nvmlInit', async function () {
    await withContext({ hiddenSymbols: ['nvmlInit_v2'] }, async (ctx) => {
      assert.deepEqual(await ctx.deviceInfo(), reference);
    });
    await withHost({ hiddenSymbols: ['nvmlInit_v2'], faults: [{ fn: 'nvmlInit', kind: 'error', code: 9 }] }, async (h) => {
      await rejects(init({ ...h.options, timeoutMs: TIMEOUT_MS }), 'ERR_NVC_NVML', /^nvmlInit failed: kernel driver not loaded$/);
    });
  });

  it('takes nvmlDeviceGetCount and nvmlDeviceGetHandleByIndex from one generation, never mixed', async function () {
    // Only the count lost its _v2: the old handle lookup is used too, although its _v2 is there.
    await withContext({ hiddenSymbols: ['nvmlDeviceGetCount_v2'] }, async (ctx) => {
      assert.deepEqual(await ctx.deviceInfo(), reference);
    });
    await withContext(
      { hiddenSymbols: ['nvmlDeviceGetCount_v2'], faults: [{ fn: 'nvmlDeviceGetHandleByIndex', kind: 'error', code: 15, device: 1 }] },
      async (ctx) => {
        await rejects(ctx.deviceInfo(), 'ERR_NVC_NVML', /^nvmlDeviceGetHandleByIndex failed for GPU 1:/);
      },
    );
    // Neither generation complete: a load error, not a mixed pair.
    await withHost({ hiddenSymbols: ['nvmlDeviceGetCount_v2', 'nvmlDeviceGetHandleByIndex'] }, async (h) => {
      const e = await rejects(
        init({ ...h.options, timeoutMs: TIMEOUT_MS }),
        'ERR_NVC_NVML_LOAD_FAILED',
        /undefined symbol nvmlDeviceGetCount_v2 \(nor the older pair nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex\)/,
      );
      assert.equal(e.path, h.nvmlLibrary);
    });
  });

  it('a missing symbol without a fallback, or with none left, is a load error naming it', async function () {
    for (const [hidden, pattern] of [
      [['nvmlDeviceGetName'], /undefined symbol nvmlDeviceGetName \(not an NVML library, or one too old\)/],
      [['nvmlShutdown'], /undefined symbol nvmlShutdown \(not/],
      [['nvmlInit_v2', 'nvmlInit'], /undefined symbol nvmlInit_v2 \(nor its older variant nvmlInit\)/],
      [
        ['nvmlDeviceGetPciInfo_v3', 'nvmlDeviceGetPciInfo_v2', 'nvmlDeviceGetPciInfo'],
        /undefined symbol nvmlDeviceGetPciInfo_v3 \(nor its older variants nvmlDeviceGetPciInfo_v2, nvmlDeviceGetPciInfo\)/,
      ],
    ]) {
      await withHost({ hiddenSymbols: hidden }, async (h) => {
        const e = await rejects(init({ ...h.options, timeoutMs: TIMEOUT_MS }), 'ERR_NVC_NVML_LOAD_FAILED', pattern);
        assert.match(e.message, /^cannot load the NVML library: /);
      });
    }
  });

  it('hides only symbols the mock defines', async function () {
    await rejects(createSimulatedHost({ nvml: 'missing', hiddenSymbols: ['nvmlDeviceGetFoo'] }), 'ERR_NVC_INVALID_ARGUMENT', /hiddenSymbols\[0\]/);
  });
});

describe('NVML fidelity: persistence mode', () => {
  it('deviceInfo carries each GPU persistence mode, null where NVML cannot say, and never fails over it', async () => {
    const spec = defaultSimulatedHostSpec();
    spec.gpus[0].persistenceMode = 'off';
    spec.gpus[2].persistenceMode = 'unsupported';
    await withContext(spec, async (ctx) => {
      const devices = await ctx.deviceInfo();
      assert.deepEqual(
        devices.map((d) => d.persistenceMode),
        [false, true, null],
      );
    });
  });

  it('a library without nvmlDeviceGetPersistenceMode still serves devices (mode unknown)', async () => {
    await withContext({ hiddenSymbols: ['nvmlDeviceGetPersistenceMode'] }, async (ctx) => {
      const devices = await ctx.deviceInfo();
      assert.equal(devices.length, 3);
      assert.ok(devices.every((d) => d.persistenceMode === null));
    });
  });
});
