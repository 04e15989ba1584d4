/**
 * Reading files and streams someone else controls (a bundle's config.json, the OCI state on a
 * hook's stdin, /proc and /sys files that a broken host may have replaced): regular files only,
 * at most a known size, within a deadline. A FIFO, a device (/dev/zero), a directory or a stream
 * that never ends is refused, instead of hanging a thread-pool thread or filling memory. The open
 * never blocks (O_NONBLOCK: a FIFO opens at once and is refused by its type), and the type is
 * checked on the open descriptor, so a swap after a check cannot slip a device in.
 */
import { constants as fsConstants, promises as fsp, type Stats } from 'node:fs';
import type { Readable } from 'node:stream';
import { NvcError } from './errors';
import { shorten } from './quote';

/** Largest config.json the hook reads (runc's are a few KiB; 4 MiB leaves room for big environments). */
export const CONFIG_JSON_MAX_BYTES = 4 << 20;
/** Largest OCI state the hook reads from stdin or --state-file (a few hundred bytes in practice). */
export const OCI_STATE_MAX_BYTES = 1 << 20;
/** How long reading one input may take. */
export const INPUT_TIMEOUT_MS = 10_000;
const DIAGNOSTIC_MAX_BYTES = 1 << 20;

/** Why a file was not read: an errno from open, or one of the refusals below. */
export class UnreadableFile extends Error {
  constructor(
    readonly path: string,
    /** ENOENT, EACCES, ... from open; 'not a regular file (a FIFO)'; 'larger than N bytes'; 'not read within N ms'. */
    readonly why: string,
    readonly reason: 'open' | 'type' | 'size' | 'time',
  ) {
    super(`${path}: ${why}`);
  }
}

export function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'a regular file';
}

export function errnoOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : String(e);
}

async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error, cleanup: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      cleanup();
      reject(onTimeout());
    }, ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The bytes of a regular file, at most maxBytes, within timeoutMs; throws UnreadableFile. */
export async function readBounded(file: string, maxBytes: number, timeoutMs = INPUT_TIMEOUT_MS): Promise<Buffer> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (e) {
    throw new UnreadableFile(file, errnoOf(e), 'open');
  }
  try {
    return await withDeadline(
      (async () => {
        const st = await handle.stat();
        if (!st.isFile()) throw new UnreadableFile(file, `not a regular file (${kindOf(st)})`, 'type');
        const tooLarge = () => new UnreadableFile(file, `larger than ${maxBytes} bytes`, 'size');
        if (st.size > maxBytes) throw tooLarge();
        // procfs and sysfs report size 0 (and files may grow while read): the buffer grows as the
        // file turns out longer, up to one byte past the limit, which is then refused.
        let buf = Buffer.alloc(Math.min(maxBytes, Math.max(st.size, 4096)) + 1);
        let length = 0;
        for (;;) {
          if (length === buf.length) {
            if (length > maxBytes) throw tooLarge();
            const bigger = Buffer.alloc(Math.min(maxBytes + 1, buf.length * 2));
            buf.copy(bigger, 0, 0, length);
            buf = bigger;
          }
          const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
          if (bytesRead === 0) break;
          length += bytesRead;
          if (length > maxBytes) throw tooLarge();
        }
        return buf.subarray(0, length);
      })(),
      timeoutMs,
      () => new UnreadableFile(file, `not read within ${timeoutMs} ms`, 'time'),
      () => void handle.close().catch(() => undefined),
    );
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export interface BoundedReadOptions {
  /** What the input is, for messages: "config.json", "OCI state". */
  what: string;
  /** The field the error names (ERR_NVC_INVALID_ARGUMENT's field). */
  field: string;
  maxBytes: number;
  timeoutMs?: number;
}

/** An input's contents as readBounded reads them, refusals as ERR_NVC_INVALID_ARGUMENT naming the input. */
export async function readRegularFile(file: string, o: BoundedReadOptions): Promise<Buffer> {
  const where = shorten(file, 256);
  const ms = o.timeoutMs ?? INPUT_TIMEOUT_MS;
  try {
    return await readBounded(file, o.maxBytes, ms);
  } catch (e) {
    if (!(e instanceof UnreadableFile)) throw e;
    switch (e.reason) {
      case 'open':
        throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `cannot open the ${o.what} ${where}`, {
          field: o.field,
          errno: e.why,
          syscall: 'open',
          path: file,
          cause: e,
        });
      case 'type':
        throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `the ${o.what} ${where} is not a regular file`, {
          field: o.field,
          path: file,
          hint: `the ${o.what} must be a regular file (not a FIFO, device, socket or directory)`,
        });
      case 'size':
        throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${o.what} ${where} is larger than ${o.maxBytes} bytes`, {
          field: o.field,
          hint: `the ${o.what} must be at most ${o.maxBytes} bytes`,
        });
      case 'time':
        throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `${o.what} ${where} was not read within ${ms} ms`, {
          field: o.field,
          hint: `the ${o.what} must be a regular file (or a stream that ends) readable at once`,
        });
    }
  }
}

/** A stream's bytes until it ends, at most maxBytes, within the deadline; the stream is destroyed when refused. */
export async function readBoundedStream(stream: Readable, o: BoundedReadOptions): Promise<Buffer> {
  const ms = o.timeoutMs ?? INPUT_TIMEOUT_MS;
  const where = 'on stdin';
  const tooLarge = () =>
    new NvcError('ERR_NVC_INVALID_ARGUMENT', `${o.what} ${where} is larger than ${o.maxBytes} bytes`, {
      field: o.field,
      hint: `the ${o.what} must be at most ${o.maxBytes} bytes`,
    });
  return withDeadline(
    (async () => {
      const chunks: Buffer[] = [];
      let length = 0;
      for await (const chunk of stream) {
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        length += b.length;
        if (length > o.maxBytes) {
          stream.destroy();
          throw tooLarge();
        }
        chunks.push(b);
      }
      return Buffer.concat(chunks, length);
    })(),
    ms,
    () =>
      new NvcError('ERR_NVC_INVALID_ARGUMENT', `${o.what} ${where} was not read within ${ms} ms`, {
        field: o.field,
        hint: `the ${o.what} must be a regular file (or a stream that ends) readable at once`,
      }),
    () => stream.destroy(),
  );
}

/** Diagnostics (doctor, the module planner): the text of a host file, refusals as UnreadableFile. */
export async function readRegularText(path: string, maxBytes = DIAGNOSTIC_MAX_BYTES): Promise<string> {
  return (await readBounded(path, maxBytes)).toString('utf8');
}

/** The text, or null when the file is absent; other failures still throw. */
export async function readOptionalText(path: string, maxBytes = DIAGNOSTIC_MAX_BYTES): Promise<string | null> {
  try {
    return await readRegularText(path, maxBytes);
  } catch (e) {
    if (e instanceof UnreadableFile && (e.why === 'ENOENT' || e.why === 'ENOTDIR')) return null;
    throw e;
  }
}

/** The text, or undefined when the file cannot be read for any reason (absent, not a regular file, too large). */
export async function readTextOrUndefined(path: string, maxBytes = 256 << 20): Promise<string | undefined> {
  try {
    return await readRegularText(path, maxBytes);
  } catch {
    return undefined;
  }
}

export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(path);
  } catch {
    return null;
  }
}

export async function readdirOrEmpty(path: string): Promise<string[]> {
  try {
    return (await fsp.readdir(path)).sort();
  } catch {
    return [];
  }
}

/** major/minor of a device number as Linux encodes it (glibc's gnu_dev_major/minor). */
export function devMajor(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
export function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
}
