/**
 * `nvc-ts cdi SUBCOMMAND`: Container Device Interface specs (lib/cdi/).
 *   generate  a spec for this host          inject   CDI devices into an OCI config.json
 *   list      the device names of the specs  check    specs against the live host
 *   refresh   generate, safely (cdi-refresh.ts)
 */
import { checkSpecs } from '../../cdi/check';
import { probeInstalledEngines } from '../../cdi/engines';
import { generateCdiSpec } from '../../cdi/generate';
import { injectCdiFile } from '../../cdi/inject';
import { formatSpec, writeFileAtomic } from '../../cdi/output';
import { DEFAULT_SPEC_DIRS, loadRegistry, loadSpecFile } from '../../cdi/registry';
import { NvcError } from '../../errors';
import { cdiHookPath } from '../../native';
import type { CommandSession, CommandSpec } from '../types';
import { generateOptions, parseCdiFlags, type CdiFlags } from './cdi-flags';
import { runRefresh } from './cdi-refresh';

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
    '  --capabilities: a comma list of utility, compute, video, graphics, display, ngx, compat32, or all (default).',
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
