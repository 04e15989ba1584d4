/** NVML itself, loaded in the driver service: does it answer, and how fast. A hang is a failure, not a hung doctor. */
import { result, type Check } from '../check';

const FIXES: Record<string, string> = {
  ERR_NVC_SERVICE_TIMEOUT:
    'NVML is stuck: check `dmesg` for Xid errors and whether a GPU fell off the bus; enabling persistence mode (`nvidia-smi -pm 1` or nvidia-persistenced) avoids slow initialisation.',
  ERR_NVC_SERVICE_CRASHED: 'NVML crashed while loading or answering: check `dmesg` and reinstall the user-space driver.',
  ERR_NVC_DRIVER_NOT_FOUND: 'no libnvidia-ml.so.1 in the driver root: install the driver, or point --root/--nvml at it.',
  ERR_NVC_NVML_LOAD_FAILED: 'the NVML library found is not usable on this machine: reinstall the user-space driver.',
  ERR_NVC_VERSION_MISMATCH: 'the kernel module and the libraries differ: see the versions check.',
};

export const nvmlCheck: Check = {
  id: 'nvml',
  scope: 'host',
  async run(view) {
    const answer = await view.nvml();
    if (answer.ok) {
      return result('nvml', 'pass', `NVML ${answer.driver.version} answered in ${answer.ms} ms: ${answer.devices.length} GPU(s)`, {
        'driver version': answer.driver.version,
        'CUDA version': answer.driver.cudaVersion,
        GPUs: answer.devices.map((d) => `${d.index}: ${d.model} ${d.busId}`),
      });
    }
    const e = answer.error;
    return result(
      'nvml',
      'fail',
      `NVML did not answer: ${e.message}`,
      { code: e.code, 'after ms': answer.ms, ...(e.syscall !== undefined && { step: e.syscall }) },
      FIXES[e.code] ?? e.hint ?? 'check `nvidia-smi` and `dmesg` on the host.',
    );
  },
};
