/**
 * Which `cdiVersion` a spec needs. CDI loaders are strict: a spec that uses a field newer than
 * its declared version is refused, and so is a version newer than the loader knows. So the
 * version written is the lowest one the content needs (what each version introduced: the CDI
 * project's SPEC.md changelog, summarised in shared/reference/toolkit-and-peers-2026.md §3.1).
 */
import { NvcError } from '../errors';
import type { CdiContainerEdits, CdiSpec } from './spec';

/** Every released spec version, oldest first. 0.8.0 and 1.0.0 changed only the Go API. */
export const CDI_VERSIONS = ['0.3.0', '0.4.0', '0.5.0', '0.6.0', '0.7.0', '0.8.0', '1.0.0', '1.1.0'] as const;
export type CdiVersion = (typeof CDI_VERSIONS)[number];

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function isCdiVersion(text: string): text is CdiVersion {
  return (CDI_VERSIONS as readonly string[]).includes(text);
}

/** A feature a spec uses and the version that introduced it. */
export interface VersionFeature {
  version: CdiVersion;
  feature: string;
}

function editsFeatures(edits: CdiContainerEdits | undefined, where: string): VersionFeature[] {
  if (edits === undefined) return [];
  const out: VersionFeature[] = [];
  if (edits.netDevices !== undefined && edits.netDevices.length > 0) out.push({ version: '1.1.0', feature: `${where}netDevices` });
  const rdt = edits.intelRdt;
  if (rdt !== undefined) {
    if (rdt.schemata !== undefined || rdt.enableMonitoring !== undefined) out.push({ version: '1.1.0', feature: `${where}intelRdt.schemata/enableMonitoring` });
    out.push({ version: '0.7.0', feature: `${where}intelRdt` });
  }
  if (edits.additionalGids !== undefined && edits.additionalGids.length > 0) out.push({ version: '0.7.0', feature: `${where}additionalGids` });
  if (edits.deviceNodes?.some((n) => n.hostPath !== undefined)) out.push({ version: '0.5.0', feature: `${where}deviceNodes[].hostPath` });
  if (edits.mounts?.some((m) => m.type !== undefined)) out.push({ version: '0.4.0', feature: `${where}mounts[].type` });
  return out;
}

/** The features of a spec that need more than the first spec version, with their versions. */
export function versionFeatures(spec: Pick<CdiSpec, 'kind' | 'annotations' | 'devices' | 'containerEdits'>): VersionFeature[] {
  const out: VersionFeature[] = [];
  const cls = spec.kind.split('/')[1] ?? '';
  if (cls.includes('.')) out.push({ version: '0.6.0', feature: `a dot in the class of kind ${spec.kind}` });
  if (spec.annotations !== undefined) out.push({ version: '0.6.0', feature: 'annotations' });
  out.push(...editsFeatures(spec.containerEdits, 'containerEdits.'));
  for (const d of spec.devices) {
    if (d.annotations !== undefined) out.push({ version: '0.6.0', feature: `device ${d.name}: annotations` });
    if (/^[0-9]/.test(d.name)) out.push({ version: '0.5.0', feature: `device name ${d.name} starting with a digit` });
    out.push(...editsFeatures(d.containerEdits, `device ${d.name}: `));
  }
  return out;
}

/** The lowest version that can carry the spec's content. */
export function minimumVersion(spec: Pick<CdiSpec, 'kind' | 'annotations' | 'devices' | 'containerEdits'>): CdiVersion {
  let v: CdiVersion = CDI_VERSIONS[0];
  for (const f of versionFeatures(spec)) if (compareVersions(f.version, v) > 0) v = f.version;
  return v;
}

/** Fields that only add information: generation may drop them to stay readable by older engines. */
const OPTIONAL_FIELDS: { version: CdiVersion; drop(spec: CdiSpec): string | null }[] = [
  {
    version: '0.7.0',
    drop(spec) {
      const edits = [spec.containerEdits, ...spec.devices.map((d) => d.containerEdits)];
      let dropped = false;
      for (const e of edits) {
        if (e?.additionalGids !== undefined) {
          delete e.additionalGids;
          dropped = true;
        }
      }
      return dropped ? 'additionalGids (processes in the container then need the device nodes to be accessible to their own groups)' : null;
    },
  },
  {
    version: '0.6.0',
    drop(spec) {
      let dropped = spec.annotations !== undefined;
      delete spec.annotations;
      for (const d of spec.devices) {
        if (d.annotations !== undefined) dropped = true;
        delete d.annotations;
      }
      return dropped ? 'annotations' : null;
    },
  },
];

export interface VersionChoice {
  version: CdiVersion;
  warnings: string[];
}

/**
 * Settle the spec's version in place. `requested` 'auto': the minimum, after dropping optional
 * fields newer than `ceiling` (what every installed engine reads; null: no limit). An explicit
 * version must be at least the minimum (a lower one would make loaders refuse the spec).
 */
export function settleVersion(spec: CdiSpec, requested: 'auto' | string, ceiling: { version: CdiVersion; why: string } | null): VersionChoice {
  const warnings: string[] = [];
  if (requested !== 'auto') {
    if (!isCdiVersion(requested)) {
      throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${requested}: not a CDI spec version`, {
        field: 'cdi-version',
        hint: `use auto or one of ${CDI_VERSIONS.join(', ')}`,
      });
    }
    const needed = minimumVersion(spec);
    if (compareVersions(requested, needed) < 0) {
      const why = versionFeatures(spec)
        .filter((f) => compareVersions(f.version, requested) > 0)
        .map((f) => `${f.feature} (${f.version})`);
      throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `cdiVersion ${requested} cannot carry this spec: it uses ${why.join(', ')}`, {
        field: 'cdi-version',
        hint: `use \`cdiVersion\` auto or ${needed} or later`,
      });
    }
    spec.cdiVersion = requested;
    return { version: requested, warnings };
  }
  if (ceiling !== null) {
    for (const field of OPTIONAL_FIELDS) {
      if (compareVersions(minimumVersion(spec), ceiling.version) <= 0) break;
      if (compareVersions(field.version, ceiling.version) <= 0) continue;
      const what = field.drop(spec);
      if (what !== null) warnings.push(`left out ${what}: ${ceiling.why} reads CDI specs up to ${ceiling.version} only`);
    }
  }
  const version = minimumVersion(spec);
  if (ceiling !== null && compareVersions(version, ceiling.version) > 0) {
    warnings.push(`the spec needs cdiVersion ${version}, which ${ceiling.why} cannot read (it reads up to ${ceiling.version})`);
  }
  spec.cdiVersion = version;
  return { version, warnings };
}
