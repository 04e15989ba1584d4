/**
 * The `list` lowering: items -> the host paths nvidia-container-cli 1.17's `list` prints, in
 * its order: driver device nodes, GPU nodes, MIG access caps, IMEX channels, MIG config and
 * monitor caps, binaries, libraries, 32-bit libraries, IPCs, firmware. Pure.
 */
import { NVCAPS_DEVICE_DIR, capNodePath, type Item, type Selection } from './items';

/** Which groups to print (the list command's flags). */
export interface ListingGroups {
  /** Device nodes and MIG access caps (`--device` given). */
  devices: boolean;
  imexChannels: boolean;
  binaries: boolean;
  libraries: boolean;
  ipcs: boolean;
  firmwares: boolean;
}

export interface ListedNode {
  path: string;
  major: number | null;
  minor: number | null;
  exists: boolean;
}

export type ListGroup = 'deviceNodes' | 'migCaps' | 'directories' | 'binaries' | 'libraries' | 'libraries32' | 'ipcs' | 'firmware';

export interface ListEntry {
  group: ListGroup;
  path: string;
  /** Set for deviceNodes entries. */
  node?: ListedNode;
}

/** Nodes the reference lists without checking that they exist. */
const SYNTHESISED_NODES = new Set(['/dev/nvidiactl', '/dev/nvidia-modeset']);

function nodeEntry(item: Item): ListEntry {
  const n = item.node;
  return { group: 'deviceNodes', path: item.path, node: { path: item.path, major: n?.major ?? null, minor: n?.minor ?? null, exists: n?.exists ?? false } };
}

const of = (items: Item[], role: Item['role']): Item[] => items.filter((i) => i.role === role);

/** A MIG device's two access files, then their two nodes (the reference's order). */
function migAccessEntries(items: Item[]): ListEntry[] {
  const out: ListEntry[] = [];
  const devices = [...new Set(items.filter((i) => i.role === 'mig-access').map((i) => i.device?.uuid))];
  for (const uuid of devices) {
    const mine = items.filter((i) => i.device?.uuid === uuid);
    for (const i of of(mine, 'mig-access')) out.push({ group: 'migCaps', path: i.path });
    out.push(...of(mine, 'mig-cap-device').map(nodeEntry));
  }
  return out;
}

/** The global cap and its node, then per GPU its caps directory, /dev/nvidia-caps and its MIG minor nodes. */
function migCapsEntries(items: Item[], which: 'config' | 'monitor'): ListEntry[] {
  const mine = items.filter((i) => i.migCaps === which);
  const gpus = of(mine, 'mig-gpu-caps');
  if (gpus.length === 0) return [];
  const out: ListEntry[] = [];
  for (const g of of(mine, 'mig-global-cap')) {
    out.push({ group: 'migCaps', path: g.path });
    if (g.node && g.node.major !== null) out.push(nodeEntry({ ...g, path: capNodePath(g.node.minor) }));
  }
  const devdir = of(mine, 'mig-caps-devdir').length > 0;
  for (const gpu of gpus) {
    out.push({ group: 'migCaps', path: gpu.path });
    if (!devdir) continue;
    out.push({ group: 'directories', path: NVCAPS_DEVICE_DIR });
    out.push(
      ...of(mine, 'mig-minor-device')
        .filter((i) => i.device?.uuid === gpu.device?.uuid)
        .map(nodeEntry),
    );
  }
  return out;
}

export function lowerToListing(selection: Selection, groups: ListingGroups): ListEntry[] {
  const { items } = selection;
  const files = (group: ListGroup, role: Item['role'] | Item['role'][]): ListEntry[] =>
    items.filter((i) => (Array.isArray(role) ? role.includes(i.role) : i.role === role)).map((i) => ({ group, path: i.path }));
  return [
    ...(groups.devices
      ? [
          ...of(items, 'control-device')
            .filter((i) => i.node?.exists || SYNTHESISED_NODES.has(i.path))
            .map(nodeEntry),
          ...of(items, 'gpu-device').map(nodeEntry),
          ...migAccessEntries(items),
        ]
      : []),
    ...(groups.imexChannels ? of(items, 'imex-channel').map(nodeEntry) : []),
    ...migCapsEntries(items, 'config'),
    ...migCapsEntries(items, 'monitor'),
    ...(groups.binaries ? files('binaries', 'binary') : []),
    ...(groups.libraries ? files('libraries', 'library') : []),
    ...(groups.libraries ? files('libraries32', 'library32') : []),
    ...(groups.ipcs ? files('ipcs', ['ipc-socket', 'ipc-dir']) : []),
    ...(groups.firmwares ? files('firmware', 'firmware') : []),
  ];
}

export function formatListText(entries: ListEntry[]): string {
  return entries.map((e) => `${e.path}\n`).join('');
}

export interface ListJson {
  deviceNodes: ListedNode[];
  migCaps: string[];
  binaries: string[];
  libraries: string[];
  libraries32: string[];
  ipcs: string[];
  firmware: string[];
}

/** Grouped, without duplicates; the /dev/nvidia-caps directory line of the text output has no group here. */
export function listJson(entries: ListEntry[]): ListJson {
  const out: ListJson = { deviceNodes: [], migCaps: [], binaries: [], libraries: [], libraries32: [], ipcs: [], firmware: [] };
  const seen = new Set<string>();
  for (const entry of entries) {
    const key = `${entry.group}\0${entry.path}`;
    if (entry.group === 'directories' || seen.has(key)) continue;
    seen.add(key);
    if (entry.group === 'deviceNodes') {
      if (entry.node !== undefined) out.deviceNodes.push(entry.node);
    } else {
      out[entry.group].push(entry.path);
    }
  }
  return out;
}

export function formatListJson(entries: ListEntry[]): string {
  // schemaVersion: the CLI's JSON outputs all carry one (lib/cli/format-error.ts).
  return `${JSON.stringify({ schemaVersion: 1, ...listJson(entries) }, null, 2)}\n`;
}
