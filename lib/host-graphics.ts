/**
 * The graphics files the reference leaves out, where the driver root has them: the loaders'
 * vendor files (GLVND EGL, Vulkan ICD and implicit layer, EGL external platforms, the OpenCL
 * ICD), the EGL platform libraries they name, and the X server modules. A vendor file whose
 * library path is absolute names a path of the host's layout, which the container does not
 * share (the library is mounted into the container's own library directory): such a file is
 * given rewritten, naming the library by its SONAME so the container's loader finds it.
 */
import { readdir } from 'node:fs/promises';
import { readTextOrUndefined } from './bounded-read';
import * as path from 'node:path';
import { resolveInRoot } from './root-resolve';
import type { Capability, DriverFile, DriverInfo } from './types';
import type { PathWitness } from './path-witness';

export type GraphicsFileKind = 'egl-vendor' | 'egl-platform' | 'vulkan-icd' | 'vulkan-layer' | 'opencl-icd' | 'xorg-driver' | 'xorg-glx';

export interface GraphicsFile {
  kind: GraphicsFileKind;
  /** Where the container gets it. */
  target: string;
  /** The file inside the driver root (symlinks followed). */
  path: string;
  capabilities: Capability[];
  /** The rewritten content, when the host's names a library by a path the container lacks. */
  data?: string;
}

export interface GraphicsFacts {
  files: GraphicsFile[];
  /** Libraries the vendor files name beyond the driver's own (the EGL external platforms'). */
  libraries: DriverFile[];
}

interface VendorFileSpec {
  kind: GraphicsFileKind;
  /** Relative to a share directory. */
  rel: string;
  capabilities: Capability[];
}

const EGL_VENDOR: VendorFileSpec = { kind: 'egl-vendor', rel: 'glvnd/egl_vendor.d/10_nvidia.json', capabilities: ['graphics', 'display'] };
const VULKAN_FILES: VendorFileSpec[] = [
  { kind: 'vulkan-icd', rel: 'vulkan/icd.d/nvidia_icd.json', capabilities: ['graphics', 'display'] },
  { kind: 'vulkan-layer', rel: 'vulkan/implicit_layer.d/nvidia_layers.json', capabilities: ['graphics', 'display'] },
];
const EGL_PLATFORM_DIR = 'egl/egl_external_platform.d';
const OPENCL_ICD = 'OpenCL/vendors/nvidia.icd';
const XORG_TARGETS: Record<'xorg-driver' | 'xorg-glx', string> = {
  'xorg-driver': '/usr/lib/xorg/modules/drivers/nvidia_drv.so',
  'xorg-glx': '/usr/lib/xorg/modules/extensions/libglxserver_nvidia.so',
};

/** The directories of the driver's libraries, in their order, each once. */
function libraryDirs(driver: Pick<DriverInfo, 'libraries'>): string[] {
  return [...new Set(driver.libraries.map((l) => path.posix.dirname(l.path)))];
}

/** The driver's own share directories (beside its libraries) first, then the system's. */
function shareDirs(libDirs: string[]): string[] {
  return [...new Set([...libDirs.map((d) => path.posix.join(d, '../share')), '/usr/share', '/usr/local/share', '/etc'])];
}

/** The name a library path becomes inside the container: the SONAME of the driver library it names, else its file name. */
function containerLibraryName(libraryPath: string, libraries: DriverFile[]): string {
  const base = path.posix.basename(libraryPath);
  const lib = libraries.find((l) => path.posix.basename(l.path) === base || l.soname === base);
  return lib?.soname ?? base;
}

type Json = { [key: string]: unknown };
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Each object of a vendor file that names a library (ICD, layer, layers[]). */
function libraryHolders(doc: Json): Json[] {
  const out: Json[] = [];
  for (const key of ['ICD', 'layer']) if (isObject(doc[key])) out.push(doc[key]);
  if (Array.isArray(doc['layers'])) out.push(...doc['layers'].filter(isObject));
  return out.filter((h) => typeof h['library_path'] === 'string');
}

/** A parsed vendor file, its library paths, and its text rewritten if one is absolute (else undefined). */
function rewriteVendorJson(text: string, libraries: DriverFile[]): { libraryPaths: string[]; data?: string } | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(doc)) return null;
  const holders = libraryHolders(doc);
  const libraryPaths = holders.map((h) => h['library_path'] as string);
  if (!libraryPaths.some((p) => p.startsWith('/'))) return { libraryPaths };
  for (const h of holders) {
    const p = h['library_path'] as string;
    if (p.startsWith('/')) h['library_path'] = containerLibraryName(p, libraries);
  }
  return { libraryPaths, data: `${JSON.stringify(doc, null, 4)}\n` };
}

/** The OpenCL ICD file is one library name (or path) per line. */
function rewriteOpenclIcd(text: string, libraries: DriverFile[]): string | undefined {
  const lines = text.split('\n');
  if (!lines.some((l) => l.trim().startsWith('/'))) return undefined;
  return lines.map((l) => (l.trim().startsWith('/') ? containerLibraryName(l.trim(), libraries) : l)).join('\n');
}

async function readInRoot(root: string, inside: string, witness?: PathWitness): Promise<{ path: string; text: string } | null> {
  const r = await resolveInRoot(root, inside, witness);
  if (r === null || r.kind !== 'file') return null;
  const text = await readTextOrUndefined(root === '/' ? r.path : path.join(root, r.path), 1 << 20);
  return text === undefined ? null : { path: r.path, text };
}

