/** Security modules and sandboxes that change device access: SELinux, AppArmor, NVSwitch device-file handling, WSL. */
import { result, type Check } from '../check';
import { lstatOrNull, readOptionalText, readdirOrEmpty } from '../../bounded-read';
import type { EvidenceValue } from '../types';

export const securityCheck: Check = {
  id: 'security',
  scope: 'host',
  async run(view) {
    const evidence: Record<string, EvidenceValue> = {};
    const warnings: string[] = [];
    const fixes: string[] = [];
    const read = async (file: string) => ((await readOptionalText(file).catch(() => null)) ?? null)?.trim() ?? null;
    const selinuxFile = view.sys('fs/selinux/enforce');
    const selinux = await read(selinuxFile);
    evidence[selinuxFile] = selinux;
    if (selinux === '1') {
      warnings.push('SELinux is enforcing');
      fixes.push('containers need a policy that allows the NVIDIA devices (e.g. `setsebool -P container_use_devices on`)');
    }
    const apparmorFile = view.sys('module/apparmor/parameters/enabled');
    evidence[apparmorFile] = await read(apparmorFile);
    const params = await view.params();
    const modify = params.get('ModifyDeviceFiles') ?? null;
    evidence[view.proc('driver/nvidia/params')] = modify === null ? null : `ModifyDeviceFiles: ${modify}`;
    const switches = await readdirOrEmpty(view.proc('driver/nvidia-nvswitch/devices'));
    evidence[view.proc('driver/nvidia-nvswitch/devices')] = switches;
    if (switches.length > 0 && modify === '1') {
      warnings.push(`NVSwitch host (${switches.length} switches) with ModifyDeviceFiles: 1`);
      fixes.push('set NVreg_ModifyDeviceFiles=0 so that the driver does not recreate device files that the runtime manages (fabric manager hosts)');
    }
    const dxg = await lstatOrNull(view.dev('dxg'));
    const kernelVersion = (await read(view.proc('version'))) ?? '';
    evidence[view.dev('dxg')] = dxg === null ? 'missing' : 'present';
    if (dxg !== null || /microsoft/i.test(kernelVersion)) {
      warnings.push('this is WSL2: GPUs are reached through /dev/dxg and libdxcore, not /dev/nvidia*');
      fixes.push("use the NVIDIA Container Toolkit's WSL support; nvc-ts configures /dev/nvidia* hosts only");
    }
    if (warnings.length === 0) return result('security', 'pass', 'no security module or sandbox in the way of device access', evidence);
    return result('security', 'warn', warnings.join('; '), evidence, `${fixes.join('; ')}.`);
  },
};
