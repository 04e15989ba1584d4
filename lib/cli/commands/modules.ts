/**
 * `nvc-ts modules plan|load|unload|nodes`: the driver's kernel modules and device nodes, as
 * nvidia-modprobe handles them. Reads the host through --root/--proc-root/--sys-root/--dev-root and
 * never starts the driver service (NVML is not needed, and may not be loadable yet).
 */
import { NvcError } from '../../errors';
import type { KmodOptions, LoadResult, ModulePlan, NodesResult, UnloadResult } from '../../kmod';
import { JSON_SCHEMA_VERSION, UsageError } from '../format-error';
import type { CommandSession, CommandSpec, OptionValues } from '../types';

const ACTIONS = ['plan', 'load', 'unload', 'nodes'] as const;
type Action = (typeof ACTIONS)[number];

export interface ModulesFlags {
  action: Action;
  json: boolean;
  modules: string[] | undefined;
  modulesDir: string | undefined;
  kernelModulesDir: string | undefined;
  kernelConfig: string | undefined;
  params: Record<string, string[]>;
  imexChannels: number[];
  noNodes: boolean;
}

function optionalString(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new UsageError(`option --${name} needs a non-empty value`);
  return v;
}

function strings(values: OptionValues, name: string): string[] {
  const v = values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** --param MODULE.NAME=VALUE (MODULE may be spelt with - or _). */
function parseParams(list: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const item of list) {
    const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+(=.*)?)$/.exec(item);
    if (m?.[1] === undefined || m[2] === undefined) throw new UsageError(`option --param needs MODULE.PARAM=VALUE (e.g. nvidia-drm.modeset=1), not '${item}'`);
    (out[m[1]] ??= []).push(m[2]);
  }
  return out;
}

function parseChannels(list: string[]): number[] {
  const out: number[] = [];
  for (const part of list.flatMap((s) => s.split(','))) {
    if (!/^\d+$/.test(part) || Number(part) > 2047) throw new UsageError(`option --imex-channel needs channel numbers 0-2047, comma-separated, not '${part}'`);
    out.push(Number(part));
  }
  return out;
}

const list = (names: string[]): string => (names.length === 0 ? '-' : names.join(', '));

export function formatPlanText(plan: ModulePlan): string {
  const lines = [
    `Kernel release:  ${plan.kernelRelease ?? 'unknown'}`,
    `Targets:         ${list(plan.targets)}`,
    `Load order:      ${list(plan.load)}`,
    `Already loaded:  ${list(plan.alreadyLoaded)}`,
    `Built in:        ${list(plan.builtin)}`,
  ];
  for (const m of plan.modules)
    lines.push(`  ${m.name}: ${m.path}${m.compression === 'none' ? '' : ` (${m.compression})`}${m.params.length > 0 ? ` ${m.params.join(' ')}` : ''}`);
  if (!plan.ok) lines.push('Refused:', ...plan.problems.map((p) => `  - ${p.message}`));
  return `${lines.join('\n')}\n`;
}

function formatNodesText(r: NodesResult): string {
  const lines = r.nodes.map((n) => `${n.action.padEnd(9)} ${n.path} c ${n.major}:${n.minor} ${n.mode.toString(8).padStart(4, '0')} ${n.uid}:${n.gid}`);
  lines.push(...r.links.map((l) => `${l.action.padEnd(9)} ${l.path} -> ${l.target}`));
  lines.push(r.changed ? `Device nodes under ${r.devRoot} are now in place.` : `Nothing to do: every device node under ${r.devRoot} is already in place.`);
  return `${lines.join('\n')}\n`;
}

