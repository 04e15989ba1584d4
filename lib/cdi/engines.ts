/**
 * The container engines installed on the host and the newest CDI spec version each reads.
 * Engines vendor the CDI library, so what they read depends on their release; the table is
 * conservative (the lowest release known to carry each CDI version: 0.7.0 per the NVIDIA
 * Container Toolkit 1.19.1 release notes, 0.6.0 from the engines' vendored CDI releases).
 */
import { execFile } from 'node:child_process';
import { compareVersions, type CdiVersion } from './version';

export type EngineName = 'podman' | 'containerd' | 'crio' | 'docker';

export interface EngineVersion {
  engine: EngineName;
  version: string;
}

/** For each engine: from which release on it reads which CDI version (newest first); below the last: no CDI. */
const ENGINE_CDI: Record<EngineName, [string, CdiVersion][]> = {
  podman: [
    ['5.1.0', '0.7.0'],
    ['4.6.0', '0.6.0'],
    ['4.1.0', '0.5.0'],
  ],
  containerd: [
    ['1.7.16', '0.7.0'],
    ['1.7.0', '0.5.0'],
  ],
  crio: [
    ['1.30.0', '0.7.0'],
    ['1.28.0', '0.6.0'],
    ['1.23.0', '0.5.0'],
  ],
  docker: [
    ['26.1.0', '0.7.0'],
    ['25.0.0', '0.6.0'],
  ],
};

/** The newest CDI version an engine release reads; null when it has no CDI support. */
export function engineCdiCeiling(e: EngineVersion): CdiVersion | null {
  for (const [since, cdi] of ENGINE_CDI[e.engine]) if (compareVersions(e.version, since) >= 0) return cdi;
  return null;
}

/** What every engine given reads (engines without CDI support never read specs: they do not count). */
export function lowestCeiling(engines: EngineVersion[]): { version: CdiVersion; why: string } | null {
  let best: { version: CdiVersion; why: string } | null = null;
  for (const e of engines) {
    const v = engineCdiCeiling(e);
    if (v === null) continue;
    if (best === null || compareVersions(v, best.version) < 0) best = { version: v, why: `${e.engine} ${e.version}` };
  }
  return best;
}

/** How to ask each engine for its version, and how to read the answer. */
const PROBES: { engine: EngineName; argv: [string, ...string[]]; pattern: RegExp }[] = [
  { engine: 'podman', argv: ['podman', '--version'], pattern: /podman version v?(\d+\.\d+\.\d+)/i },
  { engine: 'containerd', argv: ['containerd', '--version'], pattern: /\sv?(\d+\.\d+\.\d+)/ },
  { engine: 'crio', argv: ['crio', '--version'], pattern: /version:?\s+v?(\d+\.\d+\.\d+)/i },
  { engine: 'docker', argv: ['dockerd', '--version'], pattern: /version v?(\d+\.\d+\.\d+)/i },
];

/** Parses one engine's `--version` output; null when it says no version. */
export function parseEngineVersion(engine: EngineName, output: string): string | null {
  const probe = PROBES.find((p) => p.engine === engine);
  return probe?.pattern.exec(output)?.[1] ?? null;
}

export type EngineProbe = () => Promise<EngineVersion[]>;

function run(argv: [string, ...string[]]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { timeout: 5000, encoding: 'utf8' }, (err, stdout, stderr) => resolve(err ? null : `${stdout}\n${stderr}`));
  });
}

/** The engines on PATH and their versions: an engine that is absent or does not answer is left out. */
export const probeInstalledEngines: EngineProbe = async () => {
  const found = await Promise.all(
    PROBES.map(async (p) => {
      const out = await run(p.argv);
      const version = out === null ? null : parseEngineVersion(p.engine, out);
      return version === null ? null : { engine: p.engine, version };
    }),
  );
  return found.filter((e): e is EngineVersion => e !== null);
};
