/**
 * `nvc-ts list`: the host paths a `configure` would inject, one per line in nvidia-container-cli 1.17's order:
 * driver device nodes, GPU nodes, MIG access caps, IMEX channels, MIG config/monitor caps, binaries, libraries,
 * 32-bit libraries, IPCs, firmware.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';

import type { Device, DriverInfo } from '../../types';
import { parseImexChannels, parseMigCapsSpec, selectDevices, selectMigCapsDevices } from '../../select';
import type { DeviceSelection, MigCapsKind, MigCapsSelection } from '../../select';
import type { CommandSession, CommandSpec, OptionToken, OptionValues } from '../types';

export interface ListFlags {
  /** `--device` values; null when not given (then no device nodes are listed). */
  devices: string[] | null;
  libraries: boolean;
  binaries: boolean;
  ipcs: boolean;
  firmwares: boolean;
  compat32: boolean;
  migConfig: string[] | null;
  migMonitor: string[] | null;
  /** Parsed `--imex-channel` ids; null when not given. */
  imexChannels: number[] | null;
  noPersistenced: boolean;
  noFabricmanager: boolean;
  noGspFirmware: boolean;
  json: boolean;
}

export const MIG_CAPS_DIR = '/proc/driver/nvidia/capabilities/mig';
export const NVCAPS_DEVICE_DIR = '/dev/nvidia-caps';
export const IMEX_CHANNEL_DIR = '/dev/nvidia-caps-imex-channels';
/** Read from the proc root; lists every MIG capability minor of every GPU. */
export const MIG_MINORS_FILE = 'driver/nvidia-caps/mig-minors';
/** Nodes the reference lists without checking that they exist. */
const SYNTHESISED_NODES = new Set(['/dev/nvidiactl', '/dev/nvidia-modeset']);

const capNodePath = (minor: number): string => `${NVCAPS_DEVICE_DIR}/nvidia-cap${minor}`;
const imexNodePath = (channel: number): string => `${IMEX_CHANNEL_DIR}/channel${channel}`;

export interface ListedNode {
  path: string;
  major: number | null;
  minor: number | null;
  exists: boolean;
}

export type ListGroup =
  | 'deviceNodes'
  | 'migCaps'
  | 'directories'
  | 'binaries'
  | 'libraries'
  | 'libraries32'
  | 'ipcs'
  | 'firmware';

export interface ListEntry {
  group: ListGroup;
  path: string;
  /** Set for deviceNodes entries. */
  node?: ListedNode;
}

/** One `gpu<minor>/... <capMinor>` line of /proc/driver/nvidia-caps/mig-minors. */
export interface MigMinor {
  gpuMinor: number;
  capMinor: number;
}

export interface ListInput {
  driver: DriverInfo;
  devices: Device[];
  flags: ListFlags;
  /** Parsed mig-minors, needed for --mig-config/--mig-monitor all when /dev/nvidia-caps exists. */
  migMinors: MigMinor[];
  /** Whether a device node (as a /dev path) exists on the host. */
  nodeExists: (devPath: string) => boolean;
}

/** Parse mig-minors the way the reference does: `gpu<N><rest> <minor>`; `config`/`monitor` lines are skipped. */
export function parseMigMinors(text: string): MigMinor[] {
  const out: MigMinor[] = [];
  for (const line of text.split('\n')) {
    const match = /^gpu(\d+)(?!\d)\s*\S+\s+(\d+)/.exec(line);
    if (match !== null) out.push({ gpuMinor: Number(match[1]), capMinor: Number(match[2]) });
  }
  return out;
}

function nodeEntry(node: ListedNode): ListEntry {
  return { group: 'deviceNodes', path: node.path, node };
}

function capNode(input: ListInput, minor: number | null): ListEntry[] {
  const major = input.driver.nvcapsMajor;
  if (major === null || minor === null) return [];
  const devPath = capNodePath(minor);
  return [nodeEntry({ path: devPath, major, minor, exists: input.nodeExists(devPath) })];
}

function deviceEntries(input: ListInput, visible: DeviceSelection, migCapsAll: boolean): ListEntry[] {
  const entries: ListEntry[] = [];
  for (const node of input.driver.deviceNodes) {
    if (node.exists || SYNTHESISED_NODES.has(node.path)) entries.push(nodeEntry({ ...node }));
  }
  for (const gpu of visible.gpus) {
    const { path: devPath, major, minor } = gpu.deviceNode;
    entries.push(nodeEntry({ path: devPath, major, minor, exists: input.nodeExists(devPath) }));
  }
  if (migCapsAll) return entries;
  for (const { mig } of visible.migs) {
    entries.push({ group: 'migCaps', path: `${mig.giCapsPath}/access` });
    entries.push({ group: 'migCaps', path: `${mig.ciCapsPath}/access` });
    entries.push(...capNode(input, mig.giCapMinor), ...capNode(input, mig.ciCapMinor));
  }
  return entries;
}

