/**
 * Carrying out a plan: insert the modules in dependency order (undoing what this run inserted when
 * one is refused), then make the device nodes; and the reverse, refused while anything holds the
 * driver.
 */
import { promises as fsp } from 'node:fs';

import { NvcError } from '../errors';
import { decompressModule } from './decompress';
import { processesHoldingNodes, type NodeHolder } from './holders';
import { readKernelState } from './kernel-state';
import { NVIDIA_MODULES } from './names';
import { createDeviceNodes, type NodeOptions, type NodesResult } from './nodes';
import type { ResolvedKmodOptions } from './options';
import { assertPlanOk, planModules, type ModulePlan, type PlannedModule } from './planner';
import { MODULE_INIT_COMPRESSED_FILE, type KmodSyscalls } from './syscalls';

export interface LoadResult {
  plan: ModulePlan;
  /** Modules this call inserted, in order. */
  inserted: string[];
  nodes: NodesResult | undefined;
}

async function insert(m: PlannedModule, kernelCompression: string | undefined, sys: KmodSyscalls): Promise<void> {
  const params = m.params.join(' ');
  if (m.compression === 'none') return sys.finitModule(m.path, params, 0);
  if (kernelCompression === m.compression) return sys.finitModule(m.path, params, MODULE_INIT_COMPRESSED_FILE);
  const { image } = await decompressModule(await fsp.readFile(m.path), m.path);
  return sys.initModule(image, params, m.path);
}

function refused(m: PlannedModule, err: unknown, undone: string[], undoFailed: string[]): NvcError {
  const e = err instanceof NvcError ? err : undefined;
  const errno = e?.errno;
  const why: Record<string, string> = {
    ENOEXEC: 'the file is not a valid module for this kernel',
    EKEYREJECTED: 'its signature was rejected (module signature enforcement is on)',
    ENOKEY: 'it is unsigned or signed with an unknown key, and the kernel requires signed modules',
    EPERM: 'the kernel does not allow module loading here (not root, lockdown, or modules_disabled)',
    ENOENT: 'a symbol or dependency it needs is missing',
    EINVAL: 'a parameter or the module format was refused',
    EBUSY: 'the module is being loaded or removed by someone else',
    ENOSYS: 'this kernel has no module support (CONFIG_MODULES off), or a sandbox hides the call',
  };
  const reason = errno === undefined ? (err instanceof Error ? err.message : String(err)) : `${errno}: ${why[errno] ?? e?.message ?? 'refused'}`;
  const undo = undone.length === 0 ? '' : `; removed again what this run had loaded (${undone.join(', ')})`;
  const stuck = undoFailed.length === 0 ? '' : `; could not remove ${undoFailed.join(', ')}`;
  return new NvcError('ERR_NVC_KERNEL_MODULE', `the kernel refused module ${m.name} (${m.path}): ${reason}${undo}${stuck}`, {
    path: m.path,
    ...(errno !== undefined && { errno }),
    syscall: m.compression === 'none' ? 'finit_module' : 'init_module',
    hint: 'the kernel log (`dmesg`) says why',
    cause: err,
  });
}

/** Plans, inserts what is missing in dependency order, then makes the device nodes. */
export async function loadModules(opts: ResolvedKmodOptions, sys: KmodSyscalls, nodeOptions: NodeOptions | false = {}): Promise<LoadResult> {
  const state = await readKernelState({ ...opts, ...(opts.kernelConfig !== undefined && { kernelConfig: opts.kernelConfig }) });
  const plan = await planModules(opts, state);
  assertPlanOk(plan);
  const inserted: string[] = [];
  for (const m of plan.modules) {
    try {
      await insert(m, state.compression, sys);
      inserted.push(m.name);
    } catch (err) {
      // Loaded by someone else since we looked: that is what we wanted.
      if (err instanceof NvcError && err.errno === 'EEXIST') continue;
      const undone: string[] = [];
      const undoFailed: string[] = [];
      for (const name of [...inserted].reverse()) {
        try {
          await sys.deleteModule(name);
          undone.push(name);
        } catch {
          undoFailed.push(name);
        }
      }
      throw refused(m, err, undone, undoFailed);
    }
  }
  const nodes = nodeOptions === false ? undefined : await createDeviceNodes(opts, nodeOptions, sys);
  return { plan, inserted, nodes };
}

export interface UnloadResult {
  /** In the order removed. */
  removed: string[];
  notLoaded: string[];
}

