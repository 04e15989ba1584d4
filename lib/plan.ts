/**
 * The planner: from host facts and a request, the list of edits that make a container's
 * rootfs GPU-ready, as plain data. Executors apply it (in the container's mount namespace),
 * print it (`configure --dry-run --json`), and (later) turn it into a CDI spec. Pure: no I/O here;
 * the caller reads the few host files it needs (PlanHostFacts).
 */
import * as path from 'node:path';
import { NvcError } from './errors';
import type { Capability, Device, DriverFile, DriverInfo, MigDevice } from './types';

export type MountFlag = 'ro' | 'nosuid' | 'nodev' | 'noexec';
export type SourceKind = 'file' | 'dir' | 'char' | 'socket' | 'any';

/** The nvc lifecycle step an edit belongs to (driver_mount, device_mount, ...). */
export type PlanStep = 'driver' | 'device' | 'mig-access' | 'mig-config' | 'mig-monitor' | 'imex' | 'seal';

export type Edit =
  | { kind: 'mkdir'; target: string; mode: number }
  | { kind: 'tmpfs'; target: string; mode: number; flags: MountFlag[] }
  | { kind: 'write'; target: string; data: string; mode: number }
  | {
      kind: 'bind';
      target: string;
      source: string;
      sourceKind: SourceKind;
      major?: number;
      minor?: number;
      flags: MountFlag[];
      optional?: boolean;
    }
  | { kind: 'symlink'; target: string; link: string }
  | { kind: 'remount'; target: string; flags: MountFlag[] };

export interface DeviceRule {
  type: 'c';
  major: number;
  minor: number;
  access: 'rw';
  /** The node the rule is for, for messages. */
  path: string;
  step: PlanStep;
}

export interface ContainerLayout {
  /** Container directories the driver files go to. */
  libsDir: string;
  libs32Dir: string;
  binsDir: string;
}

export interface ConfigureRequest {
  capabilities: Capability[];
  compat32: boolean;
  /** Selected GPUs and MIG devices (see selectDevices). */
  gpus: Device[];
  migs: { gpu: Device; mig: MigDevice }[];
  /** GPUs whose MIG config / monitor capabilities are given (`--mig-config all`), empty otherwise. */
  migConfigGpus: Device[];
  migMonitorGpus: Device[];
  migConfig: boolean;
  migMonitor: boolean;
  imexChannels: number[];
  noCgroups: boolean;
  noDevbind: boolean;
  noPersistenced: boolean;
  noFabricmanager: boolean;
  noGspFirmware: boolean;
  /** ldconfig to run: "@/sbin/ldconfig" (host binary) or a container path; null to skip. */
  ldconfig: string | null;
}

/** Host facts the planner needs beyond DriverInfo, read by the caller. */
export interface PlanHostFacts {
  /** Host paths: the driver root, and the proc and dev roots the sources come from. */
  root: string;
  procRoot: string;
  devRoot: string;
  /** Contents of <procRoot>/driver/nvidia/{params,version,registry}; undefined when absent. */
  procFiles: { params?: string; version?: string; registry?: string };
  /** For each GPU bus id, the directory name that exists under <procRoot>/driver/nvidia/gpus (8- or 4-digit domain), or null. */
  gpuProcDirs: Record<string, string | null>;
  /** MIG minors per GPU minor, from <procRoot>/driver/nvidia-caps/mig-minors (for mig-config/monitor cgroup rules). */
  migMinors: Record<number, number[]>;
  /** For each requested IMEX channel: whether its node exists under the dev root. */
  imexNodes?: Record<number, boolean>;
}

export interface ContainerPlan {
  edits: Edit[];
  /** steps[i] is the lifecycle step of edits[i]. */
  steps: PlanStep[];
  cgroupRules: DeviceRule[];
  ldconfig: { path: string; dirs: string[] } | null;
  warnings: string[];
}

