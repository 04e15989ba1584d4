/**
 * The load plan: which modules to insert, in dependency order, for the requested targets; what is
 * already loaded or built in; and why a plan cannot be carried out (a dependency the kernel does
 * not provide, a module built for another kernel, symbols the kernel lacks).
 */
import * as path from 'node:path';

import { NvcError } from '../errors';
import { configOptionOfModule, impliedDependencies, providerOfSymbol } from './config-options';
import { readKernelState, type KernelConfig, type KernelState } from './kernel-state';
import { readModuleInfo, type ModuleInfo } from './modinfo';
import { readDriverModules, readKernelTree, type ModuleTree } from './module-tree';
import { DEFAULT_TARGETS, NVIDIA_MODULES, moduleName } from './names';
import type { ResolvedKmodOptions } from './options';

export interface PlannedModule {
  name: string;
  path: string;
  compression: ModuleInfo['compression'];
  depends: string[];
  vermagic: string | undefined;
  signed: boolean;
  /** Parameters passed when it is inserted. */
  params: string[];
  /** The modules of the plan (or the request) that need it. */
  neededBy: string[];
  /** Where it was found: the driver's directory or the kernel's tree. */
  from: 'driver' | 'kernel';
}

export interface MissingSymbol {
  symbol: string;
  provider?: string;
  configOption?: string;
}

export type PlanProblem =
  | { kind: 'missing'; module: string; neededBy: string[]; configOption?: string; configValue?: string; message: string }
  | { kind: 'vermagic'; module: string; vermagic: string; kernelRelease: string; message: string }
  | { kind: 'symbols'; module: string; symbols: MissingSymbol[]; message: string }
  | { kind: 'cycle'; module: string; chain: string[]; message: string }
  | { kind: 'unreadable'; module: string; path: string; message: string };

export interface ModulePlan {
  kernelRelease: string | undefined;
  targets: string[];
  /** Module names in load order (unload order is the reverse). */
  load: string[];
  alreadyLoaded: string[];
  builtin: string[];
  modules: PlannedModule[];
  problems: PlanProblem[];
  /** Doubts that do not refuse the plan (symbols kallsyms lacks whose provider is unknown). */
  warnings: string[];
  /** Dependencies the kernel does not provide (the 'missing' problems' modules). */
  missing: string[];
  ok: boolean;
  /** Where module files were looked for. */
  searched: { driver: string[]; kernel: string | undefined };
  /** Where the kernel's configuration was read from, when it was. */
  kernelConfig: string | undefined;
}

/** The places the driver's modules usually are, in order. */
export function driverModuleDirs(root: string, kernelDir: string | undefined): string[] {
  const dirs = [path.join(root, 'usr/local/nvidia/modules'), path.join(root, 'run/nvidia/driver/lib/modules')];
  if (kernelDir !== undefined) {
    dirs.push(
      path.join(kernelDir, 'kernel/drivers/video'),
      path.join(kernelDir, 'extra'),
      path.join(kernelDir, 'updates/dkms'),
      path.join(kernelDir, 'updates'),
    );
  }
  return dirs;
}

function configText(config: KernelConfig | undefined, option: string): string | undefined {
  if (config === undefined) return undefined;
  return config.values.get(option) ?? 'not set';
}

