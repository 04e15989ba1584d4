'use strict';
// The pure planner (lib/plan.ts, planContainer) on literal, hand-written host facts.
//
// Every expectation below is written out from the reference's documented behaviour (study §4.2
// nvc_driver_mount, §4.3 nvc_device_mount, §4.4 MIG, §4.5 IMEX, §4.7 cgroups, §10.2 capability
// table, §10.3 params rewrite, §10.5 app profile), never computed with the product's own helpers.
// Only planContainer's public inputs and outputs are used, so the tests survive a restructuring
// of the planner's internals.
const assert = require('node:assert/strict');
const { planContainer } = require('../dist/plan.js');
const { NvcError } = require('../dist/errors.js');

const V = '550.54.14';
const LIB = '/usr/lib/x86_64-linux-gnu';
const LIB32 = '/usr/lib/i386-linux-gnu';
const PROC = '/proc/driver/nvidia';
const PROFILES = '/etc/nvidia/nvidia-application-profiles-rc.d';
const CAPS = '/proc/driver/nvidia/capabilities';

// Mount flags of the reference, per kind of mount (study §4.2-§4.5).
const RO_LIB = ['ro', 'nosuid', 'nodev']; // binaries, libraries, firmware: RDONLY NODEV NOSUID
const RO_PROC = ['ro', 'nosuid', 'nodev', 'noexec']; // procfs binds: RDONLY NODEV NOSUID NOEXEC
const RO_DEV = ['ro', 'nosuid', 'noexec']; // device nodes: RDONLY NOSUID NOEXEC (no NODEV, of course)
const IPC = ['nosuid', 'nodev', 'noexec']; // sockets and the MPS directory: not read-only
const TMPFS = ['nosuid', 'nodev', 'noexec'];

const PARAMS_HOST = 'ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 1\nDeviceFileUID: 0\nDeviceFileMode: 438\n';
const PARAMS_CONTAINER = 'ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 0\nDeviceFileUID: 0\nDeviceFileMode: 438\n';
const VERSION_FILE = `NVRM version: NVIDIA UNIX x86_64 Kernel Module  ${V}\nGCC version:  gcc version 12.2.0\n`;
const REGISTRY_FILE = 'Binary: ""\n';

function driver(overrides = {}) {
  return {
    version: V,
    cudaVersion: '12.4',
    libraries: [
      { path: `${LIB}/libnvidia-ml.so.${V}`, capabilities: ['utility'], soname: 'libnvidia-ml.so.1' },
      { path: `${LIB}/libcuda.so.${V}`, capabilities: ['compute'], soname: 'libcuda.so.1' },
      // A library whose SONAME could not be read: no link for it.
      { path: `${LIB}/libnvidia-ptxjitcompiler.so.${V}`, capabilities: ['compute'] },
      { path: `${LIB}/libnvidia-ngx.so.${V}`, capabilities: ['ngx'], soname: 'libnvidia-ngx.so.1' },
      { path: `${LIB}/libnvidia-opticalflow.so.${V}`, capabilities: ['video'], soname: 'libnvidia-opticalflow.so.1' },
      // Graphics libraries are listed for graphics and display (GFX in the reference's table).
      { path: `${LIB}/libGLX_nvidia.so.${V}`, capabilities: ['graphics', 'display'], soname: 'libGLX_nvidia.so.0' },
    ],
    libraries32: [
      { path: `${LIB32}/libcuda.so.${V}`, capabilities: ['compute'], soname: 'libcuda.so.1' },
      { path: `${LIB32}/libGLX_nvidia.so.${V}`, capabilities: ['graphics', 'display'], soname: 'libGLX_nvidia.so.0' },
    ],
    binaries: [
      { path: '/usr/bin/nvidia-smi', capabilities: ['utility'] },
      { path: '/usr/bin/nvidia-cuda-mps-control', capabilities: ['compute'] },
    ],
    ipcs: [
      { path: '/run/nvidia-persistenced/socket', capabilities: ['utility'] },
      { path: '/run/nvidia-fabricmanager/socket', capabilities: ['utility'] },
      { path: '/tmp/nvidia-mps', capabilities: ['compute'] },
    ],
    firmware: [
      { path: `/lib/firmware/nvidia/${V}/gsp_ga10x.bin`, capabilities: [] },
      { path: `/lib/firmware/nvidia/${V}/gsp_tu10x.bin`, capabilities: [] },
    ],
    deviceNodes: [
      { path: '/dev/nvidiactl', major: 195, minor: 255, exists: true },
      // uvm has a dynamic major; its minor 0 is the same number as GPU minor 0's.
      { path: '/dev/nvidia-uvm', major: 508, minor: 0, exists: true },
      { path: '/dev/nvidia-uvm-tools', major: 508, minor: 1, exists: true },
      { path: '/dev/nvidia-modeset', major: 195, minor: 254, exists: true },
    ],
    nvcapsMajor: 237,
    imexMajor: 234,
    migConfigMinor: 1,
    migMonitorMinor: 2,
    ...overrides,
  };
}

function host(overrides = {}) {
  return {
    root: '/host',
    procRoot: '/host/proc',
    devRoot: '/host/dev',
    procFiles: { params: PARAMS_HOST, version: VERSION_FILE, registry: REGISTRY_FILE },
    // GPU 0 has the 8-digit-domain directory, GPU 1 only the 4-digit one, GPU 2 none.
    gpuProcDirs: {
      '00000000:3b:00.0': '00000000:3b:00.0',
      '00000000:86:00.0': '0000:86:00.0',
      '00000000:af:00.0': null,
    },
    // Keyed by GPU *minor* (4, 0, 9), not index. Minor 9 under the caps major collides in number
    // with /dev/nvidia9 (195:9): distinct rules all the same.
    migMinors: { 4: [57, 58, 59], 0: [12, 13], 9: [9, 102] },
    imexNodes: { 0: true, 5: true },
    ...overrides,
  };
}

const LAYOUT = { libsDir: LIB, libs32Dir: LIB32, binsDir: '/usr/bin' };

function migDev(gpuMinor, index, gi, ci, giCapMinor, ciCapMinor) {
  return {
    index,
    uuid: `MIG-0000000${gpuMinor}-0000-0000-0000-00000000000${index}`,
    gpuInstance: gi,
    computeInstance: ci,
    giCapsPath: `${CAPS}/gpu${gpuMinor}/mig/gi${gi}`,
    ciCapsPath: `${CAPS}/gpu${gpuMinor}/mig/gi${gi}/ci${ci}`,
    giCapMinor,
    ciCapMinor,
  };
}

// Three GPUs whose minors differ from their indices: 4, 0, 9 at indices 0, 1, 2.
function gpus() {
  const mk = (index, minor, busId, migs) => ({
    index,
    minor,
    model: 'NVIDIA H100 80GB HBM3',
    brand: 'Nvidia',
    uuid: `GPU-${minor}${minor}${minor}${minor}0000-0000-0000-0000-000000000000`,
    busId,
    architecture: '9.0',
    deviceNode: { path: `/dev/nvidia${minor}`, major: 195, minor },
    mig: { capable: true, enabled: migs.length > 0, capsPath: `${CAPS}/gpu${minor}`, devices: migs },
  });
  return [
    // Two compute instances of one GPU instance share the GI access file and its cap node.
    mk(0, 4, '00000000:3b:00.0', [migDev(4, 0, 1, 0, 57, 58), migDev(4, 1, 1, 1, 57, 59)]),
    mk(1, 0, '00000000:86:00.0', []),
    // A MIG device whose GI cap minor could not be read.
    mk(2, 9, '00000000:af:00.0', [migDev(9, 0, 2, 0, null, 102)]),
  ];
}

