/** zod schemas for every input accepted at the package boundary, and the one conversion of their issues to NvcError. */
import * as path from 'node:path';
import { z } from 'zod';
import { NvcError } from './errors';
import { CAPABILITIES } from './types';

const MAX_PATH = 4095;

export const absolutePathSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_PATH, `must be at most ${MAX_PATH} characters`)
  .refine((p) => p.startsWith('/'), 'must be an absolute path (starting with /)')
  .refine((p) => !p.includes('\0'), 'must not contain a NUL byte');

const idSchema = z.number().int('must be an integer').min(0, 'must be >= 0').max(4294967294, 'must be < 4294967295');

/** "UID[:GID]" with numbers or names, or explicit ids. */
export const userSchema = z.union([
  z.string().regex(/^[A-Za-z0-9_.][A-Za-z0-9_.-]*(:[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$/, 'must look like UID[:GID] or NAME[:GROUP]'),
  z.object({ uid: idSchema, gid: idSchema }).strict(),
]);

export const initOptionsSchema = z
  .object({
    /** Driver root on the host (default "/"). */
    root: absolutePathSchema.optional(),
    /** ld.so.cache path inside the driver root (default "/etc/ld.so.cache"). */
    ldcache: absolutePathSchema.optional(),
    /** Host path of the driver's /proc (default <root>/proc). */
    procRoot: absolutePathSchema.optional(),
    /** Host path of the /dev holding the device nodes (default <root>/dev). */
    devRoot: absolutePathSchema.optional(),
    /** Host path of /sys (default "/sys"). */
    sysRoot: absolutePathSchema.optional(),
    /** Host path of the NVML library to load (default: libnvidia-ml.so.1 from the driver root's ld.so.cache). */
    nvmlPath: absolutePathSchema.optional(),
    /** Identity of the driver service (default: nobody when root, yourself otherwise). */
    user: userSchema.optional(),
    /** Per-call timeout of the driver service in milliseconds (default 10000). */
    timeoutMs: z.number().int('must be an integer').min(1, 'must be >= 1').max(3_600_000, 'must be at most one hour').optional(),
    /** Colon list of directories inside the root searched for driver binaries (default: $PATH, then the standard ones). */
    binPath: z
      .string()
      .max(8191, 'must be at most 8191 characters')
      .refine((p) => !p.includes('\0'), 'must not contain a NUL byte')
      .optional(),
    /**
     * Load the driver's kernel modules before discovery, as nvidia-container-cli -k does: nvidia and
     * nvidia-uvm (and nvidia-modeset with { display: true }), then their device nodes. A no-op when
     * they are loaded and their nodes exist.
     */
    loadKernelModules: z.union([z.boolean(), z.object({ display: z.boolean().optional() }).strict()]).optional(),
    /** Called with each event of the context's calls (what was selected, applied, skipped, refused); see lib/events.ts. */
    logger: z.custom<(event: never) => void>((v) => typeof v === 'function', 'must be a function').optional(),
  })
  .strict();

export type InitOptions = z.input<typeof initOptionsSchema>;
export type UserSpec = z.infer<typeof userSchema>;

export const containerOptionsSchema = z
  .object({
    /** The container's init process: its mount namespace is the one changed. Omitted: this process's namespace. */
    pid: z.number().int('must be an integer').positive('must be a process id').optional(),
    /** Host path of the container's root filesystem (before pivot_root). */
    rootfs: absolutePathSchema.refine((p) => path.resolve(p) !== '/', 'must not be / (the host root)'),
    libsDir: absolutePathSchema.optional(),
    libs32Dir: absolutePathSchema.optional(),
    binsDir: absolutePathSchema.optional(),
    /** "@/host/path" runs the host's ldconfig from a sealed copy; "/path" runs the container's own. */
    ldconfig: z
      .string()
      .max(4096, 'must be at most 4096 characters')
      .regex(/^@?\//, 'must be an absolute path, optionally prefixed by @ for a host binary')
      .refine((p) => !p.includes('\0'), 'must not contain a NUL byte')
      .optional(),
    /**
     * ldconfig enters the rootfs by moving it over / and chrooting (nvidia-container-cli
     * --no-pivot), for a rootfs where pivot_root fails (ramfs/initramfs roots).
     */
    noPivot: z.boolean().optional(),
  })
  .strict();
export type ContainerOptions = z.input<typeof containerOptionsSchema>;

export const configureRequestSchema = z
  .object({
    /** GPUs to give: indices, GPU-/MIG- UUIDs, PCI bus ids, gpu:mig pairs, or "all". Omitted: none (driver only). */
    devices: z.union([z.string(), z.array(z.string())]).optional(),
    capabilities: z.array(z.enum(CAPABILITIES)).default([]),
    compat32: z.boolean().default(false),
    /** Requirement expressions (`cuda>=12.0 brand=tesla,driver>=535`...), all of which must hold. */
    require: z.array(z.string()).default([]),
    migConfig: z.union([z.string(), z.array(z.string())]).optional(),
    migMonitor: z.union([z.string(), z.array(z.string())]).optional(),
    imexChannels: z.union([z.string(), z.array(z.string())]).optional(),
    noCgroups: z.boolean().default(false),
    noDevbind: z.boolean().default(false),
    noPersistenced: z.boolean().default(false),
    noFabricmanager: z.boolean().default(false),
    noGspFirmware: z.boolean().default(false),
    /** Skip the ldcache update. */
    noLdconfig: z.boolean().default(false),
    /**
     * CUDA forward compatibility with compute (lib/plan/cuda-compat.ts): the image's newer compat
     * libraries go first on the ldconfig run ("ldconfig", the default), are linked into the
     * library directory ("mount"), or are ignored ("disabled").
     */
    cudaCompatMode: z.enum(['mount', 'ldconfig', 'disabled']).default('ldconfig'),
    /** Compute and return the plan without changing anything. */
    dryRun: z.boolean().default(false),
  })
  .strict();
export type ConfigureRequestInput = z.input<typeof configureRequestSchema>;

/** Copy mode: which driver files to install into a root filesystem, and where they go. */
export const installRequestSchema = configureRequestSchema
  .pick({ capabilities: true, compat32: true, noGspFirmware: true, noLdconfig: true, dryRun: true })
  .extend({
    libsDir: absolutePathSchema.optional(),
    libs32Dir: absolutePathSchema.optional(),
    binsDir: absolutePathSchema.optional(),
    /** "@/host/path" runs the host's ldconfig from a sealed copy; "/path" the image's own. */
    ldconfig: containerOptionsSchema.shape.ldconfig,
    /** A guest kernel release: also install the driver's kernel modules for it (vermagic checked) and run depmod. */
    modules: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/, 'must be a kernel release, e.g. 6.8.0-45-generic')
      .optional(),
    /** Where the driver's modules for that release are (default: where the driver root keeps them). */
    modulesDir: absolutePathSchema.optional(),
  })
  .strict();
export type InstallRequestInput = z.input<typeof installRequestSchema>;

function invalid(issue: Pick<z.ZodIssue, 'path' | 'message'>, prefix: string, wholeValue: string): NvcError {
  const field = issue.path.map(String).join('.') || wholeValue;
  return new NvcError('ERR_NVC_INVALID_ARGUMENT', `invalid ${prefix} ${field}: ${issue.message}`, { field });
}

/**
 * Validate `value`, or throw ERR_NVC_INVALID_ARGUMENT naming the field ("invalid <prefix> <field>: <why>");
 * `wholeValue` names the field when the issue is about the value as a whole (an unknown key).
 */
export function parseWith<T extends z.ZodTypeAny>(schema: T, value: unknown, prefix: string, wholeValue = prefix): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(r.error.issues[0] ?? { path: [], message: 'invalid' }, prefix, wholeValue);
  return r.data as z.output<T>;
}

/**
 * Per call: an AbortSignal and/or a time limit, checked before each stage; a stage in flight
 * finishes (or rolls back) first. The limit also bounds a configure's executor: still at work
 * when the time is up, it is stopped and rolls back.
 */
export const callOptionsSchema = z
  .object({
    signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, 'must be an AbortSignal').optional(),
    timeoutMs: z.number().int('must be an integer').min(1, 'must be >= 1').max(3_600_000, 'must be at most one hour').optional(),
  })
  .strict();
export type CallOptions = z.input<typeof callOptionsSchema>;
