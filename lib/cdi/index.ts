/** The CDI lowering and its tools, as the package entry point exports them. */
export { generateCdiSpec, cdiGenerateOptionsSchema, type CdiGenerateOptions, type GeneratedSpec } from './generate';
export { injectCdiDevices, type OciConfig, type InjectOptions } from './inject';
export { checkSpecs } from './check';
export { refreshSpec, missingDriverNodes } from './refresh';
export { loadRegistry, DEFAULT_SPEC_DIRS, type CdiRegistry } from './registry';
export { formatSpec, parseSpecText, writeFileAtomic, type SpecFormat } from './output';
export { minimumVersion, settleVersion, CDI_VERSIONS, type CdiVersion } from './version';
export { probeInstalledEngines, lowestCeiling, type EngineVersion, type EngineProbe } from './engines';
export { cdiSpecSchema, type CdiSpec, type CdiDevice, type CdiContainerEdits } from './spec';
