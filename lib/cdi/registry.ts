/**
 * The CDI specs on a host: spec files in the spec directories (default /etc/cdi, then
 * /var/run/cdi, which takes priority), each device by its fully qualified name
 * `vendor/class=name`. A broken file is reported and skipped, as CDI loaders do; the same name
 * in two files of the same directory is a conflict and resolves to neither.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NvcError } from '../errors';
import { parseSpecText } from './output';
import type { CdiDevice, CdiSpec } from './spec';

export const DEFAULT_SPEC_DIRS = ['/etc/cdi', '/var/run/cdi'] as const;

export interface LoadedSpec {
  file: string;
  /** Index in the directory list: higher wins. */
  priority: number;
  spec: CdiSpec;
}

export interface SpecProblem {
  file: string;
  message: string;
}

export interface CdiRegistry {
  specs: LoadedSpec[];
  problems: SpecProblem[];
  /** Fully qualified name -> where it is defined (one entry, or several for a conflict). */
  devices: Map<string, { spec: LoadedSpec; device: CdiDevice }[]>;
}

const SPEC_FILE = /\.(json|ya?ml)$/i;

/** Reads one file as a spec. */
export async function loadSpecFile(file: string, priority = 0): Promise<LoadedSpec> {
  const text = await fsp.readFile(file, 'utf8').catch((cause: NodeJS.ErrnoException) => {
    throw new NvcError('ERR_NVC_SYSTEM', `cannot read ${file} (${cause.code ?? cause.message})`, {
      path: file,
      cause,
      ...(cause.code !== undefined && { errno: cause.code }),
    });
  });
  return { file, priority, spec: parseSpecText(text, file) };
}

export async function specFilesIn(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => SPEC_FILE.test(n) && !n.startsWith('.'))
    .sort()
    .map((n) => path.join(dir, n));
}

export function qualifiedName(kind: string, name: string): string {
  return `${kind}=${name}`;
}

export async function loadRegistry(dirs: readonly string[] = DEFAULT_SPEC_DIRS): Promise<CdiRegistry> {
  const reg: CdiRegistry = { specs: [], problems: [], devices: new Map() };
  for (const [priority, dir] of dirs.entries()) {
    for (const file of await specFilesIn(dir)) {
      try {
        reg.specs.push(await loadSpecFile(file, priority));
      } catch (e) {
        reg.problems.push({ file, message: e instanceof Error ? e.message : String(e) });
      }
    }
  }
  for (const spec of reg.specs) {
    for (const device of spec.spec.devices) {
      const fq = qualifiedName(spec.spec.kind, device.name);
      const seen = reg.devices.get(fq);
      const top = seen?.[0];
      if (seen === undefined || top === undefined || spec.priority > top.spec.priority) reg.devices.set(fq, [{ spec, device }]);
      else if (spec.priority === top.spec.priority) seen.push({ spec, device });
    }
  }
  return reg;
}

const QUALIFIED = /^([A-Za-z0-9][A-Za-z0-9.-]*\/[A-Za-z0-9][A-Za-z0-9._-]*)=([A-Za-z0-9][A-Za-z0-9_.:-]*)$/;

/** The spec and device a name stands for; errors for a malformed, unknown or conflicting name. */
export function resolveDevice(reg: CdiRegistry, name: string, dirs: readonly string[]): { spec: LoadedSpec; device: CdiDevice } {
  if (!QUALIFIED.test(name)) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${name}: not a fully qualified CDI device name`, {
      field: 'device',
      hint: 'name devices as vendor/class=name, e.g. nvidia.com/gpu=0',
    });
  }
  const found = reg.devices.get(name);
  if (found === undefined || found.length === 0) {
    const broken = reg.problems.map((p) => `; ${p.message}`).join('');
    throw new NvcError('ERR_NVC_UNKNOWN_DEVICE', `${name}: unknown CDI device (spec dirs: ${dirs.join(', ')})${broken}`, {
      hint: 'generate a spec (nvc-ts cdi generate --output /etc/cdi/nvidia.yaml) or list the known names with nvc-ts cdi list',
    });
  }
  if (found.length > 1) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${name}: ambiguous CDI device, defined in ${found.map((f) => f.spec.file).join(' and ')}`, {
      field: 'device',
      hint: 'remove one of the spec files',
    });
  }
  const one = found[0];
  if (one === undefined) throw new Error('unreachable');
  return one;
}
