/** zod schemas for every input accepted at the package boundary. */
import { z } from 'zod/v3';

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
  z
    .string()
    .regex(/^[A-Za-z0-9_.][A-Za-z0-9_.-]*(:[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$/, 'must look like UID[:GID] or NAME[:GROUP]'),
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
  })
  .strict();

export type InitOptions = z.input<typeof initOptionsSchema>;
export type UserSpec = z.infer<typeof userSchema>;
