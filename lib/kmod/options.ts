/** The inputs of the kernel-module calls, checked at the boundary, and the host paths they resolve to. */
import * as path from 'node:path';
import { z } from 'zod';

import { binding } from '../native';
import { absolutePathSchema, parseWith } from '../schema';
import { MODULE_NAME_PATTERN, moduleName } from './names';

const moduleNameSchema = z.string().regex(MODULE_NAME_PATTERN, 'must be a module name (letters, digits, _ and -, at most 55)');

/** `module.param=value`, or per module a list of `param=value`. */
const paramsSchema = z.record(
  moduleNameSchema,
  z.array(
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]+(=[^\s\0"]*)?$/, 'must be param=value without spaces or quotes')
      .max(1024, 'must be at most 1024 characters'),
  ),
);

export const kmodOptionsSchema = z
  .object({
    /** Driver root (default "/"). */
    root: absolutePathSchema.optional(),
    procRoot: absolutePathSchema.optional(),
    sysRoot: absolutePathSchema.optional(),
    devRoot: absolutePathSchema.optional(),
    /** The driver's modules (default: the first of the usual places that holds nvidia.ko). */
    modulesDir: absolutePathSchema.optional(),
    /** The kernel's module tree (default <root>/lib/modules/<release>). */
    kernelModulesDir: absolutePathSchema.optional(),
    /** The kernel's config file when <proc>/config.gz is absent (default <root>/boot/config-<release>). */
    kernelConfig: absolutePathSchema.optional(),
    /** Modules to plan, load or unload (default nvidia, nvidia-uvm, nvidia-modeset, nvidia-drm). */
    modules: z.array(moduleNameSchema).max(64, 'must name at most 64 modules').optional(),
    /** Module parameters by module, e.g. { "nvidia-drm": ["modeset=1"] }. */
    params: paramsSchema.optional(),
  })
  .strict();
export type KmodOptions = z.input<typeof kmodOptionsSchema>;

export interface KmodHost {
  root: string;
  procRoot: string;
  sysRoot: string;
  devRoot: string;
}

export interface ResolvedKmodOptions extends KmodHost {
  modulesDir: string | undefined;
  kernelModulesDir: string | undefined;
  kernelConfig: string | undefined;
  modules: string[] | undefined;
  params: Map<string, string[]>;
}

/** Host paths with the defaults the rest of nvc-ts uses (the native side is their one home). */
export function resolveKmodHost(paths: Partial<KmodHost>): KmodHost {
  const { root, procRoot, sysRoot, devRoot } = binding().resolveHost(paths);
  return { root, procRoot, sysRoot, devRoot };
}

export function parseKmodOptions(options: KmodOptions): ResolvedKmodOptions {
  const o = parseWith(kmodOptionsSchema, options, 'kernel-module option', 'options');
  const host = resolveKmodHost({
    ...(o.root !== undefined && { root: o.root }),
    ...(o.procRoot !== undefined && { procRoot: o.procRoot }),
    ...(o.sysRoot !== undefined && { sysRoot: o.sysRoot }),
    ...(o.devRoot !== undefined && { devRoot: o.devRoot }),
  });
  const params = new Map<string, string[]>();
  for (const [mod, list] of Object.entries(o.params ?? {})) params.set(moduleName(mod), [...(params.get(moduleName(mod)) ?? []), ...list]);
  return {
    ...host,
    modulesDir: o.modulesDir === undefined ? undefined : path.resolve(o.modulesDir),
    kernelModulesDir: o.kernelModulesDir,
    kernelConfig: o.kernelConfig,
    modules: o.modules?.map(moduleName),
    params,
  };
}
