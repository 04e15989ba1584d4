/**
 * `nvc-ts configure`: make a container's rootfs GPU-ready, as `nvidia-container-cli configure`
 * does: driver files, devices, MIG and IMEX capabilities, cgroup rules, ldconfig.
 */
import { readlinkSync } from 'node:fs';
import * as path from 'node:path';
import type { ConfigureResult } from '../../apply';
import { openContainer } from '../../container';
import type { ContainerPlan, Edit } from '../../plan/mount-plan';
import type { ConfigureRequestInput } from '../../schema';
import { CUDA_COMPAT_MODES, type CudaCompatMode } from '../../plan/cuda-compat';
import { CAPABILITIES } from '../../types';
import { JSON_SCHEMA_VERSION, UsageError } from '../format-error';
import type { CommandSession, CommandSpec, OptionValues } from '../types';

const ALL_CAPS = [...CAPABILITIES, 'compat32'] as const;

/** The capability flags (the reference's short forms) and --capabilities, for every command that selects driver files. */
export const CAPABILITY_OPTIONS = {
  compute: { type: 'boolean', short: 'c' },
  utility: { type: 'boolean', short: 'u' },
  video: { type: 'boolean', short: 'v' },
  graphics: { type: 'boolean', short: 'g' },
  display: { type: 'boolean', short: 'D' },
  ngx: { type: 'boolean', short: 'n' },
  compat32: { type: 'boolean' },
  capabilities: { type: 'string', multiple: true },
} as const;

export interface ConfigureFlags {
  pid: number | undefined;
  rootfs: string;
  ldconfig: string | undefined;
  request: ConfigureRequestInput;
  json: boolean;
}