/** Removal order: a module after every module of the set that uses it. */
export function unloadOrder(targets: string[], usedBy: (name: string) => string[]): string[] {
  const set = new Set(targets);
  const out: string[] = [];
  const visit = (name: string, chain: string[]): void => {
    if (out.includes(name) || chain.includes(name)) return;
    for (const user of usedBy(name)) if (set.has(user)) visit(user, [...chain, name]);
    out.push(name);
  };
  for (const t of targets) visit(t, []);
  return out;
}

function describeHolders(holders: NodeHolder[]): string {
  return holders.map((h) => `${h.pid}${h.command === '' ? '' : ` (${h.command})`} has ${h.nodes.join(', ')} open`).join('; ');
}

/** Removes the targets (default: the NVIDIA modules that are loaded), users first; refuses while in use. */
export async function unloadModules(opts: ResolvedKmodOptions, sys: KmodSyscalls): Promise<UnloadResult> {
  const state = await readKernelState({ ...opts, withKallsyms: false });
  const targets = opts.modules ?? [...NVIDIA_MODULES].filter((m) => state.loaded.has(m));
  const notLoaded = targets.filter((t) => !state.loaded.has(t));
  const present = targets.filter((t) => state.loaded.has(t));
  const order = unloadOrder([...present].reverse(), (n) => state.loaded.get(n)?.usedBy ?? []);
  const problems: string[] = [];
  for (const name of order) {
    const m = state.loaded.get(name);
    if (m === undefined) continue;
    const outside = m.usedBy.filter((u) => !order.includes(u));
    if (outside.length > 0)
      problems.push(
        `${name} is used by ${outside.join(', ')}, which ${outside.length === 1 ? 'is' : 'are'} not being unloaded: add ${outside.length === 1 ? 'it' : 'them'} to the list`,
      );
    const byModules = m.usedBy.length;
    if (m.refcount > byModules) {
      problems.push(`${name} is in use (reference count ${m.refcount}${byModules > 0 ? `, ${byModules} of them by ${m.usedBy.join(', ')}` : ''})`);
    }
  }
  if (present.length > 0) {
    const holders = await processesHoldingNodes(opts.procRoot, opts.devRoot, order);
    if (holders.length > 0) problems.push(`processes hold the driver's device nodes: ${describeHolders(holders)}`);
  }
  if (problems.length > 0) {
    throw new NvcError('ERR_NVC_KERNEL_MODULE', `cannot unload ${order.join(', ')}:\n${problems.map((p) => `- ${p}`).join('\n')}`, {
      hint: 'stop the processes (and containers) that use the GPUs, then run again; nothing was unloaded',
    });
  }
  const removed: string[] = [];
  for (const name of order) {
    try {
      await sys.deleteModule(name);
      removed.push(name);
    } catch (err) {
      const errno = err instanceof NvcError ? err.errno : undefined;
      throw new NvcError(
        'ERR_NVC_KERNEL_MODULE',
        `cannot unload ${name}: ${errno === 'EWOULDBLOCK' || errno === 'EAGAIN' || errno === 'EBUSY' ? 'it is in use' : err instanceof Error ? err.message : String(err)}${removed.length > 0 ? ` (already removed: ${removed.join(', ')})` : ''}`,
        { ...(errno !== undefined && { errno }), syscall: 'delete_module', cause: err },
      );
    }
  }
  return { removed, notLoaded };
}

/** The targets of init({ loadKernelModules }): compute needs nvidia and nvidia-uvm; display adds nvidia-modeset. */
export function initTargets(display: boolean): string[] {
  return display ? ['nvidia', 'nvidia_uvm', 'nvidia_modeset'] : ['nvidia', 'nvidia_uvm'];
}

/**
 * What init({ loadKernelModules }) does before discovery: load what is missing and make the nodes;
 * with everything loaded, only the missing nodes are made (none: no system call at all).
 */
export async function ensureKernelModules(opts: ResolvedKmodOptions, sys: KmodSyscalls): Promise<LoadResult> {
  const state = await readKernelState({ ...opts, withKallsyms: false });
  const targets = opts.modules ?? initTargets(false);
  if (targets.every((t) => state.loaded.has(t) || state.sysModules.has(t))) {
    const nodes = await createDeviceNodes(opts, { links: false, fixExisting: false }, sys);
    const plan: ModulePlan = {
      kernelRelease: state.release,
      targets,
      load: [],
      alreadyLoaded: targets,
      builtin: [],
      modules: [],
      problems: [],
      warnings: [],
      missing: [],
      ok: true,
      searched: { driver: [], kernel: undefined },
      kernelConfig: state.config?.source,
    };
    return { plan, inserted: [], nodes };
  }
  return loadModules({ ...opts, modules: targets }, sys);
}
