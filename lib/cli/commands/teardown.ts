/**
 * `nvc-ts teardown --pid PID [--result FILE|-] ROOTFS`: undo a configure, with the result
 * `configure --json` printed (or its `changes`). Needs no driver: only the container's
 * namespace and cgroup are touched.
 */
import * as path from 'node:path';
import { CONFIG_JSON_MAX_BYTES, readBoundedStream, readRegularFile } from '../../bounded-read';
import { NvcError } from '../../errors';
import type { TeardownResult } from '../../teardown';
import { JSON_SCHEMA_VERSION, UsageError } from '../format-error';
import type { CommandSession, CommandSpec, OptionValues } from '../types';

export interface TeardownFlags {
  pid: number | undefined;
  rootfs: string;
  /** A file, or '-' for stdin. */
  result: string;
  json: boolean;
}

const RESULT_INPUT = { what: 'configure result', field: 'result', maxBytes: CONFIG_JSON_MAX_BYTES };

export function parseTeardownFlags(values: OptionValues, positionals: string[]): TeardownFlags {
  const rootfs = positionals[0];
  if (rootfs === undefined) throw new UsageError('teardown needs the container rootfs: nvc-ts teardown --pid PID [--result FILE|-] ROOTFS');
  if (!path.isAbsolute(rootfs) || path.resolve(rootfs) === '/') throw new UsageError(`ROOTFS must be an absolute path other than /, not '${rootfs}'`);
  let pid: number | undefined;
  if (typeof values['pid'] === 'string') {
    if (!/^[1-9]\d*$/.test(values['pid'])) throw new UsageError(`option --pid needs a process id, not '${values['pid']}'`);
    pid = Number(values['pid']);
  }
  const result = typeof values['result'] === 'string' ? values['result'] : '-';
  if (result === '') throw new UsageError('option --result needs a file (or - for stdin)');
  return { pid, rootfs: path.resolve(rootfs), result, json: values['json'] === true };
}

async function readResult(session: CommandSession, file: string): Promise<unknown> {
  let text: Buffer;
  if (file === '-') {
    const input = await session.stdin();
    if (input.isTTY)
      throw new UsageError('teardown reads the output of `configure --json` on stdin; stdin is a terminal here (pipe it in, or give --result FILE)');
    text = await readBoundedStream(input.stream, RESULT_INPUT);
  } else {
    text = await readRegularFile(path.resolve(file), RESULT_INPUT);
  }
  try {
    return JSON.parse(text.toString('utf8')) as unknown;
  } catch (e) {
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `the configure result${file === '-' ? ' on stdin' : ` in ${file}`} is not JSON: ${(e as Error).message}`, {
      field: 'result',
      hint: 'give what `nvc-ts configure --json` printed for this container',
    });
  }
}

export function formatTeardownText(r: TeardownResult): string {
  const lines = r.steps.map((s) => `${s.status.padEnd(7)} ${s.kind.padEnd(9)} ${s.what}${s.status === 'kept' ? `: ${s.reason}` : ''}`);
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

export const teardownCommand: CommandSpec<TeardownFlags> = {
  name: 'teardown',
  summary: 'Undo a configure, with the result `configure --json` printed',
  usage: [
    'nvc-ts [GLOBAL OPTIONS] teardown [--pid PID] [--result FILE|-] [--json] ROOTFS',
    '',
    '  Needs root. Detaches the mounts and removes the files configure made, each only if it is still',
    '  what configure made (anything replaced or filled since is kept and listed), and takes back the',
    "  cgroup v1 device rules it added. The container's ld.so.cache is not restored. Running it twice",
    '  changes nothing the second time; afterwards the container can be configured again.',
    '',
    '  -p, --pid PID        the container init process, as given to configure',
    '      --result FILE    the JSON `nvc-ts configure --json` printed (default -: stdin)',
    '      --json           print what was done as JSON',
  ],
  options: {
    pid: { type: 'string', short: 'p' },
    result: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: 1,
  parse: (values, _tokens, positionals) => parseTeardownFlags(values, positionals),
  async run(session: CommandSession, flags: TeardownFlags): Promise<void> {
    const record = await session.phase('input', () => readResult(session, flags.result));
    const { openContainer } = await import('../../container');
    const { requireRoot } = await import('../../apply');
    const { teardownContainer } = await import('../../teardown');
    requireRoot('teardown');
    const container = await session.phase('container', () =>
      openContainer({ rootfs: flags.rootfs, ...(flags.pid !== undefined && { pid: flags.pid }), ...(session.flags.noPivot && { noPivot: true }) }),
    );
    // The container's cgroup is read from the kernel's /proc, as configure does (never a simulated host's).
    const result = await session.phase('mount', () => teardownContainer(container, record));
    if (flags.json) session.write(`${JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, ...result }, null, 2)}\n`);
    else session.write(formatTeardownText(result));
    for (const n of result.notes) session.note(n);
    if (!result.complete && !flags.json) session.warn('some changes were kept (listed as kept): they are no longer what configure made');
  },
};
