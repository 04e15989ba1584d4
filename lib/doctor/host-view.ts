/**
 * What the checks read off the host, each read once and shared: procfs files of the driver,
 * sysfs, the driver root's ld.so.cache and libraries, and NVML's answers through the driver
 * service (never in this process, and bounded by the timeout).
 */
import * as path from 'node:path';
import { promises as fsp } from 'node:fs';
import { binding, type HostPaths } from '../native';
import { rootSource } from '../host-facts';
import { parseLdCache, type LdCacheRecord } from '../ldcache-reader';
import { init } from '../context';
import { NvcError } from '../errors';
import type { Device, DriverInfo } from '../types';
import type { DoctorOptions } from './types';
import { readOptionalText, readRegularText, UnreadableFile } from '../bounded-read';
import { hostPathInRoot } from '../root-resolve';
import { parseProcModules } from '../kmod/kernel-state';
import { parseCharMajors, parseKeyValues } from '../kmod/nodes';
import { processesHoldingNodes } from '../kmod/holders';

export interface ProcGpu {
  /** As the proc directory names it, e.g. "0000:00:06.0". */
  busId: string;
  minor: number | null;
  /** "GPU Firmware:" of the information file; null when absent or N/A. */
  firmware: string | null;
  uuid: string | null;
}

export type NvmlAnswer = { ok: true; driver: DriverInfo; devices: Device[]; ms: number } | { ok: false; error: NvcError; ms: number };

/** A driver library as the cache leads to it: the soname, the cache's path, the versioned file. */
export interface CachedDriverLibrary {
  soname: string;
  /** The cache entry's flags: 0x0003 is a 32-bit (i386) library. */
  flags: number;
  cachePath: string;
  /** The file the soname link ends at, as a path inside the root; null when it does not resolve. */
  file: string | null;
  version: string | null;
}

const DRIVER_VERSION = /^(\d{3,})\.(\d+)(\.\d+)?$/;
const VERSIONED_DRIVER_FILE = /^(lib(?:cuda|nvidia-[a-z0-9_-]+|nvcuvid|EGL_nvidia|GLX_nvidia|GLESv[12](?:_CM)?_nvidia))\.so\.(\d{3,}\.\d+(?:\.\d+)?)$/;
/** The sonames whose versioned file names tell the user-space driver's version. */
export const VERSION_SONAMES = ['libnvidia-ml.so.1', 'libcuda.so.1'];

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/** "NVRM version: NVIDIA UNIX ... Kernel Module for x86_64  580.159.04  Release Build ..." -> 580.159.04 */
export function parseKernelModuleVersion(text: string): string | null {
  const line = text.split('\n').find((l) => l.startsWith('NVRM version:'));
  if (!line) return null;
  const word = line.split(/\s+/).find((w) => DRIVER_VERSION.test(w));
  return word ?? null;
}

// The /proc parsers are the module planner's and node maker's: one reading of each file format.
export { parseProcModules } from '../kmod/kernel-state';
export { parseCharMajors as parseProcDevices, parseKeyValues } from '../kmod/nodes';

export function versionOfFile(file: string): string | null {
  return VERSIONED_DRIVER_FILE.exec(path.basename(file))?.[2] ?? null;
}

export class HostView {
  readonly paths: HostPaths;
  readonly options: DoctorOptions;
  readonly timeoutMs: number;

  constructor(options: DoctorOptions) {
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? 10000;
    const { user: _user, container: _c, rootfs: _r, only: _o, cdiSpecDirs: _d, ...paths } = options;
    this.paths = binding().resolveHost(paths);
  }

  proc(rel: string): string {
    return path.join(this.paths.procRoot, rel);
  }
  sys(rel: string): string {
    return path.join(this.paths.sysRoot, rel);
  }
  dev(rel: string): string {
    return path.join(this.paths.devRoot, rel);
  }
  inRoot(inside: string): string {
    return rootSource(this.paths.root, inside);
  }

  readonly versionText = memo(() => readOptionalText(this.proc('driver/nvidia/version')));
  readonly kernelVersion = memo(async () => {
    const text = await this.versionText();
    return text === null ? null : parseKernelModuleVersion(text);
  });
  readonly modules = memo(async () => {
    const text = await readOptionalText(this.proc('modules'));
    return text === null ? null : parseProcModules(text);
  });
  readonly devices = memo(async () => parseCharMajors((await readOptionalText(this.proc('devices'))) ?? ''));
  readonly params = memo(async () => parseKeyValues((await readOptionalText(this.proc('driver/nvidia/params'))) ?? ''));