function request(overrides = {}) {
  return {
    capabilities: [],
    compat32: false,
    gpus: [],
    migs: [],
    migConfigGpus: [],
    migMonitorGpus: [],
    migConfig: false,
    migMonitor: false,
    imexChannels: [],
    noCgroups: false,
    noDevbind: false,
    noPersistenced: false,
    noFabricmanager: false,
    noGspFirmware: false,
    ldconfig: '@/sbin/ldconfig',
    ...overrides,
  };
}

const plan = (req, drv = driver(), facts = host()) => planContainer(drv, facts, LAYOUT, request(req));

/** edits with their step, for comparing with a literal table. */
const table = (p) => {
  // Each edit names its origin; the tables compare the step here and the role/device separately.
  return p.edits.map(({ origin, ...e }) => ({ step: origin.step, ...e }));
};
const targets = (p) => p.edits.map((e) => e.target);
const steps = (p) => p.edits.map((e) => e.origin.step);
const rules = (p) => p.cgroupRules.map((r) => `${r.step} c ${r.major}:${r.minor} ${r.access} ${r.path}`);

// Expected edits, written from the reference's table.
const procTmpfs = { step: 'driver', kind: 'tmpfs', target: PROC, mode: 0o555, flags: TMPFS };
const procWrites = [
  { step: 'driver', kind: 'write', target: `${PROC}/params`, data: PARAMS_CONTAINER, mode: 0o444 },
  { step: 'driver', kind: 'write', target: `${PROC}/version`, data: VERSION_FILE, mode: 0o444 },
  { step: 'driver', kind: 'write', target: `${PROC}/registry`, data: REGISTRY_FILE, mode: 0o444 },
];
const profileTmpfs = { step: 'driver', kind: 'tmpfs', target: PROFILES, mode: 0o555, flags: TMPFS };
const file = (target, hostRoot = '/host') => ({ step: 'driver', kind: 'bind', target, source: `${hostRoot}${target}`, sourceKind: 'file', flags: RO_LIB });
const lib = (name, dir = LIB) => ({ step: 'driver', kind: 'bind', target: `${dir}/${name}`, source: `/host${dir}/${name}`, sourceKind: 'file', flags: RO_LIB });
const link = (name, to, dir = LIB) => ({ step: 'driver', kind: 'symlink', target: `${dir}/${name}`, link: to });
const firmware = [file(`/lib/firmware/nvidia/${V}/gsp_ga10x.bin`), file(`/lib/firmware/nvidia/${V}/gsp_tu10x.bin`)];
const socket = (p) => ({ step: 'driver', kind: 'bind', target: p, source: `/host${p}`, sourceKind: 'socket', flags: IPC });
const mpsDir = { step: 'driver', kind: 'bind', target: '/tmp/nvidia-mps', source: '/host/tmp/nvidia-mps', sourceKind: 'dir', flags: IPC };
const dev = (step, p, major, minor) => ({ step, kind: 'bind', target: p, source: `/host${p}`, sourceKind: 'char', major, minor, flags: RO_DEV });
const procDir = (step, p) => ({ step, kind: 'bind', target: p, source: `/host${p}`, sourceKind: 'dir', flags: RO_PROC });
const procFile = (step, p) => ({ step, kind: 'bind', target: p, source: `/host${p}`, sourceKind: 'file', flags: RO_PROC });
const seal = { step: 'seal', kind: 'remount', target: PROC, flags: ['ro', 'nosuid', 'nodev', 'noexec'] };
const rule = (step, major, minor, p) => ({ type: 'c', major, minor, access: 'rw', path: p, step });

/** The EGL application profile the container gets, for a literal visibility mask. */
const profileText = (maskHex) =>
  '{\n' +
  '  "profiles": [\n' +
  `    { "name": "_container_", "settings": ["EGLVisibleDGPUDevices", ${maskHex}] }\n` +
  '  ],\n' +
  '  "rules": [\n' +
  '    { "pattern": [], "profile": "_container_" }\n' +
  '  ]\n' +
  '}\n';

function nvcError(fn, expected) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof NvcError, `expected NvcError, got ${err}`);
    const { name, ...rest } = err.toJSON();
    assert.equal(name, 'NvcError');
    assert.deepEqual(rest, expected);
    return true;
  });
}

