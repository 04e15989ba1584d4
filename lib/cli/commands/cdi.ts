/**
 * `nvc-ts cdi SUBCOMMAND`: Container Device Interface specs (lib/cdi/).
 *   generate  a spec for this host          inject  CDI devices into an OCI config.json
 *   list      the device names of the specs  check   specs against the live host
 */
import { checkSpecs } from '../../cdi/check';
import { probeInstalledEngines } from '../../cdi/engines';
import { generateCdiSpec, type CdiGenerateOptions } from '../../cdi/generate';
import { watchDriver } from '../../cdi/watch';
import type { HostFacts } from '../../host-facts';
import { NvcError } from '../../errors';
import { loadSpecFile } from '../../cdi/registry';
import { refreshSpec } from '../../cdi/refresh';
import { injectCdiFile } from '../../cdi/inject';
import { formatOfFile, formatSpec, writeFileAtomic, type SpecFormat } from '../../cdi/output';
import { DEFAULT_SPEC_DIRS, loadRegistry } from '../../cdi/registry';
import { NAME_STRATEGIES, type NameStrategy } from '../../cdi/naming';
import { cdiHookPath } from '../../native';
import { CAPABILITIES, type Capability } from '../../types';
import { UsageError } from '../format-error';
import type { CommandSession, CommandSpec, OptionValues } from '../types';

