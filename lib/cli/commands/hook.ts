/**
 * `nvc-ts hook`: an OCI hook (runc `prestart` or `createRuntime`). Reads the container state
 * on stdin and the bundle's config.json, interprets the NVIDIA_* environment as the toolkit's
 * legacy hook does, and configures the container. Not a GPU container: does nothing.
 */
import * as path from 'node:path';
import { OCI_STATE_MAX_BYTES, readBoundedStream, readRegularFile } from '../../bounded-read';
import { hookTargetFromStateText } from '../../hook';
import { UsageError } from '../format-error';
import type { CommandSession, CommandSpec, OptionValues } from '../types';
import { runConfigure } from './configure';

export interface HookFlags {
  ldconfig: string | undefined;
  noCgroups: boolean;
  /** For tests: read the state from this file instead of stdin. */
  stateFile: string | undefined;
}

const STATE_INPUT = { what: 'OCI state', field: 'OCI state', maxBytes: OCI_STATE_MAX_BYTES };

export const hookCommand: CommandSpec<HookFlags> = {
  name: 'hook',
  summary: 'Run as an OCI prestart/createRuntime hook: configure the container its env asks for',
  usage: [
    'nvc-ts hook [--ldconfig PATH] [--no-cgroups] [GLOBAL OPTIONS]   (OCI state on stdin)',
    '',
    '  Reads NVIDIA_VISIBLE_DEVICES, NVIDIA_DRIVER_CAPABILITIES, NVIDIA_REQUIRE_*, NVIDIA_DISABLE_REQUIRE,',
    '  NVIDIA_MIG_CONFIG_DEVICES, NVIDIA_MIG_MONITOR_DEVICES, NVIDIA_IMEX_CHANNELS and CUDA_VERSION from',
    '  the container config. Default ldconfig: @/sbin/ldconfig.real where it exists, else @/sbin/ldconfig.',
    '  Inputs are bounded: the state at most 1 MiB, config.json a regular file of at most 4 MiB, each read within 10 s.',
  ],
  options: {
    ldconfig: { type: 'string' },
    'no-cgroups': { type: 'boolean' },
    'state-file': { type: 'string' },
  },
  parse(values: OptionValues): HookFlags {
    const ldconfig = typeof values['ldconfig'] === 'string' ? values['ldconfig'] : undefined;
    if (ldconfig !== undefined && !/^@?\//.test(ldconfig))
      throw new UsageError(`option --ldconfig needs an absolute path (@ for a host binary), not '${ldconfig}'`);
    return {
      ldconfig,
      noCgroups: values['no-cgroups'] === true,
      stateFile: typeof values['state-file'] === 'string' ? values['state-file'] : undefined,
    };
  },
  async run(session: CommandSession, flags: HookFlags): Promise<void> {
    const target = await session.phase('input', async () => {
      // A runtime pipes the state in; a person who typed `nvc-ts hook` would wait forever.
      const input = flags.stateFile === undefined ? await session.stdin() : undefined;
      if (input !== undefined && input.isTTY) {
        throw new UsageError(
          'hook reads the OCI state of a container on stdin, as runtimes run their hooks; stdin is a terminal here (pipe a state in, or give --state-file FILE)',
        );
      }
      const stateText =
        input !== undefined ? await readBoundedStream(input.stream, STATE_INPUT) : await readRegularFile(path.resolve(flags.stateFile as string), STATE_INPUT);
      if (stateText.length === 0) {
        throw new UsageError(
          'hook got no OCI state on stdin: it is run by a container runtime (a prestart or createRuntime hook), which passes the container state there',
        );
      }
      return hookTargetFromStateText(stateText, { noCgroups: flags.noCgroups });
    });
    if (target === null) return; // not a GPU container
    await runConfigure(session, { pid: target.pid, rootfs: target.rootfs, ldconfig: flags.ldconfig, json: false, request: target.request });
  },
};
