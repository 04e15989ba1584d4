/**
 * Reading a file or stream someone else controls (a bundle's config.json, the OCI state on a
 * hook's stdin): regular files only, at most a known size, within a deadline. A FIFO, a device
 * (/dev/zero), a directory or a stream that never ends is refused with an error naming the
 * input, instead of hanging the hook or filling its memory.
 */
import { constants as fsConstants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { NvcError } from './errors';
import { shorten } from './quote';

/** Largest config.json the hook reads (runc's are a few KiB; 4 MiB leaves room for big environments). */
export const CONFIG_JSON_MAX_BYTES = 4 << 20;
/** Largest OCI state the hook reads from stdin or --state-file (a few hundred bytes in practice). */
export const OCI_STATE_MAX_BYTES = 1 << 20;
/** How long reading one input may take. */
export const INPUT_TIMEOUT_MS = 10_000;

export interface BoundedReadOptions {
  /** What the input is, for messages: "config.json", "OCI state". */
  what: string;
  /** The field the error names (ERR_NVC_INVALID_ARGUMENT's field). */
  field: string;
  maxBytes: number;
  timeoutMs?: number;
}

function tooLarge(o: BoundedReadOptions, where: string): NvcError {
  return new NvcError('ERR_NVC_INVALID_ARGUMENT', `${o.what} ${where} is larger than ${o.maxBytes} bytes`, {
    field: o.field,
    hint: `the ${o.what} must be at most ${o.maxBytes} bytes`,
  });
}

function timedOut(o: BoundedReadOptions, where: string, ms: number): NvcError {
  return new NvcError('ERR_NVC_INVALID_ARGUMENT', `${o.what} ${where} was not read within ${ms} ms`, {
    field: o.field,
    hint: `the ${o.what} must be a regular file (or a stream that ends) readable at once`,
  });
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

/**
 * A regular file's contents, at most maxBytes. The open does not block (O_NONBLOCK: a FIFO
 * opens at once and is then refused by its type); the type is checked on the open descriptor,
 * so a swap after a check cannot slip a device in.
 */
export async function readRegularFile(file: string, o: BoundedReadOptions): Promise<Buffer> {
  const where = shorten(file, 256);
  let handle: FileHandle;
  try {
    handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `cannot open the ${o.what} ${where}`, {
      field: o.field,
      ...(err.code !== undefined && { errno: err.code }),
      syscall: 'open',
      path: file,
      cause: e,
    });
  }
  const ms = o.timeoutMs ?? INPUT_TIMEOUT_MS;
  try {
    return await withDeadline(
      (async () => {
        const st = await handle.stat();
        if (!st.isFile()) {
          throw new NvcError('ERR_NVC_INVALID_ARGUMENT', `the ${o.what} ${where} is not a regular file`, {
            field: o.field,
            path: file,
            hint: `the ${o.what} must be a regular file (not a FIFO, device, socket or directory)`,
          });
        }
        if (st.size > o.maxBytes) throw tooLarge(o, where);
        // Read one byte past the limit: a file that grows while read is caught as well.
        const buf = Buffer.alloc(Math.min(o.maxBytes, Math.max(st.size, 4096)) + 1);
        let length = 0;
        for (;;) {
          if (length === buf.length) throw tooLarge(o, where);
          const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
          if (bytesRead === 0) break;
          length += bytesRead;
          if (length > o.maxBytes) throw tooLarge(o, where);
        }
        return buf.subarray(0, length);
      })(),
      ms,
      () => timedOut(o, where, ms),
      () => void handle.close().catch(() => undefined),
    );
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** A stream's bytes until it ends, at most maxBytes, within the deadline; the stream is destroyed when refused. */
export async function readBoundedStream(stream: Readable, o: BoundedReadOptions): Promise<Buffer> {
  const ms = o.timeoutMs ?? INPUT_TIMEOUT_MS;
  const where = 'on stdin';
  return withDeadline(
    (async () => {
      const chunks: Buffer[] = [];
      let length = 0;
      for await (const chunk of stream) {
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        length += b.length;
        if (length > o.maxBytes) {
          stream.destroy();
          throw tooLarge(o, where);
        }
        chunks.push(b);
      }
      return Buffer.concat(chunks, length);
    })(),
    ms,
    () => timedOut(o, where, ms),
    () => stream.destroy(),
  );
}
