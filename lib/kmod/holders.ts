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

/** Processes with an open descriptor on <devRoot>/nvidia* (nvidia-caps/ included). */
export async function processesHoldingNodes(procRoot: string, devRoot: string): Promise<NodeHolder[]> {
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
      if (!rel.startsWith('..') && !path.isAbsolute(rel) && /^nvidia/.test(rel)) nodes.add(target);
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
