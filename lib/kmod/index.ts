/**
 * Kernel modules and device nodes of the NVIDIA driver: plan, load and unload the modules, and make
 * the /dev nodes, as nvidia-modprobe does. Every call reads the host through configurable roots and
 * changes it only through a KmodSyscalls layer (the native one by default).
 */
import { type LoadResult, type UnloadResult, ensureKernelModules, loadModules, unloadModules } from './loader';
import { createDeviceNodes, type NodeOptions, type NodesResult } from './nodes';
import { parseKmodOptions, resolveKmodHost, type KmodHost, type KmodOptions } from './options';
import { planModules, type ModulePlan } from './planner';
import { nativeSyscalls, type KmodSyscalls } from './syscalls';

export type { KmodOptions, KmodHost } from './options';
export type { ModulePlan, PlannedModule, PlanProblem, MissingSymbol } from './planner';
export type { LoadResult, UnloadResult } from './loader';
export type { NodesResult, NodeResult, LinkResult, NodeOptions, WantedNode } from './nodes';
export type { KmodSyscalls } from './syscalls';
export type { ModuleInfo } from './modinfo';
export { readModuleInfo, parseModinfoSection } from './modinfo';
export { kmodOptionsSchema } from './options';
export { nodeOptionsSchema } from './nodes';
export { MODULE_INIT_COMPRESSED_FILE, nativeSyscalls } from './syscalls';
export { assertPlanOk } from './planner';

/** The load plan for options.modules (default nvidia, nvidia-uvm, nvidia-modeset, nvidia-drm); reads only. */
export async function planKernelModules(options: KmodOptions = {}): Promise<ModulePlan> {
  return planModules(parseKmodOptions(options));
}

/** Inserts what the plan needs, in order, then makes the device nodes (nodes: false skips them). */
export async function loadKernelModules(options: KmodOptions = {}, extra: { syscalls?: KmodSyscalls; nodes?: NodeOptions | false } = {}): Promise<LoadResult> {
  const opts = parseKmodOptions(options);
  return loadModules(opts, extra.syscalls ?? nativeSyscalls(), extra.nodes ?? {});
}

/** Removes the modules (default: the loaded NVIDIA ones), users first; refuses while anything holds them. */
export async function unloadKernelModules(options: KmodOptions = {}, extra: { syscalls?: KmodSyscalls } = {}): Promise<UnloadResult> {
  return unloadModules(parseKmodOptions(options), extra.syscalls ?? nativeSyscalls());
}

/** Makes the driver's device nodes and /dev/char links under the dev root; idempotent. */
export async function createNvidiaDeviceNodes(
  host: Partial<KmodHost> = {},
  options: NodeOptions = {},
  extra: { syscalls?: KmodSyscalls } = {},
): Promise<NodesResult> {
  const paths = parseKmodOptions({
    ...(host.root !== undefined && { root: host.root }),
    ...(host.procRoot !== undefined && { procRoot: host.procRoot }),
    ...(host.sysRoot !== undefined && { sysRoot: host.sysRoot }),
    ...(host.devRoot !== undefined && { devRoot: host.devRoot }),
  });
  return createDeviceNodes(paths, options, extra.syscalls ?? nativeSyscalls());
}

/** init({ loadKernelModules }): load what compute (and display) needs; a no-op when it is all loaded. */
export async function ensureKernelModulesForInit(host: Partial<KmodHost>, display: boolean, syscalls: KmodSyscalls = nativeSyscalls()): Promise<LoadResult> {
  const opts = parseKmodOptions({
    ...(host.root !== undefined && { root: host.root }),
    ...(host.procRoot !== undefined && { procRoot: host.procRoot }),
    ...(host.sysRoot !== undefined && { sysRoot: host.sysRoot }),
    ...(host.devRoot !== undefined && { devRoot: host.devRoot }),
    modules: display ? ['nvidia', 'nvidia_uvm', 'nvidia_modeset'] : ['nvidia', 'nvidia_uvm'],
  });
  return ensureKernelModules(opts, syscalls);
}

export { resolveKmodHost };
