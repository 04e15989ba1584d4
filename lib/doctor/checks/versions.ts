/**
 * The kernel module against the user-space driver: /proc/driver/nvidia/version, the versioned
 * files the root's ld.so.cache leads to, and NVML's own answer. A mismatch is the cause of
 * "Failed to initialize NVML: Driver/library version mismatch".
 */
import { result, type Check } from '../check';
import { VERSION_SONAMES } from '../host-view';
import type { EvidenceValue } from '../types';

const I386 = 0x0003;

export const versionsCheck: Check = {
  id: 'versions',
  scope: 'host',
  async run(view) {
    const versionFile = view.proc('driver/nvidia/version');
    const [kernel, libs, installed, nvml] = await Promise.all([view.kernelVersion(), view.cachedDriverLibraries(), view.installedVersions(), view.nvml()]);
    const evidence: Record<string, EvidenceValue> = { [versionFile]: kernel };
    for (const lib of libs.filter((l) => VERSION_SONAMES.includes(l.soname)))
      evidence[`ld.so.cache ${lib.soname}${lib.flags === I386 ? ' (32-bit)' : ''}`] = lib.file ?? `${lib.cachePath} (does not resolve)`;
    evidence.nvml = nvml.ok ? `${nvml.driver.version} (in ${nvml.ms} ms)` : `${nvml.error.code}: ${nvml.error.message}`;
    const userSpace = [...new Set(libs.filter((l) => VERSION_SONAMES.includes(l.soname) && l.version !== null).map((l) => l.version as string))].sort();
    const sideBySide = [...installed.keys()].sort();
    if (sideBySide.length > 1) {
      evidence['versions installed'] = sideBySide.map((v) => `${v}: ${(installed.get(v) ?? []).length} files`);
      for (const v of sideBySide.filter((v) => v !== kernel)) evidence[`files of ${v}`] = (installed.get(v) ?? []).slice(0, 20);
    }

    if (kernel === null) {
      return result(
        'versions',
        'fail',
        `the nvidia kernel module is not loaded (${versionFile} is missing)`,
        evidence,
        'load the driver (`nvc-ts modules load`, or `modprobe nvidia`), and check `dmesg` for why it did not load at boot.',
      );
    }
    const holders = await view.deviceHolders();
    const reload = `reboot, or unload and reload the nvidia modules (\`nvc-ts modules unload\`, then \`nvc-ts modules load\`) once nothing holds /dev/nvidia*${holders.length ? ` (held now by ${holders.slice(0, 5).join('; ')})` : ''}.`;
    const other = userSpace.filter((v) => v !== kernel);
    if (other.length > 0) {
      return result(
        'versions',
        'fail',
        `kernel module ${kernel} but user-space driver ${other.join(', ')}: NVML and CUDA will refuse to start`,
        evidence,
        `the driver was upgraded without reloading the kernel module: ${reload}`,
      );
    }
    if (!nvml.ok && nvml.error.code === 'ERR_NVC_VERSION_MISMATCH') {
      return result('versions', 'fail', `NVML reports a driver/library version mismatch (kernel module ${kernel})`, evidence, reload);
    }
    if (userSpace.length === 0) {
      return result(
        'versions',
        'fail',
        `kernel module ${kernel}, but the root's ld.so.cache leads to no versioned libnvidia-ml or libcuda`,
        evidence,
        'install the user-space driver of the same version, or run ldconfig in the driver root (`ldconfig -r ROOT`).',
      );
    }
    const stale = sideBySide.filter((v) => v !== kernel);
    if (stale.length > 0) {
      return result(
        'versions',
        'warn',
        `kernel module and user-space driver ${kernel}; other versions installed side by side: ${stale.join(', ')}`,
        evidence,
        `remove the libraries of ${stale.join(', ')} (left by an earlier driver): a container or program that loads them by their versioned name fails.`,
      );
    }
    return result('versions', 'pass', `kernel module and user-space driver ${kernel}${nvml.ok ? ', NVML agrees' : ''}`, evidence);
  },
};
