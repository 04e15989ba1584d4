/**
 * What a simulated host is made of: the spec callers pass to createSimulatedHost, and the GPU machine
 * (shared/reference/gpu-machine.md) that fills in whatever they leave out.
 */

export interface SimulatedMigDevice {
  uuid: string;
  gpuInstance: number;
  computeInstance: number;
  /** MIG profile, e.g. "3g.20gb"; names the device "<gpu name> MIG <profile>". */
  profile?: string;
  /**
   * NVML's MIG device index (0-7): the index nvmlDeviceGetMigDeviceHandleByIndex answers this device for, and
   * the MIG index of a `<gpu>:<mig>` selection. Default: the device's position in migDevices. The slots no
   * device holds are gaps, answered NOT_FOUND, as on a GPU whose instances were not created in order.
   */
  slot?: number;
}

export interface SimulatedGpu {
  /**
   * Names and UUIDs may be up to 223 characters. From 96 on they do not fit the buffer NVML documents as
   * sufficient, and the mock answers NVML_ERROR_INSUFFICIENT_SIZE to a caller that passes that size.
   */
  name: string;
  uuid: string;
  pci: { domain: number; bus: number; device: number };
  minor: number;
  /** nvmlBrandType_t value: 2 Tesla, 5 GeForce, 14 NVIDIA, ... (see NVML_BRAND). */
  brand: number;
  computeCapability: [number, number];
  mig: 'unsupported' | 'disabled' | 'enabled';
  /** MIG devices (in NVML index order unless they say their slot); only with mig 'enabled' (at most 8). */
  migDevices?: SimulatedMigDevice[];
  /** PCI device id as NVML reports it, (device << 16) | vendor, e.g. 0x233010de. */
  pciDeviceId?: number;
  pciSubsystemId?: number;
  /** nvmlDeviceGetPersistenceMode's answer (default 'on', as on the GPU machine). */
  persistenceMode?: 'on' | 'off' | 'unsupported';
  /** Numbers of its DRM nodes cardN / renderDN when the spec has nvidiaDrm (default: card = position, render = 128 + position). */
  drm?: { card: number; render: number };
}

/** 'fork': the call forks a child that sleeps forever (a driver library's own helper), then goes on; 'daemon': the same in a session of its own. */
export type NvmlFaultKind = 'crash' | 'abort' | 'hang' | 'exit' | 'error' | 'fork' | 'daemon';

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
  /**
   * NVML symbols the mock library is installed without (default none), e.g. ['nvmlDeviceGetPciInfo_v3'] for a
   * driver that predates it: their names are altered in the copy's dynamic symbol table, so dlsym misses them.
   * Any of the mock's exports (MOCK_NVML_EXPORTS) may be named.
   */
  hiddenSymbols?: string[];
  /**
   * nvidia-drm loaded (default false, as on the GPU machine): sys/module/nvidia_drm, each GPU's
   * sys/bus/pci/devices/<bus>/drm/{cardN,renderDN}/dev and, with deviceNodes, dev/dri/ nodes (226:N).
   */
  nvidiaDrm?: boolean;
  /**
   * The GPU machine's driver tree (default false): libraries in usr/local/nvidia/lib64, the real
   * binaries in usr/local/nvidia/bin with usr/bin/nvidia-* shell wrappers that exec them, vendor
   * files in usr/local/nvidia/share naming their libraries by absolute path, X modules beside the libraries.
   */
  nvidiaTree?: boolean;
}

/** Where a simulated host's 64-bit driver libraries live. */
export function driverLibDir(spec: Pick<SimulatedHostSpec, 'nvidiaTree'>): string {
  return spec.nvidiaTree ? '/usr/local/nvidia/lib64' : '/usr/lib/x86_64-linux-gnu';
}

/** A GPU's DRM node numbers (card minor N, render minor 128 + M). */
export function gpuDrmNumbers(spec: SimulatedHostSpec, position: number): { card: number; render: number } {
  return spec.gpus[position]?.drm ?? { card: position, render: 128 + position };
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
    nvidiaDrm: false,
    nvidiaTree: false,
  };
}

/** The caller's fields over the default host's, copied so that neither the caller nor the default is shared. */
export function withDefaults(partial: Partial<SimulatedHostSpec> | undefined): SimulatedHostSpec {
  const spec = defaultSimulatedHostSpec();
  const target = spec as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(partial ?? {})) {
    if (v !== undefined) target[k] = v;
  }
  return structuredClone(spec);
}

/** PCI numbers in the fixed-width lowercase hex that both procfs and the mock's spec use. */
export function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}
