/**
 * Applying CDI devices to an OCI runtime config, as the CDI reference applies container
 * edits: the spec's common edits once per spec, then each device's; device nodes into
 * linux.devices with an allow rule in linux.resources.devices (so that a systemd cgroup
 * driver's daemon-reload keeps them), mounts replacing any at the same destination and
 * ordered parents first, env replacing a variable of the same name, hooks by hook name.
 */
import { promises as fsp, statSync } from 'node:fs';
import { NvcError } from '../errors';
import { DEFAULT_SPEC_DIRS, loadRegistry, resolveDevice, type LoadedSpec } from './registry';
import type { CdiContainerEdits, CdiDeviceNode } from './spec';

/** The parts of an OCI config CDI edits; everything else is kept as it is. */
export interface OciConfig {
  process?: { env?: string[]; user?: { uid?: number; gid?: number; additionalGids?: number[] } & Record<string, unknown> } & Record<string, unknown>;
  mounts?: { destination: string; source?: string; type?: string; options?: string[] }[];
  hooks?: Record<string, { path: string; args?: string[]; env?: string[]; timeout?: number }[]>;
  linux?: {
    devices?: OciDevice[];
    resources?: { devices?: { allow: boolean; type?: string; major?: number; minor?: number; access?: string }[] } & Record<string, unknown>;
    intelRdt?: unknown;
    netDevices?: Record<string, { name?: string }>;
  } & Record<string, unknown>;
  [key: string]: unknown;
}

