/**
 * Reader for glibc's ld.so.cache (the new "glibc-ld.so.cache1.1" format, optionally after the old
 * libc5 table), for diagnostics: which sonames a cache names and where. Discovery proper reads the
 * cache in C (native/core/discovery/ldcache.c); this reader never decides what a container gets.
 */
const OLD_MAGIC = 'ld.so-1.7.0';
const OLD_HEADER = 16;
const OLD_ENTRY = 12;
const NEW_MAGIC = 'glibc-ld.so.cache1.1';
const NEW_HEADER = 48;
const NEW_ENTRY = 24;

export interface LdCacheRecord {
  /** The soname the loader looks up, e.g. "libcuda.so.1". */
  key: string;
  /** The path it resolves to, e.g. "/usr/lib/x86_64-linux-gnu/libcuda.so.1". */
  value: string;
  flags: number;
}

export class LdCacheFormatError extends Error {}

function cString(buf: Buffer, start: number): string {
  if (start >= buf.length) throw new LdCacheFormatError(`string offset ${start} is past the end of the cache`);
  const end = buf.indexOf(0, start);
  if (end < 0) throw new LdCacheFormatError(`string at ${start} is not terminated`);
  return buf.toString('utf8', start, end);
}

export function parseLdCache(buf: Buffer): LdCacheRecord[] {
  let base = 0;
  if (buf.length >= OLD_HEADER && buf.toString('latin1', 0, OLD_MAGIC.length) === OLD_MAGIC) {
    const nold = buf.readUInt32LE(12);
    if (nold > (buf.length - OLD_HEADER) / OLD_ENTRY) throw new LdCacheFormatError('the old-format table is longer than the file');
    base = OLD_HEADER + nold * OLD_ENTRY;
  }
  if (buf.length < base + NEW_HEADER || buf.toString('latin1', base, base + NEW_MAGIC.length) !== NEW_MAGIC) {
    throw new LdCacheFormatError('no glibc-ld.so.cache1.1 header');
  }
  const nlibs = buf.readUInt32LE(base + 20);
  if (nlibs > (buf.length - base - NEW_HEADER) / NEW_ENTRY) throw new LdCacheFormatError(`${nlibs} entries do not fit in the file`);
  const strings = buf.subarray(base);
  const records: LdCacheRecord[] = [];
  for (let i = 0; i < nlibs; i++) {
    const at = base + NEW_HEADER + i * NEW_ENTRY;
    records.push({ flags: buf.readInt32LE(at), key: cString(strings, buf.readUInt32LE(at + 4)), value: cString(strings, buf.readUInt32LE(at + 8)) });
  }
  return records;
}
