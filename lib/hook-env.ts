/**
 * What the legacy OCI prestart hook derives from a container: whether it is a GPU container, which
 * devices and driver capabilities it asks for, its requirements, MIG and IMEX requests.
 *
 * Pure functions over the container's environment and its config.json; nothing here touches the
 * host.
 */

import { z } from 'zod';
import { NvcError } from './errors';
import { quote, quoteList, shorten } from './quote';
import { IMEX_CHANNELS_PER_REQUEST_MAX } from './select';
import { CAPABILITIES, type Capability } from './types';

/** A driver capability as written in NVIDIA_DRIVER_CAPABILITIES: the library groups plus compat32. */
export type DriverCapability = Capability | 'compat32';

/** Every driver capability, sorted. */
export const DRIVER_CAPABILITIES: readonly DriverCapability[] = [...CAPABILITIES, 'compat32' as const].sort();

/** Used when NVIDIA_DRIVER_CAPABILITIES is unset or empty (non-legacy images). */
export const DEFAULT_DRIVER_CAPABILITIES: readonly DriverCapability[] = ['compute', 'utility'];

export interface HookEnvConfig {
  /**
   * Capabilities the host allows (config `supported-driver-capabilities`): a comma list, "all",
   * or an array. Default: all seven.
   */
  supportedCapabilities?: string | readonly DriverCapability[];
  /** Capabilities used when the image sets none. Default: compute, utility. */
  defaultCapabilities?: string | readonly DriverCapability[];
  /** Config `disable-require`: pass no requirements. Default false. */
  disableRequire?: boolean;
  /**
   * Config `accept-nvidia-visible-devices-envvar-when-unprivileged`: honour NVIDIA_VISIBLE_DEVICES
   * (and NVIDIA_IMEX_CHANNELS) in containers without CAP_SYS_ADMIN. Default true.
   */
  acceptEnvvarUnprivileged?: boolean;
}

export interface HookEnvInput {
  /** process.env of config.json: "NAME=value" entries; later entries win. */
  env: readonly string[];
  /** CAP_SYS_ADMIN in the bounding set (see isPrivileged). */
  privileged: boolean;
}

export interface GpuContainerRequest {
  /** "all" or a comma list of indices / UUIDs / MIG ids; null for none (driver files only). */
  devices: string | null;
  /** Requested capabilities other than compat32, sorted. */
  capabilities: Capability[];
  /** compat32 was requested. */
  compat32: boolean;
  /** One `--require` expression each: NVIDIA_REQUIRE_* sorted by variable name, then the implicit legacy one. */
  requirements: string[];
  /** NVIDIA_MIG_CONFIG_DEVICES (privileged containers only); null when unset or empty. */
  migConfig: string | null;
  /** NVIDIA_MIG_MONITOR_DEVICES (privileged containers only); null when unset or empty. */
  migMonitor: string | null;
  /** Comma list of IMEX channel ids; null when none were asked for ("all" is ignored). */
  imexChannels: string | null;
}

const VISIBLE_DEVICES = 'NVIDIA_VISIBLE_DEVICES';
const DRIVER_CAPS = 'NVIDIA_DRIVER_CAPABILITIES';
const REQUIRE_PREFIX = 'NVIDIA_REQUIRE_';
const REQUIRE_JETPACK = 'NVIDIA_REQUIRE_JETPACK';
const REQUIRE_CUDA = 'NVIDIA_REQUIRE_CUDA';
const DISABLE_REQUIRE = 'NVIDIA_DISABLE_REQUIRE';
const MIG_CONFIG = 'NVIDIA_MIG_CONFIG_DEVICES';
const MIG_MONITOR = 'NVIDIA_MIG_MONITOR_DEVICES';
const IMEX_CHANNELS = 'NVIDIA_IMEX_CHANNELS';
const CUDA_VERSION = 'CUDA_VERSION';

/** The strings Go's strconv.ParseBool takes as true. */
const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);

function invalidArg(variable: string, message: string, hint?: string): NvcError {
  return new NvcError('ERR_NVC_INVALID_ARGUMENT', message, hint === undefined ? { field: variable } : { field: variable, hint });
}

