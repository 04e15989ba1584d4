/**
 * The planner, in two stages: selection (plan/select-items.ts: host facts and a request ->
 * items tagged with role and device, container-independent) and lowerings (plan/mount-plan.ts:
 * items -> one container's mount plan; plan/listing.ts: items -> `list`). planContainer runs
 * both for a container, from the facts a caller already has. Pure: no I/O.
 */
import type { DrmFacts } from './host-drm';
import type { MigMinor } from './host-facts';
import type { GraphicsFacts } from './host-graphics';
import { lowerToMountPlan, type ContainerLayout, type ContainerPlan, type MountPlanOptions } from './plan/mount-plan';
import { selectItems, type ResolvedRequest, type SelectionFacts } from './plan/select-items';
import type { DriverInfo } from './types';

export type { PlanStep, Item, ItemRole, ItemDevice, Selection } from './plan/items';
export type { ContainerLayout, ContainerPlan, DeviceRule, Edit, EditOrigin, MountFlag, SourceKind, MountPlanOptions } from './plan/mount-plan';
export type { ResolvedRequest, SelectionRequest } from './plan/select-items';
export { applicationProfile, rewriteParams, resolveRequest, selectItems } from './plan/select-items';
export { lowerToMountPlan } from './plan/mount-plan';
export { lowerToListing, type ListEntry, type ListingGroups } from './plan/listing';

/** A resolved request with the container's choices: what planContainer takes. */
export type ConfigureRequest = ResolvedRequest & MountPlanOptions;

/** Host facts as plain data, for callers (and tests) that read the host themselves. */
export interface PlanHostFacts {
  root: string;
  procRoot: string;
  devRoot: string;
  procFiles: { params?: string; version?: string; registry?: string };
  gpuProcDirs: Record<string, string | null>;
  /** MIG minors per GPU minor (mig-minors). */
  migMinors: Record<number, number[]>;
  /** For each requested IMEX channel: whether its node exists under the dev root (absent: assumed present). */
  imexNodes?: Record<number, boolean>;
  /** Each GPU's DRM nodes (host-drm.ts); absent: no DRM node is planned. */
  drm?: DrmFacts;
  /** The driver root's vendor files and X modules (host-graphics.ts); absent: none are planned. */
  graphics?: GraphicsFacts;
}

function selectionFacts(driver: DriverInfo, host: PlanHostFacts): SelectionFacts {
  const migMinors: MigMinor[] = [];
  for (const [gpuMinor, minors] of Object.entries(host.migMinors)) for (const capMinor of minors) migMinors.push({ gpuMinor: Number(gpuMinor), capMinor });
  const imex = /^\/dev\/nvidia-caps-imex-channels\/channel(\d+)$/;
  return {
    driver,
    paths: { root: host.root, procRoot: host.procRoot, devRoot: host.devRoot },
    procFiles: host.procFiles,
    gpuProcDirs: host.gpuProcDirs,
    migMinors,
    ...(host.drm !== undefined && { drm: host.drm }),
    ...(host.graphics !== undefined && { graphics: host.graphics }),
    // Only an IMEX channel's absence changes a plan; other probes only inform the list.
    nodeExists: (devPath) => {
      const m = imex.exec(devPath);
      return m === null || host.imexNodes?.[Number(m[1])] !== false;
    },
  };
}

/** Select and lower for one container. */
export function planContainer(driver: DriverInfo, host: PlanHostFacts, layout: ContainerLayout, request: ConfigureRequest): ContainerPlan {
  return lowerToMountPlan(selectItems(selectionFacts(driver, host), request), layout, request);
}
