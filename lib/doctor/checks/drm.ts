/** Each GPU's DRM nodes (card and render) by PCI bus id, present under /dev/dri with sysfs's numbers. */
import * as path from 'node:path';
import { result, type Check } from '../check';
import { devMajor, devMinor, kindOf, lstatOrNull, readOptionalText, readdirOrEmpty } from '../../bounded-read';
import type { EvidenceValue } from '../types';

export const drmCheck: Check = {
  id: 'drm',
  scope: 'host',
  async run(view) {
    const evidence: Record<string, EvidenceValue> = {};
    if (!(await view.moduleLoaded('nvidia_drm'))) {
      return result('drm', 'skip', 'nvidia_drm is not loaded: no GPU has /dev/dri nodes (see the modules check)', evidence);
    }
    const gpus = await view.gpus();
    const problems: string[] = [];
    let count = 0;
    for (const gpu of gpus) {
      const dir = view.sys(`bus/pci/devices/${gpu.busId.toLowerCase()}/drm`);
      const names = (await readdirOrEmpty(dir)).filter((n) => /^(card|renderD)\d+$/.test(n));
      evidence[dir] = names;
      if (names.length === 0) problems.push(`GPU ${gpu.busId} has no DRM node in ${dir}`);
      for (const name of names) {
        const numbers = ((await readOptionalText(path.join(dir, name, 'dev')).catch(() => null)) ?? '').trim();
        const node = view.dev(`dri/${name}`);
        const st = await lstatOrNull(node);
        const got = st === null ? 'missing' : st.isCharacterDevice() ? `${devMajor(st.rdev)}:${devMinor(st.rdev)}` : kindOf(st);
        evidence[node] = `${got} (sysfs ${numbers || '?'})`;
        count++;
        if (got !== numbers) problems.push(`${node} is ${got}, sysfs says ${numbers || '?'}`);
      }
    }
    if (problems.length === 0) return result('drm', 'pass', `${count} DRM nodes for ${gpus.length} GPU(s) match sysfs`, evidence);
    return result(
      'drm',
      'fail',
      problems.join('; '),
      evidence,
      'let udev recreate the nodes (`udevadm trigger --subsystem-match=drm`), or reload nvidia_drm; CDI specs that name the old nodes must be regenerated.',
    );
  },
};
