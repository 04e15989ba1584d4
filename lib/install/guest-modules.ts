/**
 * Copy mode for a VM guest's own kernel: the driver's kernel modules, checked against the guest's
 * kernel release (vermagic), go to lib/modules/<release>/extra, and depmod indexes them so that
 * the guest's modprobe (and nvc-ts's module planner) finds them.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { NvcError } from '../errors';
import { driverModuleDirs } from '../kmod/planner';
import { readDriverModules } from '../kmod/module-tree';
import { readModuleInfo } from '../kmod/modinfo';
import { NVIDIA_MODULES } from '../kmod/names';
import type { InstallCopy } from '../plan/install-plan';

/** The driver's module files for `release`, as copies into the guest's tree; refuses a vermagic of another release. */
export async function guestModuleCopies(driverRoot: string, release: string, modulesDir?: string): Promise<InstallCopy[]> {
  const dirs = modulesDir !== undefined ? [modulesDir] : driverModuleDirs(driverRoot, path.join(driverRoot, 'lib/modules', release));
  const { dir, files } = await readDriverModules(dirs);
  const wanted = [...files.entries()].filter(([name]) => (NVIDIA_MODULES as readonly string[]).includes(name));
  if (wanted.length === 0) {
    throw new NvcError('ERR_NVC_KERNEL_MODULE', `no NVIDIA kernel module found for the guest (looked in ${dirs.join(', ')})`, {
      hint: 'install the driver with its kernel modules for that release, or name their directory in `modulesDir`',
    });
  }
  const out: InstallCopy[] = [];
  const wrong: string[] = [];
  for (const [name, file] of wanted.sort(([a], [b]) => a.localeCompare(b))) {
    const info = await readModuleInfo(file);
    const built = info.vermagic?.split(' ')[0];
    if (built !== release) wrong.push(`${name} (${path.basename(file)}) was built for ${built ?? 'an unknown release'}`);
    out.push({
      kind: 'copy',
      path: path.posix.join('/lib/modules', release, 'extra', path.basename(file)),
      source: file,
      item: { role: 'firmware', step: 'driver', path: file, hostPath: file, device: null },
    });
  }
  if (wrong.length > 0) {
    throw new NvcError(
      'ERR_NVC_KERNEL_MODULE',
      `the driver's modules in ${dir ?? dirs.join(', ')} do not match the guest kernel ${release}: ${wrong.join('; ')}`,
      {
        hint: `build the driver's modules for ${release} (or install the driver package for that kernel) and point modulesDir at them`,
      },
    );
  }
  return out;
}

/** depmod's index of the guest tree; its output files are written by depmod itself under ROOTFS. */
export function runDepmod(rootfs: string, release: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('depmod', ['-b', rootfs, release], { timeout: timeoutMs, env: { PATH: '/usr/sbin:/sbin:/usr/bin:/bin' } }, (err, _stdout, stderr) => {
      if (err === null) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new NvcError(
          'ERR_NVC_KERNEL_MODULE',
          missing ? 'depmod is not installed on this host' : `depmod -b ${rootfs} ${release} failed: ${stderr.trim().split('\n').slice(-2).join(' ')}`,
          {
            hint: missing ? 'install kmod (Debian/Ubuntu: apt-get install kmod), which provides depmod' : "check the guest's lib/modules tree",
          },
        ),
      );
    });
  });
}
