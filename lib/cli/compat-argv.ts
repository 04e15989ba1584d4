/**
 * The argv forms of nvidia-container-cli that node's parseArgs cannot read as they are, turned
 * into forms it can, before parsing: callers (gVisor, the toolkit's legacy hook, enroot,
 * Apptainer) pass them verbatim.
 *
 * - `-u/--user` takes an OPTIONAL value (argp's OPTION_ARG_OPTIONAL): `--user` alone means the
 *   caller's own effective ids. Besides the reference's attached forms (`--user=UID[:GID]`,
 *   `-uUID`), a separate next word is taken as the value when it looks like one and is not a
 *   command name (`--user 1000:1000 info`), which the reference would read as the command.
 * - `-?` is argp's short form of `--help`.
 * - A group of global short flags (`-kn`, `-ku1000`) is split into single options.
 *
 * Global short options are read only before the command (the reference's positional rule:
 * `-d` is --debug before `configure` and --device after it); after the command only the long
 * `--user` is rewritten.
 */

/** Global short options that take a value (the next word, or the rest of the word), by their long names. */
const VALUE_SHORTS = new Map([
  ['r', 'root'],
  ['l', 'ldcache'],
  ['d', 'debug'],
]);
/** Global short flags (no value). */
const FLAG_SHORTS = new Set(['k', 'n', 'h', 'V']);
/** Global long options that take a value. */
const VALUE_LONGS = new Set(['root', 'ldcache', 'proc-root', 'dev-root', 'sys-root', 'nvml', 'timeout', 'debug']);

const USER_VALUE = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*(:[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$/;

/** A word that is an option's value rather than an option (`-` names stdout/stderr for --debug). */
function isValue(word: string | undefined): word is string {
  return word !== undefined && (word === '-' || !word.startsWith('-'));
}

/** Whose ids `--user` without a value names: this process's, or (for a service parsing a client's argv) the client's. */
export interface CallerIds {
  uid: number;
  gid: number;
}

/** The caller's own effective ids: what `--user` without a value stands for. */
export function ownIds(caller?: CallerIds): string {
  if (caller !== undefined) return `${caller.uid}:${caller.gid}`;
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : 0;
  const gid = typeof process.getegid === 'function' ? process.getegid() : 0;
  return `${uid}:${gid}`;
}

/**
 * `--user`'s value from the word after it, or the caller's ids; returns the option word and how
 * many words it used.
 */
function userOption(next: string | undefined, commands: readonly string[], caller: CallerIds | undefined): [string, number] {
  if (next !== undefined && USER_VALUE.test(next) && !commands.includes(next)) return [`--user=${next}`, 2];
  return [`--user=${ownIds(caller)}`, 1];
}

/** Split `-kn`, `-ku1000`, `-d/tmp/log`: each letter a global option, a value letter taking the rest. */
function splitShortGroup(word: string): string[] | undefined {
  const letters = word.slice(1);
  const out: string[] = [];
  for (let i = 0; i < letters.length; i++) {
    const c = letters[i] as string;
    const rest = letters.slice(i + 1);
    if (c === 'u') {
      out.push(rest === '' ? '-u' : `--user=${rest}`);
      return out;
    }
    if (c === '?') {
      out.push('--help');
      continue;
    }
    if (VALUE_SHORTS.has(c)) {
      out.push(`-${c}`);
      if (rest !== '') out[out.length - 1] = `--${VALUE_SHORTS.get(c) as string}=${rest}`;
      return out;
    }
    if (!FLAG_SHORTS.has(c)) return undefined;
    out.push(`-${c}`);
  }
  return out;
}

export function normalizeCompatArgv(argv: readonly string[], commands: readonly string[], caller?: CallerIds): string[] {
  const out: string[] = [];
  let beforeCommand = true;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (word === '-?') {
      out.push('--help');
      continue;
    }
    if (word === '--user' || (beforeCommand && word === '-u')) {
      const [option, used] = userOption(argv[i + 1], beforeCommand ? commands : [], caller);
      out.push(option);
      i += used - 1;
      continue;
    }
    if (!beforeCommand) {
      out.push(word);
      continue;
    }
    if (word.startsWith('--')) {
      // Attached (`--debug=-`), so that a value starting with a dash is not read as an option.
      if (!word.includes('=') && VALUE_LONGS.has(word.slice(2)) && isValue(argv[i + 1])) out.push(`${word}=${argv[++i] as string}`);
      else out.push(word);
      continue;
    }
    if (word.startsWith('-') && word.length > 1) {
      const split = word.length > 2 ? splitShortGroup(word) : [word];
      const parts = split ?? [word];
      // `-u` at the end of a group: its value may be the next word.
      if (parts[parts.length - 1] === '-u') {
        parts.pop();
        const [option, used] = userOption(argv[i + 1], commands, caller);
        parts.push(option);
        i += used - 1;
      }
      const last = parts[parts.length - 1] as string;
      const long = VALUE_SHORTS.get(last.slice(1));
      if (/^-.$/.test(last) && long !== undefined && isValue(argv[i + 1])) parts[parts.length - 1] = `--${long}=${argv[++i] as string}`;
      out.push(...parts);
      continue;
    }
    // The command word: from here on, short letters belong to the command.
    beforeCommand = false;
    out.push(word);
  }
  return out;
}
