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

export class NvcError extends Error {
  override name = 'NvcError';
  readonly code: NvcErrorCode;
  readonly errno?: string;
  readonly syscall?: string;
  readonly path?: string;
  readonly nvmlReturn?: number;
  readonly nvmlName?: string;
  readonly field?: string;
  readonly hint?: string;

  constructor(code: NvcErrorCode, message: string, details: NvcErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.errno !== undefined) this.errno = details.errno;
    if (details.syscall !== undefined) this.syscall = details.syscall;
    if (details.path !== undefined) this.path = details.path;
    if (details.nvmlReturn !== undefined) this.nvmlReturn = details.nvmlReturn;
    if (details.nvmlName !== undefined) this.nvmlName = details.nvmlName;
    if (details.field !== undefined) this.field = details.field;
    if (details.hint !== undefined) this.hint = details.hint;
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const key of ['errno', 'syscall', 'path', 'nvmlReturn', 'nvmlName', 'field', 'hint'] as const) {
      if (this[key] !== undefined) out[key] = this[key];
    }
    return out;
  }
}

export function isNvcError(value: unknown): value is NvcError {
  return value instanceof NvcError;
}
