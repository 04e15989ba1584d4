/** CDI device names for GPUs and MIG devices, by strategy (the names nvidia-ctk uses, so users need learn none). */
import type { Device, MigDevice } from '../types';

export const NAME_STRATEGIES = ['index', 'uuid', 'type-index'] as const;
export type NameStrategy = (typeof NAME_STRATEGIES)[number];

/** index: 0; uuid: GPU-...; type-index: gpu0. */
export function gpuName(strategy: NameStrategy, gpu: Device): string {
  if (strategy === 'uuid') return gpu.uuid;
  return strategy === 'index' ? String(gpu.index) : `gpu${gpu.index}`;
}

/** index: 1:0 (gpu:mig); uuid: MIG-...; type-index: mig1:0. */
export function migName(strategy: NameStrategy, gpu: Device, mig: MigDevice): string {
  if (strategy === 'uuid') return mig.uuid;
  return strategy === 'index' ? `${gpu.index}:${mig.index}` : `mig${gpu.index}:${mig.index}`;
}

/** The name every spec also carries: all devices at once. */
export const ALL_DEVICE = 'all';

/** CDI's rules (SPEC.md): a vendor is a domain name, a class and a device name are short words. */
export const VENDOR_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
export const CLASS_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
export const DEVICE_NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9_.:-]*[A-Za-z0-9])?$/;
