/**
 * The driver's device nodes under the dev root, as nvidia-modprobe makes them, with the modes and
 * owners the driver asks for (<proc>/driver/nvidia/params, the capability files), plus the
 * /dev/char/MAJ:MIN links udev would make. Everything is checked before anything is made: a path
 * in the way (wrong type or numbers) is an error naming it, and nothing is replaced.
 */
import { promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { devMajor, devMinor, readTextOrUndefined as readText } from '../bounded-read';

import { NvcError } from '../errors';
import { parseWith } from '../schema';
import { parseProcModules } from './kernel-state';
import type { KmodSyscalls } from './syscalls';

export interface WantedNode {
  /** Relative to the dev root. */
  rel: string;
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
}

export type NodeAction = 'created' | 'updated' | 'unchanged';

export interface NodeResult {
  path: string;
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  action: NodeAction;
}

export interface LinkResult {
  path: string;
  target: string;
  action: 'created' | 'unchanged';
}

export interface NodesResult {
  devRoot: string;
  nodes: NodeResult[];
  links: LinkResult[];
  /** Directories made (nvidia-caps, char...). */
  directories: string[];
  changed: boolean;
}

export const nodeOptionsSchema = z
  .object({
    /** IMEX channel nodes to make (nvidia-caps-imex-channels/channelN). */
    imexChannels: z.array(z.number().int().min(0).max(2047)).max(2048).optional(),
    /** The fabric IMEX management capability node (made only on request, as the IMEX daemon does). */
    fabricImexMgmt: z.boolean().optional(),
    /** The /dev/char/MAJ:MIN links (default true). */
    links: z.boolean().optional(),
    /** Fix the mode and owner of existing nodes when the driver allows it (ModifyDeviceFiles, default true). */
    fixExisting: z.boolean().optional(),
  })
  .strict();
export type NodeOptions = z.input<typeof nodeOptionsSchema>;

/** "Character devices:" section of <proc>/devices: name -> major. */
export function parseCharMajors(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let inChar = false;
  for (const line of text.split('\n')) {
    if (/^Character devices:/.test(line)) inChar = true;
    else if (/^Block devices:/.test(line)) inChar = false;
    else if (inChar) {
      const m = /^\s*(\d+)\s+(\S+)/.exec(line);
      if (m?.[1] !== undefined && m[2] !== undefined && !out.has(m[2])) out.set(m[2], Number(m[1]));
    }
  }
  return out;
}

/** "Key: value" lines (params, capability files, GPU information). */
export function parseKeyValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return out;
}

function numberField(map: Map<string, string>, key: string, fallback: number): number {
  const v = map.get(key);
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : fallback;
}

async function walkFiles(dir: string, rel = ''): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(path.join(dir, rel), { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...(await walkFiles(dir, r)));
    else out.push(r);
  }
  return out;
}

