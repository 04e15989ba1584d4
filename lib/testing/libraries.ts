/**
 * The driver's libraries as minimal ELF files (libnvidia-ml being the mock NVML, a copy of it, or garbage), with
 * the decoys discovery must skip, the ld.so configuration and the ld.so.cache that lists them.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NvcError } from '../errors';
import { mockNvmlLibraryPath } from '../native';
import { buildElfSharedObject, type ElfMachine } from './elf';
import { LDCACHE_FLAGS, writeLdCache, type LdCacheEntry } from './ldcache';
import { formatMockNvmlSpec } from './nvml-spec';
import { driverLibDir, type SimulatedHostSpec } from './spec';
import { hideDynamicSymbols } from './symbols';
import type { Tree } from './tree';

/**
 * One driver library: its file is `<stem>.so.<driver version>`; its soname is
 * `<stem>.so.<soversion>`, or the file name itself when soversion is null.
 */
export interface SimulatedDriverLibrary {
  stem: string;
  soversion: string | null;
  /** Also installed as a 32-bit library when compat32 is on. */
  compat32: boolean;
  /** Only for ELF notes: NT_GNU_ABI_TAG version carried by the file. */
  abiTag?: [number, number, number];
}

/** The 580 driver's libraries as on the GPU machine, plus libnvidia-ngx. */
export const SIMULATED_DRIVER_LIBRARIES: readonly SimulatedDriverLibrary[] = [
  { stem: 'libnvidia-ml', soversion: '1', compat32: false },
  { stem: 'libnvidia-cfg', soversion: '1', compat32: false },
  { stem: 'libcuda', soversion: '1', compat32: true },
  { stem: 'libcudadebugger', soversion: '1', compat32: false },
  { stem: 'libnvidia-opencl', soversion: '1', compat32: true },
  { stem: 'libnvidia-gpucomp', soversion: null, compat32: true },
  { stem: 'libnvidia-ptxjitcompiler', soversion: '1', compat32: true },
  { stem: 'libnvidia-allocator', soversion: '1', compat32: true },
  { stem: 'libnvidia-pkcs11-openssl3', soversion: null, compat32: false },
  { stem: 'libnvidia-nvvm', soversion: '4', compat32: false },
  { stem: 'libvdpau_nvidia', soversion: '1', compat32: true },
  { stem: 'libnvidia-encode', soversion: '1', compat32: true },
  { stem: 'libnvidia-opticalflow', soversion: '1', compat32: true },
  { stem: 'libnvcuvid', soversion: '1', compat32: true },
  { stem: 'libnvidia-eglcore', soversion: null, compat32: true },
  { stem: 'libnvidia-glcore', soversion: null, compat32: true },
  { stem: 'libnvidia-tls', soversion: null, compat32: true, abiTag: [2, 3, 99] },
  { stem: 'libnvidia-glsi', soversion: null, compat32: true },
  { stem: 'libnvidia-fbc', soversion: '1', compat32: true },
  { stem: 'libnvidia-rtcore', soversion: null, compat32: false },
  { stem: 'libnvoptix', soversion: '1', compat32: false },
  { stem: 'libGLX_nvidia', soversion: '0', compat32: true },
  { stem: 'libEGL_nvidia', soversion: '0', compat32: true },
  { stem: 'libGLESv2_nvidia', soversion: '2', compat32: true },
  { stem: 'libGLESv1_CM_nvidia', soversion: '1', compat32: true },
  { stem: 'libnvidia-glvkspirv', soversion: null, compat32: true },
  { stem: 'libnvidia-ngx', soversion: '1', compat32: false },
];

export const LIB_DIR = '/usr/lib/x86_64-linux-gnu';

