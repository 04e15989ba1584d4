/**
 * `nvc-ts serve`: a resident service holding one initialised context, answering the native
 * client's requests (lib/serve/). `serve --check`: is one answering on the socket.
 */
import * as net from 'node:net';
import { NvcError } from '../../errors';
import { DEFAULT_SOCKET, FrameType, HEADER_BYTES, encodeFrame } from '../../serve/protocol';
import { UsageError } from '../format-error';
import type { CommandSession, CommandSpec, OptionValues } from '../types';

export interface ServeFlags {
  socket: string;
  allowUids: number[];
  allowGids: number[];
  check: boolean;
  /** --request-timeout, in milliseconds. */
  requestTimeoutMs: number | undefined;
}

/** --request-timeout SECONDS: a positive number, at most a day. */
function seconds(values: OptionValues, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const word = String(raw);
  const n = Number(word);
  if (!/^\d+(\.\d+)?$/.test(word) || !(n > 0) || n > 86400)
    throw new UsageError(`option --${name} takes a number of seconds above 0 (at most 86400), not '${word}'`);
  return Math.max(1, Math.round(n * 1000));
}

function ids(values: OptionValues, name: string): number[] {
  const raw = values[name];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return list.flatMap((v) =>
    String(v)
      .split(',')
      .map((word) => {
        if (!/^\d{1,10}$/.test(word) || Number(word) > 0xfffffffe) throw new UsageError(`option --${name} takes numeric ids (comma-separated), not '${word}'`);
        return Number(word);
      }),
  );
}

/** One health exchange: the service's JSON document. */
function check(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn = net.connect(socket, () => conn.write(encodeFrame(FrameType.health)));
    conn.setTimeout(10_000, () => conn.destroy(new Error('no answer within 10 s')));
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.on('error', (e) =>
      reject(
        new NvcError('ERR_NVC_SERVICE_START', `no nvc-ts service answers on ${socket} (${e.message})`, { path: socket, hint: 'start one with `nvc-ts serve`' }),
      ),
    );
    conn.on('end', () => {
      const all = Buffer.concat(chunks);
      if (all.length < HEADER_BYTES + 12 || all.readUInt16LE(6) !== FrameType.result) {
        reject(new NvcError('ERR_NVC_SERVICE_PROTOCOL', `the service on ${socket} did not answer the health check`, { path: socket }));
        return;
      }
      const outLen = all.readUInt32LE(HEADER_BYTES + 4);
      resolve(all.subarray(HEADER_BYTES + 8, HEADER_BYTES + 8 + outLen).toString('utf8'));
    });
  });
}

export const serveCommand: CommandSpec<ServeFlags> = {
  name: 'serve',
  summary: 'Run the resident service the native client (nvc-ts-cli) talks to',
  usage: [
    'nvc-ts serve [--socket PATH] [--allow-uid UID[,UID...]] [--allow-gid GID[,GID...]] [--request-timeout SECONDS] [GLOBAL OPTIONS]',
    'nvc-ts serve --check [--socket PATH]',
    '',
    `  The socket (default ${DEFAULT_SOCKET}; clients read NVC_TS_SOCKET) is made 0600 and owned by root;`,
    '  with --allow-uid/--allow-gid it is 0666 and each connection is checked by its peer credentials.',
    "  Requests whose global options are the service's use its context; others get their own.",
    '  SIGHUP (or a change of the driver version file) starts a new context; SIGTERM/SIGINT stop.',
    '  --request-timeout bounds each request from connection to answer (default 60): a configure still',
    '  working then is stopped, rolls back and fails with a timeout error.',
  ],
  options: {
    socket: { type: 'string' },
    'allow-uid': { type: 'string', multiple: true },
    'allow-gid': { type: 'string', multiple: true },
    check: { type: 'boolean' },
    'request-timeout': { type: 'string' },
  },
  parse(values: OptionValues): ServeFlags {
    const socket = typeof values['socket'] === 'string' ? values['socket'] : (process.env['NVC_TS_SOCKET'] ?? DEFAULT_SOCKET);
    if (!socket.startsWith('/')) throw new UsageError(`option --socket needs an absolute path, not '${socket}'`);
    if (Buffer.byteLength(socket) > 107) throw new UsageError(`option --socket: '${socket}' is longer than a unix socket path can be (107 bytes)`);
    return {
      socket,
      allowUids: ids(values, 'allow-uid'),
      allowGids: ids(values, 'allow-gid'),
      check: values['check'] === true,
      requestTimeoutMs: seconds(values, 'request-timeout'),
    };
  },
  async run(session: CommandSession, flags: ServeFlags): Promise<void> {
    if (flags.check) {
      session.write(await session.phase('input', () => check(flags.socket)));
      return;
    }
    const { ServiceContext } = await import('../../serve/shared-context');
    const { startServer } = await import('../../serve/server');
    const { init } = await import('../../index');
    const { binding } = await import('../../native');
    const options = session.initOptions();
    const log = (line: string) => session.note(line);
    const shared = new ServiceContext(options, () => init(options), log);
    await session.phase('initialization', () => shared.start());
    const running = await startServer({
      socket: flags.socket,
      allowUids: flags.allowUids,
      allowGids: flags.allowGids,
      shared,
      log,
      ...(flags.requestTimeoutMs !== undefined && { requestTimeoutMs: flags.requestTimeoutMs }),
      peerCredentials: (fd) => binding().peerCredentials(fd),
    });
    session.write(`nvc-ts serve: listening on ${flags.socket} (pid ${process.pid})\n`);
    await new Promise<void>((resolve) => {
      const onHup = () => {
        log('SIGHUP: a new context for later requests');
        shared.refresh();
      };
      const stop = (signal: string) => {
        log(`${signal}: stopping`);
        process.removeListener('SIGHUP', onHup);
        resolve();
      };
      process.on('SIGHUP', onHup);
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    await running.close();
    await shared.close();
  },
};
