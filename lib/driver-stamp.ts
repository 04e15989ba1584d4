/**
 * The version stamp a copy-mode install leaves at ROOTFS/etc/nvc-ts/driver.json: which driver
 * the image's user-space files belong to, and every file written with its size and SHA-256, so
 * that a host can check an image before a guest or container starts.
 */
import { z } from 'zod';

export const DRIVER_STAMP_DIR = '/etc/nvc-ts';
export const DRIVER_STAMP_PATH = `${DRIVER_STAMP_DIR}/driver.json`;
/** Where install keeps what it replaced, for uninstall to restore. */
export const DRIVER_STAMP_REPLACED_DIR = `${DRIVER_STAMP_DIR}/replaced`;

export const driverStampSchema = z.object({
  schemaVersion: z.literal(1),
  driverVersion: z.string().regex(/^\d+\.\d+(\.\d+)?$/, 'must be a driver version like 580.159.04'),
  cudaVersion: z.string().optional(),
  capabilities: z.array(z.string()).optional(),
  /** The kernel release the modules were installed for, when modules were. */
  kernelRelease: z.string().nullable().optional(),
  files: z
    .array(
      z.object({
        path: z.string().startsWith('/'),
        size: z.number().int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    )
    .max(100000),
  /** Install bookkeeping, for uninstall: links made, directories created, files replaced. */
  links: z
    .array(z.object({ path: z.string().startsWith('/'), target: z.string() }))
    .max(100000)
    .optional(),
  createdDirs: z.array(z.string().startsWith('/')).max(100000).optional(),
  /** What install moved aside, kept under /etc/nvc-ts/replaced/<backup>. */
  replaced: z
    .array(z.object({ path: z.string().startsWith('/'), backup: z.string().regex(/^[0-9]+$/) }))
    .max(100000)
    .optional(),
  /** The image's own links that ldconfig removed or repointed during install, as they were. */
  ldconfigChanged: z
    .array(z.object({ path: z.string().startsWith('/'), target: z.string() }))
    .max(100000)
    .optional(),
  /** The image's ld.so.cache before install (a backup name under replaced/), or null when it had none. */
  ldcacheBackup: z
    .string()
    .regex(/^[0-9]+$/)
    .nullable()
    .optional(),
});

export type DriverStamp = z.infer<typeof driverStampSchema>;
