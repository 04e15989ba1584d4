/**
 * The socket side of `nvc-ts serve`: each connection is one request, checked (SO_PEERCRED, bounds,
 * schema) and run by the CLI's own main() with captured stdout and stderr, so that the client prints
 * what the Node CLI would. Connections are independent: a slow or broken client holds only its own.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { chmodSync, chownSync, lstatSync, mkdirSync, readlinkSync, unlinkSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { NvcError } from '../errors';
import { parseCommandLine } from '../cli/args';
import { main } from '../cli/main';
import type { CliIo, StdinInput } from '../cli/types';
import type { ServiceContext } from './shared-context';
import { formatTimings } from '../cli/session';
import type { ConfigureTimings } from '../apply';
import {
  FrameReader,
  FrameType,
  RESULT_MAX_BYTES,
  decodeRequest,
  decodeStdin,
  encodeDecline,
  encodeError,
  encodeFrame,
  encodeResult,
  type Frame,
} from './protocol';

/** The whole request must arrive within this; the hook's stdin within STDIN_TIMEOUT_MS of being asked for. */
const REQUEST_TIMEOUT_MS = 10_000;
const STDIN_TIMEOUT_MS = 15_000;
/** The default bound on a whole request, from connection to answer (serve --request-timeout). */
export const DEFAULT_RUN_TIMEOUT_MS = 60_000;
/**
 * A command still running this long after its bound (the executor is stopped at the bound and
 * has this long to roll back) gets its client a timeout error anyway; its own end is only logged.
 */
const OVERRUN_GRACE_MS = 10_000;

export interface ServerOptions {
  socket: string;
  allowUids: number[];
  allowGids: number[];
  shared: ServiceContext;
  log: (line: string) => void;
  /** The bound on a whole request (default DEFAULT_RUN_TIMEOUT_MS): a configure still working then is stopped and rolled back. */
  requestTimeoutMs?: number;
  peerCredentials: (fd: number) => { pid: number; uid: number; gid: number };
}

/**
 * Each request sees its client's working directory as process.cwd() (path.resolve of relative host
 * paths): set per request through async context, since the process's own directory is shared.
 */
const requestCwd = new AsyncLocalStorage<string>();
let cwdPatched = false;
function patchCwd(): void {
  if (cwdPatched) return;
  cwdPatched = true;
  const own = process.cwd.bind(process);
  process.cwd = () => requestCwd.getStore() ?? own();
}

export interface RunningServer {
  server: net.Server;
  stats: { requests: number; refused: number; malformed: number; started: number };
  close(): Promise<void>;
}