const LIB_FLAGS: MountFlag[] = ['ro', 'nosuid', 'nodev'];
const PROC_FLAGS: MountFlag[] = ['ro', 'nosuid', 'nodev', 'noexec'];
const DEV_FLAGS: MountFlag[] = ['ro', 'nosuid', 'noexec'];
const IPC_FLAGS: MountFlag[] = ['nosuid', 'nodev', 'noexec'];
const PROC_DIR = '/proc/driver/nvidia';
const APP_PROFILE_DIR = '/etc/nvidia/nvidia-application-profiles-rc.d';

/** Which container capabilities select each kind of driver file (study §10.2). */
function wanted(file: DriverFile, caps: ReadonlySet<Capability>, kind: 'library' | 'binary' | 'ipc'): boolean {
  const has = (c: Capability): boolean => file.capabilities.includes(c);
  if (kind === 'library') {
    // video needs the compute libraries as well.
    if (has('compute') && (caps.has('compute') || caps.has('video'))) return true;
    return file.capabilities.some((c) => c !== 'compute' && caps.has(c));
  }
  return file.capabilities.some((c) => caps.has(c));
}

function hostPath(root: string, inside: string): string {
  return root === '/' ? inside : path.join(root, inside);
}

/** /proc/driver/... -> <procRoot>/driver/... */
function procSource(procRoot: string, procPath: string): string {
  return path.join(procRoot, procPath.replace(/^\/proc\/?/, ''));
}