/** "NAME=value" entries to a map; later entries override earlier ones, entries without "=" are ignored. */
function envMap(env: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of env) {
    if (typeof entry !== 'string') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return map;
}

/** Comma list, items trimmed, empty items dropped. */
function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

type DeviceRequest = { kind: 'unset' } | { kind: 'void' } | { kind: 'none' } | { kind: 'all' } | { kind: 'list'; items: string[] };

/**
 * NVIDIA_VISIBLE_DEVICES-style list: unset; empty or containing "void" → void; otherwise the first of
 * "all"/"none" in the list decides; else the list itself.
 */
function deviceRequest(value: string | undefined): DeviceRequest {
  if (value === undefined) return { kind: 'unset' };
  const items = splitList(value);
  if (items.length === 0 || items.includes('void')) return { kind: 'void' };
  for (const item of items) {
    if (item === 'all') return { kind: 'all' };
    if (item === 'none') return { kind: 'none' };
  }
  return { kind: 'list', items: [...new Set(items)] };
}

function isDriverCapability(word: string): word is DriverCapability {
  return (DRIVER_CAPABILITIES as readonly string[]).includes(word);
}

/** Parses a configured capability set; unknown words are a configuration error. */
function configCaps(option: string, value: string | readonly DriverCapability[] | undefined, dflt: readonly DriverCapability[]): Set<DriverCapability> {
  if (value === undefined) return new Set(dflt);
  const words = typeof value === 'string' ? splitList(value) : [...value];
  const out = new Set<DriverCapability>();
  for (const w of words) {
    if (w === 'all') {
      for (const c of DRIVER_CAPABILITIES) out.add(c);
    } else if (isDriverCapability(w)) {
      out.add(w);
    } else {
      throw invalidArg(option, `config ${option}: unknown driver capability ${quote(w)} (allowed: all, ${DRIVER_CAPABILITIES.join(', ')})`);
    }
  }
  return out;
}

function intersect(a: Set<DriverCapability>, b: Iterable<DriverCapability>): Set<DriverCapability> {
  const out = new Set<DriverCapability>();
  for (const c of b) if (a.has(c)) out.add(c);
  return out;
}

function imageCapabilities(
  env: Map<string, string>,
  legacy: boolean,
  supported: Set<DriverCapability>,
  defaults: Set<DriverCapability>,
): Set<DriverCapability> {
  const value = env.get(DRIVER_CAPS);
  if (value === undefined && legacy) return new Set(supported);
  const words = value === undefined ? [] : splitList(value);
  if (words.length === 0) return intersect(supported, defaults);
  const wanted = new Set<DriverCapability>();
  const unknown: string[] = [];
  const unsupported: string[] = [];
  for (const w of words) {
    if (w === 'all') {
      for (const c of supported) wanted.add(c);
    } else if (!isDriverCapability(w)) {
      unknown.push(w);
    } else if (!supported.has(w)) {
      unsupported.push(w);
    } else {
      wanted.add(w);
    }
  }
  if (unknown.length > 0) {
    throw invalidArg(
      DRIVER_CAPS,
      `${DRIVER_CAPS}=${shorten(value ?? '')}: unsupported capabilities found: ${quoteList(unknown)} ` + `(allowed: all, ${DRIVER_CAPABILITIES.join(', ')})`,
      `fix ${DRIVER_CAPS} in the image or container environment`,
    );
  }
  if (unsupported.length > 0) {
    throw invalidArg(
      DRIVER_CAPS,
      `${DRIVER_CAPS}=${shorten(value ?? '')}: unsupported capabilities found: ${quoteList(unsupported)} ` +
        `are not enabled on this host (supported: ${[...supported].sort().join(', ') || 'none'})`,
      'remove them from the container environment, or add them to supported-driver-capabilities in the host configuration',
    );
  }
  return wanted;
}

/**
 * major.minor of CUDA_VERSION, which must be a semantic version (with optional leading "v"; "12" and
 * "12.4" are accepted as short forms; a pre-release or build suffix needs all three numbers).
 */
