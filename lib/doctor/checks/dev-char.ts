/**
 * /dev/char/MAJ:MIN links for the NVIDIA nodes. Under the systemd cgroup driver, systemd
 * re-applies a unit's device rules on `systemctl daemon-reload` by resolving /dev/char links;
 * without them it drops the GPUs' rules and running containers lose their GPUs.
 */
import * as path from 'node:path';
import { promises as fsp } from 'node:fs';
import { result, type Check } from '../check';
import { expectedNodes } from '../expected-nodes';
import { readOptionalText } from '../../bounded-read';
import type { EvidenceValue } from '../types';

export const devCharCheck: Check = {
  id: 'dev-char',
  scope: 'host',
  async run(view) {
    const init = ((await readOptionalText(view.proc('1/comm')).catch(() => null)) ?? '').trim();
    const evidence: Record<string, EvidenceValue> = { [view.proc('1/comm')]: init || null };
    if (init !== 'systemd')
      return result('dev-char', 'skip', `PID 1 is ${init ? `"${init}"` : 'unknown'}, not systemd: no daemon-reload can drop device rules`, evidence);
    const { nodes } = await expectedNodes(view);
    const missing: string[] = [];
    for (const node of nodes) {
      const link = view.dev(`char/${node.major}:${node.minor}`);
      const target = await fsp.readlink(link).catch(() => null);
      const resolves = target !== null && path.resolve(path.dirname(link), target) === view.dev(node.name);
      evidence[link] = target === null ? 'missing' : resolves ? target : `${target} (not ${view.dev(node.name)})`;
      if (!resolves) missing.push(`${node.major}:${node.minor} (${node.name})`);
    }
    if (missing.length === 0) return result('dev-char', 'pass', `systemd host: /dev/char links exist for all ${nodes.length} NVIDIA nodes`, evidence);
    return result(
      'dev-char',
      'fail',
      `systemd host without /dev/char links for ${missing.join(', ')}: after \`systemctl daemon-reload\` containers under the systemd cgroup driver lose access to these GPUs`,
      evidence,
      'create the links with `nvc-ts modules nodes` (it makes /dev/char/MAJ:MIN for every NVIDIA node), and run it again whenever the driver creates new nodes.',
    );
  },
};
