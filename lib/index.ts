/** nvc-ts: NVIDIA driver and GPU discovery for Node. Importing this module has no side effects. */
export { init, Context } from './context';
export { NvcError, isNvcError, NVC_ERROR_CODES, type NvcErrorCode, type NvcErrorDetails } from './errors';
export {
  initOptionsSchema,
  userSchema,
  absolutePathSchema,
  containerOptionsSchema,
  configureRequestSchema,
  type InitOptions,
  type UserSpec,
  type ContainerOptions,
  type ConfigureRequestInput,
} from './schema';
export { CAPABILITIES, type Capability, type Device, type DeviceNode, type DriverFile, type DriverInfo, type MigDevice } from './types';
export { selectDevices } from './select';
export { Container, openContainer } from './container';
export type { ConfigureResult, ConfigureTimings } from './apply';
export {
  containerChangesSchema,
  type ContainerChanges,
  type ChangeRecord,
  type AddedDeviceRule,
  type TeardownResult,
  type TeardownStep,
  type TeardownInput,
} from './teardown';
export type { HostFacts, HostFactsNeeds } from './host-facts';
export type { DrmFacts, DrmNode } from './host-drm';
export type { GraphicsFacts, GraphicsFile, GraphicsFileKind } from './host-graphics';
export {
  planContainer,
  resolveRequest,
  selectItems,
  lowerToMountPlan,
  lowerToListing,
  type ContainerPlan,
  type ContainerLayout,
  type MountPlanOptions,
  type ResolvedRequest,
  type SelectionRequest,
  type Edit,
  type EditOrigin,
  type DeviceRule,
  type PlanStep,
  type Item,
  type ItemRole,
  type Selection,
} from './plan';
export { checkRequirements, parseRequirement } from './require';
export { interpretContainerEnv } from './hook-env';
export { hookTargetFromOci, hookTargetFromStateText, type HookTarget, type HookOptions } from './hook';
export {
  runDoctor,
  DOCTOR_CHECK_IDS,
  doctorOptionsSchema,
  type DoctorOptions,
  type DoctorReport,
  type CheckResult,
  type CheckStatus,
  type EvidenceValue,
} from './doctor';
export { DRIVER_STAMP_PATH, driverStampSchema, type DriverStamp } from './driver-stamp';
export { installRequestSchema, type InstallRequestInput } from './schema';
export { lowerToInstallPlan, type InstallPlan, type InstallEntry } from './plan/install-plan';
export type { InstallOutcome } from './install/install';
export { uninstallDriver, type UninstallOutcome } from './install/uninstall';
export {
  planKernelModules,
  loadKernelModules,
  unloadKernelModules,
  createNvidiaDeviceNodes,
  readModuleInfo,
  kmodOptionsSchema,
  nodeOptionsSchema,
  nativeSyscalls,
  MODULE_INIT_COMPRESSED_FILE,
  type KmodOptions,
  type KmodSyscalls,
  type ModulePlan,
  type PlannedModule,
  type PlanProblem,
  type LoadResult,
  type UnloadResult,
  type NodesResult,
  type NodeOptions,
  type ModuleInfo,
} from './kmod';
export {
  injectCdiDevices,
  checkSpecs as checkCdiSpecs,
  loadRegistry as loadCdiRegistry,
  cdiSpecSchema,
  minimumVersion as minimumCdiVersion,
  type CdiSpec,
  type CdiGenerateOptions,
  type OciConfig,
} from './cdi';
export { EVENT_CHANNEL, type NvcEvent, type NvcLogger } from './events';
export { containerPlanSchema } from './plan/plan-schema';
export { callOptionsSchema, type CallOptions } from './schema';
