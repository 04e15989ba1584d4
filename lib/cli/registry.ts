/** The commands `nvc-ts` knows, each with its flag type hidden so that one table can hold them all. */
import { infoCommand } from './commands/info';
import { listCommand } from './commands/list';
import { configureCommand } from './commands/configure';
import { teardownCommand } from './commands/teardown';
import { hookCommand } from './commands/hook';
import { doctorCommand } from './commands/doctor';
import { installCommand, uninstallCommand } from './commands/install';
import { modulesCommand } from './commands/modules';
import { completionCommand } from './commands/completion';
import { cdiCommand } from './commands/cdi';
import { pathsCommand } from './commands/paths';
import { serveCommand } from './commands/serve';
import type { CommandSession, CommandSpec, OptionToken, OptionValues } from './types';

export interface BoundCommand {
  spec: Pick<CommandSpec<unknown>, 'name' | 'summary' | 'usage' | 'options' | 'positionals'>;
  prepare(values: OptionValues, tokens: OptionToken[], positionals: string[]): (session: CommandSession) => Promise<void>;
}

function bind<F>(spec: CommandSpec<F>): BoundCommand {
  return {
    spec,
    prepare(values, tokens, positionals) {
      const flags = spec.parse(values, tokens, positionals);
      return (session) => spec.run(session, flags);
    },
  };
}

/** In the order `nvc-ts --help` lists them. */
export const COMMANDS: BoundCommand[] = [
  bind(infoCommand),
  bind(listCommand),
  bind(configureCommand),
  bind(teardownCommand),
  bind(hookCommand),
  bind(doctorCommand),
  bind(installCommand),
  bind(uninstallCommand),
  bind(modulesCommand),
  bind(completionCommand),
  bind(cdiCommand),
  bind(serveCommand),
  bind(pathsCommand),
];