describe('planContainer: driver_mount (study §4.2, §10.2)', () => {
  it('no capability, no GPU: procfs copy, firmware, nvidiactl only, then the seal', () => {
    const p = plan({});
    assert.deepEqual(table(p), [procTmpfs, ...procWrites, ...firmware, dev('driver', '/dev/nvidiactl', 195, 255), seal]);
    assert.deepEqual(p.cgroupRules, [rule('driver', 195, 255, '/dev/nvidiactl')]);
    assert.deepEqual(p.ldconfig, { path: '@/sbin/ldconfig', dirs: [LIB] });
    assert.deepEqual(p.warnings, []);
  });

  it('utility: its binaries, libraries and both sockets; no uvm, no MPS', () => {
    const p = plan({ capabilities: ['utility'] });
    assert.deepEqual(table(p), [
      procTmpfs,
      ...procWrites,
      file('/usr/bin/nvidia-smi'),
      lib(`libnvidia-ml.so.${V}`),
      link('libnvidia-ml.so.1', `libnvidia-ml.so.${V}`),
      ...firmware,
      socket('/run/nvidia-persistenced/socket'),
      socket('/run/nvidia-fabricmanager/socket'),
      dev('driver', '/dev/nvidiactl', 195, 255),
      seal,
    ]);
    assert.deepEqual(rules(p), ['driver c 195:255 rw /dev/nvidiactl']);
  });

  it('compute: MPS binary, compute libraries with SONAME and libcuda.so links, MPS dir, uvm and uvm-tools', () => {
    const p = plan({ capabilities: ['compute'] });
    assert.deepEqual(table(p), [
      procTmpfs,
      ...procWrites,
      file('/usr/bin/nvidia-cuda-mps-control'),
      lib(`libcuda.so.${V}`),
      link('libcuda.so.1', `libcuda.so.${V}`),
      lib(`libnvidia-ptxjitcompiler.so.${V}`),
      link('libcuda.so', 'libcuda.so.1'),
      ...firmware,
      mpsDir,
      dev('driver', '/dev/nvidiactl', 195, 255),
      dev('driver', '/dev/nvidia-uvm', 508, 0),
      dev('driver', '/dev/nvidia-uvm-tools', 508, 1),
      seal,
    ]);
    assert.deepEqual(p.cgroupRules, [
      rule('driver', 195, 255, '/dev/nvidiactl'),
      rule('driver', 508, 0, '/dev/nvidia-uvm'),
      rule('driver', 508, 1, '/dev/nvidia-uvm-tools'),
    ]);
  });

  it('video: video and compute libraries, opticalflow link, MPS dir, uvm; but no compute binaries', () => {
    const p = plan({ capabilities: ['video'] });
    assert.deepEqual(table(p), [
      procTmpfs,
      ...procWrites,
      lib(`libcuda.so.${V}`),
      link('libcuda.so.1', `libcuda.so.${V}`),
      lib(`libnvidia-ptxjitcompiler.so.${V}`),
      lib(`libnvidia-opticalflow.so.${V}`),
      link('libnvidia-opticalflow.so.1', `libnvidia-opticalflow.so.${V}`),
      link('libcuda.so', 'libcuda.so.1'),
      link('libnvidia-opticalflow.so', 'libnvidia-opticalflow.so.1'),
      ...firmware,
      mpsDir,
      dev('driver', '/dev/nvidiactl', 195, 255),
      dev('driver', '/dev/nvidia-uvm', 508, 0),
      dev('driver', '/dev/nvidia-uvm-tools', 508, 1),
      seal,
    ]);
  });

  it('graphics: app-profile tmpfs, graphics libraries and the GLX indirect link; no modeset', () => {
    const p = plan({ capabilities: ['graphics'] });
    assert.deepEqual(table(p), [
      procTmpfs,
      ...procWrites,
      profileTmpfs,
      lib(`libGLX_nvidia.so.${V}`),
      link('libGLX_nvidia.so.0', `libGLX_nvidia.so.${V}`),
      link('libGLX_indirect.so.0', `libGLX_nvidia.so.${V}`),
      ...firmware,
      dev('driver', '/dev/nvidiactl', 195, 255),
      seal,
    ]);
    assert.deepEqual(rules(p), ['driver c 195:255 rw /dev/nvidiactl']);
  });

  it('display: as graphics, plus nvidia-modeset', () => {
    const p = plan({ capabilities: ['display'] });
    assert.deepEqual(table(p), [
      procTmpfs,
      ...procWrites,
      profileTmpfs,
      lib(`libGLX_nvidia.so.${V}`),
      link('libGLX_nvidia.so.0', `libGLX_nvidia.so.${V}`),
      link('libGLX_indirect.so.0', `libGLX_nvidia.so.${V}`),
      ...firmware,
      dev('driver', '/dev/nvidiactl', 195, 255),
      dev('driver', '/dev/nvidia-modeset', 195, 254),
      seal,
    ]);
    assert.deepEqual(rules(p), ['driver c 195:255 rw /dev/nvidiactl', 'driver c 195:254 rw /dev/nvidia-modeset']);
  });

  it('ngx: the ngx library only', () => {
    const p = plan({ capabilities: ['ngx'] });
    assert.deepEqual(table(p), [
      procTmpfs,
      ...procWrites,
      lib(`libnvidia-ngx.so.${V}`),
      link('libnvidia-ngx.so.1', `libnvidia-ngx.so.${V}`),
      ...firmware,
      dev('driver', '/dev/nvidiactl', 195, 255),
      seal,
    ]);
  });

  it('compute with compat32: 32-bit compute libraries and their links in the 32-bit directory; ldconfig gets both directories', () => {
    const p = plan({ capabilities: ['compute'], compat32: true });
    const t = table(p);
    const at = t.findIndex((e) => e.target === `${LIB}/libcuda.so`);
    assert.deepEqual(t.slice(at, at + 4), [
      link('libcuda.so', 'libcuda.so.1'),
      lib(`libcuda.so.${V}`, LIB32),
      link('libcuda.so.1', `libcuda.so.${V}`, LIB32),
      link('libcuda.so', 'libcuda.so.1', LIB32),
    ]);
    assert.ok(!targets(p).includes(`${LIB32}/libGLX_nvidia.so.${V}`));
    assert.deepEqual(p.ldconfig, { path: '@/sbin/ldconfig', dirs: [LIB, LIB32] });
  });

  it('graphics with compat32: the GLX indirect link in both directories', () => {
    const p = plan({ capabilities: ['graphics'], compat32: true });
    assert.deepEqual(
      table(p).filter((e) => e.kind === 'symlink'),
      [
        link('libGLX_nvidia.so.0', `libGLX_nvidia.so.${V}`),
        link('libGLX_indirect.so.0', `libGLX_nvidia.so.${V}`),
        link('libGLX_nvidia.so.0', `libGLX_nvidia.so.${V}`, LIB32),
        link('libGLX_indirect.so.0', `libGLX_nvidia.so.${V}`, LIB32),
      ],
    );
  });

  it('without compat32 the 32-bit libraries are not mounted', () => {
    const p = plan({ capabilities: ['compute', 'graphics'] });
    assert.deepEqual(
      targets(p).filter((t) => t.startsWith(LIB32)),
      [],
    );
    assert.deepEqual(p.ldconfig.dirs, [LIB]);
  });

  it('development links only for libraries whose names begin with libcuda.so., libnvidia-opticalflow.so., libGLX_nvidia.so.', () => {
    const drv = driver({
      libraries: [
        { path: `${LIB}/libxlibcuda.so.${V}`, capabilities: ['compute'] },
        { path: `${LIB}/libxlibnvidia-opticalflow.so.${V}`, capabilities: ['video'] },
        { path: `${LIB}/libxlibGLX_nvidia.so.${V}`, capabilities: ['graphics'] },
      ],
    });
    const p = plan({ capabilities: ['compute', 'video', 'graphics'] }, drv);
    assert.deepEqual(
      p.edits.filter((e) => e.kind === 'symlink'),
      [],
    );
    assert.equal(p.edits.filter((e) => e.kind === 'bind' && e.target.startsWith(`${LIB}/libxlib`)).length, 3);
  });

  it('a library listed for several capabilities is selected by any one of them', () => {
    // GLX is listed for graphics and display: display alone selects it (checked above); utility does not.
    assert.ok(!targets(plan({ capabilities: ['utility', 'ngx'] })).includes(`${LIB}/libGLX_nvidia.so.${V}`));
  });

  it('a binary or socket listed for several capabilities is selected by any one of them', () => {
    const drv = driver({
      binaries: [{ path: '/usr/bin/nvidia-both', capabilities: ['utility', 'graphics'] }],
      ipcs: [{ path: '/run/nvidia-both/socket', capabilities: ['utility', 'graphics'] }],
    });
    for (const caps of [['utility'], ['graphics']]) {
      const t = targets(plan({ capabilities: caps }, drv));
      assert.ok(t.includes('/usr/bin/nvidia-both'), String(caps));
      assert.ok(t.includes('/run/nvidia-both/socket'), String(caps));
    }
    const none = targets(plan({ capabilities: ['ngx'] }, drv));
    assert.ok(!none.includes('/usr/bin/nvidia-both'));
    assert.ok(!none.includes('/run/nvidia-both/socket'));
  });

  it('with the driver root at / the sources are the host paths themselves', () => {
    const p = plan({ capabilities: ['utility'] }, driver(), host({ root: '/', procRoot: '/proc', devRoot: '/dev' }));
    const bySource = Object.fromEntries(p.edits.filter((e) => e.kind === 'bind').map((e) => [e.target, e.source]));
    assert.deepEqual(bySource, {
      '/usr/bin/nvidia-smi': '/usr/bin/nvidia-smi',
      [`${LIB}/libnvidia-ml.so.${V}`]: `${LIB}/libnvidia-ml.so.${V}`,
      [`/lib/firmware/nvidia/${V}/gsp_ga10x.bin`]: `/lib/firmware/nvidia/${V}/gsp_ga10x.bin`,
      [`/lib/firmware/nvidia/${V}/gsp_tu10x.bin`]: `/lib/firmware/nvidia/${V}/gsp_tu10x.bin`,
      '/run/nvidia-persistenced/socket': '/run/nvidia-persistenced/socket',
      '/run/nvidia-fabricmanager/socket': '/run/nvidia-fabricmanager/socket',
      '/dev/nvidiactl': '/dev/nvidiactl',
    });
  });

  it('proc and dev roots are independent of the driver root', () => {
    const p = plan({ gpus: [gpus()[0]] }, driver(), host({ root: '/drv', procRoot: '/hostproc', devRoot: '/hostdev' }));
    const bySource = Object.fromEntries(p.edits.filter((e) => e.kind === 'bind').map((e) => [e.target, e.source]));
    assert.equal(bySource['/dev/nvidiactl'], '/hostdev/nvidiactl');
    assert.equal(bySource['/dev/nvidia4'], '/hostdev/nvidia4');
    assert.equal(bySource[`${PROC}/gpus/00000000:3b:00.0`], `/hostproc/driver/nvidia/gpus/00000000:3b:00.0`);
    assert.equal(bySource[`/lib/firmware/nvidia/${V}/gsp_ga10x.bin`], `/drv/lib/firmware/nvidia/${V}/gsp_ga10x.bin`);
  });

  it('an unknown control node is not given (only nvidiactl, uvm, uvm-tools, modeset are)', () => {
    const drv = driver({ deviceNodes: [...driver().deviceNodes, { path: '/dev/nvidia-nvswitchctl', major: 195, minor: 253, exists: true }] });
    const p = plan({ capabilities: ['compute', 'utility', 'graphics', 'display', 'video', 'ngx'] }, drv);
    assert.ok(!targets(p).includes('/dev/nvidia-nvswitchctl'));
    assert.ok(!p.cgroupRules.some((r) => r.minor === 253));
  });
});

