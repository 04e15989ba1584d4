/**
 * Where module files are: the driver's own directory and the kernel's tree
 * (/lib/modules/<release>), with the kernel tree's indexes when depmod wrote them
 * (modules.dep, modules.builtin, modules.builtin.modinfo, modules.symbols).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readTextOrUndefined as readText } from '../bounded-read';

import { moduleName, moduleNameOfFile } from './names';

export interface ModuleTree {
  dir: string;
  exists: boolean;
  /** Module name -> absolute path of its file. */
  files: Map<string, string>;
  /** From modules.dep: module name -> its dependencies' names (undefined without modules.dep). */
  deps: Map<string, string[]> | undefined;
  builtin: Set<string>;
  /** From modules.symbols: exported symbol -> module name. */
  symbols: Map<string, string>;
}

/** Every *.ko[.xz|.zst|.gz] below dir (symbolic links to directories are not followed). */
async function scanModules(dir: string, depth = 8): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, e.name);
    if (e.isDirectory() && depth > 0) {
      for (const [k, v] of await scanModules(full, depth - 1)) if (!out.has(k)) out.set(k, v);
    } else if (e.isFile() || e.isSymbolicLink()) {
      const name = moduleNameOfFile(e.name);
      if (name !== undefined && !out.has(name)) out.set(name, full);
    }
  }
  return out;
}

/** The driver's directory: any of dirs, scanned for module files. */
export async function readDriverModules(dirs: string[]): Promise<{ dir: string | undefined; files: Map<string, string> }> {
  for (const dir of dirs) {
    const files = await scanModules(dir);
    if (files.has('nvidia')) return { dir, files };
  }
  // None holds nvidia.ko: merge what there is (a tree may hold only some of the modules).
  const files = new Map<string, string>();
  for (const dir of dirs) for (const [k, v] of await scanModules(dir)) if (!files.has(k)) files.set(k, v);
  return { dir: undefined, files };
}

export async function readKernelTree(dir: string): Promise<ModuleTree> {
  const depText = await readText(path.join(dir, 'modules.dep'));
  const files = new Map<string, string>();
  let deps: Map<string, string[]> | undefined;
  if (depText !== undefined) {
    deps = new Map();
    for (const line of depText.split('\n')) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const file = line.slice(0, colon).trim();
      const name = moduleNameOfFile(file);
      if (name === undefined) continue;
      files.set(name, path.resolve(dir, file));
      deps.set(
        name,
        line
          .slice(colon + 1)
          .trim()
          .split(/\s+/)
          .map((d) => moduleNameOfFile(d))
          .filter((d): d is string => d !== undefined),
      );
    }
  } else {
    for (const [k, v] of await scanModules(dir)) files.set(k, v);
  }
  const builtin = new Set<string>();
  for (const line of ((await readText(path.join(dir, 'modules.builtin'))) ?? '').split('\n')) {
    const name = moduleNameOfFile(line.trim());
    if (name !== undefined) builtin.add(name);
  }
  // modules.builtin.modinfo: "<module>.<key>=<value>" strings, NUL-separated.
  for (const entry of ((await readText(path.join(dir, 'modules.builtin.modinfo'))) ?? '').split('\0')) {
    const dot = entry.indexOf('.');
    if (dot > 0 && entry.indexOf('=') > dot) builtin.add(moduleName(entry.slice(0, dot)));
  }
  const symbols = new Map<string, string>();
  for (const line of ((await readText(path.join(dir, 'modules.symbols'))) ?? '').split('\n')) {
    const m = /^alias\s+symbol:(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) symbols.set(m[1], moduleName(m[2]));
  }
  const exists = await fsp.stat(dir).then(
    (st) => st.isDirectory(),
    () => false,
  );
  return { dir, exists, files, deps, builtin, symbols };
}
