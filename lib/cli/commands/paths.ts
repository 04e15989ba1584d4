/**
 * `nvc-ts paths [--json]`: the absolute paths of the package's executables, so that users and
 * runtimes can find the native client (to install as nvidia-container-cli) and the helpers.
 */
import type { CommandSession, CommandSpec, OptionValues } from '../types';

export interface PathsFlags {
  json: boolean;
}

export const pathsCommand: CommandSpec<PathsFlags> = {
  name: 'paths',
  summary: "Print the absolute paths of the package's executables (the native client first)",
  usage: [
    'nvc-ts paths [--json]',
    '',
    '  cli: the native client (nvc-ts-cli; link it as nvidia-container-cli), node_cli: the Node CLI,',
    '  driver, exec, ldconfig, cdi_hook: the helpers (NVC_TS_* overrides shown as they are in force).',
  ],
  options: { json: { type: 'boolean' } },
  parse(values: OptionValues): PathsFlags {
    return { json: values['json'] === true };
  },
  async run(session: CommandSession, flags: PathsFlags): Promise<void> {
    const native = await import('../../native');
    const paths = {
      cli: native.clientPath(),
      node_cli: native.nodeCliPath,
      driver: native.driverServicePath(),
      exec: native.execPath(),
      ldconfig: native.ldconfigHelperPath(),
      cdi_hook: native.cdiHookPath(),
    };
    if (flags.json) session.write(`${JSON.stringify(paths, null, 2)}\n`);
    else
      session.write(
        Object.entries(paths)
          .map(([k, v]) => `${`${k}:`.padEnd(10)}${v}\n`)
          .join(''),
      );
  },
};
