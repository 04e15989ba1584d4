/**
 * The selection stage: from host facts and a request, the items a container gets (see
 * items.ts), container-independent. Devices are selected and requirements checked first
 * (resolveRequest), so a refused request changes nothing anywhere.
 */
import * as path from 'node:path';
import { drmByPathLink } from '../host-drm';
import { devSource, procSource, rootSource, type HostFacts } from '../host-facts';
import { checkRequirements } from '../require';
import { parseImexChannels, selectDevices, selectMigCapsDevices, type DeviceSelection, type MigSelection } from '../select';
import type { Capability, Device, DriverFile } from '../types';
import {
  APP_PROFILE_DIR,
  APP_PROFILE_FILE,
  CAPS_PROC_DIR,
  MIG_CAPS_DIR,
  NVCAPS_DEVICE_DIR,
  PROC_DIR,
  capNodePath,
  deviceTagOf,
  imexNodePath,
  type IpcKind,
  type Item,
  type PlanStep,
  type Selection,
} from './items';

/** A request as callers give it (validated, not yet resolved against the host's devices). */
export interface SelectionRequest {
  /** Indices, UUIDs, bus ids, gpu:mig pairs or "all"; undefined: no GPU (driver files only). */
  devices?: string | string[];
  capabilities: Capability[];
  compat32: boolean;
  require: string[];
  migConfig?: string | string[];
  migMonitor?: string | string[];
  imexChannels?: string | string[];
  noPersistenced: boolean;
  noFabricmanager: boolean;
  noGspFirmware: boolean;
}

/** A request resolved against the host: selected devices, parsed channels. */
export interface ResolvedRequest {
  capabilities: Capability[];
  compat32: boolean;
  gpus: Device[];
  migs: MigSelection[];
  /** MIG-capable GPUs whose config / monitor capabilities are given, and whether `all` was asked. */
  migConfigGpus: Device[];
  migMonitorGpus: Device[];
  migConfig: boolean;
  migMonitor: boolean;
  imexChannels: number[];
  noPersistenced: boolean;
  noFabricmanager: boolean;
  noGspFirmware: boolean;
}

/** The facts selection reads (a HostFacts, or a hand-made one in tests). */
export type SelectionFacts = Pick<HostFacts, 'driver' | 'procFiles' | 'gpuProcDirs' | 'migMinors' | 'nodeExists'> &
  /** Absent in hand-made facts: no DRM nodes and no graphics files are selected then. */
  Partial<Pick<HostFacts, 'drm' | 'graphics' | 'notes'>> & {
    paths: Pick<HostFacts['paths'], 'root' | 'procRoot' | 'devRoot'>;
  };

function deviceLabel(d: Device): string {
  return `GPU ${d.index} (${d.model}, ${d.uuid})`;
}

/** Select devices and check requirements: each visible GPU and each visible MIG device's parent must meet all. */
export function resolveRequest(facts: Pick<HostFacts, 'driver' | 'devices'>, request: SelectionRequest): ResolvedRequest {
  const visible: DeviceSelection = request.devices === undefined ? { gpus: [], migs: [], all: false } : selectDevices(facts.devices, request.devices);
  const migConfig = selectMigCapsDevices('mig-config', request.migConfig, visible);
  const migMonitor = selectMigCapsDevices('mig-monitor', request.migMonitor, visible);
  const imexChannels = parseImexChannels(request.imexChannels);
  const checked = [...visible.gpus];
  for (const { gpu } of visible.migs) if (!checked.includes(gpu)) checked.push(gpu);
  checkRequirements(request.require, {
    cudaVersion: facts.driver.cudaVersion,
    driverVersion: facts.driver.version,
    devices: checked.map((d) => ({ label: deviceLabel(d), architecture: d.architecture, brand: d.brand })),
  });
  return {
    capabilities: request.capabilities,
    compat32: request.compat32,
    gpus: visible.gpus,
    migs: visible.migs,
    migConfigGpus: migConfig.gpus,
    migMonitorGpus: migMonitor.gpus,
    migConfig: migConfig.all,
    migMonitor: migMonitor.all,
    imexChannels,
    noPersistenced: request.noPersistenced,
    noFabricmanager: request.noFabricmanager,
    noGspFirmware: request.noGspFirmware,
  };
}

