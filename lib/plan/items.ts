/**
 * The selection stage's output: what a request gives a container, independent of any
 * container. Each item is one host file, directory, device node or generated file, tagged
 * with its role and the device it belongs to (null: common to all). Lowerings turn items
 * into the edits of one target: a container mount plan (mount-plan.ts), the `list` output
 * (listing.ts), and later CDI specs and copy-mode installs.
 */
import type { Capability, Device } from '../types';

/** The nvc lifecycle step an item (and so each of its edits) belongs to. */
export type PlanStep = 'driver' | 'device' | 'mig-access' | 'mig-config' | 'mig-monitor' | 'imex' | 'seal';

export const ITEM_ROLES = [
  /** A copy of /proc/driver/nvidia/{params,version,registry} (data: its text). */
  'proc-file',
  /** The application-profile directory (graphics). */
  'app-profile-dir',
  /** The EGL application profile making only the selected GPUs visible (data). */
  'app-profile',
  'binary',
  'library',
  'library32',
  'firmware',
  /** persistenced, fabricmanager sockets. */
  'ipc-socket',
  /** The MPS pipe directory. */
  'ipc-dir',
  /** nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset. */
  'control-device',
  'gpu-device',
  /** /proc/driver/nvidia/gpus/<bus>. */
  'gpu-procfs',
  /** A MIG device's gi/ci access file in procfs. */
  'mig-access',
  /** The nvidia-caps node of a MIG device's access capability. */
  'mig-cap-device',
  /** /proc/driver/nvidia/capabilities, for mig-config/monitor. */
  'mig-caps-procfs',
  /** The global MIG config/monitor capability file (with its nvidia-caps node numbers). */
  'mig-global-cap',
  /** A MIG-capable GPU's capability directory, for mig-config/monitor. */
  'mig-gpu-caps',
  /** /dev/nvidia-caps, for mig-config/monitor. */
  'mig-caps-devdir',
  /** An nvidia-caps node of a GPU's MIG minors (allowed, not bound). */
  'mig-minor-device',
  'imex-channel',
  /** A GPU's DRM node, /dev/dri/cardN or renderDN (graphics, video, display). */
  'drm-device',
  /** A GPU's /dev/dri/by-path link to its DRM node (link: the relative target). */
  'drm-link',
  /**
   * A loader's vendor file (EGL, Vulkan, EGL external platform, OpenCL ICD): path is where the
   * container gets it, hostPath the driver's file; data when its library path had to be rewritten.
   */
  'graphics-file',
  /** An X server module (nvidia_drv.so, libglxserver_nvidia.so): path in the container, hostPath the driver's file. */
  'xorg-module',
] as const;
export type ItemRole = (typeof ITEM_ROLES)[number];

export type IpcKind = 'persistenced' | 'fabricmanager' | 'mps';

/** The device an item serves. */
export interface ItemDevice {
  kind: 'gpu' | 'mig';
  uuid: string;
  /** GPU index; for MIG, the parent's. */
  index: number;
  /** MIG device index on its parent. */
  migIndex?: number;
}

export interface Item {
  role: ItemRole;
  step: PlanStep;
  /** The path as the driver root shows it, which is also where same-path targets put it. */
  path: string;
  /** Host path to bind or copy from; absent for generated files. */
  hostPath?: string;
  device: ItemDevice | null;
  /** Device node numbers; major null where the driver exposes none. */
  node?: { major: number | null; minor: number; exists: boolean };
  /** The host lacks what was asked for: targets warn or refuse. */
  missing?: true;
  /** Generated content (proc-file, app-profile). */
  data?: string;
  /** Libraries: the ELF SONAME, when it differs from the file name. */
  soname?: string;
  /** Driver files: the capabilities that select it. */
  capabilities?: Capability[];
  ipc?: IpcKind;
  /** drm-link: the symlink's target, relative to the link's directory. */
  link?: string;
  /** mig-caps-procfs, mig-global-cap, mig-gpu-caps, mig-caps-devdir, mig-minor-device: which capability asked for it. */
  migCaps?: 'config' | 'monitor';
}

export interface Selection {
  items: Item[];
  /** Selected GPUs in selection order (a selected MIG device brings its parent). */
  gpus: Device[];
  capabilities: Capability[];
  compat32: boolean;
  /** What the host lacks for the request without making it fail (lowerings pass them on). */
  warnings: string[];
  /** For the debug log only (e.g. a wrapper script passed over for the driver's binary). */
  notes: string[];
}

/** Host paths as the driver root itself shows them: what `list` prints (no host path is resolved). */
export const DRIVER_ROOT_VIEW = { root: '/', procRoot: '/proc', devRoot: '/dev' } as const;

export const PROC_DIR = '/proc/driver/nvidia';
export const APP_PROFILE_DIR = '/etc/nvidia/nvidia-application-profiles-rc.d';
export const APP_PROFILE_FILE = `${APP_PROFILE_DIR}/10-container.conf`;
export const CAPS_PROC_DIR = '/proc/driver/nvidia/capabilities';
export const MIG_CAPS_DIR = `${CAPS_PROC_DIR}/mig`;
export const NVCAPS_DEVICE_DIR = '/dev/nvidia-caps';
export const DRI_DIR = '/dev/dri';
export const IMEX_CHANNEL_DIR = '/dev/nvidia-caps-imex-channels';

export const capNodePath = (minor: number): string => `${NVCAPS_DEVICE_DIR}/nvidia-cap${minor}`;
export const imexNodePath = (channel: number): string => `${IMEX_CHANNEL_DIR}/channel${channel}`;

export function deviceTagOf(gpu: Device, migIndex?: number, migUuid?: string): ItemDevice {
  return migIndex === undefined ? { kind: 'gpu', uuid: gpu.uuid, index: gpu.index } : { kind: 'mig', uuid: migUuid ?? '', index: gpu.index, migIndex };
}
