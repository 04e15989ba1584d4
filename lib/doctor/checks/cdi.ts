/**
 * CDI specs on this host against the live driver, read-only (the same check as `nvc-ts cdi check`):
 * host paths present with the right types and numbers, libraries of the running driver version,
 * every GPU's nodes named, and a cdiVersion the installed engines can read.
 */
import { result, type Check } from '../check';
import { checkSpecs } from '../../cdi/check';
import { probeInstalledEngines } from '../../cdi/engines';
import { DEFAULT_SPEC_DIRS, loadRegistry } from '../../cdi/registry';
import { readHostFacts } from '../../host-facts';
import type { EvidenceValue } from '../types';

export const cdiCheck: Check = {
  id: 'cdi',
  scope: 'host',
  async run(view) {
    const dirs = view.options.cdiSpecDirs ?? DEFAULT_SPEC_DIRS.map((d) => view.inRoot(d));
    const reg = await loadRegistry(dirs);
    const evidence: Record<string, EvidenceValue> = {
      'spec directories': dirs,
      'spec files': reg.specs.map((s) => `${s.file} (cdiVersion ${s.spec.cdiVersion})`),
    };
    if (reg.problems.length > 0) evidence['unreadable specs'] = reg.problems.map((p) => p.message);
    if (reg.specs.length === 0 && reg.problems.length === 0) {
      return result('cdi', 'skip', `no CDI spec in ${dirs.join(' or ')} (nothing to check; engines that use CDI need one: \`nvc-ts cdi generate\`)`, evidence);
    }
    const nvml = await view.nvml();
    if (!nvml.ok) return result('cdi', 'skip', 'NVML did not answer, so the specs cannot be compared with the GPUs (see the nvml check)', evidence);
    const facts = await readHostFacts(view.paths, nvml.driver, nvml.devices, { migMinors: true });
    const problems = [...reg.problems.map((p) => p.message), ...checkSpecs({ specs: reg.specs, facts, engines: await probeInstalledEngines() })];
    if (problems.length === 0) return result('cdi', 'pass', `${reg.specs.length} CDI spec(s) match the running driver and this host's GPUs`, evidence);
    evidence.problems = problems.slice(0, 50);
    return result(
      'cdi',
      'fail',
      `${problems.length} problem(s) in the CDI specs: ${problems[0]}${problems.length > 1 ? ', ...' : ''}`,
      evidence,
      'regenerate them with `nvc-ts cdi refresh` (it writes only once the driver is ready and the new spec checks clean); a stale spec makes containers fail to start.',
    );
  },
};
