/**
 * CUDA forward compatibility (`configure --cuda-compat-mode`): an image may ship a newer
 * user-space driver (libcuda.so.<version> and friends) under <cuda>/compat, to run a newer
 * CUDA on an older datacenter driver. Whether it is used, and how, is decided here from what
 * the image holds (found by lib/cuda-compat.ts) and the host driver's version. Pure: no I/O.
 *
 * The rule is the toolkit's (its enable-cuda-compat hook without an ELF note, and the
 * reference CLI's ldconfig-mode filter): a compat library is used only when its major version
 * is greater than the host driver's; an equal or older major would mean an unsupported pairing
 * (or a downgrade) of the user-space driver and the kernel module.
 *
 * Modes:
 * - `ldconfig` (the default, as the toolkit's since 1.17.7): the compat directory goes first
 *   on the ldconfig run, so its libraries take precedence in the container's ld.so.cache.
 *   Nothing is mounted.
 * - `mount`: the reference binds the image's compat files into the library directory; that
 *   bind of image files was CVE-2024-0132 and CVE-2025-23359. Here the library directory gets
 *   links to them instead (`<libsDir>/libcuda.so.<v>` -> `<compat>/libcuda.so.<v>`, resolved by
 *   the container's own loader inside its root) and the driver's SONAME links are pointed at
 *   them: the same libraries win, with or without ldconfig, and no image file is mounted.
 * - `disabled` (`--no-cntlibs`): compat libraries are ignored.
 */
import * as path from 'node:path';
import type { ContainerPlan, Edit } from './mount-plan';

export const CUDA_COMPAT_MODES = ['mount', 'ldconfig', 'disabled'] as const;
export type CudaCompatMode = (typeof CUDA_COMPAT_MODES)[number];

/** One compat directory of an image: its container path (links resolved inside the rootfs) and its library files. */
export interface CompatDir {
  dir: string;
  files: string[];
}

export interface CompatDecision {
  /** The directory used (null: none). */
  dir: string | null;
  /** Its libraries that are used, file names. */
  libraries: string[];
  /** The compat driver version (libcuda.so.<version>), when a directory was found. */
  version: string | null;
  /** Why, for the debug log. */
  reason: string;
}

/** `libcuda.so.590.44.01` -> [590, 44, 1]; null for a name without a numeric version. */
export function libraryVersion(name: string): number[] | null {
  const m = /\.so\.(\d+(?:\.\d+)*)$/.exec(name);
  return m === null ? null : (m[1] as string).split('.').map(Number);
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Which compat directory (if any) the container uses with this host driver. */
export function decideCudaCompat(dirs: readonly CompatDir[], hostDriverVersion: string): CompatDecision {
  const hostMajor = Number(hostDriverVersion.split('.')[0]);
  const candidates = dirs
    .map((d) => {
      const libcuda = d.files.find((f) => /^libcuda\.so\.\d+\.\d+/.test(f));
      return { ...d, libcuda, version: libcuda === undefined ? null : libraryVersion(libcuda) };
    })
    .filter((d): d is typeof d & { libcuda: string; version: number[] } => d.version !== null);
  if (candidates.length === 0) {
    return {
      dir: null,
      libraries: [],
      version: null,
      reason: dirs.length === 0 ? 'the image has no CUDA compat directory' : "no libcuda.so.<version> in the image's compat directory",
    };
  }
  // The newest compat driver of the image (cuda-12.8/compat and cuda-13.0/compat side by side).
  const best = candidates.sort((a, b) => compareVersions(b.version, a.version))[0] as (typeof candidates)[number];
  const shown = best.libcuda.replace(/^libcuda\.so\./, '');
  if (!((best.version[0] as number) > hostMajor)) {
    return {
      dir: null,
      libraries: [],
      version: shown,
      reason: `the image's compat driver ${shown} (${best.dir}) is not of a newer major than the host driver ${hostDriverVersion}: not used`,
    };
  }
  const libraries = best.files.filter((f) => {
    const v = libraryVersion(f);
    return v !== null && (v[0] as number) > hostMajor;
  });
  return {
    dir: best.dir,
    libraries,
    version: shown,
    reason: `the image's compat driver ${shown} (${best.dir}) is newer than the host driver ${hostDriverVersion}: used`,
  };
}

/** Add the decision to a container plan, in the given mode. */
export function applyCudaCompat(plan: ContainerPlan, libsDir: string, decision: CompatDecision, mode: CudaCompatMode): ContainerPlan {
  const notes = [...plan.notes, `cuda-compat-mode=${mode}: ${decision.reason}`];
  if (mode === 'disabled' || decision.dir === null) return { ...plan, notes };
  const dir = decision.dir;
  if (mode === 'ldconfig') {
    if (plan.ldconfig === null) {
      return {
        ...plan,
        notes,
        warnings: [
          ...plan.warnings,
          `the image's CUDA compat libraries (${dir}) are not used: --cuda-compat-mode=ldconfig needs the ldconfig run (drop --no-ldconfig)`,
        ],
      };
    }
    return { ...plan, notes, ldconfig: { ...plan.ldconfig, dirs: [dir, ...plan.ldconfig.dirs.filter((d) => d !== dir)] } };
  }
  // mount: links in the library directory, and the driver's SONAME links pointed at them.
  const origin = { step: 'driver', role: 'library', device: null } as const;
  const edits: Edit[] = [];
  const taken = new Set(plan.edits.map((e) => e.target));
  const stem = (name: string): string => name.replace(/\.so\.\d+(\.\d+)*$/, '.so');
  const byStem = new Map(decision.libraries.map((f) => [stem(f), f]));
  for (const e of plan.edits) {
    if (e.kind === 'symlink' && path.posix.dirname(e.target) === libsDir && libraryVersion(e.link) !== null) {
      const compat = byStem.get(stem(e.link));
      // Only a SONAME link (libcuda.so.1 -> libcuda.so.<host version>) is redirected.
      if (compat !== undefined && libraryVersion(path.posix.basename(e.target))?.length === 1) {
        edits.push({ ...e, link: compat });
        continue;
      }
    }
    edits.push(e);
  }
  const links: Edit[] = [];
  for (const name of decision.libraries) {
    const target = path.posix.join(libsDir, name);
    if (taken.has(target)) continue;
    links.push({ kind: 'symlink', target, link: path.posix.join(dir, name), origin });
  }
  // Before the seal (the last edit remounts the driver's procfs read-only).
  const seal = edits.findIndex((e) => e.origin.step === 'seal');
  const at = seal < 0 ? edits.length : seal;
  return { ...plan, notes, edits: [...edits.slice(0, at), ...links, ...edits.slice(at)] };
}