const SUBCOMMANDS = ['generate', 'inject', 'list', 'check', 'refresh'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

export interface CdiFlags {
  sub: Sub;
  format: SpecFormat;
  output: string | undefined;
  vendor: string;
  class: string;
  strategies: NameStrategy[];
  capabilities: Capability[];
  compat32: boolean;
  profile: 'default' | 'gvisor';
  cdiVersion: string;
  hookPath: string | undefined;
  devices: string[];
  specDirs: string[];
  config: string | undefined;
  spec: string | undefined;
  waitMs: number;
  watch: boolean;
  pollMs: number;
}

function strings(values: OptionValues, name: string): string[] {
  const v = values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

function one(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new UsageError(`option --${name} needs a value`);
  return v;
}

function parseWait(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(text)) throw new UsageError(`option needs seconds, not '${text}'`);
  return Math.round(Number(text) * 1000);
}

const GENERATE_OPTIONS = ['format', 'output', 'vendor', 'class', 'device-name-strategy', 'capabilities', 'profile', 'cdi-version', 'hook-path'];

/** The options each subcommand takes: any other is a usage error, not silently ignored. */
const SUB_OPTIONS: Record<Sub, string[]> = {
  generate: GENERATE_OPTIONS,
  inject: ['device', 'spec-dir', 'output'],
  list: ['spec-dir'],
  check: ['spec', 'spec-dir'],
  refresh: [...GENERATE_OPTIONS.filter((o) => o !== 'format'), 'wait', 'watch', 'poll-interval'],
};

export function parseCdiFlags(values: OptionValues, positionals: string[]): CdiFlags {
  const sub = positionals[0];
  if (sub === undefined || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(
      sub === undefined ? `cdi needs a subcommand (${SUBCOMMANDS.join(', ')})` : `unknown cdi subcommand '${sub}' (use ${SUBCOMMANDS.join(', ')})`,
    );
  }
  const stray = Object.keys(values).find((k) => values[k] !== undefined && !SUB_OPTIONS[sub as Sub].includes(k));
  if (stray !== undefined) throw new UsageError(`option --${stray} does not apply to 'cdi ${sub}'`);
  if (values['spec'] !== undefined && values['spec-dir'] !== undefined) throw new UsageError('cdi check takes --spec or --spec-dir, not both');
  const config = positionals[1];
  if (sub !== 'inject' && config !== undefined) throw new UsageError(`unexpected argument '${config}' for 'cdi ${sub}'`);
  if (sub === 'inject' && config === undefined) throw new UsageError('cdi inject needs the OCI config: nvc-ts cdi inject --device NAME CONFIG_JSON');
  const output = one(values, 'output');
  const formatValue = one(values, 'format');
  if (formatValue !== undefined && formatValue !== 'json' && formatValue !== 'yaml')
    throw new UsageError(`option --format: use json or yaml, not '${formatValue}'`);
  const strategies = strings(values, 'device-name-strategy').flatMap((s) => s.split(','));
  for (const s of strategies)
    if (!(NAME_STRATEGIES as readonly string[]).includes(s))
      throw new UsageError(`option --device-name-strategy: use ${NAME_STRATEGIES.join(', ')}, not '${s}'`);
  const caps = new Set<Capability>();
  let compat32 = false;
  for (const word of strings(values, 'capabilities').flatMap((s) => s.split(','))) {
    const w = word.trim();
    if (w === '') continue;
    if (w === 'compat32') compat32 = true;
    else if (w === 'all') CAPABILITIES.forEach((c) => caps.add(c));
    else if ((CAPABILITIES as readonly string[]).includes(w)) caps.add(w as Capability);
    else throw new UsageError(`option --capabilities: unknown capability '${w}' (use ${CAPABILITIES.join(', ')}, compat32 or all)`);
  }
  const profile = one(values, 'profile') ?? 'default';
  if (profile !== 'default' && profile !== 'gvisor') throw new UsageError(`option --profile: use default or gvisor, not '${profile}'`);
  const devices = strings(values, 'device');
  if (sub === 'inject' && devices.length === 0) throw new UsageError('cdi inject needs at least one --device vendor/class=name');
  return {
    sub: sub as Sub,
    format: (formatValue as SpecFormat | undefined) ?? (output === undefined ? null : formatOfFile(output)) ?? 'yaml',
    output,
    vendor: one(values, 'vendor') ?? 'nvidia.com',
    class: one(values, 'class') ?? 'gpu',
    strategies: strategies.length > 0 ? (strategies as NameStrategy[]) : ['index', 'uuid'],
    capabilities: caps.size > 0 ? CAPABILITIES.filter((c) => caps.has(c)) : [...CAPABILITIES],
    compat32,
    profile,
    cdiVersion: one(values, 'cdi-version') ?? 'auto',
    hookPath: one(values, 'hook-path'),
    devices,
    specDirs: strings(values, 'spec-dir'),
    config,
    spec: one(values, 'spec'),
    waitMs: parseWait(one(values, 'wait'), 30000),
    watch: values['watch'] === true,
    pollMs: Math.max(100, parseWait(one(values, 'poll-interval'), 5000)),
  };
}

function generateOptions(flags: CdiFlags): CdiGenerateOptions {
  return {
    vendor: flags.vendor,
    class: flags.class,
    deviceNameStrategies: flags.strategies,
    capabilities: flags.capabilities,
    compat32: flags.compat32,
    profile: flags.profile,
    cdiVersion: flags.cdiVersion,
    ...(flags.hookPath !== undefined && { hookPath: flags.hookPath }),
  };
}

/** Resolves on SIGTERM or SIGINT: a watching refresh then ends normally. */
function stopSignal(): { stopped: Promise<'stop'>; dispose(): void } {
  let resolve: (v: 'stop') => void = () => undefined;
  const stopped = new Promise<'stop'>((r) => (resolve = r));
  const on = (): void => resolve('stop');
  process.on('SIGTERM', on);
  process.on('SIGINT', on);
  return {
    stopped,
    dispose() {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
    },
  };
}

async function runRefresh(session: CommandSession, flags: CdiFlags): Promise<void> {
  if (flags.output === undefined) throw new UsageError('cdi refresh needs --output FILE (e.g. /var/run/cdi/nvidia.yaml)');
  const output = flags.output;
  // Each refresh starts a driver service of its own: after a driver upgrade the old one knows only the old driver.
  const readFacts = async (): Promise<HostFacts> => {
    const c = await session.freshContext();
    try {
      return await c.hostFacts();
    } finally {
      await c.shutdown();
    }
  };
  const once = async (): Promise<void> =>
    refreshSpec(
      readFacts,
      { output, waitMs: flags.waitMs, engines: flags.cdiVersion === 'auto' ? await probeInstalledEngines() : [], generate: generateOptions(flags) },
      { defaultHookPath: cdiHookPath },
      (w) => session.warn(w),
    );
  if (!flags.watch) return session.phase('device', once);

  const probe = await session.freshContext();
  const { root, ldcache, procRoot, devRoot, sysRoot } = probe.host;
  await probe.shutdown();
  const stop = stopSignal();
  const watcher = await watchDriver({ root, ldcache, procRoot, devRoot, sysRoot }, flags.pollMs);
  try {
    let reason = 'start';
    for (;;) {
      try {
        await once();
        session.write(`${output} refreshed (${reason})\n`);
      } catch (e) {
        session.warn(e instanceof Error ? e.message : String(e));
      }
      const next = await Promise.race([watcher.next(), stop.stopped]);
      if (next === 'stop') return;
      reason = next;
    }
  } finally {
    watcher.close();
    stop.dispose();
  }
}

async function runGenerate(session: CommandSession, flags: CdiFlags): Promise<void> {
  const ctx = await session.context();
  const facts = await session.phase('detection', () => ctx.hostFacts());
  const { spec, warnings } = await session.phase('device', () => generateCdiSpec(facts, generateOptions(flags), { defaultHookPath: cdiHookPath }));
  for (const w of warnings) session.warn(w);
  const text = formatSpec(spec, flags.format);
  if (flags.output === undefined) session.write(text);
  else await session.phase('output', () => writeFileAtomic(flags.output as string, text));
}

export const cdiCommand: CommandSpec<CdiFlags> = {
  name: 'cdi',
  summary: 'Container Device Interface specs: generate, inject, list',
  usage: [
    'nvc-ts [GLOBAL OPTIONS] cdi generate [--format json|yaml] [--output FILE] [--vendor nvidia.com] [--class gpu]',
    '         [--device-name-strategy index|uuid|type-index]... [--capabilities LIST] [--profile default|gvisor]',
    '         [--cdi-version auto|X.Y.Z] [--hook-path PATH]',
    'nvc-ts cdi inject --device vendor/class=name... [--spec-dir DIR]... [--output FILE] CONFIG_JSON',
    'nvc-ts cdi list [--spec-dir DIR]...',
    'nvc-ts cdi check [--spec FILE | --spec-dir DIR...]    exit 1 with one line per problem',
    'nvc-ts cdi refresh --output FILE [--wait SECONDS] [--watch [--poll-interval SECONDS]] [generate options]',
    "  refresh writes only once the driver's nodes exist and the new spec checks clean; --watch regenerates",
    '  when the driver changes (version, modules, device nodes, MIG instances) and on SIGHUP.',
    '',
    `  Spec dirs default to ${DEFAULT_SPEC_DIRS.join(' and ')} (the later wins).`,
    '  --cdi-version auto writes the lowest version the spec needs that the installed podman, containerd,',
    '  crio and docker read, leaving out optional fields (with a warning) that they would refuse.',
  ],
  options: {
    format: { type: 'string' },
    output: { type: 'string' },
    vendor: { type: 'string' },
    class: { type: 'string' },
    'device-name-strategy': { type: 'string', multiple: true },
    capabilities: { type: 'string', multiple: true },
    profile: { type: 'string' },
    'cdi-version': { type: 'string' },
    'hook-path': { type: 'string' },
    device: { type: 'string', multiple: true },
    'spec-dir': { type: 'string', multiple: true },
    spec: { type: 'string' },
    wait: { type: 'string' },
    watch: { type: 'boolean' },
    'poll-interval': { type: 'string' },
  },
  positionals: 2,
  parse: (values, _tokens, positionals) => parseCdiFlags(values, positionals),
  async run(session: CommandSession, flags: CdiFlags): Promise<void> {
    const dirs = flags.specDirs.length > 0 ? flags.specDirs : [...DEFAULT_SPEC_DIRS];
    switch (flags.sub) {
      case 'generate':
        return runGenerate(session, flags);
      case 'inject':
        return session.phase('container', () =>
          injectCdiFile(flags.config as string, flags.devices, { specDirs: dirs, ...(flags.output !== undefined && { output: flags.output }) }),
        );
      case 'check': {
        const specs = await session.phase('input', async () => {
          if (flags.spec !== undefined) return [await loadSpecFile(flags.spec)];
          const reg = await loadRegistry(dirs);
          for (const p of reg.problems) session.warn(p.message);
          return reg.specs;
        });
        const ctx = await session.context();
        const facts = await session.phase('detection', () => ctx.hostFacts());
        const problems = checkSpecs({ specs, facts, engines: await probeInstalledEngines() });
        session.write(problems.map((p) => `${p}\n`).join(''));
        if (problems.length > 0)
          throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${problems.length} problem(s) in the CDI specs`, { hint: 'regenerate them with nvc-ts cdi refresh' });
        return;
      }
      case 'refresh':
        return runRefresh(session, flags);
      case 'list': {
        const reg = await session.phase('input', () => loadRegistry(dirs));
        for (const p of reg.problems) session.warn(p.message);
        session.write(
          [...reg.devices.keys()]
            .sort()
            .map((n) => `${n}\n`)
            .join(''),
        );
        return;
      }
    }
  },
};
