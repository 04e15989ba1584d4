/**
 * A simulated NVIDIA host on disk: a driver root with the 580 driver's libraries (minimal ELF
 * files, the NVML one being the mock library), binaries, firmware, IPC paths, an ld.so.cache,
 * plus the procfs, /dev and sysfs pieces the discovery code reads. Modelled on the GPU machine
 * described in shared/reference/gpu-machine.md (driver 580.159.04, open kernel module, no
 * nvidia-modeset), laid out Debian-style under usr/lib/x86_64-linux-gnu.
 *
 *   <dir>/root                 driver root (options.root)
 *   <dir>/root/etc/ld.so.cache options.ldcache is "/etc/ld.so.cache", a path inside root
 *   <dir>/root/proc            options.procRoot
 *   <dir>/root/dev             options.devRoot (char devices only when root and deviceNodes)
 *   <dir>/sys                  options.sysRoot
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { NvcError } from '../errors';
import { mockNvmlLibraryPath } from '../native';
import { buildElfSharedObject, type ElfMachine } from './elf';
import { LDCACHE_FLAGS, writeLdCache, type LdCacheEntry } from './ldcache';

export interface SimulatedMigDevice {
  uuid: string;
  gpuInstance: number;
  computeInstance: number;
  /** MIG profile, e.g. "3g.20gb"; names the device "<gpu name> MIG <profile>". */
  profile?: string;
}

export interface SimulatedGpu {
  name: string;
  uuid: string;
  pci: { domain: number; bus: number; device: number };
  minor: number;
  /** nvmlBrandType_t value: 2 Tesla, 5 GeForce, 14 NVIDIA, ... (see NVML_BRAND). */
  brand: number;
  computeCapability: [number, number];
  mig: 'unsupported' | 'disabled' | 'enabled';
  /** MIG devices in NVML index order; only with mig 'enabled' (at most 8). */
  migDevices?: SimulatedMigDevice[];
  /** PCI device id as NVML reports it, (device << 16) | vendor, e.g. 0x233010de. */
  pciDeviceId?: number;
  pciSubsystemId?: number;
}

export type NvmlFaultKind = 'crash' | 'abort' | 'hang' | 'exit' | 'error';

export interface NvmlFault {
  /** An NVML function name (e.g. "nvmlDeviceGetUUID"), or "@load" for the library's constructor. */
  fn: string;
  kind: NvmlFaultKind;
  /** The NVML return code for 'error' (required), the exit status for 'exit' (default 1). */
  code?: number;
  /** Only calls about this GPU index (GPU handle, its MIG handles, or GetHandleByIndex's index). */
  device?: number;
}

export interface NvmlDelay {
  fn: string;
  ms: number;
}

export interface SimulatedHostSpec {
  driverVersion: string;
  /** nvmlSystemGetCudaDriverVersion's integer, e.g. 13000 for CUDA 13.0. */
  cudaVersion: number;
  gpus: SimulatedGpu[];
  faults?: NvmlFault[];
  delays?: NvmlDelay[];
  /** 32-bit libraries under usr/lib/i386-linux-gnu (default true). */
  compat32?: boolean;
  /** run/nvidia-persistenced/socket (default true). */
  persistenced?: boolean;
  /** run/nvidia-fabricmanager/socket (default true). */
  fabricmanager?: boolean;
  /** tmp/nvidia-mps/ (default true). */
  mps?: boolean;
  /** lib/firmware/nvidia/<version>/gsp_*.bin (default true). */
  firmware?: boolean;
  /** mknod real char devices under dev/ when running as root (default true). */
  deviceNodes?: boolean;
  /** Libraries that discovery must skip: stale version, unversioned name, wrong ABI tag, GLVND libGL (default true). */
  decoys?: boolean;
  /** 'mock' (default): the mock NVML; 'missing': no libnvidia-ml at all; 'corrupt': garbage bytes. */
  nvml?: 'mock' | 'missing' | 'corrupt';
}

export interface SimulatedHostPaths {
  root: string;
  ldcache: string;
  procRoot: string;
  devRoot: string;
  sysRoot: string;
}

export interface SimulatedHost {
  /** The temporary directory holding everything; cleanup() removes it. */
  dir: string;
  root: string;
  procRoot: string;
  devRoot: string;
  sysRoot: string;
  /** The cache's path inside root: "/etc/ld.so.cache". */
  ldcache: string;
  /** The complete spec the host was built from (defaults filled in). */
  spec: SimulatedHostSpec;
  /** Ready to pass as the library's path options. */
  options: SimulatedHostPaths;
  /** True when real character devices were made under devRoot. */
  deviceNodesCreated: boolean;
  /** Absolute path of libnvidia-ml.so.<version> on this machine, or null when nvml is 'missing'. */
  nvmlLibrary: string | null;
  /** Absolute path of the mock's spec file, or null unless nvml is 'mock'. */
  nvmlSpecFile: string | null;
  cleanup(): Promise<void>;
}

export interface CreateSimulatedHostOptions {
  /** Parent directory of the fresh temporary directory (default os.tmpdir()). */
  dir?: string;
  /** The mock NVML library to copy (default: mockNvmlLibraryPath(), which honours NVC_TS_MOCK_NVML). */
  mockNvmlPath?: string;
  /** Write this text as libnvidia-ml.spec instead of the spec's rendering (to test bad specs). */
  nvmlSpecText?: string;
}