/** The mig-minors name of a capability file: mig/config -> config, gpu0/mig/gi1/access -> gpu0/gi1/access. */
function migMinorsName(capRel: string): string {
  return capRel.replace(/^mig\//, '').replace(/^(gpu\d+)\/mig\//, '$1/');
}

/** The nodes the driver's proc files call for. */
export async function wantedNodes(procRoot: string, sysRoot: string | undefined, opts: z.output<typeof nodeOptionsSchema>): Promise<WantedNode[]> {
  const majors = parseCharMajors((await readText(path.join(procRoot, 'devices'))) ?? '');
  const params = parseKeyValues((await readText(path.join(procRoot, 'driver/nvidia/params'))) ?? '');
  const uid = numberField(params, 'DeviceFileUID', 0);
  const gid = numberField(params, 'DeviceFileGID', 0);
  const mode = numberField(params, 'DeviceFileMode', 0o666) & 0o777;
  const owned = (rel: string, major: number, minor: number, m = mode, u = uid, g = gid): WantedNode => ({ rel, major, minor, mode: m, uid: u, gid: g });
  const out: WantedNode[] = [];
  const nvidia = majors.get('nvidia') ?? majors.get('nvidiactl');
  if (nvidia !== undefined) {
    out.push(owned('nvidiactl', nvidia, 255));
    const gpusDir = path.join(procRoot, 'driver/nvidia/gpus');
    const minors: number[] = [];
    for (const bus of await fsp.readdir(gpusDir).catch(() => [] as string[])) {
      const info = parseKeyValues((await readText(path.join(gpusDir, bus, 'information'))) ?? '');
      const minor = info.get('Device Minor');
      if (minor !== undefined && /^\d+$/.test(minor)) minors.push(Number(minor));
    }
    for (const minor of minors.sort((a, b) => a - b)) out.push(owned(`nvidia${minor}`, nvidia, minor));
    const loaded = parseProcModules((await readText(path.join(procRoot, 'modules'))) ?? '');
    const sysModeset =
      sysRoot === undefined
        ? false
        : await fsp.stat(path.join(sysRoot, 'module/nvidia_modeset')).then(
            () => true,
            () => false,
          );
    if (loaded.has('nvidia_modeset') || sysModeset) out.push(owned('nvidia-modeset', nvidia, 254));
  }
  const uvm = majors.get('nvidia-uvm');
  if (uvm !== undefined) out.push(owned('nvidia-uvm', uvm, 0), owned('nvidia-uvm-tools', uvm, 1));
  const caps = majors.get('nvidia-caps');
  if (caps !== undefined) {
    const capsDir = path.join(procRoot, 'driver/nvidia/capabilities');
    const migMinors = new Map<string, number>();
    for (const line of ((await readText(path.join(procRoot, 'driver/nvidia-caps/mig-minors'))) ?? '').split('\n')) {
      const [name, minor] = line.trim().split(/\s+/);
      if (name !== undefined && minor !== undefined && /^\d+$/.test(minor)) migMinors.set(name, Number(minor));
    }
    for (const rel of await walkFiles(capsDir)) {
      if (rel === 'fabric-imex-mgmt' && opts.fabricImexMgmt !== true) continue;
      const cap = parseKeyValues((await readText(path.join(capsDir, rel))) ?? '');
      const minor = cap.has('DeviceFileMinor') ? numberField(cap, 'DeviceFileMinor', -1) : (migMinors.get(migMinorsName(rel)) ?? -1);
      if (minor < 0) continue;
      out.push(owned(`nvidia-caps/nvidia-cap${minor}`, caps, minor, numberField(cap, 'DeviceFileMode', 0o444) & 0o777, 0, 0));
    }
  }
  if (opts.imexChannels !== undefined && opts.imexChannels.length > 0) {
    const imex = majors.get('nvidia-caps-imex-channels');
    if (imex === undefined) {
      throw new NvcError(
        'ERR_NVC_KERNEL_MODULE',
        `IMEX channels were requested but ${path.join(procRoot, 'devices')} lists no nvidia-caps-imex-channels device`,
        {
          path: path.join(procRoot, 'devices'),
          hint: 'load the nvidia module of a driver that supports IMEX (R550 or later)',
        },
      );
    }
    for (const ch of [...new Set(opts.imexChannels)].sort((a, b) => a - b)) out.push(owned(`nvidia-caps-imex-channels/channel${ch}`, imex, ch));
  }
  // One node per path: the same minor may be listed twice (a capability file and mig-minors).
  return out.filter((n, i) => out.findIndex((o) => o.rel === n.rel) === i);
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice()) return `a block device ${devMajor(st.rdev)}:${devMinor(st.rdev)}`;
  if (st.isCharacterDevice()) return `a character device ${devMajor(st.rdev)}:${devMinor(st.rdev)}`;
  return 'something else';
}

export { devMajor, devMinor };

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new NvcError('ERR_NVC_SYSTEM', `cannot inspect ${p}`, { path: p, syscall: 'lstat', errno: String((err as NodeJS.ErrnoException).code), cause: err });
  }
}

function inTheWay(p: string, expected: string, found: string): NvcError {
  return new NvcError('ERR_NVC_FILE_EXISTS', `${p} is in the way: expected ${expected}, found ${found}`, {
    path: p,
    hint: `remove ${p} (nvc-ts never replaces it) and run again`,
  });
}

type Step =
  | { kind: 'dir'; path: string }
  | { kind: 'node'; path: string; node: WantedNode; action: NodeAction; fixMode: boolean; fixOwner: boolean }
  | { kind: 'link'; path: string; target: string; action: 'created' | 'unchanged' };

