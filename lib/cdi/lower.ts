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
/** Any other driver file (new roles included): read-only. */
const DEFAULT_MOUNT = ['ro', 'nosuid', 'nodev', 'bind'];

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

/** What one device (or the common edits) collects. */
interface EditsAcc {
  nodes: CdiDeviceNode[];
  mounts: CdiMount[];
}

function addUnique<T>(list: T[], value: T, key: (v: T) => string): void {
  if (!list.some((v) => key(v) === key(value))) list.push(value);
}
const nodeKey = (n: CdiDeviceNode): string => n.path;
const mountKey = (m: CdiMount): string => m.containerPath;

const CONTAINER_BIN_DIR = '/usr/bin';

export function lowerToCdi(selection: Selection, devices: Device[], options: LowerOptions): LoweredSpec {
  const warnings: string[] = [];
  const gvisor = options.profile === 'gvisor';
  const nodeAllowed = (p: string): boolean => !gvisor || GVISOR_NODE.test(p);

  const common: EditsAcc = { nodes: [], mounts: [] };
  const byDevice = new Map<string, EditsAcc>();
  const accFor = (device: Item['device']): EditsAcc => {
    if (device === null) return common;
    const key = deviceKey(device);
    const acc = byDevice.get(key) ?? { nodes: [], mounts: [] };
    byDevice.set(key, acc);
    return acc;
  };
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
      addUnique(accFor(item.device).nodes, toDeviceNode(withNode), nodeKey);
      continue;
    }
    // Generated files (no host path) have no CDI form; procfs is the container's own (and
    // gVisor serves it itself); IPC cannot be bound into gVisor.
    if (item.hostPath === undefined || item.path.startsWith('/proc/') || item.path.startsWith('/dev/')) continue;
    if (gvisor && (item.role === 'ipc-socket' || item.role === 'ipc-dir')) continue;
    const isLib = item.role === 'library' || item.role === 'library32';
    // Binaries go where a container's PATH finds them (a driver kept in /usr/local/nvidia/bin would
    // otherwise be mounted where no shell looks), as configure puts them.
    const containerPath = isLib ? libraryTarget(item) : item.role === 'binary' ? path.join(CONTAINER_BIN_DIR, path.basename(item.path)) : item.path;
    addUnique(
      accFor(item.device).mounts,
      { hostPath: item.hostPath, containerPath, type: 'bind', options: [...(MOUNT_OPTIONS[item.role] ?? DEFAULT_MOUNT)] },
      mountKey,
    );
    if (isLib) {
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

  const toEdits = (acc: EditsAcc): CdiContainerEdits => {
    const gids = gidsFor(acc.nodes, options.nodeAccess);
    return {
      ...(acc.nodes.length > 0 && { deviceNodes: acc.nodes.map((n) => ({ ...n })) }),
      ...(acc.mounts.length > 0 && { mounts: acc.mounts.map((m) => ({ ...m, ...(m.options && { options: [...m.options] }) })) }),
      ...(gids.length > 0 && { additionalGids: gids }),
    };
  };
  const cdiDevices: CdiDevice[] = [];
  const all: EditsAcc = { nodes: [], mounts: [] };
  const addDevice = (names: string[], parts: EditsAcc[]): void => {
    const acc: EditsAcc = { nodes: [], mounts: [] };
    for (const p of parts) {
      p.nodes.forEach((n) => addUnique(acc.nodes, n, nodeKey));
      p.mounts.forEach((m) => addUnique(acc.mounts, m, mountKey));
    }
    if (acc.nodes.length === 0) {
      warnings.push(`device ${names.join('/')} has no device node: left out of the spec`);
      return;
    }
    acc.nodes.forEach((n) => addUnique(all.nodes, n, nodeKey));
    acc.mounts.forEach((m) => addUnique(all.mounts, m, mountKey));
    for (const name of names) cdiDevices.push({ name, containerEdits: toEdits(acc) });
  };
  const none: EditsAcc = { nodes: [], mounts: [] };
  for (const gpu of devices) {
    const gpuAcc = byDevice.get(`gpu:${gpu.uuid}`) ?? none;
    addDevice(
      options.strategies.map((s) => gpuName(s, gpu)),
      [gpuAcc],
    );
    for (const mig of gpu.mig.devices) {
      const own = byDevice.get(`mig:${mig.uuid}`) ?? none;
      if (own.nodes.length === 0 && !gvisor) warnings.push(`MIG device ${gpu.index}:${mig.index} has no access capability node`);
      // A MIG device is used through its parent GPU's node.
      addDevice(
        options.strategies.map((s) => migName(s, gpu, mig)),
        [gpuAcc, own],
      );
    }
  }
  if (all.nodes.length > 0) cdiDevices.push({ name: ALL_DEVICE, containerEdits: toEdits(all) });

  return { kind: options.kind, devices: cdiDevices, containerEdits: { ...toEdits(common), ...(hooks.length > 0 && { hooks }) }, warnings };
}
