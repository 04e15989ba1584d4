/** Every failure crosses the boundary as an NvcError with a stable `code`. */

export const NVC_ERROR_CODES = [
  'ERR_NVC_INVALID_ARGUMENT',
  'ERR_NVC_SYSTEM',
  'ERR_NVC_NO_MEMORY',
  'ERR_NVC_DRIVER_NOT_FOUND',
  'ERR_NVC_LDCACHE_INVALID',
  'ERR_NVC_PATH_ESCAPE',
  'ERR_NVC_NVML_LOAD_FAILED',
  'ERR_NVC_NVML',
  'ERR_NVC_VERSION_MISMATCH',
  'ERR_NVC_SERVICE_START',
  'ERR_NVC_SERVICE_CRASHED',
  'ERR_NVC_SERVICE_TIMEOUT',
  'ERR_NVC_SERVICE_PROTOCOL',
  'ERR_NVC_CONTEXT_CLOSED',
  // Raised by the TypeScript layer only.
  'ERR_NVC_UNKNOWN_DEVICE',
  /** A call's AbortSignal fired, or its timeoutMs passed, before it changed anything. */
  'ERR_NVC_ABORTED',
  /** configure on a rootfs whose targets are already mounted in that namespace. */
  'ERR_NVC_ALREADY_CONFIGURED',
  /** teardown with the record of another container's configure (another pid, start time or rootfs). */
  'ERR_NVC_WRONG_CONTAINER',
  'ERR_NVC_NATIVE_MISSING',
  'ERR_NVC_INVALID_REQUIREMENT',
  'ERR_NVC_REQUIREMENT_UNSATISFIED',
  // Kernel modules: a plan that cannot be carried out, a module the kernel refused or that is in use.
  'ERR_NVC_KERNEL_MODULE',
  // C core, cgroup device access (nvc_errors.def).
  'ERR_NVC_CGROUP',
  'ERR_NVC_PERMISSION',
  // C core, ldconfig for a container (nvc_errors.def).
  'ERR_NVC_LDCONFIG',
  // C core, the container-side executor nvc-ts-exec (nvc_errors.def).
  'ERR_NVC_MOUNT',
  'ERR_NVC_FILE_EXISTS',
  'ERR_NVC_INVALID_SOURCE',
  'ERR_NVC_NAMESPACE',
  'ERR_NVC_ROLLBACK_INCOMPLETE',
] as const;

export type NvcErrorCode = (typeof NVC_ERROR_CODES)[number];

export interface NvcErrorDetails {
  /** errno name of the failing system call, e.g. "ENOENT". */
  errno?: string;
  /** The step that failed: a system call, an NVML function, "ldcache", ... */
  syscall?: string;
  path?: string;
  /** For ERR_NVC_NVML: the NVML return code and its name. */
  nvmlReturn?: number;
  nvmlName?: string;
  /** For ERR_NVC_INVALID_ARGUMENT: the offending option, e.g. "timeoutMs". */
  field?: string;
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
}

const DETAIL_KEYS = ['errno', 'syscall', 'path', 'nvmlReturn', 'nvmlName', 'field', 'hint'] as const;

export class NvcError extends Error {
  override name = 'NvcError';
  readonly code: NvcErrorCode;
  // `declare`: set only when given, so that an error shows (and inspects as) just the details it has.
  declare readonly errno?: string;
  declare readonly syscall?: string;
  declare readonly path?: string;
  declare readonly nvmlReturn?: number;
  declare readonly nvmlName?: string;
  declare readonly field?: string;
  declare readonly hint?: string;

  constructor(code: NvcErrorCode, message: string, details: NvcErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    for (const key of DETAIL_KEYS) if (details[key] !== undefined) (this as unknown as Record<string, unknown>)[key] = details[key];
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const key of DETAIL_KEYS) if (this[key] !== undefined) out[key] = this[key];
    return out;
  }
}

export function isNvcError(value: unknown): value is NvcError {
  return value instanceof NvcError;
}
