/**
 * Device selection grammar shared by `list` and `configure`.
 *
 * Mirrors nvidia-container-cli 1.17 (`--device`, `--mig-config`, `--mig-monitor`, `--imex-channel`):
 * comma-separated tokens, empty tokens skipped, duplicates ignored, the first `all` wins.
 * Everything here is pure: no I/O, no native code.
 */
import { NvcError } from './errors';
import { shorten } from './quote';
import type { Device, MigDevice } from './types';

export interface MigSelection {
  gpu: Device;
  mig: MigDevice;
}

export interface DeviceSelection {
  /** Selected GPUs in selection order; a selected MIG device brings its parent GPU along. */
  gpus: Device[];
  migs: MigSelection[];
  /** True when the token `all` was given. */
  all: boolean;
}

export interface MigCapsSelection {
  /** MIG-capable GPUs among the visible GPUs and visible MIG parents. */
  gpus: Device[];
  /** True when `all` was given. */
  all: boolean;
}

export type MigCapsKind = 'mig-config' | 'mig-monitor';

/** Largest IMEX channel id plus one (the driver supports 2^20 channels). */
export const IMEX_CHANNEL_LIMIT = 1 << 20;

/**
 * Most distinct IMEX channel ids one request may name. A job uses a handful of channels; the
 * bound keeps an image's NVIDIA_IMEX_CHANNELS (or a command line) from making the hook, which
 * runs as root on the host before the container starts, probe and bind a million nodes.
 */
export const IMEX_CHANNELS_PER_REQUEST_MAX = 256;

const DEVICE_HINT =
  'Use `all`, a GPU index, a GPU-/MIG- UUID, a PCI bus id (domain:bus:device.0) or a <gpu>:<mig> index pair; ' + '`nvc-ts info` lists the GPUs of this host.';

function tokens(spec: string | string[] | undefined): string[] {
  if (spec === undefined) return [];
  const parts = Array.isArray(spec) ? spec : [spec];
  return parts.flatMap((part) => part.split(',')).filter((token) => token !== '');
}

const sameText = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** `domain:bus:device[.0...]` in hex, as sscanf("%x:%02x:%02x.0") accepts it; anything after the device field is ignored. */
function normalisePciBusId(token: string): string | null {
  const match = /^\s*\+?(?:0[xX])?([0-9a-fA-F]+):\s*\+?([0-9a-fA-F]{1,2}):\s*\+?([0-9a-fA-F]{1,2})/.exec(token);
  if (match === null) return null;
  const [domain, bus, device] = [match[1], match[2], match[3]].map((hex) => Number.parseInt(hex ?? '', 16));
  const hex = (value: number | undefined, width: number): string => ((value ?? 0) >>> 0).toString(16).padStart(width, '0');
  return `${hex(domain, 8)}:${hex(bus, 2)}:${hex(device, 2)}.0`;
}

/** A whole-token unsigned decimal (strtoumax with nothing left over). */
function parseIndex(token: string): number | null {
  const match = /^\s*([+-]?)(\d+)$/.exec(token);
  if (match === null) return null;
  const value = Number(match[2]);
  if (match[1] === '-' && value !== 0) return null; // wraps around to a huge value in C
  return Number.isSafeInteger(value) ? value : null;
}

/** `<gpu>:<mig>` decimal pair; like sscanf("%lu:%lu"), trailing text is ignored. */
function parseMigPair(token: string): [number, number] | null {
  const match = /^\s*\+?(\d+):\s*\+?(\d+)/.exec(token);
  if (match === null) return null;
  return [Number(match[1]), Number(match[2])];
}

function findGpu(devices: Device[], token: string): Device | undefined {
  if (token.length > 4 && sameText(token.slice(0, 4), 'GPU-')) {
    const gpu = devices.find((d) => sameText(d.uuid, token));
    if (gpu !== undefined) return gpu;
  }
  const busId = normalisePciBusId(token);
  if (busId !== null) {
    const gpu = devices.find((d) => d.busId.toLowerCase().startsWith(busId));
    if (gpu !== undefined) return gpu;
  }
  const index = parseIndex(token);
  return index !== null && index < devices.length ? devices[index] : undefined;
}

