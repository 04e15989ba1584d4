/**
 * Turning failures into one short paragraph for stderr: what failed, where, and what to do about it.
 * Stack traces only with --debug.
 */
import { isNvcError, type NvcError, type NvcErrorCode } from '../errors';
import { hintForCli } from '../option-names';
import { escapeControls, shorten } from '../quote';

/** A bad command line: exit status 2, printed as one line pointing at `nvc-ts --help`. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Where the failure happened, in nvidia-container-cli's words ("initialization", "detection", "device", ...). */
export type Phase =
  | 'initialization'
  | 'detection'
  | 'device'
  | 'mig-config'
  | 'mig-monitor'
  | 'input'
  | 'output'
  | 'requirement'
  | 'container'
  | 'mount'
  | 'ldcache'
  | 'doctor'
  | 'kernel-modules'
  | 'shutdown';

export interface ErrorContext {
  /** The phase that was running when the error was thrown. */
  phase?: Phase;
  /** Driver root and ld cache the run looked in, for messages about a missing driver. */
  root: string;
  ldcache: string;
  simulate: boolean;
  /** Append the stack trace (and causes) after the paragraph. */
  debug: boolean;
}

export function formatUsageError(err: UsageError | Error): string {
  return `nvc-ts: ${err.message}; see \`nvc-ts --help\`\n`;
}

const FIND_DRIVER =
  'Install the NVIDIA driver, or point nvc-ts at it with --root (driver root), --ldcache (ld.so.cache inside that root) ' +
  'or --nvml (path of libnvidia-ml.so.1); to try nvc-ts on a machine without a GPU, add --simulate.';

const CODE_HINTS: Partial<Record<NvcErrorCode, string>> = {
  ERR_NVC_LDCACHE_INVALID: 'Regenerate it with ldconfig, or name the right file with --ldcache.',
  ERR_NVC_VERSION_MISMATCH: 'The loaded kernel module and the user-space driver differ: reboot, or reload the nvidia kernel modules.',
  ERR_NVC_SERVICE_TIMEOUT: 'The driver service did not answer in time; raise the limit with --timeout SECONDS.',
  ERR_NVC_SERVICE_CRASHED: 'Run again with --debug FILE and report the log.',
  ERR_NVC_NATIVE_MISSING: 'Build the native addon with `npm run build`, or install a prebuilt package.',
  ERR_NVC_PATH_ESCAPE: 'A symbolic link under the driver root points outside of it; check the --root tree.',
};

/** The phase an error belongs to, when the error itself says so (selection errors), else the running phase. */
export function phaseOf(err: unknown, running: Phase | undefined): Phase | undefined {
  if (!isNvcError(err)) return running;
  if (err.code === 'ERR_NVC_UNKNOWN_DEVICE') return 'device';
  // The reference names these phases by what failed, whichever command step ran it.
  if (err.code === 'ERR_NVC_REQUIREMENT_UNSATISFIED' || err.code === 'ERR_NVC_INVALID_REQUIREMENT') return 'requirement';
  if (err.code === 'ERR_NVC_LDCONFIG') return 'ldcache';
  if (err.code === 'ERR_NVC_CGROUP' || err.code === 'ERR_NVC_PERMISSION') return 'container';
  if (err.field === 'mig-config' || err.field === 'mig-monitor') return err.field;
  if (err.field === 'imex-channel') return 'input';
  return running;
}

function where(err: NvcError): string {
  const parts: string[] = [];
  if (err.syscall !== undefined) parts.push(err.syscall);
  if (err.path !== undefined && !err.message.includes(err.path)) parts.push(err.path);
  const place = parts.join(' ');
  if (err.errno !== undefined) return place === '' ? err.errno : `${place}: ${err.errno}`;
  return place;
}

