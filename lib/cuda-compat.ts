/**
 * The CUDA forward-compatibility libraries an image ships: <cuda>/compat/lib*.so.<version> under
 * /usr/local/cuda and /usr/local/cuda-X.Y, found in the container's tree (its mount namespace,
 * through /proc/<pid>/root) with every link resolved inside the rootfs (root-resolve.ts), so an
 * image's absolute link never leads to a host directory. Only names are read here; what is
 * done with them (plan/cuda-compat.ts) uses container paths, which the executor and the
 * ldconfig helper resolve inside the rootfs again.
 */
import { lstat, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import type { Container } from './container';
import type { CompatDir } from './plan/cuda-compat';
import { resolveInRoot } from './root-resolve';

const CUDA_PARENT = '/usr/local';
/** A compat directory lists a few libraries; more names than this are not an image's compat dir. */
const MAX_FILES = 256;

/** The host path through which this process sees the container's rootfs as the container does. */
function treeOf(container: Pick<Container, 'pid' | 'rootfs'>): string {
  return container.pid ? path.join(`/proc/${container.pid}/root`, container.rootfs) : container.rootfs;
}

async function libraryFiles(tree: string, dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(path.join(tree, dir));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names.filter((n) => /^lib.+\.so\.\d+(\.\d+)*$/.test(n)).slice(0, MAX_FILES)) {
    // Regular files only, as the reference takes them: a link in a compat dir is not a library of its own.
    const st = await lstat(path.join(tree, dir, name)).catch(() => null);
    if (st?.isFile()) out.push(name);
  }
  return out.sort();
}

/** The image's compat directories, each once (cuda -> cuda-12.8 is one directory). */
export async function findCudaCompatDirs(container: Pick<Container, 'pid' | 'rootfs'>): Promise<CompatDir[]> {
  const tree = treeOf(container);
  const candidates = ['/usr/local/cuda/compat'];
  const parent = await resolveInRoot(tree, CUDA_PARENT);
  if (parent?.kind === 'dir') {
    const names = await readdir(path.join(tree, parent.path)).catch(() => [] as string[]);
    for (const n of names.filter((x) => /^cuda-\d+(\.\d+)*$/.test(x)).sort()) candidates.push(`${CUDA_PARENT}/${n}/compat`);
  }
  const seen = new Set<string>();
  const out: CompatDir[] = [];
  for (const candidate of candidates) {
    const resolved = await resolveInRoot(tree, candidate);
    if (resolved === null || resolved.kind !== 'dir' || seen.has(resolved.path)) continue;
    seen.add(resolved.path);
    const files = await libraryFiles(tree, resolved.path);
    if (files.length > 0) out.push({ dir: resolved.path, files });
  }
  return out;
}