/** nvmlBrandType_t values. */
export const NVML_BRAND = {
  UNKNOWN: 0,
  QUADRO: 1,
  TESLA: 2,
  NVS: 3,
  GRID: 4,
  GEFORCE: 5,
  TITAN: 6,
  NVIDIA_VAPPS: 7,
  NVIDIA_VPC: 8,
  NVIDIA_VCS: 9,
  NVIDIA_VWS: 10,
  NVIDIA_CLOUD_GAMING: 11,
  QUADRO_RTX: 12,
  NVIDIA_RTX: 13,
  NVIDIA: 14,
  GEFORCE_RTX: 15,
  TITAN_RTX: 16,
} as const;

/** Device numbers the simulated kernel driver uses (those of the GPU machine). */
export const SIMULATED_MAJORS = {
  nvidia: 195,
  nvidiaUvm: 238,
  nvidiaNvswitch: 239,
  nvidiaNvlink: 240,
  nvidiaCaps: 241,
  nvidiaCapsImexChannels: 242,
} as const;
export const NVIDIACTL_MINOR = 255;
export const MIG_CONFIG_MINOR = 1;
export const MIG_MONITOR_MINOR = 2;

/**
 * One driver library: its file is `<stem>.so.<driver version>`; its soname is
 * `<stem>.so.<soversion>`, or the file name itself when soversion is null.
 */
export interface SimulatedDriverLibrary {
  stem: string;
  soversion: string | null;
  /** Also installed as a 32-bit library when compat32 is on. */
  compat32: boolean;
  /** Only for ELF notes: NT_GNU_ABI_TAG version carried by the file. */
  abiTag?: [number, number, number];
}

/** The 580 driver's libraries as on the GPU machine, plus libnvidia-ngx. */
export const SIMULATED_DRIVER_LIBRARIES: readonly SimulatedDriverLibrary[] = [
  { stem: 'libnvidia-ml', soversion: '1', compat32: false },
  { stem: 'libnvidia-cfg', soversion: '1', compat32: false },
  { stem: 'libcuda', soversion: '1', compat32: true },
  { stem: 'libcudadebugger', soversion: '1', compat32: false },
  { stem: 'libnvidia-opencl', soversion: '1', compat32: true },
  { stem: 'libnvidia-gpucomp', soversion: null, compat32: true },
  { stem: 'libnvidia-ptxjitcompiler', soversion: '1', compat32: true },
  { stem: 'libnvidia-allocator', soversion: '1', compat32: true },
  { stem: 'libnvidia-pkcs11-openssl3', soversion: null, compat32: false },
  { stem: 'libnvidia-nvvm', soversion: '4', compat32: false },
  { stem: 'libvdpau_nvidia', soversion: '1', compat32: true },
  { stem: 'libnvidia-encode', soversion: '1', compat32: true },
  { stem: 'libnvidia-opticalflow', soversion: '1', compat32: true },
  { stem: 'libnvcuvid', soversion: '1', compat32: true },
  { stem: 'libnvidia-eglcore', soversion: null, compat32: true },
  { stem: 'libnvidia-glcore', soversion: null, compat32: true },
  { stem: 'libnvidia-tls', soversion: null, compat32: true, abiTag: [2, 3, 99] },
  { stem: 'libnvidia-glsi', soversion: null, compat32: true },
  { stem: 'libnvidia-fbc', soversion: '1', compat32: true },
  { stem: 'libnvidia-rtcore', soversion: null, compat32: false },
  { stem: 'libnvoptix', soversion: '1', compat32: false },
  { stem: 'libGLX_nvidia', soversion: '0', compat32: true },
  { stem: 'libEGL_nvidia', soversion: '0', compat32: true },
  { stem: 'libGLESv2_nvidia', soversion: '2', compat32: true },
  { stem: 'libGLESv1_CM_nvidia', soversion: '1', compat32: true },
  { stem: 'libnvidia-glvkspirv', soversion: null, compat32: true },
  { stem: 'libnvidia-ngx', soversion: '1', compat32: false },
];

export const SIMULATED_BINARIES = [
  'nvidia-smi',
  'nvidia-debugdump',
  'nvidia-persistenced',
  'nv-fabricmanager',
  'nvidia-cuda-mps-control',
  'nvidia-cuda-mps-server',
] as const;

export const LIB_DIR = '/usr/lib/x86_64-linux-gnu';
export const LIB32_DIR = '/usr/lib/i386-linux-gnu';
/** Where the wrong-ABI libnvidia-tls decoy lives (not in ld.so.conf, only in the cache). */
export const DECOY_TLS_DIR = '/usr/lib/x86_64-linux-gnu/nvidia-classic-tls';
export const STALE_CUDA_VERSION = '535.104.05';

/** The soname a driver library is looked up by. */
export function librarySoname(lib: SimulatedDriverLibrary, driverVersion: string): string {
  return lib.soversion === null ? `${lib.stem}.so.${driverVersion}` : `${lib.stem}.so.${lib.soversion}`;
}

/**
 * The nvidia-caps minor of a MIG capability, as the driver numbers them in
 * /proc/driver/nvidia-caps/mig-minors: config 1, monitor 2, then per GPU minor (0-31) 15 GPU
 * instances of 9 entries (the GI's access, then its 8 compute instances). Null when out of range.
 */
export function migCapabilityMinor(gpuMinor: number, gpuInstance: number, computeInstance?: number): number | null {
  if (gpuMinor < 0 || gpuMinor > 31 || gpuInstance < 0 || gpuInstance > 14) return null;
  const gi = 3 + gpuMinor * 135 + gpuInstance * 9;
  if (computeInstance === undefined) return gi;
  if (computeInstance < 0 || computeInstance > 7) return null;
  return gi + 1 + computeInstance;
}

