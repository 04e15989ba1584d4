/**
 * The `nvc-ts` command line: a client of the facade in lib/index.ts, loaded only by bin/nvc-ts.js and tests.
 *
 * nvc-ts [GLOBAL OPTIONS] COMMAND [COMMAND OPTIONS]; global long options may also follow the command.
 * Exit status: 0 success, 1 operational failure, 2 usage error.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { isNvcError, type NvcError } from '../errors';
import type { Context, InitOptions } from '../index';
import type { Device, DriverInfo } from '../types';
import { infoCommand } from './commands/info';
import { listCommand } from './commands/list';
import { configureCommand } from './commands/configure';
import { hookCommand } from './commands/hook';
import { formatError, formatUsageError, UsageError, type Phase } from './format-error';

export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

/** An option word as parseArgs saw it; `index` is its position among the command's arguments. */
export interface OptionToken {
  name: string;
  index: number;
  /** true for `--opt=value`, false for `--opt value`, undefined for flags. */
  inlineValue: boolean | undefined;
}

/** What a command gets to work with once the driver is initialised. */
export interface CommandSession {
  readonly paths: { root: string; procRoot: string; devRoot: string };
  /** The initialised facade context (for commands that do more than discovery). */
  context(): Context;
  driverInfo(): Promise<DriverInfo>;
  deviceInfo(): Promise<Device[]>;
  /** Run one step, timing it in the debug log and naming it in error messages. */
  phase<T>(name: Phase, fn: () => T | Promise<T>): Promise<T>;
  write(text: string): void;
}

export interface CommandSpec<F> {
  name: string;
  summary: string;
  usage: string[];
  options: NonNullable<ParseArgsConfig['options']>;
  /** How many positional arguments the command takes (default none). */
  positionals?: number;
  /** Validate the command's own options; throw UsageError (or an NvcError about a value) on bad input. */
  parse(values: OptionValues, tokens: OptionToken[], positionals: string[]): F;
  run(session: CommandSession, flags: F): Promise<void>;
}

