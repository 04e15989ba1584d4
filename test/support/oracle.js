'use strict';
// What a configured container must hold, written from the reference's documented rules
// (libnvidia-container study §2.2, §4.2-4.5, §10.2) and the facts of the simulated host the
// test built, never from the product's discovery or planner. Every mount is described with
// its host source and its flags, every device-cgroup rule with type, numbers and access.

const path = require('node:path');

const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const LIB32DIR = '/usr/lib/i386-linux-gnu';

/** The simulated 580 driver's libraries: stem, capability (study §2.2.2), installed 32-bit too. */
const LIBRARIES = [
  ['libnvidia-ml', 'utility', false],
  ['libnvidia-cfg', 'utility', false],
  ['libcuda', 'compute', true],
  ['libcudadebugger', 'compute', false],
  ['libnvidia-opencl', 'compute', true],
  ['libnvidia-gpucomp', 'compute', true],
  ['libnvidia-ptxjitcompiler', 'compute', true],
  ['libnvidia-allocator', 'compute', true],
  ['libnvidia-pkcs11-openssl3', 'compute', false],
  ['libnvidia-nvvm', 'compute', false],
  ['libvdpau_nvidia', 'video', true],
  ['libnvidia-encode', 'video', true],
  ['libnvidia-opticalflow', 'video', true],
  ['libnvcuvid', 'video', true],
  ['libnvidia-eglcore', 'graphics', true],
  ['libnvidia-glcore', 'graphics', true],
  ['libnvidia-tls', 'graphics', true],
  ['libnvidia-glsi', 'graphics', true],
  ['libnvidia-fbc', 'graphics', true],
  ['libnvidia-rtcore', 'graphics', false],
  ['libnvoptix', 'graphics', false],
  ['libGLX_nvidia', 'graphics', true],
  ['libEGL_nvidia', 'graphics', true],
  ['libGLESv2_nvidia', 'graphics', true],
  ['libGLESv1_CM_nvidia', 'graphics', true],
  ['libnvidia-glvkspirv', 'graphics', true],
  ['libnvidia-ngx', 'ngx', false],
];

/** Binaries and their capability (study §2.2.1). */
const BINARIES = [
  ['nvidia-smi', 'utility'],
  ['nvidia-debugdump', 'utility'],
  ['nvidia-persistenced', 'utility'],
  ['nv-fabricmanager', 'utility'],
  ['nvidia-cuda-mps-control', 'compute'],
  ['nvidia-cuda-mps-server', 'compute'],
];

/** The loaders' vendor files of the simulated host (all in /usr/share, naming libraries by bare name there). */
const VENDOR_FILES = [
  'glvnd/egl_vendor.d/10_nvidia.json',
  'egl/egl_external_platform.d/10_nvidia_wayland.json',
  'egl/egl_external_platform.d/15_nvidia_gbm.json',
  'egl/egl_external_platform.d/20_nvidia_xcb.json',
  'egl/egl_external_platform.d/20_nvidia_xlib.json',
  'vulkan/icd.d/nvidia_icd.json',
  'vulkan/implicit_layer.d/nvidia_layers.json',
];
/** The EGL external platforms' library files (lib/testing SIMULATED_EGL_PLATFORMS). */
const EGL_PLATFORM_LIBRARIES = ['libnvidia-egl-wayland.so.1.1.19', 'libnvidia-egl-gbm.so.1.1.2', 'libnvidia-egl-xcb.so.1.0.1', 'libnvidia-egl-xlib.so.1.0.1'];

/** Character device majors the simulated host uses (lib/testing SIMULATED_MAJORS). */
const MAJOR = { nvidia: 195, uvm: 238, caps: 241, imex: 242, drm: 226 };
const NVIDIACTL_MINOR = 255;
const MIG_CONFIG_MINOR = 1;
const MIG_MONITOR_MINOR = 2;

/** The driver's nvidia-caps numbering (mig-minors): 15 GPU instances of 9 per GPU minor after config and monitor. */
function capMinor(gpuMinor, gi, ci) {
  const base = 3 + gpuMinor * 135 + gi * 9;
  return ci === undefined ? base : base + 1 + ci;
}

