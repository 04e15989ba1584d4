/**
 * The copy-mode lowering: items -> the files and links that install the user-space driver into a
 * root filesystem (VM guests, image builders). Libraries go to the image's library directory with
 * their SONAME and development links, binaries to its bin directory, firmware where the driver
 * keeps it, the loaders' vendor files (EGL, Vulkan, OpenCL) and X modules where they are selected. No device node, mount, procfs edit or IPC socket: those belong to a running container.
 * Pure.
 */
import * as path from 'node:path';
import type { ContainerLayout } from './mount-plan';
import type { Item, Selection } from './items';

export interface InstallCopy {
  kind: 'copy';
  /** Where it goes, as the root filesystem sees it. */
  path: string;
  /** Host path of the driver file. */
  source: string;
  item: Item;
}

export interface InstallLink {
  kind: 'symlink';
  path: string;
  /** The link's content (a name in the same directory). */
  target: string;
}

export interface InstallWrite {
  kind: 'write';
  path: string;
  data: string;
  mode: number;
}

export type InstallEntry = InstallCopy | InstallLink | InstallWrite;

export interface InstallPlan {
  entries: InstallEntry[];
  /** Library directories to give ldconfig. */
  ldconfigDirs: string[];
  warnings: string[];
}

/** Directories the dynamic loader searches without configuration (glibc's trusted directories). */
const DEFAULT_LIB_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64', '/lib32', '/usr/lib32', /^\/(usr\/)?lib\/[a-z0-9_]+-linux-gnu[a-z0-9_]*$/];
export const LD_SO_CONF_DROP_IN = '/etc/ld.so.conf.d/000-nvc-ts.conf';

function isDefaultLibDir(dir: string): boolean {
  return DEFAULT_LIB_DIRS.some((d) => (typeof d === 'string' ? d === dir : d.test(dir)));
}

/** libcuda.so.580.159.04 with SONAME libcuda.so.1 -> libcuda.so (the name a linker asks for). */
function developmentName(file: string): string | null {
  const m = /^(.+\.so)\.\d/.exec(file);
  return m ? (m[1] as string) : null;
}

export function lowerToInstallPlan(selection: Selection, layout: ContainerLayout): InstallPlan {
  const entries: InstallEntry[] = [];
  const warnings: string[] = [];
  const dirs = new Set<string>();
  const taken = new Set<string>();
  const add = (e: InstallEntry) => {
    if (taken.has(e.path)) return;
    taken.add(e.path);
    entries.push(e);
  };
  for (const item of selection.items) {
    if (item.missing) continue;
    switch (item.role) {
      case 'library':
      case 'library32': {
        if (item.hostPath === undefined) break;
        const dir = item.role === 'library' ? layout.libsDir : layout.libs32Dir;
        const name = path.posix.basename(item.path);
        dirs.add(dir);
        add({ kind: 'copy', path: path.posix.join(dir, name), source: item.hostPath, item });
        const soname = item.soname && item.soname !== name ? item.soname : null;
        if (soname) add({ kind: 'symlink', path: path.posix.join(dir, soname), target: name });
        const dev = developmentName(name);
        if (dev && dev !== name && dev !== soname) add({ kind: 'symlink', path: path.posix.join(dir, dev), target: soname ?? name });
        break;
      }
      case 'binary':
        if (item.hostPath !== undefined)
          add({ kind: 'copy', path: path.posix.join(layout.binsDir, path.posix.basename(item.path)), source: item.hostPath, item });
        break;
      case 'firmware':
      case 'xorg-module':
        if (item.hostPath !== undefined) add({ kind: 'copy', path: item.path, source: item.hostPath, item });
        break;
      case 'graphics-file':
        // Loader vendor files: as rewritten for the image (library_path by SONAME), or copied as they are.
        if (item.data !== undefined) add({ kind: 'write', path: item.path, data: item.data, mode: 0o644 });
        else if (item.hostPath !== undefined) add({ kind: 'copy', path: item.path, source: item.hostPath, item });
        break;
      default:
        break;
    }
  }
  const custom = [...dirs].filter((d) => !isDefaultLibDir(d));
  if (custom.length > 0)
    add({ kind: 'write', path: LD_SO_CONF_DROP_IN, data: `# Written by nvc-ts install: the driver's libraries.\n${custom.join('\n')}\n`, mode: 0o644 });
  return { entries, ldconfigDirs: [...dirs], warnings };
}
