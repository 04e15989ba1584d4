/**
 * nvc-ts/testing: simulated NVIDIA hosts for tests and for `nvc-ts --simulate`.
 * Nothing here touches the real driver; everything is written under a temporary directory.
 */
export {
  createSimulatedHost,
  defaultSimulatedHostSpec,
  formatMockNvmlSpec,
  librarySoname,
  migCapabilityMinor,
  NVML_BRAND,
  SIMULATED_MAJORS,
  NVIDIACTL_MINOR,
  MIG_CONFIG_MINOR,
  MIG_MONITOR_MINOR,
  SIMULATED_DRIVER_LIBRARIES,
  SIMULATED_BINARIES,
  LIB_DIR,
  LIB32_DIR,
  DECOY_TLS_DIR,
  STALE_CUDA_VERSION,
} from './host';
export type {
  SimulatedGpu,
  SimulatedMigDevice,
  NvmlFault,
  NvmlFaultKind,
  NvmlDelay,
  SimulatedHostSpec,
  SimulatedHost,
  SimulatedHostPaths,
  CreateSimulatedHostOptions,
  SimulatedDriverLibrary,
} from './host';
export { buildElfSharedObject } from './elf';
export type { ElfMachine, ElfSharedObjectOptions } from './elf';
export { buildLdCache, writeLdCache, sortLdCacheEntries, compareLibraryNames, abiTagOsVersion, LDCACHE_FLAGS } from './ldcache';
export type { LdCacheEntry, LdCacheOptions } from './ldcache';