describe('planContainer: procfs copy and params rewrite (study §10.3)', () => {
  it('only the ModifyDeviceFiles: 1 line changes, wherever it is', () => {
    const params = 'ModifyDeviceFiles: 1\nEnableMSI: 1\n';
    const p = plan({}, driver(), host({ procFiles: { params, version: VERSION_FILE, registry: REGISTRY_FILE } }));
    assert.equal(p.edits[1].data, 'ModifyDeviceFiles: 0\nEnableMSI: 1\n');
  });

  it('a params file already at 0, or without the line, is copied unchanged', () => {
    for (const params of ['ModifyDeviceFiles: 0\n', 'EnableMSI: 1\n', '']) {
      const p = plan({}, driver(), host({ procFiles: { params, version: VERSION_FILE, registry: REGISTRY_FILE } }));
      assert.deepEqual(table(p)[1], { step: 'driver', kind: 'write', target: `${PROC}/params`, data: params, mode: 0o444 });
    }
  });

  it('only a whole line "ModifyDeviceFiles: 1" is rewritten', () => {
    const params = 'ModifyDeviceFiles: 10\nXModifyDeviceFiles: 1\n';
    const p = plan({}, driver(), host({ procFiles: { params, version: VERSION_FILE, registry: REGISTRY_FILE } }));
    assert.equal(p.edits[1].data, params);
  });

  it('only params is rewritten: version and registry are copied verbatim', () => {
    const odd = 'ModifyDeviceFiles: 1\n';
    const p = plan({}, driver(), host({ procFiles: { params: odd, version: odd, registry: odd } }));
    assert.deepEqual(
      table(p)
        .slice(1, 4)
        .map((e) => e.data),
      ['ModifyDeviceFiles: 0\n', odd, odd],
    );
  });

  it('missing procfs files are skipped with a warning each; the tmpfs and the seal stay', () => {
    const p = plan({}, driver(), host({ procFiles: {} }));
    assert.deepEqual(table(p), [procTmpfs, ...firmware, dev('driver', '/dev/nvidiactl', 195, 255), seal]);
    assert.deepEqual(p.warnings, [
      '/proc/driver/nvidia/params is missing on the host; the container gets none',
      '/proc/driver/nvidia/version is missing on the host; the container gets none',
      '/proc/driver/nvidia/registry is missing on the host; the container gets none',
    ]);
  });

  it('an empty file is copied (empty is not missing)', () => {
    const p = plan({}, driver(), host({ procFiles: { params: '', version: '', registry: '' } }));
    assert.deepEqual(
      p.edits.slice(1, 4).map((e) => [e.target, e.data]),
      [
        [`${PROC}/params`, ''],
        [`${PROC}/version`, ''],
        [`${PROC}/registry`, ''],
      ],
    );
    assert.deepEqual(p.warnings, []);
  });

  it('only the missing one is warned about', () => {
    const p = plan({}, driver(), host({ procFiles: { params: PARAMS_HOST, registry: REGISTRY_FILE } }));
    assert.deepEqual(
      p.edits.slice(1, 3).map((e) => e.target),
      [`${PROC}/params`, `${PROC}/registry`],
    );
    assert.deepEqual(p.warnings, ['/proc/driver/nvidia/version is missing on the host; the container gets none']);
  });
});

describe('planContainer: options', () => {
  const all = ['compute', 'utility', 'graphics', 'display', 'video', 'ngx'];

  it('noGspFirmware drops the firmware files only', () => {
    const p = plan({ noGspFirmware: true });
    assert.deepEqual(table(p), [procTmpfs, ...procWrites, dev('driver', '/dev/nvidiactl', 195, 255), seal]);
  });

  it('noPersistenced drops the persistenced socket only', () => {
    const p = plan({ capabilities: ['utility', 'compute'], noPersistenced: true });
    const ipc = targets(p).filter((t) => t.startsWith('/run/') || t.startsWith('/tmp/'));
    assert.deepEqual(ipc, ['/run/nvidia-fabricmanager/socket', '/tmp/nvidia-mps']);
  });

  it('noFabricmanager drops the fabricmanager socket only', () => {
    const p = plan({ capabilities: ['utility', 'compute'], noFabricmanager: true });
    const ipc = targets(p).filter((t) => t.startsWith('/run/') || t.startsWith('/tmp/'));
    assert.deepEqual(ipc, ['/run/nvidia-persistenced/socket', '/tmp/nvidia-mps']);
  });

  it('both together leave the MPS directory', () => {
    const p = plan({ capabilities: ['utility', 'compute'], noPersistenced: true, noFabricmanager: true });
    assert.deepEqual(
      targets(p).filter((t) => t.startsWith('/run/') || t.startsWith('/tmp/')),
      ['/tmp/nvidia-mps'],
    );
  });

  it('noCgroups: every bind stays, no rule at all', () => {
    const req = {
      capabilities: all,
      gpus: gpus(),
      migs: [{ gpu: gpus()[0], mig: gpus()[0].mig.devices[0] }],
      imexChannels: [0],
    };
    const withRules = plan(req);
    const p = plan({ ...req, noCgroups: true });
    assert.deepEqual(p.cgroupRules, []);
    assert.deepEqual(table(p), table(withRules));
    assert.ok(withRules.cgroupRules.length > 0);
  });

  it('noDevbind: no device node binds, the cgroup rules stay', () => {
    const req = { capabilities: all, gpus: gpus(), migs: [{ gpu: gpus()[0], mig: gpus()[0].mig.devices[0] }], imexChannels: [0] };
    const withBinds = plan(req);
    const p = plan({ ...req, noDevbind: true });
    assert.deepEqual(p.cgroupRules, withBinds.cgroupRules);
    assert.deepEqual(
      table(p),
      table(withBinds).filter((e) => e.sourceKind !== 'char'),
    );
    assert.deepEqual(
      p.edits.filter((e) => e.target.startsWith('/dev/')),
      [],
    );
  });

  it('ldconfig null skips it; a container path is passed through', () => {
    assert.equal(plan({ ldconfig: null }).ldconfig, null);
    assert.deepEqual(plan({ ldconfig: '/sbin/ldconfig.real', compat32: true }).ldconfig, { path: '/sbin/ldconfig.real', dirs: [LIB, LIB32] });
  });
});

