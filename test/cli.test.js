'use strict';
// End-to-end: `node bin/nvc-ts.js ... --simulate` against the default simulated host (lib/testing).
// Skipped when the native addon is not built.
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { requireFeature, isRoot } = require('./support/features');

const BIN = path.join(__dirname, '..', 'bin', 'nvc-ts.js');
const CAPS = '/proc/driver/nvidia/capabilities';

function run(args, env = process.env) {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30000, env }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('nvc-ts CLI on the simulated host', function () {
  this.timeout(60000);

  before(async function () {
    // The addon is built by npm ci (or comes as a prebuild): its absence is a failure.
    const testing = require('../dist/testing/index.js');
    const host = await testing.createSimulatedHost();
    await host.cleanup();
  });

  it('info prints the reference layout', async () => {
    const { status, stdout, stderr } = await run(['--simulate', 'info']);
    assert.equal(status, 0, stderr);
    assert.deepEqual(stdout.split('\n').slice(0, 11), [
      'NVRM version:   580.159.04',
      'CUDA version:   13.0',
      '',
      'Device Index:   0',
      'Device Minor:   0',
      'Model:          NVIDIA H100 80GB HBM3',
      'Brand:          Nvidia',
      'GPU UUID:       GPU-4f1c2a9e-7d3b-5e60-a8c1-93b2d4e5f601',
      'Bus Location:   00000000:00:06.0',
      'Architecture:   9.0',
      '',
    ]);
    assert.match(stdout, /\nDevice Index:   2\nDevice Minor:   2\nModel:          Tesla T4\nBrand:          Tesla\n/);
  });

  it('info --csv and --json', async () => {
    const csv = await run(['info', '--csv', '--simulate']);
    assert.equal(csv.status, 0, csv.stderr);
    assert.deepEqual(csv.stdout.split('\n').slice(0, 5), [
      'NVRM version,CUDA version',
      '580.159.04,13.0',
      '',
      'Device Index,Device Minor,Model,Brand,GPU UUID,Bus Location,Architecture',
      '0,0,NVIDIA H100 80GB HBM3,Nvidia,GPU-4f1c2a9e-7d3b-5e60-a8c1-93b2d4e5f601,00000000:00:06.0,9.0',
    ]);
    const json = await run(['--simulate', 'info', '--json']);
    assert.equal(json.status, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.devices.length, 3);
    assert.equal(parsed.devices[1].mig.enabled, true);
    assert.equal(parsed.devices[1].mig.devices[0].giCapsPath, `${CAPS}/gpu1/mig/gi1`);
  });

  it('list with no options: nodes, MIG caps, then binaries, libraries, 32-bit libraries, IPCs, firmware', async () => {
    const { status, stdout, stderr } = await run(['--simulate', 'list']);
    assert.equal(status, 0, stderr);
    const out = stdout.trim().split('\n');
    assert.equal(out[0], '/dev/nvidiactl');
    for (const p of ['/dev/nvidia0', '/dev/nvidia1', '/dev/nvidia2', `${CAPS}/gpu1/mig/gi1/access`, `${CAPS}/gpu1/mig/gi2/ci0/access`]) {
      assert.ok(out.includes(p), `${p} missing from:\n${stdout}`);
    }
    const first = (re) => out.findIndex((l) => re.test(l));
    const order = [
      first(/^\/dev\/nvidia2$/),
      first(/^\/proc\/driver/),
      first(/^\/usr\/bin\//),
      first(/x86_64-linux-gnu\/libcuda\.so\.580\.159\.04$/),
      first(/i386-linux-gnu\/lib/),
      first(/nvidia-persistenced\/socket$/),
      first(/^\/lib\/firmware\/nvidia\/580\.159\.04\/gsp_/),
    ];
    assert.ok(
      order.every((i) => i >= 0),
      `missing group in:\n${stdout}`,
    );
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
      `out of order:\n${stdout}`,
    );
  });

  it('list --device=1:0 --json groups the MIG device', async () => {
    const { status, stdout, stderr } = await run(['--simulate', 'list', '--device=1:0', '--json']);
    assert.equal(status, 0, stderr);
    const json = JSON.parse(stdout);
    assert.deepEqual(json.migCaps, [`${CAPS}/gpu1/mig/gi1/access`, `${CAPS}/gpu1/mig/gi1/ci0/access`]);
    assert.ok(json.deviceNodes.some((n) => n.path === '/dev/nvidia1' && n.major === 195 && n.minor === 1));
    assert.deepEqual(json.libraries, []);
  });

  it('unknown device: exit 1, device error, temporary host removed', async () => {
    // A private TMPDIR, so that other processes' simulated hosts do not interfere.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-cli-tmp-'));
    try {
      const { status, stdout, stderr } = await run(['--simulate', 'list', '--device=7'], { ...process.env, TMPDIR: tmp });
      assert.equal(status, 1);
      assert.equal(stdout, '');
      assert.match(stderr, /^nvc-ts: device error: 7: unknown device\./);
      assert.deepEqual(fs.readdirSync(tmp), []);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('--debug FILE records options and timed phases', async () => {
    const log = path.join(os.tmpdir(), `nvc-ts-debug-${process.pid}.log`);
    try {
      const { status, stderr } = await run(['--simulate', '--debug', log, 'info']);
      assert.equal(status, 0, stderr);
      const text = fs.readFileSync(log, 'utf8');
      assert.match(text, /options: \{/);
      assert.match(text, /initialization: done in [\d.]+ ms/);
      assert.match(text, /detection: done in [\d.]+ ms/);
    } finally {
      fs.rmSync(log, { force: true });
    }
  });

  it('a root without a driver fails with a paragraph naming the ld cache and root', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-empty-'));
    try {
      const { status, stderr } = await run(['--root', empty, 'info']);
      assert.equal(status, 1);
      assert.match(stderr, /^nvc-ts: initialization error: .*libnvidia-ml\.so\.1/);
      assert.ok(stderr.includes(empty), stderr);
      assert.match(stderr, /--simulate/);
      assert.equal(stderr.trim().split('\n').length, 1);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('nvc-ts list: the forms compared with nvidia-container-cli 1.17', function () {
  this.timeout(60000);
  const L = '/usr/lib/x86_64-linux-gnu';
  const L32 = '/usr/lib/i386-linux-gnu';
  const V = '580.159.04';
  const libs64 = [
    'libnvidia-ml',
    'libnvidia-cfg',
    'libcuda',
    'libcudadebugger',
    'libnvidia-opencl',
    'libnvidia-gpucomp',
    'libnvidia-ptxjitcompiler',
    'libnvidia-allocator',
    'libnvidia-pkcs11-openssl3',
    'libnvidia-nvvm',
    'libnvidia-ngx',
    'libvdpau_nvidia',
    'libnvidia-encode',
    'libnvidia-opticalflow',
    'libnvcuvid',
    'libnvidia-eglcore',
    'libnvidia-glcore',
    'libnvidia-tls',
    'libnvidia-glsi',
    'libnvidia-fbc',
    'libnvidia-rtcore',
    'libnvoptix',
    'libGLX_nvidia',
    'libEGL_nvidia',
    'libGLESv2_nvidia',
    'libGLESv1_CM_nvidia',
    'libnvidia-glvkspirv',
  ].map((n) => `${L}/${n}.so.${V}`);
  const libs32 = [
    'libcuda',
    'libnvidia-opencl',
    'libnvidia-gpucomp',
    'libnvidia-ptxjitcompiler',
    'libnvidia-allocator',
    'libvdpau_nvidia',
    'libnvidia-encode',
    'libnvidia-opticalflow',
    'libnvcuvid',
    'libnvidia-eglcore',
    'libnvidia-glcore',
    'libnvidia-tls',
    'libnvidia-glsi',
    'libnvidia-fbc',
    'libGLX_nvidia',
    'libEGL_nvidia',
    'libGLESv2_nvidia',
    'libGLESv1_CM_nvidia',
    'libnvidia-glvkspirv',
  ].map((n) => `${L32}/${n}.so.${V}`);
  const bins = ['nvidia-smi', 'nvidia-debugdump', 'nvidia-persistenced', 'nv-fabricmanager', 'nvidia-cuda-mps-control', 'nvidia-cuda-mps-server'].map(
    (b) => `/usr/bin/${b}`,
  );
  const ctl = ['/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia-modeset'];
  const mig = [
    '/proc/driver/nvidia/capabilities/gpu1/mig/gi1/access',
    '/proc/driver/nvidia/capabilities/gpu1/mig/gi1/ci0/access',
    '/dev/nvidia-caps/nvidia-cap147',
    '/dev/nvidia-caps/nvidia-cap148',
    '/proc/driver/nvidia/capabilities/gpu1/mig/gi2/access',
    '/proc/driver/nvidia/capabilities/gpu1/mig/gi2/ci0/access',
    '/dev/nvidia-caps/nvidia-cap156',
    '/dev/nvidia-caps/nvidia-cap157',
  ];
  // Beyond the reference (its list has none of these): the EGL external platforms' libraries after
  // the 64-bit libraries, the loaders' vendor files and X modules after the 32-bit ones.
  const eglPlatformLibs = ['libnvidia-egl-wayland.so.1.1.19', 'libnvidia-egl-gbm.so.1.1.2', 'libnvidia-egl-xcb.so.1.0.1', 'libnvidia-egl-xlib.so.1.0.1'].map(
    (n) => `${L}/${n}`,
  );
  const graphicsFiles = [
    '/usr/share/glvnd/egl_vendor.d/10_nvidia.json',
    '/usr/share/egl/egl_external_platform.d/10_nvidia_wayland.json',
    '/usr/share/egl/egl_external_platform.d/15_nvidia_gbm.json',
    '/usr/share/egl/egl_external_platform.d/20_nvidia_xcb.json',
    '/usr/share/egl/egl_external_platform.d/20_nvidia_xlib.json',
    '/usr/share/vulkan/icd.d/nvidia_icd.json',
    '/usr/share/vulkan/implicit_layer.d/nvidia_layers.json',
    '/etc/OpenCL/vendors/nvidia.icd',
    '/usr/lib/xorg/modules/drivers/nvidia_drv.so',
    `/usr/lib/xorg/modules/extensions/libglxserver_nvidia.so.${V}`,
  ];
  const tail = [
    ...bins,
    ...libs64,
    ...eglPlatformLibs,
    ...libs32,
    ...graphicsFiles,
    '/run/nvidia-persistenced/socket',
    '/run/nvidia-fabricmanager/socket',
    '/tmp/nvidia-mps',
    `/lib/firmware/nvidia/${V}/gsp_ga10x.bin`,
    `/lib/firmware/nvidia/${V}/gsp_tu10x.bin`,
  ];
  const lines = async (args) => {
    const r = await run(['--simulate', 'list', ...args]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n');
  };

  it('default', async function () {
    requireFeature(this, 'mknod', isRoot(), 'device nodes are listed where the simulated host could make them');
    assert.deepEqual(await lines([]), [...ctl, '/dev/nvidia0', '/dev/nvidia1', '/dev/nvidia2', ...mig, ...tail]);
  });
  it('--libraries --compat32', async () => {
    assert.deepEqual(await lines(['--libraries', '--compat32']), [...libs64, ...eglPlatformLibs, ...libs32, ...graphicsFiles]);
  });
  it('--device=1 --binaries', async function () {
    requireFeature(this, 'mknod', isRoot(), 'device nodes are listed where the simulated host could make them');
    assert.deepEqual(await lines(['--device=1', '--binaries']), [...ctl, '/dev/nvidia1', ...bins]);
  });
  it('--imex-channel=7', async function () {
    requireFeature(this, 'mknod', isRoot(), 'device nodes are listed where the simulated host could make them');
    assert.deepEqual(await lines(['--imex-channel=7']), [
      ...ctl,
      '/dev/nvidia0',
      '/dev/nvidia1',
      '/dev/nvidia2',
      ...mig,
      '/dev/nvidia-caps-imex-channels/channel7',
      ...tail,
    ]);
  });
});

describe('nvc-ts hook without a GPU request', function () {
  this.timeout(60000);
  it('leaves a non-GPU container alone without starting (or needing) the driver', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nvc-hook-'));
    try {
      const bundle = path.join(dir, 'bundle');
      fs.mkdirSync(path.join(bundle, 'rootfs'), { recursive: true });
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ root: { path: 'rootfs' }, process: { env: ['PATH=/bin'] } }));
      const state = path.join(dir, 'state.json');
      fs.writeFileSync(state, JSON.stringify({ ociVersion: '1.0.2', id: 'x', status: 'creating', pid: process.pid, bundle }));
      const empty = path.join(dir, 'no-driver');
      fs.mkdirSync(empty);
      const plain = await run(['--root', empty, 'hook', '--state-file', state]);
      assert.equal(plain.status, 0, plain.stderr);
      assert.equal(plain.stdout + plain.stderr, '');
      // The same host with a GPU request does need the driver, and says so.
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ root: { path: 'rootfs' }, process: { env: ['NVIDIA_VISIBLE_DEVICES=0'] } }));
      const gpu = await run(['--root', empty, 'hook', '--state-file', state]);
      assert.equal(gpu.status, 1);
      assert.match(gpu.stderr, /initialization error: .*libnvidia-ml\.so\.1.*\[ERR_NVC_DRIVER_NOT_FOUND\]/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
