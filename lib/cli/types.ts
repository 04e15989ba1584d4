/**
 * The contract between the CLI driver and its commands, kept apart so that commands/*.ts depend on it and not on
 * the entry point that imports them.
 */
import type { Readable } from 'node:stream';
import type { ParseArgsConfig } from 'node:util';

import type { ConfigureTimings, Context, InitOptions } from '../index';
import type { Device, DriverInfo } from '../types';
import type { Phase } from './format-error';

export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  /** Where `hook` reads its input (default process.stdin): the service passes the client's. */
  stdin?: () => Promise<StdinInput>;
  /** A context someone else initialised and owns (`nvc-ts serve`), used when the run's init options are its own. */
  sharedContext?: SharedContext;
  /** Who asked, when not this process (the service's client, by its peer credentials): `--user` without a value means its ids. */
  caller?: { pid: number; uid: number; gid: number };
  /** Told each phase's duration (the service's per-request metrics). */
  onPhase?: (name: Phase, ms: number) => void;
  /** When the run must be over (performance.now() time; the service's bound on a request): configure stops its helpers then. */
  deadline?: number;
  /** Told a configure's time by part (planning, helpers, mounts, ldconfig): the service logs it per request. */
  onTimings?: (timings: ConfigureTimings) => void;
}

export interface StdinInput {
  isTTY: boolean;
  stream: Readable;
}

export interface SharedContext {
  /** The init options it was made with: a run with other options gets a context of its own. */
  options: InitOptions;
  /** The context for one run, held until release() (a refresh replaces it for later runs only). */
  acquire(): Promise<{ context: Context; release(): void }>;
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
  /** The facade context, started on first use (for commands that do more than discovery). */
  context(): Promise<Context>;
  /** A context of the caller's own, which the caller shuts down: for a long-running command that must see a reloaded driver. */
  freshContext(): Promise<Context>;
  driverInfo(): Promise<DriverInfo>;
  deviceInfo(): Promise<Device[]>;
  /** Run one step, timing it in the debug log and naming it in error messages. */
  phase<T>(name: Phase, fn: () => T | Promise<T>): Promise<T>;
  write(text: string): void;
  /** One "nvc-ts: warning: ..." line on stderr. */
  warn(text: string): void;
  /** The init options the global options (and --simulate) give, for commands that run their own checks. */
  initOptions(): InitOptions;
  /** Exit with this status once the command returns (a command that reported a failure itself). */
  setExitStatus(status: number): void;
  /**
   * The host paths given (--root, --proc-root, --dev-root, --sys-root, or the simulated host's), for
   * commands that read the host without starting the driver service.
   */
  hostOptions(): { root?: string; procRoot?: string; devRoot?: string; sysRoot?: string };
  /** One line in the debug log only (nothing when there is no --debug FILE). */
  note(text: string): void;
  /** A configure's time by part: to the debug log, and to whoever runs the CLI (io.onTimings). */
  timings?(timings: ConfigureTimings): void;
  /** Milliseconds left before io.deadline, undefined without one. */
  timeLeft?(): number | undefined;
  /** The input a command reads (hook: the OCI state). */
  stdin(): Promise<StdinInput>;
  /** Global options that are not init options but change what commands do. */
  readonly flags: GlobalFlags;
}

/** nvidia-container-cli's global options that commands act on (see args.ts). */
export interface GlobalFlags {
  loadKernelModules: boolean;
  noCreateImexChannels: boolean;
  noPivot: boolean;
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