function legacyCudaMajorMinor(value: string): string {
  const m = /^v?(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)?)?$/.exec(value);
  const major = m?.[1];
  if (m === null || major === undefined || Number(major) > 0xffffffff || Number(m[2] ?? '0') > 0xffffffff) {
    throw invalidArg(
      CUDA_VERSION,
      `${CUDA_VERSION}=${shorten(value)}: not a version (expected major.minor.patch, e.g. 11.2.1); it is needed to derive the implicit cuda>= requirement of images without ${REQUIRE_CUDA}`,
      `set ${REQUIRE_CUDA} or ${DISABLE_REQUIRE}=true, or fix ${CUDA_VERSION}`,
    );
  }
  return `${major}.${m[2] ?? '0'}`;
}

/**
 * Interprets a container's environment the way the toolkit's legacy hook does.
 * Returns null when the container does not ask for GPUs (the hook then does nothing).
 * Throws NvcError ERR_NVC_INVALID_ARGUMENT naming the offending variable.
 */
export function interpretContainerEnv(input: HookEnvInput, config: HookEnvConfig = {}): GpuContainerRequest | null {
  if (input === null || typeof input !== 'object' || !Array.isArray(input.env)) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', 'input.env must be an array of "NAME=value" strings', { field: 'env' });
  }
  const env = envMap(input.env);
  const privileged = input.privileged === true;
  const acceptUnprivileged = config.acceptEnvvarUnprivileged ?? true;
  const supported = configCaps('supported-driver-capabilities', config.supportedCapabilities, DRIVER_CAPABILITIES);
  const defaults = configCaps('default-driver-capabilities', config.defaultCapabilities, DEFAULT_DRIVER_CAPABILITIES);

  // A legacy image has a CUDA_VERSION and no NVIDIA_REQUIRE_CUDA (both non-empty to count).
  const legacy = (env.get(CUDA_VERSION) ?? '') !== '' && (env.get(REQUIRE_CUDA) ?? '') === '';

  // Devices: env var requests count only in privileged containers unless configured otherwise.
  const envvarsHonoured = privileged || acceptUnprivileged;
  if (!envvarsHonoured) return null;
  let request = deviceRequest(env.get(VISIBLE_DEVICES));
  if (request.kind === 'unset') request = legacy ? { kind: 'all' } : { kind: 'void' };
  if (request.kind === 'void') return null;
  const devices = request.kind === 'all' ? 'all' : request.kind === 'none' ? null : request.items.join(',');

  const migConfig = env.get(MIG_CONFIG) ?? '';
  if (migConfig !== '' && !privileged) {
    throw invalidArg(
      MIG_CONFIG,
      `cannot set ${MIG_CONFIG} in a non-privileged container (${MIG_CONFIG}=${shorten(migConfig)})`,
      'run the container privileged (with CAP_SYS_ADMIN) or unset the variable',
    );
  }
  const migMonitor = env.get(MIG_MONITOR) ?? '';
  if (migMonitor !== '' && !privileged) {
    throw invalidArg(
      MIG_MONITOR,
      `cannot set ${MIG_MONITOR} in a non-privileged container (${MIG_MONITOR}=${shorten(migMonitor)})`,
      'run the container privileged (with CAP_SYS_ADMIN) or unset the variable',
    );
  }

  // IMEX channels follow the device-list rules, but "all" (and "none") request nothing.
  const imex = deviceRequest(env.get(IMEX_CHANNELS));
  if (imex.kind === 'list' && imex.items.length > IMEX_CHANNELS_PER_REQUEST_MAX) {
    throw invalidArg(
      IMEX_CHANNELS,
      `${IMEX_CHANNELS} names ${imex.items.length} channels; at most ${IMEX_CHANNELS_PER_REQUEST_MAX} are allowed per container`,
      `ask for the channels the job uses (at most ${IMEX_CHANNELS_PER_REQUEST_MAX})`,
    );
  }
  const imexChannels = imex.kind === 'list' ? imex.items.join(',') : null;

  const caps = imageCapabilities(env, legacy, supported, defaults);

  // The implicit legacy requirement is derived even when requirements end up disabled, as the
  // toolkit does, so a malformed CUDA_VERSION is reported either way.
  const legacyRequirement = legacy ? `cuda>=${legacyCudaMajorMinor(env.get(CUDA_VERSION) as string)}` : null;
  const disabled = config.disableRequire === true || GO_TRUE.has(env.get(DISABLE_REQUIRE) ?? '');
  const requirements: string[] = [];
  if (!disabled) {
    const names = [...env.keys()].filter((n) => n.startsWith(REQUIRE_PREFIX) && !n.startsWith(REQUIRE_JETPACK)).sort();
    for (const name of names) {
      const value = env.get(name) as string;
      if (value.trim() !== '') requirements.push(value);
    }
    if (legacyRequirement !== null) requirements.push(legacyRequirement);
  }

  return {
    devices,
    capabilities: [...caps].filter((c): c is Capability => c !== 'compat32').sort(),
    compat32: caps.has('compat32'),
    requirements,
    migConfig: migConfig === '' ? null : migConfig,
    migMonitor: migMonitor === '' ? null : migMonitor,
    imexChannels,
  };
}

