/**
 * The version stamp a copy-mode install leaves at ROOTFS/etc/nvc-ts/driver.json: which driver
 * the image's user-space files belong to, and every file written with its size and SHA-256, so
 * that a host can check an image before a guest or container starts.
 */
import { z } from 'zod';

export const DRIVER_STAMP_PATH = '/etc/nvc-ts/driver.json';

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
});

export type DriverStamp = z.infer<typeof driverStampSchema>;
