/**
 * Which kernel configuration option provides a module or a symbol, for the modules the NVIDIA
 * driver depends on. Data only: one row per module, one per symbol prefix (longest prefix wins).
 */

export interface Provider {
  option: string;
  /** The module that provides it when the option is =m. */
  module: string;
}

const BY_MODULE: Record<string, string> = {
  drm: 'CONFIG_DRM',
  drm_kms_helper: 'CONFIG_DRM_KMS_HELPER',
  drm_display_helper: 'CONFIG_DRM_DISPLAY_HELPER',
  drm_ttm_helper: 'CONFIG_DRM_TTM_HELPER',
  ttm: 'CONFIG_DRM_TTM',
  i2c_core: 'CONFIG_I2C',
  video: 'CONFIG_ACPI_VIDEO',
  backlight: 'CONFIG_BACKLIGHT_CLASS_DEVICE',
  ib_core: 'CONFIG_INFINIBAND',
  ib_uverbs: 'CONFIG_INFINIBAND_USER_ACCESS',
  ecc: 'CONFIG_CRYPTO_ECC',
  ecdh_generic: 'CONFIG_CRYPTO_ECDH',
};

const BY_SYMBOL_PREFIX: Array<[string, Provider]> = [
  ['drm_kms_helper_', { option: 'CONFIG_DRM_KMS_HELPER', module: 'drm_kms_helper' }],
  ['drm_atomic_helper_', { option: 'CONFIG_DRM_KMS_HELPER', module: 'drm_kms_helper' }],
  ['drm_helper_', { option: 'CONFIG_DRM_KMS_HELPER', module: 'drm_kms_helper' }],
  ['drm_crtc_helper_', { option: 'CONFIG_DRM_KMS_HELPER', module: 'drm_kms_helper' }],
  ['drm_fb_helper_', { option: 'CONFIG_DRM_KMS_HELPER', module: 'drm_kms_helper' }],
  ['drm_gem_fb_', { option: 'CONFIG_DRM_KMS_HELPER', module: 'drm_kms_helper' }],
  ['drm_', { option: 'CONFIG_DRM', module: 'drm' }],
  ['__drm', { option: 'CONFIG_DRM', module: 'drm' }],
  ['hdmi_', { option: 'CONFIG_HDMI', module: 'hdmi' }],
  ['ib_', { option: 'CONFIG_INFINIBAND', module: 'ib_core' }],
  ['i2c_', { option: 'CONFIG_I2C', module: 'i2c_core' }],
  ['backlight_', { option: 'CONFIG_BACKLIGHT_CLASS_DEVICE', module: 'backlight' }],
];

/**
 * Kernel modules a driver module cannot do its job without, whatever its .modinfo says: nvidia-drm
 * built against a kernel without DRM loads as an empty shell (no `depends=drm`, no drm symbol) and
 * makes no /dev/dri node, so the plan must still ask the kernel for DRM.
 */
const IMPLIED_DEPENDENCIES: Record<string, string[]> = {
  nvidia_drm: ['drm', 'drm_kms_helper'],
};

export function impliedDependencies(name: string): string[] {
  return IMPLIED_DEPENDENCIES[name] ?? [];
}

export function configOptionOfModule(name: string): string | undefined {
  return BY_MODULE[name];
}

export function providerOfSymbol(symbol: string): Provider | undefined {
  let best: [string, Provider] | undefined;
  for (const row of BY_SYMBOL_PREFIX) if (symbol.startsWith(row[0]) && (best === undefined || row[0].length > best[0].length)) best = row;
  return best?.[1];
}
