/**
 * Reading what the host shows without ever hanging: a FIFO, a socket or a device in place of a
 * /proc or /sys file is refused instead of read (it could block a thread-pool thread forever),
 * and no file is read past a size bound.
 */
import { constants, promises as fsp } from 'node:fs';

const DEFAULT_MAX_BYTES = 1 << 20;

export class UnreadableFile extends Error {
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`${path}: ${why}`);
  }
}

/** The text of a regular file, at most maxBytes of it; throws UnreadableFile (ENOENT etc. as `why`). */
export async function readRegularText(path: string, maxBytes = DEFAULT_MAX_BYTES): Promise<string> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw new UnreadableFile(path, errnoOf(e));
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new UnreadableFile(path, `not a regular file (${kindOf(st)})`);
    // procfs and sysfs files report size 0: read in chunks up to the bound.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(Math.min(65536, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) throw new UnreadableFile(path, `larger than ${maxBytes} bytes`);
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (e) {
    if (e instanceof UnreadableFile) throw e;
    throw new UnreadableFile(path, errnoOf(e));
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** The text, or null when the file is absent; other failures still throw. */
export async function readOptionalText(path: string, maxBytes = DEFAULT_MAX_BYTES): Promise<string | null> {
  try {
    return await readRegularText(path, maxBytes);
  } catch (e) {
    if (e instanceof UnreadableFile && (e.why === 'ENOENT' || e.why === 'ENOTDIR')) return null;
    throw e;
  }
}

export async function lstatOrNull(path: string): Promise<import('node:fs').Stats | null> {
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

export function kindOf(st: import('node:fs').Stats): string {
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

/** major/minor of a device number as Linux encodes it (glibc's gnu_dev_major/minor). */
export function devMajor(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | Math.floor(rdev / 2 ** 32) & ~0xfff;
}
export function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
}