describe('planContainer: control devices (study §4.2 step 10)', () => {
  it('every control-device rule is c major:minor rw, in the driver step', () => {
    const p = plan({ capabilities: ['compute', 'display'] });
    assert.deepEqual(p.cgroupRules, [
      rule('driver', 195, 255, '/dev/nvidiactl'),
      rule('driver', 508, 0, '/dev/nvidia-uvm'),
      rule('driver', 508, 1, '/dev/nvidia-uvm-tools'),
      rule('driver', 195, 254, '/dev/nvidia-modeset'),
    ]);
  });

  it('a missing control node is skipped with a warning', () => {
    const nodes = driver().deviceNodes.map((n) => (n.path === '/dev/nvidia-uvm-tools' || n.path === '/dev/nvidiactl' ? { ...n, exists: false } : n));
    const p = plan({ capabilities: ['compute'] }, driver({ deviceNodes: nodes }));
    assert.deepEqual(
      table(p).filter((e) => e.sourceKind === 'char'),
      [{ step: 'driver', kind: 'bind', target: '/dev/nvidia-uvm', source: '/host/dev/nvidia-uvm', sourceKind: 'char', major: 508, minor: 0, flags: RO_DEV }],
    );
    assert.deepEqual(rules(p), ['driver c 508:0 rw /dev/nvidia-uvm']);
    assert.deepEqual(p.warnings, [
      '/dev/nvidiactl is missing on the host; the container gets none',
      '/dev/nvidia-uvm-tools is missing on the host; the container gets none',
    ]);
  });

  it('display without nvidia-modeset on the host is an error naming the node and the fix', () => {
    const nodes = driver().deviceNodes.map((n) => (n.path === '/dev/nvidia-modeset' ? { ...n, exists: false } : n));
    nvcError(() => plan({ capabilities: ['display'] }, driver({ deviceNodes: nodes })), {
      code: 'ERR_NVC_INVALID_ARGUMENT',
      message: 'the display capability needs /dev/nvidia-modeset, which this host lacks (the nvidia_modeset kernel module is not loaded)',
      path: '/dev/nvidia-modeset',
      hint: 'load the module (modprobe nvidia-modeset) or drop the display capability',
    });
  });

  it('a missing nvidia-modeset does not matter without display', () => {
    const nodes = driver().deviceNodes.map((n) => (n.path === '/dev/nvidia-modeset' ? { ...n, exists: false } : n));
    const p = plan({ capabilities: ['graphics', 'compute'] }, driver({ deviceNodes: nodes }));
    assert.deepEqual(p.warnings, []);
    assert.ok(!targets(p).includes('/dev/nvidia-modeset'));
  });
});

describe('planContainer: device_mount per GPU (study §4.3, §10.5)', () => {
  it('GPU node and procfs dir per GPU, in request order; minors, not indices, name the nodes', () => {
    const [g4, g0, g9] = gpus();
    const p = plan({ gpus: [g4, g0, g9] });
    assert.deepEqual(
      table(p).filter((e) => e.step === 'device'),
      [
        dev('device', '/dev/nvidia4', 195, 4),
        procDir('device', `${PROC}/gpus/00000000:3b:00.0`),
        dev('device', '/dev/nvidia0', 195, 0),
        // The directory name the host has (4-digit domain) is the one bound.
        procDir('device', `${PROC}/gpus/0000:86:00.0`),
        dev('device', '/dev/nvidia9', 195, 9),
      ],
    );
    assert.deepEqual(p.warnings, ['/proc/driver/nvidia/gpus/00000000:af:00.0 is missing on the host; the container gets none']);
    assert.deepEqual(p.cgroupRules, [
      rule('driver', 195, 255, '/dev/nvidiactl'),
      rule('device', 195, 4, '/dev/nvidia4'),
      rule('device', 195, 0, '/dev/nvidia0'),
      rule('device', 195, 9, '/dev/nvidia9'),
    ]);
  });

  it('GPU minor 0 gets its rule even though uvm is also minor 0 (other major)', () => {
    const p = plan({ capabilities: ['compute'], gpus: [gpus()[1]] });
    assert.deepEqual(rules(p), [
      'driver c 195:255 rw /dev/nvidiactl',
      'driver c 508:0 rw /dev/nvidia-uvm',
      'driver c 508:1 rw /dev/nvidia-uvm-tools',
      'device c 195:0 rw /dev/nvidia0',
    ]);
  });

  it('a GPU selected twice gets one bind and one rule', () => {
    const [g4] = gpus();
    const p = plan({ gpus: [g4, g4] });
    assert.deepEqual(
      targets(p).filter((t) => t === '/dev/nvidia4'),
      ['/dev/nvidia4'],
    );
    assert.deepEqual(rules(p), ['driver c 195:255 rw /dev/nvidiactl', 'device c 195:4 rw /dev/nvidia4']);
  });

  it('graphics: the EGL profile masks the selected GPUs by minor (4, 0, 9 → 0x211), mode 0555, in the device step', () => {
    const p = plan({ capabilities: ['graphics'], gpus: gpus() });
    const t = table(p);
    const profile = t.filter((e) => e.target.startsWith(`${PROFILES}/`));
    assert.deepEqual(profile, [{ step: 'device', kind: 'write', target: `${PROFILES}/10-container.conf`, data: profileText('0x211'), mode: 0o555 }]);
    // The profile goes into the tmpfs made in driver_mount, before the per-GPU binds.
    assert.ok(t.indexOf(profile[0]) < t.findIndex((e) => e.target === '/dev/nvidia4'));
    assert.ok(t.findIndex((e) => e.target === PROFILES) < t.indexOf(profile[0]));
  });

  it('the profile file is mode 0555 exactly (the reference), not writable', () => {
    const p = plan({ capabilities: ['display'], gpus: [gpus()[0]] });
    const w = p.edits.find((e) => e.target === `${PROFILES}/10-container.conf`);
    assert.equal(w.mode, 0o555);
    assert.equal(w.mode & 0o222, 0);
  });

  it('profile masks for single GPUs and pairs (study §10.5: minors 0 and 2 → 0x5)', () => {
    const [g4, g0, g9] = gpus();
    const g2 = { ...g0, index: 3, minor: 2, busId: '00000000:c1:00.0', deviceNode: { path: '/dev/nvidia2', major: 195, minor: 2 } };
    const mask = (sel) => {
      const w = plan({ capabilities: ['graphics'], gpus: sel }).edits.find((e) => e.target === `${PROFILES}/10-container.conf`);
      return /"EGLVisibleDGPUDevices", (0x[0-9a-f]+)\]/.exec(w.data)[1];
    };
    assert.equal(mask([g0]), '0x1');
    assert.equal(mask([g4]), '0x10');
    assert.equal(mask([g9]), '0x200');
    assert.equal(mask([g0, g2]), '0x5');
    assert.equal(mask([g9, g4]), '0x210');
  });

  it('a GPU with a large minor gets the right bit (no 32-bit overflow)', () => {
    const big = { ...gpus()[1], minor: 40, deviceNode: { path: '/dev/nvidia40', major: 195, minor: 40 } };
    const w = plan({ capabilities: ['graphics'], gpus: [big] }).edits.find((e) => e.target === `${PROFILES}/10-container.conf`);
    assert.equal(w.data, profileText('0x10000000000'));
  });

  it('no profile without graphics/display, nor with graphics but no GPU', () => {
    assert.ok(!targets(plan({ capabilities: ['compute', 'utility'], gpus: gpus() })).some((t) => t.startsWith(PROFILES)));
    const noGpu = plan({ capabilities: ['graphics'] });
    assert.deepEqual(
      targets(noGpu).filter((t) => t.startsWith(PROFILES)),
      [PROFILES],
    );
  });
});