function fdOf(socket: net.Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

/** Makes the socket's directory and binds with no window in which the socket is wider than asked. */
async function listen(server: net.Server, socket: string, mode: number): Promise<void> {
  mkdirSync(path.dirname(socket), { recursive: true, mode: 0o755 });
  try {
    const st = lstatSync(socket);
    if (!st.isSocket())
      throw new NvcError('ERR_NVC_FILE_EXISTS', `${socket} exists and is not a socket`, { path: socket, hint: 'remove it or give another --socket' });
    const live = await new Promise<boolean>((resolve) => {
      const c = net.connect(socket, () => (c.destroy(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (live)
      throw new NvcError('ERR_NVC_FILE_EXISTS', `another service is listening on ${socket}`, { path: socket, hint: 'stop it first, or give another --socket' });
    unlinkSync(socket);
  } catch (e) {
    if (e instanceof NvcError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => (server.removeListener('error', reject), resolve()));
    });
  } finally {
    process.umask(old);
  }
  chownSync(socket, 0, 0);
  chmodSync(socket, mode);
}

/** Variables of the client's own that never change what the service would do. */
const CLIENT_ONLY_ENV = new Set(['NVC_TS_SOCKET', 'NVC_TS_NODE', 'NVC_TS_NODE_CLI']);

/**
 * The first variable a run depends on whose value differs between the client and the service
 * (helper overrides, PATH for the driver's binaries, the MPS pipe directory), or undefined.
 */
export function environmentDifference(env: string[], own: NodeJS.ProcessEnv = process.env): string | undefined {
  const theirs = new Map(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const names = new Set([...theirs.keys(), ...Object.keys(own).filter((k) => k.startsWith('NVC_TS_')), 'PATH', 'CUDA_MPS_PIPE_DIRECTORY']);
  for (const name of names) {
    if (CLIENT_ONLY_ENV.has(name)) continue;
    if (theirs.get(name) !== own[name]) return name;
  }
  return undefined;
}

/** What a caller other than root may have the service run: reading the host and configuring containers. */
const NON_ROOT_COMMANDS = new Set(['info', 'list', 'configure', 'hook']);

/** Commands whose relative paths are all resolved by path.resolve (the request's directory), none opened as given. */
const CWD_SAFE_COMMANDS = new Set([...NON_ROOT_COMMANDS, 'paths']);

/**
 * Why the service leaves a request to the client's own Node CLI, or undefined to run it: a
 * service inside a request (or a watch that would answer only when it ends); for a caller other
 * than root, a command beyond NON_ROOT_COMMANDS or a --debug FILE, which the service (root) would
 * open. A command line that does not parse is main()'s to report, as the CLI reports it.
 */
export function declineReason(argv: string[], uid: number, sameCwd = true): string | undefined {
  let invocation: ReturnType<typeof parseCommandLine>;
  try {
    invocation = parseCommandLine(argv);
  } catch {
    return undefined;
  }
  const name = invocation.command?.spec.name;
  if (name === 'serve' && !argv.includes('--check')) return 'a service is not run inside a request';
  if (argv.includes('--watch')) return 'a watch answers only when it ends';
  // Relative paths of these commands all go through path.resolve, which sees the client's directory.
  if (!sameCwd && name !== undefined && !CWD_SAFE_COMMANDS.has(name) && invocation.run !== undefined)
    return `'${name}' runs in the service only from the service's directory`;
  if (uid === 0) return undefined;
  if (name !== undefined && !NON_ROOT_COMMANDS.has(name) && invocation.run !== undefined) return `a caller other than root runs '${name}' itself`;
  const file = invocation.globals.debugFile;
  if (file !== undefined && file !== '-' && file !== '/dev/stderr') return 'a caller other than root names a debug log file';
  return undefined;
}

function mountNamespaceOf(pid: number | 'self'): string | undefined {
  if (pid === 0) return undefined;
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  patchCwd();
  const ownMountNamespace = mountNamespaceOf('self');
  const stats = { requests: 0, refused: 0, malformed: 0, started: Date.now() };
  let sequence = 0;
  const server = net.createServer({ allowHalfOpen: false }, (conn) => {
    const id = ++sequence;
    handle(conn, id).catch((e: unknown) => {
      o.log(`request #${id}: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      conn.destroy();
    });
  });

  async function handle(conn: net.Socket, id: number): Promise<void> {
    const t0 = process.hrtime.bigint();
    const ms = () => (Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1);
    const limitMs = o.requestTimeoutMs ?? DEFAULT_RUN_TIMEOUT_MS;
    const deadline = performance.now() + limitMs;
    const left = () => Math.max(1, Math.floor(deadline - performance.now()));
    let gone = false;
    conn.on('error', () => (gone = true));
    conn.on('close', () => (gone = true));
    const fail = (message: string) => {
      if (!gone) conn.end(encodeError(message));
    };
    // Who is calling: the kernel's word, taken before reading anything.
    const fd = fdOf(conn);
    let peer: { pid: number; uid: number; gid: number };
    try {
      if (fd === undefined) throw new Error('no file descriptor for the connection');
      peer = o.peerCredentials(fd);
    } catch (e) {
      o.log(`request #${id}: refused: cannot read the peer's credentials (${String(e)})`);
      stats.refused++;
      return fail('the nvc-ts service cannot tell who is calling (SO_PEERCRED failed)');
    }
    if (peer.uid !== 0 && !o.allowUids.includes(peer.uid) && !o.allowGids.includes(peer.gid)) {
      stats.refused++;
      o.log(`request #${id}: refused: pid ${peer.pid} uid ${peer.uid} gid ${peer.gid}`);
      return fail(
        `the nvc-ts service refuses uid ${peer.uid} (gid ${peer.gid}): it answers root and the ids its operator allows (nvc-ts serve --allow-uid/--allow-gid)`,
      );
    }

    // A caller in another mount namespace (enroot, Apptainer, a shell in a container) means other
    // paths than ours, and configure without --pid means its own namespace: it runs the CLI itself.
    const theirs = mountNamespaceOf(peer.pid);
    if (theirs === undefined || theirs !== ownMountNamespace) {
      o.log(`request #${id}: declined: pid ${peer.pid} is in mount namespace ${theirs ?? '(unknown)'}, the service in ${ownMountNamespace}`);
      if (!gone) conn.end(encodeDecline(`the caller is in another mount namespace than the service (${theirs ?? 'unknown'})`));
      return;
    }
    const reader = new FrameReader();
    const waiting: Array<(f: Frame | Error) => void> = [];
    const queued: Array<Frame | Error> = [];
    const deliver = (f: Frame | Error) => {
      const w = waiting.shift();
      if (w) w(f);
      else queued.push(f);
    };
    conn.on('data', (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) deliver(f);
      } catch (e) {
        deliver(e instanceof Error ? e : new Error(String(e)));
      }
    });
    conn.on('close', () => deliver(new Error('the client closed the connection')));
    const next = (timeoutMs: number, what: string): Promise<Frame> =>
      new Promise<Frame>((resolve, reject) => {
        const take = (f: Frame | Error) => {
          clearTimeout(timer);
          if (f instanceof Error) reject(f);
          else resolve(f);
        };
        const timer = setTimeout(() => {
          const i = waiting.indexOf(take);
          if (i >= 0) waiting.splice(i, 1);
          reject(new NvcError('ERR_NVC_INVALID_ARGUMENT', `no ${what} within ${timeoutMs} ms`, { field: 'request' }));
        }, timeoutMs);
        const q = queued.shift();
        if (q !== undefined) take(q);
        else waiting.push(take);
      });

    let first: Frame;
    let request: ReturnType<typeof decodeRequest>;
    try {
      first = await next(Math.min(REQUEST_TIMEOUT_MS, left()), 'request');
      if (first.type === FrameType.health) {
        const doc = { pid: process.pid, uptimeMs: Date.now() - stats.started, ...stats, driverVersion: await o.shared.driverVersion() };
        if (!gone) conn.end(encodeResult(0, Buffer.from(`${JSON.stringify(doc)}\n`), Buffer.alloc(0)));
        return;
      }
      if (first.type !== FrameType.request)
        throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `malformed request: expected a request frame, got type ${first.type}`, { field: 'request' });
      request = decodeRequest(first.body);
    } catch (e) {
      stats.malformed++;
      const message = e instanceof Error ? e.message : String(e);
      o.log(`request #${id}: rejected after ${ms()} ms: ${message}`);
      return fail(`the nvc-ts service rejected the request: ${message}`);
    }

    const differs = environmentDifference(request.env);
    const declined =
      differs !== undefined ? `the caller's ${differs} is not the service's` : declineReason(request.argv, peer.uid, request.cwd === process.cwd());
    if (declined !== undefined) {
      o.log(`request #${id}: declined: uid ${peer.uid}: ${declined}`);
      if (!gone) conn.end(encodeDecline(declined));
      return;
    }
    stats.requests++;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const sink = (into: Buffer[]) => ({
      write(chunk: string | Uint8Array): boolean {
        const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
        size += b.length;
        if (size <= RESULT_MAX_BYTES - 64) into.push(b);
        return true;
      },
    });
    const phases: string[] = [];
    let timings: ConfigureTimings | undefined;
    const io: CliIo = {
      stdout: sink(out),
      stderr: sink(err),
      sharedContext: o.shared,
      caller: { pid: peer.pid, uid: peer.uid, gid: peer.gid },
      onPhase: (name, t) => phases.push(`${name} ${t.toFixed(1)} ms`),
      onTimings: (t) => (timings = t),
      deadline,
      stdin: async (): Promise<StdinInput> => {
        if (gone) throw new NvcError('ERR_NVC_INVALID_ARGUMENT', 'the client went away before sending its stdin', { field: 'OCI state' });
        conn.write(encodeFrame(FrameType.needStdin));
        const f = await next(Math.min(STDIN_TIMEOUT_MS, left()), 'stdin');
        if (f.type !== FrameType.stdin)
          throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `malformed request: expected stdin, got frame type ${f.type}`, { field: 'request' });
        const { isTTY, data } = decodeStdin(f.body);
        return { isTTY, stream: Readable.from([data]) };
      },
    };
    const running = requestCwd.run(request.cwd === '' ? '/' : request.cwd, () => main(request.argv, io));
    let overrun: NodeJS.Timeout | undefined;
    const status = await Promise.race([
      running,
      new Promise<'overrun'>((resolve) => (overrun = setTimeout(() => resolve('overrun'), left() + OVERRUN_GRACE_MS))),
    ]);
    clearTimeout(overrun);
    if (status === 'overrun') {
      o.log(
        `request #${id}: pid ${peer.pid} argv ${JSON.stringify(request.argv).slice(0, 300)}: still running ${ms()} ms after it began, over its limit of ${limitMs} ms`,
      );
      void running.then((s) => o.log(`request #${id}: ended after its limit, exit ${s} in ${ms()} ms`));
      return fail(`the request did not finish within ${limitMs} ms (nvc-ts serve --request-timeout) and was given up`);
    }
    o.log(
      `request #${id}: pid ${peer.pid} uid ${peer.uid} argv ${JSON.stringify(request.argv).slice(0, 300)} exit ${status} in ${ms()} ms` +
        ` (${phases.join(', ') || 'no phases'}; out ${size} bytes)${gone ? '; the client had gone: result dropped' : ''}`,
    );
    // Where a configure's time went, for the operator: one line per configure, its fields always the same.
    if (timings !== undefined) o.log(`request #${id}: metrics: ${formatTimings(timings)}`);
    if (gone) return;
    if (size > RESULT_MAX_BYTES - 64) return fail(`the output of the command is over ${RESULT_MAX_BYTES} bytes`);
    conn.end(encodeResult(status, Buffer.concat(out), Buffer.concat(err)));
  }

  const mode = o.allowUids.length > 0 || o.allowGids.length > 0 ? 0o666 : 0o600;
  await listen(server, o.socket, mode);
  return {
    server,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        try {
          unlinkSync(o.socket);
        } catch {
          // already gone
        }
      }),
  };
}
