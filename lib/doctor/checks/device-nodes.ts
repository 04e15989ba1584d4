/** Each NVIDIA device node present under the dev root with the right type, numbers, mode and owner. */
import { octal, result, worst, type Check } from '../check';
import { expectedNodes } from '../expected-nodes';
import { devMajor, devMinor, kindOf, lstatOrNull } from '../../bounded-read';
import type { CheckStatus, EvidenceValue } from '../types';

export const deviceNodesCheck: Check = {
  id: 'device-nodes',
  scope: 'host',
  async run(view) {
    const { nodes, problems } = await expectedNodes(view);
    const evidence: Record<string, EvidenceValue> = {};
    const statuses: CheckStatus[] = problems.length ? ['fail'] : [];
    const findings = [...problems];
    if (nodes.length === 0) return result('device-nodes', 'skip', 'no NVIDIA device is registered in /proc/devices', evidence);
    for (const node of nodes) {
      const file = view.dev(node.name);
      const st = await lstatOrNull(file);
      const want = `char ${node.major}:${node.minor}`;
      if (st === null) {
        statuses.push('fail');
        findings.push(`${file} is missing`);
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
        findings.push(`${file} is ${got}, want ${want}`);
        continue;
      }
      // The modes and owners the driver gives its nodes (DeviceFile* parameters, the capabilities' own modes).
      if ((st.mode & 0o777) !== node.mode) {
        statuses.push('warn');
        findings.push(`${file} has mode ${octal(st.mode & 0o777)}, the driver's is ${octal(node.mode)}`);
      }
      if (st.uid !== node.uid || st.gid !== node.gid) {
        statuses.push('warn');
        findings.push(`${file} is owned by ${st.uid}:${st.gid}, the driver's owner is ${node.uid}:${node.gid}`);
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
