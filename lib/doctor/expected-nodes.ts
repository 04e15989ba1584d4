/** The NVIDIA device nodes this host's driver state calls for, with the numbers /proc gives them. */
import type { HostView } from './host-view';

export interface ExpectedNode {
  /** Under /dev, e.g. "nvidia0". */
  name: string;
  major: number;
  minor: number;
  /** Why it is expected, for evidence. */
  reason: string;
}

const NVIDIA_MAJOR = 195;
const CTL_MINOR = 255;
const MODESET_MINOR = 254;

export async function expectedNodes(view: HostView): Promise<{ nodes: ExpectedNode[]; problems: string[] }> {
  const [majors, gpus, modeset] = await Promise.all([view.devices(), view.gpus(), view.moduleLoaded('nvidia_modeset')]);
  const nodes: ExpectedNode[] = [];
  const problems: string[] = [];
  const nvidia = majors.get('nvidiactl') ?? majors.get('nvidia');
  if (nvidia === undefined) {
    if (gpus.length > 0) problems.push(`${view.proc('devices')} lists no nvidia major though the driver shows ${gpus.length} GPU(s)`);
    return { nodes, problems };
  }
  if (nvidia !== NVIDIA_MAJOR) problems.push(`the nvidia major is ${nvidia}, not ${NVIDIA_MAJOR}`);
  nodes.push({ name: 'nvidiactl', major: nvidia, minor: CTL_MINOR, reason: 'control device' });
  for (const g of gpus) {
    if (g.minor === null) problems.push(`${view.proc(`driver/nvidia/gpus/${g.busId}/information`)} has no Device Minor`);
    else nodes.push({ name: `nvidia${g.minor}`, major: nvidia, minor: g.minor, reason: `GPU ${g.busId}` });
  }
  const uvm = majors.get('nvidia-uvm');
  if (uvm !== undefined) {
    nodes.push({ name: 'nvidia-uvm', major: uvm, minor: 0, reason: 'nvidia_uvm (CUDA)' });
    nodes.push({ name: 'nvidia-uvm-tools', major: uvm, minor: 1, reason: 'nvidia_uvm (profilers)' });
  }
  if (modeset) nodes.push({ name: 'nvidia-modeset', major: nvidia, minor: MODESET_MINOR, reason: 'nvidia_modeset' });
  return { nodes, problems };
}
