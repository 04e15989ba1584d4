/** nvc-ts: NVIDIA driver and GPU discovery for Node. Importing this module has no side effects. */
export { init, Context } from './context';
export { NvcError, isNvcError, NVC_ERROR_CODES, type NvcErrorCode, type NvcErrorDetails } from './errors';
export { initOptionsSchema, userSchema, absolutePathSchema, type InitOptions, type UserSpec } from './schema';
export type { Capability, Device, DeviceNode, DriverFile, DriverInfo, MigDevice } from './types';
export { selectDevices } from './select';
export { Container, openContainer, containerOptionsSchema, configureRequestSchema, type ContainerOptions, type ConfigureRequestInput, type ConfigureResult } from './container';
export { planContainer, type ContainerPlan, type Edit, type DeviceRule, type PlanStep } from './plan';
export { checkRequirements, parseRequirement } from './require';
export { interpretContainerEnv } from './hook-env';
