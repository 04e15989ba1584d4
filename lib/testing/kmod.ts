/**
 * Kernel-module fixtures: small ELF relocatable objects with a crafted `.modinfo`, a symbol table of
 * undefined symbols, exported symbol names and an optional signature trailer (no code: only what
 * the planner reads), compressed with the xz and zstd tools; and whole hosts around them (proc,
 * sys, kernel tree, driver directory), among them one laid out like the GPU machine.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

import { writeProcfs } from './procfs';
import { defaultSimulatedHostSpec, type SimulatedHostSpec } from './spec';
import { Tree } from './tree';

export interface FixtureModule {
  /** File name without suffix, e.g. "nvidia-drm" (the module name defaults to it with '_'). */
  file: string;
  name?: string;
  depends?: string[];
  vermagic?: string;
  /** parm= entries "name:description". */
  params?: string[];
  softdep?: string;
  undefinedSymbols?: string[];
  /** Weak undefined symbols (the kernel may leave them unresolved). */
  weakSymbols?: string[];
  exportedSymbols?: string[];
  signed?: boolean;
  compression?: 'none' | 'xz' | 'zstd';
  /** Leave out the depends= key altogether (a module that depends on nothing may omit it). */
  noDepends?: boolean;
}

const SIGNATURE_TRAILER = '~Module signature appended~\n';

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

