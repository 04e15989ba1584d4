/** Turn the plain error objects the addon rejects with into NvcError, with a hint. */
import { shorten } from './quote';
import { NVC_ERROR_CODES, NvcError, type NvcErrorCode } from './errors';

const NVML_RETURN_NAMES: Record<number, string> = {
  1: 'NVML_ERROR_UNINITIALIZED',
  2: 'NVML_ERROR_INVALID_ARGUMENT',
  3: 'NVML_ERROR_NOT_SUPPORTED',
  4: 'NVML_ERROR_NO_PERMISSION',
  5: 'NVML_ERROR_ALREADY_INITIALIZED',
  6: 'NVML_ERROR_NOT_FOUND',
  7: 'NVML_ERROR_INSUFFICIENT_SIZE',
  8: 'NVML_ERROR_INSUFFICIENT_POWER',
  9: 'NVML_ERROR_DRIVER_NOT_LOADED',
  10: 'NVML_ERROR_TIMEOUT',
  11: 'NVML_ERROR_IRQ_ISSUE',
  12: 'NVML_ERROR_LIBRARY_NOT_FOUND',
  13: 'NVML_ERROR_FUNCTION_NOT_FOUND',
  14: 'NVML_ERROR_CORRUPTED_INFOROM',
  15: 'NVML_ERROR_GPU_IS_LOST',
  16: 'NVML_ERROR_RESET_REQUIRED',
  17: 'NVML_ERROR_OPERATING_SYSTEM',
  18: 'NVML_ERROR_LIB_RM_VERSION_MISMATCH',
  19: 'NVML_ERROR_IN_USE',
  20: 'NVML_ERROR_MEMORY',
  21: 'NVML_ERROR_NO_DATA',
  23: 'NVML_ERROR_INSUFFICIENT_RESOURCES',
  25: 'NVML_ERROR_ARGUMENT_VERSION_MISMATCH',
  27: 'NVML_ERROR_NOT_READY',
  28: 'NVML_ERROR_GPU_NOT_FOUND',
  29: 'NVML_ERROR_INVALID_STATE',
  999: 'NVML_ERROR_UNKNOWN',
};

const HINTS: Partial<Record<NvcErrorCode, string>> = {
  ERR_NVC_DRIVER_NOT_FOUND:
    'install the NVIDIA driver, or point `root` and `ldcache` at the driver root that has it (e.g. /run/nvidia/driver), or `nvmlPath` at the library; createSimulatedHost() from nvc-ts/testing builds a working host',
  ERR_NVC_LDCACHE_INVALID: 'regenerate the cache with `ldconfig` (inside the driver root: `ldconfig -r ROOT`)',
  ERR_NVC_NVML_LOAD_FAILED: 'the file is not a usable libnvidia-ml.so.1 for this machine: reinstall the driver or fix `nvmlPath`',
  ERR_NVC_VERSION_MISMATCH:
    'the kernel module and the user-space driver differ: reboot, or reload the nvidia modules after the driver upgrade; runDoctor() shows both versions and what holds /dev/nvidia* open',
  ERR_NVC_SERVICE_TIMEOUT: 'NVML is slow or stuck (is nvidia-persistenced running? hosts with many GPUs without persistence mode need a longer `timeoutMs`)',
  ERR_NVC_SERVICE_CRASHED: 'NVML crashed inside the driver service (Node was not affected): check `dmesg` and the driver installation',
  ERR_NVC_SERVICE_START: 'the driver service could not start: check that nvc-ts-driver is beside the addon and executable',
  ERR_NVC_CONTEXT_CLOSED: 'create a new context with init()',
  ERR_NVC_LDCONFIG:
    'the ldcache update failed: check the ldconfig named (use @/sbin/ldconfig.real for the host binary in `ldconfig`, or `noLdconfig` to skip) and its output above',
};

/** What to do about an NVML failure depends on which one it is. */
function nvmlHint(ret: number | undefined): string {
  switch (ret) {
    case 9:
      return 'the nvidia kernel module is not loaded or failed to initialise: check `lsmod | grep nvidia` and `dmesg`';
    case 4:
      return 'no permission to the GPU device nodes: run as root, or check the modes of /dev/nvidia*';
    case 15:
    case 16:
      return 'the GPU fell off the bus or needs a reset: check `dmesg`, reset the GPU or reboot';
    case 12:
      return 'NVML could not find a library it needs: reinstall the driver';
    default:
      return 'check `nvidia-smi` and `dmesg` on the host; run with --debug FILE for the calls made';
  }
}

interface NativeErrorShape {
  code?: unknown;
  message?: unknown;
  errno?: unknown;
  syscall?: unknown;
  path?: unknown;
  nvmlReturn?: unknown;
}

function isCode(value: unknown): value is NvcErrorCode {
  return typeof value === 'string' && (NVC_ERROR_CODES as readonly string[]).includes(value);
}

export function fromNative(error: unknown): NvcError {
  if (error instanceof NvcError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as NativeErrorShape;
  const code: NvcErrorCode = isCode(e.code) ? e.code : 'ERR_NVC_SYSTEM';
  // The C side names paths of the container's tree and NVML's strings: escaped here like every outside value.
  const message = shorten(typeof e.message === 'string' ? e.message : String(error), 2048);
  const nvmlReturn = typeof e.nvmlReturn === 'number' ? e.nvmlReturn : undefined;
  const details: ConstructorParameters<typeof NvcError>[2] = { cause: error };
  if (typeof e.errno === 'string') details.errno = e.errno;
  if (typeof e.syscall === 'string') details.syscall = e.syscall;
  if (typeof e.path === 'string') details.path = e.path;
  if (nvmlReturn !== undefined) {
    details.nvmlReturn = nvmlReturn;
    details.nvmlName = NVML_RETURN_NAMES[nvmlReturn] ?? `NVML error ${nvmlReturn}`;
  }
  const hint = code === 'ERR_NVC_NVML' ? nvmlHint(nvmlReturn) : HINTS[code];
  if (hint !== undefined) details.hint = hint;
  return new NvcError(code, message, details);
}
