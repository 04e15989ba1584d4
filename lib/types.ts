/** Plain result objects returned by the facade. Paths are as seen inside the driver root. */

/** The driver capabilities a container asks for (the reference's library groups), in the reference's order. */
export const CAPABILITIES = ['utility', 'compute', 'video', 'graphics', 'display', 'ngx'] as const;
export type Capability = (typeof CAPABILITIES)[number];

export interface DriverFile {
  /** e.g. "/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04" */
  path: string;
  /** The container capabilities that select this file. */
  capabilities: Capability[];
  /** For libraries: the ELF SONAME (e.g. "libcuda.so.1"), when it differs from the file name. */
  soname?: string;
}

export interface DeviceNode {
  path: string;
  major: number;
  minor: number;
  /** False when the node is expected (e.g. nvidia-modeset) but absent under the dev root. */
  exists: boolean;
}

export interface DriverInfo {
  /** NVRM version, e.g. "580.159.04". */
  version: string;
  /** CUDA driver API version, e.g. "13.0". */
  cudaVersion: string;
  libraries: DriverFile[];
  libraries32: DriverFile[];
  binaries: DriverFile[];
  ipcs: DriverFile[];
  firmware: DriverFile[];
  /** nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset (in that order, when known). */
  deviceNodes: DeviceNode[];
  /** Major of the nvidia-caps char device, null when the driver exposes capabilities only in procfs. */
  nvcapsMajor: number | null;
  /** Major of nvidia-caps-imex-channels, null when absent. */
  imexMajor: number | null;
  migConfigMinor: number | null;
  migMonitorMinor: number | null;
}

export interface MigDevice {
  index: number;
  uuid: string;
  gpuInstance: number;
  computeInstance: number;
  /** /proc/driver/nvidia/capabilities/gpu<minor>/mig/gi<gi> */
  giCapsPath: string;
  /** .../gi<gi>/ci<ci> */
  ciCapsPath: string;
  /** Minor of /dev/nvidia-caps/nvidia-cap<N> for the GI access cap, null if unreadable. */
  giCapMinor: number | null;
  ciCapMinor: number | null;
}

export interface Device {
  index: number;
  minor: number;
  model: string;
  /** The reference's brand names: "Tesla", "Nvidia", "GeForce", ... */
  brand: string;
  uuid: string;
  /** "%08x:%02x:%02x.0", e.g. "00000000:00:06.0" */
  busId: string;
  /** Compute capability, e.g. "9.0". */
  architecture: string;
  deviceNode: { path: string; major: number; minor: number };
  /** NVML's persistence mode; null where the GPU or library cannot say. */
  persistenceMode: boolean | null;
  mig: {
    capable: boolean;
    enabled: boolean;
    /** /proc/driver/nvidia/capabilities/gpu<minor> */
    capsPath: string;
    devices: MigDevice[];
  };
}