export const modulesCommand: CommandSpec<ModulesFlags> = {
  name: 'modules',
  summary: "Plan, load or unload the driver's kernel modules; make its device nodes",
  usage: [
    'nvc-ts [GLOBAL OPTIONS] modules plan|load|unload [--modules-dir DIR] [--kernel-modules-dir DIR]',
    '                                [--kernel-config FILE] [--param MODULE.PARAM=VALUE]... [--json] [MODULE...]',
    'nvc-ts [GLOBAL OPTIONS] modules nodes [--imex-channel IDS] [--json]',
    '',
    '  plan     the modules to insert, in dependency order, or why they cannot be (exit status 1)',
    '  load     insert them (finit_module), then make the device nodes',
    '  unload   remove them, users first; refused while a module or a process holds them',
    '  nodes    make the device nodes and /dev/char links under the dev root (--dev-root)',
    '',
    '  MODULE                    default nvidia nvidia-uvm nvidia-modeset nvidia-drm (unload: the loaded ones)',
    "  --modules-dir DIR         the driver's modules (default: /usr/local/nvidia/modules, or the kernel tree's",
    '                            kernel/drivers/video, extra, updates)',
    "  --kernel-modules-dir DIR  the kernel's modules (default /lib/modules/<release>)",
    "  --kernel-config FILE      the kernel's config when /proc/config.gz is absent (default /boot/config-<release>)",
    '  --param MOD.PARAM=VALUE   a module parameter, e.g. nvidia-drm.modeset=1 (repeatable)',
    '  --no-nodes                load: do not make the device nodes',
    '  --imex-channel IDS        nodes: IMEX channel nodes to make too (comma-separated)',
    '  --json                    JSON output (plan: { load: [...], problems: [...], ... })',
  ],
  options: {
    'modules-dir': { type: 'string' },
    'kernel-modules-dir': { type: 'string' },
    'kernel-config': { type: 'string' },
    param: { type: 'string', multiple: true },
    'imex-channel': { type: 'string', multiple: true },
    'no-nodes': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  positionals: 65,
  parse(values: OptionValues, _tokens, positionals: string[]): ModulesFlags {
    const [action, ...modules] = positionals;
    if (action === undefined) throw new UsageError(`'modules' needs an action: ${ACTIONS.join(', ')}`);
    if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown modules action '${action}' (one of ${ACTIONS.join(', ')})`);
    for (const m of modules) if (!/^[A-Za-z0-9_-]{1,55}$/.test(m)) throw new UsageError(`'${m}' is not a module name`);
    if (action === 'nodes' && modules.length > 0) throw new UsageError(`'modules nodes' takes no module names`);
    const imexChannels = parseChannels(strings(values, 'imex-channel'));
    if (imexChannels.length > 0 && action !== 'nodes' && action !== 'load')
      throw new UsageError(`option --imex-channel goes with 'modules nodes' or 'modules load'`);
    return {
      action: action as Action,
      json: values['json'] === true,
      modules: modules.length > 0 ? modules : undefined,
      modulesDir: optionalString(values, 'modules-dir'),
      kernelModulesDir: optionalString(values, 'kernel-modules-dir'),
      kernelConfig: optionalString(values, 'kernel-config'),
      params: parseParams(strings(values, 'param')),
      imexChannels,
      noNodes: values['no-nodes'] === true,
    };
  },
  async run(session: CommandSession, flags: ModulesFlags): Promise<void> {
    const kmod = await import('../../kmod');
    const path = await import('node:path');
    const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : path.resolve(p));
    const host = session.hostOptions();
    const modulesDir = abs(flags.modulesDir);
    const kernelModulesDir = abs(flags.kernelModulesDir);
    const kernelConfig = abs(flags.kernelConfig);
    const options: KmodOptions = {
      ...host,
      ...(modulesDir !== undefined && { modulesDir }),
      ...(kernelModulesDir !== undefined && { kernelModulesDir }),
      ...(kernelConfig !== undefined && { kernelConfig }),
      ...(flags.modules !== undefined && { modules: flags.modules }),
      params: flags.params,
    };
    const out = (value: object, text: string): void =>
      session.write(flags.json ? `${JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, ...value }, null, 2)}\n` : text);
    switch (flags.action) {
      case 'plan': {
        const plan = await session.phase('kernel-modules', () => kmod.planKernelModules(options));
        for (const w of plan.warnings) session.warn(w);
        if (!flags.json) {
          out(plan, formatPlanText(plan));
          // The plan is printed either way; a refused one also fails the command, naming why.
          kmod.assertPlanOk(plan);
          return;
        }
        // --json: one document, with the refusal in it as `error`; the usual paragraph on stderr.
        let refusal: NvcError | null = null;
        try {
          kmod.assertPlanOk(plan);
        } catch (e) {
          if (!(e instanceof NvcError)) throw e;
          refusal = e;
        }
        out(refusal === null ? plan : { ...plan, error: refusal.toJSON() }, '');
        if (refusal !== null) throw refusal;
        return;
      }
      case 'load': {
        const r: LoadResult = await session.phase('kernel-modules', () =>
          kmod.loadKernelModules(options, { nodes: flags.noNodes ? false : { imexChannels: flags.imexChannels } }),
        );
        for (const w of r.plan.warnings) session.warn(w);
        const text = `${r.inserted.length === 0 ? 'Nothing to load: ' : `Loaded ${r.inserted.join(', ')}; `}already loaded: ${list(r.plan.alreadyLoaded)}\n${r.nodes === undefined ? '' : formatNodesText(r.nodes)}`;
        out({ load: r.plan.load, inserted: r.inserted, alreadyLoaded: r.plan.alreadyLoaded, builtin: r.plan.builtin, nodes: r.nodes ?? null }, text);
        return;
      }
      case 'unload': {
        const r: UnloadResult = await session.phase('kernel-modules', () => kmod.unloadKernelModules(options));
        out(r, r.removed.length === 0 ? 'Nothing to unload.\n' : `Unloaded ${r.removed.join(', ')}.\n`);
        return;
      }
      case 'nodes': {
        const r = await session.phase('kernel-modules', () => kmod.createNvidiaDeviceNodes(host, { imexChannels: flags.imexChannels }));
        out(r, formatNodesText(r));
        return;
      }
      default:
        throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `unknown modules action ${String(flags.action)}`);
    }
  },
};