const F = {
  lib: ['ro', 'nosuid', 'nodev'],
  dev: ['ro', 'nosuid', 'noexec'],
  ipc: ['nosuid', 'nodev', 'noexec'],
  proc: ['ro', 'nosuid', 'nodev', 'noexec'],
  procTmpfs: ['ro', 'nosuid', 'nodev', 'noexec'],
  profileTmpfs: ['nosuid', 'nodev', 'noexec'],
  capsDir: ['nosuid', 'noexec'],
};

function busProcName(gpu) {
  const hex = (n, w) => n.toString(16).padStart(w, '0');
  return `${hex(gpu.pci.domain, 4)}:${hex(gpu.pci.bus, 2)}:${hex(gpu.pci.device, 2)}.0`;
}

/**
 * hostModel: { spec, root, devRoot, procRoot } of a simulated host the test made.
 * request: { capabilities, compat32, gpus: [index...], migs: [[gpuIndex, migOrdinal]...],
 *            migConfig, migMonitor, imex: [ids], noCgroups, noDevbind, noPersistenced,
 *            noFabricmanager, noGspFirmware }
 * Returns { mounts: Map(target -> { type: 'bind'|'tmpfs', source, flags }), rules: string[] ("c M:m rw"), files: Map(target -> mode) }.
 */