async function listInRoot(root: string, dir: string, witness?: PathWitness): Promise<string[]> {
  const r = await resolveInRoot(root, dir, witness);
  if (r === null || r.kind !== 'dir') return [];
  try {
    const dirPath = root === '/' ? r.path : path.join(root, r.path);
    await witness?.recordListing(dirPath);
    return (await readdir(dirPath)).sort();
  } catch {
    return [];
  }
}

/** An EGL platform's library: where its file names it, else in the driver's library directories. */
async function findPlatformLibrary(root: string, libraryPath: string, libDirs: string[], witness?: PathWitness): Promise<DriverFile | null> {
  const candidates = libraryPath.startsWith('/') ? [libraryPath] : libDirs.map((d) => path.posix.join(d, libraryPath));
  for (const c of candidates) {
    const r = await resolveInRoot(root, c, witness);
    if (r === null || r.kind !== 'file') continue;
    const soname = path.posix.basename(libraryPath);
    return { path: r.path, capabilities: ['graphics', 'display'], ...(soname !== path.posix.basename(r.path) && { soname }) };
  }
  return null;
}

/** The graphics facts of a driver root; `witness`, when given, records every path examined (a cache's key). */
export async function readGraphicsFacts(root: string, driver: Pick<DriverInfo, 'libraries'>, witness?: PathWitness): Promise<GraphicsFacts> {
  const libDirs = libraryDirs(driver);
  const shares = shareDirs(libDirs);
  const files: GraphicsFile[] = [];
  const libraries: DriverFile[] = [];
  const known = [...driver.libraries];

  // The first share directory that has a file gives it.
  const firstOf = async (rel: string): Promise<{ path: string; text: string } | null> => {
    for (const dir of shares) {
      const found = await readInRoot(root, path.posix.join(dir, rel), witness);
      if (found !== null) return found;
    }
    return null;
  };

  const addShareFile = async (spec: VendorFileSpec): Promise<void> => {
    const found = await firstOf(spec.rel);
    const parsed = found && rewriteVendorJson(found.text, known);
    if (found && parsed) files.push(vendorFile(spec, found.path, parsed.data));
  };

  // In the order EGL, its platforms, Vulkan: the vendor file first, then what it loads.
  await addShareFile(EGL_VENDOR);

  // EGL external platforms: NVIDIA's JSONs of every share directory, the first of each name, with their library.
  const seen = new Set<string>();
  for (const dir of shares) {
    for (const name of await listInRoot(root, path.posix.join(dir, EGL_PLATFORM_DIR), witness)) {
      if (!/nvidia.*\.json$/.test(name) || seen.has(name)) continue;
      const found = await readInRoot(root, path.posix.join(dir, EGL_PLATFORM_DIR, name), witness);
      if (found === null) continue;
      const [libraryPath] = rewriteVendorJson(found.text, known)?.libraryPaths ?? [];
      if (libraryPath === undefined) continue;
      const lib = await findPlatformLibrary(root, libraryPath, libDirs, witness);
      if (lib === null) continue; // a platform without its library would only make EGL log errors
      seen.add(name);
      if (!libraries.some((l) => l.path === lib.path)) libraries.push(lib);
      const parsed = rewriteVendorJson(found.text, [...known, ...libraries]);
      files.push(vendorFile({ kind: 'egl-platform', rel: `${EGL_PLATFORM_DIR}/${name}`, capabilities: ['graphics', 'display'] }, found.path, parsed?.data));
    }
  }

  for (const spec of VULKAN_FILES) await addShareFile(spec);

  for (const dir of [...libDirs.map((d) => path.posix.join(d, '../etc')), '/etc']) {
    const found = await readInRoot(root, path.posix.join(dir, OPENCL_ICD), witness);
    if (found === null) continue;
    const data = rewriteOpenclIcd(found.text, known);
    files.push({ kind: 'opencl-icd', target: `/etc/${OPENCL_ICD}`, path: found.path, capabilities: ['compute'], ...(data !== undefined && { data }) });
    break;
  }

  const xorgDirs = [...new Set(['/usr/lib/xorg/modules', '/usr/lib64/xorg/modules', ...libDirs.map((d) => path.posix.join(d, 'xorg/modules'))])];
  for (const [kind, sub] of [
    ['xorg-driver', 'drivers/nvidia_drv.so'],
    ['xorg-glx', 'extensions/libglxserver_nvidia.so'],
  ] as const) {
    const candidates = [...xorgDirs.map((d) => path.posix.join(d, sub)), ...libDirs.map((d) => path.posix.join(d, 'nvidia/xorg', path.posix.basename(sub)))];
    for (const c of candidates) {
      const r = await resolveInRoot(root, c, witness);
      if (r === null || r.kind !== 'file') continue;
      files.push({ kind, target: XORG_TARGETS[kind], path: r.path, capabilities: ['display'] });
      break;
    }
  }
  return { files, libraries };
}

function vendorFile(spec: VendorFileSpec, found: string, data: string | undefined): GraphicsFile {
  return { kind: spec.kind, target: `/usr/share/${spec.rel}`, path: found, capabilities: spec.capabilities, ...(data !== undefined && { data }) };
}