function imexEntries(input: ListInput, channels: number[]): ListEntry[] {
  return channels.map((channel) => {
    const devPath = imexNodePath(channel);
    const major = input.driver.imexMajor;
    return nodeEntry({ path: devPath, major, minor: channel, exists: input.nodeExists(devPath) });
  });
}

function migCapsEntries(input: ListInput, kind: MigCapsKind, selected: MigCapsSelection): ListEntry[] {
  if (!selected.all || selected.gpus.length === 0) return [];
  const file = kind === 'mig-config' ? 'config' : 'monitor';
  const globalMinor = kind === 'mig-config' ? input.driver.migConfigMinor : input.driver.migMonitorMinor;
  const entries: ListEntry[] = [{ group: 'migCaps', path: `${MIG_CAPS_DIR}/${file}` }, ...capNode(input, globalMinor)];
  for (const gpu of selected.gpus) {
    entries.push({ group: 'migCaps', path: gpu.mig.capsPath });
    if (input.driver.nvcapsMajor === null) continue;
    entries.push({ group: 'directories', path: NVCAPS_DEVICE_DIR });
    for (const { gpuMinor, capMinor } of input.migMinors) {
      if (gpuMinor === gpu.deviceNode.minor) entries.push(...capNode(input, capMinor));
    }
  }
  return entries;
}

function driverFileEntries(input: ListInput): ListEntry[] {
  const { driver, flags } = input;
  const files = (group: ListGroup, list: { path: string }[]): ListEntry[] => list.map((f) => ({ group, path: f.path }));
  const ipcs = driver.ipcs.filter(
    (f) =>
      !(flags.noPersistenced && f.path.endsWith('/nvidia-persistenced/socket')) &&
      !(flags.noFabricmanager && f.path.endsWith('/nvidia-fabricmanager/socket')),
  );
  return [
    ...(flags.binaries ? files('binaries', driver.binaries) : []),
    ...(flags.libraries ? files('libraries', driver.libraries) : []),
    ...(flags.libraries && flags.compat32 ? files('libraries32', driver.libraries32) : []),
    ...(flags.ipcs ? files('ipcs', ipcs) : []),
    ...(flags.firmwares && !flags.noGspFirmware ? files('firmware', driver.firmware) : []),
  ];
}

/**
 * Everything `list` prints, in the reference's order. Pure apart from `nodeExists`.
 * Throws the selection errors of lib/select.ts (unknown device, mig-config with MIG devices).
 */
export function buildListing(input: ListInput): ListEntry[] {
  const { flags, devices } = input;
  // Like the reference, a host without GPUs accepts any --device value.
  const visible: DeviceSelection =
    flags.devices !== null && devices.length > 0
      ? selectDevices(devices, flags.devices)
      : { gpus: [], migs: [], all: false };
  const migConfig = selectMigCapsDevices('mig-config', flags.migConfig ?? undefined, visible);
  const migMonitor = selectMigCapsDevices('mig-monitor', flags.migMonitor ?? undefined, visible);
  return [
    ...(flags.devices !== null ? deviceEntries(input, visible, migConfig.all || migMonitor.all) : []),
    ...(flags.imexChannels !== null ? imexEntries(input, flags.imexChannels) : []),
    ...migCapsEntries(input, 'mig-config', migConfig),
    ...migCapsEntries(input, 'mig-monitor', migMonitor),
    ...driverFileEntries(input),
  ];
}

export function formatListText(entries: ListEntry[]): string {
  return entries.map((e) => `${e.path}\n`).join('');
}

export interface ListJson {
  deviceNodes: ListedNode[];
  migCaps: string[];
  binaries: string[];
  libraries: string[];
  libraries32: string[];
  ipcs: string[];
  firmware: string[];
}

/** Grouped, without duplicates; the /dev/nvidia-caps directory line of the text output has no group here. */
export function listJson(entries: ListEntry[]): ListJson {
  const out: ListJson = { deviceNodes: [], migCaps: [], binaries: [], libraries: [], libraries32: [], ipcs: [], firmware: [] };
  const seen = new Set<string>();
  for (const entry of entries) {
    const key = `${entry.group}\0${entry.path}`;
    if (entry.group === 'directories' || seen.has(key)) continue;
    seen.add(key);
    if (entry.group === 'deviceNodes') {
      if (entry.node !== undefined) out.deviceNodes.push(entry.node);
    } else {
      out[entry.group].push(entry.path);
    }
  }
  return out;
}

export function formatListJson(entries: ListEntry[]): string {
  return `${JSON.stringify(listJson(entries), null, 2)}\n`;
}

