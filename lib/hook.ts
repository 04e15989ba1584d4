/**
 * OCI hook semantics for any caller (the `nvc-ts hook` command, a library user, a service):
 * from a container's OCI state and its bundle's config.json, whether it is a GPU container and
 * what to configure for it, read from its NVIDIA_* environment as the toolkit's legacy hook
 * reads it.
 */
import * as path from 'node:path';
import { CONFIG_JSON_MAX_BYTES, readRegularFile } from './bounded-read';
import { interpretContainerEnv, isPrivileged, parseOciConfig, parseOciState, type HookEnvConfig, type OciConfig, type OciState } from './hook-env';
import type { ConfigureRequestInput } from './schema';

/** What to configure for a GPU container. */
export interface HookTarget {
  /** The container's init process. */
  pid: number;
  /** Host path of its rootfs (config root.path against the bundle). */
  rootfs: string;
  request: ConfigureRequestInput;
}

export interface HookOptions extends HookEnvConfig {
  /** Leave the device cgroup to the runtime. */
  noCgroups?: boolean;
}

/** The configure target of a container, or null when it asks for no GPU (then nothing is to be done). */
export function hookTargetFromOci(state: OciState, config: OciConfig, options: HookOptions = {}): HookTarget | null {
  const { noCgroups = false, ...envConfig } = options;
  const request = interpretContainerEnv({ env: config.process?.env ?? [], privileged: isPrivileged(config) }, envConfig);
  if (request === null) return null;
  return {
    pid: state.pid,
    rootfs: path.resolve(state.bundle, config.root?.path ?? 'rootfs'),
    request: {
      ...(request.devices !== null && { devices: request.devices }),
      capabilities: request.capabilities,
      compat32: request.compat32,
      require: request.requirements,
      ...(request.migConfig !== null && { migConfig: request.migConfig }),
      ...(request.migMonitor !== null && { migMonitor: request.migMonitor }),
      ...(request.imexChannels !== null && { imexChannels: request.imexChannels }),
      noCgroups,
    },
  };
}

/**
 * The same from the OCI state's text (a hook's stdin): reads and checks the bundle's config.json,
 * which must be a regular file of at most CONFIG_JSON_MAX_BYTES (4 MiB).
 */
export async function hookTargetFromStateText(stateText: string | Buffer, options: HookOptions = {}): Promise<HookTarget | null> {
  const state = parseOciState(stateText);
  const config = parseOciConfig(
    await readRegularFile(path.join(state.bundle, 'config.json'), { what: 'config.json', field: 'config.json', maxBytes: CONFIG_JSON_MAX_BYTES }),
  );
  return hookTargetFromOci(state, config, options);
}
