/**
 * Persistence mode or nvidia-persistenced: without either the driver tears the GPUs down when the
 * last client leaves, and every container start pays seconds of re-initialisation.
 */
import { result, type Check } from '../check';
import { lstatOrNull } from '../read';
import type { EvidenceValue } from '../types';

export const persistenceCheck: Check = {
  id: 'persistence',
  scope: 'host',
  async run(view) {
    const socketPath = view.inRoot('/run/nvidia-persistenced/socket');
    const [nvml, daemons, socket] = await Promise.all([view.nvml(), view.processesNamed('nvidia-persistenced'), lstatOrNull(socketPath)]);
    const evidence: Record<string, EvidenceValue> = {
      'nvidia-persistenced processes': daemons.map(String),
      [socketPath]: socket === null ? 'missing' : socket.isSocket() ? 'socket' : 'not a socket',
    };
    if (!nvml.ok) {
      evidence.nvml = nvml.error.message;
      if (daemons.length > 0) return result('persistence', 'pass', `nvidia-persistenced runs (pid ${daemons.join(', ')})`, evidence);
      return result('persistence', 'skip', 'NVML did not answer, so the GPUs persistence mode is unknown (see the nvml check)', evidence);
    }
    const modes = nvml.devices.map((d) => ({ gpu: `${d.index} ${d.busId}`, mode: d.persistenceMode }));
    evidence['persistence mode (NVML)'] = modes.map((m) => `${m.gpu}: ${m.mode === null ? 'unknown' : m.mode ? 'on' : 'off'}`);
    const off = modes.filter((m) => m.mode === false);
    if (daemons.length > 0) {
      if (socket === null || !socket.isSocket()) {
        return result(
          'persistence',
          'warn',
          `nvidia-persistenced runs but ${socketPath} is not its socket: containers cannot reach it`,
          evidence,
          'start nvidia-persistenced with its default socket directory, or pass --no-persistenced to configure.',
        );
      }
      return result('persistence', 'pass', `nvidia-persistenced runs (pid ${daemons.join(', ')})`, evidence);
    }
    if (off.length === 0) return result('persistence', 'pass', `persistence mode is on for ${modes.length} GPU(s)`, evidence);
    return result(
      'persistence',
      'warn',
      `persistence mode is off on GPU ${off.map((m) => m.gpu).join(', ')} and nvidia-persistenced is not running: every container start can cost seconds of GPU initialisation`,
      evidence,
      'run nvidia-persistenced (the driver ships a systemd unit), or enable persistence mode with `nvidia-smi -pm 1`.',
    );
  },
};