/** The library/binary/IPC capability rules (study §10.2): video needs the compute libraries as well. */
function wanted(file: DriverFile, caps: ReadonlySet<Capability>, kind: 'library' | 'other'): boolean {
  if (kind === 'library' && file.capabilities.includes('compute') && caps.has('video')) return true;
  return file.capabilities.some((c) => caps.has(c));
}

/** Which daemon an IPC path belongs to, from its directory (/run/nvidia-persistenced/socket...). */
function ipcKind(file: DriverFile): IpcKind {
  if (file.path.includes('/nvidia-persistenced/')) return 'persistenced';
  if (file.path.includes('/nvidia-fabricmanager/')) return 'fabricmanager';
  return 'mps';
}

/** The first `ModifyDeviceFiles: 1` becomes 0, so NVML inside never tries to create device nodes. */
export function rewriteParams(params: string): string {
  return params.replace(/^ModifyDeviceFiles: 1$/m, 'ModifyDeviceFiles: 0');
}

/**
 * EGL application profile making only the selected GPUs visible (bit = device minor). The
 * driver's profile parser takes a bare hexadecimal number here, which strict JSON lacks.
 */
export function applicationProfile(minors: number[]): string {
  const mask = minors.reduce((m, minor) => m | (1n << BigInt(minor)), 0n);
  return [
    '{',
    '  "profiles": [',
    `    { "name": "_container_", "settings": ["EGLVisibleDGPUDevices", 0x${mask.toString(16)}] }`,
    '  ],',
    '  "rules": [',
    '    { "pattern": [], "profile": "_container_" }',
    '  ]',
    '}',
    '',
  ].join('\n');
}

/** The capabilities that want the GPUs' DRM nodes. */
const DRM_CAPABILITIES: readonly Capability[] = ['graphics', 'video', 'display'];

/** Why the request gets no DRM node for some GPUs, and how to change that. */
function drmWarnings(facts: SelectionFacts, request: ResolvedRequest): string[] {
  const drm = facts.drm;
  const asked = DRM_CAPABILITIES.filter((c) => request.capabilities.includes(c));
  if (drm === undefined || asked.length === 0) return [];
  const without = request.gpus.filter((g) => (drm.nodes[g.busId] ?? []).length === 0);
  if (without.length === 0) return [];
  const names = asked.length > 1 ? `${asked.slice(0, -1).join(', ')} and ${asked[asked.length - 1]}` : asked.join('');
  const what = `the ${names} capabilit${asked.length > 1 ? 'ies' : 'y'}`;
  if (!drm.moduleLoaded) {
    return [
      `${what} would give the GPUs' DRM nodes (/dev/dri), but the nvidia_drm kernel module is not loaded, so the container gets none; ` +
        'load it with modeset=1 (nvc-ts modules load nvidia-drm, or modprobe nvidia-drm modeset=1)',
    ];
  }
  return without.map(
    (g) =>
      `${deviceLabel(g)} has no DRM node in sysfs (bus/pci/devices/${drm.sysBusIds[g.busId] ?? g.busId}/drm) although nvidia_drm is loaded; ` +
      `the container gets no /dev/dri node for it (is nvidia_drm loaded with modeset=1?)`,
  );
}

