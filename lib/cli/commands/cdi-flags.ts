/** `nvc-ts cdi` flags: each subcommand's options, checked and given their defaults. */
import type { CdiGenerateOptions } from '../../cdi/generate';
import { NAME_STRATEGIES, type NameStrategy } from '../../cdi/naming';
import { formatOfFile, type SpecFormat } from '../../cdi/output';
import { CAPABILITIES, type Capability } from '../../types';
import { UsageError } from '../format-error';
import type { OptionValues } from '../types';

export const SUBCOMMANDS = ['generate', 'inject', 'list', 'check', 'refresh'] as const;
export type Sub = (typeof SUBCOMMANDS)[number];

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

export function generateOptions(flags: CdiFlags): CdiGenerateOptions {
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
