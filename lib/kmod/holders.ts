/**
 * Who keeps the driver busy: modules that use a module (<proc>/modules "used by" and refcount) and
 * processes holding a device node of the driver open (the <proc>/<pid>/fd links).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export interface NodeHolder {
  pid: number;
  command: string;
  /** The device nodes it has open. */
  nodes: string[];
}

/** The nodes each module serves, relative to the dev root (nvidia-drm's are under dri/, not ours to judge). */
const NODES_OF: Record<string, RegExp> = {
  nvidia: /^(nvidia\d+|nvidiactl|nvidia-caps\/.*|nvidia-caps-imex-channels\/.*)$/,
  nvidia_uvm: /^nvidia-uvm(-tools)?$/,
  nvidia_modeset: /^nvidia-modeset$/,
};

/** Whether a node (relative to the dev root) belongs to one of the modules. */
export function nodeOfModules(rel: string, modules: string[]): boolean {
  return modules.some((m) => NODES_OF[m]?.test(rel) === true);
}

/** Processes with an open descriptor on a node of the modules under the dev root. */
export async function processesHoldingNodes(procRoot: string, devRoot: string, modules: string[]): Promise<NodeHolder[]> {
  let entries: string[];
  try {
    entries = await fsp.readdir(procRoot);
  } catch {
    return [];
  }
  const out: NodeHolder[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const fdDir = path.join(procRoot, entry, 'fd');
    let fds: string[];
    try {
      fds = await fsp.readdir(fdDir);
    } catch {
      // Gone, or not ours to look at.
      continue;
    }
    const nodes = new Set<string>();
    for (const fd of fds) {
      let target: string;
      try {
        target = await fsp.readlink(path.join(fdDir, fd));
      } catch {
        continue;
      }
      const rel = path.relative(devRoot, target);
      if (!rel.startsWith('..') && !path.isAbsolute(rel) && nodeOfModules(rel, modules)) nodes.add(target);
    }
    if (nodes.size === 0) continue;
    let command = '';
    try {
      command = (await fsp.readFile(path.join(procRoot, entry, 'comm'), 'utf8')).trim();
    } catch {
      // Exited meanwhile: the pid still says who it was.
    }
    out.push({ pid: Number(entry), command, nodes: [...nodes].sort() });
  }
  return out.sort((a, b) => a.pid - b.pid);
}