export function selectItems(facts: SelectionFacts, request: ResolvedRequest): Selection {
  const { driver, paths } = facts;
  const caps = new Set(request.capabilities);
  const graphics = caps.has('graphics') || caps.has('display');
  const computeLibs = caps.has('compute') || caps.has('video');
  const drmNodes = DRM_CAPABILITIES.some((c) => caps.has(c));
  const items: Item[] = [];
  let step: PlanStep = 'driver';
  const add = (item: Omit<Item, 'step' | 'device'> & Partial<Pick<Item, 'device'>>): void => {
    items.push({ device: null, ...item, step });
  };

  // driver_mount: the driver's proc files (params rewritten), the profile directory, binaries,
  // libraries, firmware, IPC, control devices.
  for (const name of ['params', 'version', 'registry'] as const) {
    const text = facts.procFiles[name];
    const p = `${PROC_DIR}/${name}`;
    if (text === undefined) add({ role: 'proc-file', path: p, missing: true });
    else add({ role: 'proc-file', path: p, data: name === 'params' ? rewriteParams(text) : text });
  }
  if (graphics) add({ role: 'app-profile-dir', path: APP_PROFILE_DIR });
  for (const bin of driver.binaries) {
    if (wanted(bin, caps, 'other')) add({ role: 'binary', path: bin.path, hostPath: rootSource(paths.root, bin.path), capabilities: bin.capabilities });
  }
  const libSets: ['library' | 'library32', DriverFile[]][] = [['library', driver.libraries]];
  if (request.compat32) libSets.push(['library32', driver.libraries32]);
  for (const [role, libs] of libSets) {
    for (const lib of libs) {
      if (!wanted(lib, caps, 'library')) continue;
      add({
        role,
        path: lib.path,
        hostPath: rootSource(paths.root, lib.path),
        capabilities: lib.capabilities,
        ...(lib.soname !== undefined && { soname: lib.soname }),
      });
    }
  }
  // The EGL external platforms' libraries, then the loaders' vendor files and the X server modules.
  for (const lib of facts.graphics?.libraries ?? []) {
    if (!wanted(lib, caps, 'library')) continue;
    add({
      role: 'library',
      path: lib.path,
      hostPath: rootSource(paths.root, lib.path),
      capabilities: lib.capabilities,
      ...(lib.soname !== undefined && { soname: lib.soname }),
    });
  }
  for (const file of facts.graphics?.files ?? []) {
    if (!file.capabilities.some((c) => caps.has(c))) continue;
    add({
      role: file.kind === 'xorg-driver' || file.kind === 'xorg-glx' ? 'xorg-module' : 'graphics-file',
      path: file.target,
      hostPath: rootSource(paths.root, file.path),
      capabilities: file.capabilities,
      ...(file.data !== undefined && { data: file.data }),
    });
  }
  if (!request.noGspFirmware) {
    for (const fw of driver.firmware) add({ role: 'firmware', path: fw.path, hostPath: rootSource(paths.root, fw.path) });
  }
  for (const ipc of driver.ipcs) {
    const kind = ipcKind(ipc);
    if ((kind === 'persistenced' && request.noPersistenced) || (kind === 'fabricmanager' && request.noFabricmanager)) continue;
    // The MPS directory (a compute IPC) comes with the compute libraries, sockets with their capability.
    const computeIpc = ipc.capabilities.includes('compute');
    if (computeIpc ? !computeLibs : !wanted(ipc, caps, 'other')) continue;
    add({ role: computeIpc ? 'ipc-dir' : 'ipc-socket', path: ipc.path, hostPath: rootSource(paths.root, ipc.path), ipc: kind });
  }
  for (const node of driver.deviceNodes) {
    const name = path.basename(node.path);
    const needed =
      name === 'nvidiactl' || ((name === 'nvidia-uvm' || name === 'nvidia-uvm-tools') && computeLibs) || (name === 'nvidia-modeset' && caps.has('display'));
    if (!needed) continue;
    add({
      role: 'control-device',
      path: node.path,
      hostPath: devSource(paths.devRoot, node.path),
      node: { major: node.major, minor: node.minor, exists: node.exists },
      ...(!node.exists && { missing: true as const }),
    });
  }

  // device_mount, per GPU: with graphics the EGL profile of all of them, then each GPU's node
  // and procfs directory.
  step = 'device';
  if (graphics && request.gpus.length > 0) add({ role: 'app-profile', path: APP_PROFILE_FILE, data: applicationProfile(request.gpus.map((g) => g.minor)) });
  for (const gpu of request.gpus) {
    const device = deviceTagOf(gpu);
    const n = gpu.deviceNode;
    add({
      role: 'gpu-device',
      path: n.path,
      hostPath: devSource(paths.devRoot, n.path),
      node: { major: n.major, minor: n.minor, exists: facts.nodeExists(n.path) },
      device,
    });
    const dir = facts.gpuProcDirs[gpu.busId];
    if (dir) {
      const p = `${PROC_DIR}/gpus/${dir}`;
      add({ role: 'gpu-procfs', path: p, hostPath: procSource(paths.procRoot, p), device });
    } else {
      add({ role: 'gpu-procfs', path: `${PROC_DIR}/gpus/${gpu.busId}`, missing: true, device });
    }
    if (!drmNodes || facts.drm === undefined) continue;
    const sysBus = facts.drm.sysBusIds[gpu.busId] ?? gpu.busId;
    const linked = new Set<string>();
    for (const n of facts.drm.nodes[gpu.busId] ?? []) {
      add({
        role: 'drm-device',
        path: n.path,
        hostPath: devSource(paths.devRoot, n.path),
        node: { major: n.major, minor: n.minor, exists: n.exists },
        device,
        ...(!n.exists && { missing: true as const }),
      });
      // udev's by-path link names one node of each kind.
      if (!n.exists || linked.has(n.kind)) continue;
      linked.add(n.kind);
      add({ role: 'drm-link', path: drmByPathLink(sysBus, n.kind), link: `../${n.name}`, device });
    }
  }

  // MIG: per-device access caps, unless the whole config/monitor caps are given.
  step = 'mig-access';
  if (!request.migConfig && !request.migMonitor) {
    for (const { gpu, mig } of request.migs) {
      const device = deviceTagOf(gpu, mig.index, mig.uuid);
      for (const [capsPath, minor] of [
        [mig.giCapsPath, mig.giCapMinor],
        [mig.ciCapsPath, mig.ciCapMinor],
      ] as const) {
        const access = `${capsPath}/access`;
        add({ role: 'mig-access', path: access, hostPath: procSource(paths.procRoot, access), device });
        if (driver.nvcapsMajor !== null && minor !== null) {
          const node = capNodePath(minor);
          add({
            role: 'mig-cap-device',
            path: node,
            hostPath: devSource(paths.devRoot, node),
            node: { major: driver.nvcapsMajor, minor, exists: facts.nodeExists(node) },
            device,
          });
        }
      }
    }
  }
  for (const [enabled, which, minor, gpus] of [
    [request.migConfig, 'config', driver.migConfigMinor, request.migConfigGpus],
    [request.migMonitor, 'monitor', driver.migMonitorMinor, request.migMonitorGpus],
  ] as const) {
    if (!enabled) continue;
    step = which === 'config' ? 'mig-config' : 'mig-monitor';
    const major = driver.nvcapsMajor;
    const globalCap = `${MIG_CAPS_DIR}/${which}`;
    add({ role: 'mig-caps-procfs', path: CAPS_PROC_DIR, hostPath: procSource(paths.procRoot, CAPS_PROC_DIR), migCaps: which });
    add({
      role: 'mig-global-cap',
      path: globalCap,
      hostPath: procSource(paths.procRoot, globalCap),
      migCaps: which,
      ...(major !== null && minor !== null && { node: { major, minor, exists: facts.nodeExists(capNodePath(minor)) } }),
    });
    if (major !== null) add({ role: 'mig-caps-devdir', path: NVCAPS_DEVICE_DIR, hostPath: devSource(paths.devRoot, NVCAPS_DEVICE_DIR), migCaps: which });
    for (const gpu of gpus) {
      const device = deviceTagOf(gpu);
      add({ role: 'mig-gpu-caps', path: gpu.mig.capsPath, hostPath: procSource(paths.procRoot, gpu.mig.capsPath), migCaps: which, device });
      if (major === null) continue;
      for (const { gpuMinor, capMinor } of facts.migMinors) {
        if (gpuMinor !== gpu.minor) continue;
        const node = capNodePath(capMinor);
        add({
          role: 'mig-minor-device',
          path: node,
          hostPath: devSource(paths.devRoot, node),
          node: { major, minor: capMinor, exists: facts.nodeExists(node) },
          migCaps: which,
          device,
        });
      }
    }
  }

  step = 'imex';
  for (const id of request.imexChannels) {
    const node = imexNodePath(id);
    const exists = facts.nodeExists(node);
    add({
      role: 'imex-channel',
      path: node,
      hostPath: devSource(paths.devRoot, node),
      node: { major: driver.imexMajor, minor: id, exists },
      ...(!exists && { missing: true as const }),
    });
  }

  return {
    items,
    gpus: request.gpus,
    capabilities: request.capabilities,
    compat32: request.compat32,
    warnings: drmWarnings(facts, request),
    notes: facts.notes ?? [],
  };
}
