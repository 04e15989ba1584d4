/**
 * nvc-ts/testing: simulated NVIDIA hosts for tests and for `nvc-ts --simulate`.
 * Nothing here touches the real driver; everything is written under a temporary directory.
 */
export { createSimulatedHost } from './host';
export type { SimulatedHost, SimulatedHostPaths, CreateSimulatedHostOptions } from './host';
export { defaultSimulatedHostSpec, NVML_BRAND } from './spec';
export type { SimulatedGpu, SimulatedMigDevice, NvmlFault, NvmlFaultKind, NvmlDelay, SimulatedHostSpec } from './spec';
export { formatMockNvmlSpec } from './nvml-spec';
export { migCapabilityMinor, SIMULATED_MAJORS, NVIDIACTL_MINOR, MIG_CONFIG_MINOR, MIG_MONITOR_MINOR } from './devices';
export { librarySoname, SIMULATED_DRIVER_LIBRARIES, LIB_DIR, LIB32_DIR, DECOY_TLS_DIR, STALE_CUDA_VERSION } from './libraries';
export type { SimulatedDriverLibrary } from './libraries';
export { SIMULATED_BINARIES } from './driver-files';
export { buildElfSharedObject } from './elf';
export { hideDynamicSymbols, MOCK_NVML_EXPORTS } from './symbols';
export type { ElfMachine, ElfSharedObjectOptions } from './elf';
export { buildLdCache, writeLdCache, sortLdCacheEntries, compareLibraryNames, abiTagOsVersion, LDCACHE_FLAGS } from './ldcache';
export type { LdCacheEntry, LdCacheOptions } from './ldcache';
export {
  buildKernelModule,
  writeKernelModule,
  createKmodHost,
  nvidiaModules,
  drmModules,
  gpuMachineKmodSpec,
  gpuMachineProcSpec,
  procModulesText,
  BASE_KERNEL_SYMBOLS,
  DRM_KERNEL_SYMBOLS,
} from './kmod';
export type { FixtureModule, KmodHostSpec, KmodHost, NvidiaModuleOptions } from './kmod';