const LIST_OPTIONS = {
  device: { type: 'string', short: 'd', multiple: true },
  libraries: { type: 'boolean', short: 'l' },
  binaries: { type: 'boolean', short: 'b' },
  ipcs: { type: 'boolean', short: 'i' },
  firmwares: { type: 'boolean', short: 'f' },
  compat32: { type: 'boolean' },
  'mig-config': { type: 'string', multiple: true },
  'mig-monitor': { type: 'string', multiple: true },
  'imex-channel': { type: 'string', multiple: true },
  'no-persistenced': { type: 'boolean' },
  'no-fabricmanager': { type: 'boolean' },
  'no-gsp-firmware': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const strings = (value: OptionValues[string]): string[] | null =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : typeof value === 'string' ? [value] : null;

/**
 * How many argv words the list options used (--json aside). The reference applies its defaults when that is 0,
 * or when it is 1 and that word is `--imex-channel=IDS` (so `--imex-channel IDS`, two words, gets no defaults).
 */
export function countListWords(tokens: OptionToken[]): number {
  const words = new Set<number>();
  for (const token of tokens) {
    if (token.name === 'json') continue;
    words.add(token.index);
    if (token.inlineValue === false) words.add(token.index + 1);
  }
  return words.size;
}

export function parseListFlags(values: OptionValues, tokens: OptionToken[]): ListFlags {
  const flag = (name: keyof typeof LIST_OPTIONS): boolean => values[name] === true;
  const imex = strings(values['imex-channel']);
  const flags: ListFlags = {
    devices: strings(values['device']),
    libraries: flag('libraries'),
    binaries: flag('binaries'),
    ipcs: flag('ipcs'),
    firmwares: flag('firmwares'),
    compat32: flag('compat32'),
    migConfig: strings(values['mig-config']),
    migMonitor: strings(values['mig-monitor']),
    imexChannels: imex === null ? null : parseImexChannels(imex),
    noPersistenced: flag('no-persistenced'),
    noFabricmanager: flag('no-fabricmanager'),
    noGspFirmware: flag('no-gsp-firmware'),
    json: flag('json'),
  };
  // Syntax errors in --mig-config/--mig-monitor do not depend on the host: report them before touching the driver.
  parseMigCapsSpec('mig-config', flags.migConfig ?? undefined);
  parseMigCapsSpec('mig-monitor', flags.migMonitor ?? undefined);
  const words = countListWords(tokens);
  if (words === 0 || (words === 1 && imex !== null)) {
    Object.assign(flags, {
      devices: ['all'],
      migConfig: null,
      migMonitor: null,
      compat32: true,
      libraries: true,
      binaries: true,
      ipcs: true,
      firmwares: true,
    });
  }
  return flags;
}

async function readMigMinors(procRoot: string): Promise<MigMinor[]> {
  try {
    return parseMigMinors(await fsp.readFile(path.join(procRoot, MIG_MINORS_FILE), 'utf8'));
  } catch {
    return []; // The reference prints nothing for a GPU when the file cannot be read.
  }
}

function devNodeProbe(devRoot: string): (devPath: string) => boolean {
  return (devPath) => existsSync(path.join(devRoot, path.relative('/dev', devPath)));
}

export const listCommand: CommandSpec<ListFlags> = {
  name: 'list',
  summary: 'List the driver files and device nodes a container would get',
  usage: [
    'nvc-ts [GLOBAL OPTIONS] list [OPTIONS]',
    '',
    '  -d, --device IDS        devices to list: all, indexes, GPU-/MIG- UUIDs, PCI bus ids, <gpu>:<mig> (repeatable)',
    '  -l, --libraries         list driver libraries',
    '  -b, --binaries          list driver binaries',
    '  -i, --ipcs              list driver IPC sockets and pipes',
    '  -f, --firmwares         list GSP firmware files',
    '      --compat32          include 32-bit libraries',
    '      --mig-config all    list the MIG config capability files of the visible GPUs',
    '      --mig-monitor all   list the MIG monitor capability files of the visible GPUs',
    '      --imex-channel IDS  list IMEX channel device nodes (ids < 1048576)',
    '      --no-persistenced   leave out the nvidia-persistenced socket',
    '      --no-fabricmanager  leave out the nvidia-fabricmanager socket',
    '      --no-gsp-firmware   leave out GSP firmware',
    '      --json              JSON output grouped by kind',
    '',
    'With no option (or only --imex-channel=IDS): --device=all --libraries --binaries --ipcs --firmwares --compat32.',
  ],
  options: LIST_OPTIONS,
  parse: parseListFlags,
  async run(session: CommandSession, flags: ListFlags): Promise<void> {
    const [driver, devices] = await session.phase('detection', async () => [
      await session.driverInfo(),
      await session.deviceInfo(),
    ] as const);
    const wantsMigMinors = (flags.migConfig !== null || flags.migMonitor !== null) && driver.nvcapsMajor !== null;
    const migMinors = wantsMigMinors ? await readMigMinors(session.paths.procRoot) : [];
    const entries = await session.phase('device', () =>
      buildListing({ driver, devices, flags, migMinors, nodeExists: devNodeProbe(session.paths.devRoot) }),
    );
    session.write(flags.json ? formatListJson(entries) : formatListText(entries));
  },
};
