/**
 * `cdi refresh`: a spec written only when the driver is ready (the GPU and control nodes
 * exist), never empty or partial, and only once the new spec checks clean against the host;
 * until then the previous spec stays. Written atomically.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { NvcError } from '../errors';
import { devSource, type HostFacts } from '../host-facts';
import { checkSpecs } from './check';
import type { EngineVersion } from './engines';
import { generateCdiSpec, type CdiGenerateOptions, type GenerateDeps } from './generate';
import { formatOfFile, formatSpec, writeFileAtomic } from './output';

/** The nodes a ready driver shows: nvidiactl and every GPU's; empty when all are there. */
export function missingDriverNodes(facts: HostFacts): string[] {
  const paths = ['/dev/nvidiactl', ...facts.devices.map((d) => d.deviceNode.path)];
  return paths.map((p) => devSource(facts.paths.devRoot, p)).filter((p) => !existsSync(p));
}

export interface RefreshOptions {
  output: string;
  /** How long to wait for the driver's nodes (ms). */
  waitMs: number;
  generate: CdiGenerateOptions;
  engines: EngineVersion[];
}

export async function refreshSpec(readFacts: () => Promise<HostFacts>, options: RefreshOptions, deps: GenerateDeps, warn: (s: string) => void): Promise<void> {
  const deadline = Date.now() + options.waitMs;
  let facts: HostFacts | null = null;
  for (;;) {
    let missing: string[];
    try {
      facts = await readFacts();
      missing = facts.devices.length === 0 ? ['no GPU reported by the driver'] : missingDriverNodes(facts);
    } catch (e) {
      // A driver that is loading (or not loaded yet) fails discovery: that is not ready either.
      facts = null;
      missing = [e instanceof Error ? e.message : String(e)];
    }
    if (facts !== null && missing.length === 0) break;
    if (Date.now() >= deadline) {
      throw new NvcError('ERR_NVC_SYSTEM', `the driver is not ready (${missing.join(', ')}): ${options.output} was not written, the previous spec is kept`, {
        hint: 'load the driver (and create its device nodes), or wait longer with --wait SECONDS',
      });
    }
    await sleep(500);
  }
  const { spec, warnings } = await generateCdiSpec(facts, options.generate, { ...deps, probeEngines: async () => options.engines });
  warnings.forEach(warn);
  const gvisor = options.generate.profile === 'gvisor';
  const problems = checkSpecs({
    specs: [{ file: options.output, priority: 0, spec }],
    facts,
    engines: options.engines,
    // What this spec cannot name by design is not a reason to keep a stale one: gVisor's
    // profile names no MIG capability node, and DRM nodes come from the selection (a newer
    // spec from the same selection would not have them either).
    expect: { migCaps: !gvisor, drm: false },
  });
  if (problems.length > 0) {
    throw new NvcError(
      'ERR_NVC_SYSTEM',
      `the new spec does not check clean, ${options.output} was not written (the previous spec is kept):\n${problems.join('\n')}`,
    );
  }
  await writeFileAtomic(options.output, formatSpec(spec, formatOfFile(options.output) ?? 'yaml'));
}