function list(values: OptionValues, name: string): string[] {
  const v = values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

/** --capabilities LIST (comma list or "all") together with the single-capability flags. */
export function parseCapabilities(values: OptionValues): { capabilities: (typeof CAPABILITIES)[number][]; compat32: boolean } {
  const wanted = new Set<string>();
  for (const name of ALL_CAPS) if (values[name] === true) wanted.add(name);
  for (const item of list(values, 'capabilities').flatMap((v) => v.split(','))) {
    const word = item.trim();
    if (word === '') continue;
    if (word === 'all') ALL_CAPS.forEach((c) => wanted.add(c));
    else if ((ALL_CAPS as readonly string[]).includes(word)) wanted.add(word);
    else throw new UsageError(`option --capabilities: unknown capability '${word}' (use ${ALL_CAPS.join(', ')} or all)`);
  }
  return { capabilities: CAPABILITIES.filter((c) => wanted.has(c)), compat32: wanted.has('compat32') };
}

/**
 * --cuda-compat-mode (repeatable, as the reference's flag bits) and --no-cntlibs (its 1.17.4
 * form of `disabled`): `disabled` wins; mount and ldconfig together are a contradiction.
 */
export function parseCudaCompatMode(values: OptionValues): CudaCompatMode {
  const given = list(values, 'cuda-compat-mode');
  for (const mode of given) {
    if (!(CUDA_COMPAT_MODES as readonly string[]).includes(mode)) {
      throw new UsageError(`option --cuda-compat-mode: unknown mode '${mode}' (use ${CUDA_COMPAT_MODES.join(', ')})`);
    }
  }
  if (values['no-cntlibs'] === true || given.includes('disabled')) return 'disabled';
  if (given.includes('mount') && given.includes('ldconfig')) {
    throw new UsageError('option --cuda-compat-mode: give mount or ldconfig, not both');
  }
  return (given[0] as CudaCompatMode | undefined) ?? 'ldconfig';
}

export function parseConfigureFlags(values: OptionValues, positionals: string[]): ConfigureFlags {
  const rootfs = positionals[0];
  if (rootfs === undefined) throw new UsageError('configure needs the container rootfs: nvc-ts configure [OPTIONS] ROOTFS');
  if (!path.isAbsolute(rootfs) || path.resolve(rootfs) === '/') throw new UsageError(`ROOTFS must be an absolute path other than /, not '${rootfs}'`);
  let pid: number | undefined;
  if (typeof values['pid'] === 'string') {
    if (!/^[1-9]\d*$/.test(values['pid'])) throw new UsageError(`option --pid needs a process id, not '${values['pid']}'`);
    pid = Number(values['pid']);
  }
  const one = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const request: ConfigureRequestInput = {
    ...parseCapabilities(values),
    require: list(values, 'require'),
    noCgroups: values['no-cgroups'] === true,
    noDevbind: values['no-devbind'] === true,
    noPersistenced: values['no-persistenced'] === true,
    noFabricmanager: values['no-fabricmanager'] === true,
    noGspFirmware: values['no-gsp-firmware'] === true,
    noLdconfig: values['no-ldconfig'] === true,
    dryRun: values['dry-run'] === true,
    cudaCompatMode: parseCudaCompatMode(values),
  };
  const devices = list(values, 'device');
  // `--device ''` (an unset shell variable) must not quietly mean "no GPU".
  if (devices.some((d) => d.trim() === '')) throw new UsageError('option --device needs GPUs (indices, UUIDs, bus ids or all); for no GPU, leave --device out');
  if (devices.length > 0) request.devices = devices;
  const migConfig = one('mig-config');
  if (migConfig !== undefined) request.migConfig = migConfig;
  const migMonitor = one('mig-monitor');
  if (migMonitor !== undefined) request.migMonitor = migMonitor;
  const imex = list(values, 'imex-channel');
  if (imex.length > 0) request.imexChannels = imex;
  return { pid, rootfs: path.resolve(rootfs), ldconfig: one('ldconfig'), request, json: values['json'] === true };
}

function describe(edit: Edit): string {
  const flags = 'flags' in edit && edit.flags.length > 0 ? ` (${edit.flags.join(',')})` : '';
  switch (edit.kind) {
    case 'bind':
      return `bind     ${edit.target} <- ${edit.source}${flags}`;
    case 'tmpfs':
      return `tmpfs    ${edit.target} mode 0${edit.mode.toString(8)}${flags}`;
    case 'write':
      return `write    ${edit.target} (${Buffer.byteLength(edit.data)} bytes, mode 0${edit.mode.toString(8)})`;
    case 'symlink':
      return `symlink  ${edit.target} -> ${edit.link}`;
    case 'remount':
      return `remount  ${edit.target}${flags}`;
  }
}

/** One line per edit, cgroup rule and ldconfig run: what a dry run prints. */
export function formatPlanText(plan: ContainerPlan): string {
  const lines = plan.edits.map(describe);
  for (const r of plan.cgroupRules) lines.push(`cgroup   allow ${r.type} ${r.major}:${r.minor} ${r.access} (${r.path})`);
  if (plan.ldconfig) lines.push(`ldconfig ${plan.ldconfig.path} ${plan.ldconfig.dirs.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The JSON the CLI prints: the result, with the plan in its documented form, where
 * plan.steps[i] is the lifecycle step of plan.edits[i].
 */
export function formatResultJson(result: ConfigureResult): string {
  const { edits, cgroupRules, ldconfig, warnings } = result.plan;
  // Modes as octal strings ("0444"), as people read them.
  const octal = (e: Record<string, unknown>) => (typeof e['mode'] === 'number' ? { ...e, mode: `0${(e['mode'] as number).toString(8)}` } : e);
  const plan = { edits: edits.map(({ origin: _origin, ...e }) => octal(e)), steps: edits.map((e) => e.origin.step), cgroupRules, ldconfig, warnings };
  return `${JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, ...result, plan }, null, 2)}\n`;
}

function namespaceOf(pid: string): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return 'mnt:[?]';
  }
}

/**
 * -k without --no-create-imex-channels: the requested IMEX channels get their host nodes made
 * (after the modules are loaded), as the reference's loader does; numbers only (`all` names no node).
 */
async function createImexChannelNodes(session: CommandSession, request: ConfigureRequestInput): Promise<void> {
  const { loadKernelModules, noCreateImexChannels } = session.flags;
  const wanted = request.imexChannels === undefined ? [] : [request.imexChannels].flat().flatMap((v) => v.split(','));
  const channels = wanted
    .map((w) => w.trim())
    .filter((w) => /^\d+$/.test(w))
    .map(Number);
  if (!loadKernelModules || channels.length === 0) return;
  if (noCreateImexChannels) {
    session.note(`--no-create-imex-channels: no host node made for IMEX channel(s) ${channels.join(',')}`);
    return;
  }
  const { createNvidiaDeviceNodes } = await import('../../kmod');
  const made = await createNvidiaDeviceNodes(session.hostOptions(), { imexChannels: channels, links: false, fixExisting: false });
  for (const n of made.nodes) if (n.action === 'created') session.note(`--load-kmods: made ${n.path}`);
}

/** Shared by `configure` and `hook`: open the container, configure it, report. */
export async function runConfigure(session: CommandSession, flags: ConfigureFlags): Promise<void> {
  // The container is looked at while the context is acquired (it needs none); a failure there is
  // reported in its own phase, after the context's.
  const opening = openContainer({
    rootfs: flags.rootfs,
    ...(flags.pid !== undefined && { pid: flags.pid }),
    ...(flags.ldconfig !== undefined && { ldconfig: flags.ldconfig }),
    ...(session.flags.noPivot && { noPivot: true }),
  });
  opening.catch(() => undefined);
  const ctx = await session.context();
  await session.phase('initialization', () => createImexChannelNodes(session, flags.request));
  const container = await session.phase('container', () => opening);
  // Under the service's bound on a request, what is left of it bounds the configure: planning is
  // abandoned, or the executor stopped (rolling back), when it runs out.
  const left = session.timeLeft?.();
  const call = left === undefined ? {} : { timeoutMs: Math.max(1, Math.floor(left)) };
  const result = await session.phase('mount', () => ctx.configure(container, flags.request, call));
  if (result.timings !== undefined) session.timings?.(result.timings);
  if (flags.pid === undefined && result.applied && !flags.json) {
    session.warn(`no --pid: the mounts were made in this process's own mount namespace (${namespaceOf('self')}), under ${flags.rootfs}`);
  }
  if (flags.json) session.write(formatResultJson(result));
  else if (!result.applied) session.write(formatPlanText(result.plan));
  for (const n of result.plan.notes) session.note(n);
  for (const w of result.warnings) session.warn(w);
}