/** The first sentence for a missing or unloadable NVML: the library's own message when it names the places. */
function driverMissing(err: NvcError, ctx: ErrorContext): string {
  if (err.code === 'ERR_NVC_DRIVER_NOT_FOUND' && err.message.includes(ctx.root) && err.message.includes('libnvidia-ml')) {
    return ending(err.message);
  }
  const found = err.code === 'ERR_NVC_DRIVER_NOT_FOUND' ? 'libnvidia-ml.so.1 was not found' : `libnvidia-ml.so.1 could not be loaded (${err.message})`;
  return `${found}, looking in the ld cache ${ctx.ldcache} under the driver root ${ctx.root}.`;
}

/** Keep the message as written (it may start with a path or a token), only end it. */
function ending(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function describe(err: unknown, ctx: ErrorContext): string[] {
  if (!isNvcError(err)) {
    const message = err instanceof Error ? err.message : String(err);
    return [ending(message)];
  }
  const lines: string[] = [];
  if ((err.code === 'ERR_NVC_DRIVER_NOT_FOUND' || err.code === 'ERR_NVC_NVML_LOAD_FAILED') && !ctx.simulate) {
    lines.push(driverMissing(err, ctx));
    lines.push(sentence(err.hint !== undefined ? hintForCli(err.hint) : FIND_DRIVER));
    return lines;
  }
  const place = where(err);
  lines.push(ending(place === '' ? err.message : `${err.message} (${place})`));
  const hint = err.hint !== undefined ? hintForCli(err.hint) : CODE_HINTS[err.code];
  if (hint !== undefined) lines.push(sentence(hint));
  return lines;
}

/** A stack keeps its lines; only what is inside them is escaped. */
function escapeStack(stack: string): string {
  return stack.split('\n').map(escapeControls).join('\n');
}

function stackOf(err: unknown): string[] {
  const out: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (current instanceof Error) {
      out.push(depth === 0 ? (current.stack ?? String(current)) : `caused by: ${current.stack ?? String(current)}`);
      current = current.cause;
    } else {
      out.push(`caused by: ${String(current)}`);
      break;
    }
  }
  return out;
}

/** Longest message of one error, in characters: the messages quote values short, this bounds whatever slipped through. */
const MESSAGE_MAX_CHARS = 4096;

/** A message as one line: a value with a line break or an escape sequence cannot forge a second line or drive the terminal. */
function oneLine(text: string): string {
  return shorten(text, MESSAGE_MAX_CHARS);
}

/** One paragraph, e.g. `nvc-ts: initialization error: libnvidia-ml.so.1 was not found, ... Install ...`. */
export function formatError(err: unknown, ctx: ErrorContext): string {
  const phase = phaseOf(err, ctx.phase);
  const prefix = phase === undefined ? 'nvc-ts: error:' : `nvc-ts: ${phase} error:`;
  const code = isNvcError(err) ? ` [${err.code}]` : '';
  let text = `${prefix} ${oneLine(describe(err, ctx).join(' '))}${code}\n`;
  if (ctx.debug) text += `${stackOf(err).map(escapeStack).join('\n')}\n`;
  return text;
}

/** The JSON schema version of every `--json` output, errors included. */
export const JSON_SCHEMA_VERSION = 1;

/** A failure as `--json` prints it on stdout (the paragraph still goes to stderr). */
export function formatErrorJson(err: unknown, ctx: Pick<ErrorContext, 'phase'> & { usage?: boolean }): string {
  const phase = phaseOf(err, ctx.phase);
  const error: Record<string, unknown> = ctx.usage
    ? { code: 'ERR_NVC_USAGE', message: err instanceof Error ? err.message : String(err) }
    : isNvcError(err)
      ? { ...err.toJSON(), ...(err.hint !== undefined && { hint: hintForCli(err.hint) }) }
      : { code: 'ERR_NVC_INTERNAL', message: err instanceof Error ? err.message : String(err) };
  delete error.name;
  if (phase !== undefined) error.phase = phase;
  return `${JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, error }, null, 2)}\n`;
}