describe('planContainer: MIG (study §4.4)', () => {
  const migsOf = (g) => g.mig.devices.map((mig) => ({ gpu: g, mig }));

  it('per-MIG access: GI and CI access files and cap nodes; a GI shared by two CIs once', () => {
    const [g4, , g9] = gpus();
    const p = plan({ gpus: [g4, g9], migs: [...migsOf(g4), ...migsOf(g9)] });
    assert.deepEqual(
      table(p).filter((e) => e.step === 'mig-access'),
      [
        procFile('mig-access', `${CAPS}/gpu4/mig/gi1/access`),
        dev('mig-access', '/dev/nvidia-caps/nvidia-cap57', 237, 57),
        procFile('mig-access', `${CAPS}/gpu4/mig/gi1/ci0/access`),
        dev('mig-access', '/dev/nvidia-caps/nvidia-cap58', 237, 58),
        procFile('mig-access', `${CAPS}/gpu4/mig/gi1/ci1/access`),
        dev('mig-access', '/dev/nvidia-caps/nvidia-cap59', 237, 59),
        // GI cap minor unknown: the access file, but no node and no rule.
        procFile('mig-access', `${CAPS}/gpu9/mig/gi2/access`),
        procFile('mig-access', `${CAPS}/gpu9/mig/gi2/ci0/access`),
        dev('mig-access', '/dev/nvidia-caps/nvidia-cap102', 237, 102),
      ],
    );
    assert.deepEqual(
      p.cgroupRules.filter((r) => r.step === 'mig-access'),
      [
        rule('mig-access', 237, 57, '/dev/nvidia-caps/nvidia-cap57'),
        rule('mig-access', 237, 58, '/dev/nvidia-caps/nvidia-cap58'),
        rule('mig-access', 237, 59, '/dev/nvidia-caps/nvidia-cap59'),
        rule('mig-access', 237, 102, '/dev/nvidia-caps/nvidia-cap102'),
      ],
    );
  });

  it('per-MIG access without the nvidia-caps char device: access files only', () => {
    const [g4] = gpus();
    const p = plan({ gpus: [g4], migs: migsOf(g4) }, driver({ nvcapsMajor: null }));
    assert.deepEqual(
      table(p).filter((e) => e.step === 'mig-access'),
      [
        procFile('mig-access', `${CAPS}/gpu4/mig/gi1/access`),
        procFile('mig-access', `${CAPS}/gpu4/mig/gi1/ci0/access`),
        procFile('mig-access', `${CAPS}/gpu4/mig/gi1/ci1/access`),
      ],
    );
    assert.deepEqual(
      p.cgroupRules.filter((r) => r.step === 'mig-access'),
      [],
    );
  });

  it('a cap minor equal to a GPU minor is a distinct rule (other major)', () => {
    const g9 = gpus()[2];
    const m = { ...g9.mig.devices[0], giCapMinor: 9 };
    const p = plan({ gpus: [g9], migs: [{ gpu: g9, mig: m }] });
    assert.deepEqual(rules(p), [
      'driver c 195:255 rw /dev/nvidiactl',
      'device c 195:9 rw /dev/nvidia9',
      'mig-access c 237:9 rw /dev/nvidia-caps/nvidia-cap9',
      'mig-access c 237:102 rw /dev/nvidia-caps/nvidia-cap102',
    ]);
  });

  it("mig-config: capabilities dir, /dev/nvidia-caps dir, the config minor and the GPUs' MIG minors (looked up by GPU minor)", () => {
    const [g4, g0, g9] = gpus();
    const p = plan({ gpus: [g4, g0, g9], migs: migsOf(g4), migConfig: true, migConfigGpus: [g4, g9] });
    assert.deepEqual(
      table(p).filter((e) => e.step.startsWith('mig-')),
      [
        procDir('mig-config', CAPS),
        { step: 'mig-config', kind: 'bind', target: '/dev/nvidia-caps', source: '/host/dev/nvidia-caps', sourceKind: 'dir', flags: ['nosuid', 'noexec'] },
      ],
    );
    assert.deepEqual(
      p.cgroupRules.filter((r) => r.step.startsWith('mig-')),
      [
        rule('mig-config', 237, 1, '/proc/driver/nvidia/capabilities/mig/config'),
        rule('mig-config', 237, 57, '/dev/nvidia-caps/nvidia-cap57'),
        rule('mig-config', 237, 58, '/dev/nvidia-caps/nvidia-cap58'),
        rule('mig-config', 237, 59, '/dev/nvidia-caps/nvidia-cap59'),
        // minor 9 under 237 is not the same device as /dev/nvidia9 (195:9)
        rule('mig-config', 237, 9, '/dev/nvidia-caps/nvidia-cap9'),
        rule('mig-config', 237, 102, '/dev/nvidia-caps/nvidia-cap102'),
      ],
    );
  });

  it('mig-monitor uses the monitor minor and its own step', () => {
    const [, g0] = gpus();
    const p = plan({ gpus: [g0], migMonitor: true, migMonitorGpus: [g0] });
    assert.deepEqual(
      table(p).filter((e) => e.step.startsWith('mig-')),
      [
        procDir('mig-monitor', CAPS),
        { step: 'mig-monitor', kind: 'bind', target: '/dev/nvidia-caps', source: '/host/dev/nvidia-caps', sourceKind: 'dir', flags: ['nosuid', 'noexec'] },
      ],
    );
    assert.deepEqual(
      rules(p).filter((r) => r.startsWith('mig-')),
      [
        'mig-monitor c 237:2 rw /proc/driver/nvidia/capabilities/mig/monitor',
        'mig-monitor c 237:12 rw /dev/nvidia-caps/nvidia-cap12',
        'mig-monitor c 237:13 rw /dev/nvidia-caps/nvidia-cap13',
      ],
    );
  });

  it('mig-config and mig-monitor together: the directories once, each cap minor once, config first', () => {
    const [g4] = gpus();
    const p = plan({ gpus: [g4], migConfig: true, migMonitor: true, migConfigGpus: [g4], migMonitorGpus: [g4] });
    assert.deepEqual(
      table(p)
        .filter((e) => e.step.startsWith('mig-'))
        .map((e) => `${e.step} ${e.target}`),
      [`mig-config ${CAPS}`, 'mig-config /dev/nvidia-caps'],
    );
    assert.deepEqual(
      rules(p).filter((r) => r.startsWith('mig-')),
      [
        'mig-config c 237:1 rw /proc/driver/nvidia/capabilities/mig/config',
        'mig-config c 237:57 rw /dev/nvidia-caps/nvidia-cap57',
        'mig-config c 237:58 rw /dev/nvidia-caps/nvidia-cap58',
        'mig-config c 237:59 rw /dev/nvidia-caps/nvidia-cap59',
        'mig-monitor c 237:2 rw /proc/driver/nvidia/capabilities/mig/monitor',
      ],
    );
    // The per-MIG access caps are not added when the whole config/monitor caps are given.
    assert.ok(!steps(p).includes('mig-access'));
  });

  it('mig-config or mig-monitor alone replaces the per-MIG access caps', () => {
    const [g4] = gpus();
    for (const opt of [{ migConfig: true }, { migMonitor: true }]) {
      const p = plan({ gpus: [g4], migs: migsOf(g4), ...opt });
      assert.ok(!steps(p).includes('mig-access'), JSON.stringify(opt));
      assert.ok(!targets(p).some((t) => t.endsWith('/access')), JSON.stringify(opt));
    }
  });

  it('a GPU without MIG minors listed adds none; unknown config/monitor minors add no rule', () => {
    const [g4, g0] = gpus();
    const p = plan(
      { gpus: [g0], migConfig: true, migMonitor: true, migConfigGpus: [g4, g0], migMonitorGpus: [g0] },
      driver({ migConfigMinor: null, migMonitorMinor: null }),
      host({ migMinors: { 0: [12] } }),
    );
    assert.deepEqual(
      rules(p).filter((r) => r.startsWith('mig-')),
      ['mig-config c 237:12 rw /dev/nvidia-caps/nvidia-cap12'],
    );
  });

  it('without the nvidia-caps char device: the procfs capabilities dir only, no /dev dir, no rule', () => {
    const [g4] = gpus();
    const p = plan({ gpus: [g4], migConfig: true, migMonitor: true, migConfigGpus: [g4], migMonitorGpus: [g4] }, driver({ nvcapsMajor: null }));
    assert.deepEqual(
      table(p).filter((e) => e.step.startsWith('mig-')),
      [procDir('mig-config', CAPS)],
    );
    assert.deepEqual(
      p.cgroupRules.filter((r) => r.step.startsWith('mig-')),
      [],
    );
  });

  it('noDevbind keeps the MIG rules but not the /dev/nvidia-caps dir; noCgroups the reverse', () => {
    const [g4] = gpus();
    const req = { gpus: [g4], migMonitor: true, migMonitorGpus: [g4] };
    const nb = plan({ ...req, noDevbind: true });
    assert.deepEqual(
      table(nb).filter((e) => e.step.startsWith('mig-')),
      [procDir('mig-monitor', CAPS)],
    );
    assert.deepEqual(
      rules(nb).filter((r) => r.startsWith('mig-')),
      [
        'mig-monitor c 237:2 rw /proc/driver/nvidia/capabilities/mig/monitor',
        'mig-monitor c 237:57 rw /dev/nvidia-caps/nvidia-cap57',
        'mig-monitor c 237:58 rw /dev/nvidia-caps/nvidia-cap58',
        'mig-monitor c 237:59 rw /dev/nvidia-caps/nvidia-cap59',
      ],
    );
    const nc = plan({ ...req, noCgroups: true });
    assert.deepEqual(
      table(nc)
        .filter((e) => e.step.startsWith('mig-'))
        .map((e) => e.target),
      [CAPS, '/dev/nvidia-caps'],
    );
    assert.deepEqual(nc.cgroupRules, []);
  });
});