function missingMessage(
  module: string,
  neededBy: string[],
  option: string | undefined,
  config: KernelConfig | undefined,
  where: string,
): { message: string; configValue?: string } {
  const who = neededBy.length > 0 ? `needed by ${neededBy.join(', ')}` : 'requested';
  if ((NVIDIA_MODULES as readonly string[]).includes(module)) {
    return {
      message: `${module} (${who}) is not loaded and none of the driver's module files was found for it (looked in ${where}): install the driver's kernel modules, or name their directory with --modules-dir`,
    };
  }
  let message = `${module} (${who}) is not available in this kernel: it is neither loaded, built in, nor available as a module (looked in ${where}); it must be provided by the kernel, built in or as a module`;
  const value = option === undefined ? undefined : configText(config, option);
  if (option !== undefined && value !== undefined && config !== undefined) {
    if (value === 'not set' || value === 'n')
      message += `: ${option} is not set in ${config.source}, so this kernel does not have ${module}; use a kernel built with ${option}=y or =m`;
    else if (value === 'm') message += `: ${option}=m in ${config.source}, but ${module}.ko is missing; install the kernel's modules package`;
    else message += `: ${option}=${value} in ${config.source}, yet the kernel does not report ${module}`;
  } else if (option !== undefined) {
    message += ` (kernel option ${option}; the kernel's configuration could not be read)`;
  }
  return { message, ...(value !== undefined && { configValue: value }) };
}

interface Walk {
  state: KernelState;
  driver: Map<string, string>;
  tree: ModuleTree | undefined;
  opts: ResolvedKmodOptions;
  info: Map<string, ModuleInfo>;
  neededBy: Map<string, Set<string>>;
  order: string[];
  loaded: Set<string>;
  builtin: Set<string>;
  missing: Map<string, Set<string>>;
  problems: PlanProblem[];
  warnings: string[];
  visiting: string[];
  where: string;
}

function isLoaded(w: Walk, name: string): boolean {
  return w.state.loaded.has(name);
}

function isBuiltin(w: Walk, name: string): boolean {
  // A /sys/module directory without a /proc/modules line is a built-in module with parameters.
  return (w.tree?.builtin.has(name) ?? false) || (w.state.sysModules.has(name) && !w.state.loaded.has(name));
}

function fileOf(w: Walk, name: string): { file: string; from: 'driver' | 'kernel' } | undefined {
  const d = w.driver.get(name);
  if (d !== undefined) return { file: d, from: 'driver' };
  const k = w.tree?.files.get(name);
  return k === undefined ? undefined : { file: k, from: 'kernel' };
}

async function visit(w: Walk, name: string, from: string | undefined, optional = false): Promise<void> {
  if (from !== undefined) {
    const set = w.neededBy.get(name) ?? new Set<string>();
    set.add(from);
    w.neededBy.set(name, set);
  }
  if (isLoaded(w, name)) {
    w.loaded.add(name);
    return;
  }
  if (isBuiltin(w, name)) {
    w.builtin.add(name);
    return;
  }
  if (w.visiting.includes(name)) {
    const chain = [...w.visiting.slice(w.visiting.indexOf(name)), name];
    w.problems.push({ kind: 'cycle', module: name, chain, message: `modules depend on each other in a cycle: ${chain.join(' -> ')}` });
    return;
  }
  if (w.order.includes(name) || w.missing.has(name) || w.info.has(name)) {
    if (w.missing.has(name) && from !== undefined) w.missing.get(name)?.add(from);
    return;
  }
  const found = fileOf(w, name);
  if (found === undefined) {
    if (!optional) w.missing.set(name, new Set(from === undefined ? [] : [from]));
    return;
  }
  let info: ModuleInfo;
  try {
    info = await readModuleInfo(found.file);
  } catch (err) {
    w.problems.push({ kind: 'unreadable', module: name, path: found.file, message: err instanceof Error ? err.message : String(err) });
    return;
  }
  w.info.set(name, info);
  const treeDeps = found.from === 'kernel' ? w.tree?.deps?.get(name) : undefined;
  w.visiting.push(name);
  for (const dep of info.softdepPre) if (fileOf(w, dep) !== undefined) await visit(w, dep, name, true);
  const deps = treeDeps ?? info.depends;
  for (const dep of deps) await visit(w, dep, name);
  for (const dep of impliedDependencies(name)) if (!deps.map(moduleName).includes(dep)) await visit(w, dep, name);
  w.visiting.pop();
  w.order.push(name);
}