/** The three-GPU host the tests use by default. */
export function defaultSimulatedHostSpec(): SimulatedHostSpec {
  return {
    driverVersion: '580.159.04',
    cudaVersion: 13000,
    gpus: [
      {
        name: 'NVIDIA H100 80GB HBM3',
        uuid: 'GPU-4f1c2a9e-7d3b-5e60-a8c1-93b2d4e5f601',
        pci: { domain: 0, bus: 0x00, device: 0x06 },
        minor: 0,
        brand: NVML_BRAND.NVIDIA,
        computeCapability: [9, 0],
        mig: 'disabled',
        pciDeviceId: 0x233010de,
        pciSubsystemId: 0x16c110de,
      },
      {
        name: 'NVIDIA A100-SXM4-40GB',
        uuid: 'GPU-b7e3d2c1-0a9f-4e8d-b6c5-a4f3e2d1c0b9',
        pci: { domain: 0, bus: 0x00, device: 0x07 },
        minor: 1,
        brand: NVML_BRAND.NVIDIA,
        computeCapability: [8, 0],
        mig: 'enabled',
        migDevices: [
          { uuid: 'MIG-1a2b3c4d-5e6f-5a7b-8c9d-0e1f2a3b4c5d', gpuInstance: 1, computeInstance: 0, profile: '3g.20gb' },
          { uuid: 'MIG-9f8e7d6c-5b4a-5c3d-8e2f-1a0b9c8d7e6f', gpuInstance: 2, computeInstance: 0, profile: '3g.20gb' },
        ],
        pciDeviceId: 0x20b010de,
        pciSubsystemId: 0x134f10de,
      },
      {
        name: 'Tesla T4',
        uuid: 'GPU-2c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f',
        pci: { domain: 0, bus: 0x00, device: 0x08 },
        minor: 2,
        brand: NVML_BRAND.TESLA,
        computeCapability: [7, 5],
        mig: 'unsupported',
        pciDeviceId: 0x1eb810de,
        pciSubsystemId: 0x12a210de,
      },
    ],
    faults: [],
    delays: [],
    compat32: true,
    persistenced: true,
    fabricmanager: true,
    mps: true,
    firmware: true,
    deviceNodes: true,
    decoys: true,
    nvml: 'mock',
  };
}

// ---------------------------------------------------------------------------------------------
// Validation and the mock's spec file

function invalid(field: string, message: string): NvcError {
  return new NvcError('ERR_NVC_INVALID_ARGUMENT', `simulated host: ${field}: ${message}`, { field });
}

