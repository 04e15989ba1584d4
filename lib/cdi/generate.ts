/**
 * `cdi generate`: host facts -> selection (every GPU and MIG device, the requested
 * capabilities) -> CDI lowering -> version settled against what the installed engines read.
 */
import { statSync } from 'node:fs';
import { z } from 'zod';
import { NvcError } from '../errors';
import type { HostFacts } from '../host-facts';
import { resolveRequest, selectItems } from '../plan/select-items';
import { parseWith } from '../schema';
import { CAPABILITIES, type Capability } from '../types';
import { lowestCeiling, probeInstalledEngines, type EngineProbe } from './engines';
import { lowerToCdi } from './lower';
import { CLASS_PATTERN, NAME_STRATEGIES, VENDOR_PATTERN } from './naming';
import type { CdiSpec } from './spec';
import { settleVersion } from './version';

export const cdiGenerateOptionsSchema = z
  .object({
    vendor: z.string().regex(VENDOR_PATTERN, 'a domain name such as nvidia.com').default('nvidia.com'),
    class: z.string().regex(CLASS_PATTERN, 'a word such as gpu').default('gpu'),
    deviceNameStrategies: z
      .array(z.enum(NAME_STRATEGIES))
      .min(1)
      .default(['index', 'uuid'])
      .transform((s) => [...new Set(s)]),
    /** Capabilities whose libraries and binaries the spec mounts (default: all). */
    capabilities: z
      .array(z.enum(CAPABILITIES))
      .min(1, 'at least one capability')
      .default([...CAPABILITIES]),
    /** The 32-bit libraries as well (NVIDIA_DRIVER_CAPABILITIES' compat32). */
    compat32: z.boolean().default(false),
    profile: z.enum(['default', 'gvisor']).default('default'),
    /** 'auto': the lowest version the content needs and every installed engine reads. */
    cdiVersion: z.string().default('auto'),
    /** The hook executable as the runtime will see it (default: the one built beside the addon). */
    hookPath: z.string().regex(/^\//, 'an absolute path').optional(),
  })
  .strict();

export type CdiGenerateOptions = z.input<typeof cdiGenerateOptionsSchema>;

export interface GeneratedSpec {
  spec: CdiSpec;
  warnings: string[];
}

function nodeAccess(hostPath: string): { mode: number; gid: number } | null {
  try {
    const st = statSync(hostPath);
    return { mode: st.mode, gid: st.gid };
  } catch {
    return null;
  }
}

export interface GenerateDeps {
  /** The installed engines (default: probed on PATH). */
  probeEngines?: EngineProbe;
  /** Default hook path, when options do not name one. */
  defaultHookPath: () => string;
}

export async function generateCdiSpec(facts: HostFacts, input: CdiGenerateOptions, deps: GenerateDeps): Promise<GeneratedSpec> {
  const o = parseWith(cdiGenerateOptionsSchema, input, 'cdi option');
  if (o.cdiVersion !== 'auto' && !/^\d+\.\d+\.\d+$/.test(o.cdiVersion)) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${o.cdiVersion}: not a CDI version`, { field: 'cdi-version', hint: 'use auto or a version such as 0.5.0' });
  }
  const capabilities: Capability[] = o.capabilities;
  const resolved = resolveRequest(facts, {
    ...(facts.devices.length > 0 && { devices: 'all' }),
    capabilities,
    compat32: o.compat32,
    require: [],
    noPersistenced: false,
    noFabricmanager: false,
    noGspFirmware: false,
  });
  const selection = selectItems(facts, resolved);
  const lowered = lowerToCdi(selection, facts.devices, {
    kind: `${o.vendor}/${o.class}`,
    strategies: o.deviceNameStrategies,
    profile: o.profile,
    hookPath: o.hookPath ?? deps.defaultHookPath(),
    procRoot: facts.paths.procRoot,
    nodeAccess,
  });
  const warnings = [...lowered.warnings];
  if (lowered.devices.length === 0) warnings.push('no GPU device in the spec: the host shows no GPU');
  const spec: CdiSpec = { cdiVersion: '0.3.0', kind: lowered.kind, devices: lowered.devices, containerEdits: lowered.containerEdits };
  const ceiling = o.cdiVersion === 'auto' ? lowestCeiling(await (deps.probeEngines ?? probeInstalledEngines)()) : null;
  const choice = settleVersion(spec, o.cdiVersion, ceiling);
  warnings.push(...choice.warnings);
  return { spec: orderKeys(spec), warnings };
}

/** cdiVersion and kind first, as people read specs. */
function orderKeys(spec: CdiSpec): CdiSpec {
  const { cdiVersion, kind, annotations, devices, containerEdits } = spec;
  return { cdiVersion, kind, ...(annotations !== undefined && { annotations }), devices, ...(containerEdits !== undefined && { containerEdits }) };
}
