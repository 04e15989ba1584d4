/**
 * Container setup: the container handle, the request schema, and configure() gluing
 * discovery, selection, requirements, the planner and the three native executors
 * (edit plan, device cgroup, ldconfig) together in the reference's order.
 */
import { constants as fsConstants } from 'node:fs';
import { access, lstat, readFile, stat, statfs } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod/v3';
import { NvcError } from './errors';
import { binding, execPath, ldconfigHelperPath, type HostPaths, type NativeEdit } from './native';
import { fromNative } from './native-errors';
import { planContainer, type ConfigureRequest, type ContainerLayout, type ContainerPlan, type PlanHostFacts, type PlanStep } from './plan';
import { checkRequirements } from './require';
import { absolutePathSchema } from './schema';
import { parseImexChannels, selectDevices, selectMigCapsDevices, type DeviceSelection } from './select';
import type { Capability, Device, DriverInfo } from './types';

export const CAPABILITIES = ['utility', 'compute', 'video', 'graphics', 'display', 'ngx'] as const;

export const containerOptionsSchema = z
  .object({
    /** The container's init process: its mount namespace is the one changed. Omitted: this process's namespace. */
    pid: z.number().int('must be an integer').positive('must be a process id').optional(),
    /** Host path of the container's root filesystem (before pivot_root). */
    rootfs: absolutePathSchema.refine((p) => path.resolve(p) !== '/', 'must not be / (the host root)'),
    libsDir: absolutePathSchema.optional(),
    libs32Dir: absolutePathSchema.optional(),
    binsDir: absolutePathSchema.optional(),
    /** "@/host/path" runs the host's ldconfig from a sealed copy; "/path" runs the container's own. */
    ldconfig: z
      .string()
      .max(4096, 'must be at most 4096 characters')
      .regex(/^@?\//, 'must be an absolute path, optionally prefixed by @ for a host binary')
      .refine((p) => !p.includes('\0'), 'must not contain a NUL byte')
      .optional(),
  })
  .strict();
export type ContainerOptions = z.input<typeof containerOptionsSchema>;

export const configureRequestSchema = z
  .object({
    /** GPUs to give: indices, GPU-/MIG- UUIDs, PCI bus ids, gpu:mig pairs, or "all". Omitted: none (driver only). */
    devices: z.union([z.string(), z.array(z.string())]).optional(),
    capabilities: z.array(z.enum(CAPABILITIES)).default([]),
    compat32: z.boolean().default(false),
    /** Requirement expressions (`cuda>=12.0 brand=tesla,driver>=535`...), all of which must hold. */
    require: z.array(z.string()).default([]),
    migConfig: z.union([z.string(), z.array(z.string())]).optional(),
    migMonitor: z.union([z.string(), z.array(z.string())]).optional(),
    imexChannels: z.union([z.string(), z.array(z.string())]).optional(),
    noCgroups: z.boolean().default(false),
    noDevbind: z.boolean().default(false),
    noPersistenced: z.boolean().default(false),
    noFabricmanager: z.boolean().default(false),
    noGspFirmware: z.boolean().default(false),
    /** Skip the ldcache update. */
    noLdconfig: z.boolean().default(false),
    /** Compute and return the plan without changing anything. */
    dryRun: z.boolean().default(false),
  })
  .strict();
export type ConfigureRequestInput = z.input<typeof configureRequestSchema>;

export interface ConfigureResult {
  plan: ContainerPlan;
  applied: boolean;
  /** Per edit: done or skipped. */
  outcomes: ('done' | 'skipped')[];
  cgroupVersion: number | null;
  ldconfig: { ran: boolean; warning: string } | null;
  warnings: string[];
}

function invalid(issue: z.ZodIssue, prefix: string): NvcError {
  const field = issue.path.map(String).join('.') || prefix;
  return new NvcError('ERR_NVC_INVALID_ARGUMENT', `invalid ${prefix} ${field}: ${issue.message}`, { field });
}

export function parseWith<T extends z.ZodTypeAny>(schema: T, value: unknown, prefix: string): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(r.error.issues[0] as z.ZodIssue, prefix);
  return r.data as z.output<T>;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** A container to configure: where its rootfs is, whose files it holds, where libraries go. */
export class Container {
  constructor(
    readonly pid: number,
    readonly rootfs: string,
    readonly uid: number,
    readonly gid: number,
    readonly layout: ContainerLayout,
    readonly ldconfig: string,
  ) {}
}

/**
 * Inspect a container: owner ids from its init process (or the rootfs), library directories
 * from its layout (Debian-like multiarch dirs, else lib64/lib32), and the default ldconfig.
 * Probes go through /proc/<pid>/root so that they see the container's mount namespace; they
 * only choose defaults, every path used later is resolved inside the rootfs by the executor.
 */
export async function openContainer(options: ContainerOptions): Promise<Container> {
  const o = parseWith(containerOptionsSchema, options, 'container option');
  const pid = o.pid ?? 0;
  const seen = pid ? path.join('/proc', String(pid), 'root', o.rootfs) : o.rootfs;
  let owner;
  try {
    owner = await stat(pid ? `/proc/${pid}` : o.rootfs);
    await access(seen, fsConstants.F_OK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', pid ? `container process ${pid} or its rootfs ${o.rootfs} is not there` : `rootfs ${o.rootfs} is not there`, {
      field: pid ? 'pid' : 'rootfs',
      ...(err.code !== undefined && { errno: err.code }),
      path: err.path ?? seen,
      hint: 'pass the pid of the container init (before pivot_root) and the host path of its rootfs',
    });
  }
  const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  const debian = await exists(path.join(seen, 'etc/debian_version'));
  let libsDir = `/usr/lib/${arch}-linux-gnu`;
  let libs32Dir = arch === 'x86_64' ? '/usr/lib/i386-linux-gnu' : '/var/empty';
  if (!debian) {
    libsDir = '/usr/lib64';
    libs32Dir = (await exists(path.join(seen, 'usr/lib32'))) ? '/usr/lib32' : '/usr/lib';
  }
  const ldconfig = o.ldconfig ?? ((await exists('/sbin/ldconfig.real')) ? '@/sbin/ldconfig.real' : '@/sbin/ldconfig');
  return new Container(
    pid,
    o.rootfs,
    owner.uid,
    owner.gid,
    { libsDir: o.libsDir ?? libsDir, libs32Dir: o.libs32Dir ?? libs32Dir, binsDir: o.binsDir ?? '/usr/bin' },
    ldconfig,
  );
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The host files the planner needs besides DriverInfo. */
export async function gatherHostFacts(host: HostPaths, devices: Device[], needMigMinors = true, imexChannels: number[] = []): Promise<PlanHostFacts> {
  const nv = path.join(host.procRoot, 'driver/nvidia');
  const [params, version, registry, migMinorsText] = await Promise.all([
    readOptional(path.join(nv, 'params')),
    readOptional(path.join(nv, 'version')),
    readOptional(path.join(nv, 'registry')),
    // Thousands of lines, needed only for --mig-config/--mig-monitor.
    needMigMinors ? readOptional(path.join(host.procRoot, 'driver/nvidia-caps/mig-minors')) : Promise.resolve(undefined),
  ]);
  const gpuProcDirs: Record<string, string | null> = {};
  await Promise.all(
    devices.map(async (d) => {
      // The driver names the directory with an 8- or a 4-digit PCI domain, depending on its version.
      for (const name of [d.busId, d.busId.slice(4)]) {
        if (await exists(path.join(nv, 'gpus', name))) {
          gpuProcDirs[d.busId] = name;
          return;
        }
      }
      gpuProcDirs[d.busId] = null;
    }),
  );
  const migMinors: Record<number, number[]> = {};
  for (const line of (migMinorsText ?? '').split('\n')) {
    const m = /^gpu(\d+)\/\S+\s+(\d+)$/.exec(line.trim());
    if (m) (migMinors[Number(m[1])] ??= []).push(Number(m[2]));
  }
  const procFiles: PlanHostFacts['procFiles'] = {};
  if (params !== undefined) procFiles.params = params;
  if (version !== undefined) procFiles.version = version;
  if (registry !== undefined) procFiles.registry = registry;
  const imexNodes: Record<number, boolean> = {};
  await Promise.all(
    imexChannels.map(async (id) => {
      imexNodes[id] = await exists(path.join(host.devRoot, 'nvidia-caps-imex-channels', `channel${id}`));
    }),
  );
  return { root: host.root, procRoot: host.procRoot, devRoot: host.devRoot, procFiles, gpuProcDirs, migMinors, imexNodes };
}

function deviceLabel(d: Device): string {
  return `GPU ${d.index} (${d.model}, ${d.uuid})`;
}

/** Turn a validated request into the planner's form: select devices, check requirements. */
export function resolveRequest(
  request: z.output<typeof configureRequestSchema>,
  container: Container,
  driver: DriverInfo,
  devices: Device[],
): ConfigureRequest {
  const visible: DeviceSelection = request.devices === undefined ? { gpus: [], migs: [], all: false } : selectDevices(devices, request.devices);
  const migConfig = selectMigCapsDevices('mig-config', request.migConfig, visible);
  const migMonitor = selectMigCapsDevices('mig-monitor', request.migMonitor, visible);
  const imexChannels = parseImexChannels(request.imexChannels);

  // Each visible GPU, and the parent of each visible MIG device, must meet every requirement.
  const checked = [...visible.gpus];
  for (const { gpu } of visible.migs) if (!checked.includes(gpu)) checked.push(gpu);
  checkRequirements(request.require, {
    cudaVersion: driver.cudaVersion,
    driverVersion: driver.version,
    devices: checked.map((d) => ({ label: deviceLabel(d), architecture: d.architecture, brand: d.brand })),
  });

  return {
    capabilities: request.capabilities as Capability[],
    compat32: request.compat32,
    gpus: visible.gpus,
    migs: visible.migs,
    migConfigGpus: migConfig.gpus,
    migMonitorGpus: migMonitor.gpus,
    migConfig: migConfig.all,
    migMonitor: migMonitor.all,
    imexChannels,
    noCgroups: request.noCgroups || container.pid === 0,
    noDevbind: request.noDevbind,
    noPersistenced: request.noPersistenced,
    noFabricmanager: request.noFabricmanager,
    noGspFirmware: request.noGspFirmware,
    ldconfig: request.noLdconfig ? null : container.ldconfig,
  };
}

const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * A runtime hook sees the container's /proc already mounted: a real procfs. Where the kernel
 * runs no NVIDIA driver (a simulated host), that procfs has no driver/nvidia to cover, and the
 * procfs edits are dropped with a warning instead of failing the container.
 */
export async function dropProcfsEditsIfNoDriver(container: Container, plan: ContainerPlan): Promise<ContainerPlan> {
  const seen = container.pid ? path.join('/proc', String(container.pid), 'root', container.rootfs) : container.rootfs;
  try {
    const fs = await statfs(path.join(seen, 'proc'));
    if (fs.type !== PROC_SUPER_MAGIC || (await exists(path.join(seen, 'proc/driver/nvidia')))) return plan;
  } catch {
    return plan;
  }
  const keep = plan.edits.map((e) => !(e.target === '/proc/driver/nvidia' || e.target.startsWith('/proc/driver/nvidia/')));
  return {
    ...plan,
    edits: plan.edits.filter((_, i) => keep[i]),
    steps: plan.steps.filter((_, i) => keep[i]),
    warnings: [
      ...plan.warnings,
      "the container's /proc is a procfs without driver/nvidia (this kernel runs no NVIDIA driver): its /proc/driver/nvidia files are left out",
    ],
  };
}

/** Keep only the edits of some lifecycle steps (for the per-step API). */
export function planSteps(plan: ContainerPlan, steps: readonly PlanStep[]): ContainerPlan {
  const keep = plan.steps.map((s) => steps.includes(s));
  return {
    ...plan,
    edits: plan.edits.filter((_, i) => keep[i]),
    steps: plan.steps.filter((_, i) => keep[i]),
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
export async function applyPlan(container: Container, plan: ContainerPlan, procRoot = '/proc'): Promise<Omit<ConfigureResult, 'plan' | 'applied'>> {
  const native = binding();
  let cgroupVersion: number | null = null;
  try {
    if (plan.cgroupRules.length > 0 && container.pid) {
      const r = await native.cgroupAllow({
        procRoot,
        pid: container.pid,
        rules: plan.cgroupRules.map(({ type, major, minor, access: a }) => ({ type, major, minor, access: a })),
      });
      cgroupVersion = r.version;
    }
    const edits: NativeEdit[] = plan.edits.map((e) => ({ ...e }));
    const { outcomes } = await native.applyPlan({ execPath: execPath(), pid: container.pid, rootfs: container.rootfs, uid: container.uid, gid: container.gid, edits });
    let ldconfig: ConfigureResult['ldconfig'] = null;
    const warnings = [...plan.warnings];
    if (plan.ldconfig) {
      ldconfig = await native.ldconfig({
        helperPath: ldconfigHelperPath(),
        pid: container.pid,
        rootfs: container.rootfs,
        ldconfig: plan.ldconfig.path,
        dirs: plan.ldconfig.dirs,
        uid: container.uid,
        gid: container.gid,
      });
      if (!ldconfig.ran && ldconfig.warning) warnings.push(ldconfig.warning);
    }
    return { outcomes, cgroupVersion, ldconfig, warnings };
  } catch (e) {
    throw fromNative(e);
  }
}