/** /dev/nvidia0 -> <devRoot>/nvidia0 */
function devSource(devRoot: string, devPath: string): string {
  return path.join(devRoot, devPath.replace(/^\/dev\/?/, ''));
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

class Builder {
  readonly edits: Edit[] = [];
  readonly rules: DeviceRule[] = [];
  readonly warnings: string[] = [];
  readonly steps: PlanStep[] = [];
  step: PlanStep = 'driver';
  readonly #targets = new Set<string>();

  constructor(private readonly request: ConfigureRequest) {}

  add(edit: Edit): void {
    // Two edits for one path would make the second fail or shadow the first: keep the first.
    if (edit.kind !== 'remount' && this.#targets.has(edit.target)) return;
    this.#targets.add(edit.target);
    this.edits.push(edit);
    this.steps.push(this.step);
  }

  device(target: string, source: string, major: number, minor: number): void {
    if (!this.request.noDevbind) this.add({ kind: 'bind', target, source, sourceKind: 'char', major, minor, flags: DEV_FLAGS });
    if (!this.request.noCgroups && !this.rules.some((r) => r.major === major && r.minor === minor)) {
      this.rules.push({ type: 'c', major, minor, access: 'rw', path: target, step: this.step });
    }
  }
}

export function planContainer(driver: DriverInfo, host: PlanHostFacts, layout: ContainerLayout, request: ConfigureRequest): ContainerPlan {
  const caps = new Set(request.capabilities);
  const b = new Builder(request);
  const graphics = caps.has('graphics') || caps.has('display');

  // 1. /proc/driver/nvidia: a tmpfs with copies of the driver's files (params rewritten).
  const procFiles: [string, string | undefined, number][] = [
    ['params', host.procFiles.params === undefined ? undefined : rewriteParams(host.procFiles.params), 0o444],
    ['version', host.procFiles.version, 0o444],
    ['registry', host.procFiles.registry, 0o444],
  ];
  b.add({ kind: 'tmpfs', target: PROC_DIR, mode: 0o555, flags: ['nosuid', 'nodev', 'noexec'] });
  for (const [name, data, mode] of procFiles) {
    if (data === undefined) b.warnings.push(`${PROC_DIR}/${name} is missing on the host; the container gets none`);
    else b.add({ kind: 'write', target: `${PROC_DIR}/${name}`, data, mode });
  }

  // 2. Application profiles for graphics: a tmpfs holding the EGL visibility profile.
  if (graphics) b.add({ kind: 'tmpfs', target: APP_PROFILE_DIR, mode: 0o555, flags: ['nosuid', 'nodev', 'noexec'] });

  // 3-5. Binaries, libraries, 32-bit libraries.
  for (const bin of driver.binaries) {
    if (wanted(bin, caps, 'binary')) b.add({ kind: 'bind', target: path.posix.join(layout.binsDir, path.basename(bin.path)), source: hostPath(host.root, bin.path), sourceKind: 'file', flags: LIB_FLAGS });
  }
  const libSets: [DriverFile[], string][] = [[driver.libraries, layout.libsDir]];
  if (request.compat32) libSets.push([driver.libraries32, layout.libs32Dir]);
  for (const [libs, dir] of libSets) {
    const mounted: string[] = [];
    for (const lib of libs) {
      if (!wanted(lib, caps, 'library')) continue;
      const name = path.basename(lib.path);
      b.add({ kind: 'bind', target: path.posix.join(dir, name), source: hostPath(host.root, lib.path), sourceKind: 'file', flags: LIB_FLAGS });
      mounted.push(name);
      // SONAME link, so the library resolves before (and without) ldconfig.
      if (lib.soname && lib.soname !== name) b.add({ kind: 'symlink', target: path.posix.join(dir, lib.soname), link: name });
    }
    // 6. The development links the reference adds.
    const links: [RegExp, string, (real: string) => string][] = [
      [/^libcuda\.so\./, 'libcuda.so', () => 'libcuda.so.1'],
      [/^libnvidia-opticalflow\.so\./, 'libnvidia-opticalflow.so', () => 'libnvidia-opticalflow.so.1'],
      [/^libGLX_nvidia\.so\./, 'libGLX_indirect.so.0', (real) => real],
    ];
    for (const [pattern, linkName, target] of links) {
      const real = mounted.find((n) => pattern.test(n));
      if (real) b.add({ kind: 'symlink', target: path.posix.join(dir, linkName), link: target(real) });
    }
  }

  // 8. GSP firmware, at the same path as on the host.
  if (!request.noGspFirmware) {
    for (const fw of driver.firmware) b.add({ kind: 'bind', target: fw.path, source: hostPath(host.root, fw.path), sourceKind: 'file', flags: LIB_FLAGS });
  }

  // 9. IPC: persistenced and fabricmanager sockets with utility, the MPS directory with compute.
  for (const ipc of driver.ipcs) {
    if (request.noPersistenced && ipc.path.includes('nvidia-persistenced')) continue;
    if (request.noFabricmanager && ipc.path.includes('nvidia-fabricmanager')) continue;
    const computeIpc = ipc.capabilities.includes('compute');
    if (computeIpc ? !(caps.has('compute') || caps.has('video')) : !wanted(ipc, caps, 'ipc')) continue;
    b.add({ kind: 'bind', target: ipc.path, source: hostPath(host.root, ipc.path), sourceKind: computeIpc ? 'dir' : 'socket', flags: IPC_FLAGS });
  }

  // 10. Control devices.
  const computeLibs = caps.has('compute') || caps.has('video');
  for (const node of driver.deviceNodes) {
    const name = path.basename(node.path);
    if (name === 'nvidia-uvm' || name === 'nvidia-uvm-tools') {
      if (!computeLibs) continue;
    } else if (name === 'nvidia-modeset') {
      if (!caps.has('display')) continue;
      if (!node.exists) {
        throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `the display capability needs ${node.path}, which this host lacks (the nvidia_modeset kernel module is not loaded)`, {
          path: node.path,
          hint: 'load the module (modprobe nvidia-modeset) or drop the display capability',
        });
      }
    } else if (name !== 'nvidiactl') continue;
    if (!node.exists) {
      b.warnings.push(`${node.path} is missing on the host; the container gets none`);
      continue;
    }
    b.device(node.path, devSource(host.devRoot, node.path), node.major, node.minor);
  }

  // device_mount, per GPU: its node and its procfs directory; with graphics, the EGL
  // profile that makes only these GPUs visible (in the tmpfs driver_mount made).
  b.step = 'device';
  if (graphics && request.gpus.length > 0) {
    b.add({ kind: 'write', target: `${APP_PROFILE_DIR}/10-container.conf`, data: applicationProfile(request.gpus.map((g) => g.minor)), mode: 0o555 });
  }
  for (const gpu of request.gpus) {
    b.device(gpu.deviceNode.path, devSource(host.devRoot, gpu.deviceNode.path), gpu.deviceNode.major, gpu.deviceNode.minor);
    const dir = host.gpuProcDirs[gpu.busId];
    if (dir) {
      const target = `${PROC_DIR}/gpus/${dir}`;
      b.add({ kind: 'bind', target, source: procSource(host.procRoot, target), sourceKind: 'dir', flags: PROC_FLAGS });
    } else {
      b.warnings.push(`${PROC_DIR}/gpus/${gpu.busId} is missing on the host; the container gets none`);
    }
  }

  // MIG: per-device access caps, unless the whole config/monitor caps are given.
  b.step = 'mig-access';
  const capsNode = (minor: number): string => `/dev/nvidia-caps/nvidia-cap${minor}`;
  if (!request.migConfig && !request.migMonitor) {
    for (const { mig } of request.migs) {
      for (const [capsPath, minor] of [[mig.giCapsPath, mig.giCapMinor], [mig.ciCapsPath, mig.ciCapMinor]] as const) {
        const access = `${capsPath}/access`;
        b.add({ kind: 'bind', target: access, source: procSource(host.procRoot, access), sourceKind: 'file', flags: PROC_FLAGS });
        if (driver.nvcapsMajor !== null && minor !== null) b.device(capsNode(minor), devSource(host.devRoot, capsNode(minor)), driver.nvcapsMajor, minor);
      }
    }
  }
  for (const [enabled, which, minor, gpus] of [
    [request.migConfig, 'config', driver.migConfigMinor, request.migConfigGpus],
    [request.migMonitor, 'monitor', driver.migMonitorMinor, request.migMonitorGpus],
  ] as const) {
    if (!enabled) continue;
    b.step = which === 'config' ? 'mig-config' : 'mig-monitor';
    const capsDir = '/proc/driver/nvidia/capabilities';
    b.add({ kind: 'bind', target: capsDir, source: procSource(host.procRoot, capsDir), sourceKind: 'dir', flags: PROC_FLAGS });
    if (driver.nvcapsMajor === null) continue;
    if (!request.noDevbind) b.add({ kind: 'bind', target: '/dev/nvidia-caps', source: devSource(host.devRoot, '/dev/nvidia-caps'), sourceKind: 'dir', flags: ['nosuid', 'noexec'] });
    if (request.noCgroups) continue;
    const allow = (m: number, p: string): void => {
      if (!b.rules.some((r) => r.major === driver.nvcapsMajor && r.minor === m)) b.rules.push({ type: 'c', major: driver.nvcapsMajor as number, minor: m, access: 'rw', path: p, step: b.step });
    };
    if (minor !== null) allow(minor, `/proc/driver/nvidia/capabilities/mig/${which}`);
    for (const gpu of gpus) for (const m of host.migMinors[gpu.minor] ?? []) allow(m, capsNode(m));
  }

  // IMEX channels.
  b.step = 'imex';
  for (const id of request.imexChannels) {
    if (driver.imexMajor === null) {
      throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `IMEX channel ${id} was requested but the driver exposes no nvidia-caps-imex-channels device`, {
        hint: 'drop --imex-channel, or use a driver with IMEX support',
      });
    }
    const node = `/dev/nvidia-caps-imex-channels/channel${id}`;
    if (host.imexNodes?.[id] === false) {
      throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `IMEX channel ${id} was requested but the host has no ${node}`, {
        path: devSource(host.devRoot, node),
        hint: `create the channel's device node on the host (nvidia-modprobe -i ${id}, or the driver's NVreg_CreateImexChannel0 for channel 0), or drop the request`,
      });
    }
    b.device(node, devSource(host.devRoot, node), driver.imexMajor, id);
  }

  // Last: the driver's procfs copy becomes read-only once everything under it exists.
  b.step = 'seal';
  b.edits.push({ kind: 'remount', target: PROC_DIR, flags: ['ro', 'nosuid', 'nodev', 'noexec'] });
  b.steps.push('seal');

  const dirs = [layout.libsDir, ...(request.compat32 ? [layout.libs32Dir] : [])];
  return {
    edits: b.edits,
    steps: b.steps,
    cgroupRules: b.rules,
    ldconfig: request.ldconfig === null ? null : { path: request.ldconfig, dirs },
    warnings: b.warnings,
  };
}