function checkVermagic(w: Walk, info: ModuleInfo): void {
  const release = w.state.release;
  const magic = info.vermagic;
  if (release === undefined || magic === undefined) return;
  const built = magic.split(/\s+/)[0] ?? '';
  if (built !== release) {
    w.problems.push({
      kind: 'vermagic',
      module: info.name,
      vermagic: magic,
      kernelRelease: release,
      message: `${info.name} (${info.path}) was built for kernel ${built} (vermagic "${magic.trim()}"), but the running kernel is ${release}: rebuild or reinstall the driver's modules for ${release}`,
    });
  }
}

/**
 * Without CONFIG_KALLSYMS_ALL the symbol table lists functions only, so an exported variable
 * (jiffies, system_wq...) would look missing: then only symbols with a known provider are reported.
 */
function kallsymsComplete(state: KernelState): boolean {
  const known = state.kallsyms;
  if (known === undefined) return false;
  return state.config?.values.get('CONFIG_KALLSYMS_ALL') === 'y' || known.has('jiffies') || known.has('init_task');
}

/**
 * Exported symbol -> module, from the kernel tree's modules' own __ksymtab_strings: what
 * modules.symbols would say, for a tree depmod did not index. Read only when a symbol is missing.
 */
async function treeExports(w: Walk): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [name, file] of w.tree?.files ?? []) {
    try {
      for (const s of (await readModuleInfo(file)).exportedSymbols) if (!out.has(s)) out.set(s, name);
    } catch {
      // A damaged file elsewhere in the tree says nothing about this plan.
    }
  }
  return out;
}

async function checkSymbols(w: Walk, plan: string[]): Promise<void> {
  const known = w.state.kallsyms;
  if (known === undefined) return;
  const complete = kallsymsComplete(w.state);
  const exported = new Set<string>();
  for (const name of plan) for (const s of w.info.get(name)?.exportedSymbols ?? []) exported.add(s);
  let scanned: Map<string, string> | undefined;
  for (const name of plan) {
    const info = w.info.get(name);
    if (info === undefined) continue;
    const absent = info.undefinedSymbols.filter((s) => !known.has(s) && !exported.has(s));
    if (absent.length === 0) continue;
    if (scanned === undefined && w.tree !== undefined && w.tree.symbols.size === 0) scanned = await treeExports(w);
    const symbols: MissingSymbol[] = absent.map((symbol) => {
      const fromTree = w.tree?.symbols.get(symbol) ?? scanned?.get(symbol);
      const guess = providerOfSymbol(symbol);
      const provider = fromTree ?? guess?.module;
      const configOption = (provider === undefined ? undefined : configOptionOfModule(provider)) ?? guess?.option;
      return { symbol, ...(provider !== undefined && { provider }), ...(configOption !== undefined && { configOption }) };
    });
    // A symbol whose provider we know is missing for sure; one we cannot place may only be a
    // variable a functions-only kallsyms leaves out, or be named otherwise: loading will tell.
    const placed = symbols.filter((x) => x.provider !== undefined);
    const unplaced = symbols.filter((x) => x.provider === undefined).map((x) => x.symbol);
    if (complete && unplaced.length > 0) {
      w.warnings.push(
        `${name} needs symbol${unplaced.length === 1 ? '' : 's'} not in ${path.join(w.opts.procRoot, 'kallsyms')}: ${unplaced.slice(0, 8).join(', ')}${unplaced.length > 8 ? ` and ${unplaced.length - 8} more` : ''} (if the kernel lacks ${unplaced.length === 1 ? 'it' : 'them'}, the load will fail)`,
      );
    }
    if (placed.length === 0) continue;
    const byProvider = new Map<string, string[]>();
    for (const x of placed) {
      const key = `${x.provider ?? ''}${x.configOption === undefined ? '' : ` (${x.configOption})`}`;
      byProvider.set(key, [...(byProvider.get(key) ?? []), x.symbol]);
    }
    const parts = [...byProvider].map(([p, list]) => `${list.slice(0, 8).join(', ')}${list.length > 8 ? ` and ${list.length - 8} more` : ''} from ${p}`);
    w.problems.push({
      kind: 'symbols',
      module: name,
      symbols: placed,
      message: `${name} needs ${placed.length} symbol${placed.length === 1 ? '' : 's'} the running kernel does not have: ${parts.join('; ')}`,
    });
  }
}

