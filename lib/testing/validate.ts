/**
 * Checks a spec before anything is written. The mock NVML answers a malformed spec only with a failing
 * nvmlInit_v2, so values its format cannot hold (blank-separated fields, NVML's fixed-size buffers) are refused
 * here, naming the field.
 */
import { NvcError } from '../errors';
import type { SimulatedHostSpec } from './spec';
import { MOCK_NVML_EXPORTS } from './symbols';

function invalid(field: string, message: string): NvcError {
  return new NvcError('ERR_NVC_INVALID_ARGUMENT', `simulated host: ${field}: ${message}`, { field });
}

function checkInt(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(field, `expected an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

function checkToken(field: string, v: unknown, maxLen: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length >= maxLen || /[\s#]/.test(v)) {
    throw invalid(field, `expected a non-empty string without blanks or '#', shorter than ${maxLen}`);
  }
  return v;
}

function checkText(field: string, v: unknown, maxLen: number): string {
  if (typeof v !== 'string' || v.trim().length === 0 || v.length >= maxLen || /[\r\n\0]/.test(v) || v !== v.trim()) {
    throw invalid(field, `expected one line of text without surrounding blanks, shorter than ${maxLen}`);
  }
  return v;
}

/** Longest GPU/MIG name or UUID the mock holds (its buffers are 256 bytes, a MIG name adds " MIG <profile>"). */
const TEXT_LIMIT = 224;

const NVML_FUNCTIONS = new Set([
  '@load',
  'nvmlInit_v2',
  'nvmlInit',
  'nvmlDeviceGetCount',
  'nvmlDeviceGetHandleByIndex',
  'nvmlDeviceGetPciInfo_v2',
  'nvmlDeviceGetPciInfo',
  'nvmlShutdown',
  'nvmlErrorString',
  'nvmlSystemGetDriverVersion',
  'nvmlSystemGetCudaDriverVersion',
  'nvmlDeviceGetCount_v2',
  'nvmlDeviceGetHandleByIndex_v2',
  'nvmlDeviceGetName',
  'nvmlDeviceGetUUID',
  'nvmlDeviceGetPciInfo_v3',
  'nvmlDeviceGetCudaComputeCapability',
  'nvmlDeviceGetBrand',
  'nvmlDeviceGetMinorNumber',
  'nvmlDeviceGetMigMode',
  'nvmlDeviceGetMaxMigDeviceCount',
  'nvmlDeviceGetMigDeviceHandleByIndex',
  'nvmlDeviceGetGpuInstanceId',
  'nvmlDeviceGetComputeInstanceId',
]);

export function validateSpec(spec: SimulatedHostSpec): void {
  checkToken('driverVersion', spec.driverVersion, 80);
  if (!/^[0-9A-Za-z._-]+$/.test(spec.driverVersion)) throw invalid('driverVersion', 'unexpected characters');
  checkInt('cudaVersion', spec.cudaVersion, 0, 0x7fffffff);
  if (!Array.isArray(spec.gpus) || spec.gpus.length > 64) throw invalid('gpus', 'expected at most 64 GPUs');
  const minors = new Set<number>();
  const drmMinors = new Set<number>();
  spec.gpus.forEach((g, i) => {
    const f = `gpus[${i}]`;
    checkText(`${f}.name`, g.name, TEXT_LIMIT);
    checkToken(`${f}.uuid`, g.uuid, TEXT_LIMIT);
    checkInt(`${f}.pci.domain`, g.pci?.domain, 0, 0xffffffff);
    checkInt(`${f}.pci.bus`, g.pci?.bus, 0, 0xff);
    checkInt(`${f}.pci.device`, g.pci?.device, 0, 0x1f);
    checkInt(`${f}.minor`, g.minor, 0, 254);
    if (minors.has(g.minor)) throw invalid(`${f}.minor`, `minor ${g.minor} used twice`);
    minors.add(g.minor);
    checkInt(`${f}.brand`, g.brand, 0, 0xffff);
    if (!Array.isArray(g.computeCapability) || g.computeCapability.length !== 2) {
      throw invalid(`${f}.computeCapability`, 'expected [major, minor]');
    }
    checkInt(`${f}.computeCapability[0]`, g.computeCapability[0], 0, 1000);
    checkInt(`${f}.computeCapability[1]`, g.computeCapability[1], 0, 1000);
    if (g.mig !== 'unsupported' && g.mig !== 'disabled' && g.mig !== 'enabled') {
      throw invalid(`${f}.mig`, "expected 'unsupported', 'disabled' or 'enabled'");
    }
    const migs = g.migDevices ?? [];
    if (migs.length > 0 && g.mig !== 'enabled') throw invalid(`${f}.migDevices`, "MIG devices need mig 'enabled'");
    if (migs.length > 8) throw invalid(`${f}.migDevices`, 'at most 8 MIG devices');
    const slots = new Set<number>();
    migs.forEach((m, j) => {
      const slot = m.slot === undefined ? j : checkInt(`${f}.migDevices[${j}].slot`, m.slot, 0, 7);
      if (slots.has(slot)) throw invalid(`${f}.migDevices[${j}].slot`, `slot ${slot} used twice`);
      slots.add(slot);
      checkToken(`${f}.migDevices[${j}].uuid`, m.uuid, TEXT_LIMIT);
      checkInt(`${f}.migDevices[${j}].gpuInstance`, m.gpuInstance, 0, 0xffff);
      checkInt(`${f}.migDevices[${j}].computeInstance`, m.computeInstance, 0, 0xffff);
      if (m.profile !== undefined) checkToken(`${f}.migDevices[${j}].profile`, m.profile, 24);
    });
    if (g.pciDeviceId !== undefined) checkInt(`${f}.pciDeviceId`, g.pciDeviceId, 0, 0xffffffff);
    if (g.pciSubsystemId !== undefined) checkInt(`${f}.pciSubsystemId`, g.pciSubsystemId, 0, 0xffffffff);
    if (g.drm !== undefined) {
      // The DRM core's ranges: primary (card) nodes from 0, render nodes from 128, 64 each.
      const card = checkInt(`${f}.drm.card`, g.drm.card, 0, 63);
      const render = checkInt(`${f}.drm.render`, g.drm.render, 128, 191);
      for (const [name, n] of [
        ['card', card],
        ['render', render],
      ] as const) {
        if (drmMinors.has(n)) throw invalid(`${f}.drm.${name}`, `DRM minor ${n} used twice`);
        drmMinors.add(n);
      }
    }
  });
  (spec.faults ?? []).forEach((fault, i) => {
    const f = `faults[${i}]`;
    if (!NVML_FUNCTIONS.has(fault.fn)) throw invalid(`${f}.fn`, `unknown NVML function ${JSON.stringify(fault.fn)}`);
    if (!['crash', 'abort', 'hang', 'exit', 'error', 'fork', 'daemon'].includes(fault.kind)) throw invalid(`${f}.kind`, 'unknown kind');
    if (fault.kind === 'error') {
      checkInt(`${f}.code`, fault.code, 1, 0x7fffffff);
      if (fault.fn === '@load') throw invalid(`${f}.kind`, "'@load' cannot return an error");
    }
    if (fault.kind === 'exit' && fault.code !== undefined) checkInt(`${f}.code`, fault.code, 0, 255);
    if (fault.device !== undefined) checkInt(`${f}.device`, fault.device, 0, 63);
  });
  if (spec.hiddenSymbols !== undefined && !Array.isArray(spec.hiddenSymbols)) throw invalid('hiddenSymbols', 'expected an array');
  (spec.hiddenSymbols ?? []).forEach((name, i) => {
    if (!MOCK_NVML_EXPORTS.includes(name)) throw invalid(`hiddenSymbols[${i}]`, `not a symbol of the mock NVML: ${JSON.stringify(name)}`);
  });
  (spec.delays ?? []).forEach((d, i) => {
    if (!NVML_FUNCTIONS.has(d.fn) || d.fn === '@load') throw invalid(`delays[${i}].fn`, `unknown NVML function ${JSON.stringify(d.fn)}`);
    checkInt(`delays[${i}].ms`, d.ms, 0, 0xffffffff);
  });
}