function expectedContainer(hostModel, request) {
  const { spec, root, devRoot, procRoot } = hostModel;
  const caps = new Set(request.capabilities || []);
  const has = (c) => caps.has(c);
  const graphics = has('graphics') || has('display');
  const computeLibs = has('compute') || has('video');
  const ver = spec.driverVersion;
  const mounts = new Map();
  const rules = new Set();
  const bind = (target, source, flags) => mounts.set(target, { type: 'bind', source, flags });
  const device = (target, source, major, minor) => {
    if (!request.noDevbind) bind(target, source, F.dev);
    if (!request.noCgroups) rules.add(`c ${major}:${minor} rw`);
  };
  const libWanted = (cap) => has(cap) || (cap === 'graphics' && has('display')) || (cap === 'compute' && has('video'));

  mounts.set('/proc/driver/nvidia', { type: 'tmpfs', flags: F.procTmpfs });
  if (graphics) mounts.set('/etc/nvidia/nvidia-application-profiles-rc.d', { type: 'tmpfs', flags: F.profileTmpfs });
  for (const [bin, cap] of BINARIES) if (has(cap)) bind(`/usr/bin/${bin}`, `${root}/usr/bin/${bin}`, F.lib);
  for (const [stem, cap, has32] of LIBRARIES) {
    if (!libWanted(cap)) continue;
    bind(`${LIBDIR}/${stem}.so.${ver}`, `${root}${LIBDIR}/${stem}.so.${ver}`, F.lib);
    if (request.compat32 && has32 && spec.compat32 !== false) bind(`${LIB32DIR}/${stem}.so.${ver}`, `${root}${LIB32DIR}/${stem}.so.${ver}`, F.lib);
  }
  if (graphics) {
    for (const lib of EGL_PLATFORM_LIBRARIES) bind(`${LIBDIR}/${lib}`, `${root}${LIBDIR}/${lib}`, F.lib);
    for (const rel of VENDOR_FILES) bind(`/usr/share/${rel}`, `${root}/usr/share/${rel}`, F.proc);
  }
  if (has('compute')) bind('/etc/OpenCL/vendors/nvidia.icd', `${root}/etc/OpenCL/vendors/nvidia.icd`, F.proc);
  if (spec.firmware !== false && !request.noGspFirmware) {
    for (const fw of ['gsp_ga10x.bin', 'gsp_tu10x.bin']) bind(`/lib/firmware/nvidia/${ver}/${fw}`, `${root}/lib/firmware/nvidia/${ver}/${fw}`, F.lib);
  }
  if (has('utility')) {
    if (spec.persistenced !== false && !request.noPersistenced) bind('/run/nvidia-persistenced/socket', `${root}/run/nvidia-persistenced/socket`, F.ipc);
    if (spec.fabricmanager !== false && !request.noFabricmanager) bind('/run/nvidia-fabricmanager/socket', `${root}/run/nvidia-fabricmanager/socket`, F.ipc);
  }
  if (computeLibs && spec.mps !== false) bind('/tmp/nvidia-mps', `${root}/tmp/nvidia-mps`, F.ipc);

  device('/dev/nvidiactl', `${devRoot}/nvidiactl`, MAJOR.nvidia, NVIDIACTL_MINOR);
  if (computeLibs) {
    device('/dev/nvidia-uvm', `${devRoot}/nvidia-uvm`, MAJOR.uvm, 0);
    device('/dev/nvidia-uvm-tools', `${devRoot}/nvidia-uvm-tools`, MAJOR.uvm, 1);
  }

  const gpus = (request.gpus || []).map((i) => spec.gpus[i]);
  for (const g of gpus) {
    device(`/dev/nvidia${g.minor}`, `${devRoot}/nvidia${g.minor}`, MAJOR.nvidia, g.minor);
    const dir = `/proc/driver/nvidia/gpus/${busProcName(g)}`;
    bind(dir, `${procRoot}/driver/nvidia/gpus/${busProcName(g)}`, F.proc);
    // With nvidia-drm, the GPU's DRM nodes for graphics, video and display (lib/testing gpuDrmNumbers).
    if (spec.nvidiaDrm && (graphics || has('video'))) {
      const position = spec.gpus.indexOf(g);
      const drm = g.drm || { card: position, render: 128 + position };
      device(`/dev/dri/card${drm.card}`, `${devRoot}/dri/card${drm.card}`, MAJOR.drm, drm.card);
      device(`/dev/dri/renderD${drm.render}`, `${devRoot}/dri/renderD${drm.render}`, MAJOR.drm, drm.render);
    }
  }
  const files = new Map();
  if (graphics && gpus.length > 0) {
    files.set('/etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf', 0o555);
  }
  if (!request.migConfig && !request.migMonitor) {
    for (const [gi, mi] of request.migs || []) {
      const g = spec.gpus[gi];
      const m = g.migDevices[mi];
      const giPath = `/proc/driver/nvidia/capabilities/gpu${g.minor}/mig/gi${m.gpuInstance}`;
      const ciPath = `${giPath}/ci${m.computeInstance}`;
      bind(`${giPath}/access`, `${procRoot}${giPath.slice('/proc'.length)}/access`, F.proc);
      bind(`${ciPath}/access`, `${procRoot}${ciPath.slice('/proc'.length)}/access`, F.proc);
      const giMinor = capMinor(g.minor, m.gpuInstance);
      const ciMinor = capMinor(g.minor, m.gpuInstance, m.computeInstance);
      device(`/dev/nvidia-caps/nvidia-cap${giMinor}`, `${devRoot}/nvidia-caps/nvidia-cap${giMinor}`, MAJOR.caps, giMinor);
      device(`/dev/nvidia-caps/nvidia-cap${ciMinor}`, `${devRoot}/nvidia-caps/nvidia-cap${ciMinor}`, MAJOR.caps, ciMinor);
    }
  }
  for (const [on, minor] of [
    [request.migConfig, MIG_CONFIG_MINOR],
    [request.migMonitor, MIG_MONITOR_MINOR],
  ]) {
    if (!on) continue;
    bind('/proc/driver/nvidia/capabilities', `${procRoot}/driver/nvidia/capabilities`, F.proc);
    if (!request.noDevbind) bind('/dev/nvidia-caps', `${devRoot}/nvidia-caps`, F.capsDir);
    if (request.noCgroups) continue;
    rules.add(`c ${MAJOR.caps}:${minor} rw`);
    // Every MIG capability of each visible MIG-capable GPU, by its minor (mig-minors).
    for (const g of gpus) {
      if (g.mig === 'unsupported') continue;
      for (let gi = 0; gi < 15; gi++) {
        rules.add(`c ${MAJOR.caps}:${capMinor(g.minor, gi)} rw`);
        for (let ci = 0; ci < 8; ci++) rules.add(`c ${MAJOR.caps}:${capMinor(g.minor, gi, ci)} rw`);
      }
    }
  }
  for (const id of request.imex || [])
    device(`/dev/nvidia-caps-imex-channels/channel${id}`, `${devRoot}/nvidia-caps-imex-channels/channel${id}`, MAJOR.imex, id);
  return { mounts, rules: [...rules].sort(), files };
}

/** The EGL application profile's visibility mask for GPU minors (study §4.3: bit = minor). */
function eglMask(minors) {
  return `0x${minors.reduce((m, minor) => m | (1n << BigInt(minor)), 0n).toString(16)}`;
}

module.exports = { expectedContainer, capMinor, eglMask, busProcName, LIBDIR, LIB32DIR, LIBRARIES, BINARIES, MAJOR, VENDOR_FILES, EGL_PLATFORM_LIBRARIES };
