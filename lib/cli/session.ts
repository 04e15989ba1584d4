/**
 * Running a parsed command: set up the (possibly simulated) host, initialise the facade, run the command, report
 * failures with the phase they happened in, and always shut down and clean up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Context, InitOptions } from '../index';
import type { NvcEvent } from '../events';
import { initOptionsSchema } from '../schema';
import type { Device, DriverInfo } from '../types';
import type { GlobalOptions, Invocation } from './args';
import { elapsed, type DebugLog } from './debug-log';
import { formatError, formatErrorJson, type Phase } from './format-error';
import type { CliIo, CommandSession, GlobalFlags, StdinInput } from './types';

interface SimulatedHost {
  options: Partial<InitOptions>;
  cleanup(): Promise<void>;
}

class Session implements CommandSession {
  current: Phase | undefined;
  ctx: Context | undefined;
  exitStatus = 0;
  #starting: Promise<Context> | undefined;

  constructor(
    private readonly io: CliIo,
    private readonly log: DebugLog,
    /** Starts the driver service; called on first use only, so that a hook for a
     * container that wants no GPU never needs (or waits for) the driver. */
    private readonly start: () => Promise<Context>,
    private readonly options: () => InitOptions,
    readonly flags: GlobalFlags,
    private readonly fresh: () => Promise<Context> = start,
  ) {}

  initOptions(): InitOptions {
    return this.options();
  }

  setExitStatus(status: number): void {
    this.exitStatus = status;
  }

  hostOptions(): { root?: string; procRoot?: string; devRoot?: string; sysRoot?: string } {
    const { root, procRoot, devRoot, sysRoot } = this.options();
    return {
      ...(root !== undefined && { root }),
      ...(procRoot !== undefined && { procRoot }),
      ...(devRoot !== undefined && { devRoot }),
      ...(sysRoot !== undefined && { sysRoot }),
    };
  }

  context(): Promise<Context> {
    this.#starting ??= this.phase('initialization', this.start).then((ctx) => (this.ctx = ctx));
    return this.#starting;
  }

  freshContext(): Promise<Context> {
    return this.fresh();
  }

  async driverInfo(): Promise<DriverInfo> {
    return (await this.context()).driverInfo();
  }

  async deviceInfo(): Promise<Device[]> {
    return (await this.context()).deviceInfo();
  }

  async phase<T>(name: Phase, fn: () => T | Promise<T>): Promise<T> {
    const outer = this.current;
    this.current = name;
    const started = process.hrtime.bigint();
    this.log.line(`${name}: start`);
    try {
      const result = await fn();
      this.log.line(`${name}: done in ${elapsed(started)}`);
      this.io.onPhase?.(name, Number(process.hrtime.bigint() - started) / 1e6);
      // A phase nested in another (initialization on first use) hands the name back.
      if (outer !== undefined) this.current = outer;
      return result;
    } catch (err) {
      this.log.line(`${name}: failed after ${elapsed(started)}: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
  }

  /** Something was printed on stdout (with --json, the command's document: no second one for an error). */
  wrote = false;

  write(text: string): void {
    this.wrote = true;
    this.io.stdout.write(text);
  }

  warn(text: string): void {
    this.io.stderr.write(`nvc-ts: warning: ${text}\n`);
  }

  note(text: string): void {
    this.log.line(`note: ${text}`);
  }

  stdin(): Promise<StdinInput> {
    if (this.io.stdin !== undefined) return this.io.stdin();
    return Promise.resolve({ isTTY: process.stdin.isTTY === true, stream: process.stdin });
  }

  /** Set when the context came from io.sharedContext: released, never shut down, at the end. */
  release: (() => void) | undefined;
}

/** Same init options (key order aside): the run may use a context made with `shared`. */
function sameInitOptions(a: InitOptions, b: InitOptions): boolean {
  const norm = (o: InitOptions) => JSON.stringify(Object.entries(o).sort(([x], [y]) => (x < y ? -1 : 1)));
  return norm(a) === norm(b);
}

/** The global options that are init options, by the schema's own keys. */
function initOptionsOf(globals: GlobalOptions): InitOptions {
  const opts: Record<string, unknown> = {};
  for (const key of Object.keys(initOptionsSchema.shape)) {
    const value = (globals as unknown as Record<string, unknown>)[key];
    if (value !== undefined) opts[key] = value;
  }
  return opts as InitOptions;
}

/**
 * Where the run looked, for messages: the context's paths once it exists, else the paths the
 * native side would resolve (its defaults are the only ones), else the options as given.
 */
async function whereOf(session: Session, opts: InitOptions): Promise<{ root: string; ldcache: string }> {
  if (session.ctx) return session.ctx.host;
  try {
    const { binding } = await import('../native');
    const { user: _user, ...paths } = opts;
    return binding().resolveHost(paths);
  } catch {
    return { root: opts.root ?? '', ldcache: opts.ldcache ?? '' };
  }
}

/** Runs the command; resolves to the exit status (0, or 1 after reporting the failure on stderr). */
export async function execute(run: (session: CommandSession) => Promise<void>, invocation: Invocation, io: CliIo, log: DebugLog): Promise<number> {
  const { globals } = invocation;
  let host: SimulatedHost | undefined;
  let removeOnSignal: (() => void) | undefined;
  let opts = initOptionsOf(globals);
  // Loaded on first use, not at the top, so that --help, --version and usage errors work without the native addon.
  // With --debug, the library's events (what was selected, each edit and its outcome, the cgroup
  // rules, ldconfig, warnings, refusals) are the log's account of the decisions.
  const fresh = async () => (await import('../index')).init(log.enabled ? { ...opts, logger: (e) => log.line(`event ${describeEvent(e)}`) } : opts);
  const shared = io.sharedContext;
  const session: Session = new Session(
    io,
    log,
    async () => {
      if (shared === undefined || globals.simulate || !sameInitOptions(opts, shared.options)) return fresh();
      const held = await shared.acquire();
      session.release = held.release;
      log.line('initialization: the service context');
      return held.context;
    },
    () => opts,
    { loadKernelModules: globals.loadKernelModules === true, noCreateImexChannels: globals.noCreateImexChannels, noPivot: globals.noPivot },
    fresh,
  );
  try {
    if (globals.simulate) {
      // The host is built in a directory of its own, watched from before the first file is written.
      // The handlers first: a signal between mkdtemp and them would leave the directory behind
      // (seen under npm run test:asan, whose slower start widens that window).
      let made: string | undefined;
      removeOnSignal = removeOnSignalOf(() => made);
      const parent = mkdtempSync(path.join(tmpdir(), 'nvc-sim-'));
      made = parent;
      host = await session.phase('initialization', async (): Promise<SimulatedHost> => {
        const testing = await import('../testing');
        const built = await testing.createSimulatedHost(undefined, { dir: parent }).catch((e: unknown) => {
          rmSync(parent, { recursive: true, force: true });
          throw e;
        });
        return { ...built, cleanup: async () => rmSync(parent, { recursive: true, force: true }) };
      });
      opts = { ...host.options, ...opts };
    }
    log.line(`options: ${JSON.stringify({ ...opts, simulate: globals.simulate, command: invocation.command?.spec.name })}`);
    await run(session);
    return session.exitStatus;
  } catch (err) {
    const debug = globals.debugFile !== undefined;
    const where = await whereOf(session, opts);
    io.stderr.write(formatError(err, { phase: session.current, root: where.root, ldcache: where.ldcache, simulate: globals.simulate, debug }));
    if (invocation.json && !session.wrote) io.stdout.write(formatErrorJson(err, { phase: session.current }));
    log.line(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  } finally {
    removeOnSignal?.();
    if (session.release !== undefined) session.release();
    await shutdown(session.release === undefined ? session.ctx : undefined, host, io, log);
  }
}

/**
 * Ctrl-C or a TERM during a --simulate run: the temporary host goes with the process (as 130/143,
 * the shell's codes), rather than staying behind in /tmp.
 */
function removeOnSignalOf(dir: () => string | undefined): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    try {
      const made = dir();
      if (made !== undefined) rmSync(made, { recursive: true, force: true });
    } finally {
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
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

/** One debug-log line per event: its kind, then its fields (long lists are cut). */
export function describeEvent(e: NvcEvent): string {
  const { kind, ...rest } = e;
  const fields = Object.entries(rest).map(
    ([k, v]) =>
      `${k}=${
        Array.isArray(v)
          ? `[${v
              .slice(0, 16)
              .map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x)))
              .join(', ')}${v.length > 16 ? `, +${v.length - 16}` : ''}]`
          : String(v)
      }`,
  );
  return `${kind} ${fields.join(' ')}`;
}
