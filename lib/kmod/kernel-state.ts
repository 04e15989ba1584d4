/**
 * The running kernel as the planner sees it: its release, the modules loaded (<proc>/modules,
 * <sys>/module), its configuration (<proc>/config.gz or /boot/config-<release>), its symbol table
 * (<proc>/kallsyms) and the compression it can undo itself (<sys>/module/compression).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readTextOrUndefined as readText } from '../bounded-read';

export interface LoadedModule {
  name: string;
  refcount: number;
  /** The "used by" column: modules that depend on this one. */
  usedBy: string[];
  state: string;
}

export type ConfigValue = 'y' | 'm' | 'not set' | string;

export interface KernelConfig {
  source: string;
  values: Map<string, ConfigValue>;
}

export interface KernelState {
  release: string | undefined;
  loaded: Map<string, LoadedModule>;
  /** Directories of <sys>/module: loaded modules, and built-in ones with parameters. */
  sysModules: Set<string>;
  config: KernelConfig | undefined;
  /** Symbol names the kernel knows; undefined when <proc>/kallsyms could not be read. */
  kallsyms: Set<string> | undefined;
  /** What finit_module can decompress (MODULE_INIT_COMPRESSED_FILE), from <sys>/module/compression. */
  compression: string | undefined;
}

export interface KernelStateOptions {
  root: string;
  procRoot: string;
  sysRoot: string;
  /** The kernel's config file when <proc>/config.gz is absent (default <root>/boot/config-<release>). */
  kernelConfig?: string;
  /** Skip <proc>/kallsyms (large): only the planner's symbol check needs it. */
  withKallsyms?: boolean;
}

/** <proc>/modules: "name size refcount deps state address", deps "a,b," or "-". */
export function parseProcModules(text: string): Map<string, LoadedModule> {
  const out = new Map<string, LoadedModule>();
  for (const line of text.split('\n')) {
    const [name, , refcount, deps, state] = line.trim().split(/\s+/);
    if (name === undefined || name === '') continue;
    out.set(name, {
      name,
      refcount: Number(refcount ?? 0) || 0,
      usedBy: (deps ?? '-') === '-' ? [] : (deps ?? '').split(',').filter((d) => d !== ''),
      state: state ?? 'Live',
    });
  }
  return out;
}

export function parseKernelConfig(text: string, source: string): KernelConfig {
  const values = new Map<string, ConfigValue>();
  for (const line of text.split('\n')) {
    const notSet = /^# (CONFIG_\w+) is not set/.exec(line);
    if (notSet?.[1] !== undefined) values.set(notSet[1], 'not set');
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set?.[1] !== undefined) values.set(set[1], (set[2] ?? '').replace(/^"(.*)"$/, '$1'));
  }
  return { source, values };
}

export function parseKallsyms(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const name = line.split(/\s+/)[2];
    if (name !== undefined && name !== '') out.add(name);
  }
  return out;
}

async function readConfig(opts: KernelStateOptions, release: string | undefined): Promise<KernelConfig | undefined> {
  const gz = path.join(opts.procRoot, 'config.gz');
  try {
    return parseKernelConfig(gunzipSync(await fsp.readFile(gz)).toString('utf8'), gz);
  } catch {
    // Not built with CONFIG_IKCONFIG_PROC: the distribution's copy, if any.
  }
  const file = opts.kernelConfig ?? (release === undefined ? undefined : path.join(opts.root, 'boot', `config-${release}`));
  const text = file === undefined ? undefined : await readText(file);
  return text === undefined || file === undefined ? undefined : parseKernelConfig(text, file);
}

export async function readKernelState(opts: KernelStateOptions): Promise<KernelState> {
  const release = (await readText(path.join(opts.procRoot, 'sys/kernel/osrelease')))?.trim() || undefined;
  const loaded = parseProcModules((await readText(path.join(opts.procRoot, 'modules'))) ?? '');
  let sysModules = new Set<string>();
  try {
    sysModules = new Set(await fsp.readdir(path.join(opts.sysRoot, 'module')));
  } catch {
    // No sysfs given: /proc/modules alone tells what is loaded.
  }
  const kallsymsText = opts.withKallsyms === false ? undefined : await readText(path.join(opts.procRoot, 'kallsyms'));
  const compression = (await readText(path.join(opts.sysRoot, 'module/compression')))?.trim() || undefined;
  return {
    release,
    loaded,
    sysModules,
    config: await readConfig(opts, release),
    kallsyms: kallsymsText === undefined || kallsymsText.trim() === '' ? undefined : parseKallsyms(kallsymsText),
    compression,
  };
}
