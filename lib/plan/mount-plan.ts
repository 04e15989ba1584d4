/**
 * The container lowering: items (select-items.ts) -> the edits that make one container's
 * rootfs GPU-ready for its library layout, with device-cgroup rules and the ldconfig run.
 * Each edit names its origin (step, role, device). Executors apply the plan in the container's
 * mount namespace; `configure --dry-run` prints it. Pure: no I/O.
 */
import * as path from 'node:path';
import { NvcError } from '../errors';
import { APP_PROFILE_DIR, PROC_DIR, type Item, type ItemRole, type PlanStep, type Selection } from './items';

/** The edit vocabulary, in the order of native/include/nvc_vocabulary.def (a test keeps them in step). */
export const EDIT_KINDS = ['tmpfs', 'write', 'bind', 'symlink', 'remount'] as const;
export const SOURCE_KINDS = ['file', 'dir', 'char', 'socket'] as const;
export const MOUNT_FLAGS = ['ro', 'nosuid', 'nodev', 'noexec'] as const;
export type EditKind = (typeof EDIT_KINDS)[number];
export type MountFlag = (typeof MOUNT_FLAGS)[number];
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** Where an edit comes from: its lifecycle step, the role of its item, the device it serves (UUID, null: common). */
export interface EditOrigin {
  step: PlanStep;
  role: ItemRole;
  device: string | null;
}

export type Edit = (
  | { kind: 'tmpfs'; target: string; mode: number; flags: MountFlag[] }
  | { kind: 'write'; target: string; data: string; mode: number }
  | { kind: 'bind'; target: string; source: string; sourceKind: SourceKind; major?: number; minor?: number; flags: MountFlag[] }
  | { kind: 'symlink'; target: string; link: string }
  | { kind: 'remount'; target: string; flags: MountFlag[] }
) & { origin: EditOrigin };

// The union's kinds are exactly EDIT_KINDS (a compile error otherwise).
type SameSet<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const EDIT_UNION_MATCHES_VOCABULARY: SameSet<Edit['kind'], EditKind> = true;

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

/** What the container decides beyond the selection. */
export interface MountPlanOptions {
  /** No device-cgroup rules (rootless runtimes, or no container process to find a cgroup by). */
  noCgroups: boolean;
  /** No device node binds (the runtime makes the nodes); rules are still planned. */
  noDevbind: boolean;
  /** ldconfig to run: "@/sbin/ldconfig" (host binary) or a container path; null to skip. */
  ldconfig: string | null;
}

export interface ContainerPlan {
  edits: Edit[];
  cgroupRules: DeviceRule[];
  ldconfig: { path: string; dirs: string[] } | null;
  warnings: string[];
  /** For the debug log only (Selection.notes). */
  notes: string[];
}

const LIB_FLAGS: MountFlag[] = ['ro', 'nosuid', 'nodev'];
const PROC_FLAGS: MountFlag[] = ['ro', 'nosuid', 'nodev', 'noexec'];
const DEV_FLAGS: MountFlag[] = ['ro', 'nosuid', 'noexec'];
const IPC_FLAGS: MountFlag[] = ['nosuid', 'nodev', 'noexec'];
const TMPFS_FLAGS: MountFlag[] = ['nosuid', 'nodev', 'noexec'];

/** The development links the reference adds beside the libraries: [file pattern, link name, link target]. */
const DEV_LINKS: [RegExp, string, (real: string) => string][] = [
  [/^libcuda\.so\./, 'libcuda.so', () => 'libcuda.so.1'],
  [/^libnvidia-opticalflow\.so\./, 'libnvidia-opticalflow.so', () => 'libnvidia-opticalflow.so.1'],
  [/^libGLX_nvidia\.so\./, 'libGLX_indirect.so.0', (real) => real],
];

type EditBody = Edit extends infer E ? (E extends Edit ? Omit<E, 'origin'> : never) : never;

class Builder {
  readonly edits: Edit[] = [];
  readonly rules: DeviceRule[] = [];
  readonly warnings: string[] = [];
  readonly #targets = new Set<string>();

  constructor(private readonly options: MountPlanOptions) {}