describe('planContainer: IMEX channels (study §4.5)', () => {
  it('each channel node is bound with a rule of the IMEX major, in the imex step, before the seal', () => {
    const p = plan({ imexChannels: [5, 0] });
    assert.deepEqual(table(p).slice(-3), [
      dev('imex', '/dev/nvidia-caps-imex-channels/channel5', 234, 5),
      dev('imex', '/dev/nvidia-caps-imex-channels/channel0', 234, 0),
      seal,
    ]);
    assert.deepEqual(rules(p), [
      'driver c 195:255 rw /dev/nvidiactl',
      'imex c 234:5 rw /dev/nvidia-caps-imex-channels/channel5',
      'imex c 234:0 rw /dev/nvidia-caps-imex-channels/channel0',
    ]);
  });

  it('channel 0 is its own rule next to uvm 508:0 and GPU 195:0', () => {
    const p = plan({ capabilities: ['compute'], gpus: [gpus()[1]], imexChannels: [0] });
    assert.ok(rules(p).includes('imex c 234:0 rw /dev/nvidia-caps-imex-channels/channel0'));
  });

  it('without facts about the nodes (imexNodes absent) the channels are planned', () => {
    const p = plan({ imexChannels: [7] }, driver(), host({ imexNodes: undefined }));
    assert.deepEqual(rules(p), ['driver c 195:255 rw /dev/nvidiactl', 'imex c 234:7 rw /dev/nvidia-caps-imex-channels/channel7']);
  });

  it('a channel the facts do not mention is planned (only a known-missing node is an error)', () => {
    const p = plan({ imexChannels: [3] });
    assert.ok(targets(p).includes('/dev/nvidia-caps-imex-channels/channel3'));
  });

  it('a channel whose node the host lacks is an error naming the node and how to create it', () => {
    nvcError(() => plan({ imexChannels: [0, 5] }, driver(), host({ imexNodes: { 0: true, 5: false } })), {
      code: 'ERR_NVC_INVALID_ARGUMENT',
      message: 'IMEX channel 5 was requested but the host has no /dev/nvidia-caps-imex-channels/channel5',
      path: '/host/dev/nvidia-caps-imex-channels/channel5',
      hint: "create the channel's device node on the host (nvidia-modprobe -i 5, or the driver's NVreg_CreateImexChannel0 for channel 0), or drop the request",
    });
  });

  it('multi-digit channel ids are looked up as themselves', () => {
    nvcError(() => plan({ imexChannels: [12] }, driver(), host({ imexNodes: { 1: true, 12: false } })), {
      code: 'ERR_NVC_INVALID_ARGUMENT',
      message: 'IMEX channel 12 was requested but the host has no /dev/nvidia-caps-imex-channels/channel12',
      path: '/host/dev/nvidia-caps-imex-channels/channel12',
      hint: "create the channel's device node on the host (nvidia-modprobe -i 12, or the driver's NVreg_CreateImexChannel0 for channel 0), or drop the request",
    });
    assert.ok(
      targets(plan({ imexChannels: [12] }, driver(), host({ imexNodes: { 1: false, 12: true } }))).includes('/dev/nvidia-caps-imex-channels/channel12'),
    );
  });

  it('a driver without IMEX support is an error when channels are requested, not otherwise', () => {
    nvcError(() => plan({ imexChannels: [2] }, driver({ imexMajor: null })), {
      code: 'ERR_NVC_INVALID_ARGUMENT',
      message: 'IMEX channel 2 was requested but the driver exposes no nvidia-caps-imex-channels device',
      hint: 'drop `imexChannels`, or use a driver with IMEX support',
    });
    assert.deepEqual(plan({}, driver({ imexMajor: null })).warnings, []);
  });
});