export const configureCommand: CommandSpec<ConfigureFlags> = {
  name: 'configure',
  summary: 'Give a container (before pivot_root) the driver files and GPUs it asks for',
  usage: [
    'nvc-ts [GLOBAL OPTIONS] configure [OPTIONS] ROOTFS',
    '',
    '  Needs root. Without --device and capabilities a container gets no GPU and no driver library:',
    '  name what it needs (e.g. --device=0 --compute --utility).',
    '',
    '  -p, --pid PID            the container init process (its mount namespace is changed); without',
    "                           it, this process's own mount namespace is changed (for tools that",
    '                           prepare a rootfs in a namespace of their own: `unshare -m nvc-ts configure ...`)',
    '  -d, --device IDS         GPUs: indices, GPU-/MIG- UUIDs, PCI bus ids, gpu:mig pairs, all',
    '  -c, --compute  -u, --utility  -v, --video  -g, --graphics  -D, --display  -n, --ngx  --compat32',
    '      --capabilities LIST  the same as a comma list (or all)',
    '  -r, --require EXPR       requirement, e.g. "cuda>=12.0 brand=tesla,driver>=535" (repeatable)',
    '  -l, --ldconfig PATH      ldconfig to run: @/host/path or a path in the container',
    '      --no-ldconfig        skip the ldcache update',
    '      --no-cgroups         leave the device cgroup alone (rootless runtimes)',
    '      --no-devbind         no device node binds (the runtime provides them); cgroup rules still added',
    '      --mig-config all     --mig-monitor all     --imex-channel IDS',
    '      --no-persistenced    --no-fabricmanager    --no-gsp-firmware',
    '      --cuda-compat-mode=ldconfig|mount|disabled',
    "                           with --compute, the image's CUDA forward-compat libraries",
    '                           (/usr/local/cuda[-X.Y]/compat/libcuda.so.<version>), used only when',
    '                           newer (by major) than the host driver: ldconfig (default) lists their',
    '                           directory first to ldconfig; mount links them into the library',
    '                           directory (no image file is mounted); disabled ignores them',
    '      --no-cntlibs         the same as --cuda-compat-mode=disabled',
    '      --dry-run            print the edits instead of making them',
    '      --json               print the plan and result as JSON',
  ],
  options: {
    pid: { type: 'string', short: 'p' },
    device: { type: 'string', short: 'd', multiple: true },
    require: { type: 'string', short: 'r', multiple: true },
    ldconfig: { type: 'string', short: 'l' },
    'no-ldconfig': { type: 'boolean' },
    ...CAPABILITY_OPTIONS,
    'no-cgroups': { type: 'boolean' },
    'no-devbind': { type: 'boolean' },
    'mig-config': { type: 'string' },
    'mig-monitor': { type: 'string' },
    'imex-channel': { type: 'string', multiple: true },
    'no-persistenced': { type: 'boolean' },
    'no-fabricmanager': { type: 'boolean' },
    'no-gsp-firmware': { type: 'boolean' },
    'cuda-compat-mode': { type: 'string', multiple: true },
    'no-cntlibs': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  positionals: 1,
  parse: (values, _tokens, positionals) => parseConfigureFlags(values, positionals),
  run: runConfigure,
};
