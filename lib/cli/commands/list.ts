/**
 * `nvc-ts list`: the host paths a `configure` would inject, one per line in nvidia-container-cli 1.17's order.
 * The command parses its flags (with the reference's defaults) and prints the listing lowering
 * (lib/plan/listing.ts) of the selection stage (lib/plan/select-items.ts) for every capability.
 */
import type { HostFacts } from '../../host-facts';
import { DRIVER_ROOT_VIEW } from '../../plan/items';
import { formatListJson, formatListText, lowerToListing, type ListEntry } from '../../plan/listing';
import { resolveRequest, selectItems, type SelectionFacts } from '../../plan/select-items';
import { parseImexChannels, parseMigCapsSpec } from '../../select';
import { CAPABILITIES } from '../../types';
import { UsageError } from '../format-error';
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

export interface ListInput extends Omit<SelectionFacts, 'paths' | 'procFiles' | 'gpuProcDirs'> {
  devices: HostFacts['devices'];
  flags: ListFlags;
}

/**
 * Everything `list` prints, in the reference's order: the selection for every capability,
 * lowered to the listing. Throws the selection errors of lib/select.ts (unknown device,
 * mig-config with MIG devices).
 */
export function buildListing(input: ListInput): ListEntry[] {
  const { flags, devices } = input;
  // Like the reference, a host without GPUs accepts any --device value.
  const resolved = resolveRequest(input, {
    ...(flags.devices !== null && devices.length > 0 && { devices: flags.devices }),
    capabilities: [...CAPABILITIES],
    compat32: flags.compat32,
    require: [],
    ...(flags.migConfig !== null && { migConfig: flags.migConfig }),
    ...(flags.migMonitor !== null && { migMonitor: flags.migMonitor }),
    ...(flags.imexChannels !== null && { imexChannels: flags.imexChannels.map(String) }),
    noPersistenced: flags.noPersistenced,
    noFabricmanager: flags.noFabricmanager,
    noGspFirmware: flags.noGspFirmware,
  });
  // list prints paths as the driver root shows them; the proc files are not listed.
  const facts: SelectionFacts = { ...input, paths: DRIVER_ROOT_VIEW, procFiles: {}, gpuProcDirs: {} };
  return lowerToListing(selectItems(facts, resolved), {
    devices: flags.devices !== null,
    imexChannels: flags.imexChannels !== null,
    binaries: flags.binaries,
    libraries: flags.libraries,
    ipcs: flags.ipcs,
    firmwares: flags.firmwares,
  });
}

export { formatListJson, formatListText };

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
  // nvidia-container-cli 1.17.4's list took it too; list names host files only, never an image's compat libraries.
  'no-cntlibs': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const strings = (value: OptionValues[string]): string[] | null =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : typeof value === 'string' ? [value] : null;

/**
 * How many argv words the list options used (--json and --no-cntlibs aside). The reference applies its defaults when that is 0,
 * or when it is 1 and that word is `--imex-channel=IDS` (so `--imex-channel IDS`, two words, gets no defaults).
 */
export function countListWords(tokens: OptionToken[]): number {
  const words = new Set<number>();
  for (const token of tokens) {
    if (token.name === 'json' || token.name === 'no-cntlibs') continue;
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
  if (flags.devices?.some((d) => d.trim() === ''))
    throw new UsageError('option --device needs GPUs (indices, UUIDs, bus ids or all); for no GPU, leave --device out');
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
    "      --no-cntlibs        accepted as nvidia-container-cli 1.17.4 took it (list never names an image's CUDA compat libraries)",
    '      --json              JSON output grouped by kind',
    '',
    'With no option (or only --imex-channel=IDS): --device=all --libraries --binaries --ipcs --firmwares --compat32.',
  ],
  options: LIST_OPTIONS,
  parse: parseListFlags,
  async run(session: CommandSession, flags: ListFlags): Promise<void> {
    const ctx = await session.context();
    const facts = await session.phase('detection', () => ctx.hostFacts({ migMinors: flags.migConfig !== null || flags.migMonitor !== null }));
    for (const n of facts.notes) session.note(n);
    const entries = await session.phase('device', () => buildListing({ ...facts, flags }));
    session.write(flags.json ? formatListJson(entries) : formatListText(entries));
  },
};