/** EGL external platforms: JSON name, library SONAME, library file (versioned apart from the driver, like egl-wayland). */
export const SIMULATED_EGL_PLATFORMS = [
  ['10_nvidia_wayland.json', 'libnvidia-egl-wayland.so.1', 'libnvidia-egl-wayland.so.1.1.19'],
  ['15_nvidia_gbm.json', 'libnvidia-egl-gbm.so.1', 'libnvidia-egl-gbm.so.1.1.2'],
  ['20_nvidia_xcb.json', 'libnvidia-egl-xcb.so.1', 'libnvidia-egl-xcb.so.1.0.1'],
  ['20_nvidia_xlib.json', 'libnvidia-egl-xlib.so.1', 'libnvidia-egl-xlib.so.1.0.1'],
] as const;
export const LIB32_DIR = '/usr/lib/i386-linux-gnu';
/** Where the wrong-ABI libnvidia-tls decoy lives (not in ld.so.conf, only in the cache). */
export const DECOY_TLS_DIR = '/usr/lib/x86_64-linux-gnu/nvidia-classic-tls';
export const STALE_CUDA_VERSION = '535.104.05';

/** The soname a driver library is looked up by. */
export function librarySoname(lib: SimulatedDriverLibrary, driverVersion: string): string {
  return lib.soversion === null ? `${lib.stem}.so.${driverVersion}` : `${lib.stem}.so.${lib.soversion}`;
}

/** Installs `<dir>/<file>` plus its soname and development links; returns the cache entries ldconfig would make. */
async function installLibrary(
  tree: Tree,
  dir: string,
  file: string,
  soname: string,
  content: Buffer,
  flags: number,
  devLink: string | null,
): Promise<LdCacheEntry[]> {
  await tree.write(path.posix.join(dir, file), content, 0o755);
  const entries: LdCacheEntry[] = [];
  if (soname !== file) await tree.symlink(path.posix.join(dir, soname), file);
  entries.push({ key: soname, value: path.posix.join(dir, soname), flags });
  if (devLink !== null && devLink !== soname) {
    await tree.symlink(path.posix.join(dir, devLink), soname);
    entries.push({ key: devLink, value: path.posix.join(dir, devLink), flags });
  }
  return entries;
}

/** The mock NVML library to copy, checked before any directory is made. */
export async function resolveMockPath(mockNvmlPath: string | undefined): Promise<string> {
  const candidate = mockNvmlPath ?? mockNvmlLibraryPath();
  try {
    await fsp.access(candidate);
  } catch (cause) {
    throw new NvcError('ERR_NVC_NATIVE_MISSING', `the mock NVML library is missing: ${candidate}`, {
      path: candidate,
      cause,
      hint: 'build the package (npm run build) or set NVC_TS_MOCK_NVML to a built libnvc-mock-nvml.so',
    });
  }
  return candidate;
}

function corruptBytes(): Buffer {
  // Deterministic garbage that is not an ELF file (and not empty).
  const b = Buffer.alloc(4096);
  let x = 0x2545f491;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  b.write('not an ELF object\n', 0, 'latin1');
  return b;
}

