/**
 * Applying a container's mount plan: device cgroup rules, then the edits (all or nothing),
 * then ldconfig, each through its native executor; and the plan filters the container needs
 * first (its procfs, the per-step API).
 */
import * as path from 'node:path';
import { NvcError } from './errors';
import { readTextOrUndefined } from './bounded-read';
import { parseMountinfo } from './mountinfo';
import { probeContainerPaths, type Container } from './container';
import { binding, execPath, ldconfigHelperPath, type NativeEdit } from './native';
import { fromNative } from './native-errors';
import { PROC_DIR, type PlanStep } from './plan/items';
import type { ContainerPlan } from './plan/mount-plan';
import type { ContainerChanges } from './teardown';

export interface ConfigureResult {
  plan: ContainerPlan;
  applied: boolean;
  /** Per edit: done or skipped. */
  outcomes: ('done' | 'skipped')[];
  cgroupVersion: number | null;
  ldconfig: { ran: boolean; warning: string } | null;
  warnings: string[];
  /**
   * What was changed, for {@link Context.teardown}: every mount and entry made (with the
   * identities that recognise them later) and the device cgroup rules added. Plain JSON, to
   * be stored as it is between configure and teardown. null for a dry run.
   */
  changes: ContainerChanges | null;
}

const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * A runtime hook sees the container's /proc already mounted: a real procfs. Where the kernel
 * runs no NVIDIA driver (a simulated host), that procfs has no driver/nvidia to cover, and the
 * procfs edits are dropped with a warning instead of failing the container.
 */
export async function dropProcfsEditsIfNoDriver(container: Container, plan: ContainerPlan): Promise<ContainerPlan> {
  // In the container's tree as the executor resolves it: an image whose /proc is a link
  // leads to the runtime's procfs inside the rootfs, never to the host's /proc.
  const [proc, nvidia] = await probeContainerPaths(container, [
    { path: '/proc', follow: true },
    { path: PROC_DIR, follow: false },
  ]);
  if (proc === undefined || nvidia === undefined || !proc.exists || proc.fsType !== PROC_SUPER_MAGIC || nvidia.exists) return plan;
  return {
    ...plan,
    edits: plan.edits.filter((e) => !(e.target === PROC_DIR || e.target.startsWith(`${PROC_DIR}/`))),
    warnings: [
      ...plan.warnings,
      "the container's /proc is a procfs without driver/nvidia (this kernel runs no NVIDIA driver): its /proc/driver/nvidia files are left out",
    ],
  };
}

/** Keep only the edits of some lifecycle steps (for the per-step API). */
export function planSteps(plan: ContainerPlan, steps: readonly PlanStep[]): ContainerPlan {
  return {
    ...plan,
    edits: plan.edits.filter((e) => steps.includes(e.origin.step)),
    cgroupRules: plan.cgroupRules.filter((r) => steps.includes(r.step)),
    ldconfig: null,
  };
}

/**
 * Apply a plan: device cgroup rules, then the edits (all or nothing), then ldconfig.
 * The rules go first and stay if the edits then fail: they only allow nodes this call was
 * about to bind, a v1 allow line cannot be taken back without risking the runtime's own
 * rules, and a runtime aborts a container whose hook failed. An ldconfig failure leaves the
 * (complete) mounts in place and is reported as an error.
 */
/** Configuring is a root job; say so before any system call answers EPERM or EACCES in its own words. */
export function requireRoot(what: string): void {
  if (typeof process.geteuid === 'function' && process.geteuid() !== 0) {
    throw new NvcError(
      'ERR_NVC_PERMISSION',
      `${what} needs root (uid 0 in its user namespace): it enters mount namespaces, mounts into the root filesystem and programs device cgroups`,
      {
        hint: `run it as root; this process runs as uid ${process.geteuid()}`,
      },
    );
  }
}

/**
 * A second configure of the same rootfs in the same namespace would stack mounts on mounts (and
 * used to fail deep in the executor): refuse it up front, naming a target that is mounted already.
 */
async function refuseIfConfigured(container: Container, plan: ContainerPlan, procRoot: string): Promise<void> {
  const mounted = plan.edits.filter((e) => e.kind === 'bind' || e.kind === 'tmpfs');
  if (mounted.length === 0) return;
  const text = await readTextOrUndefined(path.join(procRoot, container.pid ? String(container.pid) : 'self', 'mountinfo'), 64 << 20);
  if (text === undefined) return;
  const points = new Set(parseMountinfo(text).map((m) => m.mountPoint));
  const taken = mounted.find((e) => points.has(path.join(container.rootfs, e.target)));
  if (taken === undefined) return;
  throw new NvcError(
    'ERR_NVC_ALREADY_CONFIGURED',
    `${container.rootfs} is already configured in ${container.pid ? `the mount namespace of process ${container.pid}` : "this process's mount namespace"}: ${taken.target} is a mount point there`,
    {
      path: path.join(container.rootfs, taken.target),
      hint: 'configure a container once, before it starts, or tear the first configure down first (ctx.teardown with its result, `nvc-ts teardown`); to give it other GPUs, start a new one (or a fresh rootfs)',
    },
  );
}

export async function applyPlan(container: Container, plan: ContainerPlan, procRoot = '/proc'): Promise<Omit<ConfigureResult, 'plan' | 'applied'>> {
  requireRoot('configuring a container');
  await refuseIfConfigured(container, plan, procRoot);
  const native = binding();
  let cgroupVersion: number | null = null;
  let added: ContainerChanges['cgroup']['added'] = [];
  try {
    if (plan.cgroupRules.length > 0 && container.pid) {
      const r = await native.cgroupAllow({
        procRoot,
        pid: container.pid,
        pidStart: container.pidStart,
        rules: plan.cgroupRules.map(({ type, major, minor, access: a }) => ({ type, major, minor, access: a })),
      });
      cgroupVersion = r.version;
      added = r.added;
    }
    // The executor takes the edits without their origins.
    const edits: NativeEdit[] = plan.edits.map(({ origin: _origin, ...e }) => e);
    const { outcomes, changes } = await native.applyPlan({
      execPath: execPath(),
      pid: container.pid,
      pidStart: container.pidStart,
      rootfs: container.rootfs,
      uid: container.uid,
      gid: container.gid,
      edits,
    });
    let ldconfig: ConfigureResult['ldconfig'] = null;
    const warnings = [...plan.warnings];
    if (plan.ldconfig) {
      ldconfig = await native.ldconfig({
        helperPath: ldconfigHelperPath(),
        pid: container.pid,
        pidStart: container.pidStart,
        rootfs: container.rootfs,
        ldconfig: plan.ldconfig.path,
        dirs: plan.ldconfig.dirs,
        uid: container.uid,
        gid: container.gid,
        ...(container.noPivot && { noPivot: true }),
      });
      if (!ldconfig.ran && ldconfig.warning) warnings.push(ldconfig.warning);
    }
    const record: ContainerChanges = {
      version: 1,
      container: { pid: container.pid, pidStart: container.pidStart, rootfs: container.rootfs },
      changes,
      cgroup: { version: cgroupVersion, added },
    };
    return { outcomes, cgroupVersion, ldconfig, warnings, changes: record };
  } catch (e) {
    throw fromNative(e);
  }
}