interface BoundCommand {
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

const COMMANDS: BoundCommand[] = [bind(infoCommand), bind(listCommand), bind(configureCommand), bind(hookCommand)];

const GLOBAL_OPTIONS = {
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
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** Global options without their short forms: after the command, short letters belong to the command. */
const GLOBAL_LONG_OPTIONS: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(
  Object.entries(GLOBAL_OPTIONS).map(([name, { type }]) => [name, { type }]),
);

const DEFAULT_ROOT = '/';
const DEFAULT_LDCACHE = '/etc/ld.so.cache';
const DEFAULT_SYS_ROOT = '/sys';

interface GlobalOptions {
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
  help: boolean;
  version: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Argument parsing

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

function parseOrUsage(config: ParseArgsConfig): ReturnType<typeof parseArgs> {
  try {
    return parseArgs({ ...config, strict: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Node's messages name the option; keep their first sentence.
    const first = (message.split(/\.\s/)[0] ?? message).replace(/\.$/, '');
    throw new UsageError(first.charAt(0).toLowerCase() + first.slice(1));
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
  set('debugFile', stringOption(values, 'debug'));
  if (opts.simulate) {
    const clash = (['root', 'ldcache', 'proc-root', 'dev-root', 'sys-root'] as const).find((n) => values[n] !== undefined);
    if (clash !== undefined) throw new UsageError(`option --simulate cannot be combined with --${clash}`);
  }
  return opts;
}

interface Invocation {
  globals: GlobalOptions;
  command?: BoundCommand;
  run?: (session: CommandSession) => Promise<void>;
}

function parseCommandLine(argv: string[]): Invocation {
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
    if (globals.help || globals.version) return { globals };
    throw new UsageError(`unknown command '${name}'`);
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
  if (globals.help || globals.version) return { globals, command };
  return { globals, command, run: command.prepare(commandValues, tokens, post.positionals) };
}

// ---------------------------------------------------------------------------------------------------------------
// Help and version

function packageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') return pkg.version;
  } catch {
    // fall through
  }
  return 'unknown';
}

function versionText(): string {
  const version = packageVersion();
  return [
    `cli-version: ${version}`,
    `lib-version: ${version}`,
    `build platform: ${process.platform}/${process.arch}`,
    `node: ${process.version}`,
    '',
  ].join('\n');
}

function helpText(command?: BoundCommand): string {
  const globals = [
    'Global options (before or after the command):',
    '  -r, --root PATH        driver root (default /)',
    '  -l, --ldcache FILE     ld.so.cache inside the driver root (default /etc/ld.so.cache)',
    '      --proc-root PATH   procfs to read (default <root>/proc)',
    '      --dev-root PATH    device nodes to read (default <root>/dev)',
    '      --sys-root PATH    sysfs to read (default /sys)',
    '      --nvml FILE        libnvidia-ml.so.1 to load instead of the one in the ld cache',
    '  -u, --user UID[:GID]   identity of the driver service (numbers or names)',
    '      --timeout SECONDS  limit for each driver service call',
    '  -d, --debug FILE       append timestamped debug lines to FILE',
    '      --simulate         run against a built-in simulated host (no GPU needed)',
    '  -h, --help             show this help',
    '  -V, --version          show the version',
    '(After the command, global options take their long form only.)',
  ];
  if (command !== undefined) return [...command.spec.usage, '', ...globals, ''].join('\n');
  return [
    'Usage: nvc-ts [GLOBAL OPTIONS] COMMAND [OPTIONS]',
    '',
    'Discover the NVIDIA driver and GPUs of this host, as nvidia-container-cli does.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(10)} ${c.spec.summary}`),
    '',
    ...globals,
    '',
    'Run `nvc-ts COMMAND --help` for the options of a command.',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Debug log

class DebugLog {
  private fd: number | null;

  constructor(file: string | undefined) {
    this.fd = file === undefined ? null : openSync(file, 'a');
  }

  line(message: string): void {
    if (this.fd === null) return;
    const text = `${new Date().toISOString()} nvc-ts[${process.pid}] ${message}\n`;
    try {
      writeSync(this.fd, text);
    } catch {
      // A debug log must never break the command.
    }
  }

  close(): void {
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // ignore
      }
      this.fd = null;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Running a command

interface SimulatedHost {
  options: Partial<InitOptions>;
  cleanup(): Promise<void>;
}

class Session implements CommandSession {
  current: Phase | undefined;
  ctx: Context | undefined;
  paths = { root: DEFAULT_ROOT, procRoot: path.join(DEFAULT_ROOT, 'proc'), devRoot: path.join(DEFAULT_ROOT, 'dev') };

  constructor(
    private readonly io: CliIo,
    private readonly log: DebugLog,
  ) {}

  context(): Context {
    if (this.ctx === undefined) throw new Error('internal: driver not initialised');
    return this.ctx;
  }

  driverInfo(): Promise<DriverInfo> {
    return this.context().driverInfo();
  }

  deviceInfo(): Promise<Device[]> {
    return this.context().deviceInfo();
  }

  async phase<T>(name: Phase, fn: () => T | Promise<T>): Promise<T> {
    this.current = name;
    const started = process.hrtime.bigint();
    this.log.line(`${name}: start`);
    try {
      const result = await fn();
      this.log.line(`${name}: done in ${elapsed(started)}`);
      return result;
    } catch (err) {
      this.log.line(`${name}: failed after ${elapsed(started)}: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
  }

  write(text: string): void {
    this.io.stdout.write(text);
  }
}

function elapsed(started: bigint): string {
  return `${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)} ms`;
}

function initOptionsOf(globals: GlobalOptions): InitOptions {
  const opts: InitOptions = {};
  if (globals.root !== undefined) opts.root = globals.root;
  if (globals.ldcache !== undefined) opts.ldcache = globals.ldcache;
  if (globals.procRoot !== undefined) opts.procRoot = globals.procRoot;
  if (globals.devRoot !== undefined) opts.devRoot = globals.devRoot;
  if (globals.sysRoot !== undefined) opts.sysRoot = globals.sysRoot;
  if (globals.nvmlPath !== undefined) opts.nvmlPath = globals.nvmlPath;
  if (globals.user !== undefined) opts.user = globals.user;
  if (globals.timeoutMs !== undefined) opts.timeoutMs = globals.timeoutMs;
  return opts;
}

/** Where the run looks, with the facade's defaults filled in (for messages and for files the CLI reads itself). */
function resolvedPaths(opts: InitOptions): { root: string; ldcache: string; procRoot: string; devRoot: string; sysRoot: string } {
  const root = opts.root ?? DEFAULT_ROOT;
  return {
    root,
    ldcache: opts.ldcache ?? DEFAULT_LDCACHE,
    procRoot: opts.procRoot ?? path.join(root, 'proc'),
    devRoot: opts.devRoot ?? path.join(root, 'dev'),
    sysRoot: opts.sysRoot ?? DEFAULT_SYS_ROOT,
  };
}

async function execute(
  run: (session: CommandSession) => Promise<void>,
  invocation: Invocation,
  io: CliIo,
  log: DebugLog,
): Promise<number> {
  const { globals } = invocation;
  const session = new Session(io, log);
  let host: SimulatedHost | undefined;
  let opts = initOptionsOf(globals);
  let where = resolvedPaths(opts);
  try {
    if (globals.simulate) {
      host = await session.phase('initialization', async (): Promise<SimulatedHost> => {
        const testing = await import('../testing');
        return testing.createSimulatedHost();
      });
      opts = { ...host.options, ...opts };
      where = resolvedPaths(opts);
    }
    session.paths = where;
    log.line(`options: ${JSON.stringify({ ...opts, ...where, simulate: globals.simulate, command: invocation.command?.spec.name })}`);
    // Loaded here, not at the top, so that --help, --version and usage errors work without the native addon.
    const facade = await import('../index');
    session.ctx = await session.phase('initialization', () => facade.init(opts));
    await run(session);
    return 0;
  } catch (err) {
    const debug = globals.debugFile !== undefined;
    io.stderr.write(formatError(err, { phase: session.current, root: where.root, ldcache: where.ldcache, simulate: globals.simulate, debug }));
    log.line(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  } finally {
    await shutdown(session.ctx, host, io, log);
  }
}

async function shutdown(ctx: Context | undefined, host: SimulatedHost | undefined, io: CliIo, log: DebugLog): Promise<void> {
  const steps: Array<[string, (() => Promise<void>) | undefined]> = [
    ['shutdown', ctx === undefined ? undefined : () => ctx.shutdown()],
    ['simulated host cleanup', host === undefined ? undefined : () => host.cleanup()],
  ];
  for (const [name, step] of steps) {
    if (step === undefined) continue;
    const started = process.hrtime.bigint();
    try {
      await step();
      log.line(`${name}: done in ${elapsed(started)}`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.line(`${name}: failed: ${message}`);
      io.stderr.write(`nvc-ts: warning: ${name} failed: ${message}\n`);
    }
  }
}

/** Run the CLI; resolves to the exit status. Never throws. */
export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseCommandLine(argv);
  } catch (err) {
    if (err instanceof UsageError || isNvcError(err)) {
      const flagged = err instanceof UsageError ? err : optionValueError(err);
      io.stderr.write(formatUsageError(flagged));
      return 2;
    }
    io.stderr.write(`nvc-ts: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const { globals, command } = invocation;
  if (globals.help) {
    io.stdout.write(helpText(command));
    return 0;
  }
  if (globals.version) {
    io.stdout.write(versionText());
    return 0;
  }
  if (invocation.run === undefined) {
    io.stderr.write(formatUsageError(new UsageError('missing command (info or list)')));
    return 2;
  }
  let log: DebugLog;
  try {
    log = new DebugLog(globals.debugFile);
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
