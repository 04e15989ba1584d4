/**
 * Host facts, read once: everything the later stages know about the host. The driver service
 * (C) reports the driver's files, device numbers and GPUs; this module adds the driver's proc
 * files that only matter for containers (params, version, registry, each GPU's directory,
 * mig-minors) and device-node probes. Its inputs are the host paths as the C side resolved
 * them (ctx.host): the defaults live in one place, native/core/driver-client/context.c.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { HostPaths } from './native';
import type { Device, DriverInfo } from './types';
import { pathExists } from './fs-probe';
// Non-blocking and bounded: a FIFO in place of a /proc file is absent, not a hung configure.
import { readTextOrUndefined as readOptional } from './bounded-read';
import { readDrmFacts, type DrmFacts } from './host-drm';
import type { GraphicsFacts } from './host-graphics';
import { readDriverRootFacts, type HostFactsCache } from './host-facts-cache';

/** One `gpu<minor>/... <capMinor>` line of <procRoot>/driver/nvidia-caps/mig-minors. */
export interface MigMinor {
  gpuMinor: number;
  capMinor: number;
}

export interface HostFacts {
  paths: HostPaths;
  driver: DriverInfo;
  devices: Device[];
  /** <procRoot>/driver/nvidia/{params,version,registry}; absent when unreadable. */
  procFiles: { params?: string; version?: string; registry?: string };
  /** For each GPU bus id, the directory name under <procRoot>/driver/nvidia/gpus (8- or 4-digit domain), or null. */
  gpuProcDirs: Record<string, string | null>;
  /** Parsed mig-minors; empty when not asked for or unreadable. */
  migMinors: MigMinor[];
  /** Whether a device node (a /dev path) exists under the dev root. */
  nodeExists(devPath: string): boolean;
  /** Each GPU's DRM nodes (sysfs), and whether nvidia-drm is loaded. */
  drm: DrmFacts;
  /** Vendor files and X server modules of the driver root (host-graphics.ts). */
  graphics: GraphicsFacts;
  /** What the debug log should say about the host (binaries passed over, host-binaries.ts). */
  notes: string[];
}

/** What to read beyond the always-read facts. */
export interface HostFactsNeeds {
  /** mig-minors: thousands of lines, only for --mig-config/--mig-monitor. */
  migMinors: boolean;
}

export const MIG_MINORS_FILE = 'driver/nvidia-caps/mig-minors';

/** The reference's reading of mig-minors: `gpu<N><rest> <minor>`; `config`/`monitor` lines are skipped. */
export function parseMigMinors(text: string): MigMinor[] {
  const out: MigMinor[] = [];
  for (const line of text.split('\n')) {
    const match = /^gpu(\d+)(?!\d)\s*\S+\s+(\d+)/.exec(line);
    if (match !== null) out.push({ gpuMinor: Number(match[1]), capMinor: Number(match[2]) });
  }
  return out;
}

/** /dev/nvidia0 -> <devRoot>/nvidia0 */
export function devSource(devRoot: string, devPath: string): string {
  return path.join(devRoot, devPath.replace(/^\/dev\/?/, ''));
}

/** /proc/driver/... -> <procRoot>/driver/... */
export function procSource(procRoot: string, procPath: string): string {
  return path.join(procRoot, procPath.replace(/^\/proc\/?/, ''));
}

/** A path inside the driver root -> its host path. */
export function rootSource(root: string, inside: string): string {
  return root === '/' ? inside : path.join(root, inside);
}

/**
 * The proc files and probes, for a driver and devices the driver service reported. With a cache,
 * the driver root's lookups are reused while nothing they examined changed; the proc files, DRM
 * nodes and per-GPU directories (GPUs, MIG state) are read every time.
 */
export async function readHostFacts(
  paths: HostPaths,
  driver: DriverInfo,
  devices: Device[],
  needs: HostFactsNeeds,
  cache?: HostFactsCache,
): Promise<HostFacts> {
  const nv = path.join(paths.procRoot, 'driver/nvidia');
  const gpuProcDirs: Record<string, string | null> = {};
  const findGpuProcDirs = Promise.all(
    devices.map(async (d) => {
      // The driver names the directory with an 8- or a 4-digit PCI domain, depending on its version.
      for (const name of [d.busId, d.busId.slice(4)]) {
        if (await pathExists(path.join(nv, 'gpus', name))) {
          gpuProcDirs[d.busId] = name;
          return;
        }
      }
      gpuProcDirs[d.busId] = null;
    }),
  );
  const [params, version, registry, migMinorsText, drm, { graphics, notes }] = await Promise.all([
    readOptional(path.join(nv, 'params')),
    readOptional(path.join(nv, 'version')),
    readOptional(path.join(nv, 'registry')),
    needs.migMinors ? readOptional(path.join(paths.procRoot, MIG_MINORS_FILE)) : Promise.resolve(undefined),
    readDrmFacts(paths.sysRoot, paths.devRoot, devices),
    cache === undefined ? readDriverRootFacts(paths.root, driver) : cache.driverRootFacts(paths.root, driver),
    findGpuProcDirs,
  ]);
  const procFiles: HostFacts['procFiles'] = {};
  if (params !== undefined) procFiles.params = params;
  if (version !== undefined) procFiles.version = version;
  if (registry !== undefined) procFiles.registry = registry;
  return {
    paths,
    driver,
    devices,
    procFiles,
    gpuProcDirs,
    migMinors: migMinorsText === undefined ? [] : parseMigMinors(migMinorsText),
    nodeExists: (devPath) => existsSync(devSource(paths.devRoot, devPath)),
    drm,
    graphics,
    notes,
  };
}