function findMig(devices: Device[], token: string): MigSelection | undefined {
  if (token.length > 4 && sameText(token.slice(0, 4), 'MIG-')) {
    for (const gpu of devices) {
      const mig = gpu.mig.devices.find((m) => sameText(m.uuid, token));
      if (mig !== undefined) return { gpu, mig };
    }
  }
  const pair = parseMigPair(token);
  if (pair === null) return undefined;
  // The MIG index is NVML's MIG device index (MigDevice.index), as in the reference. Its listing stops at the
  // first empty slot, so there index and position agree; ours lists past gaps, so the index must be matched.
  const gpu = devices[pair[0]];
  const mig = gpu?.mig.devices.find((m) => m.index === pair[1]);
  return gpu !== undefined && mig !== undefined ? { gpu, mig } : undefined;
}

/**
 * Resolve a `--device` value against the devices of the host.
 * Throws `ERR_NVC_UNKNOWN_DEVICE` with the message `<token>: unknown device` for a token that matches nothing.
 */
export function selectDevices(devices: Device[], spec: string | string[]): DeviceSelection {
  const selection: DeviceSelection = { gpus: [], migs: [], all: false };
  const addGpu = (gpu: Device): void => {
    if (!selection.gpus.includes(gpu)) selection.gpus.push(gpu);
  };
  const addMig = (entry: MigSelection): void => {
    if (!selection.migs.some((m) => m.mig === entry.mig)) selection.migs.push(entry);
    addGpu(entry.gpu);
  };

  for (const token of tokens(spec)) {
    if (sameText(token, 'all')) {
      devices.forEach(addGpu);
      for (const gpu of devices) for (const mig of gpu.mig.devices) addMig({ gpu, mig });
      selection.all = true;
      break;
    }
    const gpu = findGpu(devices, token);
    if (gpu !== undefined) {
      addGpu(gpu);
      continue;
    }
    const mig = findMig(devices, token);
    if (mig !== undefined) {
      addMig(mig);
      continue;
    }
    throw new NvcError('ERR_NVC_UNKNOWN_DEVICE', `${shorten(token)}: unknown device`, { hint: DEVICE_HINT });
  }
  return selection;
}

/**
 * Check a `--mig-config` / `--mig-monitor` value without looking at devices: only `all` is supported.
 * Returns the `all` token as written, or null when the option selects nothing.
 */
export function parseMigCapsSpec(kind: MigCapsKind, spec: string | string[] | undefined): string | null {
  for (const token of tokens(spec)) {
    if (sameText(token, 'all')) return token;
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${shorten(token)}: only 'all' devices are currently supported`, {
      field: kind,
      hint: `--${kind} accepts only \`all\`.`,
    });
  }
  return null;
}

/** The GPUs whose MIG capabilities `--mig-config all` / `--mig-monitor all` expose, among the visible devices. */
export function selectMigCapsDevices(kind: MigCapsKind, spec: string | string[] | undefined, visible: DeviceSelection): MigCapsSelection {
  const result: MigCapsSelection = { gpus: [], all: false };
  const token = parseMigCapsSpec(kind, spec);
  if (token === null) return result;
  if (!visible.all && visible.migs.length > 0) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${shorten(token)}: cannot enable ${kind} with specific MIG devices selected`, {
      field: kind,
      hint: `Select whole GPUs (or \`all\`) with \`devices\` when using \`${kind === 'mig-config' ? 'migConfig' : 'migMonitor'}\`.`,
    });
  }
  const candidates = [...visible.gpus, ...visible.migs.map((m) => m.gpu)];
  for (const gpu of candidates) {
    if (gpu.mig.capable && !result.gpus.includes(gpu)) result.gpus.push(gpu);
  }
  result.all = true;
  return result;
}

/** Parse `--imex-channel` values: comma lists of decimal channel ids below 2^20, in the order given. */
export function parseImexChannels(spec: string | string[] | undefined): number[] {
  const distinct = new Set<number>();
  return tokens(spec).map((token) => {
    const value = /^\d+$/.test(token) ? Number(token) : Number.NaN;
    if (!(value < IMEX_CHANNEL_LIMIT)) {
      throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `unsupported IMEX channel value: ${shorten(token)}`, {
        field: 'imex-channel',
        hint: `IMEX channel ids are decimal numbers from 0 to ${IMEX_CHANNEL_LIMIT - 1}.`,
      });
    }
    distinct.add(value);
    if (distinct.size > IMEX_CHANNELS_PER_REQUEST_MAX) {
      throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `too many IMEX channels requested: more than ${IMEX_CHANNELS_PER_REQUEST_MAX} distinct ids`, {
        field: 'imex-channel',
        hint: `request at most ${IMEX_CHANNELS_PER_REQUEST_MAX} IMEX channels per container.`,
      });
    }
    return value;
  });
}
