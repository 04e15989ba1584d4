/**
 * A container plan as input: `plan()` returns one, a caller may edit it (drop a mount, add a
 * rule), and `applyPlan()` takes it back. It is checked like any other input, against the edit
 * vocabulary the executor speaks, before anything is applied.
 */
import { z } from 'zod';
import { ITEM_ROLES } from './items';
import { EDIT_KINDS, MOUNT_FLAGS, SOURCE_KINDS, type ContainerPlan } from './mount-plan';

const MAX_PATH = 4095;
const path = z
  .string()
  .min(1)
  .max(MAX_PATH)
  .refine((p) => p.startsWith('/'), 'must be an absolute path')
  .refine((p) => !p.includes('\0'), 'must not contain a NUL byte')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ..');
const mode = z.number().int().min(0).max(0o7777);
const flags = z.array(z.enum(MOUNT_FLAGS)).max(MOUNT_FLAGS.length);
const STEPS = ['driver', 'device', 'mig-access', 'mig-config', 'mig-monitor', 'imex', 'seal'] as const;
const origin = z.object({ step: z.enum(STEPS), role: z.enum(ITEM_ROLES), device: z.string().nullable() }).strict();

const edit = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('tmpfs'), target: path, mode, flags, origin }).strict(),
  z.object({ kind: z.literal('write'), target: path, data: z.string().max(1 << 20), mode, origin }).strict(),
  z
    .object({
      kind: z.literal('bind'),
      target: path,
      source: path,
      sourceKind: z.enum(SOURCE_KINDS),
      major: z.number().int().min(0).max(4095).optional(),
      minor: z.number().int().min(0).max(0xfffff).optional(),
      flags,
      origin,
    })
    .strict(),
  z
    .object({
      kind: z.literal('symlink'),
      target: path,
      link: z
        .string()
        .min(1)
        .max(MAX_PATH)
        .refine((l) => !l.includes('\0'), 'must not contain a NUL byte'),
      origin,
    })
    .strict(),
  z.object({ kind: z.literal('remount'), target: path, flags, origin }).strict(),
]);

// Whatever the schema says, the executor speaks exactly EDIT_KINDS: a compile error otherwise.
const KINDS_MATCH: (typeof EDIT_KINDS)[number] extends z.infer<typeof edit>['kind'] ? true : never = true;
void KINDS_MATCH;

export const containerPlanSchema = z
  .object({
    edits: z.array(edit).max(100_000),
    cgroupRules: z
      .array(
        z
          .object({
            type: z.literal('c'),
            major: z.number().int().min(0).max(4095),
            minor: z.number().int().min(0).max(0xfffff),
            access: z.literal('rw'),
            path: z.string().max(MAX_PATH),
            step: z.enum(STEPS),
          })
          .strict(),
      )
      .max(100_000),
    ldconfig: z
      .object({ path: z.string().regex(/^@?\//, 'must be an absolute path, optionally prefixed by @').max(MAX_PATH), dirs: z.array(path).max(64) })
      .strict()
      .nullable(),
    warnings: z.array(z.string().max(4096)).max(10_000),
    notes: z.array(z.string().max(4096)).max(10_000),
  })
  .strict() satisfies z.ZodType<ContainerPlan>;