/** Installs the libraries and the mock's spec file under t, then the ld.so configuration and cache that list them. */
export async function installDriverLibraries(
  t: Tree,
  spec: SimulatedHostSpec,
  mockPath: string | null,
  nvmlSpecText: string | undefined,
): Promise<{ nvmlLibrary: string | null; nvmlSpecFile: string | null }> {
  const ver = spec.driverVersion;
  const libDir = driverLibDir(spec);
  const cache: LdCacheEntry[] = [];
  const decoyCache: LdCacheEntry[] = [];
  let nvmlLibrary: string | null = null;
  let nvmlSpecFile: string | null = null;
  const elf = (machine: ElfMachine, soname: string, abiTag?: [number, number, number]): Buffer =>
    buildElfSharedObject(abiTag ? { machine, soname, abiTag } : { machine, soname });

  for (const lib of SIMULATED_DRIVER_LIBRARIES) {
    const file = `${lib.stem}.so.${ver}`;
    const soname = librarySoname(lib, ver);
    let content = elf('x86_64', soname, lib.abiTag);
    if (lib.stem === 'libnvidia-ml') {
      if (spec.nvml === 'missing') continue;
      if (spec.nvml === 'corrupt') content = corruptBytes();
      else if (mockPath !== null) content = hideDynamicSymbols(await fsp.readFile(mockPath), spec.hiddenSymbols ?? []);
      nvmlLibrary = t.abs(path.posix.join(libDir, file));
    }
    cache.push(...(await installLibrary(t, libDir, file, soname, content, LDCACHE_FLAGS.X86_64, `${lib.stem}.so`)));
  }
  for (const [, soname, file] of SIMULATED_EGL_PLATFORMS) {
    cache.push(...(await installLibrary(t, libDir, file, soname, elf('x86_64', soname), LDCACHE_FLAGS.X86_64, null)));
  }
  if (spec.nvml === 'mock') {
    const specRel = path.posix.join(libDir, 'libnvidia-ml.spec');
    await t.write(specRel, nvmlSpecText ?? formatMockNvmlSpec(spec));
    nvmlSpecFile = t.abs(specRel);
  }
  if (spec.compat32) {
    for (const lib of SIMULATED_DRIVER_LIBRARIES) {
      if (!lib.compat32) continue;
      const soname = librarySoname(lib, ver);
      cache.push(...(await installLibrary(t, LIB32_DIR, `${lib.stem}.so.${ver}`, soname, elf('i386', soname, lib.abiTag), LDCACHE_FLAGS.I386, null)));
    }
  }
  if (spec.decoys) {
    // A stale libcuda from an older driver, listed after the real one.
    const stale = path.posix.join(libDir, `libcuda.so.${STALE_CUDA_VERSION}`);
    await t.write(stale, elf('x86_64', 'libcuda.so.1'), 0o755);
    decoyCache.push({ key: 'libcuda.so.1', value: stale, flags: LDCACHE_FLAGS.X86_64 });
    // A library without the driver version in its name.
    cache.push(...(await installLibrary(t, libDir, 'libnvidia-foo.so', 'libnvidia-foo.so', elf('x86_64', 'libnvidia-foo.so'), LDCACHE_FLAGS.X86_64, null)));
    // The pre-TLS libnvidia-tls (ABI tag Linux 2.2.0) in a directory of its own.
    const tls = path.posix.join(DECOY_TLS_DIR, `libnvidia-tls.so.${ver}`);
    await t.write(tls, elf('x86_64', `libnvidia-tls.so.${ver}`, [2, 2, 0]), 0o755);
    decoyCache.push({ key: `libnvidia-tls.so.${ver}`, value: tls, flags: LDCACHE_FLAGS.X86_64 });
    // GLVND's libGL, which depends on libGLdispatch and not on libnvidia-glcore.
    const gl = buildElfSharedObject({ machine: 'x86_64', soname: 'libGL.so.1', needed: ['libGLdispatch.so.0', 'libc.so.6'] });
    cache.push(...(await installLibrary(t, libDir, 'libGL.so.1.7.0', 'libGL.so.1', gl, LDCACHE_FLAGS.X86_64, null)));
    cache.push(
      ...(await installLibrary(t, libDir, 'libGLdispatch.so.0.0.0', 'libGLdispatch.so.0', elf('x86_64', 'libGLdispatch.so.0'), LDCACHE_FLAGS.X86_64, null)),
    );
  }

  // --- ld.so configuration and cache -------------------------------------------------------------
  await t.write('etc/ld.so.conf', 'include /etc/ld.so.conf.d/*.conf\n');
  await t.write('etc/ld.so.conf.d/x86_64-linux-gnu.conf', `# Multiarch support\n${LIB_DIR}\n`);
  if (libDir !== LIB_DIR) await t.write('etc/ld.so.conf.d/nvidia.conf', `${libDir}\n`);
  if (spec.compat32) await t.write('etc/ld.so.conf.d/i386-linux-gnu.conf', `# Multiarch support\n${LIB32_DIR}\n`);
  // Decoy entries go last among equal keys: a reader keeping the last match must still filter them out.
  await writeLdCache(t.abs('etc/ld.so.cache'), [...cache, ...decoyCache]);
  return { nvmlLibrary, nvmlSpecFile };
}