// ---------------------------------------------------------------------------------------------
// OCI state and config.json

/** The OCI state the runtime writes on a hook's stdin. Unknown fields are kept. */
export const OciStateSchema = z
  .object({
    ociVersion: z.string(),
    id: z.string().min(1),
    status: z.string(),
    pid: z.number().int().positive(),
    bundle: z.string().min(1),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .passthrough();
export type OciState = z.infer<typeof OciStateSchema>;

export const OciHookSchema = z
  .object({
    path: z.string().min(1),
    args: z.array(z.string()).optional(),
    env: z.array(z.string()).optional(),
    timeout: z.number().int().optional(),
  })
  .passthrough();
export type OciHook = z.infer<typeof OciHookSchema>;

/**
 * process.capabilities: an object of sets since runtime-spec 1.0.0-rc5; a plain list (taken as the
 * bounding set) in rc1..rc4.
 */
export const OciCapabilitiesSchema = z.union([
  z
    .object({
      bounding: z.array(z.string()).optional(),
      effective: z.array(z.string()).optional(),
      inheritable: z.array(z.string()).optional(),
      permitted: z.array(z.string()).optional(),
      ambient: z.array(z.string()).optional(),
    })
    .passthrough(),
  z.array(z.string()),
]);

/** The parts of config.json the hook reads; everything else is kept as is. */
export const OciConfigSchema = z
  .object({
    ociVersion: z.string().optional(),
    root: z
      .object({ path: z.string().min(1), readonly: z.boolean().optional() })
      .passthrough()
      .optional(),
    process: z
      .object({
        env: z.array(z.string()).optional(),
        capabilities: OciCapabilitiesSchema.optional(),
      })
      .passthrough()
      .optional(),
    hooks: z
      .object({
        prestart: z.array(OciHookSchema).optional(),
        createRuntime: z.array(OciHookSchema).optional(),
        createContainer: z.array(OciHookSchema).optional(),
        startContainer: z.array(OciHookSchema).optional(),
        poststart: z.array(OciHookSchema).optional(),
        poststop: z.array(OciHookSchema).optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();
export type OciConfig = z.infer<typeof OciConfigSchema>;

function parseJson<T>(what: string, schema: z.ZodType<T>, text: string | Buffer): T {
  let value: unknown;
  try {
    value = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch (cause) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${what} is not valid JSON: ${shorten((cause as Error).message, 200)}`, { field: what, cause });
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${what} is malformed: ${issues}`, { field: what, cause: r.error });
  }
  return r.data;
}

/** Parses the OCI state from a hook's stdin. Throws ERR_NVC_INVALID_ARGUMENT. */
export function parseOciState(text: string | Buffer): OciState {
  return parseJson('OCI state', OciStateSchema, text);
}

/** Parses a bundle's config.json. Throws ERR_NVC_INVALID_ARGUMENT. */
export function parseOciConfig(text: string | Buffer): OciConfig {
  return parseJson('config.json', OciConfigSchema, text);
}

/** True when CAP_SYS_ADMIN is in process.capabilities.bounding (the toolkit's test for --privileged). */
export function isPrivileged(ociConfig: { process?: { capabilities?: unknown } | undefined } | null | undefined): boolean {
  const caps = ociConfig?.process?.capabilities;
  if (caps === undefined || caps === null) return false;
  const bounding: unknown = Array.isArray(caps) ? caps : (caps as { bounding?: unknown }).bounding;
  return Array.isArray(bounding) && bounding.includes('CAP_SYS_ADMIN');
}
