/**
 * Command-line parsing: global options before the command (long or short), then the command's own options with
 * the global long options still accepted, as nvidia-container-cli allows.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { normalizeCompatArgv, type CallerIds } from './compat-argv';
import { UsageError } from './format-error';
import { COMMANDS, type BoundCommand } from './registry';
import { closest } from './suggest';
import type { CommandSession, OptionToken, OptionValues } from './types';

export const GLOBAL_OPTIONS = {
  root: { type: 'string', short: 'r' },
  ldcache: { type: 'string', short: 'l' },
  'proc-root': { type: 'string' },
  'dev-root': { type: 'string' },
  'sys-root': { type: 'string' },
  nvml: { type: 'string' },
  user: { type: 'string', short: 'u' },
  timeout: { type: 'string' },
  debug: { type: 'string', short: 'd' },
  simulate: { type: 'boolean' },
  'load-kmods': { type: 'boolean', short: 'k' },
  'no-create-imex-channels': { type: 'boolean' },
  'no-pivot': { type: 'boolean', short: 'n' },
  usage: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** Global options without their short forms: after the command, short letters belong to the command. */
const GLOBAL_LONG_OPTIONS: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(
  Object.entries(GLOBAL_OPTIONS).map(([name, { type }]) => [name, { type }]),
);

export interface GlobalOptions {
  root?: string;
  ldcache?: string;
  procRoot?: string;
  devRoot?: string;
  sysRoot?: string;
  nvmlPath?: string;
  user?: string;
  timeoutMs?: number;
  debugFile?: string;
  simulate: boolean;
  /** -k/--load-kmods: load the driver's kernel modules (and make their nodes) before discovery. */
  loadKernelModules?: boolean;
  /** --no-create-imex-channels: with -k, make no IMEX channel node on the host. */
  noCreateImexChannels: boolean;
  /** -n/--no-pivot: the ldconfig helper enters the rootfs by MS_MOVE + chroot instead of pivot_root (ramfs roots). */
  noPivot: boolean;
  /** --usage: print the short usage and exit. */
  usage: boolean;
  help: boolean;
  version: boolean;
}

export interface Invocation {
  globals: GlobalOptions;
  /** The command was asked for JSON (--json): failures are printed as JSON on stdout too. */
  json?: boolean;
  command?: BoundCommand;
  run?: (session: CommandSession) => Promise<void>;
}

/** Index of the command word: the first argument that is neither a global option nor a global option's value. */
function findCommandIndex(argv: string[]): number {
  const takesValue = (name: string): boolean => {
    const byLong = (GLOBAL_OPTIONS as Record<string, { type: string; short?: string }>)[name];
    if (byLong !== undefined) return byLong.type === 'string';
    return Object.values(GLOBAL_OPTIONS).some((o) => 'short' in o && o.short === name && o.type === 'string');
  };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? '';
    if (word === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (!word.startsWith('-') || word === '-') return i;
    if (word.startsWith('--')) {
      if (!word.includes('=') && takesValue(word.slice(2))) i++;
    } else if (word.length === 2 && takesValue(word.slice(1))) {
      i++;
    }
  }
  return -1;
}

/**
 * `--timeout -3` and `-d -1`: a value that starts with a dash and a digit is the option's value
 * (there is no option named by a digit), passed on as `--opt=-3` so that its own check explains it.
 */
function attachDashValues(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  const takesValue = (word: string): string | undefined => {
    if (word.startsWith('--')) return options[word.slice(2)]?.type === 'string' ? word : undefined;
    if (/^-[^-]$/.test(word)) {
      const long = Object.entries(options).find(([, o]) => o.short === word.slice(1) && o.type === 'string');
      return long ? `--${long[0]}` : undefined;
    }
    return undefined;
  };
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as string;
    const next = args[i + 1];
    const long = takesValue(word);
    if (long !== undefined && next !== undefined && /^-\d/.test(next)) {
      out.push(`${long}=${next}`);
      i++;
    } else {
      out.push(word);
    }
  }
  return out;
}

function parseOrUsage(config: ParseArgsConfig): ReturnType<typeof parseArgs> {
  try {
    return parseArgs({ ...config, args: attachDashValues([...(config.args ?? [])], config.options ?? {}), strict: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Node's messages name the option; keep their first sentence.
    const first = (message.split(/\.\s/)[0] ?? message).replace(/\.$/, '');
    let text = first.charAt(0).toLowerCase() + first.slice(1);
    const unknown = /^unknown option '(-{1,2})([^']+)'/.exec(text);
    if (unknown) {
      const names = Object.keys(config.options ?? {});
      const guess = unknown[1] === '--' ? closest(unknown[2] as string, names) : undefined;
      if (guess !== undefined) text += ` (did you mean --${guess}?)`;
    }
    throw new UsageError(text);
  }
}