function checkInt(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(field, `expected an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

function checkToken(field: string, v: unknown, maxLen: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length >= maxLen || /[\s#]/.test(v)) {
    throw invalid(field, `expected a non-empty string without blanks or '#', shorter than ${maxLen}`);
  }
  return v;
}

function checkText(field: string, v: unknown, maxLen: number): string {
  if (typeof v !== 'string' || v.trim().length === 0 || v.length >= maxLen || /[\r\n\0]/.test(v) || v !== v.trim()) {
    throw invalid(field, `expected one line of text without surrounding blanks, shorter than ${maxLen}`);
  }
  return v;
}

const NVML_FUNCTIONS = new Set([
  '@load',
  'nvmlInit_v2',
  'nvmlShutdown',
  'nvmlErrorString',
  'nvmlSystemGetDriverVersion',
  'nvmlSystemGetCudaDriverVersion',
  'nvmlDeviceGetCount_v2',
  'nvmlDeviceGetHandleByIndex_v2',
  'nvmlDeviceGetName',
  'nvmlDeviceGetUUID',
  'nvmlDeviceGetPciInfo_v3',
  'nvmlDeviceGetCudaComputeCapability',
  'nvmlDeviceGetBrand',
  'nvmlDeviceGetMinorNumber',
  'nvmlDeviceGetMigMode',
  'nvmlDeviceGetMaxMigDeviceCount',
  'nvmlDeviceGetMigDeviceHandleByIndex',
  'nvmlDeviceGetGpuInstanceId',
  'nvmlDeviceGetComputeInstanceId',
]);

function validateSpec(spec: SimulatedHostSpec): void {
  checkToken('driverVersion', spec.driverVersion, 80);
  if (!/^[0-9A-Za-z._-]+$/.test(spec.driverVersion)) throw invalid('driverVersion', 'unexpected characters');
  checkInt('cudaVersion', spec.cudaVersion, 0, 0x7fffffff);
  if (!Array.isArray(spec.gpus) || spec.gpus.length > 64) throw invalid('gpus', 'expected at most 64 GPUs');
  const minors = new Set<number>();
  spec.gpus.forEach((g, i) => {
    const f = `gpus[${i}]`;
    checkText(`${f}.name`, g.name, 96);
    checkToken(`${f}.uuid`, g.uuid, 96);
    checkInt(`${f}.pci.domain`, g.pci?.domain, 0, 0xffffffff);
    checkInt(`${f}.pci.bus`, g.pci?.bus, 0, 0xff);
    checkInt(`${f}.pci.device`, g.pci?.device, 0, 0x1f);
    checkInt(`${f}.minor`, g.minor, 0, 254);
    if (minors.has(g.minor)) throw invalid(`${f}.minor`, `minor ${g.minor} used twice`);
    minors.add(g.minor);
    checkInt(`${f}.brand`, g.brand, 0, 0xffff);
    if (!Array.isArray(g.computeCapability) || g.computeCapability.length !== 2) {
      throw invalid(`${f}.computeCapability`, 'expected [major, minor]');
    }
    checkInt(`${f}.computeCapability[0]`, g.computeCapability[0], 0, 1000);
    checkInt(`${f}.computeCapability[1]`, g.computeCapability[1], 0, 1000);
    if (g.mig !== 'unsupported' && g.mig !== 'disabled' && g.mig !== 'enabled') {
      throw invalid(`${f}.mig`, "expected 'unsupported', 'disabled' or 'enabled'");
    }
    const migs = g.migDevices ?? [];
    if (migs.length > 0 && g.mig !== 'enabled') throw invalid(`${f}.migDevices`, "MIG devices need mig 'enabled'");
    if (migs.length > 8) throw invalid(`${f}.migDevices`, 'at most 8 MIG devices');
    migs.forEach((m, j) => {
      checkToken(`${f}.migDevices[${j}].uuid`, m.uuid, 96);
      checkInt(`${f}.migDevices[${j}].gpuInstance`, m.gpuInstance, 0, 0xffff);
      checkInt(`${f}.migDevices[${j}].computeInstance`, m.computeInstance, 0, 0xffff);
      if (m.profile !== undefined) checkToken(`${f}.migDevices[${j}].profile`, m.profile, 24);
    });
    if (g.pciDeviceId !== undefined) checkInt(`${f}.pciDeviceId`, g.pciDeviceId, 0, 0xffffffff);
    if (g.pciSubsystemId !== undefined) checkInt(`${f}.pciSubsystemId`, g.pciSubsystemId, 0, 0xffffffff);
  });
  (spec.faults ?? []).forEach((fault, i) => {
    const f = `faults[${i}]`;
    if (!NVML_FUNCTIONS.has(fault.fn)) throw invalid(`${f}.fn`, `unknown NVML function ${JSON.stringify(fault.fn)}`);
    if (!['crash', 'abort', 'hang', 'exit', 'error'].includes(fault.kind)) throw invalid(`${f}.kind`, 'unknown kind');
    if (fault.kind === 'error') {
      checkInt(`${f}.code`, fault.code, 1, 0x7fffffff);
      if (fault.fn === '@load') throw invalid(`${f}.kind`, "'@load' cannot return an error");
    }
    if (fault.kind === 'exit' && fault.code !== undefined) checkInt(`${f}.code`, fault.code, 0, 255);
    if (fault.device !== undefined) checkInt(`${f}.device`, fault.device, 0, 63);
  });
  (spec.delays ?? []).forEach((d, i) => {
    if (!NVML_FUNCTIONS.has(d.fn) || d.fn === '@load') throw invalid(`delays[${i}].fn`, `unknown NVML function ${JSON.stringify(d.fn)}`);
    checkInt(`delays[${i}].ms`, d.ms, 0, 0xffffffff);
  });
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** The MIG device's name as NVML reports it. */
function migName(g: SimulatedGpu, m: SimulatedMigDevice): string {
  return `${g.name} MIG ${m.profile ?? `${m.gpuInstance}.${m.computeInstance}`}`;
}

/** Renders the text the mock NVML library reads (format documented in native/mock-nvml/mock_nvml.c). */
export function formatMockNvmlSpec(spec: SimulatedHostSpec): string {
  const out: string[] = ['# Simulated host for the nvc-ts mock NVML (see native/mock-nvml/mock_nvml.c).', 'mock-nvml 1'];
  out.push(`driver ${spec.driverVersion}`, `cuda ${spec.cudaVersion}`);
  spec.gpus.forEach((g, i) => {
    const pci = [`0x${hex(g.pci.domain, 4)}`, `0x${hex(g.pci.bus, 2)}`, `0x${hex(g.pci.device, 2)}`];
    if (g.pciDeviceId !== undefined || g.pciSubsystemId !== undefined) pci.push(`0x${hex(g.pciDeviceId ?? 0, 8)}`);
    if (g.pciSubsystemId !== undefined) pci.push(`0x${hex(g.pciSubsystemId, 8)}`);
    out.push(
      '',
      `gpu ${i}`,
      `name ${g.name}`,
      `uuid ${g.uuid}`,
      `pci ${pci.join(' ')}`,
      `minor ${g.minor}`,
      `brand ${g.brand}`,
      `cc ${g.computeCapability[0]} ${g.computeCapability[1]}`,
    );
    const migs = g.migDevices ?? [];
    if (g.mig === 'unsupported') out.push('mig unsupported');
    else out.push(`mig ${g.mig} ${Math.max(7, migs.length)}`);
    for (const m of migs) out.push(`migdev ${m.uuid} ${m.gpuInstance} ${m.computeInstance} ${migName(g, m)}`);
  });
  const faults = spec.faults ?? [];
  const delays = spec.delays ?? [];
  if (faults.length > 0 || delays.length > 0) out.push('');
  for (const f of faults) {
    let line = `fault ${f.fn} ${f.kind}`;
    if (f.kind === 'error') line += ` ${f.code ?? 999}`;
    if (f.kind === 'exit' && f.code !== undefined) line += ` ${f.code}`;
    if (f.device !== undefined) line += ` device ${f.device}`;
    out.push(line);
  }
  for (const d of delays) out.push(`delay ${d.fn} ${d.ms}`);
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Building

function pExecFile(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, _stdout, stderr) => {
      if (err) {
        reject(Object.assign(err, { stderr: String(stderr) }));
      } else {
        resolve();
      }
    });
  });
}

/**
 * Leave a real (unlistened) unix socket file at `file`, as a daemon that created it would.
 * libuv unlinks the path it listened on when the server closes, so listen on a temporary
 * name and rename the socket into place first.
 */
async function makeUnixSocket(file: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(tmp, () => resolve());
  });
  await fsp.rename(tmp, file);
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

class Tree {
  constructor(readonly base: string) {}

  abs(rel: string): string {
    return path.join(this.base, rel);
  }

  async mkdir(rel: string, mode?: number): Promise<void> {
    await fsp.mkdir(this.abs(rel), { recursive: true });
    if (mode !== undefined) await fsp.chmod(this.abs(rel), mode);
  }

  async write(rel: string, data: string | Buffer, mode = 0o644): Promise<void> {
    await fsp.mkdir(path.dirname(this.abs(rel)), { recursive: true });
    await fsp.writeFile(this.abs(rel), data, { mode });
    await fsp.chmod(this.abs(rel), mode); // the umask must not change what tests check
  }

  async symlink(rel: string, target: string): Promise<void> {
    await fsp.mkdir(path.dirname(this.abs(rel)), { recursive: true });
    await fsp.symlink(target, this.abs(rel));
  }
}

/** Installs `<dir>/<file>` plus its soname and development links; returns the cache entries ldconfig would make. */
async function installLibrary(
  tree: Tree,
  dir: string,
  file: string,
  soname: string,
  content: Buffer,
  flags: number,
  devLink: string | null,
): Promise<LdCacheEntry[]> {
  await tree.write(path.posix.join(dir, file), content, 0o755);
  const entries: LdCacheEntry[] = [];
  if (soname !== file) await tree.symlink(path.posix.join(dir, soname), file);
  entries.push({ key: soname, value: path.posix.join(dir, soname), flags });
  if (devLink !== null && devLink !== soname) {
    await tree.symlink(path.posix.join(dir, devLink), soname);
    entries.push({ key: devLink, value: path.posix.join(dir, devLink), flags });
  }
  return entries;
}

async function resolveMockPath(opts: CreateSimulatedHostOptions): Promise<string> {
  const candidate = opts.mockNvmlPath ?? mockNvmlLibraryPath();
  try {
    await fsp.access(candidate);
  } catch (cause) {
    throw new NvcError('ERR_NVC_NATIVE_MISSING', `the mock NVML library is missing: ${candidate}`, {
      path: candidate,
      cause,
      hint: 'build the package (npm run build) or set NVC_TS_MOCK_NVML to a built libnvc-mock-nvml.so',
    });
  }
  return candidate;
}

function corruptBytes(): Buffer {
  // Deterministic garbage that is not an ELF file (and not empty).
  const b = Buffer.alloc(4096);
  let x = 0x2545f491;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  b.write('not an ELF object\n', 0, 'latin1');
  return b;
}

const PARAMS = [
  'ResmanDebugLevel: 4294967295',
  'RmLogonRC: 1',
  'ModifyDeviceFiles: 1',
  'DeviceFileUID: 0',
  'DeviceFileGID: 0',
  'DeviceFileMode: 438',
  'InitializeSystemMemoryAllocations: 1',
  'UsePageAttributeTable: 4294967295',
  'EnableMSI: 1',
  'EnablePCIeGen3: 0',
  'MemoryPoolSize: 0',
  'KMallocHeapMaxSize: 0',
  'VMallocHeapMaxSize: 0',
  'IgnoreMMIOCheck: 0',
  'EnableStreamMemOPs: 0',
  'EnableUserNUMAManagement: 1',
  'NvLinkDisable: 1',
  'RmProfilingAdminOnly: 0',
  'PreserveVideoMemoryAllocations: 0',
  'EnableS0ixPowerManagement: 0',
  'S0ixPowerManagementVideoMemoryThreshold: 256',
  'DynamicPowerManagement: 3',
  'DynamicPowerManagementVideoMemoryThreshold: 200',
  'RegisterPCIDriver: 1',
  'EnablePCIERelaxedOrderingMode: 0',
  'EnableResizableBar: 0',
  'EnableGpuFirmware: 18',
  'EnableGpuFirmwareLogs: 2',
  'RmNvlinkBandwidthLinkCount: 0',
  'EnableDbgBreakpoint: 0',
  'OpenRmEnableUnsupportedGpus: 1',
  'DmaRemapPeerMmio: 1',
  'ImexChannelCount: 2048',
  'CreateImexChannel0: 0',
  'GrdmaPciTopoCheckOverride: 0',
  'CoherentGPUMemoryMode: ""',
  'RegistryDwords: ""',
  'RegistryDwordsPerDevice: ""',
  'RmMsg: ""',
  'GpuBlacklist: ""',
  'TemporaryFilePath: ""',
  'ExcludedGpus: ""',
];

function procDevices(): string {
  const M = SIMULATED_MAJORS;
  const chars: [number, string][] = [
    [1, 'mem'],
    [4, '/dev/vc/0'],
    [4, 'tty'],
    [4, 'ttyS'],
    [5, '/dev/tty'],
    [5, '/dev/console'],
    [5, '/dev/ptmx'],
    [7, 'vcs'],
    [10, 'misc'],
    [13, 'input'],
    [128, 'ptm'],
    [136, 'pts'],
    [M.nvidia, 'nvidia'],
    [M.nvidia, 'nvidiactl'],
    [M.nvidiaUvm, 'nvidia-uvm'],
    [M.nvidiaNvswitch, 'nvidia-nvswitch'],
    [M.nvidiaNvlink, 'nvidia-nvlink'],
    [M.nvidiaCaps, 'nvidia-caps'],
    [M.nvidiaCapsImexChannels, 'nvidia-caps-imex-channels'],
    [243, 'hidraw'],
    [248, 'bsg'],
    [249, 'watchdog'],
    [250, 'ptp'],
    [251, 'pps'],
  ];
  const blocks: [number, string][] = [
    [7, 'loop'],
    [254, 'virtblk'],
    [259, 'blkext'],
  ];
  const fmt = ([n, name]: [number, string]): string => `${String(n).padStart(3)} ${name}`;
  return `Character devices:\n${chars.map(fmt).join('\n')}\n\nBlock devices:\n${blocks.map(fmt).join('\n')}\n`;
}

function capabilityFile(minor: number, mode: number): string {
  return `DeviceFileMinor: ${minor}\nDeviceFileMode: ${mode}\nDeviceFileModify: 1\n`;
}

function migMinorsFile(): string {
  const lines = [`config ${MIG_CONFIG_MINOR}`, `monitor ${MIG_MONITOR_MINOR}`];
  for (let g = 0; g < 32; g++) {
    for (let gi = 0; gi < 15; gi++) {
      lines.push(`gpu${g}/gi${gi}/access ${migCapabilityMinor(g, gi)}`);
      for (let ci = 0; ci < 8; ci++) lines.push(`gpu${g}/gi${gi}/ci${ci}/access ${migCapabilityMinor(g, gi, ci)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** /proc/driver/nvidia/gpus/<bus location>/information, with its tabs. */
function gpuInformation(g: SimulatedGpu, spec: SimulatedHostSpec, irq: number): string {
  const busLocation = `${hex(g.pci.domain, 4)}:${hex(g.pci.bus, 2)}:${hex(g.pci.device, 2)}.0`;
  return [
    `Model: \t\t ${g.name}`,
    `IRQ:   \t\t ${irq}`,
    `GPU UUID: \t ${g.uuid}`,
    `Video BIOS: \t 96.00.da.00.0c`,
    `Bus Type: \t PCIe`,
    `DMA Size: \t 52 bits`,
    `DMA Mask: \t 0xfffffffffffff`,
    `Bus Location: \t ${busLocation}`,
    `Device Minor: \t ${g.minor}`,
    `GPU Firmware: \t ${spec.driverVersion}`,
    `GPU Excluded:\t No`,
    '',
  ].join('\n');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function nvidiaSmiScript(spec: SimulatedHostSpec): string {
  const list: string[] = [];
  spec.gpus.forEach((g, i) => {
    list.push(`GPU ${i}: ${g.name} (UUID: ${g.uuid})`);
    (g.migDevices ?? []).forEach((m, j) => {
      list.push(`  MIG ${(m.profile ?? `${m.gpuInstance}.${m.computeInstance}`).padEnd(12)}Device ${String(j).padStart(2)}: (UUID: ${m.uuid})`);
    });
  });
  const cuda = `${Math.floor(spec.cudaVersion / 1000)}.${Math.floor((spec.cudaVersion % 100) / 10)}`;
  return [
    '#!/bin/sh',
    '# nvidia-smi of an nvc-ts simulated host: answers -L, prints a banner otherwise.',
    'case "$1" in',
    '  -L|--list-gpus)',
    ...list.map((l) => `    printf '%s\\n' ${shellQuote(l)}`),
    '    ;;',
    '  *)',
    `    printf '%s\\n' ${shellQuote(`NVIDIA-SMI ${spec.driverVersion}    Driver Version: ${spec.driverVersion}    CUDA Version: ${cuda}`)}`,
    '    ;;',
    'esac',
    '',
  ].join('\n');
}

interface DeviceNode {
  rel: string;
  major: number;
  minor: number;
  mode: number;
}

function deviceNodeList(spec: SimulatedHostSpec): DeviceNode[] {
  const M = SIMULATED_MAJORS;
  const nodes: DeviceNode[] = [{ rel: 'nvidiactl', major: M.nvidia, minor: NVIDIACTL_MINOR, mode: 0o666 }];
  for (const g of spec.gpus) nodes.push({ rel: `nvidia${g.minor}`, major: M.nvidia, minor: g.minor, mode: 0o666 });
  nodes.push(
    { rel: 'nvidia-uvm', major: M.nvidiaUvm, minor: 0, mode: 0o666 },
    { rel: 'nvidia-uvm-tools', major: M.nvidiaUvm, minor: 1, mode: 0o666 },
    { rel: `nvidia-caps/nvidia-cap${MIG_CONFIG_MINOR}`, major: M.nvidiaCaps, minor: MIG_CONFIG_MINOR, mode: 0o400 },
    { rel: `nvidia-caps/nvidia-cap${MIG_MONITOR_MINOR}`, major: M.nvidiaCaps, minor: MIG_MONITOR_MINOR, mode: 0o444 },
  );
  const seen = new Set<number>();
  for (const g of spec.gpus) {
    for (const m of g.migDevices ?? []) {
      for (const minor of [migCapabilityMinor(g.minor, m.gpuInstance), migCapabilityMinor(g.minor, m.gpuInstance, m.computeInstance)]) {
        if (minor === null || seen.has(minor)) continue;
        seen.add(minor);
        nodes.push({ rel: `nvidia-caps/nvidia-cap${minor}`, major: M.nvidiaCaps, minor, mode: 0o444 });
      }
    }
  }
  return nodes;
}

async function makeDeviceNodes(devRoot: string, nodes: DeviceNode[]): Promise<boolean> {
  await fsp.mkdir(path.join(devRoot, 'nvidia-caps'), { recursive: true });
  const mk = (n: DeviceNode): Promise<void> =>
    pExecFile('mknod', ['-m', n.mode.toString(8), path.join(devRoot, n.rel), 'c', String(n.major), String(n.minor)]);
  const [first, ...rest] = nodes;
  if (!first) return true;
  try {
    await mk(first);
  } catch {
    // No CAP_MKNOD (user namespace, unprivileged container): leave dev/ without nodes.
    await fsp.rm(path.join(devRoot, 'nvidia-caps'), { recursive: true, force: true });
    return false;
  }
  await Promise.all(rest.map(mk));
  return true;
}

function withDefaults(partial: Partial<SimulatedHostSpec> | undefined): SimulatedHostSpec {
  const spec = defaultSimulatedHostSpec();
  const target = spec as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(partial ?? {})) {
    if (v !== undefined) target[k] = v;
  }
  return structuredClone(spec);
}

/** Builds a simulated host in a fresh temporary directory. */
export async function createSimulatedHost(
  partial?: Partial<SimulatedHostSpec>,
  opts: CreateSimulatedHostOptions = {},
): Promise<SimulatedHost> {
  const spec = withDefaults(partial);
  validateSpec(spec);
  const mockPath = spec.nvml === 'mock' ? await resolveMockPath(opts) : null;

  const dir = await fsp.mkdtemp(path.join(opts.dir ?? os.tmpdir(), 'nvc-sim-'));
  const cleanup = async (): Promise<void> => {
    await fsp.rm(dir, { recursive: true, force: true });
  };
  try {
    return await build(dir, spec, mockPath, opts, cleanup);
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}

async function build(
  dir: string,
  spec: SimulatedHostSpec,
  mockPath: string | null,
  opts: CreateSimulatedHostOptions,
  cleanup: () => Promise<void>,
): Promise<SimulatedHost> {
  const root = path.join(dir, 'root');
  const procRoot = path.join(root, 'proc');
  const devRoot = path.join(root, 'dev');
  const sysRoot = path.join(dir, 'sys');
  const t = new Tree(root);
  const ver = spec.driverVersion;
  const cache: LdCacheEntry[] = [];
  const decoyCache: LdCacheEntry[] = [];

  await Promise.all(['etc/ld.so.conf.d', 'usr/bin', 'usr/lib', 'run', 'var', 'proc', 'dev'].map((d) => t.mkdir(d)));
  await t.mkdir('tmp', 0o1777);
  await t.symlink('var/run', '../run');

  // --- libraries -------------------------------------------------------------------------------
  let nvmlLibrary: string | null = null;
  let nvmlSpecFile: string | null = null;
  const elf = (machine: ElfMachine, soname: string, abiTag?: [number, number, number]): Buffer =>
    buildElfSharedObject(abiTag ? { machine, soname, abiTag } : { machine, soname });

  for (const lib of SIMULATED_DRIVER_LIBRARIES) {
    const file = `${lib.stem}.so.${ver}`;
    const soname = librarySoname(lib, ver);
    let content = elf('x86_64', soname, lib.abiTag);
    if (lib.stem === 'libnvidia-ml') {
      if (spec.nvml === 'missing') continue;
      if (spec.nvml === 'corrupt') content = corruptBytes();
      else if (mockPath !== null) content = await fsp.readFile(mockPath);
      nvmlLibrary = t.abs(path.posix.join(LIB_DIR, file));
    }
    cache.push(...(await installLibrary(t, LIB_DIR, file, soname, content, LDCACHE_FLAGS.X86_64, `${lib.stem}.so`)));
  }
  if (spec.nvml === 'mock') {
    const specRel = path.posix.join(LIB_DIR, 'libnvidia-ml.spec');
    await t.write(specRel, opts.nvmlSpecText ?? formatMockNvmlSpec(spec));
    nvmlSpecFile = t.abs(specRel);
  }
  if (spec.compat32) {
    for (const lib of SIMULATED_DRIVER_LIBRARIES) {
      if (!lib.compat32) continue;
      const soname = librarySoname(lib, ver);
      cache.push(...(await installLibrary(t, LIB32_DIR, `${lib.stem}.so.${ver}`, soname, elf('i386', soname, lib.abiTag), LDCACHE_FLAGS.I386, null)));
    }
  }
  if (spec.decoys) {
    // A stale libcuda from an older driver, listed after the real one.
    const stale = path.posix.join(LIB_DIR, `libcuda.so.${STALE_CUDA_VERSION}`);
    await t.write(stale, elf('x86_64', 'libcuda.so.1'), 0o755);
    decoyCache.push({ key: 'libcuda.so.1', value: stale, flags: LDCACHE_FLAGS.X86_64 });
    // A library without the driver version in its name.
    cache.push(...(await installLibrary(t, LIB_DIR, 'libnvidia-foo.so', 'libnvidia-foo.so', elf('x86_64', 'libnvidia-foo.so'), LDCACHE_FLAGS.X86_64, null)));
    // The pre-TLS libnvidia-tls (ABI tag Linux 2.2.0) in a directory of its own.
    const tls = path.posix.join(DECOY_TLS_DIR, `libnvidia-tls.so.${ver}`);
    await t.write(tls, elf('x86_64', `libnvidia-tls.so.${ver}`, [2, 2, 0]), 0o755);
    decoyCache.push({ key: `libnvidia-tls.so.${ver}`, value: tls, flags: LDCACHE_FLAGS.X86_64 });
    // GLVND's libGL, which depends on libGLdispatch and not on libnvidia-glcore.
    const gl = buildElfSharedObject({ machine: 'x86_64', soname: 'libGL.so.1', needed: ['libGLdispatch.so.0', 'libc.so.6'] });
    cache.push(...(await installLibrary(t, LIB_DIR, 'libGL.so.1.7.0', 'libGL.so.1', gl, LDCACHE_FLAGS.X86_64, null)));
    cache.push(...(await installLibrary(t, LIB_DIR, 'libGLdispatch.so.0.0.0', 'libGLdispatch.so.0', elf('x86_64', 'libGLdispatch.so.0'), LDCACHE_FLAGS.X86_64, null)));
  }

  // --- ld.so configuration and cache -------------------------------------------------------------
  await t.write('etc/ld.so.conf', 'include /etc/ld.so.conf.d/*.conf\n');
  await t.write('etc/ld.so.conf.d/x86_64-linux-gnu.conf', `# Multiarch support\n${LIB_DIR}\n`);
  if (spec.compat32) await t.write('etc/ld.so.conf.d/i386-linux-gnu.conf', `# Multiarch support\n${LIB32_DIR}\n`);
  // Decoy entries go last among equal keys: a reader keeping the last match must still filter them out.
  await writeLdCache(t.abs('etc/ld.so.cache'), [...cache, ...decoyCache]);

  // --- binaries, firmware, IPC, vendor files ------------------------------------------------------
  for (const bin of SIMULATED_BINARIES) {
    const body = bin === 'nvidia-smi' ? nvidiaSmiScript(spec) : `#!/bin/sh\n# ${bin} of an nvc-ts simulated host.\nexit 0\n`;
    await t.write(path.posix.join('usr/bin', bin), body, 0o755);
  }
  if (spec.firmware) {
    for (const fw of ['gsp_ga10x.bin', 'gsp_tu10x.bin']) {
      await t.write(`lib/firmware/nvidia/${ver}/${fw}`, `simulated GSP firmware ${fw} ${ver}\n`);
    }
  }
  if (spec.persistenced) await makeUnixSocket(t.abs('run/nvidia-persistenced/socket'));
  if (spec.fabricmanager) await makeUnixSocket(t.abs('run/nvidia-fabricmanager/socket'));
  if (spec.mps) await t.mkdir('tmp/nvidia-mps', 0o755);
  await t.write(
    'usr/share/glvnd/egl_vendor.d/10_nvidia.json',
    `${JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: 'libEGL_nvidia.so.0' } }, null, 4)}\n`,
  );
  await t.write(
    'usr/share/vulkan/icd.d/nvidia_icd.json',
    `${JSON.stringify({ file_format_version: '1.0.1', ICD: { library_path: 'libGLX_nvidia.so.0', api_version: '1.4.312' } }, null, 4)}\n`,
  );

  // --- procfs ------------------------------------------------------------------------------------
  const p = new Tree(procRoot);
  await p.write('devices', procDevices(), 0o444);
  await p.write('driver/nvidia/params', `${PARAMS.join('\n')}\n`, 0o444);
  await p.write(
    'driver/nvidia/version',
    `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  ${ver}  Release Build  (nvc-ts@simulated)  \nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14) \n`,
    0o444,
  );
  await p.write('driver/nvidia/registry', 'Binary: ""\n', 0o444);
  for (const [i, g] of spec.gpus.entries()) {
    const bus = `${hex(g.pci.domain, 4)}:${hex(g.pci.bus, 2)}:${hex(g.pci.device, 2)}.0`;
    await p.write(`driver/nvidia/gpus/${bus}/information`, gpuInformation(g, spec, 41 + i), 0o444);
  }
  await p.write('driver/nvidia/capabilities/mig/config', capabilityFile(MIG_CONFIG_MINOR, 0o400), 0o444);
  await p.write('driver/nvidia/capabilities/mig/monitor', capabilityFile(MIG_MONITOR_MINOR, 0o444), 0o444);
  await p.write('driver/nvidia/capabilities/fabric-imex-mgmt', capabilityFile(4323, 0o400), 0o444);
  for (const g of spec.gpus) {
    if (g.mig === 'unsupported') continue;
    await p.mkdir(`driver/nvidia/capabilities/gpu${g.minor}/mig`);
    for (const m of g.migDevices ?? []) {
      const giMinor = migCapabilityMinor(g.minor, m.gpuInstance);
      const ciMinor = migCapabilityMinor(g.minor, m.gpuInstance, m.computeInstance);
      const giDir = `driver/nvidia/capabilities/gpu${g.minor}/mig/gi${m.gpuInstance}`;
      if (giMinor !== null) await p.write(`${giDir}/access`, capabilityFile(giMinor, 0o444), 0o444);
      if (ciMinor !== null) await p.write(`${giDir}/ci${m.computeInstance}/access`, capabilityFile(ciMinor, 0o444), 0o444);
    }
  }
  await p.write('driver/nvidia-caps/mig-minors', migMinorsFile(), 0o444);

  // --- /dev ------------------------------------------------------------------------------------
  let deviceNodesCreated = false;
  if (spec.deviceNodes && typeof process.getuid === 'function' && process.getuid() === 0) {
    deviceNodesCreated = await makeDeviceNodes(devRoot, deviceNodeList(spec));
  }

  // --- sysfs -----------------------------------------------------------------------------------
  await new Tree(sysRoot).write('module/firmware_class/parameters/path', '\n');

  const options: SimulatedHostPaths = { root, ldcache: '/etc/ld.so.cache', procRoot, devRoot, sysRoot };
  return {
    dir,
    root,
    procRoot,
    devRoot,
    sysRoot,
    ldcache: options.ldcache,
    spec,
    options,
    deviceNodesCreated,
    nvmlLibrary,
    nvmlSpecFile,
    cleanup,
  };
}