/** Makes (or checks) the nodes under devRoot; changes nothing when any path is in the way. */
export async function createDeviceNodes(
  host: { procRoot: string; devRoot: string; sysRoot?: string },
  options: NodeOptions,
  sys: KmodSyscalls,
): Promise<NodesResult> {
  const opts = parseWith(nodeOptionsSchema, options, 'device-node option', 'options');
  const devRoot = path.resolve(host.devRoot);
  const wanted = await wantedNodes(host.procRoot, host.sysRoot, opts);
  const params = parseKeyValues((await readText(path.join(host.procRoot, 'driver/nvidia/params'))) ?? '');
  const modify = opts.fixExisting !== false && numberField(params, 'ModifyDeviceFiles', 1) !== 0;
  const steps: Step[] = [];
  const errors: NvcError[] = [];
  const dirsSeen = new Set<string>();
  const needDir = async (rel: string): Promise<void> => {
    if (rel === '.' || dirsSeen.has(rel)) return;
    dirsSeen.add(rel);
    const p = path.join(devRoot, rel);
    const st = await lstatOrNull(p);
    if (st === null) steps.push({ kind: 'dir', path: p });
    else if (!st.isDirectory()) errors.push(inTheWay(p, 'a directory', kindOf(st)));
  };
  const rootSt = await lstatOrNull(devRoot);
  if (rootSt !== null && !rootSt.isDirectory()) errors.push(inTheWay(devRoot, 'a directory', kindOf(rootSt)));
  for (const n of wanted) {
    await needDir(path.dirname(n.rel));
    const p = path.join(devRoot, n.rel);
    const st = await lstatOrNull(p);
    const expected = `a character device ${n.major}:${n.minor}`;
    if (st === null) {
      steps.push({ kind: 'node', path: p, node: n, action: 'created', fixMode: true, fixOwner: true });
    } else if (!st.isCharacterDevice() || devMajor(st.rdev) !== n.major || devMinor(st.rdev) !== n.minor) {
      errors.push(inTheWay(p, expected, kindOf(st)));
    } else {
      const fixMode = modify && (st.mode & 0o777) !== n.mode;
      const fixOwner = modify && (st.uid !== n.uid || st.gid !== n.gid);
      steps.push({ kind: 'node', path: p, node: n, action: fixMode || fixOwner ? 'updated' : 'unchanged', fixMode, fixOwner });
    }
  }
  if (opts.links !== false) {
    for (const n of wanted) {
      await needDir('char');
      const p = path.join(devRoot, 'char', `${n.major}:${n.minor}`);
      const target = path.join('..', n.rel);
      const st = await lstatOrNull(p);
      if (st === null) steps.push({ kind: 'link', path: p, target, action: 'created' });
      else if (!st.isSymbolicLink()) errors.push(inTheWay(p, `a symbolic link to ${target}`, kindOf(st)));
      else {
        const found = await fsp.readlink(p);
        // udev's relative link, or an absolute one to the same node.
        if (found === target || path.resolve(path.dirname(p), found) === path.join(devRoot, n.rel))
          steps.push({ kind: 'link', path: p, target: found, action: 'unchanged' });
        else errors.push(inTheWay(p, `a symbolic link to ${target}`, `a symbolic link to ${found}`));
      }
    }
  }
  const first = errors[0];
  if (first !== undefined) {
    if (errors.length === 1) throw first;
    throw new NvcError('ERR_NVC_FILE_EXISTS', `${errors.length} paths are in the way:\n${errors.map((e) => `- ${e.message}`).join('\n')}`, {
      ...(first.path !== undefined && { path: first.path }),
      hint: 'remove them (nvc-ts never replaces them) and run again; nothing was changed',
    });
  }
  const result: NodesResult = { devRoot, nodes: [], links: [], directories: [], changed: false };
  // What this call made, so that a failure part-way leaves the dev root as it found it.
  const made: Array<{ path: string; dir: boolean }> = [];
  try {
    if (rootSt === null) {
      await fsp.mkdir(devRoot, { recursive: true, mode: 0o755 });
      made.push({ path: devRoot, dir: true });
      result.directories.push(devRoot);
    }
    for (const step of steps) {
      if (step.kind === 'dir') {
        await fsp.mkdir(step.path, { mode: 0o755 });
        made.push({ path: step.path, dir: true });
        result.directories.push(step.path);
      } else if (step.kind === 'node') {
        const n = step.node;
        if (step.action === 'created') {
          await sys.mknod(step.path, n.mode, n.major, n.minor);
          made.push({ path: step.path, dir: false });
        }
        // mknod's mode passes through the umask: set it (and the owner) explicitly.
        if (step.fixOwner) await sys.chown(step.path, n.uid, n.gid);
        if (step.fixMode) await sys.chmod(step.path, n.mode);
        result.nodes.push({ path: step.path, major: n.major, minor: n.minor, mode: n.mode, uid: n.uid, gid: n.gid, action: step.action });
      } else {
        if (step.action === 'created') {
          await sys.symlink(step.target, step.path);
          made.push({ path: step.path, dir: false });
        }
        result.links.push({ path: step.path, target: step.target, action: step.action });
      }
    }
  } catch (err) {
    const left: string[] = [];
    for (const m of made.reverse()) {
      try {
        await (m.dir ? fsp.rmdir(m.path) : fsp.unlink(m.path));
      } catch {
        left.push(m.path);
      }
    }
    if (left.length === 0) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new NvcError('ERR_NVC_ROLLBACK_INCOMPLETE', `${message}; and these could not be removed again: ${left.join(', ')}`, { cause: err });
  }
  result.changed = result.directories.length > 0 || result.nodes.some((n) => n.action !== 'unchanged') || result.links.some((l) => l.action !== 'unchanged');
  return result;
}