class Strings {
  private parts: Buffer[] = [Buffer.alloc(1)];
  private size = 1;
  add(s: string): number {
    const at = this.size;
    const b = Buffer.from(`${s}\0`, 'latin1');
    this.parts.push(b);
    this.size += b.length;
    return at;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** An x86_64 ELF64 ET_REL object with .modinfo, __ksymtab_strings, .symtab, .strtab and .shstrtab. */
export function buildKernelModule(m: FixtureModule): Buffer {
  const name = m.name ?? m.file.replace(/-/g, '_');
  const info = [`name=${name}`];
  if (m.noDepends !== true) info.push(`depends=${(m.depends ?? []).join(',')}`);
  info.push(`vermagic=${m.vermagic ?? '6.18.44 SMP preempt mod_unload modversions '}`, 'license=Dual MIT/GPL', 'retpoline=Y', 'intree=N');
  for (const p of m.params ?? []) info.push(`parm=${p}`, `parmtype=${p.split(':')[0]}:int`);
  if (m.softdep !== undefined) info.push(`softdep=${m.softdep}`);
  const modinfo = Buffer.from(info.map((s) => `${s}\0`).join(''), 'latin1');
  const ksymtab = Buffer.from((m.exportedSymbols ?? []).map((s) => `${s}\0`).join(''), 'latin1');
  const strtab = new Strings();
  const symbols = [
    ...(m.undefinedSymbols ?? []).map((s) => ({ name: strtab.add(s), info: 0x10 })), // STB_GLOBAL, STT_NOTYPE
    ...(m.weakSymbols ?? []).map((s) => ({ name: strtab.add(s), info: 0x20 })), // STB_WEAK
  ];
  const symtab = Buffer.alloc(24 * (symbols.length + 1));
  symbols.forEach((sym, i) => {
    const at = 24 * (i + 1);
    symtab.writeUInt32LE(sym.name, at);
    symtab[at + 4] = sym.info;
    symtab.writeUInt16LE(0, at + 6); // SHN_UNDEF
  });
  const strtabBytes = strtab.bytes();
  const shstr = new Strings();
  const sections = [
    { name: shstr.add('.modinfo'), type: 1, data: modinfo, link: 0, info: 0, entsize: 0 },
    { name: shstr.add('__ksymtab_strings'), type: 1, data: ksymtab, link: 0, info: 0, entsize: 0 },
    { name: shstr.add('.symtab'), type: 2, data: symtab, link: 4, info: 1, entsize: 24 },
    { name: shstr.add('.strtab'), type: 3, data: strtabBytes, link: 0, info: 0, entsize: 0 },
  ];
  const shstrName = shstr.add('.shstrtab');
  const all = [...sections, { name: shstrName, type: 3, data: shstr.bytes(), link: 0, info: 0, entsize: 0 }];
  let offset = 64;
  const placed = all.map((s) => {
    offset = align(offset, 8);
    const at = offset;
    offset += s.data.length;
    return { ...s, offset: at };
  });
  const shoff = align(offset, 8);
  const file = Buffer.alloc(shoff + 64 * (placed.length + 1));
  file.writeUInt32BE(0x7f454c46, 0);
  file[4] = 2; // ELFCLASS64
  file[5] = 1; // little endian
  file[6] = 1; // EV_CURRENT
  file.writeUInt16LE(1, 16); // ET_REL
  file.writeUInt16LE(62, 18); // EM_X86_64
  file.writeUInt32LE(1, 20);
  file.writeBigUInt64LE(BigInt(shoff), 0x28);
  file.writeUInt16LE(64, 0x34); // e_ehsize
  file.writeUInt16LE(64, 0x3a); // e_shentsize
  file.writeUInt16LE(placed.length + 1, 0x3c);
  file.writeUInt16LE(placed.length, 0x3e); // .shstrtab is last
  placed.forEach((s, i) => {
    s.data.copy(file, s.offset);
    const at = shoff + 64 * (i + 1);
    file.writeUInt32LE(s.name, at);
    file.writeUInt32LE(s.type, at + 4);
    file.writeBigUInt64LE(BigInt(s.offset), at + 0x18);
    file.writeBigUInt64LE(BigInt(s.data.length), at + 0x20);
    file.writeUInt32LE(s.link, at + 0x28);
    file.writeUInt32LE(s.info, at + 0x2c);
    file.writeBigUInt64LE(1n, at + 0x30);
    file.writeBigUInt64LE(BigInt(s.entsize), at + 0x38);
  });
  if (m.signed !== true) return file;
  // A fake PKCS#7 blob and the module_signature struct before the magic, as sign-file lays them out.
  const sig = Buffer.alloc(64, 0x5a);
  const trailer = Buffer.alloc(12);
  trailer[2] = 2; // PKEY_ID_PKCS7
  trailer.writeUInt32BE(sig.length, 8);
  return Buffer.concat([file, sig, trailer, Buffer.from(SIGNATURE_TRAILER, 'latin1')]);
}

/** Writes the module under dir as <file>.ko, .ko.xz or .ko.zst; returns its path. */
export async function writeKernelModule(dir: string, m: FixtureModule): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  const image = buildKernelModule(m);
  const compression = m.compression ?? 'none';
  const suffix = compression === 'xz' ? '.ko.xz' : compression === 'zstd' ? '.ko.zst' : '.ko';
  const data =
    compression === 'xz'
      ? execFileSync('xz', ['--check=crc32', '-c'], { input: image })
      : compression === 'zstd'
        ? execFileSync('zstd', ['-q', '-c'], { input: image })
        : image;
  const file = path.join(dir, `${m.file}${suffix}`);
  await fsp.writeFile(file, data);
  return file;
}

/** Kernel symbols the driver's fixture modules use, as a kernel without DRM has them. */
export const BASE_KERNEL_SYMBOLS = ['_printk', '__fentry__', 'pci_register_driver', 'kmalloc_trace', 'kfree', '__x86_return_thunk', 'register_chrdev_region'];
/** What a kernel with CONFIG_DRM and CONFIG_DRM_KMS_HELPER adds. */
export const DRM_KERNEL_SYMBOLS = ['drm_dev_alloc', 'drm_dev_register', 'drm_atomic_helper_check', 'drm_kms_helper_poll_init', 'hdmi_avi_infoframe_init'];

export interface NvidiaModuleOptions {
  release?: string;
  compression?: 'none' | 'xz' | 'zstd';
  /** nvidia-drm's depends= (default drm,drm_kms_helper,nvidia-modeset, as a driver built with DRM has it). */
  drmDepends?: string[];
  signed?: boolean;
}

/** The five modules of the driver, with the dependencies and symbols of the 580 open modules. */
export function nvidiaModules(o: NvidiaModuleOptions = {}): FixtureModule[] {
  const vermagic = `${o.release ?? '6.18.44'} SMP preempt mod_unload modversions `;
  const common = { vermagic, ...(o.compression !== undefined && { compression: o.compression }), ...(o.signed !== undefined && { signed: o.signed }) };
  return [
    {
      file: 'nvidia',
      ...common,
      depends: [],
      params: ['NVreg_DeviceFileMode:', 'NVreg_ModifyDeviceFiles:'],
      undefinedSymbols: ['_printk', 'pci_register_driver', 'kfree'],
      exportedSymbols: ['nvUvmInterfaceRegisterGpu', 'nvKmsKapiGetFunctionsTable_rm', 'nvidia_get_rm_ops'],
    },
    { file: 'nvidia-uvm', ...common, depends: ['nvidia'], undefinedSymbols: ['_printk', 'nvUvmInterfaceRegisterGpu'] },
    {
      file: 'nvidia-modeset',
      ...common,
      depends: ['nvidia'],
      undefinedSymbols: ['_printk', 'nvidia_get_rm_ops'],
      exportedSymbols: ['nvKmsKapiGetFunctionsTable'],
    },
    {
      file: 'nvidia-drm',
      ...common,
      depends: o.drmDepends ?? ['drm', 'drm_kms_helper', 'nvidia-modeset'],
      params: ['modeset:Enable atomic kernel modesetting (1 = enable, 0 = disable (default))', 'fbdev:Create a framebuffer device'],
      undefinedSymbols: ['_printk', 'nvKmsKapiGetFunctionsTable', 'drm_dev_alloc', 'drm_dev_register', 'drm_atomic_helper_check', 'drm_kms_helper_poll_init'],
    },
    { file: 'nvidia-peermem', ...common, depends: ['nvidia', 'ib_core'], undefinedSymbols: ['_printk', 'ib_register_peer_memory_client'] },
  ];
}

/** The kernel's own modules for DRM, for a tree with CONFIG_DRM=m. */
export function drmModules(o: { release?: string; compression?: 'none' | 'xz' | 'zstd' } = {}): Array<FixtureModule & { dir: string }> {
  const vermagic = `${o.release ?? '6.18.44'} SMP preempt mod_unload modversions `;
  const c = o.compression === undefined ? {} : { compression: o.compression };
  return [
    {
      dir: 'kernel/drivers/gpu/drm',
      file: 'drm',
      ...c,
      vermagic,
      depends: [],
      exportedSymbols: ['drm_dev_alloc', 'drm_dev_register'],
      undefinedSymbols: ['_printk'],
    },
    {
      dir: 'kernel/drivers/gpu/drm',
      file: 'drm_kms_helper',
      ...c,
      vermagic,
      depends: ['drm'],
      exportedSymbols: ['drm_atomic_helper_check', 'drm_kms_helper_poll_init'],
      undefinedSymbols: ['drm_dev_alloc'],
    },
  ];
}

export interface KmodHostSpec {
  release?: string;
  /** <proc>/modules lines: name, reference count, users. */
  loaded?: Array<{ name: string; refcount?: number; usedBy?: string[] }>;
  /** <sys>/module directories of built-in modules with parameters. */
  sysBuiltin?: string[];
  /** CONFIG_ values; 'not set' writes "# X is not set". */
  config?: Record<string, string>;
  /** Where the configuration is: <proc>/config.gz, <root>/boot/config-<release>, or nowhere. */
  configAt?: 'proc' | 'boot' | 'none';
  /** <proc>/kallsyms symbols (omitted: no kallsyms); a module's own as [module]. */
  kallsyms?: Array<string | { symbol: string; module: string }>;
  /** The driver's modules and where under the root they are (default usr/local/nvidia/modules). */
  driverModules?: FixtureModule[];
  driverDir?: string;
  /** The kernel tree lib/modules/<release> (omitted: none, as on the GPU machine). */
  kernelTree?: {
    modules: Array<FixtureModule & { dir: string }>;
    /** Write modules.dep (default true). */
    dep?: boolean;
    builtin?: string[];
    builtinModinfo?: string[];
    /** Write modules.symbols from the modules' exports. */
    symbols?: boolean;
  };
  /** <sys>/module/compression (finit_module can decompress this). */
  kernelCompression?: string;
  /** The driver's proc files (devices, params, gpus, capabilities) for this simulated host spec. */
  driverProc?: SimulatedHostSpec;
}

export interface KmodHost {
  base: string;
  root: string;
  procRoot: string;
  sysRoot: string;
  devRoot: string;
  kernelDir: string;
  driverDir: string;
  /** Rewrites <proc>/modules (what a fake loader does). */
  setLoaded(loaded: Array<{ name: string; refcount?: number; usedBy?: string[] }>): Promise<void>;
  cleanup(): Promise<void>;
}

export function procModulesText(loaded: Array<{ name: string; refcount?: number; usedBy?: string[] }>): string {
  return loaded
    .map((m, i) => {
      const users = m.usedBy === undefined || m.usedBy.length === 0 ? '-' : `${m.usedBy.join(',')},`;
      return `${m.name} ${16384 * (i + 1)} ${m.refcount ?? m.usedBy?.length ?? 0} ${users} Live 0x0000000000000000`;
    })
    .join('\n')
    .concat(loaded.length > 0 ? '\n' : '');
}

function configText(config: Record<string, string>): string {
  return `#\n# Automatically generated file; DO NOT EDIT.\n#\n${Object.entries(config)
    .map(([k, v]) => (v === 'not set' ? `# ${k} is not set` : `${k}=${v}`))
    .join('\n')}\n`;
}

export async function createKmodHost(spec: KmodHostSpec): Promise<KmodHost> {
  const base = await fsp.mkdtemp(path.join(os.tmpdir(), 'nvc-kmod-'));
  const release = spec.release ?? '6.18.44';
  const root = path.join(base, 'root');
  const procRoot = path.join(base, 'proc');
  const sysRoot = path.join(base, 'sys');
  const devRoot = path.join(base, 'dev');
  const kernelDir = path.join(root, 'lib/modules', release);
  const driverDir = path.join(root, spec.driverDir ?? 'usr/local/nvidia/modules');
  const proc = new Tree(procRoot);
  const sys = new Tree(sysRoot);
  await fsp.mkdir(root, { recursive: true });
  await fsp.mkdir(devRoot, { recursive: true });
  if (spec.driverProc !== undefined) await writeProcfs(procRoot, spec.driverProc);
  await proc.write('sys/kernel/osrelease', `${release}\n`, 0o444);
  const setLoaded = async (loaded: Array<{ name: string; refcount?: number; usedBy?: string[] }>): Promise<void> => {
    await proc.write('modules', procModulesText(loaded), 0o444);
    await fsp.rm(path.join(sysRoot, 'module'), { recursive: true, force: true });
    await sys.mkdir('module');
    for (const m of loaded) await sys.write(`module/${m.name}/initstate`, 'live\n', 0o444);
    for (const b of spec.sysBuiltin ?? []) await sys.mkdir(`module/${b}/parameters`);
    if (spec.kernelCompression !== undefined) await sys.write('module/compression', `${spec.kernelCompression}\n`, 0o444);
  };
  await setLoaded(spec.loaded ?? []);
  if (spec.config !== undefined) {
    const text = configText(spec.config);
    if ((spec.configAt ?? 'proc') === 'proc') await proc.write('config.gz', gzipSync(text), 0o444);
    else if (spec.configAt === 'boot') await new Tree(root).write(`boot/config-${release}`, text);
  }
  if (spec.kallsyms !== undefined) {
    const lines = spec.kallsyms.map((s) => (typeof s === 'string' ? `0000000000000000 T ${s}` : `0000000000000000 T ${s.symbol}\t[${s.module}]`));
    await proc.write('kallsyms', `${lines.join('\n')}\n`, 0o444);
  }
  for (const m of spec.driverModules ?? []) await writeKernelModule(driverDir, m);
  if (spec.kernelTree !== undefined) {
    const t = spec.kernelTree;
    const tree = new Tree(kernelDir);
    const written: Array<{ rel: string; m: FixtureModule }> = [];
    for (const m of t.modules) {
      const file = await writeKernelModule(path.join(kernelDir, m.dir), m);
      written.push({ rel: path.relative(kernelDir, file), m });
    }
    if (t.dep !== false) {
      const relOf = (name: string): string | undefined => written.find((w) => (w.m.name ?? w.m.file).replace(/-/g, '_') === name.replace(/-/g, '_'))?.rel;
      const lines = written.map((w) =>
        `${w.rel}: ${(w.m.depends ?? [])
          .map(relOf)
          .filter((r) => r !== undefined)
          .join(' ')}`.trimEnd(),
      );
      await tree.write('modules.dep', `${lines.join('\n')}\n`);
    }
    await tree.write('modules.builtin', (t.builtin ?? []).map((b) => `${b}\n`).join(''));
    if (t.builtinModinfo !== undefined) await tree.write('modules.builtin.modinfo', t.builtinModinfo.map((s) => `${s}\0`).join(''));
    if (t.symbols === true) {
      const lines = written.flatMap((w) => (w.m.exportedSymbols ?? []).map((s) => `alias symbol:${s} ${(w.m.name ?? w.m.file).replace(/-/g, '_')}`));
      await tree.write('modules.symbols', `# Aliases for symbols, used by symbol_request().\n${lines.join('\n')}\n`);
    }
  }
  return {
    base,
    root,
    procRoot,
    sysRoot,
    devRoot,
    kernelDir,
    driverDir,
    setLoaded,
    cleanup: () => fsp.rm(base, { recursive: true, force: true }),
  };
}

