/** Module names: the kernel treats '-' and '_' alike and keeps '_' (file nvidia-uvm.ko is module nvidia_uvm). */

export function moduleName(text: string): string {
  return text.replace(/-/g, '_');
}

/** The module name a file path stands for: its base name without .ko and a compression suffix. */
export function moduleNameOfFile(file: string): string | undefined {
  const base = file.split('/').pop() ?? file;
  const m = /^(.+)\.ko(\.(xz|zst|gz))?$/.exec(base);
  return m?.[1] === undefined ? undefined : moduleName(m[1]);
}

/** The NVIDIA modules, in the spelling users type, and which load by default. */
export const NVIDIA_MODULES = ['nvidia', 'nvidia_uvm', 'nvidia_modeset', 'nvidia_drm', 'nvidia_peermem', 'nvidia_fs'] as const;
export const DEFAULT_TARGETS = ['nvidia', 'nvidia_uvm', 'nvidia_modeset', 'nvidia_drm'] as const;

export const MODULE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,55}$/;