function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new UsageError(`option --${name} needs a non-empty value`);
  return value;
}

function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds > 0) || !Number.isFinite(seconds)) {
    throw new UsageError(`option --timeout needs a positive number of seconds, not '${text}'`);
  }
  return Math.max(1, Math.round(seconds * 1000));
}

function globalOptions(values: OptionValues): GlobalOptions {
  const opts: GlobalOptions = {
    simulate: values['simulate'] === true,
    noCreateImexChannels: values['no-create-imex-channels'] === true,
    noPivot: values['no-pivot'] === true,
    usage: values['usage'] === true,
    help: values['help'] === true,
    version: values['version'] === true,
  };
  const set = <K extends keyof GlobalOptions>(key: K, value: GlobalOptions[K] | undefined): void => {
    if (value !== undefined) opts[key] = value;
  };
  // Host paths may be given relative to the working directory; the ld cache is a path inside the root.
  const hostPath = (name: string): string | undefined => {
    const value = stringOption(values, name);
    return value === undefined ? undefined : path.resolve(value);
  };
  set('root', hostPath('root'));
  set('ldcache', stringOption(values, 'ldcache'));
  set('procRoot', hostPath('proc-root'));
  set('devRoot', hostPath('dev-root'));
  set('sysRoot', hostPath('sys-root'));
  set('nvmlPath', hostPath('nvml'));
  set('user', stringOption(values, 'user'));
  set('timeoutMs', parseTimeout(stringOption(values, 'timeout')));
  const debug = stringOption(values, 'debug');
  // `-d 0 list`: with -d meaning --debug before the command, a device list here is a slip, not a file name.
  if (debug !== undefined && /^(\d+(,\d+)*|all|none|void)$/.test(debug) && !existsSync(debug)) {
    throw new UsageError(
      `option --debug takes a log file, and '${debug}' looks like a device list (to give GPUs, use --device after the command; to log to a file of that name, write ./${debug})`,
    );
  }
  set('debugFile', debug);
  if (values['load-kmods'] === true) opts.loadKernelModules = true;
  if (opts.simulate) {
    const clash = (['root', 'ldcache', 'proc-root', 'dev-root', 'sys-root'] as const).find((n) => values[n] !== undefined);
    if (clash !== undefined) throw new UsageError(`option --simulate cannot be combined with --${clash}`);
  }
  return opts;
}

/**
 * `caller`: whose ids a bare `--user` names, for a service parsing a client's argv (default:
 * this process's effective ids).
 */
export function parseCommandLine(given: string[], caller?: CallerIds): Invocation {
  const commandNames = COMMANDS.map((c) => c.spec.name);
  const argv = normalizeCompatArgv(given, commandNames, caller);
  const at = findCommandIndex(argv);
  const before = at < 0 ? argv : argv.slice(0, at).filter((w, i, all) => !(w === '--' && i === all.length - 1));
  const pre = parseOrUsage({ args: before, options: GLOBAL_OPTIONS, allowPositionals: false });
  const preValues: OptionValues = { ...pre.values };
  if (at < 0) return { globals: globalOptions(preValues) };

  const name = argv[at] ?? '';
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (command === undefined) {
    // Still honour --help/--version given before an unknown word.
    const globals = globalOptions(preValues);
    if (globals.help || globals.version || globals.usage) return { globals };
    const guess = closest(
      name,
      COMMANDS.map((c) => c.spec.name),
    );
    throw new UsageError(`unknown command '${name}'${guess === undefined ? '' : ` (did you mean '${guess}'?)`}`);
  }
  const overlap = Object.keys(command.spec.options).filter((n) => n in GLOBAL_LONG_OPTIONS);
  if (overlap.length > 0) throw new Error(`internal: command options shadow global options: ${overlap.join(', ')}`);
  const post = parseOrUsage({
    args: argv.slice(at + 1),
    options: { ...GLOBAL_LONG_OPTIONS, ...command.spec.options },
    allowPositionals: true,
    tokens: true,
  });
  const extra = post.positionals[command.spec.positionals ?? 0];
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}' for '${name}'`);

  const commandValues: OptionValues = {};
  const globalValues: OptionValues = { ...preValues };
  for (const [key, value] of Object.entries(post.values)) {
    if (key in command.spec.options) commandValues[key] = value;
    else globalValues[key] = value;
  }
  const tokens: OptionToken[] = [];
  for (const token of post.tokens ?? []) {
    if (token.kind === 'option' && token.name in command.spec.options) {
      tokens.push({ name: token.name, index: token.index, inlineValue: token.inlineValue });
    }
  }
  const globals = globalOptions(globalValues);
  if (globals.help || globals.version || globals.usage) return { globals, command };
  const json = commandValues['json'] === true;
  return { globals, command, json, run: command.prepare(commandValues, tokens, post.positionals) };
}