  add(edit: EditBody, from: Pick<Item, 'step' | 'role' | 'device'>): void {
    // Two edits for one path would make the second fail or shadow the first: keep the first.
    if (edit.kind !== 'remount' && this.#targets.has(edit.target)) return;
    this.#targets.add(edit.target);
    this.edits.push({ ...edit, origin: { step: from.step, role: from.role, device: from.device?.uuid ?? null } } as Edit);
  }

  allow(major: number, minor: number, nodePath: string, step: PlanStep): void {
    if (this.options.noCgroups || this.rules.some((r) => r.major === major && r.minor === minor)) return;
    this.rules.push({ type: 'c', major, minor, access: 'rw', path: nodePath, step });
  }

  /** A device node: bound (unless the runtime makes nodes) and allowed. */
  device(item: Item, major: number, minor: number): void {
    if (!this.options.noDevbind)
      this.add({ kind: 'bind', target: item.path, source: item.hostPath as string, sourceKind: 'char', major, minor, flags: DEV_FLAGS }, item);
    this.allow(major, minor, item.path, item.step);
  }
}

function missingOnHost(item: Item): string {
  return `${item.path} is missing on the host; the container gets none`;
}

/** Refuse what a container cannot do without: the display capability without nvidia-modeset, an IMEX channel without its node. */
function refuseMissing(item: Item): void {
  if (item.role === 'control-device' && path.basename(item.path) === 'nvidia-modeset') {
    throw new NvcError(
      'ERR_NVC_INVALID_ARGUMENT',
      `the display capability needs ${item.path}, which this host lacks (the nvidia_modeset kernel module is not loaded)`,
      {
        path: item.path,
        hint: 'load the module (modprobe nvidia-modeset) or drop the display capability',
      },
    );
  }
  if (item.role === 'imex-channel') {
    refuseImexWithoutDriver(item);
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `IMEX channel ${item.node?.minor} was requested but the host has no ${item.path}`, {
      path: item.hostPath as string,
      hint: `create the channel's device node on the host (nvidia-modprobe -i ${item.node?.minor}, or the driver's NVreg_CreateImexChannel0 for channel 0), or drop the request`,
    });
  }
}

function refuseImexWithoutDriver(item: Item): void {
  if (item.node?.major === null) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `IMEX channel ${item.node.minor} was requested but the driver exposes no nvidia-caps-imex-channels device`, {
      hint: 'drop `imexChannels`, or use a driver with IMEX support',
    });
  }
}

