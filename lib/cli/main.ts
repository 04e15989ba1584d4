/**
 * The `nvc-ts` command line: a client of the facade in lib/index.ts, loaded only by bin/nvc-ts.js and tests.
 *
 * nvc-ts [GLOBAL OPTIONS] COMMAND [COMMAND OPTIONS]; global long options may also follow the command.
 * Exit status: 0 success, 1 operational failure, 2 usage error.
 */
import { isNvcError, type NvcError } from '../errors';
import { shorten } from '../quote';
import { parseCommandLine, type Invocation } from './args';
import { DebugLog } from './debug-log';
import { formatErrorJson, formatUsageError, UsageError } from './format-error';
import { helpText, packageVersion, usageText, versionText } from './help';
import { COMMANDS } from './registry';
import { execute } from './session';
import type { CliIo } from './types';

export type { CliIo, CommandSession, CommandSpec, OptionToken, OptionValues } from './types';

/** Run the CLI; resolves to the exit status. Never throws. */
export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let invocation: Invocation;
  try {
    // Through the service, a bare --user means the client's ids, not the service's.
    invocation = parseCommandLine(argv, io.caller === undefined ? undefined : { uid: io.caller.uid, gid: io.caller.gid });
  } catch (err) {
    if (err instanceof UsageError || isNvcError(err)) {
      const flagged = err instanceof UsageError ? err : optionValueError(err);
      io.stderr.write(formatUsageError(flagged));
      if (argv.includes('--json')) io.stdout.write(formatErrorJson(flagged, { usage: true }));
      return 2;
    }
    io.stderr.write(`nvc-ts: internal error: ${shorten(err instanceof Error ? err.message : String(err), 4096)}\n`);
    return 1;
  }
  const { globals, command } = invocation;
  if (globals.help) {
    io.stdout.write(helpText(command));
    return 0;
  }
  if (globals.usage) {
    io.stdout.write(usageText(command));
    return 0;
  }
  if (globals.version) {
    io.stdout.write(versionText());
    return 0;
  }
  if (invocation.run === undefined) {
    io.stderr.write(formatUsageError(new UsageError(`missing command (${COMMANDS.map((c) => c.spec.name).join(', ')})`)));
    return 2;
  }
  let log: DebugLog;
  try {
    log = new DebugLog(globals.debugFile, io.stderr === process.stderr ? undefined : io.stderr);
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : String(err);
    io.stderr.write(`nvc-ts: error: cannot open the debug log ${globals.debugFile ?? ''} (${reason}); check the path given to --debug.\n`);
    return 1;
  }
  log.line(`nvc-ts ${packageVersion()} argv: ${JSON.stringify(argv)}`);
  try {
    return await execute(invocation.run, invocation, io, log);
  } finally {
    log.close();
  }
}

/** A value the command's parser rejected (e.g. --imex-channel=x), reported as a usage error naming the option. */
function optionValueError(err: NvcError): UsageError {
  return new UsageError(err.field === undefined ? err.message : `--${err.field}: ${err.message}`);
}
