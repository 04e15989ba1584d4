/**
 * CDI spec documents (Container Device Interface, cncf-tags/container-device-interface
 * SPEC.md): the types generation writes and the zod schema that reads specs back from disk
 * (inject, check, list). Loading is strict as the CDI loaders are: an unknown field is an error.
 */
import { z } from 'zod';

const uint32 = z.number().int().min(0).max(0xffffffff);

export const deviceNodeSchema = z
  .object({
    path: z.string().min(1),
    hostPath: z.string().optional(),
    type: z.enum(['b', 'c', 'u', 'p']).optional(),
    major: z.number().int().optional(),
    minor: z.number().int().optional(),
    fileMode: uint32.optional(),
    permissions: z.string().optional(),
    uid: uint32.optional(),
    gid: uint32.optional(),
  })
  .strict();

export const mountSchema = z
  .object({
    hostPath: z.string().min(1),
    containerPath: z.string().min(1),
    type: z.string().optional(),
    options: z.array(z.string()).optional(),
  })
  .strict();

export const HOOK_NAMES = ['createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop', 'prestart'] as const;

export const hookSchema = z
  .object({
    hookName: z.enum(HOOK_NAMES),
    path: z.string().min(1),
    args: z.array(z.string()).optional(),
    env: z.array(z.string()).optional(),
    timeout: z.number().int().optional(),
  })
  .strict();

const intelRdtSchema = z
  .object({
    closID: z.string().optional(),
    l3CacheSchema: z.string().optional(),
    memBwSchema: z.string().optional(),
    schemata: z.array(z.string()).optional(),
    enableMonitoring: z.boolean().optional(),
    enableCMT: z.boolean().optional(),
    enableMBM: z.boolean().optional(),
  })
  .strict();

const netDeviceSchema = z.object({ hostInterfaceName: z.string(), name: z.string() }).strict();

export const containerEditsSchema = z
  .object({
    env: z.array(z.string()).optional(),
    deviceNodes: z.array(deviceNodeSchema).optional(),
    hooks: z.array(hookSchema).optional(),
    mounts: z.array(mountSchema).optional(),
    intelRdt: intelRdtSchema.optional(),
    additionalGids: z.array(uint32).optional(),
    netDevices: z.array(netDeviceSchema).optional(),
  })
  .strict();

const annotationsSchema = z.record(z.string(), z.string());

export const cdiDeviceSchema = z
  .object({
    name: z.string().min(1),
    annotations: annotationsSchema.optional(),
    containerEdits: containerEditsSchema,
  })
  .strict();

export const cdiSpecSchema = z
  .object({
    cdiVersion: z.string().regex(/^\d+\.\d+\.\d+$/, 'a version like 0.5.0'),
    kind: z.string().min(1),
    annotations: annotationsSchema.optional(),
    devices: z.array(cdiDeviceSchema),
    containerEdits: containerEditsSchema.optional(),
  })
  .strict();

export type CdiDeviceNode = z.infer<typeof deviceNodeSchema>;
export type CdiMount = z.infer<typeof mountSchema>;
export type CdiHook = z.infer<typeof hookSchema>;
export type CdiContainerEdits = z.infer<typeof containerEditsSchema>;
export type CdiDevice = z.infer<typeof cdiDeviceSchema>;
export type CdiSpec = z.infer<typeof cdiSpecSchema>;