describe('planContainer: a full request', () => {
  it('all capabilities, compat32, three GPUs, MIG config, an IMEX channel: the whole plan', () => {
    const [g4, g0, g9] = gpus();
    const p = plan(
      {
        capabilities: ['utility', 'compute', 'video', 'graphics', 'display', 'ngx'],
        compat32: true,
        gpus: [g4, g0, g9],
        migConfig: true,
        migConfigGpus: [g4, g0, g9],
        imexChannels: [1],
        ldconfig: '/sbin/ldconfig',
      },
      driver(),
      host({ imexNodes: { 1: true } }),
    );
    assert.deepEqual(table(p), [
      procTmpfs,
      ...procWrites,
      profileTmpfs,
      file('/usr/bin/nvidia-smi'),
      file('/usr/bin/nvidia-cuda-mps-control'),
      lib(`libnvidia-ml.so.${V}`),
      link('libnvidia-ml.so.1', `libnvidia-ml.so.${V}`),
      lib(`libcuda.so.${V}`),
      link('libcuda.so.1', `libcuda.so.${V}`),
      lib(`libnvidia-ptxjitcompiler.so.${V}`),
      lib(`libnvidia-ngx.so.${V}`),
      link('libnvidia-ngx.so.1', `libnvidia-ngx.so.${V}`),
      lib(`libnvidia-opticalflow.so.${V}`),
      link('libnvidia-opticalflow.so.1', `libnvidia-opticalflow.so.${V}`),
      lib(`libGLX_nvidia.so.${V}`),
      link('libGLX_nvidia.so.0', `libGLX_nvidia.so.${V}`),
      link('libcuda.so', 'libcuda.so.1'),
      link('libnvidia-opticalflow.so', 'libnvidia-opticalflow.so.1'),
      link('libGLX_indirect.so.0', `libGLX_nvidia.so.${V}`),
      lib(`libcuda.so.${V}`, LIB32),
      link('libcuda.so.1', `libcuda.so.${V}`, LIB32),
      lib(`libGLX_nvidia.so.${V}`, LIB32),
      link('libGLX_nvidia.so.0', `libGLX_nvidia.so.${V}`, LIB32),
      link('libcuda.so', 'libcuda.so.1', LIB32),
      link('libGLX_indirect.so.0', `libGLX_nvidia.so.${V}`, LIB32),
      ...firmware,
      socket('/run/nvidia-persistenced/socket'),
      socket('/run/nvidia-fabricmanager/socket'),
      mpsDir,
      dev('driver', '/dev/nvidiactl', 195, 255),
      dev('driver', '/dev/nvidia-uvm', 508, 0),
      dev('driver', '/dev/nvidia-uvm-tools', 508, 1),
      dev('driver', '/dev/nvidia-modeset', 195, 254),
      { step: 'device', kind: 'write', target: `${PROFILES}/10-container.conf`, data: profileText('0x211'), mode: 0o555 },
      dev('device', '/dev/nvidia4', 195, 4),
      procDir('device', `${PROC}/gpus/00000000:3b:00.0`),
      dev('device', '/dev/nvidia0', 195, 0),
      procDir('device', `${PROC}/gpus/0000:86:00.0`),
      dev('device', '/dev/nvidia9', 195, 9),
      procDir('mig-config', CAPS),
      { step: 'mig-config', kind: 'bind', target: '/dev/nvidia-caps', source: '/host/dev/nvidia-caps', sourceKind: 'dir', flags: ['nosuid', 'noexec'] },
      dev('imex', '/dev/nvidia-caps-imex-channels/channel1', 234, 1),
      seal,
    ]);
    assert.deepEqual(p.cgroupRules, [
      rule('driver', 195, 255, '/dev/nvidiactl'),
      rule('driver', 508, 0, '/dev/nvidia-uvm'),
      rule('driver', 508, 1, '/dev/nvidia-uvm-tools'),
      rule('driver', 195, 254, '/dev/nvidia-modeset'),
      rule('device', 195, 4, '/dev/nvidia4'),
      rule('device', 195, 0, '/dev/nvidia0'),
      rule('device', 195, 9, '/dev/nvidia9'),
      rule('mig-config', 237, 1, '/proc/driver/nvidia/capabilities/mig/config'),
      rule('mig-config', 237, 57, '/dev/nvidia-caps/nvidia-cap57'),
      rule('mig-config', 237, 58, '/dev/nvidia-caps/nvidia-cap58'),
      rule('mig-config', 237, 59, '/dev/nvidia-caps/nvidia-cap59'),
      rule('mig-config', 237, 12, '/dev/nvidia-caps/nvidia-cap12'),
      rule('mig-config', 237, 13, '/dev/nvidia-caps/nvidia-cap13'),
      rule('mig-config', 237, 9, '/dev/nvidia-caps/nvidia-cap9'),
      rule('mig-config', 237, 102, '/dev/nvidia-caps/nvidia-cap102'),
      rule('imex', 234, 1, '/dev/nvidia-caps-imex-channels/channel1'),
    ]);
    for (const r of p.cgroupRules) assert.equal(r.access, 'rw');
    assert.deepEqual(p.ldconfig, { path: '/sbin/ldconfig', dirs: [LIB, LIB32] });
    assert.deepEqual(p.warnings, ['/proc/driver/nvidia/gpus/00000000:af:00.0 is missing on the host; the container gets none']);
  });

  it('every edit names its origin: step, role, and the UUID of the device it serves (null: common)', () => {
    const [g4, g0] = gpus();
    const U4 = g4.uuid;
    const U0 = g0.uuid;
    const p = plan(
      {
        capabilities: ['utility', 'compute', 'graphics', 'display'],
        compat32: true,
        gpus: [g4, g0],
        migConfig: true,
        migConfigGpus: [g4],
        imexChannels: [1],
      },
      driver(),
      host({ imexNodes: { 1: true } }),
    );
    assert.deepEqual(
      p.edits.map((e) => `${e.origin.step} ${e.origin.role} ${e.origin.device} ${e.kind} ${e.target}`),
      [
        `driver proc-file null tmpfs ${PROC}`,
        `driver proc-file null write ${PROC}/params`,
        `driver proc-file null write ${PROC}/version`,
        `driver proc-file null write ${PROC}/registry`,
        `driver app-profile-dir null tmpfs ${PROFILES}`,
        'driver binary null bind /usr/bin/nvidia-smi',
        'driver binary null bind /usr/bin/nvidia-cuda-mps-control',
        `driver library null bind ${LIB}/libnvidia-ml.so.${V}`,
        `driver library null symlink ${LIB}/libnvidia-ml.so.1`,
        `driver library null bind ${LIB}/libcuda.so.${V}`,
        `driver library null symlink ${LIB}/libcuda.so.1`,
        `driver library null bind ${LIB}/libnvidia-ptxjitcompiler.so.${V}`,
        `driver library null bind ${LIB}/libGLX_nvidia.so.${V}`,
        `driver library null symlink ${LIB}/libGLX_nvidia.so.0`,
        `driver library null symlink ${LIB}/libcuda.so`,
        `driver library null symlink ${LIB}/libGLX_indirect.so.0`,
        `driver library32 null bind ${LIB32}/libcuda.so.${V}`,
        `driver library32 null symlink ${LIB32}/libcuda.so.1`,
        `driver library32 null bind ${LIB32}/libGLX_nvidia.so.${V}`,
        `driver library32 null symlink ${LIB32}/libGLX_nvidia.so.0`,
        `driver library32 null symlink ${LIB32}/libcuda.so`,
        `driver library32 null symlink ${LIB32}/libGLX_indirect.so.0`,
        `driver firmware null bind /lib/firmware/nvidia/${V}/gsp_ga10x.bin`,
        `driver firmware null bind /lib/firmware/nvidia/${V}/gsp_tu10x.bin`,
        'driver ipc-socket null bind /run/nvidia-persistenced/socket',
        'driver ipc-socket null bind /run/nvidia-fabricmanager/socket',
        'driver ipc-dir null bind /tmp/nvidia-mps',
        'driver control-device null bind /dev/nvidiactl',
        'driver control-device null bind /dev/nvidia-uvm',
        'driver control-device null bind /dev/nvidia-uvm-tools',
        'driver control-device null bind /dev/nvidia-modeset',
        `device app-profile null write ${PROFILES}/10-container.conf`,
        `device gpu-device ${U4} bind /dev/nvidia4`,
        `device gpu-procfs ${U4} bind ${PROC}/gpus/00000000:3b:00.0`,
        `device gpu-device ${U0} bind /dev/nvidia0`,
        `device gpu-procfs ${U0} bind ${PROC}/gpus/0000:86:00.0`,
        `mig-config mig-caps-procfs null bind ${CAPS}`,
        'mig-config mig-caps-devdir null bind /dev/nvidia-caps',
        'imex imex-channel null bind /dev/nvidia-caps-imex-channels/channel1',
        `seal proc-file null remount ${PROC}`,
      ],
    );
  });

  it('MIG access edits name the MIG device they serve', () => {
    const [g4] = gpus();
    const [a, b] = g4.mig.devices;
    const p = plan({
      gpus: [g4],
      migs: [
        { gpu: g4, mig: a },
        { gpu: g4, mig: b },
      ],
    });
    assert.deepEqual(
      p.edits.filter((e) => e.origin.step === 'mig-access').map((e) => `${e.origin.role} ${e.origin.device} ${e.target}`),
      [
        `mig-access ${a.uuid} ${CAPS}/gpu4/mig/gi1/access`,
        `mig-cap-device ${a.uuid} /dev/nvidia-caps/nvidia-cap57`,
        `mig-access ${a.uuid} ${CAPS}/gpu4/mig/gi1/ci0/access`,
        `mig-cap-device ${a.uuid} /dev/nvidia-caps/nvidia-cap58`,
        // The shared GI access file was planned for the first MIG device already.
        `mig-access ${b.uuid} ${CAPS}/gpu4/mig/gi1/ci1/access`,
        `mig-cap-device ${b.uuid} /dev/nvidia-caps/nvidia-cap59`,
      ],
    );
  });

  it('is pure: the same inputs give the same plan, and the inputs are not modified', () => {
    const drv = driver();
    const facts = host();
    const req = request({ capabilities: ['compute', 'graphics'], gpus: gpus(), compat32: true });
    const before = JSON.stringify([drv, facts, req]);
    const a = planContainer(drv, facts, LAYOUT, req);
    const b = planContainer(drv, facts, LAYOUT, req);
    assert.deepEqual(a, b);
    assert.equal(JSON.stringify([drv, facts, req]), before);
  });
});
