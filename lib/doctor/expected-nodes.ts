/** The NVIDIA device nodes this host's driver state calls for: the ones `nvc-ts modules nodes` makes. */
import { nodeOptionsSchema, wantedNodes, type WantedNode } from '../kmod/nodes';
import type { HostView } from './host-view';

export interface ExpectedNode extends WantedNode {
  /** Under /dev, e.g. "nvidia0". */
  name: string;
}

export async function expectedNodes(view: HostView): Promise<{ nodes: ExpectedNode[]; problems: string[] }> {
  const [gpus, wanted] = await Promise.all([view.gpus(), wantedNodes(view.paths.procRoot, view.paths.sysRoot, nodeOptionsSchema.parse({}))]);
  const problems: string[] = [];
  if (gpus.length > 0 && !wanted.some((n) => n.rel === 'nvidiactl'))
    problems.push(`${view.proc('devices')} lists no nvidia major though the driver shows ${gpus.length} GPU(s)`);
  for (const g of gpus) if (g.minor === null) problems.push(`${view.proc(`driver/nvidia/gpus/${g.busId}/information`)} has no Device Minor`);
  return { nodes: wanted.map((n) => ({ ...n, name: n.rel })), problems };
}
