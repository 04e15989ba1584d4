/**
 * The kernel modules containers need: nvidia, nvidia_uvm (CUDA fails with CUDA_ERROR_UNKNOWN
 * without it), and for display and /dev/dri nvidia_modeset and nvidia_drm (with modeset=1).
 */
import { result, worst, type Check } from '../check';
import { readOptionalText } from '../../bounded-read';
import { planKernelModules } from '../../kmod';
import type { CheckStatus, EvidenceValue } from '../types';

export const modulesCheck: Check = {
  id: 'modules',
  scope: 'host',
  async run(view) {
    const evidence: Record<string, EvidenceValue> = {};
    const statuses: CheckStatus[] = [];
    const problems: string[] = [];
    const fixes: string[] = [];
    const loaded = async (name: string) => {
      const yes = await view.moduleLoaded(name);
      evidence[name] = yes ? 'loaded' : 'not loaded';
      return yes;
    };
    const [nvidia, uvm, modeset, drm] = await Promise.all(['nvidia', 'nvidia_uvm', 'nvidia_modeset', 'nvidia_drm'].map(loaded));
    evidence.source = (await view.modules()) !== null ? view.proc('modules') : view.sys('module');
    if (!nvidia) {
      statuses.push('fail');
      problems.push('nvidia is not loaded: no GPU is usable');
      fixes.push('load it (`nvc-ts modules load`, or `modprobe nvidia`) and check `dmesg`');
    }
    if (!uvm) {
      statuses.push('fail');
      problems.push('nvidia_uvm is not loaded: CUDA programs fail with CUDA_ERROR_UNKNOWN (nvidia-smi still works)');
      fixes.push('load it (`nvc-ts modules load nvidia-uvm`, or `modprobe nvidia-uvm`) and make it load at boot');
    }
    if (!modeset || !drm) {
      statuses.push('warn');
      problems.push(
        `${[!modeset && 'nvidia_modeset', !drm && 'nvidia_drm'].filter(Boolean).join(' and ')} not loaded: no display and no /dev/dri render nodes for graphics or video`,
      );
      fixes.push('where containers need rendering, video or display, run `nvc-ts modules plan nvidia-drm` to see what loading it takes in this kernel');
    }
    if (drm) {
      const file = view.sys('module/nvidia_drm/parameters/modeset');
      const modesetParam = (await readOptionalText(file).catch(() => null))?.trim() ?? null;
      evidence[file] = modesetParam;
      if (modesetParam !== null && modesetParam !== 'Y') {
        statuses.push('warn');
        problems.push('nvidia_drm is loaded without modeset=1: no DRM KMS (Wayland, GBM and some video paths fail)');
        fixes.push('reload it with `modeset=1` (options nvidia-drm modeset=1 in /etc/modprobe.d)');
      }
    }
    // What `nvc-ts modules plan` would do for the modules not loaded, and why it cannot when it cannot.
    const absent = [!nvidia && 'nvidia', !uvm && 'nvidia-uvm', !modeset && 'nvidia-modeset', !drm && 'nvidia-drm'].filter((m): m is string => m !== false);
    if (absent.length > 0) {
      try {
        const plan = await planKernelModules({ root: view.paths.root, procRoot: view.paths.procRoot, sysRoot: view.paths.sysRoot, modules: absent });
        evidence['modules plan'] = plan.ok ? `would load ${plan.load.join(', ') || 'nothing'}` : `refused: ${plan.problems.map((p) => p.message).join('; ')}`;
        if (!plan.ok) fixes.push(`\`nvc-ts modules plan ${absent.join(' ')}\` explains what this kernel lacks`);
      } catch (e) {
        evidence['modules plan'] = `could not plan: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    const status = worst(statuses.length ? statuses : ['pass']);
    if (status === 'pass') return result('modules', 'pass', 'nvidia, nvidia_uvm, nvidia_modeset and nvidia_drm are loaded', evidence);
    return result('modules', status, problems.join('; '), evidence, `${fixes.join('; ')}.`);
  },
};