export interface OciDevice {
  path: string;
  type: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** Fills a node's type and numbers from the host where the spec leaves them out. */
function completeNode(node: CdiDeviceNode, file: string): Required<Pick<OciDevice, 'type'>> & OciDevice {
  const hostPath = node.hostPath ?? node.path;
  let type = node.type;
  let major = node.major;
  let minor = node.minor;
  let fileMode = node.fileMode;
  if (type === undefined || ((type === 'c' || type === 'b' || type === 'u') && (major === undefined || minor === undefined))) {
    let st;
    try {
      st = statSync(hostPath);
    } catch (cause) {
      throw new NvcError('ERR_NVC_SYSTEM', `${file}: device node ${node.path}: cannot stat ${hostPath} to fill in its type and numbers`, {
        path: hostPath,
        cause,
      });
    }
    const hostType = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : null;
    if (hostType === null)
      throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${file}: device node ${node.path}: ${hostPath} is not a device node`, { path: hostPath });
    type ??= hostType;
    // Linux's dev_t encoding (new_encode_dev): 12 bits of major above 8 of minor, the rest of minor above.
    major ??= Math.floor(st.rdev / 256) & 0xfff;
    minor ??= (st.rdev & 0xff) | (Math.floor(st.rdev / 4096) & ~0xff);
    fileMode ??= st.mode & 0o777;
  }
  return {
    path: node.path,
    type: type === 'u' ? 'c' : type,
    ...(major !== undefined && { major }),
    ...(minor !== undefined && { minor }),
    ...(fileMode !== undefined && { fileMode }),
    ...(node.uid !== undefined && { uid: node.uid }),
    ...(node.gid !== undefined && { gid: node.gid }),
  };
}

function setEnv(config: OciConfig, entries: string[]): void {
  config.process ??= {};
  const env = (config.process.env ??= []);
  for (const entry of entries) {
    const name = entry.split('=')[0] ?? entry;
    const at = env.findIndex((e) => (e.split('=')[0] ?? e) === name);
    if (at >= 0) env[at] = entry;
    else env.push(entry);
  }
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

export function applyEdits(config: OciConfig, edits: CdiContainerEdits | undefined, file: string): void {
  if (edits === undefined) return;
  if (edits.env !== undefined) setEnv(config, edits.env);
  for (const node of edits.deviceNodes ?? []) {
    const dev = completeNode(node, file);
    config.linux ??= {};
    const devices = (config.linux.devices ??= []);
    const at = devices.findIndex((d) => d.path === dev.path);
    if (at >= 0) devices[at] = dev;
    else devices.push(dev);
    if ((dev.type === 'c' || dev.type === 'b') && dev.major !== undefined && dev.minor !== undefined) {
      config.linux.resources ??= {};
      const rules = (config.linux.resources.devices ??= []);
      const access = node.permissions ?? 'rwm';
      if (!rules.some((r) => r.allow && r.type === dev.type && r.major === dev.major && r.minor === dev.minor && r.access === access)) {
        rules.push({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access });
      }
    }
  }
  if (edits.additionalGids !== undefined && edits.additionalGids.length > 0) {
    config.process ??= {};
    const user = (config.process.user ??= { uid: 0, gid: 0 });
    const gids = (user.additionalGids ??= []);
    for (const g of edits.additionalGids) if (g !== 0 && !gids.includes(g)) gids.push(g);
  }
  if (edits.mounts !== undefined && edits.mounts.length > 0) {
    const mounts = (config.mounts ??= []).filter((m) => !edits.mounts?.some((e) => e.containerPath === m.destination));
    for (const m of edits.mounts) {
      mounts.push({
        destination: m.containerPath,
        source: m.hostPath,
        ...(m.type !== undefined && { type: m.type }),
        ...(m.options !== undefined && { options: [...m.options] }),
      });
    }
    // Parents before children, otherwise stable: a bind under a directory must come after it.
    config.mounts = mounts
      .map((m, i) => ({ m, i }))
      .sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i)
      .map(({ m }) => m);
  }
  for (const h of edits.hooks ?? []) {
    config.hooks ??= {};
    const list = (config.hooks[h.hookName] ??= []);
    list.push({
      path: h.path,
      ...(h.args !== undefined && { args: [...h.args] }),
      ...(h.env !== undefined && { env: [...h.env] }),
      ...(h.timeout !== undefined && { timeout: h.timeout }),
    });
  }
  if (edits.intelRdt !== undefined) {
    config.linux ??= {};
    config.linux.intelRdt = { ...edits.intelRdt };
  }
  for (const n of edits.netDevices ?? []) {
    config.linux ??= {};
    (config.linux.netDevices ??= {})[n.hostInterfaceName] = { name: n.name };
  }
}

export interface InjectOptions {
  specDirs?: readonly string[];
}

/** Applies the named devices (vendor/class=name) to config in place; returns config. All names are resolved before anything changes. */
export async function injectCdiDevices(config: OciConfig, deviceNames: string[], options: InjectOptions = {}): Promise<OciConfig> {
  if (deviceNames.length === 0)
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', 'no CDI device named', { field: 'device', hint: 'name at least one device, e.g. nvidia.com/gpu=0' });
  const dirs = options.specDirs ?? DEFAULT_SPEC_DIRS;
  const reg = await loadRegistry(dirs);
  const picked = [...new Set(deviceNames)].map((n) => resolveDevice(reg, n, dirs));
  const work = structuredClone(config);
  const specsDone = new Set<LoadedSpec>();
  for (const { spec } of picked) {
    if (specsDone.has(spec)) continue;
    specsDone.add(spec);
    applyEdits(work, spec.spec.containerEdits, spec.file);
  }
  for (const { spec, device } of picked) applyEdits(work, device.containerEdits, spec.file);
  for (const key of Object.keys(config)) delete config[key];
  Object.assign(config, work);
  return config;
}

/** `cdi inject` on a config.json file: read, apply, write (in place unless output is given). */
export async function injectCdiFile(configFile: string, deviceNames: string[], options: InjectOptions & { output?: string }): Promise<void> {
  let config: OciConfig;
  try {
    config = JSON.parse(await fsp.readFile(configFile, 'utf8')) as OciConfig;
  } catch (cause) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${configFile}: cannot read an OCI config (${cause instanceof Error ? cause.message : String(cause)})`, {
      path: configFile,
      cause,
    });
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${configFile}: not an OCI config (a JSON object)`, { path: configFile });
  }
  await injectCdiDevices(config, deviceNames, options);
  const { writeFileAtomic } = await import('./output');
  await writeFileAtomic(options.output ?? configFile, `${JSON.stringify(config, null, 2)}\n`);
}
