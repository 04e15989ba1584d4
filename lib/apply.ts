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
  /** Where the time went, in milliseconds (the service's per-request metrics). */
  timings?: ConfigureTimings;
  /**
   * What was changed, for {@link Context.teardown}: every mount and entry made (with the
   * identities that recognise them later) and the device cgroup rules added. Plain JSON, to
   * be stored as it is between configure and teardown. null for a dry run.
   */
  changes: ContainerChanges | null;
}

/**
 * A configure's time by part, each apart from the others: planning (host facts, selection,
 * lowering), the helper processes less their work (the executor's start, source checks,
 * namespace entry and result; the cgroup rules), the edits themselves as the executor timed
 * them, and the confined ldconfig (start to report).
 */
export interface ConfigureTimings {
  planMs: number;
  helpersMs: number;
  mountsMs: number;
  ldconfigMs: number;
}

const since = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;

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

/** A call's limit, as the helpers see it: checked before they start, and the time left as their own limit. */
export interface ApplyBudget {
  /** Throws once the call is abandoned (its signal fired or its time passed). */
  check(): void;
  /** Milliseconds left, undefined without a limit. */
  remainingMs(): number | undefined;
}

/**
 * The helpers' limit from the budget: at least 1 ms (0 would mean the helpers' default). The budget
 * is checked first (nothing changed yet); ldconfig, after the mounts, gets what is left of the
 * limit, and a timeout there is an ldconfig failure like any other.
 */
function helperLimit(budget: ApplyBudget | undefined): { timeoutMs?: number } {
  budget?.check();
  const left = budget?.remainingMs();
  return left === undefined ? {} : { timeoutMs: Math.max(1, Math.ceil(left)) };
}

export async function applyPlan(
  container: Container,
  plan: ContainerPlan,
  procRoot = '/proc',
  budget?: ApplyBudget,
): Promise<Omit<ConfigureResult, 'plan' | 'applied'>> {
  requireRoot('configuring a container');
  await refuseIfConfigured(container, plan, procRoot);
  const native = binding();
  let cgroupVersion: number | null = null;
  const timings: ConfigureTimings = { planMs: 0, helpersMs: 0, mountsMs: 0, ldconfigMs: 0 };
  let added: ContainerChanges['cgroup']['added'] = [];
  try {
    const t = process.hrtime.bigint();
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
    // The executor takes the edits without their origins. ldconfig comes in the same call: its
    // helper starts with the executor and is let go once the edits are in.
    const edits: NativeEdit[] = plan.edits.map(({ origin: _origin, ...e }) => e);
    const applied = await native.applyPlan({
      execPath: execPath(),
      pid: container.pid,
      pidStart: container.pidStart,
      rootfs: container.rootfs,
      uid: container.uid,
      gid: container.gid,
      edits,
      // Past the limit the executor is stopped and rolls the plan back: no mount stays.
      // ldconfig, after the mounts, gets what is left of it.
      ...helperLimit(budget),
      ...(plan.ldconfig && {
        ldconfig: {
          helperPath: ldconfigHelperPath(),
          ldconfig: plan.ldconfig.path,
          dirs: plan.ldconfig.dirs,
          ...(container.noPivot && { noPivot: true }),
        },
      }),
    });
    const { outcomes, editsMs, changes } = applied;
    timings.ldconfigMs = applied.ldconfigMs ?? 0;
    const helpers = since(t) - timings.ldconfigMs;
    timings.mountsMs = Math.min(editsMs ?? 0, helpers);
    timings.helpersMs = helpers - timings.mountsMs;
    const ldconfig: ConfigureResult['ldconfig'] = applied.ldconfig ?? null;
    const warnings = [...plan.warnings];
    if (ldconfig && !ldconfig.ran && ldconfig.warning) warnings.push(ldconfig.warning);
    const record: ContainerChanges = {
      version: 1,
      container: { pid: container.pid, pidStart: container.pidStart, rootfs: container.rootfs },
      changes,
      cgroup: { version: cgroupVersion, added },
    };
    return { outcomes, cgroupVersion, ldconfig, warnings, timings, changes: record };
  } catch (e) {
    throw fromNative(e);
  }
}
