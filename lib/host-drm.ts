/**
 * The DRM nodes of each GPU (/dev/dri/cardN, /dev/dri/renderDN), read from sysfs: the nvidia-drm
 * module registers them under the GPU's PCI device, and their numbers come from the `dev` files
 * there (or, failing that, from the nodes under the dev root). Graphics, video and display
 * containers get the nodes of their GPUs only.
 */
import { readdir, stat } from 'node:fs/promises';
import { readTextOrUndefined } from './bounded-read';
import * as path from 'node:path';
import { pathExists } from './fs-probe';
import type { Device } from './types';

/** The DRM character major (Documentation/admin-guide/devices.txt). */
export const DRM_MAJOR = 226;
export const DRI_DIR = '/dev/dri';

export interface DrmNode {
  /** cardN or renderDN. */
  name: string;
  kind: 'card' | 'render';
  /** /dev/dri/<name>. */
  path: string;
  major: number;
  minor: number;
  /** Whether the node exists under the dev root. */
  exists: boolean;
}

export interface DrmFacts {
  /** <sys>/module/nvidia_drm exists. */
  moduleLoaded: boolean;
  /** Per GPU bus id (NVML form), its DRM nodes, cards first; empty when sysfs names none. */
  nodes: Record<string, DrmNode[]>;
  /** Per GPU bus id, the sysfs form of its bus id (4-digit domain, lower case). */
  sysBusIds: Record<string, string>;
}

/** "00000000:00:06.0" (NVML) -> "0000:00:06.0" (sysfs): a 4-digit domain, lower case. */
export function sysfsBusId(busId: string): string {
  const m = /^([0-9a-fA-F]+):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(busId);
  if (m === null) return busId.toLowerCase();
  const domain = (m[1] as string).replace(/^0+(?=[0-9a-fA-F]{4})/, '').padStart(4, '0');
  return `${domain}:${m[2]}:${m[3]}.${m[4]}`.toLowerCase();
}

/** The /dev/dri/by-path link of a GPU's node, as udev names it. */
export function drmByPathLink(sysBusId: string, kind: DrmNode['kind']): string {
  return `${DRI_DIR}/by-path/pci-${sysBusId}-${kind}`;
}

async function readDevNumbers(file: string): Promise<{ major: number; minor: number } | null> {
  const m = /^(\d+):(\d+)\s*$/.exec((await readTextOrUndefined(file, 64)) ?? '');
  return m === null ? null : { major: Number(m[1]), minor: Number(m[2]) };
}

async function statDevNumbers(node: string): Promise<{ major: number; minor: number } | null> {
  try {
    const st = await stat(node);
    if (!st.isCharacterDevice()) return null;
    // Linux's dev_t encoding (new_encode_dev), as stat reports it.
    const rdev = BigInt(st.rdev);
    const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
    return { major, minor };
  } catch {
    return null;
  }
}

async function gpuDrmNodes(sysRoot: string, devRoot: string, sysBus: string): Promise<DrmNode[]> {
  const dir = path.join(sysRoot, 'bus/pci/devices', sysBus, 'drm');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const nodes: DrmNode[] = [];
  for (const name of names) {
    const m = /^(card|renderD)(\d+)$/.exec(name);
    if (m === null) continue;
    const host = path.join(devRoot, 'dri', name);
    const numbers = (await readDevNumbers(path.join(dir, name, 'dev'))) ?? (await statDevNumbers(host));
    if (numbers === null) continue;
    nodes.push({
      name,
      kind: m[1] === 'card' ? 'card' : 'render',
      path: `${DRI_DIR}/${name}`,
      ...numbers,
      exists: await pathExists(host),
    });
  }
  // Cards before render nodes, each by number: a stable order whatever readdir gives.
  return nodes.sort((a, b) => (a.kind === b.kind ? a.minor - b.minor : a.kind === 'card' ? -1 : 1));
}

export async function readDrmFacts(sysRoot: string, devRoot: string, devices: Device[]): Promise<DrmFacts> {
  const moduleLoaded = await pathExists(path.join(sysRoot, 'module/nvidia_drm'));
  const nodes: Record<string, DrmNode[]> = {};
  const sysBusIds: Record<string, string> = {};
  await Promise.all(
    devices.map(async (d) => {
      const sysBus = sysfsBusId(d.busId);
      sysBusIds[d.busId] = sysBus;
      nodes[d.busId] = await gpuDrmNodes(sysRoot, devRoot, sysBus);
    }),
  );
  return { moduleLoaded, nodes, sysBusIds };
}
