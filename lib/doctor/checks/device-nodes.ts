/** Each NVIDIA device node present under the dev root with the right type, numbers, mode and owner. */
import { octal, result, worst, type Check } from '../check';
import { expectedNodes } from '../expected-nodes';
import { devMajor, devMinor, kindOf, lstatOrNull } from '../read';
import type { CheckStatus, EvidenceValue } from '../types';

export const deviceNodesCheck: Check = {
  id: 'device-nodes',
  scope: 'host',
  async run(view) {
    const [{ nodes, problems }, params] = await Promise.all([expectedNodes(view), view.params()]);
    const evidence: Record<string, EvidenceValue> = {};
    const statuses: CheckStatus[] = problems.length ? ['fail'] : [];
    const findings = [...problems];
    const mode = params.has('DeviceFileMode') ? Number(params.get('DeviceFileMode')) : null;
    const uid = params.has('DeviceFileUID') ? Number(params.get('DeviceFileUID')) : null;
    const gid = params.has('DeviceFileGID') ? Number(params.get('DeviceFileGID')) : null;
    if (mode !== null) evidence[view.proc('driver/nvidia/params')] = `DeviceFileMode ${octal(mode)}, DeviceFileUID ${uid}, DeviceFileGID ${gid}`;
    if (nodes.length === 0) return result('device-nodes', 'skip', 'no NVIDIA device is registered in /proc/devices', evidence);
    for (const node of nodes) {
      const file = view.dev(node.name);
      const st = await lstatOrNull(file);
      const want = `char ${node.major}:${node.minor}`;
      if (st === null) {
        statuses.push('fail');
        findings.push(`${file} is missing (${node.reason})`);
        evidence[file] = `missing, want ${want}`;
        continue;
      }
      if (!st.isCharacterDevice()) {
        statuses.push('fail');
        findings.push(`${file} is ${kindOf(st)}, not a character device`);
        evidence[file] = `${kindOf(st)}, want ${want}`;
        continue;
      }
      const got = `char ${devMajor(st.rdev)}:${devMinor(st.rdev)}`;
      evidence[file] = `${got} ${octal(st.mode)} ${st.uid}:${st.gid}`;
      if (got !== want) {
        statuses.push('fail');
        findings.push(`${file} is ${got}, want ${want} (${node.reason})`);
        continue;
      }
      // nvidia-uvm-tools and the control nodes follow the same DeviceFile* parameters.
      if (mode !== null && (st.mode & 0o777) !== (mode & 0o777)) {
        statuses.push('warn');
        findings.push(`${file} has mode ${octal(st.mode & 0o777)}, the driver's DeviceFileMode is ${octal(mode)}`);
      }
      if ((uid !== null && st.uid !== uid) || (gid !== null && st.gid !== gid)) {
        statuses.push('warn');
        findings.push(`${file} is owned by ${st.uid}:${st.gid}, the driver's DeviceFileUID:GID is ${uid}:${gid}`);
      }
    }
    const status = worst(statuses.length ? statuses : ['pass']);
    if (status === 'pass') return result('device-nodes', 'pass', `${nodes.length} NVIDIA device nodes present with the driver's numbers and modes`, evidence);
    return result(
      'device-nodes',
      status,
      findings.join('; '),
      evidence,
      status === 'fail'
        ? 'recreate the nodes with `nvc-ts modules nodes` (or nvidia-modprobe); a node with wrong numbers must be removed first, as it would give containers the wrong device.'
        : 'set the nodes to the mode and owner the driver parameters ask for (or change NVreg_DeviceFileMode/UID/GID); users outside the group cannot open the GPU otherwise.',
    );
  },
};
