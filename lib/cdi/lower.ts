/**
 * The CDI lowering of a selection (lib/plan/items.ts): every item with a device node and a
 * device becomes a deviceNode of that device (a MIG device also gets its parent GPU's nodes),
 * common items become the common edits. Items this lowering has no CDI form for (generated
 * procfs copies, procfs directories) are left out: the params copy is the hook's job.
 */
import * as path from 'node:path';
import type { Device } from '../types';
import type { Item, ItemRole, Selection } from '../plan/items';
import { ALL_DEVICE, gpuName, migName, type NameStrategy } from './naming';
import type { CdiContainerEdits, CdiDevice, CdiDeviceNode, CdiHook, CdiMount } from './spec';

export type CdiProfile = 'default' | 'gvisor';

export interface LowerOptions {
  kind: string;
  strategies: NameStrategy[];
  profile: CdiProfile;
  /** The hook executable's path as the runtime will see it. */
  hookPath: string;
  /** The host's /proc (the params copy's source) when it is not /proc. */
  procRoot: string;
  /** For a node's host path: its mode and group, to add the group where the node is not world-rw. */
  nodeAccess(hostPath: string): { mode: number; gid: number } | null;
}

export interface LoweredSpec {
  kind: string;
  devices: CdiDevice[];
  containerEdits: CdiContainerEdits;
  warnings: string[];
}

/** Which nodes gVisor's nvproxy serves: the control node, uvm and the GPUs. Nothing else may be named. */
const GVISOR_NODE = /^\/dev\/(nvidiactl|nvidia-uvm|nvidia\d+)$/;

const LIB_MOUNT = ['ro', 'nosuid', 'nodev', 'bind'];
const BIN_MOUNT = ['ro', 'nosuid', 'nodev', 'bind'];
const FIRMWARE_MOUNT = ['ro', 'nosuid', 'nodev', 'noexec', 'bind'];
/** Sockets must be writable to connect to (nvidia-container-toolkit 1.18.2 had to learn that too). */
const IPC_MOUNT = ['nosuid', 'nodev', 'noexec', 'bind'];

const HOOK_ARGV0 = 'nvc-ts-cdi-hook';

function deviceKey(d: NonNullable<Item['device']>): string {
  return `${d.kind}:${d.uuid}`;
}

function toDeviceNode(item: Item & { node: NonNullable<Item['node']> }): CdiDeviceNode {
  const hostPath = item.hostPath ?? item.path;
  return {
    path: item.path,
    ...(hostPath !== item.path && { hostPath }),
    type: 'c',
    ...(item.node.major !== null && { major: item.node.major, minor: item.node.minor }),
  };
}

/** Nodes that are not readable and writable by all: their groups, so that container processes may open them. */
function gidsFor(nodes: CdiDeviceNode[], access: LowerOptions['nodeAccess']): number[] {
  const gids = new Set<number>();
  for (const n of nodes) {
    const a = access(n.hostPath ?? n.path);
    if (a !== null && (a.mode & 0o006) !== 0o006 && a.gid !== 0) gids.add(a.gid);
  }
  return [...gids].sort((a, b) => a - b);
}

function nodeEdits(nodes: CdiDeviceNode[], access: LowerOptions['nodeAccess']): CdiContainerEdits {
  const gids = gidsFor(nodes, access);
  return { deviceNodes: nodes, ...(gids.length > 0 && { additionalGids: gids }) };
}

/** Libraries are mounted at their SONAME path, so that no symlink hook is needed for the loader to find them. */
function libraryTarget(item: Item): string {
  return item.soname === undefined ? item.path : path.join(path.dirname(item.path), item.soname);
}

const MOUNT_OPTIONS: Partial<Record<ItemRole, string[]>> = {
  library: LIB_MOUNT,
  library32: LIB_MOUNT,
  binary: BIN_MOUNT,
  firmware: FIRMWARE_MOUNT,
  'ipc-socket': IPC_MOUNT,
  'ipc-dir': IPC_MOUNT,
};