export function lowerToMountPlan(selection: Selection, layout: ContainerLayout, options: MountPlanOptions): ContainerPlan {
  const b = new Builder(options);
  b.warnings.push(...selection.warnings);
  // A vendor file given rewritten is written into a tmpfs over its directory (writes go only
  // into the plan's own tmpfs): the image's files of that directory are hidden then.
  const generatedDirs = new Set(
    selection.items.filter((i) => i.role === 'graphics-file' && i.data !== undefined && !i.missing).map((i) => path.posix.dirname(i.path)),
  );
  const common = { step: 'driver', role: 'proc-file', device: null } as const;
  b.add({ kind: 'tmpfs', target: PROC_DIR, mode: 0o555, flags: TMPFS_FLAGS }, common);

  // Libraries of one directory, then the development links among them.
  type LibSet = { role: ItemRole; dir: string; mounted: string[]; last: Item };
  let libSet: LibSet | null = null as LibSet | null;
  const flushLinks = (): void => {
    const set = libSet;
    if (set === null) return;
    for (const [pattern, linkName, target] of DEV_LINKS) {
      const real = set.mounted.find((n) => pattern.test(n));
      if (real) b.add({ kind: 'symlink', target: path.posix.join(set.dir, linkName), link: target(real) }, set.last);
    }
    libSet = null;
  };

  for (const item of selection.items) {
    if (libSet !== null && item.role !== libSet.role) flushLinks();
    if (item.missing) {
      refuseMissing(item);
      b.warnings.push(missingOnHost(item));
      continue;
    }
    const source = item.hostPath as string;
    switch (item.role) {
      case 'proc-file':
        b.add({ kind: 'write', target: item.path, data: item.data as string, mode: 0o444 }, item);
        break;
      case 'app-profile-dir':
        b.add({ kind: 'tmpfs', target: APP_PROFILE_DIR, mode: 0o555, flags: TMPFS_FLAGS }, item);
        break;
      case 'app-profile':
        b.add({ kind: 'write', target: item.path, data: item.data as string, mode: 0o555 }, item);
        break;
      case 'binary':
        b.add({ kind: 'bind', target: path.posix.join(layout.binsDir, path.basename(item.path)), source, sourceKind: 'file', flags: LIB_FLAGS }, item);
        break;
      case 'library':
      case 'library32': {
        const dir: string = item.role === 'library' ? layout.libsDir : layout.libs32Dir;
        const name = path.basename(item.path);
        const set: LibSet = libSet ?? { role: item.role, dir, mounted: [], last: item };
        libSet = set;
        set.mounted.push(name);
        set.last = item;
        b.add({ kind: 'bind', target: path.posix.join(dir, name), source, sourceKind: 'file', flags: LIB_FLAGS }, item);
        // SONAME link, so the library resolves before (and without) ldconfig.
        if (item.soname && item.soname !== name) b.add({ kind: 'symlink', target: path.posix.join(dir, item.soname), link: name }, item);
        break;
      }
      case 'firmware':
      case 'xorg-module':
        b.add({ kind: 'bind', target: item.path, source, sourceKind: 'file', flags: LIB_FLAGS }, item);
        break;
      case 'graphics-file': {
        const dir = path.posix.dirname(item.path);
        if (generatedDirs.has(dir)) b.add({ kind: 'tmpfs', target: dir, mode: 0o755, flags: TMPFS_FLAGS }, item);
        if (item.data !== undefined) b.add({ kind: 'write', target: item.path, data: item.data, mode: 0o444 }, item);
        else b.add({ kind: 'bind', target: item.path, source, sourceKind: 'file', flags: PROC_FLAGS }, item);
        break;
      }
      case 'drm-device':
        b.device(item, item.node?.major as number, item.node?.minor as number);
        break;
      case 'drm-link':
        b.add({ kind: 'symlink', target: item.path, link: item.link as string }, item);
        break;
      case 'ipc-socket':
      case 'ipc-dir':
        b.add({ kind: 'bind', target: item.path, source, sourceKind: item.role === 'ipc-dir' ? 'dir' : 'socket', flags: IPC_FLAGS }, item);
        break;
      case 'gpu-procfs':
        b.add({ kind: 'bind', target: item.path, source, sourceKind: 'dir', flags: PROC_FLAGS }, item);
        break;
      case 'mig-access':
        b.add({ kind: 'bind', target: item.path, source, sourceKind: 'file', flags: PROC_FLAGS }, item);
        break;
      case 'imex-channel':
        refuseImexWithoutDriver(item);
        b.device(item, item.node?.major as number, item.node?.minor as number);
        break;
      case 'control-device':
      case 'gpu-device':
      case 'mig-cap-device':
        b.device(item, item.node?.major as number, item.node?.minor as number);
        break;
      case 'mig-caps-procfs':
        b.add({ kind: 'bind', target: item.path, source, sourceKind: 'dir', flags: PROC_FLAGS }, item);
        break;
      case 'mig-global-cap':
        // Inside the capabilities directory given whole; its node is allowed.
        if (item.node && item.node.major !== null) b.allow(item.node.major, item.node.minor, item.path, item.step);
        break;
      case 'mig-caps-devdir':
        if (!options.noDevbind) b.add({ kind: 'bind', target: item.path, source, sourceKind: 'dir', flags: ['nosuid', 'noexec'] }, item);
        break;
      case 'mig-minor-device':
        b.allow(item.node?.major as number, item.node?.minor as number, item.path, item.step);
        break;
      case 'mig-gpu-caps':
        break; // inside the capabilities directory given whole
    }
  }
  flushLinks();

  // Last: the driver's procfs copy becomes read-only once everything under it exists.
  b.add({ kind: 'remount', target: PROC_DIR, flags: ['ro', 'nosuid', 'nodev', 'noexec'] }, { ...common, step: 'seal' });

  const dirs = [layout.libsDir, ...(selection.compat32 ? [layout.libs32Dir] : [])];
  return {
    edits: b.edits,
    cgroupRules: b.rules,
    ldconfig: options.ldconfig === null ? null : { path: options.ldconfig, dirs },
    warnings: b.warnings,
    notes: selection.notes,
  };
}