  readonly gpus = memo(async (): Promise<ProcGpu[]> => {
    const dir = this.proc('driver/nvidia/gpus');
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).sort();
    } catch {
      return [];
    }
    return Promise.all(
      names.map(async (busId) => {
        const info = parseKeyValues((await readOptionalText(path.join(dir, busId, 'information'))) ?? '');
        const minor = info.get('Device Minor');
        const fw = info.get('GPU Firmware');
        return {
          busId,
          minor: minor !== undefined && /^\d+$/.test(minor) ? Number(minor) : null,
          firmware: fw && fw !== 'N/A' ? fw : null,
          uuid: info.get('GPU UUID') ?? null,
        };
      }),
    );
  });

  /** Whether a kernel module is loaded: /proc/modules, else /sys/module (built-in drivers show there too). */
  async moduleLoaded(name: string): Promise<boolean> {
    const mods = await this.modules();
    if (mods !== null) return mods.has(name);
    try {
      await fsp.access(this.sys(`module/${name}`));
      return true;
    } catch {
      return false;
    }
  }

  readonly ldcache = memo(async (): Promise<{ path: string; records: LdCacheRecord[] } | { path: string; error: string }> => {
    const file = this.inRoot(this.paths.ldcache);
    try {
      const buf = await fsp.readFile(file);
      return { path: file, records: parseLdCache(buf) };
    } catch (e) {
      return { path: file, error: e instanceof Error ? e.message : String(e) };
    }
  });

  /** The driver's libraries as the root's cache leads to them (64-bit entries first). */
  readonly cachedDriverLibraries = memo(async (): Promise<CachedDriverLibrary[]> => {
    const cache = await this.ldcache();
    if (!('records' in cache)) return [];
    // The loader takes the first entry of a soname for its architecture; later ones (an old
    // driver's file that kept the soname) are shadowed, and count as installed side by side only.
    const seen = new Set<string>();
    const wanted = cache.records.filter((r) => {
      const id = `${r.key}\0${r.flags}`;
      if (!/^lib(cuda|nvidia-[a-z0-9_-]+|nvcuvid)\.so\.\d+$/.test(r.key) || seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    return Promise.all(
      wanted.map(async (r) => {
        const host = await hostPathInRoot(this.paths.root, r.value);
        const file = host === null ? null : '/' + path.relative(this.paths.root, host);
        return { soname: r.key, flags: r.flags, cachePath: r.value, file, version: file === null ? null : versionOfFile(file) };
      }),
    );
  });

  /** Every versioned driver library file in the directories the cache names, by version. */
  readonly installedVersions = memo(async (): Promise<Map<string, string[]>> => {
    const libs = await this.cachedDriverLibraries();
    const dirs = [...new Set(libs.map((l) => path.posix.dirname(l.cachePath)))];
    const out = new Map<string, string[]>();
    for (const dir of dirs) {
      let names: string[] = [];
      try {
        names = await fsp.readdir(this.inRoot(dir));
      } catch {
        continue;
      }
      for (const name of names.sort()) {
        const v = versionOfFile(name);
        if (v === null) continue;
        out.set(v, [...(out.get(v) ?? []), path.posix.join(dir, name)]);
      }
    }
    return out;
  });

  /** NVML's view through the driver service, bounded by the timeout: a hang is an answer too. */
  readonly nvml = memo(async (): Promise<NvmlAnswer> => {
    const started = Date.now();
    const { container: _c, rootfs: _r, only: _o, cdiSpecDirs: _d, ...initOptions } = this.options;
    try {
      const ctx = await init({ ...initOptions, timeoutMs: this.timeoutMs });
      try {
        const [driver, devices] = await Promise.all([ctx.driverInfo(), ctx.deviceInfo()]);
        return { ok: true, driver, devices, ms: Date.now() - started };
      } finally {
        await ctx.shutdown().catch(() => undefined);
      }
    } catch (e) {
      const error = e instanceof NvcError ? e : new NvcError('ERR_NVC_SYSTEM', String(e));
      return { ok: false, error, ms: Date.now() - started };
    }
  });

  /** Processes holding an NVIDIA device node open, as "pid (comm): node" (the module unloader's reading). */
  readonly deviceHolders = memo(async (): Promise<string[]> => {
    const holders = await processesHoldingNodes(this.paths.procRoot, this.paths.devRoot, ['nvidia', 'nvidia_uvm', 'nvidia_modeset']);
    return holders.flatMap((h) => h.nodes.map((node) => `${h.pid} (${h.command || '?'}): ${node}`));
  });

  /** Commands of running processes with this name (from <proc>/<pid>/comm). */
  async processesNamed(name: string): Promise<number[]> {
    let pids: string[];
    try {
      pids = (await fsp.readdir(this.paths.procRoot)).filter((p) => /^\d+$/.test(p));
    } catch {
      return [];
    }
    const found: number[] = [];
    await Promise.all(
      pids.map(async (pid) => {
        const comm = await readOptionalText(this.proc(`${pid}/comm`), 256).catch(() => null);
        if (comm?.trim() === name) found.push(Number(pid));
      }),
    );
    return found.sort((a, b) => a - b);
  }
}

export { readRegularText, UnreadableFile };