export function lowerToCdi(selection: Selection, devices: Device[], options: LowerOptions): LoweredSpec {
  const warnings: string[] = [];
  const gvisor = options.profile === 'gvisor';
  const nodeAllowed = (p: string): boolean => !gvisor || GVISOR_NODE.test(p);

  // Per-device nodes, by device.
  const byDevice = new Map<string, CdiDeviceNode[]>();
  const commonNodes: CdiDeviceNode[] = [];
  const mounts: CdiMount[] = [];
  const seenTargets = new Set<string>();
  const libDirs: string[] = [];
  const links: string[] = [];

  for (const item of selection.items) {
    if (item.node !== undefined) {
      const withNode = item as Item & { node: NonNullable<Item['node']> };
      if (!nodeAllowed(item.path)) continue;
      // A node the runtime cannot find makes every container start fail: leave it out, loudly.
      if (!item.node.exists) {
        warnings.push(`${item.hostPath ?? item.path} does not exist on this host (yet): left out of the spec`);
        continue;
      }
      const node = toDeviceNode(withNode);
      if (item.device === null) {
        if (!commonNodes.some((n) => n.path === node.path)) commonNodes.push(node);
      } else {
        const key = deviceKey(item.device);
        const list = byDevice.get(key) ?? [];
        if (!list.some((n) => n.path === node.path)) list.push(node);
        byDevice.set(key, list);
      }
      continue;
    }
    if (item.device !== null || item.hostPath === undefined) continue;
    if (gvisor && (item.role === 'ipc-socket' || item.role === 'ipc-dir')) continue;
    if (item.path.startsWith('/proc/')) continue; // gVisor serves /proc itself; runc's procfs is the container's own.
    const opts = MOUNT_OPTIONS[item.role];
    if (opts === undefined) continue;
    const containerPath = item.role === 'library' || item.role === 'library32' ? libraryTarget(item) : item.path;
    if (seenTargets.has(containerPath)) continue;
    seenTargets.add(containerPath);
    mounts.push({ hostPath: item.hostPath, containerPath, type: 'bind', options: [...opts] });
    if (item.role === 'library' || item.role === 'library32') {
      const dir = path.dirname(containerPath);
      if (!libDirs.includes(dir)) libDirs.push(dir);
      // The development name the CUDA runtime's loader also tries.
      if (item.soname?.startsWith('libcuda.so.')) links.push(`${item.soname}::${path.join(dir, 'libcuda.so')}`);
    }
  }

  const hooks: CdiHook[] = [];
  const hook = (args: string[]): void => {
    hooks.push({ hookName: 'createContainer', path: options.hookPath, args: [HOOK_ARGV0, ...args] });
  };
  if (links.length > 0) hook(['create-symlinks', ...links.flatMap((l) => ['--link', l])]);
  if (libDirs.length > 0) hook(['update-ldcache', ...libDirs.flatMap((d) => ['--folder', d])]);
  // gVisor serves its own params (and runs hooks where the rootfs has no procfs): nothing to rewrite.
  if (!gvisor) {
    const params = path.join(options.procRoot, 'driver/nvidia/params');
    hook(['disable-device-node-modification', ...(options.procRoot !== '/proc' ? ['--params', params] : [])]);
  }

  const cdiDevices: CdiDevice[] = [];
  const allNodes: CdiDeviceNode[] = [];
  const addDevice = (names: string[], nodes: CdiDeviceNode[]): void => {
    if (nodes.length === 0) {
      warnings.push(`device ${names.join('/')} has no device node: left out of the spec`);
      return;
    }
    for (const n of nodes) if (!allNodes.some((a) => a.path === n.path)) allNodes.push(n);
    for (const name of names)
      cdiDevices.push({
        name,
        containerEdits: nodeEdits(
          nodes.map((n) => ({ ...n })),
          options.nodeAccess,
        ),
      });
  };
  for (const gpu of devices) {
    const gpuNodes = byDevice.get(`gpu:${gpu.uuid}`) ?? [];
    addDevice(
      options.strategies.map((s) => gpuName(s, gpu)),
      gpuNodes,
    );
    for (const mig of gpu.mig.devices) {
      const own = byDevice.get(`mig:${mig.uuid}`) ?? [];
      if (own.length === 0 && !gvisor) warnings.push(`MIG device ${gpu.index}:${mig.index} has no access capability node`);
      addDevice(
        options.strategies.map((s) => migName(s, gpu, mig)),
        [...gpuNodes, ...own],
      );
    }
  }
  if (allNodes.length > 0)
    cdiDevices.push({
      name: ALL_DEVICE,
      containerEdits: nodeEdits(
        allNodes.map((n) => ({ ...n })),
        options.nodeAccess,
      ),
    });

  const common: CdiContainerEdits = { ...nodeEdits(commonNodes, options.nodeAccess), mounts, hooks };
  if (commonNodes.length === 0) delete common.deviceNodes;
  return { kind: options.kind, devices: cdiDevices, containerEdits: common, warnings };
}
