/**
 * The cgroup layout and whether this user can program device access in it: cgroup v1 through its
 * devices controller's devices.allow, cgroup v2 through a BPF program (CAP_SYS_ADMIN or CAP_BPF).
 * Read from this process's own /proc: device rules are written from where nvc-ts runs.
 */
import { promises as fsp, constants } from 'node:fs';
import * as path from 'node:path';
import { result, type Check } from '../check';
import { readOptionalText } from '../../bounded-read';
import { parseMountinfo } from '../../mountinfo';
import type { EvidenceValue } from '../types';

const CAP_SYS_ADMIN = 21n;
const CAP_BPF = 39n;

export interface CgroupMount {
  mountPoint: string;
  fsType: 'cgroup' | 'cgroup2';
  superOptions: string[];
}

export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  return parseMountinfo(mountinfo).filter((m): m is CgroupMount => m.fsType === 'cgroup' || m.fsType === 'cgroup2');
}

/** The proc of this process: the driver's proc root when it has one (a real host), else this machine's. */
async function selfProc(procRoot: string): Promise<string> {
  try {
    await fsp.access(path.join(procRoot, 'self/mountinfo'));
    return procRoot;
  } catch {
    return '/proc';
  }
}

export const cgroupsCheck: Check = {
  id: 'cgroups',
  scope: 'host',
  async run(view) {
    const proc = await selfProc(view.paths.procRoot);
    const [mountinfo, cgroupText, status] = await Promise.all(
      ['self/mountinfo', 'self/cgroup', 'self/status'].map((f) => readOptionalText(path.join(proc, f)).then((t) => t ?? '')),
    );
    const mounts = parseCgroupMounts(mountinfo);
    const devicesV1 = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('devices'));
    const v2 = mounts.find((m) => m.fsType === 'cgroup2');
    const layout = devicesV1 && v2 ? 'hybrid' : devicesV1 ? 'v1' : v2 ? 'v2' : 'none';
    const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
    const uid = /^Uid:\s*\d+\s+(\d+)/m.exec(status)?.[1] ?? '?';
    const evidence: Record<string, EvidenceValue> = {
      layout,
      [path.join(proc, 'self/mountinfo')]: mounts.map(
        (m) => `${m.fsType} ${m.mountPoint}${m.fsType === 'cgroup' ? ` (${m.superOptions.filter((o) => !['rw', 'ro'].includes(o)).join(',')})` : ''}`,
      ),
      'effective uid': uid,
      CapEff: `0x${capEff.toString(16)}`,
    };
    if (layout === 'none')
      return result(
        'cgroups',
        'warn',
        'no cgroup filesystem is mounted: device access cannot be confined',
        evidence,
        'mount cgroup2 at /sys/fs/cgroup (systemd does this at boot).',
      );
    const notRootFix =
      "run configure and the hook as root, or pass --no-cgroups and let the runtime own device rules (CDI puts the nodes in the OCI spec's linux.devices).";
    if (devicesV1) {
      const own = /^\d+:(?:[^:]*,)?devices(?:,[^:]*)?:(.*)$/m.exec(cgroupText)?.[1] ?? '/';
      const allow = path.join(devicesV1.mountPoint, own, 'devices.allow');
      let writable = false;
      try {
        await fsp.access(allow, constants.W_OK);
        writable = true;
      } catch {
        writable = false;
      }
      evidence[allow] = writable ? 'writable' : 'not writable';
      if (!writable)
        return result('cgroups', 'fail', `cgroup ${layout} (devices controller on v1): this user (uid ${uid}) cannot write ${allow}`, evidence, notRootFix);
      return result('cgroups', 'pass', `cgroup ${layout}: device rules go through the v1 devices controller, which this user can program`, evidence);
    }
    const capable = ((capEff >> CAP_SYS_ADMIN) & 1n) === 1n || ((capEff >> CAP_BPF) & 1n) === 1n;
    if (!capable)
      return result(
        'cgroups',
        'fail',
        `cgroup v2: device rules need a BPF program, and this user (uid ${uid}) has neither CAP_SYS_ADMIN nor CAP_BPF`,
        evidence,
        notRootFix,
      );
    return result('cgroups', 'pass', 'cgroup v2: device rules go through a BPF program, which this user can attach', evidence);
  },
};