/** The GPU machine's spec for the driver's proc files: two H200, minors 0 and 1, MIG capable and off. */
export function gpuMachineProcSpec(): SimulatedHostSpec {
  const spec = defaultSimulatedHostSpec();
  const [first] = spec.gpus;
  if (first === undefined) throw new Error('the default simulated spec has no GPU');
  const h200 = { ...first, name: 'NVIDIA H200', mig: 'disabled' as const, pciDeviceId: 0x233510de };
  spec.gpus = [
    { ...h200, uuid: 'GPU-0c6a55f2-1d2e-4b3a-9f1e-2a3b4c5d6e70', pci: { domain: 0, bus: 0, device: 6 }, minor: 0 },
    { ...h200, uuid: 'GPU-1d7b66a3-2e3f-4c4b-8a2f-3b4c5d6e7f81', pci: { domain: 0, bus: 0, device: 7 }, minor: 1 },
  ];
  return spec;
}

/**
 * A host laid out like the GPU machine: kernel 6.18.44 without CONFIG_DRM, no /lib/modules, the
 * driver's plain .ko files in /usr/local/nvidia/modules, nvidia and nvidia_uvm loaded, no
 * /sys/module/drm. configAt says whether /proc/config.gz exists there.
 */
/**
 * The GPU machine's kernel. Its nvidia-drm.ko, built against this DRM-less kernel, is a stub: no
 * `depends=`, no drm symbol (`stubDrm`, as read there); without it, the module of a DRM-capable build.
 */
export function gpuMachineKmodSpec(configAt: 'proc' | 'none' = 'proc', o: { stubDrm?: boolean } = {}): KmodHostSpec {
  return {
    release: '6.18.44',
    loaded: [
      { name: 'nvidia_uvm', refcount: 0 },
      { name: 'nvidia', refcount: 1, usedBy: ['nvidia_uvm'] },
    ],
    config: { CONFIG_MODULES: 'y', CONFIG_MODULE_SIG: 'y', CONFIG_DRM: 'not set', CONFIG_HDMI: 'not set' },
    configAt,
    kallsyms: [
      ...BASE_KERNEL_SYMBOLS,
      ...['nvUvmInterfaceRegisterGpu', 'nvidia_get_rm_ops', 'nvKmsKapiGetFunctionsTable_rm'].map((symbol) => ({ symbol, module: 'nvidia' })),
    ],
    driverModules: o.stubDrm
      ? nvidiaModules({ signed: false }).map((m) => (m.file === 'nvidia-drm' ? { ...m, depends: [], undefinedSymbols: ['_printk'] } : m))
      : nvidiaModules({ signed: false }),
    driverProc: gpuMachineProcSpec(),
  };
}