/** Reads the host and plans the loading of opts.modules (default: nvidia, nvidia-uvm, nvidia-modeset, nvidia-drm). */
export async function planModules(opts: ResolvedKmodOptions, state?: KernelState): Promise<ModulePlan> {
  const kernel = state ?? (await readKernelState({ ...opts, ...(opts.kernelConfig !== undefined && { kernelConfig: opts.kernelConfig }) }));
  const kernelDir = opts.kernelModulesDir ?? (kernel.release === undefined ? undefined : path.join(opts.root, 'lib/modules', kernel.release));
  const driverDirs = opts.modulesDir !== undefined ? [opts.modulesDir] : driverModuleDirs(opts.root, kernelDir);
  const driver = await readDriverModules(driverDirs);
  const tree = kernelDir === undefined ? undefined : await readKernelTree(kernelDir);
  const targets = opts.modules ?? [...DEFAULT_TARGETS];
  const kernelDirNote = kernelDir === undefined ? [] : [tree?.exists === true ? kernelDir : `${kernelDir} (no such directory)`];
  const searched = [...(driver.dir !== undefined ? [driver.dir] : driverDirs), ...kernelDirNote];
  const w: Walk = {
    state: kernel,
    driver: driver.files,
    tree,
    opts,
    info: new Map(),
    neededBy: new Map(),
    order: [],
    loaded: new Set(),
    builtin: new Set(),
    missing: new Map(),
    problems: [],
    warnings: [],
    visiting: [],
    where: searched.join(', '),
  };
  for (const t of targets) await visit(w, t, undefined);
  for (const [module, by] of w.missing) {
    const option = configOptionOfModule(module);
    const neededBy = [...by];
    const { message, configValue } = missingMessage(module, neededBy, option, kernel.config, w.where);
    w.problems.push({
      kind: 'missing',
      module,
      neededBy,
      ...(option !== undefined && { configOption: option }),
      ...(configValue !== undefined && { configValue }),
      message,
    });
  }
  for (const name of w.order) {
    const info = w.info.get(name);
    if (info !== undefined) checkVermagic(w, info);
  }
  await checkSymbols(w, w.order);
  const modules = w.order.map((name): PlannedModule => {
    const info = w.info.get(name) as ModuleInfo;
    return {
      name,
      path: info.path,
      compression: info.compression,
      depends: info.depends,
      vermagic: info.vermagic,
      signed: info.signed,
      params: opts.params.get(name) ?? [],
      neededBy: [...(w.neededBy.get(name) ?? [])],
      from: w.driver.get(name) === info.path ? 'driver' : 'kernel',
    };
  });
  return {
    kernelRelease: kernel.release,
    targets,
    load: w.order,
    alreadyLoaded: [...w.loaded],
    builtin: [...w.builtin],
    modules,
    problems: w.problems,
    warnings: w.warnings,
    missing: [...w.missing.keys()],
    ok: w.problems.length === 0,
    searched: { driver: driver.dir !== undefined ? [driver.dir] : driverDirs, kernel: kernelDir },
    kernelConfig: kernel.config?.source,
  };
}

/** Throws ERR_NVC_KERNEL_MODULE naming every problem of a plan that cannot be carried out. */
export function assertPlanOk(plan: ModulePlan): void {
  if (plan.ok) return;
  const lines = plan.problems.map((p) => `- ${p.message}`);
  throw new NvcError('ERR_NVC_KERNEL_MODULE', `cannot load ${plan.targets.join(', ')}:\n${lines.join('\n')}`, {
    hint: 'nothing was loaded; `nvc-ts modules plan --json` shows the whole plan',
  });
}
