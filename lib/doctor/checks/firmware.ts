/**
 * GSP firmware: a GPU that runs it (the information file names its firmware version) needs
 * gsp_*.bin of the running driver version where the kernel looks for firmware: the
 * firmware_class path, then /lib/firmware and /usr/lib/firmware.
 */
import * as path from 'node:path';
import { result, type Check } from '../check';
import { readOptionalText, readdirOrEmpty } from '../read';
import type { EvidenceValue } from '../types';

export const firmwareCheck: Check = {
  id: 'firmware',
  scope: 'host',
  async run(view) {
    const [gpus, kernel] = await Promise.all([view.gpus(), view.kernelVersion()]);
    const gsp = gpus.filter((g) => g.firmware !== null);
    const evidence: Record<string, EvidenceValue> = {};
    for (const g of gpus) evidence[view.proc(`driver/nvidia/gpus/${g.busId}/information`)] = `GPU Firmware: ${g.firmware ?? 'N/A'}`;
    if (gsp.length === 0) return result('firmware', 'skip', 'no GPU runs GSP firmware', evidence);
    const version = gsp[0]?.firmware ?? kernel;
    const classFile = view.sys('module/firmware_class/parameters/path');
    const classPath = ((await readOptionalText(classFile).catch(() => null)) ?? '').trim();
    evidence[classFile] = classPath || '(empty)';
    const dirs = [...(classPath ? [classPath] : []), '/lib/firmware', '/usr/lib/firmware'].map((d) => path.posix.join(d, 'nvidia', version ?? ''));
    for (const dir of dirs) {
      const files = (await readdirOrEmpty(view.inRoot(dir))).filter((f) => /^gsp_.*\.bin$/.test(f));
      evidence[view.inRoot(dir)] = files.length ? files : 'no gsp_*.bin';
      if (files.length > 0) return result('firmware', 'pass', `GSP firmware ${version} found in ${dir} (${files.join(', ')})`, evidence);
    }
    return result(
      'firmware',
      'fail',
      `${gsp.length} GPU(s) run GSP firmware ${version}, but no gsp_*.bin for ${version} is in ${dirs.join(', ')}`,
      evidence,
      `install the firmware of driver ${version} (the driver package ships it under /lib/firmware/nvidia/${version}), or set the firmware_class path to where it is; the next driver load or GPU reset fails without it.`,
    );
  },
};
